"""Copy detection, measured: the hash path and the second line on copies people make, and on pictures that are not.

    .venv/bin/python bench/bench_copy_detection.py [--quick] [--workers N] [--json PATH]

The evaluation set is built by `bench/_copy_eval.py` (sources, transforms, distractors, videos). Each source
is banked as the bank would bank it: its hash-path PDQ, and the second line's `describe` (canonical
variants' PDQ and ORB features) in a `CopyIndex`. Each transformed copy (a JPEG or WebP file) and each
distractor is then checked as an upload: `hash_bytes` and the PDQ lookup (the hash path), then
`describe_data` (decode, variants, features) and `CopyIndex.search` (the second line).

The geometric threshold is calibrated here, not assumed: every query is searched with a permissive inlier
floor and its evidence kept, then the decision is recomputed for each floor. The operating point is the
lowest floor with zero automatic false actions (any automatic match on a distractor, or on the wrong source);
recall per transform is reported there and at the shipped default (`CopyPolicy()`).

Prints markdown tables; exits 1 if the shipped default makes an automatic false action, or (with --floors)
if recall falls under the floors the test suite holds it to.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from typing import Any

import _copy_eval as ev
import cv2
import numpy as np
from _images import jpeg, png, resized

from firebreak.matching.copies import describe_still
from firebreak.matching.copydetect import DEFAULT_POLICY, CopyIndex, CopyPolicy, Description, describe_data
from firebreak.matching.index import HammingIndex
from firebreak.matching.video import VideoIndex, decide, sample_frames
from firebreak.signals.hashing import hash_bytes, hash_with_planes
from firebreak.signals.pdq import PDQ_MATCH_DISTANCE, PDQ_MIN_QUALITY, PDQ_TURNED_MATCH_DISTANCE

# Searched with this floor, so the evidence for every higher floor is at hand afterwards.
RECORD_FLOOR = 6
FLOORS = range(RECORD_FLOOR, 41)
BRIGHTEST_FLOORS = (14, 16, 18, 20, 24, 28, 32, 40)  # `brightest_min_inliers` values replayed (no agreement rule)
# (`brightest_agreeing_inliers`, `brightest_agreeing_share`) replayed at the policy's brightest floor.
# `in_place_share` values replayed (at the shipped part share); the records keep candidates from the lowest up
IN_PLACE_SHARES = (0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85)
BRIGHTEST_AGREEMENT = ((14, 0.4), (14, 0.45), (14, 0.5), (20, 0.35), (20, 0.4), (20, 0.45), (20, 0.5), (24, 0.45))

# item, method, PDQ distance, inliers, banked share, inside share, spread, rival, bend, parallax correlation and size,
# plane, repeatability, inlier share, and the outlines' agreement (banked share, part share, outline pixels; -1 where
# the outlines were not asked: `CopyIndex._outline_agreement`)
# ... and the outlines laid in place (the same three; `CopyIndex._in_place`)
Record = tuple[int, str, int, int, float, float, float, int, float, float, float, str, float, float, float, float, int,
               float, float, int]

_index: CopyIndex | None = None
_bank_pdq: HammingIndex | None = None
_bank_quality: dict[int, int] = {}
_source_list: list[ev.Source] = []
_distractor_list: list[ev.Distractor] = []
_transforms: list[int] = []  # positions in ev.TRANSFORMS this run makes copies with
# The raw evidence of the last run, for analysis from a Python prompt.
LAST_RECORDS: dict[str, Any] = {}


def _quiet_cv2() -> None:
    # The budget is one core per upload; OpenCV would otherwise spread ORB over every core.
    cv2.setNumThreads(1)


def _bank_one(position: int) -> tuple[int, Description, str, int]:
    _quiet_cv2()
    image = _source_list[position].image()
    data = png(image)
    hashes = hash_bytes(data)
    return position, describe_data(data), hashes.pdq.value, hashes.pdq.quality


def _records(description: Description) -> tuple[Record, ...]:
    assert _index is not None
    decision = _index.search(description, brightest="always")
    out = []
    for e in decision.evidence:
        check = e.verification
        out.append(
            (
                e.item_id,
                e.method,
                e.distance if e.distance is not None else -1,
                check.inliers if check else 0,
                check.coverage_reference if check else 0.0,
                check.coverage_query if check else 0.0,
                check.spread if check else 0.0,
                check.rival_inliers if check else 0,
                check.perspective_pixels if check else 0.0,
                check.residual_correlation if check else 0.0,
                check.shared_residual_pixels if check else 0.0,
                e.plane,
                # not measured where it cannot decide (enough pairs agree, or too few inliers): then it passes
                check.repeatability if check and check.repeatability is not None else 1.0,
                check.inlier_share if check else 0.0,
                e.outlines.banked_share if e.outlines else -1.0,
                e.outlines.part_share if e.outlines else -1.0,
                e.outlines.outline_pixels if e.outlines else -1,
                e.in_place.banked_share if e.in_place else -1.0,
                e.in_place.part_share if e.in_place else -1.0,
                e.in_place.outline_pixels if e.in_place else -1,
            )
        )
    return tuple(out)


def _hash_path_hits(data: bytes) -> frozenset[int]:
    """Sources the hash path finds (PDQ at <= 31, through a rotation or mirror at <= 16, quality >= 50 both sides)."""
    assert _bank_pdq is not None
    hashes = hash_bytes(data)
    if not hashes.pdq.matchable:
        return frozenset()
    queries, turned = list(hashes.query_hashes), hashes.turned_hashes
    found = set()
    for query, hits in zip(queries, _bank_pdq.range_search(queries, PDQ_MATCH_DISTANCE), strict=True):
        limit = PDQ_TURNED_MATCH_DISTANCE if query in turned else PDQ_MATCH_DISTANCE
        found.update(int(i) for i, distance in hits if distance <= limit)
    return frozenset(i for i in found if _bank_quality.get(i, 0) >= PDQ_MIN_QUALITY)


def _query_source(position: int) -> list[tuple[int, int, frozenset[int], tuple[Record, ...]]]:
    _quiet_cv2()
    image = _source_list[position].image()
    out = []
    for number in _transforms:
        data = ev.TRANSFORMS[number][2](image, position * 100 + number)
        out.append((position, number, _hash_path_hits(data), _records(describe_data(data))))
    return out


def _query_distractor(position: int) -> tuple[int, tuple[Record, ...]]:
    _quiet_cv2()
    data = jpeg(ev.build_distractor(_distractor_list[position]), 85)
    return position, _records(describe_data(data))


# ---------------------------------------------------------------- deciding from the records


def decide_records(records: tuple[Record, ...], floor: int, policy: CopyPolicy) -> tuple[set[int], set[int]]:
    """(automatic items, review items) under `policy` with its inlier floor replaced by `floor` (on the brightest
    channel's features, by the higher of `floor` and the policy's `brightest_min_inliers`). As `CopyIndex.search`
    does, the brightest channel's records count only when nothing else acts (the bench records them always)."""
    auto, review = _decide(tuple(r for r in records if r[11] != "brightest"), floor, policy)
    if not auto:
        auto, review = _decide(records, floor, policy)
    return auto, review


