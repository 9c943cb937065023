"""Where a newly banked picture's candidate vote ranks its own hard copies among posts: the plain count of votes
against the weighed vote the search takes candidates by (`copydetect._votes`), and how the ranks grow with the posts.

    PYTHONPATH=src .venv/bin/python bench/bench_copy_candidates.py [--distractors 4000] [--workers 2]
    PYTHONPATH=src .venv/bin/python bench/bench_copy_candidates.py --grow [--distractors 16000] [--ordinary 12000]

A replay of the retroactive bench's candidate stage (`bench_copy_retroactive.py`): the 1,000 sources' copies under the
four hardest transforms are posted with a random sample of the hardest distractors; each source's rank of its own
copies (the better of its two planes, among items with at least `min_votes`) is counted beyond the equivalent of 200,
300 and 500 candidates at the full bench's 29,000 posts. About 7 minutes on 2 cores. Prints a markdown table.

`--grow` describes the posts once and ranks the copies among growing sets of them: a random quarter of the hard
distractors, all of them, and the quarter with `--ordinary` other scenes (pictures unlike any source, as most of a
platform's posts are) in the room of the rest (the kinds in each set are printed); it counts the copies beyond a
fixed number of candidates and beyond a share of the posts, to say which of the two a search must scale with
(docs/copy-detection.md, *How deep the retroactive search looks*).
About 25 minutes on 2 cores with the defaults.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
from collections import Counter
from typing import Any

import _copy_eval as ev
import cv2
import numpy as np
from _images import jpeg, png

from firebreak.matching import copydetect
from firebreak.matching.copydetect import DEFAULT_POLICY, describe_data

TRANSFORMS = (27, 32, 33, 35)
FULL_POSTS = 29_000  # the retroactive bench's posts, which the candidate counts are scaled from
MISSING = 10**9
FIXED = (200, 300, 500, 1000)
SHARES = (0.01, 0.0175, 0.025, 0.04)

_sources: list[ev.Source] = []
_picked: list[ev.Distractor] = []
_banked: list[tuple[int, Any, Any]] = []
_packs: dict[str, Any] = {}
_copy_ids: dict[tuple[int, int], int] = {}


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


def _ranks(position: int) -> dict[str, dict[tuple[int, int], int]]:
    """One banked source's best rank of each of its copies, by count and by weighed vote, in the packed posts."""
    _, *planes = _banked[position]
    best: dict[str, dict[tuple[int, int], int]] = {"count": {}, "weighed": {}}
    for plane, features in zip(("luma", "brightest"), planes, strict=True):
        packed = _packs.get(plane)
        if features is None or not len(features) or packed is None:
            continue
        slot_of = {int(item): slot for slot, item in enumerate(packed.item_ids)}
        weighed: list[np.ndarray] = []
        slots, votes = copydetect._votes(packed, features, DEFAULT_POLICY.vote_distance, exclusive=False,
                                         scores=weighed)
        keep = votes >= DEFAULT_POLICY.min_votes
        for name, score in (("count", votes.astype(float)), ("weighed", weighed[0])):
            order = slots[keep][np.argsort(-score[keep], kind="stable")]
            rank = {int(slot): r for r, slot in enumerate(order, 1)}
            for number in TRANSFORMS:
                slot = slot_of.get(_copy_ids[(position, number)])
                found = rank.get(slot, MISSING) if slot is not None else MISSING
                key = (position, number)
                best[name][key] = min(best[name].get(key, MISSING), found)
    return best


def _rank_all(posted: list[tuple[Any, Any, Any]], chosen: list[int], workers: int
              ) -> dict[str, np.ndarray]:
    global _packs, _copy_ids
    _copy_ids = {(job[1], job[2]): media_id for media_id, (job, _, _) in enumerate(posted) if job[0] == "copy"}
    _packs = {plane: copydetect._pack({i: posted[i][k] for i in chosen if posted[i][k] is not None})
              for plane, k in (("luma", 1), ("brightest", 2))}
    merged: dict[str, dict[tuple[int, int], int]] = {"count": {}, "weighed": {}}
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        for best in pool.imap_unordered(_ranks, range(len(_banked)), chunksize=8):
            for name in merged:
                merged[name].update(best[name])
    return {name: np.array(list(ranks.values())) for name, ranks in merged.items()}


def _beyond(values: np.ndarray, top: int) -> int:
    return int(((values > top) & (values < MISSING)).sum())


