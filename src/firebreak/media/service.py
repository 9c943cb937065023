"""Media items: identical bytes are stored (encrypted) and hashed once."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from firebreak.core.blobs import BlobStore
from firebreak.core.clock import Clock
from firebreak.media.models import HashStatus, Media, MediaKind, MediaSignal
from firebreak.signals.decode import DecodeLimits
from firebreak.signals.errors import UnhashableMedia
from firebreak.signals.exact import exact_hashes
from firebreak.signals.hashing import MediaHashes, hash_bytes


@dataclass(frozen=True)
class Ingested:
    media: Media
    hashes: MediaHashes | None  # None when unhashable or already known
    created: bool


def limits_from(max_bytes: int, max_pixels: int, max_frames: int, max_seconds: float) -> DecodeLimits:
    return DecodeLimits(max_bytes=max_bytes, max_pixels=max_pixels, max_frames=max_frames, max_seconds=max_seconds)


def find_by_sha256(*, session: Session, sha256: str) -> Media | None:
    return session.scalar(select(Media).where(Media.sha256 == sha256))


def ingest_bytes(
    *, session: Session, clock: Clock, blobs: BlobStore | None, limits: DecodeLimits, data: bytes,
    source_url: str | None = None, keep_bytes: bool = True,
) -> Ingested:
    """The media item for these bytes: found by SHA-256, or hashed, stored and created.

    Undecodable bytes still get a media item (exact hashes only), marked unhashable with the reason.
    """
    sha256 = hashlib.sha256(data).hexdigest()
    existing = find_by_sha256(session=session, sha256=sha256)
    if existing is not None:
        return Ingested(existing, None, False)
    now = clock.now()
    hashes: MediaHashes | None
    try:
        hashes = hash_bytes(data, limits)
    except UnhashableMedia as exc:
        hashes = None
        error = f"unhashable: {exc.reason.value}: {exc.message}"
    media = Media(sha256=sha256, created_at=now, size_bytes=len(data), source_url=source_url, hash_attempts=1)
    if hashes is None:
        exact = exact_hashes(data)
        media.md5 = exact.md5
        media.hash_status = HashStatus.UNHASHABLE
        media.hash_error = error
        media.signals = [MediaSignal(signal_type="sha256", value=sha256), MediaSignal(signal_type="md5",
                                                                                     value=exact.md5)]
    else:
        apply_hashes(media, hashes)
    if keep_bytes and blobs is not None:
        media.blob_key = blobs.put(data)
    try:
        with session.begin_nested():
            session.add(media)
            session.flush()
    except IntegrityError:
        # Another worker stored the same bytes at the same moment: use theirs.
        if media.blob_key and blobs is not None:
            blobs.delete(media.blob_key)
        found = find_by_sha256(session=session, sha256=sha256)
        if found is None:
            raise
        return Ingested(found, None, False)
    return Ingested(media, hashes, True)


def apply_hashes(media: Media, hashes: MediaHashes) -> None:
    media.md5 = hashes.md5
    media.kind = MediaKind(hashes.kind.value)
    media.mime_type = hashes.mime_type
    media.width, media.height = hashes.width, hashes.height
    media.duration_seconds = hashes.duration_seconds
    media.pdq, media.pdq_quality = hashes.pdq.value, hashes.pdq.quality
    media.pdq_upscaled = hashes.upscaled_dihedral[0] if hashes.upscaled_dihedral else None
    media.hash_status, media.hash_error = HashStatus.HASHED, None
    media.signals = [
        MediaSignal(signal_type=s.signal_type, value=s.value, quality=s.quality, frame_number=s.frame_number,
                    timestamp_seconds=s.timestamp_seconds)
        for s in hashes.signals()
    ]