def _decide(records: tuple[Record, ...], floor: int, policy: CopyPolicy) -> tuple[set[int], set[int]]:
    verify = policy.verify
    auto: set[int] = set()
    review: set[int] = set()
    for (item, method, _distance, inliers, present, inside, spread, rival, perspective, correlation, shared, plane,
         repeatability, inlier_share, outline_share, outline_part_share, outline_pixels, in_place_share,
         in_place_part_share, in_place_pixels) in records:
        if plane == "luma":
            enough = inliers >= floor
        else:  # the brightest channel's own floor, or fewer where the pairs agree (as `Verification.enough_inliers`)
            enough = inliers >= max(floor, policy.brightest_min_inliers) or (
                inliers >= max(floor, policy.brightest_agreeing_inliers)
                and inlier_share >= policy.brightest_agreeing_share
            )
        if method == "pdq-variant":
            auto.add(item)
        elif method == "pdq-weak":
            review.add(item)
        elif (  # the outlines settle what the corner rules refused (asked only where they may: `_records`)
            inliers >= policy.outline_min_inliers
            and outline_share >= policy.outline_share
            and outline_part_share >= policy.outline_part_share
            and outline_pixels >= policy.outline_min_pixels
        ) or (  # ... or laid in place (asked only where they may: `_records`)
            policy.in_place
            and inliers >= policy.outline_min_inliers
            and in_place_share >= policy.in_place_share
            and in_place_part_share >= policy.in_place_part_share
            and in_place_pixels >= policy.outline_min_pixels
        ):
            auto.add(item)
        elif spread >= policy.review_spread:
            if (
                enough
                and spread >= verify.min_spread
                and present >= verify.min_banked_share
                and max(present, inside) >= verify.min_inside
                and (present >= verify.partial_share or inside >= verify.partial_inside)
                and rival < max(verify.rival_floor, verify.max_rival_share * inliers)
                and perspective <= verify.max_perspective_pixels
                and not (correlation > verify.max_residual_correlation and shared >= verify.min_shared_residual_pixels)
                and not (repeatability < verify.min_repeatability and inlier_share < verify.min_inlier_share)
            ):
                auto.add(item)
            elif inliers >= policy.review_inliers and max(present, inside) >= policy.review_coverage:
                review.add(item)
    return auto, review - auto


