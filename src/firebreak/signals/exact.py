"""Exact (cryptographic) hashes of the raw bytes: SHA-256 for our own bookkeeping, MD5 for StopNCII's videos."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from firebreak.signals.base import BytesHasher, Comparison, ContentKind, SignalType, check_hex

_ANY = frozenset({ContentKind.IMAGE, ContentKind.VIDEO})


class Sha256Signal(SignalType, BytesHasher):
    name: ClassVar[str] = "sha256"
    description: ClassVar[str] = "SHA-256 of the file's bytes; finds byte-identical copies only."
    kinds: ClassVar[frozenset[ContentKind]] = _ANY

    @classmethod
    def validate(cls, value: str) -> str:
        return check_hex(value, name=cls.name, length=64)

    @classmethod
    def compare(cls, a: str, b: str) -> Comparison:
        return _exact(cls.validate(a), cls.validate(b))

    @classmethod
    def hash_bytes(cls, data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    @classmethod
    def examples(cls) -> Sequence[str]:
        return [cls.hash_bytes(b""), cls.hash_bytes(b"firebreak"), "f" * 64]


class Md5Signal(SignalType, BytesHasher):
    name: ClassVar[str] = "md5"
    description: ClassVar[str] = "MD5 of the file's bytes, the video signal StopNCII shares; byte-identical only."
    kinds: ClassVar[frozenset[ContentKind]] = _ANY

    @classmethod
    def validate(cls, value: str) -> str:
        return check_hex(value, name=cls.name, length=32)

    @classmethod
    def compare(cls, a: str, b: str) -> Comparison:
        return _exact(cls.validate(a), cls.validate(b))

    @classmethod
    def hash_bytes(cls, data: bytes) -> str:
        # Not used for security: MD5 is the identifier StopNCII publishes for videos.
        return hashlib.md5(data, usedforsecurity=False).hexdigest()

    @classmethod
    def examples(cls) -> Sequence[str]:
        return [cls.hash_bytes(b""), cls.hash_bytes(b"firebreak"), "0" * 32]


def _exact(a: str, b: str) -> Comparison:
    return Comparison(match=a == b, distance=0 if a == b else 1)


@dataclass(frozen=True, slots=True)
class ExactHashes:
    sha256: str
    md5: str


def exact_hashes(data: bytes) -> ExactHashes:
    """Both exact hashes. Works on any bytes, decodable or not, so an unhashable file can still be banked."""
    return ExactHashes(sha256=Sha256Signal.hash_bytes(data), md5=Md5Signal.hash_bytes(data))
