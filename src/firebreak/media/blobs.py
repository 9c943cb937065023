"""Encrypted blob storage for sensitive media and evidence.

Every blob is encrypted with AES-256-GCM under a key derived from the instance key
(``FIREBREAK_SECRET_KEY`` or ``<data_dir>/instance.key``, made on first start with mode
0600). The blob key is bound as associated data, so a file moved to another key does
not decrypt. Layout on disk: ``<blob_dir>/<k[:2]>/<k[2:4]>/<k>`` with a small header
(magic, version, nonce). Storage sits behind :class:`BlobStore` so an object store can
replace the local files without touching the domains.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from firebreak.config import Settings

MAGIC = b"FBB1"


class BlobError(Exception):
    pass


class BlobStore(Protocol):
    def put(self, data: bytes) -> str: ...

    def get(self, key: str) -> bytes: ...

    def delete(self, key: str) -> None: ...


def instance_key(settings: Settings) -> bytes:
    """The 32-byte instance key: from the setting, or a key file made once under the data dir."""
    if settings.secret_key:
        return hashlib.sha256(settings.secret_key.encode()).digest()
    path = settings.data_dir / "instance.key"
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(base64.b64encode(secrets.token_bytes(32)))
    raw = base64.b64decode(path.read_bytes())
    if len(raw) != 32:
        raise BlobError(f"{path}: not a valid instance key")
    return raw


def derive_key(master: bytes, purpose: str) -> bytes:
    return hashlib.sha256(master + b"\x00" + purpose.encode()).digest()


class LocalBlobStore:
    def __init__(self, root: Path, master_key: bytes) -> None:
        self.root = root
        self._aead = AESGCM(derive_key(master_key, "blobs"))

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
        if sealed[:4] != MAGIC:
            raise BlobError(f"blob {key}: unknown format")
        try:
            return self._aead.decrypt(sealed[4:16], sealed[16:], key.encode())
        except Exception:
            raise BlobError(f"blob {key}: does not decrypt (altered, or another instance key)") from None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


def blob_store_from_settings(settings: Settings) -> LocalBlobStore:
    return LocalBlobStore(settings.blob_dir, instance_key(settings))