@dataclass
class Results:
    config: dict[str, Any]
    operating_floor: int | None
    operating_floor_without_stereo: int | None
    default_floor: int
    rows: list[dict[str, Any]] = field(default_factory=list)
    distractors: dict[str, Any] = field(default_factory=dict)
    by_source_kind: dict[str, float] = field(default_factory=dict)
    timing: dict[str, float] = field(default_factory=dict)
    memory: dict[str, float] = field(default_factory=dict)
    video: dict[str, Any] = field(default_factory=dict)
    false_auto_at_default: int = 0
    curve: dict[int, tuple[int, int, float]] = field(default_factory=dict)
    brightest_curve: dict[int, tuple[int, float, float]] = field(default_factory=dict)
    agreement_curve: dict[str, tuple[int, float, float]] = field(default_factory=dict)
    in_place_curve: dict[float, tuple[int, float, float]] = field(default_factory=dict)
    elapsed_seconds: float = 0.0


def _timing(sources: list[ev.Source], rounds: int) -> dict[str, float]:
    """CPU time per ~1 MP upload on one core: hash path, then the second line, for uploads that match nothing
    (the second line runs in full) and for copies of banked sources."""
    assert _index is not None and _bank_pdq is not None
    _quiet_cv2()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    uploads = []
    for seed in range(rounds):
        scene = (
            ev.textured_scene(90_000_000 + seed, (1224, 816))
            if seed % 2
            else ev.plain_scene(seed + 90_000_000, (1224, 816))
        )
        uploads.append(("unrelated", jpeg(scene, 90)))
    for source in sources[:rounds]:
        copy = ev.caption(ev.crop_sides(source.image(), 0.1, "all"), top="lol", bottom=None)
        scale = (1_000_000 / (copy.width * copy.height)) ** 0.5
        uploads.append(("copy", jpeg(resized(copy, round(copy.width * scale), round(copy.height * scale)), 90)))
    hash_ms: dict[str, list[float]] = defaultdict(list)
    second_ms: dict[str, list[float]] = defaultdict(list)
    for _ in range(2):  # the first pass warms caches and numba
        hash_ms.clear()
        second_ms.clear()
        for kind, data in uploads:
            # As the gateway checks an upload: one decode, the hashes, then the second line on the same planes.
            start = time.process_time()
            hashes, still = hash_with_planes(data)
            _bank_pdq.search(list(hashes.dihedral), PDQ_MATCH_DISTANCE)
            middle = time.process_time()
            assert still is not None
            _index.search(describe_still(still))
            end = time.process_time()
            hash_ms[kind].append((middle - start) * 1000)
            second_ms[kind].append((end - middle) * 1000)
    out = {}
    for kind in ("unrelated", "copy"):
        totals = [a + b for a, b in zip(hash_ms[kind], second_ms[kind], strict=True)]
        out[f"{kind} hash path median ms"] = statistics.median(hash_ms[kind])
        out[f"{kind} second line median ms"] = statistics.median(second_ms[kind])
        out[f"{kind} total median ms"] = statistics.median(totals)
        out[f"{kind} total p95 ms"] = float(np.percentile(totals, 95))
    return out


