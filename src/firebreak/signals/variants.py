"""Canonical variants of a picture: the picture itself with the frames people add around it taken off.

A copy that gained a uniform border, a meme caption bar or a phone's interface around it is a different
picture to PDQ (100+ bits away, docs/copy-detection.md), but the picture inside is the same. Each variant
here is one reading of "where the picture is", hashed with PDQ and its eight rotations and mirrors:

- ``original``: the whole plane;
- ``trimmed``: margins of one uniform colour (any colour, not only black or white) taken off every side;
- ``framed``: also bands that are *mostly* one colour: caption bars with their text, letterboxing with a
  logo, the status bar, title bar and button bar of a phone screenshot. Each row (or column) is judged on
  its own, so bands of different colours stacked on each other (a screenshot) are all taken off.

- ``brightest``: for a colour picture, the brightest of red, green and blue at each pixel, from the trimmed
  picture. A hue change keeps it: HSV keeps that channel as its "value", HSL keeps the brightest and the
  darkest channel, and both only move colours round the wheel; the luma PDQ hashes does not survive (a
  picture turned 180 degrees round the colour wheel is a different grey picture: recall 0.21 for the hashes).

The same function runs on both sides: a banked picture stores the PDQ of its own canonical variants (a photo
with a dark sky at the top loses it on both sides alike), and an upload queries with every variant's eight
rotations and mirrors. Apart from ``brightest``, nothing here needs more than the luma plane, as PDQ itself does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image

from firebreak.signals.pdq import PdqHash, is_matchable, pdq_dihedral_from_luma

__all__ = [
    "VARIANT_NAMES",
    "Box",
    "Variant",
    "canonical_boxes",
    "canonical_variants",
    "crop_luma",
]

Luma = npt.NDArray[np.uint8]
Values = npt.NDArray[np.int16]

VARIANT_NAMES = ("original", "trimmed", "framed", "brightest")

# Planes are analysed at most this size along the long side: plenty for finding bands a few % thick.
_ANALYSIS_SIDE = 512
# A uniform margin: the row's spread (max - min after a 3-pixel smoothing) at most this many grey levels.
_UNIFORM_SPREAD = 16
# ... and its mean within this of the outermost row's (one border, not a gradient that drifts).
_UNIFORM_DRIFT = 10
# A band row: its two commonest grey levels (bins of 8) cover at least this share of it. Text on a bar,
# icons on a phone's title bar and flat rows pass (0.74-1.0 measured on caption rows); photo rows do not.
_BAND_SHARE = 0.70
# ... and its commonest level within this many bins (of 8 grey levels) of the outermost row's: a status bar
# (246) over a white screen (255), a dark mode bar (28) over black (0).
_BAND_LEVELS = 5
# A frame's inner edge: at least this share of the columns step by at least this many grey levels.
_EDGE_SHARE = 0.6
_EDGE_STEP = 20
# ... and at least this share of the rows before it are band rows.
_BAND_FILL = 0.8
# Never take off more than this share of a side (below a landscape photo, a phone screenshot has ~0.55).
_MAX_CUT = 0.6
# ... and keep at least this share of each side: less than that is a flat picture, not a framed one.
_MIN_KEEP = 0.2
# Cuts thinner than this share of the side are ignored: JPEG ringing at an edge is not a frame.
_MIN_CUT = 0.012
# PDQ squashes every picture to this square first, as `hash_bytes` does.
_PDQ_SIDE = 320


@dataclass(frozen=True, slots=True)
class Box:
    """A rectangle of the plane in pixels: columns ``left:right``, rows ``top:bottom``."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    def share_of(self, width: int, height: int) -> float:
        """The share of a ``width`` x ``height`` plane this box covers."""
        return (self.width * self.height) / max(1, width * height)


@dataclass(frozen=True, slots=True)
class Variant:
    """One reading of where the picture is, with the PDQ of its eight rotations and mirrors."""

    name: str  # one of VARIANT_NAMES
    box: Box  # in the pixels of the plane given to canonical_variants
    dihedral: tuple[str, ...]  # DIHEDRAL_NAMES order; [0] is the variant as it stands
    quality: int

    @property
    def pdq(self) -> PdqHash:
        return PdqHash(self.dihedral[0], self.quality)

    @property
    def matchable(self) -> bool:
        return is_matchable(self.quality)


def crop_luma(luma: Luma, box: Box) -> Luma:
    return luma[box.top : box.bottom, box.left : box.right]


