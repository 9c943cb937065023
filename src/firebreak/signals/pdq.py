"""PDQ: Meta's 256-bit perceptual image hash, stored as 64 hex characters plus a 0-100 quality.

The hex layout is the reference one (`Hash256::format` in facebook/ThreatExchange): the first hex digit holds
bits 255..252, so values agree with the C++ tool, python-threatexchange, HMA and StopNCII.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, cast

import numpy as np
import numpy.typing as npt
import pdqhash  # type: ignore[import-untyped,unused-ignore]

from firebreak.signals.base import Comparison, ContentKind, SignalType, check_hex

# A pair of hashes this close (in bits) is the same picture; Meta's recommended threshold.
PDQ_MATCH_DISTANCE = 31
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
