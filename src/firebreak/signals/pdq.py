"""PDQ: Meta's 256-bit perceptual image hash, stored as 64 hex characters plus a 0-100 quality.

The hex layout is the reference one (`Hash256::format` in facebook/ThreatExchange): the first hex digit holds
bits 255..252, so values agree with the C++ tool, python-threatexchange, HMA and StopNCII.

`pdq_reference_dihedral` computes what the reference computes (`pdqhash.compute` on the full-size picture) and
the reference hashes of the picture's seven rotations and mirrors, without running the reference's full-image
filter: see "Exact reference PDQ" below and docs/signals.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar, cast

import numpy as np
import numpy.typing as npt
import pdqhash  # type: ignore[import-untyped,unused-ignore]

from firebreak.signals.base import Comparison, ContentKind, SignalType, check_hex

# A pair of hashes this close (in bits) is the same picture; Meta's recommended threshold.
PDQ_MATCH_DISTANCE = 31
# A match through a rotation or mirror (one picture turned or flipped to meet the other) counts only this close.
# True turned and mirrored copies sit within a few bits (docs/signals.md: p95 2-6); the two mirror-image halves
# of a symmetric picture (a round retina photo's upper and lower quarters) sat 24-26 bits apart and were
# removed as copies of each other at 31 (docs/copy-detection.md). Beyond it, the second line sends them to review.
PDQ_TURNED_MATCH_DISTANCE = 16
# Below this quality the hash describes a flat or featureless picture and matches noise, so it is stored
# (it is still a fact about the file) but never used to match.
PDQ_MIN_QUALITY = 50
PDQ_HEX_LENGTH = 64

# The order pdqhash.compute_dihedral returns its eight hashes in.
DIHEDRAL_NAMES = ("original", "rotate90", "rotate180", "rotate270", "flip_x", "flip_y", "flip_plus1", "flip_minus1")

Luma = npt.NDArray[np.uint8]


def is_matchable(quality: int | None) -> bool:
    """Whether a PDQ hash of this quality may take part in matching.

    An unknown quality (an imported hash that came without one) is trusted: the source vouched for it.
    """
    return quality is None or quality >= PDQ_MIN_QUALITY


@dataclass(frozen=True, slots=True)
class PdqHash:
    value: str
    quality: int

    @property
    def matchable(self) -> bool:
        return is_matchable(self.quality)


def hamming_distance(a: str, b: str) -> int:
    """Bits that differ between two 64-hex PDQ values (already validated)."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


def pdq_to_bytes(value: str) -> bytes:
    """The 32 raw bytes of a PDQ value, most significant first, for binary indexes (e.g. faiss)."""
    return bytes.fromhex(PdqSignal.validate(value))


def pdq_from_bytes(raw: bytes) -> str:
    if len(raw) != 32:
        raise ValueError(f"a PDQ hash is 32 bytes, got {len(raw)}")
    return raw.hex()


def _bits_to_hex(bits: npt.NDArray[np.integer]) -> str:
    # pdqhash returns bit 255 first, so packing most-significant-bit first gives the reference hex.
    return np.packbits(bits.astype(np.uint8)).tobytes().hex()


def _as_rgb_view(luma: Luma) -> npt.NDArray[np.uint8]:
    # pdqhash wants HxWx3 and computes 0.299R+0.587G+0.114B itself; three equal channels give back the
    # luma unchanged, and a broadcast view costs no copy.
    if luma.ndim != 2 or luma.dtype != np.uint8:
        raise ValueError(f"expected a 2-D uint8 luma plane, got {luma.ndim}-D {luma.dtype}")
    return np.broadcast_to(luma[:, :, np.newaxis], (*luma.shape, 3))


def pdq_from_luma(luma: Luma) -> PdqHash:
    """PDQ of a luma plane (the caller has already scaled it down)."""
    bits, quality = pdqhash.compute(_as_rgb_view(luma))
    return PdqHash(_bits_to_hex(cast(npt.NDArray[np.integer], bits)), int(quality))


def pdq_dihedral_from_luma(luma: Luma) -> tuple[tuple[str, ...], int]:
    """The eight PDQ hashes of the picture's rotations and mirrors (original first) and their shared quality."""
    hashes, quality = pdqhash.compute_dihedral(_as_rgb_view(luma))
    return tuple(_bits_to_hex(cast(npt.NDArray[np.integer], h)) for h in hashes), int(quality)


