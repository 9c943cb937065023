"""Local features (OpenCV's ORB) and the geometric check that turns a candidate into a verified copy.

A copy that was cropped, turned a few degrees, captioned or covered by a sticker keeps most of the picture's
corners and their surroundings. ORB finds up to `MAX_KEYPOINTS` of them, spread over the picture, each with
a 256-bit binary descriptor; `verify` pairs the descriptors of two pictures and asks RANSAC for one
similarity transform (turn, uniform scale, shift: what cropping, resizing and small rotations do) that
carries enough of the pairs onto each other, and for the two pictures to overlap enough under it. Nothing is
downloaded: ORB is an algorithm in `opencv-python-headless`, with no weights.

What a bank keeps per item is the `FeatureSet` (keypoint positions and descriptors), never the picture:
`FeatureSet.to_bytes()` is the stored form, documented below and in docs/copy-detection.md.

Binary layout, version 2 (little-endian):

    offset  size  field
    0       4     magic b"FBKP"
    4       1     version (2; version 1 has no extent: bytes 12-19 are absent and the extent is the frame)
    5       1     extractor revision (0: corners at threshold 12, 4 for low-detail pictures; 1: always 4;
                  2: as 1, and a colour picture has a second set on its brightest channel; 3: that set
                  holds up to 600 keypoints, not 300; 4: a picture under WORKING_SIDE is enlarged to it;
                  5: the same features, and the copy line keeps the outlines beside them)
    6       2     n: number of keypoints (uint16)
    8       2     width of the frame the points refer to (uint16, pixels)
    10      2     height (uint16)
    12      8     extent: left, top, right, bottom of the whole picture in the frame's pixels (int16 each)
    20      4n    n points: x, y as uint16 in 1/16 pixel
    20+4n   32n   n ORB descriptors, 32 bytes each, in OpenCV's bit order

The frame is the part of the picture the features were taken from (uniform margins, or a screenshot's
interface, off: `copydetect.feature_box`); the extent is the whole picture around it. Coverage is measured
on extents, so a picture that lost a flat strip on one side and not on the other still covers the other.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, replace
from typing import ClassVar, Literal

import cv2
import numpy as np
import numpy.typing as npt

from firebreak.signals.bits import descriptor_words, ratio_pairs

__all__ = [
    "DEFAULT_VERIFY_POLICY",
    "EXTRACTOR_REVISION",
    "FEATURE_FORMAT_VERSION",
    "MAX_KEYPOINTS",
    "WORKING_SIDE",
    "FeatureSet",
    "Verification",
    "VerifyPolicy",
    "extract_features",
    "features_of_plane",
    "verify",
    "working_plane",
]

Luma = npt.NDArray[np.uint8]
Points = npt.NDArray[np.float32]
Descriptors = npt.NDArray[np.uint8]

FEATURE_FORMAT_VERSION = 2
# Which extractor made a stored set (byte 5). Sets of an older revision still parse and still match, but
# `CopyLine` describes such pictures again: under revision 0 a low-detail picture's corners were found
# differently, before revision 2 a colour picture had no second set on its brightest channel
# (`copydetect.Description.brightest_features`), before revision 3 that set had 300 keypoints, not 600, and before
# revision 4 a picture under WORKING_SIDE was described at its own size, not enlarged to it. Revision 5 changed no
# feature: from it the copy line keeps a picture's outlines too (`structure.EdgeMap`), which an older row lacks.
EXTRACTOR_REVISION = 5
_MAGIC = b"FBKP"
_HEADER = struct.Struct("<4sBBHHH")
_EXTENT = struct.Struct("<hhhh")
_POINT_SCALE = 16  # stored positions are in 1/16 pixel: 0.06 px of rounding, up to 4095 px
DESCRIPTOR_BYTES = 32

# Pictures are scaled to this long side before ORB: down (area filter), and since revision 4 up (bilinear), so a
# reduced copy of a small picture is described at its original's scale (a 480 px picture and its 240 px copy met
# across ORB's pyramid with too few corners: docs/copy-detection.md, "Small pictures"). Smaller than one might
# think: at 384 the grain of a photo averages out and the corners that survive re-encoding and resizing remain
# (measured against 320, 448 and 512 in docs/copy-detection.md), and ORB's cost grows with the pixels.
WORKING_SIDE = 384
# ... but never enlarged more than this: the bench measured pictures down to 125 px (enlarged 3.1 times); a picture
# under 96 px (an icon) is enlarged 4 times, not to the working side, and its corners stay its own, not a blur's.
MAX_ENLARGEMENT = 4.0
# Keypoints kept per picture: each costs 36 bytes stored. docs/copy-detection.md measures recall against it.
MAX_KEYPOINTS = 600
# The picture is cut into GRID x GRID cells and keypoints are taken from each in turn (strongest first), so
# one busy corner (text, a logo, a sticker) cannot take them all and a crop keeps its share.
_GRID = 4
# FAST's corner threshold, one for every picture. Revision 0 used 12 and fell back to 4 for a picture giving
# fewer than 150 corners; a sticker or a caption's text added enough corners to a low-detail picture to keep
# its copy at 12 while the original had gone to 4, so the two were described differently and never met
# (stickers on low-detail pictures: recall 0.95). ORB keeps the strongest corners by Harris response, so a
# low threshold changes little for detailed pictures and costs about 1 ms.
_FAST_THRESHOLD = 4
# ORB keeps keypoints 15 pixels (edgeThreshold) from every edge: a narrower picture has none.
_MIN_SIDE = 31


@dataclass(frozen=True, eq=False)
class FeatureSet:
    """Keypoints of one picture: positions in a `width` x `height` frame and their ORB descriptors."""

    width: int
    height: int
    points: Points  # (n, 2) float32, x then y
    descriptors: Descriptors  # (n, 32) uint8
    revision: int = EXTRACTOR_REVISION  # the extractor that made it (header byte 5)
    # The whole picture in the frame's pixels (left, top, right, bottom): the frame itself unless the features
    # were taken from a part of it. Whole pixels, so a set verifies the same before and after storage.
    extent: tuple[int, int, int, int] | None = None

    FORMAT_VERSION: ClassVar[int] = FEATURE_FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.points.shape != (len(self.descriptors), 2) or self.descriptors.shape[1:] != (DESCRIPTOR_BYTES,):
            raise ValueError(f"points {self.points.shape} and descriptors {self.descriptors.shape} do not agree")
        if not (0 < self.width < 4096 and 0 < self.height < 4096):
            raise ValueError(f"a feature frame is 1..4095 pixels a side, got {self.width}x{self.height}")

    def __len__(self) -> int:
        return len(self.descriptors)

    @property
    def bounds(self) -> tuple[int, int, int, int]:
        """The extent (the whole picture), or the frame when no extent was given."""
        return self.extent if self.extent is not None else (0, 0, self.width, self.height)

    @property
    def stored_bytes(self) -> int:
        """Size of `to_bytes()`: what the bank stores for this item."""
        return _HEADER.size + _EXTENT.size + len(self) * (4 + DESCRIPTOR_BYTES)

    def to_bytes(self) -> bytes:
        """The stored form (layout in the module docstring)."""
        header = _HEADER.pack(_MAGIC, FEATURE_FORMAT_VERSION, self.revision, len(self), self.width, self.height)
        extent = _EXTENT.pack(*(max(-32768, min(32767, v)) for v in self.bounds))
        fixed = np.clip(np.round(self.points * _POINT_SCALE), 0, 65535).astype("<u2")
        return header + extent + fixed.tobytes() + np.ascontiguousarray(self.descriptors, dtype=np.uint8).tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> FeatureSet:
        """Parse `to_bytes()` output. Raises ValueError naming what is wrong."""
        if len(data) < _HEADER.size:
            raise ValueError(f"a feature set is at least {_HEADER.size} bytes, got {len(data)}")
        magic, version, revision, count, width, height = _HEADER.unpack_from(data)
        if magic != _MAGIC:
            raise ValueError(f"not a feature set (magic {magic!r})")
        if version not in (1, FEATURE_FORMAT_VERSION):
            raise ValueError(f"feature set version {version} is not supported (this reads 1 and 2)")
        start = _HEADER.size + (_EXTENT.size if version >= 2 else 0)
        expected = start + count * (4 + DESCRIPTOR_BYTES)
        if len(data) != expected:
            raise ValueError(f"a feature set of {count} keypoints is {expected} bytes, got {len(data)}")
        extent = None
        if version >= 2:
            left, top, right, bottom = _EXTENT.unpack_from(data, _HEADER.size)
            if not (left < right and top < bottom):
                raise ValueError(f"a feature set's extent must have a size, got {(left, top, right, bottom)}")
            extent = (left, top, right, bottom)
        fixed = np.frombuffer(data, dtype="<u2", count=2 * count, offset=start).reshape(count, 2)
        descriptors = np.frombuffer(data, dtype=np.uint8, count=DESCRIPTOR_BYTES * count, offset=start + 4 * count)
        return cls(
            width=width,
            height=height,
            points=fixed.astype(np.float32) / np.float32(_POINT_SCALE),
            descriptors=descriptors.reshape(count, DESCRIPTOR_BYTES).copy(),
            revision=revision,
            extent=extent,
        )


def working_plane(luma: Luma, side: int = WORKING_SIDE) -> Luma:
    """The plane scaled so its long side is `side` (down with an area filter, up bilinearly and at most
    MAX_ENLARGEMENT times), its contrast stretched.

    The stretch (1st to 99th percentile onto 0-255) undoes a brightness or contrast change before FAST
    picks corners by a fixed threshold, so a faded copy gives the same corners as its original.
    """
    height, width = luma.shape
    scale = min(side / max(height, width), MAX_ENLARGEMENT)
    plane: Luma = np.ascontiguousarray(luma)
    if scale != 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        filter_ = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
        plane = np.asarray(cv2.resize(luma, size, interpolation=filter_), dtype=np.uint8)
    low, high = (float(v) for v in np.percentile(plane, (1, 99)))
    if high - low < 8:  # a flat picture: nothing to stretch, and stretching would only amplify noise
        return plane
    stretched = (plane.astype(np.float32) - low) * np.float32(255.0 / (high - low))
    out: Luma = np.clip(stretched, 0, 255).astype(np.uint8)
    return out


def _spread(keypoints: list[cv2.KeyPoint], width: int, height: int, limit: int) -> list[cv2.KeyPoint]:
    """Up to `limit` keypoints, taken from each grid cell in turn, strongest first."""
    if len(keypoints) <= limit:
        return keypoints
    xy = np.array([k.pt for k in keypoints], dtype=np.float64)
    response = np.array([k.response for k in keypoints], dtype=np.float64)
    cell = np.minimum((xy[:, 0] * _GRID / width).astype(int), _GRID - 1) * _GRID + np.minimum(
        (xy[:, 1] * _GRID / height).astype(int), _GRID - 1
    )
    order = np.lexsort((-response, cell))  # by cell, strongest first within it
    rank = np.empty(len(keypoints), dtype=np.int64)
    sorted_cells = cell[order]
    starts = np.flatnonzero(np.r_[True, sorted_cells[1:] != sorted_cells[:-1]])
    run_start = np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    rank[order] = np.arange(len(order)) - run_start
    chosen = np.lexsort((-response, rank))[:limit]
    return [keypoints[i] for i in sorted(chosen.tolist())]


def extract_features(luma: Luma, *, max_keypoints: int = MAX_KEYPOINTS) -> FeatureSet:
    """ORB keypoints of a luma plane (2-D uint8, as displayed), in the frame of the plane scaled to WORKING_SIDE.

    Deterministic: the same plane always gives the same features.
    """
    if luma.ndim != 2 or luma.dtype != np.uint8:
        raise ValueError(f"expected a 2-D uint8 luma plane, got {luma.ndim}-D {luma.dtype}")
    return features_of_plane(working_plane(luma), max_keypoints=max_keypoints)


def features_of_plane(plane: Luma, *, max_keypoints: int = MAX_KEYPOINTS) -> FeatureSet:
    """`extract_features` of a plane already made by `working_plane` (a caller that keeps the plane: the outlines,
    `structure.EdgeMap`, are taken from the same one)."""
    height, width = plane.shape
    if min(height, width) < _MIN_SIDE:  # no room for a keypoint's patch (and OpenCV refuses a 1-pixel side)
        return FeatureSet(width, height, np.zeros((0, 2), np.float32), np.zeros((0, DESCRIPTOR_BYTES), np.uint8))
    orb = cv2.ORB.create(nfeatures=max_keypoints * 3, fastThreshold=_FAST_THRESHOLD, edgeThreshold=15, patchSize=31)
    keypoints = list(orb.detect(plane, None))
    chosen, descriptors = orb.compute(plane, _spread(keypoints, width, height, max_keypoints))
    if descriptors is None or not chosen:
        return FeatureSet(width, height, np.zeros((0, 2), np.float32), np.zeros((0, DESCRIPTOR_BYTES), np.uint8))
    points = np.array([k.pt for k in chosen], dtype=np.float32).reshape(-1, 2)
    # Round to the stored precision now, so a FeatureSet verifies the same before and after storage.
    stored = (np.round(points * _POINT_SCALE) / _POINT_SCALE).astype(np.float32)
    return FeatureSet(width, height, stored, np.ascontiguousarray(descriptors, dtype=np.uint8))


# ---------------------------------------------------------------- geometric verification


@dataclass(frozen=True, slots=True)
class VerifyPolicy:
    """When a geometric match counts as a verified copy. Defaults: docs/copy-detection.md (calibration)."""

    min_inliers: int = 14  # pairs RANSAC keeps under one similarity transform
    # How much of the *banked* picture must be present in the other under the transform ...
    min_banked_share: float = 0.4  # ... at least this much (a crop of 20% from all sides keeps 0.64),
    # ... and either nearly all of it (a border, caption or screenshot around it), or the other picture
    # must lie nearly wholly inside the banked one (a crop). Two shots of one scene overlap only partly.
    min_inside: float = 0.8
    # A picture showing under this share of the banked one is a big crop, and a crop lies wholly inside its
    # original: then at least `partial_inside` of it must. Two photographs of one scene that overlap in part (on
    # a repeating texture, RANSAC can lay them half over each other) show part of it with part of their own
    # outside. On the bench every copy under 0.65 was a crop of 20% from all sides or a turn cropped to fill,
    # at least 0.95 inside (docs/copy-detection.md, "The overlap of a big crop").
    partial_share: float = 0.6
    partial_inside: float = 0.95
    # The inliers' convex hull, as a share of the overlap's detailed part (see `_detailed_part`): not all in one
    # spot. A copy repeats corners all over the picture; a second photograph of a scene can repeat one flat patch of
    # it exactly (a wall, a poster, a textured backdrop that did not move). On the full bench of 2026-12-05 the one
    # false action left was such a patch: 49 inliers covering 6.8% of the overlap. On the 300-source analysis
    # records, raising this from 0.05 to 0.08 cost one copy of 10,397 (to review); matches under it still go to
    # review from CopyPolicy.review_spread (docs/copy-detection.md, "One patch").
    min_spread: float = 0.08
    # A second, different transform that carries this many of the remaining pairs means two planes seen
    # from two viewpoints (a stereo pair, the same scene shot twice with things moved), not one picture
    # copied: the wrong pairs of a copy are scattered and agree on nothing (at most 8 measured).
    max_rival_share: float = 0.15  # of the inliers ...
    rival_floor: int = 6  # ... or this many, whichever is more
    # A copy is a flat picture moved: the best perspective mapping through the inliers may depart from the
    # similarity by at most this many pixels (of the reference's working frame, WORKING_SIDE long) anywhere in
    # the detailed part of the common part (`Verification.perspective_pixels`). A scene photographed again from a
    # step aside bends away: on the full bench, re-shot scenes acted on fell from 62 in 10,000 to 4
    # (docs/copy-detection.md).
    max_perspective_pixels: float = 8.0
    # A copy is one flat picture: once its turn and scale are taken out (a scale of its own along each axis: a
    # change of aspect ratio is still a copy), what is left of each inlier's displacement is the noise of
    # locating a corner, which differs from one point to the next. A scene with depth seen from a second camera
    # (a stereo pair, a step aside) leaves a displacement that neighbouring points share: the parallax of the
    # surfaces they lie on (a view in perspective, a photo of a screen, leaves one too). Refused when both hold:
    # neighbours' displacements explain more than this share of the scatter (`Verification.residual_correlation`;
    # about -0.17 for pure noise; on the bench's verified copies 0.07 at the 99.9th percentile, and the few
    # above 0.15 share under 0.3 px; its four stereo tiles 0.16-0.49 with 0.97-1.4 px, and since extractor revision
    # 4 (the 370 px tiles enlarged to 384) 0.21-0.43 with 0.85-1.5 px, one of them also refused as a rival:
    # docs/copy-detection.md, "No parallax") ...
    max_residual_correlation: float = 0.15
    # ... and the shared part is at least this many pixels (`Verification.shared_residual_pixels`; a copy that
    # fits within a tenth of a pixel can show a correlated trace of resampling, never a parallax).
    min_shared_residual_pixels: float = 0.75
    # A copy repeats the picture's corners: under the transform, most keypoints of the common part land on a
    # keypoint of the other picture, and most descriptor pairs agree with the transform. A second photograph of
    # a scene in which things moved repeats only what did not move. Refused when both are low: under this share
    # of the query's keypoints inside the other picture land within `reprojection_pixels` of one of its keypoints
    # (`Verification.repeatability`) ...
    min_repeatability: float = 0.34
    # ... and under this share of the descriptor pairs are inliers (`Verification.inlier_share`). On the analysis
    # runs: 3 of the 4 re-shot scenes acted on, for 7 of 34,506 copies sent to review (docs/copy-detection.md,
    # "What moved").
    min_inlier_share: float = 0.5
    # Fewer inliers than `min_inliers` do where the pairs agree: at least `agreeing_inliers` (None: never) with at
    # least `agreeing_share` of the descriptor pairs inliers (`Verification.inlier_share`). A copy that keeps the
    # plane exactly pairs most of its corners with their own; two renderings of one scene, in which things moved,
    # pair a few with the one thing that did not. Set for the brightest channel's second look
    # (`CopyPolicy.brightest_agreeing_inliers`; docs/copy-detection.md, "Colour changes").
    agreeing_inliers: int | None = None
    agreeing_share: float = 1.0
    ratio: float = 0.85  # Lowe's test: best descriptor distance < ratio x second best
    max_descriptor_distance: int = 72  # bits of 256
    reprojection_pixels: float = 4.0  # RANSAC's inlier distance in the reference frame
    min_scale: float = 1 / 6  # size change allowed between the two pictures, either way
    max_scale: float = 6.0

    def __post_init__(self) -> None:
        if not -1.0 <= self.max_residual_correlation <= 1.0:
            raise ValueError(f"max_residual_correlation must be between -1 and 1, got {self.max_residual_correlation}")
        if not self.min_shared_residual_pixels >= 0:
            raise ValueError(f"min_shared_residual_pixels must not be negative, got {self.min_shared_residual_pixels}")
        if not self.max_perspective_pixels > 0:
            raise ValueError(f"max_perspective_pixels must be positive, got {self.max_perspective_pixels}")
        if self.min_inliers < 3:
            raise ValueError("min_inliers must be at least 3 (a similarity needs 2 pairs, a check needs more)")
        if self.agreeing_inliers is not None and self.agreeing_inliers < 3:
            raise ValueError(f"agreeing_inliers must be at least 3 (or None), got {self.agreeing_inliers}")
        shares = ("min_banked_share", "min_inside", "partial_share", "partial_inside", "min_spread", "ratio",
                  "min_repeatability", "min_inlier_share", "agreeing_share")
        for field in (*shares, "max_rival_share"):
            if not 0.0 <= getattr(self, field) <= 1.0:
                raise ValueError(f"{field} must be between 0 and 1, got {getattr(self, field)}")

    def enough(self, inliers: int, matches: int) -> bool:
        """Whether `inliers` of `matches` descriptor pairs are inliers enough: `min_inliers`, or `agreeing_inliers`
        where at least `agreeing_share` of the pairs are inliers."""
        return inliers >= self.min_inliers or (
            self.agreeing_inliers is not None
            and inliers >= self.agreeing_inliers
            and (inliers / matches if matches else 0.0) >= self.agreeing_share
        )

    @property
    def least_inliers(self) -> int:
        """The fewest inliers that can ever verify: `min_inliers`, or `agreeing_inliers` where that is lower."""
        return self.min_inliers if self.agreeing_inliers is None else min(self.min_inliers, self.agreeing_inliers)


DEFAULT_VERIFY_POLICY = VerifyPolicy()


@dataclass(frozen=True, slots=True)
class Verification:
    """What the geometric check found. `verified` applies the policy; the numbers are the evidence."""

    verified: bool
    inliers: int
    matches: int  # descriptor pairs that passed the ratio test and went into RANSAC
    coverage_query: float  # share of the query picture that lies on the reference under `transform`
    coverage_reference: float  # share of the reference covered by the query
    spread: float  # inliers' hull area over the detailed part of the overlap (see `_detailed_part`)
    rival_inliers: int  # pairs a second, different transform carries (see VerifyPolicy.max_rival_share)
    # How far, in reference-frame pixels, the best perspective mapping through the inliers departs from the
    # similarity anywhere in the detailed part of the common part (see VerifyPolicy.max_perspective_pixels)
    perspective_pixels: float
    scale: float  # reference pixels per query pixel
    rotation_degrees: float
    transform: tuple[float, float, float, float, float, float]  # 2x3 row-major, query -> reference frame
    # How much of the inliers' leftover displacement neighbouring points share, and its size in reference-frame
    # pixels (see VerifyPolicy.max_residual_correlation): noise gives about -0.17 and a fraction of a pixel
    residual_correlation: float = 0.0
    shared_residual_pixels: float = 0.0
    # Share of the query's keypoints inside the other picture that land on one of its keypoints under the transform
    # (see VerifyPolicy.min_repeatability). Measured only where it can decide: inliers enough to act
    # (`VerifyPolicy.least_inliers`), and under `min_inlier_share` of the pairs among them (a search of every
    # keypoint's nearest, about 0.6 ms); None otherwise.
    repeatability: float | None = None

    @property
    def inlier_share(self) -> float:
        """Inliers over the descriptor pairs that went into RANSAC."""
        return self.inliers / self.matches if self.matches else 0.0

    def enough_inliers(self, policy: VerifyPolicy) -> bool:
        """Whether there are inliers enough: `min_inliers`, or `agreeing_inliers` where the pairs agree."""
        return policy.enough(self.inliers, self.matches)

    def moved_apart(self, policy: VerifyPolicy) -> bool:
        """Whether few of the corners reappear and few pairs agree, as when things in a scene moved between shots."""
        return (
            self.repeatability is not None
            and self.repeatability < policy.min_repeatability
            and self.inlier_share < policy.min_inlier_share
        )

    def shows_parallax(self, policy: VerifyPolicy) -> bool:
        """Whether neighbouring inliers share their leftover displacement, as a scene with depth would."""
        return (
            self.residual_correlation > policy.max_residual_correlation
            and self.shared_residual_pixels >= policy.min_shared_residual_pixels
        )

    def shares(self, banked: Literal["query", "reference"]) -> tuple[float, float]:
        """(share of the banked picture present in the other, share of the other lying inside the banked one)."""
        if banked == "reference":
            return self.coverage_reference, self.coverage_query
        return self.coverage_query, self.coverage_reference

    def overlaps_as_copy(self, policy: VerifyPolicy, banked: Literal["query", "reference"] = "reference") -> bool:
        """Whether the two overlap as a copy and its original do: enough of the banked picture present, and either
        nearly all of it or the other nearly wholly inside it (a big crop wholly inside)."""
        present, inside = self.shares(banked)
        return (
            present >= policy.min_banked_share
            and max(present, inside) >= policy.min_inside
            and (present >= policy.partial_share or inside >= policy.partial_inside)
        )

    def has_rival(self, policy: VerifyPolicy) -> bool:
        """Whether a second, different transform carries too many pairs for this one to be the copy's."""
        return self.rival_inliers >= max(policy.rival_floor, policy.max_rival_share * self.inliers)

    def outlines_may_stand_in(self, policy: VerifyPolicy, banked: Literal["query", "reference"] = "reference") -> bool:
        """Whether outlines may settle what the corner rules refused: never where the two do not overlap as a copy
        does, or a second transform or parallax shows a second photograph (the rules outlines never stand in for)."""
        return self.overlaps_as_copy(policy, banked) and not self.has_rival(policy) and not self.shows_parallax(policy)

    def reversed(self) -> Verification:
        """The same check read from the other side, the query and reference swapped: the coverages trade places,
        the transform is inverted. What was measured on one side (spread, bend, depth, rival pairs, repeatability)
        and the verdict stay as they were, in the first check's frame (`perspective_pixels` in its reference's
        pixels): this reads a check, it does not run one. A transform that cannot be inverted (no fit) reads as the
        identity, as `NO_VERIFICATION`'s."""
        matrix = np.asarray(self.transform, np.float64).reshape(2, 3)
        linear = matrix[:, :2]
        if abs(float(np.linalg.det(linear))) < 1e-12:
            inverse = np.asarray(_IDENTITY, np.float64).reshape(2, 3)
        else:
            inverted = np.linalg.inv(linear)
            inverse = np.hstack([inverted, -(inverted @ matrix[:, 2:])])
        return replace(self, coverage_query=self.coverage_reference, coverage_reference=self.coverage_query,
                       scale=1.0 / self.scale if self.scale else 0.0, rotation_degrees=-self.rotation_degrees,
                       transform=_six(tuple(float(v) for v in inverse.ravel())))

    def passes(self, policy: VerifyPolicy, banked: Literal["query", "reference"] = "reference") -> bool:
        """Whether this is a verified copy under `policy`, `banked` naming which side is the banked picture."""
        return (
            self.enough_inliers(policy)
            and self.overlaps_as_copy(policy, banked)
            and self.spread >= policy.min_spread
            and not self.has_rival(policy)
            and self.perspective_pixels <= policy.max_perspective_pixels
            and not self.shows_parallax(policy)
            and not self.moved_apart(policy)
        )


_IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
# `perspective_pixels` when no perspective mapping could be fitted (too few inliers, or a degenerate set).
_NO_FIT = 9999.0
NO_VERIFICATION = Verification(False, 0, 0, 0.0, 0.0, 0.0, 0, _NO_FIT, 0.0, 0.0, _IDENTITY)
# A rival transform must move the inliers' centre at least this many reprojection thresholds away.
_RIVAL_SEPARATION = 2.0


def _fit(
    source: Points, target: Points, policy: VerifyPolicy
) -> tuple[npt.NDArray[np.float64] | None, npt.NDArray[np.bool_]]:
    matrix, mask = cv2.estimateAffinePartial2D(
        source,
        target,
        method=cv2.RANSAC,
        ransacReprojThreshold=policy.reprojection_pixels,
        maxIters=2000,
        confidence=0.995,
        refineIters=10,
    )
    if matrix is None or mask is None:
        return None, np.zeros(len(source), dtype=bool)
    return np.asarray(matrix, dtype=np.float64), mask.ravel().astype(bool)


def _rival(
    pairs: _PairSet,
    inlier: npt.NDArray[np.bool_],
    matrix: npt.NDArray[np.float64],
    query: FeatureSet,
    reference: FeatureSet,
    policy: VerifyPolicy,
) -> int:
    """Pairs of the best second transform among the pairs the first left out, if it differs from the first and
    the first cannot explain them.

    A pair is explained when the first transform carries its query keypoint onto a reference keypoint with a
    close descriptor as well: a repeated pattern (bricks, a lattice, text) pairs a corner with its twin one
    period away, and a copy's true partner is still where the first transform says. A second plane seen from
    another viewpoint (a stereo pair, a scene shot again with things moved) has no partner there."""
    source, target = pairs.source, pairs.target
    rest = ~inlier
    if rest.sum() < 6:
        return 0
    second, mask = _fit(source[rest], target[rest], policy)
    if second is None:
        return 0
    centre = source[inlier].mean(axis=0).astype(np.float64)
    moved = (matrix[:, :2] @ centre + matrix[:, 2]) - (second[:, :2] @ centre + second[:, 2])
    if float(np.hypot(*moved)) < _RIVAL_SEPARATION * policy.reprojection_pixels:
        return 0
    rivals = pairs.query_rows[np.flatnonzero(rest)[mask]]
    if not len(rivals):
        return 0
    predicted = query.points[rivals].astype(np.float64) @ matrix[:, :2].T + matrix[:, 2]
    gaps = np.hypot(
        predicted[:, None, 0] - reference.points[None, :, 0], predicted[:, None, 1] - reference.points[None, :, 1]
    )
    near = gaps <= policy.reprojection_pixels
    rows, columns = np.nonzero(near)
    explained = np.zeros(len(rivals), dtype=bool)
    if len(rows):
        bits = np.bitwise_count(
            query.descriptors[rivals[rows]].view(np.uint64) ^ reference.descriptors[columns].view(np.uint64)
        ).sum(axis=1)
        explained[np.unique(rows[bits <= policy.max_descriptor_distance])] = True
    return int((~explained).sum())


