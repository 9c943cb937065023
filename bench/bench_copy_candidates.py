"""Where a newly banked picture's candidate vote ranks its own hard copies among posts: the plain count of votes
against the weighed vote the search takes candidates by (`copydetect._votes`).

    PYTHONPATH=src .venv/bin/python bench/bench_copy_candidates.py [--distractors 4000] [--workers 2]

A scaled replay of the retroactive bench (`bench_copy_retroactive.py`): the 1,000 sources' copies under the four
hardest transforms and a random sample of the hardest distractors are posted; each source's rank of its own copies
(the better of its two planes, among items with at least `min_votes`) is counted beyond the equivalent of 200, 300
and 500 candidates at the full bench's 29,000 posts. About 7 minutes on 2 cores. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
from typing import Any

import _copy_eval as ev
import cv2
import numpy as np
from _images import jpeg, png

from firebreak.matching import copydetect
from firebreak.matching.copydetect import DEFAULT_POLICY, describe_data

TRANSFORMS = (27, 32, 33, 35)
FULL_POSTS = 29_000  # the retroactive bench's posts, which the candidate counts are scaled from

_sources: list[ev.Source] = []
_picked: list[ev.Distractor] = []


def _describe(job: tuple[str, int, int]) -> tuple[tuple[str, int, int], Any, Any]:
    cv2.setNumThreads(1)
    what, position, number = job
    data = (ev.TRANSFORMS[number][2](_sources[position].image(), position * 100 + number) if what == "copy"
            else jpeg(ev.build_distractor(_picked[position]), 85))
    description = describe_data(data)
    return job, description.features, description.brightest_features


def _describe_source(position: int) -> tuple[int, Any, Any]:
    cv2.setNumThreads(1)
    description = describe_data(png(_sources[position].image()))
    return position, description.features, description.brightest_features


def main() -> int:
    global _sources, _picked
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--distractors", type=int, default=4000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    _sources = ev.sources(1000)
    hard = [d for d in ev.distractors(100_000, _sources) if d.kind in ev.HARD_KINDS]
    chosen = np.random.default_rng(5).choice(len(hard), min(args.distractors, len(hard)), replace=False)
    _picked = [hard[i] for i in sorted(chosen)]
    jobs = [("copy", p, n) for p in range(len(_sources)) for n in TRANSFORMS]
    jobs += [("distractor", i, 0) for i in range(len(_picked))]
    with multiprocessing.get_context("fork").Pool(args.workers) as pool:
        posted = list(pool.imap(_describe, jobs, chunksize=16))
        banked = list(pool.imap(_describe_source, range(len(_sources)), chunksize=8))
    media = {job: media_id for media_id, (job, _, _) in enumerate(posted)}
    packs = {plane: copydetect._pack({i: sets[k] for i, sets in enumerate(posted) if sets[k] is not None})
             for plane, k in (("luma", 1), ("brightest", 2))}
    slot_of = {plane: {int(item): slot for slot, item in enumerate(packed.item_ids)} for plane, packed in packs.items()}
    best: dict[str, dict[tuple[int, int], int]] = {"count": {}, "weighed": {}}
    for position, *planes in banked:
        for plane, features in zip(("luma", "brightest"), planes, strict=True):
            if features is None or not len(features):
                continue
            weighed: list[np.ndarray] = []
            slots, votes = copydetect._votes(packs[plane], features, DEFAULT_POLICY.vote_distance, exclusive=False,
                                             scores=weighed)
            keep = votes >= DEFAULT_POLICY.min_votes
            for name, score in (("count", votes.astype(float)), ("weighed", weighed[0])):
                order = slots[keep][np.argsort(-score[keep], kind="stable")]
                rank = {int(slot): r for r, slot in enumerate(order, 1)}
                for number in TRANSFORMS:
                    slot = slot_of[plane].get(media[("copy", position, number)])
                    found = rank.get(slot, 10**9) if slot is not None else 10**9
                    key = (position, number)
                    best[name][key] = min(best[name].get(key, 10**9), found)
    scale = len(posted) / FULL_POSTS
    tops = (200, 300, 500)
    copies = len(_sources) * len(TRANSFORMS)
    print(f"## Own copies ranked beyond the candidates taken ({len(posted):,} posts: {copies:,} copies under "
          f"transforms {TRANSFORMS}, {len(_picked):,} hard distractors)\n")
    print("| order | " + " | ".join(f"beyond {top} ({round(top * scale)} here)" for top in tops)
          + " | under min_votes |\n|---|" + "---:|" * (len(tops) + 1))
    for name, ranks in best.items():
        values = np.array(list(ranks.values()))
        print(f"| {name} | " + " | ".join(str(int(((values > round(top * scale)) & (values < 10**9)).sum()))
                                          for top in tops) + f" | {int((values == 10**9).sum())} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