class PdqSignal(SignalType):
    name: ClassVar[str] = "pdq"
    description: ClassVar[str] = "PDQ perceptual hash of an image: 256 bits as 64 hex characters, quality 0-100."
    kinds: ClassVar[frozenset[ContentKind]] = frozenset({ContentKind.IMAGE})

    @classmethod
    def validate(cls, value: str) -> str:
        return check_hex(value, name=cls.name, length=PDQ_HEX_LENGTH)

    @classmethod
    def compare(cls, a: str, b: str, *, max_distance: int = PDQ_MATCH_DISTANCE) -> Comparison:
        if not 0 <= max_distance <= 256:
            raise ValueError(f"max_distance must be between 0 and 256 bits, got {max_distance}")
        distance = hamming_distance(cls.validate(a), cls.validate(b))
        return Comparison(match=distance <= max_distance, distance=distance)

    @classmethod
    def examples(cls) -> Sequence[str]:
        return [
            "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22",
            "d8f8f0cce0f4e84f06370a22028f67f0b36e2ed596623e1d33e6339c4e9c9b22",
            "0000000000000000000000000000000000000000000000000000000000000000",
            "a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5",
        ]


# ---------------------------------------------------------------- exact reference PDQ
#
# The reference (pdq/cpp/hashing/pdqhashing.cpp, which pdqhash wraps) turns a float luma plane of H x W pixels
# into a 64 x 64 grid: two passes of a box filter along rows (window ceil(W/128)) and columns (window
# ceil(H/128)), each window shrunk at the picture's edges, then one sample at the centre of each of 64 x 64
# cells. Then a 16 x 16 DCT, bits set where a coefficient is above the median, and a quality from the grid's
# gradients.
#
# Every grid value is a fixed weighted sum of the pixels near one sample point, and the weights split into one
# row factor and one column factor. So instead of filtering the whole picture four times, the grid is computed
# as (row weights) x luma x (column weights)^T with banded weights: about 2 x H x W multiply-adds, a few
# times less than the reference's filter. Mirrored pictures use the same weights reversed, so the reference
# hashes of all eight rotations and mirrors of the picture come from one pass over it (the reference's own
# compute_dihedral derives them from the DCT instead, which is exact only when its windows are centred).
# Values agree with the reference's float32 sliding sums to about 1e-6; pictures with a side under 64 pixels,
# whose grid repeats pixels and so produces ties between coefficients, are filtered exactly as the reference
# does, sum by sum, so that rounding breaks the ties the same way.

FloatLuma = npt.NDArray[np.float32]

_GRID = 64
_MIN_SIDE = 5  # the reference hashes smaller pictures as all zeros with quality 0
_EMULATE_BELOW = 64  # sides under this are filtered sum by sum (see above)
_EMULATE_MAX_PERIMETER = 4096  # ...unless the other side is so long that doing so would be slow
# The banded weights' values differ from the reference's sliding sums by up to ~0.002 in a DCT coefficient
# (measured, bench/bench_hashing.py); when the two middle coefficients are closer than this margin, rounding
# could put a different coefficient above the median, so the stored hash is redone sum by sum.
_TIE_MARGIN = 0.005
_EMULATE_MAX_PIXELS = 16_000_000  # beyond this, redoing costs over a second; the hash may then differ by a bit


def _window(n: int) -> int:
    """computeJaroszFilterWindowSize(n, 64): ceil(n / 128)."""
    return (n + 2 * _GRID - 1) // (2 * _GRID)


def _sample_points(n: int) -> list[int]:
    """decimateFloat's sample positions: the centre of each of 64 cells, rounded down as the reference does."""
    return [int(((i + 0.5) * n) / _GRID) for i in range(_GRID)]