# A homography has 8 degrees of freedom; with fewer inliers than this its fit follows their noise.
_PERSPECTIVE_MIN_POINTS = 8
# The second fit of `_perspective_gap`: a homography through the pairs that agree with one within this many pixels
# (of the reference frame), found by RANSAC, counted only where it leaves out at most this share of the inliers (a
# few noisy pairs, not a part of the picture: a fit through a subset swings more at the corners).
_PERSPECTIVE_AGREEMENT_PIXELS = 2.0
_PERSPECTIVE_LEFT_OUT = 1 / 3


def _perspective_gap(
    source: Points, target: Points, matrix: npt.NDArray[np.float64], common: npt.NDArray[np.float32] | None,
    limit: float,
) -> float:
    """How far the best perspective mapping (a homography) through the inlier pairs departs from the similarity
    `matrix`, at the corners of `common` (the detailed part of the common part, see `_detailed_part`): the largest
    distance, in reference pixels, by least squares through every inlier; where that is over `limit` (the policy's
    `max_perspective_pixels`), the nearer of it and a RANSAC fit through the pairs that agree with one homography
    within `_PERSPECTIVE_AGREEMENT_PIXELS` (all but `_PERSPECTIVE_LEFT_OUT` of them at most, and 8 at least).

    A copy is one flat picture moved, turned and scaled, so the homography through its pairs is that same
    similarity, give or take the noise of a few corners. A second photograph of a scene, even from a step aside,
    is a view in perspective: the pairs that a similarity carries in one part of the picture bend away from it
    towards the others, and the homography follows them. After heavy re-encoding (JPEG q40, WebP, a halving) a
    few inliers of a copy sit 2-4 px from where they belong and pull a least-squares fit with them; a bend counts
    only when a fit that leaves them out shows it too. A scene seen in perspective bends in all its pairs, and
    both fits follow it (docs/copy-detection.md, "The bend, fitted twice"). Under `limit` the second fit could
    change nothing, and is not run (RANSAC over many noisy pairs can take its 2,000 rounds)."""
    if common is None or len(source) < _PERSPECTIVE_MIN_POINTS:
        return _NO_FIT
    corners = common.reshape(-1, 2).astype(np.float64)
    similarity = np.vstack([matrix, [0.0, 0.0, 1.0]])
    try:
        back = np.linalg.solve(similarity, np.vstack([corners.T, np.ones(len(corners))]))[:2].T.reshape(-1, 1, 2)
    except np.linalg.LinAlgError:
        return _NO_FIT
    pairs = source.astype(np.float64), target.astype(np.float64)
    least_squares, _ = cv2.findHomography(*pairs, 0)
    gap = _gap_at(least_squares, back, corners)
    if gap > limit:
        robust, agree = cv2.findHomography(*pairs, cv2.RANSAC, _PERSPECTIVE_AGREEMENT_PIXELS, maxIters=2000,
                                           confidence=0.995)
        agreeing = 0 if agree is None else int(np.count_nonzero(agree))
        if agreeing >= max(_PERSPECTIVE_MIN_POINTS, (1 - _PERSPECTIVE_LEFT_OUT) * len(source)):
            gap = min(gap, _gap_at(robust, back, corners))
    return gap