def _analysis_plane(luma: Luma) -> tuple[Luma, float]:
    """The plane at most _ANALYSIS_SIDE on its long side (BOX filter), and the factor back to full size."""
    height, width = luma.shape
    scale = min(1.0, _ANALYSIS_SIDE / max(height, width))
    if scale >= 1.0:
        return luma, 1.0
    small = Image.fromarray(luma).resize(
        (max(1, round(width * scale)), max(1, round(height * scale))), Image.Resampling.BOX
    )
    return np.asarray(small), 1.0 / scale


def _uniform_rows(values: Values) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64]]:
    """For each row: is it one flat grey (after smoothing JPEG noise), and its mean."""
    if values.shape[1] >= 3:
        # A 3-pixel horizontal mean takes out JPEG mosquito noise without blurring a bar's edge away.
        smooth = (values[:, :-2] + values[:, 1:-1] + values[:, 2:]) // 3
    else:
        smooth = values
    spread = smooth.max(axis=1) - smooth.min(axis=1)
    return np.asarray(spread <= _UNIFORM_SPREAD, dtype=bool), values.mean(axis=1)


def _row_bins(values: Values) -> npt.NDArray[np.intp]:
    """Per row, how many pixels fall in each of 32 grey levels (bins of 8)."""
    height = values.shape[0]
    bins = (values >> 3).astype(np.intp)
    bins += (np.arange(height, dtype=np.intp) * 32)[:, None]
    return np.bincount(bins.ravel(), minlength=height * 32).reshape(height, 32)


def _band_rows(values: Values) -> npt.NDArray[np.bool_]:
    """For each row: is it frame-like: its two commonest grey levels cover at least _BAND_SHARE of it (bar,
    text, UI), and its commonest level is near the outermost row's (the frame's own background)?

    The second test keeps a flat picture out of the frame: a phone screenshot's bars share the screen's white
    (or black) with their text, where a smooth colour field inside them is bands too, but of its own colour;
    without it the walk went on through such a picture and the screenshot was left whole."""
    width = values.shape[1]
    counts = _row_bins(values)
    top_two = np.partition(counts, -2, axis=1)[:, -2:].sum(axis=1)
    commonest = counts.argmax(axis=1)
    near = np.abs(commonest - commonest[0]) <= _BAND_LEVELS
    return np.asarray((top_two >= _BAND_SHARE * width) & near, dtype=bool)


def _uniform_cut(flat: npt.NDArray[np.bool_], means: npt.NDArray[np.float64], limit: int, size: int) -> int:
    """Rows of one flat margin from the start: flat, and the same grey as the first row."""
    if limit <= 0 or not flat[0]:
        return 0
    stop = ~flat[:limit] | (np.abs(means[:limit] - means[0]) > _UNIFORM_DRIFT)
    cut = int(np.argmax(stop)) if stop.any() else limit
    return cut if cut >= max(1, _MIN_CUT * size) else 0


def _band_cut(values: Values, flat: npt.NDArray[np.bool_], limit: int, size: int) -> int:
    """Rows of frame from the start: up to the innermost straight full-width edge with bands before it.

    A frame (caption bar, phone interface, border) ends at a straight line across the whole picture where
    nearly every column changes at once; photos seldom have one. The rows before that line must be mostly
    band rows (flat, or two grey levels: text on a bar, icons on a title bar).
    """
    rows = values.shape[0]
    if rows < 8 or limit < 2:
        return 0
    # Rows two apart, so an edge softened over a pixel by scaling or JPEG still counts in full.
    strength = (np.abs(values[2:] - values[:-2]) >= _EDGE_STEP).mean(axis=1)
    band = _band_rows(values) | (flat & _near_first(values))
    # strength[i] compares rows i and i + 2: a cut at row i + 2 keeps the picture's side whole.
    edges = np.flatnonzero(strength[: max(0, limit - 1)] >= _EDGE_SHARE) + 2
    # Walk inwards from edge to edge while each stretch between them is bands: a screenshot stacks
    # several (status bar, title bar), a caption bar is one; the first stretch of picture stops the walk.
    accepted = previous = 0
    for cut in edges.tolist():
        stretch = band[previous : cut - 1]  # the row right at an edge may be blurred; judge without it
        if len(stretch) > 2 and stretch.mean() < _BAND_FILL:
            break
        accepted = previous = cut
    return accepted if accepted >= max(2, _MIN_CUT * size) else 0