def _box_extent(n: int, window: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """First and last pixel that box1DFloat averages for each output position (its window shrinks at the edges)."""
    half = (window + 2) // 2
    position = np.arange(n)
    return np.maximum(0, position - (window - half)), np.minimum(n - 1, position + half - 1)


@dataclass(frozen=True, slots=True)
class _Bands:
    """For a line of n pixels: 128 weight rows (64 sample points, then the same for the line reversed), each
    non-zero only in `width` pixels from `starts[i]`."""

    starts: npt.NDArray[np.intp]
    weights: npt.NDArray[np.float32]


@lru_cache(maxsize=64)
def _bands(n: int) -> _Bands:
    first, last = _box_extent(n, _window(n))
    size = last - first + 1
    dense = np.zeros((_GRID, n))
    for row, centre in enumerate(_sample_points(n)):
        # Two box passes: the sample averages box outputs, each of which averages pixels.
        for position in range(first[centre], last[centre] + 1):
            dense[row, first[position] : last[position] + 1] += 1.0 / (size[centre] * size[position])
    both = np.vstack([dense, dense[:, ::-1]])
    nonzero = both != 0
    begin = nonzero.argmax(axis=1)
    end = n - nonzero[:, ::-1].argmax(axis=1)
    width = int((end - begin).max())
    starts = np.minimum(begin, n - width)
    weights = np.take_along_axis(both, starts[:, np.newaxis] + np.arange(width), axis=1)
    return _Bands(starts, np.ascontiguousarray(weights, dtype=np.float32))


def _apply_bands(bands: _Bands, x: FloatLuma) -> FloatLuma:
    """(128, m): each weight row applied to the rows of x (n, m)."""
    width = bands.weights.shape[1]
    out = np.empty((2 * _GRID, x.shape[1]), dtype=np.float32)
    for row, start in enumerate(bands.starts.tolist()):
        np.dot(bands.weights[row], x[start : start + width], out=out[row])
    return out


def _grids_by_bands(luma: FloatLuma) -> npt.NDArray[np.float32]:
    """The eight 64 x 64 grids, in DIHEDRAL_NAMES order, from banded weights."""
    height, width = luma.shape
    down = _apply_bands(_bands(height), luma)  # (128, W): rows sampled forwards, then reversed
    both = _apply_bands(_bands(width), np.ascontiguousarray(down.T)).T  # (128, 128)
    grid, mirror_y, flip_x, turned = both[:64, :64], both[:64, 64:], both[64:, :64], both[64:, 64:]
    # np.rot90 turns counter-clockwise: rot90(L) = flipud(L.T), so its grid is mirror_y's transposed.
    return np.ascontiguousarray(
        np.stack([grid, mirror_y.T, turned, flip_x.T, flip_x, mirror_y, grid.T, turned.T]), dtype=np.float32
    )


def _box_lines(lines: FloatLuma, window: int) -> FloatLuma:
    """box1DFloat along axis 0 of (n, m), every column at once, with its float32 running sum in the reference's
    order of additions and subtractions (so that rounding comes out the same)."""
    n = lines.shape[0]
    half = (window + 2) // 2
    out = np.empty_like(lines)
    total = np.zeros(lines.shape[1], dtype=np.float32)
    count = 0
    for read in range(half - 1):
        np.add(total, lines[read], out=total)
        count += 1
    for write in range(n):
        read, drop = write + half - 1, write - (window - half) - 1
        if read < n:
            np.add(total, lines[read], out=total)
        if drop >= 0:
            np.subtract(total, lines[drop], out=total)
        count += (read < n) - (drop >= 0)
        np.divide(total, np.float32(count), out=out[write])
    return out


def _grids_emulated(stack: FloatLuma) -> FloatLuma:
    """64 x 64 grids of a stack of same-shaped planes (b, h, w), filtered sum by sum as jaroszFilterFloat does."""
    count, height, width = stack.shape
    across, down = _window(width), _window(height)
    # Lines along axis 0, contiguous, all planes side by side: (w, b, h) for row passes, (h, b, w) for columns.
    x: npt.NDArray[np.float32] = np.ascontiguousarray(stack.transpose(2, 0, 1)).reshape(width, count * height)
    for step in range(2):  # PDQ_NUM_JAROSZ_XY_PASSES
        x = _box_lines(x, across).reshape(width, count, height)
        x = np.ascontiguousarray(x.transpose(2, 1, 0)).reshape(height, count * width)
        x = _box_lines(x, down).reshape(height, count, width)
        if step == 0:
            x = np.ascontiguousarray(x.transpose(2, 1, 0)).reshape(width, count * height)
    sampled = x[_sample_points(height)][:, :, _sample_points(width)]  # (64, b, 64)
    return np.ascontiguousarray(sampled.transpose(1, 0, 2))


def _grids_exact(luma: FloatLuma) -> npt.NDArray[np.float32]:
    """The eight grids, in DIHEDRAL_NAMES order, each filtered sum by sum from the turned or mirrored plane."""
    upright = np.stack([luma, np.rot90(luma, 2), luma[::-1], luma[:, ::-1]])
    sideways = np.stack([np.rot90(luma, 1), np.rot90(luma, 3), luma.T, np.rot90(luma, 2).T])
    a, b = _grids_emulated(upright), _grids_emulated(sideways)
    return np.ascontiguousarray(np.stack([a[0], b[0], a[1], b[1], a[2], a[3], b[2], b[3]]), dtype=np.float32)


def _dct_matrix() -> npt.NDArray[np.float32]:
    # As the reference builds it: a float scale times a double cosine, rounded to float.
    scale = float(np.float32(math.sqrt(2.0 / _GRID)))
    values = [[scale * math.cos((math.pi / 2.0 / _GRID) * (i + 1) * (2 * j + 1)) for j in range(_GRID)]
              for i in range(16)]  # fmt: skip
    return np.array(values, dtype=np.float64).astype(np.float32)


_DCT = _dct_matrix()  # 16 x 64


def _dct16(grids: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """dct64To16 of each grid, summing in float32 in the reference's order (ties between coefficients are
    broken by rounding, so the order matters for pictures whose grid repeats pixels)."""
    count = grids.shape[0]
    rows = np.zeros((count, 16, _GRID), dtype=np.float32)
    for k in range(_GRID):
        rows += _DCT[np.newaxis, :, k, np.newaxis] * grids[:, np.newaxis, k, :]
    out = np.zeros((count, 16, 16), dtype=np.float32)
    for k in range(_GRID):
        out += rows[:, :, k, np.newaxis] * _DCT[np.newaxis, np.newaxis, :, k]
    return out


def _near_tie(coefficients: npt.NDArray[np.float32]) -> bool:
    middle = np.partition(coefficients.reshape(-1), (127, 128))
    return bool(middle[128] - middle[127] < _TIE_MARGIN)


def _dct_to_hex(coefficients: npt.NDArray[np.float32]) -> str:
    flat = coefficients.reshape(-1)
    median = np.partition(flat, 127)[127]  # torben(): the lower median of 256 values
    # Bit k = 16 i + j is set when coefficient (i, j) is above the median; the hex starts at bit 255.
    return np.packbits((flat > median)[::-1]).tobytes().hex()


def _quality(grid: npt.NDArray[np.float32]) -> int:
    """pdqImageDomainQualityMetric: truncated float32 gradients in percent of 255, summed, / 90, capped."""
    hundred, full = np.float32(100), np.float32(255)
    down = np.trunc(((grid[:-1, :] - grid[1:, :]) * hundred) / full)
    across = np.trunc(((grid[:, :-1] - grid[:, 1:]) * hundred) / full)
    total = int(np.abs(down).astype(np.int64).sum() + np.abs(across).astype(np.int64).sum())
    return min(100, total // 90)


def pdq_reference_dihedral(luma: FloatLuma) -> tuple[tuple[str, ...], int]:
    """The reference PDQ of a full-size luma plane and of its seven rotations and mirrors, and its quality.

    `luma` is float32, 0.299 R + 0.587 G + 0.114 B as the reference computes it (Pillow's "F" conversion gives
    the same values). The first hash is `pdqhash.compute`'s; the others, in DIHEDRAL_NAMES order, are
    `pdqhash.compute` of the turned or mirrored picture (np.rot90 turns counter-clockwise).
    """
    if luma.ndim != 2 or luma.dtype != np.float32:
        raise ValueError(f"expected a 2-D float32 luma plane, got {luma.ndim}-D {luma.dtype}")
    height, width = luma.shape
    if height < _MIN_SIDE or width < _MIN_SIDE:
        return (f"{0:064x}",) * 8, 0
    plane = np.ascontiguousarray(luma)
    if min(height, width) < _EMULATE_BELOW and height + width <= _EMULATE_MAX_PERIMETER:
        grids = _grids_exact(plane)
        coefficients = _dct16(grids)
    else:
        grids = _grids_by_bands(plane)
        coefficients = _dct16(grids)
        if _near_tie(coefficients[0]) and plane.size <= _EMULATE_MAX_PIXELS:
            # The stored hash must be the reference's bit for bit; redo it the reference's way.
            grids[0] = _grids_emulated(plane[np.newaxis])[0]
            coefficients[0] = _dct16(grids[:1])[0]
    return tuple(_dct_to_hex(c) for c in coefficients), _quality(grids[0])


def pdq_reference(luma: FloatLuma) -> PdqHash:
    """`pdqhash.compute` of a full-size float32 luma plane (see `pdq_reference_dihedral`)."""
    hashes, quality = pdq_reference_dihedral(luma)
    return PdqHash(hashes[0], quality)
