"""Structure agreement: whether two pictures' outlines lie on each other once one is carried onto the other.

The geometric check (`keypoints.verify`) judges a match by its corners. A flat drawn picture re-encoded hard keeps
few corners, and a copy of it can fail a corner rule (too few inliers, a bend from a few displaced pairs, few corners
repeated) while everything it shows still lies where it lay. A second rendering of a scene fails the same rules for
the opposite reason: its objects moved. The outlines tell the two apart: carried onto the banked picture by the
check's similarity, a copy's outlines fall on the banked outlines nearly everywhere (a sticker hides a part), a
re-rendered scene's only where the object the corners paired did not move.

`EdgeMap` is the banked side: the strongest tenth of the working plane's gradients (at least `_FLOOR`), one bit a
pixel, compressed. It is a line drawing of the picture, so the copy line keeps it sealed like media
(`matching.copies`), never in the clear. `agreement` measures, in the banked picture's terms, how much of its
outline the other picture repeats (within a pixel), and how much of the outline lies in parts of the picture where
the two agree (a sticker or caption spoils a few parts; a moved object, most). docs/copy-detection.md, "Outlines".

Stored form (little-endian): magic b"FBED", version (1 byte), width and height (uint16 each), then zlib of the
bits (`numpy.packbits`, row-major).
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

__all__ = ["Agreement", "EdgeMap", "InPlace", "agreement"]

Luma = npt.NDArray[np.uint8]
Bits = npt.NDArray[np.bool_]

_MAGIC = b"FBED"
_VERSION = 1
_HEADER = struct.Struct("<4sBHH")
# An outline pixel: among the strongest tenth of the plane's gradient magnitudes (Sobel of the plane blurred by one
# pixel), and at least this strong (the working plane is contrast-stretched to 0-255: grain and JPEG ringing stay
# under it, a drawn edge is several times over).
_SHARE = 90.0
_FLOOR = 40.0
_BLUR = 1.0
_NEAR = np.ones((3, 3), np.uint8)  # "on" an outline: within one pixel of it
_EDGE_OFF = 7  # the other picture's border (and the interpolation at it) is left out: 3 pixels in from it
# The parts: a 6 x 4 grid over the banked picture; a part counts with at least this many outline pixels on the two
# sides, and agrees when at least half of them lie on the other side's.
_GRID = (6, 4)
_PART_PIXELS = 40
_PART_AGREES = 0.5


def _magnitude(plane: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    blurred = cv2.GaussianBlur(plane.astype(np.float32), (0, 0), _BLUR)
    return np.asarray(cv2.magnitude(cv2.Sobel(blurred, cv2.CV_32F, 1, 0), cv2.Sobel(blurred, cv2.CV_32F, 0, 1)),
                      dtype=np.float32)


def _percentile(values: npt.NDArray[np.float32], share: float) -> float:
    """`numpy.percentile(values, share)` (linear interpolation), by partition: half the time of a full sort."""
    flat = values.ravel()
    position = (flat.size - 1) * share / 100.0
    low = int(position)
    high = min(low + 1, flat.size - 1)
    parted = np.partition(flat, (low, high))
    return float(parted[low] + (parted[high] - parted[low]) * (position - low))


def _outline(magnitude: npt.NDArray[np.float32], where: Bits | None = None) -> Bits:
    values = magnitude if where is None else magnitude[where]
    if values.size == 0:
        return np.zeros(magnitude.shape, np.bool_)
    threshold = max(_FLOOR, _percentile(values, _SHARE))
    out: Bits = magnitude > threshold
    return out if where is None else out & where


@dataclass(frozen=True, eq=False)
class EdgeMap:
    """The outline pixels of a working plane (`keypoints.working_plane` of the feature frame)."""

    width: int
    height: int
    bits: Bits  # (height, width) bool

    def __post_init__(self) -> None:
        if not (0 < self.width < 4096 and 0 < self.height < 4096):
            raise ValueError(f"an edge map is 1..4095 pixels a side, got {self.width}x{self.height}")
        if self.bits.shape != (self.height, self.width):
            raise ValueError(f"an edge map of {self.width}x{self.height} has bits {self.bits.shape}")

    @classmethod
    def of_plane(cls, plane: Luma) -> EdgeMap:
        if plane.ndim != 2 or plane.dtype != np.uint8:
            raise ValueError(f"expected a 2-D uint8 plane, got {plane.ndim}-D {plane.dtype}")
        height, width = plane.shape
        return cls(width, height, _outline(_magnitude(plane)))

    def to_bytes(self) -> bytes:
        packed = np.packbits(self.bits, axis=None).tobytes()
        return _HEADER.pack(_MAGIC, _VERSION, self.width, self.height) + zlib.compress(packed, 6)

    @classmethod
    def from_bytes(cls, data: bytes) -> EdgeMap:
        """Parse `to_bytes()` output. Raises ValueError naming what is wrong."""
        if len(data) < _HEADER.size:
            raise ValueError(f"an edge map is at least {_HEADER.size} bytes, got {len(data)}")
        magic, version, width, height = _HEADER.unpack_from(data)
        if magic != _MAGIC:
            raise ValueError(f"not an edge map (magic {magic!r})")
        if version != _VERSION:
            raise ValueError(f"edge map version {version} is not supported (this reads {_VERSION})")
        if not (0 < width < 4096 and 0 < height < 4096):
            raise ValueError(f"an edge map is 1..4095 pixels a side, got {width}x{height}")
        expected = (width * height + 7) // 8
        # Never more than the map's own size is inflated, whatever the bytes claim (a zlib bomb stops there).
        inflate = zlib.decompressobj()
        try:
            packed = inflate.decompress(data[_HEADER.size:], expected + 1)
        except zlib.error as exc:
            raise ValueError(f"an edge map's bits do not decompress: {exc}") from None
        if len(packed) != expected or inflate.unconsumed_tail or not inflate.eof:
            raise ValueError(f"an edge map of {width}x{height} has {expected} bytes of bits, got "
                             f"{len(packed)}{' or more' if inflate.unconsumed_tail else ''}")
        bits = np.unpackbits(np.frombuffer(packed, np.uint8), count=width * height).astype(np.bool_)
        return cls(width, height, bits.reshape(height, width))


@dataclass(frozen=True, slots=True)
class Agreement:
    """How the outlines of two aligned pictures agree, in the banked picture's terms."""

    banked_share: float  # share of the banked picture's outline (in the common part) on the other's
    part_share: float  # share of the outline pixels lying in parts where the two agree
    outline_pixels: int  # the banked picture's outline pixels in the common part

    def holds(self, banked_share: float, part_share: float, outline_pixels: int) -> bool:
        return (self.banked_share >= banked_share and self.part_share >= part_share
                and self.outline_pixels >= outline_pixels)