def _near_first(values: Values) -> npt.NDArray[np.bool_]:
    """Rows whose mean is within _BAND_LEVELS bins of grey of the outermost row's."""
    means = values.mean(axis=1)
    return np.asarray(np.abs(means - means[0]) <= 8 * _BAND_LEVELS + 4, dtype=bool)


def _side_cut(values: Values, limit: int, size: int, *, bands: bool) -> int:
    """How many rows of frame the start of `values` (rows x columns, int16) has, at most `limit`."""
    head = values[: limit + 2]
    flat, means = _uniform_rows(head)
    cut = _uniform_cut(flat, means, limit, size)
    if bands:
        cut = max(cut, _band_cut(head, flat, limit, size))
    return cut


def _trim(plane: Luma, *, bands: bool) -> Box:
    """The box left after taking frames off all four sides (uniform margins, or also bands).

    Rows are judged first, then columns within the rows kept, then rows again within the columns kept
    (a pillarboxed picture inside a screenshot needs the second look).
    """
    height, width = plane.shape
    box = Box(0, 0, width, height)
    values = plane.astype(np.int16)
    for axis in (0, 1, 0):
        inner = values[box.top : box.bottom, box.left : box.right]
        view = inner if axis == 0 else np.ascontiguousarray(inner.T)
        full = height if axis == 0 else width
        start = box.top if axis == 0 else box.left
        end = box.bottom if axis == 0 else box.right
        if view.shape[0] < 8 or view.shape[1] < 8:
            break
        first = _side_cut(view, int(full * _MAX_CUT) - start, full, bands=bands)
        last = _side_cut(view[::-1], int(full * _MAX_CUT) - (full - end), full, bands=bands)
        if (end - last) - (start + first) < _MIN_KEEP * full:
            return Box(0, 0, width, height)  # nearly everything looked like a frame: a flat picture
        if axis == 0:
            box = Box(box.left, box.top + first, box.right, box.bottom - last)
        else:
            box = Box(box.left + first, box.top, box.right - last, box.bottom)
        if not first and not last and axis == 1:
            break  # no columns came off, so the rows' second look would see what the first saw
    return box


def canonical_boxes(luma: Luma) -> list[tuple[str, Box]]:
    """The distinct boxes of the variants, in VARIANT_NAMES order (``original`` always first)."""
    height, width = luma.shape
    plane, factor = _analysis_plane(luma)
    out = [("original", Box(0, 0, width, height))]
    for name, bands in (("trimmed", False), ("framed", True)):
        small = _trim(plane, bands=bands)
        box = Box(
            min(width - 1, round(small.left * factor)),
            min(height - 1, round(small.top * factor)),
            max(1, round(small.right * factor)),
            max(1, round(small.bottom * factor)),
        )
        if all(box != seen for _, seen in out):
            out.append((name, box))
    return out


def _hashed(name: str, plane: Luma, box: Box) -> Variant:
    square = Image.fromarray(np.ascontiguousarray(crop_luma(plane, box))).resize(
        (_PDQ_SIDE, _PDQ_SIDE), Image.Resampling.BOX
    )
    dihedral, quality = pdq_dihedral_from_luma(np.asarray(square))
    return Variant(name=name, box=box, dihedral=dihedral, quality=quality)


def canonical_variants(luma: Luma, brightest: Luma | None = None) -> list[Variant]:
    """Each canonical variant of a luma plane (2-D uint8, aspect ratio as displayed) with its PDQ hashes.

    `brightest`: for a colour picture, the plane of max(R, G, B) (the same shape), hashed from the trimmed box
    as the ``brightest`` variant. Cost: the band analysis on a plane of at most 512 pixels, then one PDQ (with
    rotations and mirrors) per distinct variant, usually one to four. docs/copy-detection.md has the measurements.
    """
    if luma.ndim != 2 or luma.dtype != np.uint8:
        raise ValueError(f"expected a 2-D uint8 luma plane, got {luma.ndim}-D {luma.dtype}")
    if brightest is not None and (brightest.shape != luma.shape or brightest.dtype != np.uint8):
        raise ValueError(f"the brightest-channel plane {brightest.shape} does not match the luma plane {luma.shape}")
    boxes = canonical_boxes(luma)
    out = [_hashed(name, luma, box) for name, box in boxes]
    if brightest is not None:
        trimmed = next((box for name, box in boxes if name == "trimmed"), boxes[0][1])
        out.append(_hashed("brightest", brightest, trimmed))
    return out
