"""Recompute the signals of stored media the current way, in resumable batches.

PDQ used to be computed on a 320 x 320 scaled picture, which drifts from the reference that other systems use
(issue #16); pictures cut short used to be refused. `recompute_pdq` reads each image and video's encrypted
blob, hashes it again, rewrites its `media_signals` rows (PDQ, vPDQ frames; the exact hashes cannot change)
and the PDQ bank entries that were banked from that file, and returns a cursor. A job calls it until `done`,
committing after each batch and keeping `last_id` as its progress, so a restart resumes where it stopped.

Imported bank entries (StopNCII, ThreatExchange, CSV) are never rewritten: their values are the source's.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from firebreak.audit import service as audit
from firebreak.banks.models import BankEntry, Provenance
from firebreak.banks.service import PROPAGATE_JOB, value_digest
from firebreak.core.blobs import BlobError, BlobStore
from firebreak.core.clock import Clock
from firebreak.core.jobs.outbox import defer
from firebreak.media.models import HashStatus, Media, MediaKind
from firebreak.media.service import apply_hashes
from firebreak.signals.decode import DecodeLimits
from firebreak.signals.errors import UnhashableMedia, UnhashableReason
from firebreak.signals.hashing import MediaHashes, hash_bytes
from firebreak.signals.pdq import PdqSignal

# Files refused as cut short before are tried again: a JPEG or PNG cut short now hashes as it is shown.
_RETRIED_ERROR = f"unhashable: {UnhashableReason.TRUNCATED.value}"
_PERCEPTUAL = ("pdq", "vpdq")


@dataclass(frozen=True, slots=True)
class RehashBatch:
    """What one batch did. Pass `last_id` back as `after_id` for the next batch; stop when `done`."""

    last_id: int  # the highest media id examined (the cursor)
    examined: int  # media items read in this batch
    changed: int  # items whose perceptual signals changed (or that are now hashable)
    entries_changed: int = 0  # bank entries banked from those files whose PDQ was rewritten
    entries_in_conflict: int = 0  # not rewritten: their bank already holds the new value in another entry
    unreadable: int = 0  # blob missing or not decrypting, or the file no longer hashes: left as they were
    without_bytes: int = 0  # hashed once but not kept (keep_bytes=False): cannot be recomputed
    done: bool = False  # nothing after last_id


def recompute_pdq(
    *,
    session: Session,
    blobs: BlobStore,
    clock: Clock,
    limits: DecodeLimits,
    after_id: int,
    limit: int = 100,
    actor: str = "system:rehash",
) -> RehashBatch:
    """Recompute up to `limit` media items with ids above `after_id`, in the caller's transaction."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    worth_hashing = or_(
        and_(Media.hash_status == HashStatus.HASHED, Media.kind.in_((MediaKind.IMAGE, MediaKind.VIDEO))),
        and_(Media.hash_status == HashStatus.UNHASHABLE, Media.hash_error.startswith(_RETRIED_ERROR)),
    )
    items = list(session.scalars(
        select(Media).where(Media.id > after_id, worth_hashing).order_by(Media.id).limit(limit)))  # fmt: skip
    changed = entries_changed = conflicts = unreadable = without_bytes = 0
    events: list[audit.PendingEvent] = []
    rewritten: list[int] = []
    for media in items:
        if media.blob_key is None:
            without_bytes += 1
            continue
        try:
            hashes = hash_bytes(blobs.get(media.blob_key), limits)
        except (BlobError, UnhashableMedia):
            unreadable += 1
            continue
        was_hashed = media.hash_status == HashStatus.HASHED
        upscaled = hashes.upscaled_dihedral[0] if hashes.upscaled_dihedral else None
        if was_hashed and _perceptual(media) == _perceptual_of(hashes) and media.pdq_upscaled == upscaled:
            continue
        apply_hashes(media, hashes)
        changed += 1
        if hashes.kind.value == MediaKind.IMAGE.value:
            updated, clashes = _rewrite_entries(session, media, hashes, actor, events)
            rewritten += updated
            entries_changed += len(updated)
            conflicts += clashes
    session.flush()
    audit.record_many(session=session, clock=clock, events=events)
    if rewritten:
        # Copies that only the new value finds are found the way a new entry's are.
        defer(session=session, now=clock.now(), job=PROPAGATE_JOB, payload={"entry_ids": rewritten})
    return RehashBatch(
        last_id=items[-1].id if items else after_id,
        examined=len(items),
        changed=changed,
        entries_changed=entries_changed,
        entries_in_conflict=conflicts,
        unreadable=unreadable,
        without_bytes=without_bytes,
        done=len(items) < limit,
    )


def _perceptual(media: Media) -> set[tuple[str, str, int | None, int | None]]:
    return {(s.signal_type, s.value, s.quality, s.frame_number) for s in media.signals
            if s.signal_type in _PERCEPTUAL}  # fmt: skip


def _perceptual_of(hashes: MediaHashes) -> set[tuple[str, str, int | None, int | None]]:
    return {(s.signal_type, s.value, s.quality, s.frame_number) for s in hashes.signals()
            if s.signal_type in _PERCEPTUAL}  # fmt: skip


def _rewrite_entries(
    session: Session, media: Media, hashes: MediaHashes, actor: str, events: list[audit.PendingEvent]
) -> tuple[list[int], int]:
    """Point the PDQ entries banked from this file at its new PDQ. Returns (entry ids rewritten, conflicts)."""
    value = PdqSignal.validate(hashes.pdq.value)
    digest = value_digest(value)
    entries = session.scalars(select(BankEntry).where(
        BankEntry.media_id == media.id, BankEntry.signal_type == PdqSignal.name,
        BankEntry.provenance != Provenance.IMPORT)).all()  # fmt: skip
    rewritten: list[int] = []
    conflicts = 0
    for entry in entries:
        if entry.value == value:
            continue
        taken = session.scalar(select(BankEntry.id).where(
            BankEntry.bank_id == entry.bank_id, BankEntry.signal_type == PdqSignal.name,
            BankEntry.value_digest == digest))  # fmt: skip
        if taken is not None:
            conflicts += 1  # the bank already holds this picture's reference hash (e.g. imported): keep both
            continue
        events.append(audit.PendingEvent(
            actor=actor, action="bank_entry.rehashed", object_type="bank_entry", object_id=entry.id,
            data={"media_id": media.id, "from": entry.value, "to": value, "quality": hashes.pdq.quality}))  # fmt: skip
        entry.value, entry.value_digest, entry.quality = value, digest, hashes.pdq.quality
        entry.extra = {**(entry.extra or {}), "dihedral": list(hashes.dihedral[1:])}
        rewritten.append(entry.id)
    return rewritten, conflicts