def main() -> int:
    global _sources, _picked, _banked
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--distractors", type=int, default=None, help="hard distractors posted (4,000; --grow 16,000)")
    parser.add_argument("--ordinary", type=int, default=12_000, help="--grow: other scenes posted (12,000)")
    parser.add_argument("--grow", action="store_true", help="rank among growing sets of posts")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    hard_count = args.distractors if args.distractors is not None else (16_000 if args.grow else 4_000)
    _sources = ev.sources(1000)
    every = ev.distractors(100_000, _sources)
    hard = [d for d in every if d.kind in ev.HARD_KINDS]
    chosen = np.random.default_rng(5).choice(len(hard), min(hard_count, len(hard)), replace=False)
    _picked = [hard[i] for i in sorted(chosen)]
    ordinary: list[ev.Distractor] = []
    if args.grow:
        others = [d for d in every if d.kind not in ev.HARD_KINDS]
        ordinary = [others[i] for i in sorted(np.random.default_rng(6).choice(
            len(others), min(args.ordinary, len(others)), replace=False))]
        _picked += ordinary
    jobs = [("copy", p, n) for p in range(len(_sources)) for n in TRANSFORMS]
    jobs += [("distractor", i, 0) for i in range(len(_picked))]
    with multiprocessing.get_context("fork").Pool(args.workers) as pool:
        posted = list(pool.imap(_describe, jobs, chunksize=16))
        _banked = list(pool.imap(_describe_source, range(len(_sources)), chunksize=8))
    copies = len(_sources) * len(TRANSFORMS)
    if not args.grow:
        ranks = _rank_all(posted, list(range(len(posted))), args.workers)
        scale = len(posted) / FULL_POSTS
        tops = (200, 300, 500)
        print(f"## Own copies ranked beyond the candidates taken ({len(posted):,} posts: {copies:,} copies under "
              f"transforms {TRANSFORMS}, {len(_picked):,} hard distractors)\n")
        print("| order | " + " | ".join(f"beyond {top} ({round(top * scale)} here)" for top in tops)
              + " | under min_votes |\n|---|" + "---:|" * (len(tops) + 1))
        for name, values in ranks.items():
            print(f"| {name} | " + " | ".join(str(_beyond(values, round(top * scale))) for top in tops)
                  + f" | {int((values == MISSING).sum())} |")
        return 0
    hard_ids = [copies + i for i in range(len(_picked) - len(ordinary))]
    ordinary_ids = [copies + len(hard_ids) + i for i in range(len(ordinary))]
    # A random quarter, every kind in its share (the sample is in the set's order: the stereo pair, then the same-scene
    # photos photo by photo, then the re-rendered scenes; a run at 894379f took the first quarter, without the last).
    quarter = sorted(np.random.default_rng(7).choice(hard_ids, len(hard_ids) // 4, replace=False).tolist())
    sets = {
        f"copies + {len(quarter):,} hard": [*range(copies), *quarter],
        f"copies + {len(hard_ids):,} hard": [*range(copies), *hard_ids],
        f"copies + {len(quarter):,} hard + {len(ordinary_ids):,} ordinary": [*range(copies), *quarter, *ordinary_ids],
    }
    print(f"## Own copies (weighed vote) ranked beyond the candidates taken ({copies:,} copies under transforms "
          f"{TRANSFORMS})\n")
    print("| posts | " + " | ".join(f"beyond {top}" for top in FIXED) + " | "
          + " | ".join(f"beyond {share:.2%} of posts" for share in SHARES) + " | under min_votes | median rank "
          "| p99 rank |\n|---|---:|" + "---:|" * (len(FIXED) + len(SHARES) + 2))
    kinds = {copies + i: d.kind for i, d in enumerate(_picked)}
    for label, chosen_ids in sets.items():
        print(f"{label}: {dict(Counter(kinds[i] for i in chosen_ids if i in kinds))}", file=sys.stderr)
    for label, chosen_ids in sets.items():
        values = _rank_all(posted, chosen_ids, args.workers)["weighed"]
        found = values[values < MISSING]
        print(f"| {label} ({len(chosen_ids):,}) | " + " | ".join(str(_beyond(values, top)) for top in FIXED) + " | "
              + " | ".join(str(_beyond(values, round(share * len(chosen_ids)))) for share in SHARES)
              + f" | {int((values == MISSING).sum())} | {int(np.median(found))} | {int(np.percentile(found, 99))} |",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