def _video(quick: bool) -> dict[str, Any]:
    """Clips of 30 s cut from banked 5-minute videos, re-encoded; full re-encodes; clips of other footage."""
    rng = np.random.default_rng(7)
    banked_count, clips_each, negatives_each = (1, 8, 8) if quick else (4, 25, 40)
    index = VideoIndex()
    started = time.perf_counter()
    sources = {}
    for video in range(banked_count):
        frames = ev.pan_frames(video + 1, 300)
        sources[video] = frames
        index.add(video, sample_frames(ev.encode_video(frames)))
    sizes = [(256, 192), (384, 288), (320, 240), (480, 360)]
    clip_hits = clip_total = 0
    full_hits = 0
    clip_misses = []
    fps = ev.VIDEO_FPS
    for video, frames in sources.items():
        for _ in range(clips_each):
            start = int(rng.integers(0, len(frames) - 30 * fps))
            data = ev.encode_video(
                frames[start : start + 30 * fps],
                size=sizes[int(rng.integers(len(sizes)))],
                crf=int(rng.integers(26, 35)),
            )
            found = decide(index.search(hash_bytes(data).vpdq))
            clip_total += 1
            if video in found.auto_items:
                clip_hits += 1
            else:
                clip_misses.append((video, start / fps, found.kind))
        data = ev.encode_video(frames, size=(256, 192), crf=32)
        full_hits += video in decide(index.search(hash_bytes(data).vpdq)).auto_items
    # Videos that open with 8 s of a banked one and go on with other footage: the offset is found, the rest must
    # not line up. They hold banked seconds, so review is right; automatic action is not.
    spliced = spliced_auto = spliced_review = 0
    for video, frames in sources.items():
        other = ev.pan_frames(90 + video, 30)
        for _ in range(max(2, negatives_each // 8)):
            start = int(rng.integers(0, len(frames) - 8 * fps))
            found = decide(index.search(hash_bytes(ev.encode_video(
                frames[start : start + 8 * fps] + other[: 22 * fps], crf=28)).vpdq))
            spliced += 1
            spliced_auto += found.kind == "auto"
            spliced_review += found.kind == "review"
    false_auto = review = negatives = 0
    for video in range(banked_count):
        # The same places filmed along other paths (hard), and footage of other places.
        for seed, path in ((video + 1, 10_000 + video), (50 + video, None)):
            other = ev.pan_frames(seed, 300, path_seed=path)
            for _ in range(negatives_each // 2):
                start = int(rng.integers(0, len(other) - 30 * fps))
                found = decide(index.search(hash_bytes(ev.encode_video(other[start : start + 30 * fps], crf=28)).vpdq))
                negatives += 1
                false_auto += found.kind == "auto"
                review += found.kind == "review"
    return {
        "banked videos (5 min)": banked_count,
        "banked frames": index.frame_count,
        "clips (30 s)": clip_total,
        "clips found (auto)": clip_hits,
        "clip recall": clip_hits / clip_total,
        "clip misses": clip_misses,
        "full re-encodes found": f"{full_hits}/{banked_count}",
        "negative clips": negatives,
        "negative clips auto (false)": false_auto,
        "negative clips to review": review,
        "opening with 8 s of a banked video": spliced,
        "... auto (false)": spliced_auto,
        "... to review": spliced_review,
        "seconds": round(time.perf_counter() - started, 1),
    }


def run(
    *,
    source_count: int,
    distractor_count: int,
    workers: int,
    policy: CopyPolicy = DEFAULT_POLICY,
    timing_rounds: int = 12,
    video: bool = True,
    verbose: bool = False,
    transforms: list[int] | None = None,
    hard_only: bool = False,
) -> Results:
    """Build the set, bank the sources, check every copy and distractor, calibrate, and time.

    `transforms`: positions in `_copy_eval.TRANSFORMS` to make copies with (default: all). `hard_only`: of the
    `distractor_count` distractors, check only the hardest kinds (`_copy_eval.HARD_KINDS`; a fifth of them).
    """
    global _index, _bank_pdq, _source_list, _distractor_list, _transforms
    _transforms = list(range(len(ev.TRANSFORMS))) if transforms is None else list(transforms)
    started = time.perf_counter()
    _quiet_cv2()
    _source_list = ev.sources(source_count)
    _distractor_list = [d for d in ev.distractors(distractor_count, _source_list)
                        if not hard_only or d.kind in ev.HARD_KINDS]
    # Every plane searched at the recording floor: `verify` measures what only decides above its floor (whether the
    # corners repeat) only there, so a record under the brightest channel's own floor would replay as passing it.
    # Likewise the outlines in place: a candidate is recorded where they reach the lowest share replayed.
    recording = replace(policy, verify=replace(policy.verify, min_inliers=RECORD_FLOOR),
                        brightest_min_inliers=RECORD_FLOOR,
                        in_place_share=min(policy.in_place_share, *IN_PLACE_SHARES))
    context = multiprocessing.get_context("fork")
    with context.Pool(workers) as pool:
        banked = pool.map(_bank_one, range(len(_source_list)), chunksize=4)
    index = CopyIndex(recording)
    codes, ids = [], []
    for position, description, pdq, quality in banked:
        index.add(position, description)
        codes.append(pdq)
        ids.append(position)
        _bank_quality[position] = quality
    index.prepare()
    _index = index
    _bank_pdq = HammingIndex.from_arrays(ids, codes)
    bank_seconds = time.perf_counter() - started
    with context.Pool(workers) as pool:
        copies = [
            r for chunk in pool.imap_unordered(_query_source, range(len(_source_list)), chunksize=2) for r in chunk
        ]
        distractor_records = dict(pool.imap_unordered(_query_distractor, range(len(_distractor_list)), chunksize=16))
    query_seconds = time.perf_counter() - started - bank_seconds
    LAST_RECORDS["copies"], LAST_RECORDS["distractors"] = copies, distractor_records

    def false_autos(floor: int, show: bool = False, *, skip: str | None = None, rule: CopyPolicy = policy) -> int:
        wrong = 0
        for position, records in distractor_records.items():
            if skip is not None and _distractor_list[position].kind == skip:
                continue
            if decide_records(records, floor, rule)[0]:
                wrong += 1
                if show:
                    print(f"false: distractor {_distractor_list[position].label}: {records}", file=sys.stderr)
        for position, number, _, records in copies:
            auto, _ = decide_records(records, floor, rule)
            if auto - {position}:
                wrong += 1
                if show:
                    label = _source_list[position].label
                    others = [_source_list[i].label for i in auto - {position}]
                    print(f"false: {label} / {ev.TRANSFORMS[number][1]} -> {others}: {records}", file=sys.stderr)
        return wrong

    def misses(floor: int) -> None:
        for position, number, hits, records in copies:
            if ev.TRANSFORMS[number][3] and position not in hits | decide_records(records, floor, policy)[0]:
                label = _source_list[position].label
                print(f"missed: {label} / {ev.TRANSFORMS[number][1]}: {records}", file=sys.stderr)

    curve = {}
    for floor in FLOORS:
        hits = [
            position in (hash_hits | decide_records(records, floor, policy)[0])
            for position, number, hash_hits, records in copies
            if ev.TRANSFORMS[number][3]
        ]
        curve[floor] = (false_autos(floor), false_autos(floor, skip=ev.STEREO_KIND), sum(hits) / max(1, len(hits)))
    # The brightest channel's own floor (`CopyPolicy.brightest_min_inliers`, alone) and its agreement rule, the
    # luma's at its default: replayed from the same records (the bench asks both planes always).
    def replay(rule: CopyPolicy) -> tuple[int, float, float]:
        found = [
            (ev.TRANSFORMS[number][0] == "colour" or "hue" in ev.TRANSFORMS[number][1],
             position in (hash_hits | decide_records(records, policy.verify.min_inliers, rule)[0]))
            for position, number, hash_hits, records in copies
            if ev.TRANSFORMS[number][3]
        ]
        coloured = [hit for colour, hit in found if colour]
        return (false_autos(policy.verify.min_inliers, rule=rule), sum(hit for _, hit in found) / max(1, len(found)),
                sum(coloured) / max(1, len(coloured)))

    brightest_curve = {}
    for bright in BRIGHTEST_FLOORS:
        floor_only = max(bright, policy.verify.min_inliers)
        brightest_curve[bright] = replay(replace(policy, brightest_min_inliers=floor_only,
                                                 brightest_agreeing_inliers=floor_only))
    agreement_curve = {"none (the floor alone)": brightest_curve.get(policy.brightest_min_inliers) or replay(
        replace(policy, brightest_agreeing_inliers=policy.brightest_min_inliers))}
    for fewer, share in BRIGHTEST_AGREEMENT:
        agreement_curve[f"{fewer} @ {share:.2f}"] = replay(replace(
            policy, brightest_agreeing_inliers=max(fewer, policy.verify.min_inliers), brightest_agreeing_share=share))
    # The outlines in place at other shares (the rest as shipped); recall over the transforms they serve: those
    # that keep the picture where it lay (colour changes, borders, captions, stickers, re-encoding).
    def in_place_replay(rule: CopyPolicy) -> tuple[int, float, float]:
        found = [
            (ev.TRANSFORMS[number][0] in ("colour", "border", "caption", "sticker") or "border" in
             ev.TRANSFORMS[number][1], position in (hash_hits | decide_records(records, policy.verify.min_inliers,
                                                                               rule)[0]))
            for position, number, hash_hits, records in copies
            if ev.TRANSFORMS[number][3]
        ]
        served = [hit for kept, hit in found if kept]
        return (false_autos(policy.verify.min_inliers, rule=rule), sum(hit for _, hit in found) / max(1, len(found)),
                sum(served) / max(1, len(served)))

    in_place_curve = {share: in_place_replay(replace(policy, in_place_share=share)) for share in IN_PLACE_SHARES}
    in_place_curve[2.0] = in_place_replay(replace(policy, in_place=False))  # never: the line without them
    operating = next((floor for floor in FLOORS if false_autos(floor) == 0), None)
    operating_without_stereo = next((f for f in FLOORS if false_autos(f, skip=ev.STEREO_KIND) == 0), None)
    default_floor = policy.verify.min_inliers
    results = Results(
        config={
            "sources": dict(Counter(s.kind for s in _source_list)),
            "distractors": dict(Counter(d.kind for d in _distractor_list)),
            "transforms": len(_transforms),
            "brightest channel": f"{policy.brightest_min_inliers} inliers, or {policy.brightest_agreeing_inliers} "
                                 f"with {policy.brightest_agreeing_share:.0%} of the pairs agreeing",
            "workers": workers,
            "bank seconds": round(bank_seconds, 1),
            "query seconds": round(query_seconds, 1),
        },
        operating_floor=operating,
        operating_floor_without_stereo=operating_without_stereo,
        default_floor=default_floor,
        false_auto_at_default=false_autos(default_floor, show=verbose),
        curve=curve,
        brightest_curve=brightest_curve,
        agreement_curve=agreement_curve,
        in_place_curve=in_place_curve,
    )
    if verbose:
        misses(default_floor)
    by_transform: dict[int, list[tuple[bool, bool, bool, bool, str]]] = defaultdict(list)
    kinds = {position: source.kind for position, source in enumerate(_source_list)}
    hash_path_false = sum(1 for position, _, hits, _ in copies if hits - {position})
    results.config["hash path automatic false actions (copies matched to another source)"] = hash_path_false
    for position, number, hash_hits, records in copies:
        hash_hit = position in hash_hits
        auto_default, review_default = decide_records(records, default_floor, policy)
        safe = operating if operating is not None else operating_without_stereo
        auto_operating, _ = decide_records(records, safe if safe is not None else 10**6, policy)
        hit = position in auto_default or hash_hit
        by_transform[number].append(
            (hash_hit, hit, position in auto_operating or hash_hit, position in review_default, kinds[position])
        )
    kind_hits: dict[str, list[bool]] = defaultdict(list)
    for number in _transforms:
        group, name, _, target = ev.TRANSFORMS[number]
        rows = by_transform[number]
        n = len(rows)
        results.rows.append(
            {
                "group": group,
                "transform": name,
                "target": target,
                "hash path": sum(r[0] for r in rows) / n,
                "recall": sum(r[1] for r in rows) / n,
                "recall at operating point": sum(r[2] for r in rows) / n,
                "to review": sum(1 for r in rows if r[3] and not r[1]) / n,
            }
        )
        if target:
            for r in rows:
                kind_hits[r[4]].append(r[1])
    results.by_source_kind = {kind: sum(hits) / len(hits) for kind, hits in kind_hits.items()}
    per_kind: dict[str, Counter[str]] = defaultdict(Counter)
    max_inliers: dict[str, int] = defaultdict(int)
    for position, records in distractor_records.items():
        kind = _distractor_list[position].kind
        auto, review = decide_records(records, default_floor, policy)
        per_kind[kind]["count"] += 1
        per_kind[kind]["auto"] += bool(auto)
        per_kind[kind]["review"] += bool(review and not auto)
        for record in records:
            if record[1] == "geometric":
                max_inliers[kind] = max(max_inliers[kind], record[3])
    results.distractors = {
        kind: {**counts, "max inliers": max_inliers[kind]} for kind, counts in sorted(per_kind.items())
    }
    total = sum(c["count"] for c in per_kind.values())
    results.distractors["review per 1,000 uploads"] = 1000 * sum(c["review"] for c in per_kind.values()) / total
    stats = index.stats()
    # Marginal memory: the index of every source against one of half of them (both carry the same fixed
    # tables: the vote tables' offsets and the PDQ index's, whatever the bank's size).
    half = CopyIndex(recording)
    for position, description, _, _ in banked[: len(banked) // 2]:
        half.add(position, description)
    half_stats = half.stats()
    per_item = (stats.array_bytes - half_stats.array_bytes) / (stats.items - half_stats.items)
    results.memory = {
        "keypoints per item (mean)": stats.keypoints / stats.items,
        "PDQ rows per item (mean)": stats.pdq_rows / stats.items,
        "stored bytes per item (features on both planes + PDQ rows of 32 bytes + quality)": statistics.mean(
            d.features.stored_bytes + (d.brightest_features.stored_bytes if d.brightest_features else 0)
            + 33 * len(d.variants) for _, d, _, _ in banked
        ),
        # sealed as `copies.OutlineSeal` keeps them: a 12-byte nonce and a 16-byte tag around the edge map
        "stored bytes per item (outlines, sealed)": statistics.mean(
            len(outlines.to_bytes()) + 28 for _, d, _, _ in banked if (outlines := d.edge_map()) is not None
        ),
        "in-memory bytes per item (marginal)": per_item,
        "in-memory bytes, fixed": stats.array_bytes - per_item * stats.items,
    }
    if timing_rounds:
        results.timing = _timing(_source_list, timing_rounds)
    if video:
        results.video = _video(quick=source_count < 500)
    results.elapsed_seconds = round(time.perf_counter() - started, 1)
    return results


def print_results(results: Results) -> None:
    config = results.config
    print("## Copy detection: the second line\n")
    print(
        f"Sources: {config['sources']}; {config['transforms']} transforms; distractors: {config['distractors']}; "
        f"{config['workers']} workers; banking {config['bank seconds']} s, queries {config['query seconds']} s, "
        f"{results.elapsed_seconds} s in all.\n"
    )
    print(
        f"Geometric floor: shipped default {results.default_floor} inliers "
        f"({results.false_auto_at_default} automatic false actions); lowest floor with none: "
        f"{results.operating_floor} (leaving out the stereo pair: {results.operating_floor_without_stereo}).\n"
    )
    print(
        "| group | transform | target | hash path alone | hash path + second line | at the lowest safe floor"
        " | to review |"
    )
    print("|---|---|---|---:|---:|---:|---:|")
    for row in results.rows:
        target = ">= 0.99" if row["target"] else "reported"
        print(
            f"| {row['group']} | {row['transform']} | {target} | {row['hash path']:.3f} | {row['recall']:.3f} | "
            f"{row['recall at operating point']:.3f} | {row['to review']:.3f} |"
        )
    print("\n| inlier floor | automatic false actions | without the stereo pair | recall over target transforms |")
    print("|---:|---:|---:|---:|")
    for floor, (false, false_without, recall) in results.curve.items():
        if floor <= 30 or floor % 5 == 0:
            print(f"| {floor} | {false} | {false_without} | {recall:.4f} |")
    print("\n| brightest-channel floor | automatic false actions | recall over target transforms"
          " | recall over the colour transforms |")
    print("|---:|---:|---:|---:|")
    for bright, (false, recall, coloured) in results.brightest_curve.items():
        print(f"| {bright} | {false} | {recall:.4f} | {coloured:.4f} |")
    print(f"\nShipped on the brightest channel: {results.config.get('brightest channel')}.")
    print("\n| brightest channel: fewer inliers @ share of the pairs agreeing (at the shipped floor) | automatic "
          "false actions | recall over target transforms | recall over the colour transforms |")
    print("|---|---:|---:|---:|")
    for rule, (false, recall, coloured) in results.agreement_curve.items():
        print(f"| {rule} | {false} | {recall:.4f} | {coloured:.4f} |")
    print("\n| outlines in place: banked share (part share as shipped) | automatic false actions | recall over target "
          "transforms | recall over colour, border, caption and sticker transforms |")
    print("|---|---:|---:|---:|")
    for share, (false, recall, served) in results.in_place_curve.items():
        print(f"| {'never' if share > 1 else f'{share:.2f}'} | {false} | {recall:.4f} | {served:.4f} |")
    print("\n| source kind | recall over the target transforms |\n|---|---:|")
    for kind, recall in sorted(results.by_source_kind.items()):
        print(f"| {kind} | {recall:.3f} |")
    print(
        "\n| distractor kind | count | automatic (false) | to review | most inliers seen |\n|---|---:|---:|---:|---:|"
    )
    for kind, counts in results.distractors.items():
        if isinstance(counts, dict):
            print(f"| {kind} | {counts['count']:,} | {counts['auto']} | {counts['review']} | {counts['max inliers']} |")
    print(
        "\nCandidates sent to review per 1,000 uploads (distractors): "
        f"{results.distractors['review per 1,000 uploads']:.2f}\n"
    )
    if results.timing:
        print(
            "| ~1 MP upload, one core, CPU ms | hash path (median) | second line (median) | total (median)"
            " | total (p95) |"
        )
        print("|---|---:|---:|---:|---:|")
        for kind in ("unrelated", "copy"):
            t = results.timing
            print(
                f"| {kind} | {t[f'{kind} hash path median ms']:.1f} | {t[f'{kind} second line median ms']:.1f} | "
                f"{t[f'{kind} total median ms']:.1f} | {t[f'{kind} total p95 ms']:.1f} |"
            )
        print()
    print("| memory | value |\n|---|---:|")
    for key, value in results.memory.items():
        print(f"| {key} | {value:,.1f} |")
    if results.video:
        print("\n| video | value |\n|---|---|")
        for key, value in results.video.items():
            print(f"| {key} | {value if not isinstance(value, float) else f'{value:.3f}'} |")


def time_only(*, source_count: int, workers: int, rounds: int) -> dict[str, float]:
    """Bank the sources as `run` does, then only `_timing`: the per-upload figures, in a few minutes."""
    global _index, _bank_pdq, _source_list
    _quiet_cv2()
    _source_list = ev.sources(source_count)
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        banked = pool.map(_bank_one, range(len(_source_list)), chunksize=4)
    index = CopyIndex()
    for position, description, _pdq, quality in banked:
        index.add(position, description)
        _bank_quality[position] = quality
    index.prepare()
    _index = index
    _bank_pdq = HammingIndex.from_arrays([p for p, *_ in banked], [pdq for _, _, pdq, _ in banked])
    return _timing(_source_list, rounds)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="80 sources and 2,000 distractors (full: 1,000 and 100,000)"
    )
    parser.add_argument("--sources", type=int, help="override the number of sources")
    parser.add_argument("--distractors", type=int, help="override the number of distractors")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes (default: all cores)")
    parser.add_argument("--no-video", action="store_true", help="skip the video part")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--verbose", action="store_true", help="list every miss and false action on stderr")
    parser.add_argument("--transforms", help="only these positions in _copy_eval.TRANSFORMS, comma-separated")
    parser.add_argument("--hard-only", action="store_true",
                        help="of the distractors, only the hardest kinds (same-scene photos, re-rendered scenes, the "
                             "stereo pair): a partial run in a third of the time")
    parser.add_argument("--timing-only", type=int, metavar="ROUNDS",
                        help="bank the sources, then only time ROUNDS uploads of each kind (to compare two checkouts)")
    args = parser.parse_args()
    sources, distractors = (80, 2_000) if args.quick else (1_000, 100_000)
    if args.timing_only:
        timing = time_only(source_count=args.sources or sources, workers=args.workers, rounds=args.timing_only)
        print("| ~1 MP upload, one core, CPU ms | value |\n|---|---:|")
        for key, value in timing.items():
            print(f"| {key} | {value:.1f} |")
        return 0
    try:
        transforms = None if args.transforms is None else [int(t) for t in args.transforms.split(",")]
    except ValueError:
        parser.error(f"--transforms takes comma-separated numbers, got {args.transforms!r}")
    if transforms is not None and not all(0 <= t < len(ev.TRANSFORMS) for t in transforms):
        parser.error(f"--transforms: each between 0 and {len(ev.TRANSFORMS) - 1}")
    results = run(
        source_count=args.sources or sources,
        distractor_count=args.distractors or distractors,
        workers=args.workers,
        video=not args.no_video,
        verbose=args.verbose,
        transforms=transforms,
        hard_only=args.hard_only,
    )
    print_results(results)
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results.__dict__, out, indent=2, default=str)
    video_false = results.video.get("negative clips auto (false)", 0) + results.video.get("... auto (false)", 0)
    return 1 if results.false_auto_at_default or video_false else 0


if __name__ == "__main__":
    sys.exit(main())