def agreement(query: Luma, reference: EdgeMap, transform: tuple[float, ...],
              banked: Literal["query", "reference"] = "reference") -> Agreement | None:
    """The outlines of `query` (a working plane), carried onto `reference` by `transform` (2x3, query -> reference
    frame, as `Verification.transform`), against the reference's. None when they share too little to say."""
    width, height = reference.width, reference.height
    matrix = np.asarray(transform, np.float64).reshape(2, 3)
    warped = np.asarray(cv2.warpAffine(query, matrix, (width, height), flags=cv2.INTER_LINEAR, borderValue=0),
                        dtype=np.uint8)
    support = cv2.warpAffine(np.full(query.shape, 255, np.uint8), matrix, (width, height),
                             flags=cv2.INTER_NEAREST, borderValue=0)
    common: Bits = cv2.erode(support, np.ones((_EDGE_OFF, _EDGE_OFF), np.uint8)) > 0
    if int(common.sum()) < _PART_PIXELS * 4:
        return None
    return _compare(reference.bits & common, _outline(_magnitude(warped), common), banked)


class InPlace:
    """One picture's outlines laid frame to frame on banked pictures, with no fitted transform: a copy that shows
    the whole picture as it lay (its colours changed, a border or caption bar trimmed off, a sticker on it) agrees
    nearly everywhere; a picture whose objects moved, or another shot of the scene, does not.

    Only pictures of one shape are laid on each other: the two aspect ratios within `max_aspect` (the natural log
    of their ratio). The picture is scaled to each banked picture's size once (most share its size exactly)."""

    def __init__(self, plane: Luma, max_aspect: float) -> None:
        if plane.ndim != 2 or plane.dtype != np.uint8 or not plane.size:
            raise ValueError(f"expected a non-empty 2-D uint8 plane, got {plane.ndim}-D {plane.dtype}")
        self._plane = plane
        self._aspect = plane.shape[1] / plane.shape[0]
        self._max_aspect = max_aspect
        self._outlines: dict[tuple[int, int], tuple[Bits, Bits]] = {}

    def fits(self, reference: EdgeMap) -> bool:
        return abs(math.log(self._aspect / (reference.width / reference.height))) <= self._max_aspect

    def shift(self, transform: tuple[float, ...], reference: EdgeMap) -> float:
        """How far `transform` (2x3, this picture's plane -> `reference`'s, as `Verification.transform`) carries
        this picture's corners from where laying it frame to frame puts them, in `reference`'s pixels: near 0 when
        the points paired say the picture lies where it lay."""
        height, width = self._plane.shape
        corners = np.array([[0.0, 0.0], [width, 0.0], [0.0, height], [width, height]])
        matrix = np.asarray(transform, np.float64).reshape(2, 3)
        carried = corners @ matrix[:, :2].T + matrix[:, 2]
        laid = corners * np.array([reference.width / width, reference.height / height])
        return float(np.abs(carried - laid).max())

    def against(self, reference: EdgeMap, banked: Literal["query", "reference"] = "reference") -> Agreement | None:
        """The agreement in `reference`'s frame; None when the shapes differ or the frame is too small to say."""
        if not self.fits(reference):
            return None
        size = (reference.width, reference.height)
        if size not in self._outlines:
            plane = self._plane if self._plane.shape == (size[1], size[0]) else np.asarray(
                cv2.resize(self._plane, size, interpolation=cv2.INTER_LINEAR), dtype=np.uint8)
            common: Bits = np.zeros((size[1], size[0]), np.bool_)
            off = _EDGE_OFF // 2
            common[off:size[1] - off, off:size[0] - off] = True
            self._outlines[size] = (common, _outline(_magnitude(plane), common))
        common, theirs = self._outlines[size]
        if int(common.sum()) < _PART_PIXELS * 4:
            return None
        return _compare(reference.bits & common, theirs, banked)