# A homography that sends a corner this near its line at infinity (the third coordinate) folds the picture over.
_VANISHING = 1e-6


def _gap_at(homography: npt.ArrayLike | None, back: npt.NDArray[np.float64], corners: npt.NDArray[np.float64]
            ) -> float:
    """The largest distance between `corners` and where `homography` takes `back` (the corners taken back through
    the similarity), or _NO_FIT where there is no usable homography (none, not finite, or one sending a corner to
    infinity, which OpenCV would report at the origin)."""
    if homography is None:
        return _NO_FIT
    matrix = np.asarray(homography, dtype=np.float64)
    if matrix.shape != (3, 3) or not np.all(np.isfinite(matrix)):
        return _NO_FIT
    flat = back.reshape(-1, 2)
    depth = flat @ matrix[2, :2] + matrix[2, 2]
    if np.any(np.abs(depth) < _VANISHING):
        return _NO_FIT
    through = cv2.perspectiveTransform(back, matrix).reshape(-1, 2)
    gap = float(np.hypot(*(through - corners).T).max())
    return min(gap, _NO_FIT) if math.isfinite(gap) else _NO_FIT


# Neighbours each inlier's displacement is compared with, and the most inliers it is measured at (spread over the
# picture by the pairs' order, which follows the keypoint grid's cells; neighbours come from all the inliers).
_NEIGHBOURS = 6
_RESIDUAL_SAMPLE = 200


