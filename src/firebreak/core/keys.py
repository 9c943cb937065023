"""Keys: one instance key, and a key per purpose derived from it with HKDF (RFC 5869).

The instance key comes from ``FIREBREAK_SECRET_KEY`` or from ``<data_dir>/instance.key``, made on first start with mode
0600. Every use (blob encryption, integration secrets, browser sessions, ...) gets its own key, derived with HKDF-SHA256
and the purpose as ``info``, so a key learned in one place opens nothing else.

Data written before HKDF (blob format 1, integration secrets without a version prefix) was sealed under
``SHA-256(master || 0 || purpose)``; :meth:`KeyRing.legacy` gives that key so old data still opens.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from functools import cache
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from firebreak.core.config import Settings

SALT = b"firebreak/v1"


class InstanceKeyError(Exception):
    """The instance key cannot be read."""


def instance_key(settings: Settings) -> bytes:
    """The 32-byte instance key: from the setting, or a key file made once under the data dir."""
    if settings.secret_key:
        return hashlib.sha256(settings.secret_key.encode()).digest()
    path = settings.data_dir / "instance.key"
    if not path.exists():
        _make_key_file(path)
    raw = base64.b64decode(path.read_bytes())
    if len(raw) != 32:
        raise InstanceKeyError(f"{path}: not a valid instance key")
    return raw


def _make_key_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return
    with os.fdopen(fd, "wb") as fh:
        fh.write(base64.b64encode(secrets.token_bytes(32)))


class KeyRing:
    """Derives a key for each purpose from the instance key. Purposes are storage keys: never rename one."""

    def __init__(self, master: bytes) -> None:
        if len(master) != 32:
            raise ValueError("the instance key must be 32 bytes")
        self._master = master

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyRing:
        return cls(instance_key(settings))

    def derive(self, purpose: str, length: int = 32) -> bytes:
        return _hkdf(self._master, purpose, length)

    def legacy(self, purpose: str) -> bytes:
        """The key data written before HKDF was sealed under (read old data only; never seal with it)."""
        return hashlib.sha256(self._master + b"\x00" + purpose.encode()).digest()


@cache
def _hkdf(master: bytes, purpose: str, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=SALT, info=purpose.encode()).derive(master)


__all__ = ["InstanceKeyError", "KeyRing", "instance_key"]
