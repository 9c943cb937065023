"""Envelope encryption for preserved evidence, and the key that signs evidence packages.

Each preserved record (and each distinct media file) has its own random data key; AES-256-GCM seals the bytes under
it, with the record's name as associated data, so a sealed part moved to another record does not open. The data key
itself is stored *wrapped* (AES-256-GCM again) under a key-encryption key (KEK) from configuration. Rotating KEKs
only re-wraps the small data keys; the sealed blobs never change.

KEKs come from ``FIREBREAK_EVIDENCE_KEYS``: ``id:base64,id:base64``, the first is current. The KEK derived from the
instance key (HKDF purpose ``evidence-kek-1``, id ``instance-1``) is always known as well, so evidence sealed before
keys were configured still opens, and is the current KEK when none is configured.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from firebreak.core.keys import KeyRing

SEALED_MAGIC = b"FBE1"
WRAPPED_MAGIC = b"FBW1"
KEK_PURPOSE = "evidence-kek-1"
DERIVED_KEK_ID = "instance-1"
_KEK_ID = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")


class EvidenceKeyError(Exception):
    """A key is missing, malformed, or does not open what it should."""


def parse_kek_list(text: str) -> list[tuple[str, bytes]]:
    """``id:base64,id:base64`` -> [(id, 32-byte key)], in order. Raises ValueError naming what is wrong."""
    keys: list[tuple[str, bytes]] = []
    for position, part in enumerate(p.strip() for p in text.replace("\n", ",").split(",")):
        if not part:
            continue
        kek_id, sep, encoded = part.partition(":")
        kek_id = kek_id.strip()
        if not sep or not _KEK_ID.match(kek_id):
            raise ValueError(f"key {position + 1}: write it as id:base64, with an id of letters, digits, '.', '_' "
                             "or '-' (at most 32)")
        try:
            raw = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"key {kek_id!r}: not valid base64") from None
        if len(raw) != 32:
            raise ValueError(f"key {kek_id!r}: {len(raw)} bytes; an AES-256 key has 32")
        if any(kek_id == known for known, _ in keys):
            raise ValueError(f"key {kek_id!r} is listed twice")
        keys.append((kek_id, raw))
    return keys


@dataclass(frozen=True)
class KeyEncryptionKeys:
    """The KEKs by id; ``current`` wraps new data keys, the others only unwrap."""

    keys: tuple[tuple[str, bytes], ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise EvidenceKeyError("no key-encryption key")

    @classmethod
    def build(cls, configured: str, keyring: KeyRing) -> KeyEncryptionKeys:
        keys = parse_kek_list(configured)
        if not any(kek_id == DERIVED_KEK_ID for kek_id, _ in keys):
            keys.append((DERIVED_KEK_ID, keyring.derive(KEK_PURPOSE)))
        return cls(tuple(keys))

    @property
    def current_id(self) -> str:
        return self.keys[0][0]

    def get(self, kek_id: str) -> bytes:
        for known, key in self.keys:
            if known == kek_id:
                return key
        raise EvidenceKeyError(f"key-encryption key {kek_id!r} is not configured; add it to FIREBREAK_EVIDENCE_KEYS "
                               "(after the current key) to open evidence wrapped under it")

    def __repr__(self) -> str:  # never print key material
        return f"KeyEncryptionKeys(ids={[k for k, _ in self.keys]})"


def new_data_key() -> bytes:
    return secrets.token_bytes(32)


def seal(data_key: bytes, plaintext: bytes, *, aad: bytes) -> bytes:
    nonce = secrets.token_bytes(12)
    return SEALED_MAGIC + nonce + AESGCM(data_key).encrypt(nonce, plaintext, aad)


def open_sealed(data_key: bytes, sealed: bytes, *, aad: bytes) -> bytes:
    if sealed[:4] != SEALED_MAGIC:
        raise EvidenceKeyError("not sealed evidence (unknown format)")
    try:
        return AESGCM(data_key).decrypt(sealed[4:16], sealed[16:], aad)
    except InvalidTag:
        raise EvidenceKeyError("sealed evidence does not open: altered, or sealed under another data key") from None


def wrap(keks: KeyEncryptionKeys, data_key: bytes, *, aad: bytes) -> tuple[str, str]:
    """(kek id, wrapped data key as base64) under the current KEK."""
    nonce = secrets.token_bytes(12)
    kek_id = keks.current_id
    blob = WRAPPED_MAGIC + nonce + AESGCM(keks.get(kek_id)).encrypt(nonce, data_key, aad + b"|" + kek_id.encode())
    return kek_id, base64.b64encode(blob).decode()


def unwrap(keks: KeyEncryptionKeys, kek_id: str, wrapped: str, *, aad: bytes) -> bytes:
    blob = base64.b64decode(wrapped)
    if blob[:4] != WRAPPED_MAGIC:
        raise EvidenceKeyError("not a wrapped data key (unknown format)")
    try:
        return AESGCM(keks.get(kek_id)).decrypt(blob[4:16], blob[16:], aad + b"|" + kek_id.encode())
    except InvalidTag:
        raise EvidenceKeyError(f"the data key does not unwrap under key-encryption key {kek_id!r} (a different key "
                               "under the same id?)") from None


# -- the signing key of evidence packages ------------------------------------------------------------------------

def load_signing_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 key that signs evidence packages: read from ``path``, made there (mode 0600) on first use."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            pass
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise EvidenceKeyError(f"{path}: not a PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise EvidenceKeyError(f"{path}: not an Ed25519 private key")
    return key


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def fingerprint(key: Ed25519PublicKey) -> str:
    """SHA-256 of the raw public key, in hex: what a recipient compares with the one published out of band."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()