def _shared_residual(
    source: Points, target: Points, matrix: npt.NDArray[np.float64]
) -> tuple[float, float]:
    """(correlation, shared pixels) of the inliers' displacements left after the best copy-like mapping.

    The copy-like mapping is the similarity `matrix`'s turn with a scale of its own along each of the picture's
    two axes (fitted by least squares): a copy squeezed or stretched to another aspect ratio is still one flat
    picture, and its leftover displacement is noise. Each inlier's leftover displacement v is set against the
    mean m of its nearest inliers' (in the reference frame). The correlation is 1 - E|v - m|^2 / E|v|^2:
    independent noise gives -1/k for k neighbours, a displacement shared by neighbours (a smooth field:
    parallax, a shear, a view in perspective) approaches 1. The shared part's size is the square root of
    E[v . m], the variance of the smooth field (independent noise adds nothing to it)."""
    count = len(source)
    if count < _NEIGHBOURS + 2:
        return 0.0, 0.0
    turn = math.atan2(float(matrix[1, 0]), float(matrix[0, 0]))
    back = np.array([[math.cos(turn), math.sin(turn)], [-math.sin(turn), math.cos(turn)]])
    positions = target.astype(np.float64)
    unturned = positions @ back.T  # the reference turned back by the copy's turn: only the scales are left
    points = source.astype(np.float64)
    left = np.empty_like(points)
    for axis in (0, 1):
        along = points[:, axis]
        if float(np.ptp(along)) <= 0:
            return 0.0, 0.0
        design = np.stack([along, np.ones(count)], axis=1)
        fitted, *_ = np.linalg.lstsq(design, unturned[:, axis], rcond=None)
        left[:, axis] = design @ fitted - unturned[:, axis]
    rows = np.arange(0, count, max(1, -(-count // _RESIDUAL_SAMPLE)))
    # Nearest inliers by brute force in OpenCV (a tenth of the time numpy takes at 600 inliers); the first of
    # each row's k + 1 is the point itself, or a twin at the same spot, which is as good a neighbour.
    found = cv2.BFMatcher(cv2.NORM_L2).knnMatch(
        positions[rows].astype(np.float32), positions.astype(np.float32), k=_NEIGHBOURS + 1
    )
    nearest = np.array(
        [[m.trainIdx for m in row if m.trainIdx != rows[i]][:_NEIGHBOURS] for i, row in enumerate(found)]
    )
    own = left[rows]
    neighbours = left[nearest].mean(axis=1)
    total = float((own**2).sum(axis=1).mean())
    if not total > 0:
        return 0.0, 0.0
    correlation = 1.0 - float(((own - neighbours) ** 2).sum(axis=1).mean()) / total
    shared = math.sqrt(max(0.0, float((own * neighbours).sum(axis=1).mean())))
    return correlation, shared


def _repeatability(
    query: FeatureSet, reference: FeatureSet, matrix: npt.NDArray[np.float64], policy: VerifyPolicy
) -> float:
    """Share of the query's keypoints that, carried by `matrix` into the reference's whole picture, land within
    `reprojection_pixels` of a reference keypoint (any: position only)."""
    if not len(reference):
        return 0.0
    moved = (query.points.astype(np.float64) @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)
    left, top, right, bottom = reference.bounds
    inside = moved[(moved[:, 0] >= left) & (moved[:, 0] <= right) & (moved[:, 1] >= top) & (moved[:, 1] <= bottom)]
    if not len(inside):
        return 0.0
    nearest = cv2.BFMatcher(cv2.NORM_L2).match(inside, np.ascontiguousarray(reference.points, dtype=np.float32))
    close = sum(1 for m in nearest if m.distance <= policy.reprojection_pixels)
    return close / len(inside)


@dataclass(frozen=True, slots=True)
class _PairSet:
    """Descriptor pairs: positions, and the rows of the query's and the reference's keypoints they came from."""

    source: Points
    target: Points
    query_rows: npt.NDArray[np.int64]


def _pairs(query: FeatureSet, reference: FeatureSet, policy: VerifyPolicy) -> _PairSet:
    """Descriptor pairs passing the ratio test, each reference keypoint used once (its best pair).

    A compiled brute-force matcher (`_bits.ratio_pairs`): it gives OpenCV's `BFMatcher.knnMatch` pairs, in the
    same order, in about a quarter of the time, without a Python object per keypoint (docs/copy-detection.md,
    *Verification*)."""
    queries, train = ratio_pairs(descriptor_words(query.descriptors), descriptor_words(reference.descriptors),
                                 float(policy.max_descriptor_distance), float(policy.ratio))
    return _PairSet(query.points[queries], reference.points[train], queries)


# The inliers' spread is measured over min(overlap, max(_DETAIL_WEIGHT x the hull of the banked picture's keypoints in
# the common part, _DETAIL_FLOOR x overlap)); see `_detailed_part`.
_DETAIL_WEIGHT = 2.0
_DETAIL_FLOOR = 0.25


def _inside_convex(points: Points, polygon: npt.NDArray[np.float32]) -> npt.NDArray[np.bool_]:
    """Which points lie in a convex polygon (its vertices in either order), or within a hundredth of a pixel of it."""
    vertices = polygon.reshape(-1, 2).astype(np.float64)
    if len(vertices) < 3 or not len(points):
        return np.zeros(len(points), dtype=bool)
    start, edge = vertices, np.roll(vertices, -1, axis=0) - vertices
    offset = points.astype(np.float64)[:, None, :] - start[None, :, :]
    # The cross product over the edge's length is the signed distance from the edge's line.
    distance = (edge[None, :, 0] * offset[:, :, 1] - edge[None, :, 1] * offset[:, :, 0]) / np.maximum(
        np.hypot(edge[:, 0], edge[:, 1]), 1e-9)[None, :]
    out: npt.NDArray[np.bool_] = np.all(distance >= -0.01, axis=1) | np.all(distance <= 0.01, axis=1)
    return out


def _detailed_part(banked_points: Points, common: npt.NDArray[np.float32] | None, overlap: float
                   ) -> tuple[npt.NDArray[np.float32] | None, float]:
    """(where the geometry can be measured, the area a match's inliers are spread over): the hull of the banked
    picture's keypoints (`banked_points`, in the reference's frame) inside the common part, and min(overlap,
    max(_DETAIL_WEIGHT x that hull's area, _DETAIL_FLOOR x overlap)).

    A picture has corners only where it has detail: an object on a plain ground (a clock on a wall, a person in
    front of a backdrop) gives keypoints on the object alone, so even a perfect copy's inliers cover a small share
    of the whole picture, and a perspective mapping through them, carried out to the picture's corners, swings by
    its noise. Measured over the detailed part instead, such a copy is judged on what it can show. A picture with
    detail over half of it or more (a scene, or two photographs of one) is measured over the whole overlap, as
    before; one with detail in a sliver (a logo on a plain card) over a quarter of it at least. The banked picture's
    keypoints, whichever side it is, so an upload checked against the bank and a newly banked picture searching
    posted media measure the same pair alike (docs/copy-detection.md, "Where the picture has detail")."""
    if common is None or overlap <= 0:
        return common, overlap
    inside = banked_points[_inside_convex(banked_points, common)]
    if len(inside) < 3:
        return common, overlap
    hull = np.asarray(cv2.convexHull(inside.reshape(-1, 1, 2).astype(np.float32)), dtype=np.float32).reshape(-1, 2)
    area = _polygon_area(hull)
    if not area > 0:
        return common, overlap
    return hull, min(overlap, max(_DETAIL_WEIGHT * area, _DETAIL_FLOOR * overlap))


def _corners(bounds: tuple[int, int, int, int]) -> npt.NDArray[np.float32]:
    left, top, right, bottom = bounds
    return np.array([[left, top], [right, top], [right, bottom], [left, bottom]], dtype=np.float32)


def _polygon_area(points: npt.NDArray[np.float32]) -> float:
    return float(cv2.contourArea(points.reshape(-1, 1, 2))) if len(points) >= 3 else 0.0


def verify(
    query: FeatureSet,
    reference: FeatureSet,
    policy: VerifyPolicy = DEFAULT_VERIFY_POLICY,
    *,
    banked: Literal["query", "reference"] = "reference",
) -> Verification:
    """Is one picture a copy of the other (or holds it, or is a crop of it) under one similarity transform?

    `banked` says which side is the banked picture: the reference when an upload is checked against the
    bank, the query when a newly banked item looks for copies already posted.
    """
    if len(query) < 3 or len(reference) < 3:
        return NO_VERIFICATION
    pairs = _pairs(query, reference, policy)
    source, target = pairs.source, pairs.target
    if len(source) < 3:
        return Verification(False, 0, len(source), 0.0, 0.0, 0.0, 0, _NO_FIT, 0.0, 0.0, _IDENTITY)
    matrix, inlier = _fit(source, target, policy)
    if matrix is None:
        return Verification(False, 0, len(source), 0.0, 0.0, 0.0, 0, _NO_FIT, 0.0, 0.0, _IDENTITY)
    a, b = float(matrix[0, 0]), float(matrix[1, 0])
    scale = math.hypot(a, b)
    rotation = math.degrees(math.atan2(b, a))
    transform = tuple(float(v) for v in matrix.ravel())
    if not policy.min_scale <= scale <= policy.max_scale:
        return Verification(
            False, int(inlier.sum()), len(source), 0.0, 0.0, 0.0, 0, _NO_FIT, scale, rotation, _six(transform)
        )
    # Coverage is measured on the whole pictures (their extents), not on the frames the features came from.
    corners = _corners(query.bounds)
    mapped = cv2.transform(corners.reshape(-1, 1, 2), matrix).reshape(-1, 2).astype(np.float32)
    frame = _corners(reference.bounds)
    left, top, right, bottom = reference.bounds
    overlap, common = cv2.intersectConvexConvex(mapped, frame)
    overlap = float(overlap)
    mapped_area = _polygon_area(mapped)
    coverage_query = overlap / mapped_area if mapped_area > 0 else 0.0
    coverage_reference = overlap / float((right - left) * (bottom - top))
    kept = target[inlier]
    common_part = None if common is None else np.asarray(common, np.float32)
    banked_points = reference.points if banked == "reference" else (
        query.points.astype(np.float64) @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)
    detailed, detailed_area = _detailed_part(banked_points, common_part, overlap)
    hull = cv2.convexHull(kept.reshape(-1, 1, 2)).reshape(-1, 2) if len(kept) >= 3 else kept
    correlation, shared = _shared_residual(source[inlier], kept, matrix)
    spread = _polygon_area(hull.astype(np.float32)) / detailed_area if detailed_area > 0 else 0.0
    result = Verification(
        verified=False,  # set below, from the rounded figures the caller sees
        inliers=int(inlier.sum()),
        matches=len(source),
        coverage_query=round(coverage_query, 4),
        coverage_reference=round(coverage_reference, 4),
        spread=round(min(spread, 1.0), 4),
        rival_inliers=_rival(pairs, inlier, matrix, query, reference, policy),
        perspective_pixels=round(
            _perspective_gap(source[inlier], kept, matrix, detailed, policy.max_perspective_pixels), 2),
        scale=round(scale, 4),
        rotation_degrees=round(rotation, 2),
        transform=_six(transform),
        residual_correlation=round(correlation, 3),
        shared_residual_pixels=round(shared, 2),
        repeatability=(
            round(_repeatability(query, reference, matrix, policy), 4)
            if inlier.sum() >= policy.least_inliers and inlier.sum() < policy.min_inlier_share * len(source)
            else None
        ),
    )
    return replace(result, verified=result.passes(policy, banked))


def _six(values: tuple[float, ...]) -> tuple[float, float, float, float, float, float]:
    a, b, c, d, e, f = (round(v, 5) for v in values)
    return (a, b, c, d, e, f)