def _compare(ours: Bits, theirs: Bits, banked: Literal["query", "reference"]) -> Agreement:
    """`ours` (the reference's outline) against `theirs` (the other picture's, in the reference's frame)."""
    height, width = ours.shape
    near_theirs = cv2.dilate(theirs.astype(np.uint8), _NEAR) > 0
    near_ours = cv2.dilate(ours.astype(np.uint8), _NEAR) > 0
    ours_met, theirs_met = ours & near_theirs, theirs & near_ours
    banked_bits, banked_met = (ours, ours_met) if banked == "reference" else (theirs, theirs_met)
    outline = int(banked_bits.sum())
    if outline == 0:
        return Agreement(0.0, 0.0, 0)
    columns, rows = _GRID
    ys = np.linspace(0, height, rows + 1).astype(int)
    xs = np.linspace(0, width, columns + 1).astype(int)
    counted = agreeing = 0
    for top, bottom in zip(ys[:-1], ys[1:], strict=True):
        for left, right in zip(xs[:-1], xs[1:], strict=True):
            part = (slice(top, bottom), slice(left, right))
            pixels = int(ours[part].sum()) + int(theirs[part].sum())
            if pixels < _PART_PIXELS:
                continue
            counted += pixels
            if int(ours_met[part].sum()) + int(theirs_met[part].sum()) >= _PART_AGREES * pixels:
                agreeing += pixels
    return Agreement(round(int(banked_met.sum()) / outline, 4), round(agreeing / counted, 4) if counted else 0.0,
                     outline)
