"""Encrypted blob storage for sensitive media and evidence.

Every blob is encrypted with AES-256-GCM under the ``blobs`` key of the instance's :class:`KeyRing`. The blob key is
bound as associated data, so a file moved under another name does not decrypt. Layout on disk:
``<blob_dir>/<k[:2]>/<k[2:4]>/<k>`` with a small header: ``FBB2`` (HKDF key) or ``FBB1`` (the older derivation, read
only), then the nonce. Storage sits behind :class:`BlobStore` so an object store can replace the local files without
touching the domains.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from firebreak.core.keys import KeyRing

MAGIC = b"FBB2"
LEGACY_MAGIC = b"FBB1"
PURPOSE = "blobs"


class BlobError(Exception):
    pass


class BlobStore(Protocol):
    def put(self, data: bytes) -> str: ...

    def get(self, key: str) -> bytes: ...

    def delete(self, key: str) -> None: ...


class LocalBlobStore:
    def __init__(self, root: Path, keys: KeyRing) -> None:
        self.root = root
        self._aead = AESGCM(keys.derive(PURPOSE))
        self._legacy = AESGCM(keys.legacy(PURPOSE))

    def _path(self, key: str) -> Path:
        if len(key) < 8 or not key.isalnum():
            raise BlobError(f"bad blob key {key!r}")
        return self.root / key[:2] / key[2:4] / key

    def put(self, data: bytes) -> str:
        key = secrets.token_hex(16)
        nonce = secrets.token_bytes(12)
        sealed = MAGIC + nonce + self._aead.encrypt(nonce, data, key.encode())
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(sealed)
        os.replace(tmp, path)
        return key

    def get(self, key: str) -> bytes:
        try:
            sealed = self._path(key).read_bytes()
        except FileNotFoundError:
            raise BlobError(f"blob {key} not found") from None
        aead = {MAGIC: self._aead, LEGACY_MAGIC: self._legacy}.get(sealed[:4])
        if aead is None:
            raise BlobError(f"blob {key}: unknown format")
        try:
            return aead.decrypt(sealed[4:16], sealed[16:], key.encode())
        except Exception:
            raise BlobError(f"blob {key}: does not decrypt (altered, or another instance key)") from None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


__all__ = ["BlobError", "BlobStore", "LocalBlobStore"]
