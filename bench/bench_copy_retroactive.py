"""Copy detection in the other direction: a newly banked picture searching what was already posted.

    PYTHONPATH=src .venv/bin/python bench/bench_copy_retroactive.py [--sources N] [--distractors N]
        [--transforms 27,32,...] [--workers N] [--json PATH]

`bench_copy_detection.py` checks each copy and distractor as an upload against the bank (`holds="bank"`). When an
item is banked, Firebreak also searches the media already posted for its copies (`copies.CopyLine.search_posted`:
a `CopyIndex(holds="media")` and `search(description, every=True)`), and an automatic match there removes a post
at once: so the zero-false-action rule must hold in that direction too, where the banked picture is the query, every
candidate within `CopyPolicy.every_depth` (500, or 2.5% of the posts held) is verified (not the best 6) and the
outlines are laid the other way round.

Every distractor (the hardest kinds first: photos of the same scene, re-rendered scenes, the stereo pair; then other
scenes) and each source's copies under the chosen transforms are posted (`describe_data` of the file, as an upload is
described); then each source is banked and searched for. An automatic match on a distractor or on another source's
copy is a false action; recall per transform counts a copy found automatically by its own source. The hash path
(PDQ within 31 bits, 16 through a turn, quality >= 50) is reported beside it for recall, as propagation finds those
anyway; approximately (the copy's query hashes against the banked picture's hash, where propagation looks up the
banked picture's hashes among the posted ones), and its false matches are the first line's, measured on their own
(docs/signals.md). Only the second line's automatic actions count as false actions here.

Prints markdown tables; exits 1 on any automatic false action.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from collections import Counter
from typing import Any

import _copy_eval as ev
import cv2
from _images import jpeg, png

from firebreak.matching.copydetect import DEFAULT_POLICY, CopyIndex, Description, Plane, describe_data
from firebreak.signals.hashing import hash_bytes
from firebreak.signals.pdq import PDQ_MATCH_DISTANCE, PDQ_MIN_QUALITY, PDQ_TURNED_MATCH_DISTANCE

DEFAULT_TRANSFORMS = (2, 5, 10, 14, 20, 27, 32, 33, 35)  # a spread of kinds plus the four hardest (see --list)

_sources: list[ev.Source] = []
_distractors: list[ev.Distractor] = []
_posted: CopyIndex | None = None
_owner: dict[int, tuple[str, int, int]] = {}  # media id -> ("copy", source, transform) or ("distractor", position, 0)
_copies: dict[tuple[str, int, int], int] = {}  # ("copy", source, transform) -> media id
_transforms: tuple[int, ...] = ()


def _quiet() -> None:
    cv2.setNumThreads(1)  # one core per worker, as the other benches


def _describe_post(job: tuple[str, int, int]) -> tuple[tuple[str, int, int], Description, Any]:
    _quiet()
    what, position, number = job
    if what == "copy":
        data = ev.TRANSFORMS[number][2](_sources[position].image(), position * 100 + number)
    else:
        data = jpeg(ev.build_distractor(_distractors[position]), 85)
    hashes = hash_bytes(data)
    return job, describe_data(data), (hashes.query_hashes, hashes.turned_hashes, hashes.pdq.quality)


def _search(position: int) -> tuple[int, list[int], list[int], Any, list[dict[str, Any]], Any]:
    """(source, media acted on automatically, media sent to review, the banked picture's PDQ and quality, why each
    of its own copies not acted on was missed, how far the search looked)."""
    _quiet()
    assert _posted is not None
    data = png(_sources[position].image())
    description = describe_data(data)
    decision = _posted.search(description, every=True)
    hashes = hash_bytes(data)
    return (position, decision.auto_items, decision.review_items, (hashes.pdq.value, hashes.pdq.quality),
            _misses(position, description, decision.auto_items, decision.review_items), decision.reach)


def _misses(position: int, description: Description, auto: list[int], review: list[int]) -> list[dict[str, Any]]:
    """For each own copy not acted on: where the candidate vote ranked it on each plane (None: under `min_votes`)
    beside the depth (`CopyPolicy.every_depth`), and whether it went to review: a copy never verified is a
    candidate problem."""
    assert _posted is not None
    planes: dict[Plane, Any] = {"luma": description.features, "brightest": description.brightest_features}
    ranked = {plane: [item for item, _ in _posted.candidates(features, top=len(_posted), exclusive=False,
                                                             plane=plane)]
              for plane, features in planes.items() if features is not None and len(features)}
    missed = []
    for number in _transforms:
        media_id = _copies[("copy", position, number)]
        if media_id in auto:
            continue
        missed.append({"source": position, "transform": number, "review": media_id in review,
                       **{f"{plane} rank": order.index(media_id) + 1 if media_id in order else None
                          for plane, order in ranked.items()}})
    return missed


def _distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def run(source_count: int, distractor_count: int, transforms: tuple[int, ...], workers: int) -> dict[str, Any]:
    global _sources, _distractors, _posted, _transforms
    started = time.perf_counter()
    _sources = ev.sources(source_count)
    every = ev.distractors(max(distractor_count, 100_000), _sources)  # the full run's set, hardest kinds first
    hard = [d for d in every if d.kind in ev.HARD_KINDS]
    _distractors = (hard + [d for d in every if d.kind not in ev.HARD_KINDS])[:distractor_count]
    jobs = [("copy", p, n) for p in range(len(_sources)) for n in transforms]
    jobs += [("distractor", p, 0) for p in range(len(_distractors))]
    copy_ids = {job: media_id for media_id, job in enumerate(jobs) if job[0] == "copy"}
    _copies.update(copy_ids)
    _transforms = transforms
    _posted = CopyIndex(DEFAULT_POLICY, holds="media")
    post_hashes: dict[int, Any] = {}
    context = multiprocessing.get_context("fork")
    with context.Pool(workers) as pool:
        for media_id, (job, description, hashes) in enumerate(pool.imap(_describe_post, jobs, chunksize=16)):
            _posted.add(media_id, description)
            _owner[media_id] = job
            post_hashes[media_id] = hashes
    _posted.prepare()  # packed once here, not once per worker
    described = time.perf_counter() - started
    print(f"posted {len(jobs):,} pictures in {described:.0f} s; searching", file=sys.stderr, flush=True)
    # The workers fork after the index is built, so each searches the same posted media (copy on write).
    results = []
    with context.Pool(workers) as pool:
        for done, result in enumerate(pool.imap_unordered(_search, range(len(_sources)), chunksize=4), 1):
            results.append(result)
            if done % 100 == 0:
                print(f"searched {done:,} of {len(_sources):,} in {time.perf_counter() - started - described:.0f} s",
                      file=sys.stderr, flush=True)
    searched = time.perf_counter() - started - described

    found: Counter[int] = Counter()
    by_hash: Counter[int] = Counter()
    either: Counter[int] = Counter()
    false: list[str] = []
    review_copies = review_distractors = 0
    missed: list[dict[str, Any]] = []
    reaches = []
    for source, auto, review, (pdq, quality), why, reach in results:
        missed += why
        reaches.append(reach)
        for media_id in auto:
            what, position, number = _owner[media_id]
            if what == "copy" and position == source:
                found[number] += 1
            else:
                label = (f"copy of {_sources[position].label} / {ev.TRANSFORMS[number][1]}" if what == "copy"
                         else f"{_distractors[position].kind} {_distractors[position].label}")
                false.append(f"{_sources[source].label} -> {label}")
        for media_id in review:
            what, position, _ = _owner[media_id]
            if what == "copy" and position == source:
                review_copies += 1
            else:
                review_distractors += 1
        for number in transforms:
            media_id = copy_ids[("copy", source, number)]
            queries, turned, copy_quality = post_hashes[media_id]
            hit = quality >= PDQ_MIN_QUALITY and copy_quality >= PDQ_MIN_QUALITY and any(
                _distance(q, pdq) <= (PDQ_TURNED_MATCH_DISTANCE if q in turned else PDQ_MATCH_DISTANCE)
                for q in queries)
            by_hash[number] += hit
            either[number] += hit or media_id in auto
    count = len(_sources)
    return {
        "sources": count, "posted copies": count * len(transforms), "posted distractors": len(_distractors),
        "distractor kinds": dict(Counter(d.kind for d in _distractors)),
        "automatic false actions": len(false), "false": false[:50],
        "recall": {ev.TRANSFORMS[n][1]: {"second line": found[n] / count, "hash path": by_hash[n] / count,
                                         "either": either[n] / count} for n in transforms},
        "sent to review: own copies, others": [review_copies, review_distractors],
        "seconds": {"describe and post": round(described, 1), "search": round(searched, 1)},
        "depth": {plane: DEFAULT_POLICY.every_depth(len(_posted._sets(plane))) for plane in ("luma", "brightest")},
        "checked per search (both planes)": round(sum(r.checked for r in reaches) / max(1, len(reaches)), 1),
        "voted per search (both planes)": round(sum(r.voted for r in reaches) / max(1, len(reaches)), 1),
        "searches bounded by the cap": sum(r.bounded for r in reaches),
        "missed": sorted(missed, key=lambda m: (m["transform"], m["source"])),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sources", type=int, default=1000)
    parser.add_argument("--distractors", type=int, default=20_000, help="hardest kinds first (default 20,000)")
    parser.add_argument("--transforms", default=",".join(map(str, DEFAULT_TRANSFORMS)),
                        help="positions in _copy_eval.TRANSFORMS, comma-separated")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--list", action="store_true", help="list the transforms and exit")
    args = parser.parse_args()
    if args.list:
        for number, (name, *_rest) in enumerate(ev.TRANSFORMS):
            print(number, name)
        return 0
    try:
        transforms = tuple(int(t) for t in args.transforms.split(","))
    except ValueError:
        parser.error(f"--transforms takes comma-separated numbers, got {args.transforms!r}")
    if not all(0 <= t < len(ev.TRANSFORMS) for t in transforms):
        parser.error(f"--transforms: each between 0 and {len(ev.TRANSFORMS) - 1} (see --list)")
    results = run(args.sources, args.distractors, transforms, args.workers)
    print(f"## Copy detection, retroactive: {results['sources']:,} banked pictures searching "
          f"{results['posted copies']:,} posted copies and {results['posted distractors']:,} posted distractors\n")
    print(f"Automatic false actions: **{results['automatic false actions']}**; distractors by kind: "
          f"{results['distractor kinds']}\n")
    print("| transform | second line | hash path | either |\n|---|---:|---:|---:|")
    for name, row in results["recall"].items():
        print(f"| {name} | {row['second line']:.3f} | {row['hash path']:.3f} | {row['either']:.3f} |")
    own, others = results["sent to review: own copies, others"]
    print(f"\nSent to review: {own} own copies, {others} other posts. Seconds: {results['seconds']}")
    depth = results["depth"]
    print(f"Depth (candidates a plane): {depth}; per search, both planes: "
          f"{results['checked per search (both planes)']} checked of {results['voted per search (both planes)']} "
          f"voted for; searches bounded by the cap: {results['searches bounded by the cap']}")
    beyond = sum(all(rank is None or rank > depth[key.removesuffix(" rank")] for key, rank in m.items()
                     if key.endswith(" rank")) for m in results["missed"])
    print(f"Own copies missed: {len(results['missed'])}, of which {beyond} never among the candidates checked "
          f"on either plane ({sum(m['review'] for m in results['missed'])} sent to review); each in the "
          f"JSON's \"missed\".")
    for line in results["false"]:
        print(f"false: {line}", file=sys.stderr)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)
    return 1 if results["automatic false actions"] else 0


if __name__ == "__main__":
    sys.exit(main())
