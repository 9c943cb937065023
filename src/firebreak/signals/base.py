"""The signal-type interface: what a kind of hash is called, how its values look, and how two compare.

A signal type is a class, never an instance: it carries no state, only a stable `name` (the storage key in
`media_signals.signal_type` and `bank_entries.signal_type`) and class methods. The name is written out on
every class on purpose; renaming a class must never change what is in the database.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar


class ContentKind(enum.StrEnum):
    """What a piece of media is to a viewer. The values equal `firebreak.media.models.MediaKind`'s."""

    IMAGE = "image"
    VIDEO = "video"


@dataclass(frozen=True, slots=True)
class Comparison:
    """The outcome of comparing two values of one signal type.

    `distance` is 0 or 1 for exact hashes (equal or not), the Hamming distance in bits for PDQ, and for vPDQ
    the share of frames (in percent) that found no partner on the weaker side: smaller is always closer.
    """

    match: bool
    distance: int


class SignalType(ABC):
    """A kind of signal. Subclasses set `name` explicitly; see the module docstring for why."""

    name: ClassVar[str]
    description: ClassVar[str]
    # The media this signal describes; exact hashes apply to any bytes.
    kinds: ClassVar[frozenset[ContentKind]]

    @classmethod
    @abstractmethod
    def validate(cls, value: str) -> str:
        """Return the canonical form of `value`, or raise ValueError saying what is wrong with it."""

    @classmethod
    @abstractmethod
    def compare(cls, a: str, b: str) -> Comparison:
        """Compare two valid values with this type's default rule."""

    @classmethod
    @abstractmethod
    def examples(cls) -> Sequence[str]:
        """A few valid, pairwise different values, in canonical form, for contract tests and docs."""


class BytesHasher(ABC):
    """Capability: the signal is computed from the raw bytes, whatever they contain."""

    @classmethod
    @abstractmethod
    def hash_bytes(cls, data: bytes) -> str:
        """The canonical value for these bytes."""


def check_hex(value: str, *, name: str, length: int) -> str:
    """Normalise a fixed-length hex string: strip surrounding space, lower-case, check length and digits."""
    if not isinstance(value, str):
        raise ValueError(f"{name} value must be a string, got {type(value).__name__}")
    text = value.strip().lower()
    if len(text) != length:
        raise ValueError(f"{name} value must be {length} hex characters, got {len(text)}")
    bad = next((ch for ch in text if ch not in "0123456789abcdef"), None)
    if bad is not None:
        raise ValueError(f"{name} value has a non-hex character {bad!r}")
    return text
