"""The compiled descriptor matcher gives OpenCV's brute-force pairs, in OpenCV's order (`keypoints._pairs`)."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from firebreak.signals import keypoints
from firebreak.signals.keypoints import DEFAULT_VERIFY_POLICY, FeatureSet, VerifyPolicy, extract_features


def _opencv_pairs(query: FeatureSet, reference: FeatureSet, policy: VerifyPolicy) -> tuple[list[int], list[int]]:
    """What `_pairs` did with OpenCV: knnMatch k=2, Lowe's test, each reference row to its nearest query row (the
    first on a tie), in the order the reference rows were first claimed."""
    best: dict[int, tuple[float, int]] = {}
    for pair in cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(query.descriptors, reference.descriptors, k=2):
        if not pair:
            continue
        first = pair[0]
        if first.distance > policy.max_descriptor_distance:
            continue
        if len(pair) > 1 and first.distance >= policy.ratio * pair[1].distance:
            continue
        seen = best.get(first.trainIdx)
        if seen is None or first.distance < seen[0]:
            best[first.trainIdx] = (first.distance, first.queryIdx)
    return [q for _, q in best.values()], list(best)


def _set(descriptors: npt.NDArray[np.uint8]) -> FeatureSet:
    points = np.arange(2 * len(descriptors), dtype=np.float32).reshape(-1, 2)
    return FeatureSet(64, 64, points, descriptors)


def _compiled_pairs(query: FeatureSet, reference: FeatureSet, policy: VerifyPolicy
                    ) -> tuple[list[int], list[list[float]]]:
    pairs = keypoints._pairs(query, reference, policy)
    assert pairs.source.tolist() == query.points[pairs.query_rows].tolist()
    # The reference rows, from the positions (a real set can hold two keypoints at one position: compare those).
    return pairs.query_rows.tolist(), pairs.target.tolist()


def _expected(query: FeatureSet, reference: FeatureSet, policy: VerifyPolicy) -> tuple[list[int], list[list[float]]]:
    queries, train = _opencv_pairs(query, reference, policy)
    return queries, reference.points[train].tolist()


@st.composite
def _descriptor_sets(draw: st.DrawFn) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """Two descriptor sets that share rows, and rows a few bits from each other: ties for the nearest, several
    queries wanting one reference row, distances on both sides of the ratio and of the distance limit."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (draw(st.integers(1, 40)), 32), dtype=np.uint8)

    def near(rows: int) -> npt.NDArray[np.uint8]:
        picked = base[rng.integers(0, len(base), rows)].copy()
        flips = rng.integers(0, 256 * 4, (rows, draw(st.integers(0, 40))))
        for row, bits in enumerate(flips):
            for bit in bits % 256:
                picked[row, bit // 8] ^= np.uint8(1 << (bit % 8))
        return picked

    return near(draw(st.integers(1, 60))), near(draw(st.integers(1, 60)))


@settings(max_examples=200, deadline=None)
@given(_descriptor_sets(), st.sampled_from([0.7, 0.85, 1.0]), st.sampled_from([20, 72, 256]))
def test_the_compiled_pairs_are_opencvs_in_its_order(
    sets: tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]], ratio: float, limit: int
) -> None:
    query, reference = (_set(d) for d in sets)
    policy = VerifyPolicy(ratio=ratio, max_descriptor_distance=limit)
    assert _compiled_pairs(query, reference, policy) == _expected(query, reference, policy)


def test_a_real_copys_pairs_are_opencvs_in_its_order() -> None:
    picture = Image.new("L", (480, 360), 90)
    draw = ImageDraw.Draw(picture)
    rng = np.random.default_rng(7)
    for _ in range(60):
        x, y = (int(v) for v in rng.integers(0, 440, 2))
        draw.rectangle((x, y, x + int(rng.integers(8, 60)), y + int(rng.integers(8, 60))),
                       fill=int(rng.integers(0, 256)))
    original = np.asarray(picture)
    cut = np.ascontiguousarray(original[30:330, 40:440])
    query, reference = extract_features(cut), extract_features(original)
    compiled = _compiled_pairs(query, reference, DEFAULT_VERIFY_POLICY)
    assert len(compiled[0]) >= 50  # a copy: many pairs
    assert compiled == _expected(query, reference, DEFAULT_VERIFY_POLICY)


def test_one_reference_row_has_no_ratio_test() -> None:
    row = np.zeros((1, 32), np.uint8)
    near = row.copy()
    near[0, 0] = 0b111  # 3 bits away
    assert _compiled_pairs(_set(near), _set(row), DEFAULT_VERIFY_POLICY) == ([0], [[0.0, 1.0]])
