"""Banks and their entries. Adding an entry schedules its propagation to every existing copy."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from firebreak.audit import service as audit
from firebreak.banks.models import (
    Bank,
    BankEntry,
    EntryStatus,
    MatchAction,
    Provenance,
    UploadRefusal,
    UploadRefusalEntry,
)
from firebreak.banks.schemas import BankCreate, BankUpdate
from firebreak.core.blobs import BlobError, BlobStore
from firebreak.core.clock import Clock
from firebreak.core.jobs.outbox import defer
from firebreak.core.names import name_key
from firebreak.media.models import Media
from firebreak.signals.decode import DecodeLimits
from firebreak.signals.errors import UnhashableMedia
from firebreak.signals.hashing import MediaHashes, hash_bytes, video_frames
from firebreak.signals.registry import SignalTypeError, get_signal_type
from firebreak.signals.vpdq import VpdqFrame, frames_to_value, value_to_frames

# A vPDQ entry's frames four times a second (``extra``), when it was banked from the video file itself.
DENSE_FRAMES = "dense"

PROPAGATE_JOB = "enforcement.propagate"


class BankError(Exception):
    """A bank operation cannot be done; the message says why."""


class BankNotFound(BankError):
    pass


def value_digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def canonical_value(signal_type: str, value: str) -> str:
    """Validate and normalise a value of a signal type; raises BankError naming the problem."""
    try:
        return get_signal_type(signal_type).validate(value)
    except SignalTypeError as exc:
        raise BankError(str(exc)) from None
    except ValueError as exc:
        message = str(exc)  # the built-in types name themselves ("pdq value must be ..."): say it once
        raise BankError(message if message.startswith(signal_type) else f"{signal_type}: {message}") from None


def create_bank(*, session: Session, clock: Clock, actor: str, data: BankCreate) -> Bank:
    # Unique whatever the case (core.names): "CSAM-hashes" and "csam-hashes" would be read as one bank.
    if (taken := session.scalar(select(Bank.name).where(Bank.name_key == name_key(data.name)))) is not None:
        raise BankError(f"a bank named {taken!r} already exists")
    bank = Bank(**data.model_dump(), created_at=clock.now())
    session.add(bank)
    session.flush()
    audit.record(session=session, clock=clock, actor=actor, action="bank.created", object_type="bank",
                 object_id=bank.id, data=data.model_dump(mode="json"))
    return bank


def update_bank(*, session: Session, clock: Clock, actor: str, bank: Bank, data: BankUpdate) -> Bank:
    changes = data.model_dump(exclude_unset=True)
    for key, value in changes.items():
        setattr(bank, key, value)
    audit.record(session=session, clock=clock, actor=actor, action="bank.updated", object_type="bank",
                 object_id=bank.id, data=data.model_dump(mode="json", exclude_unset=True))
    return bank


def get_bank(*, session: Session, name: str) -> Bank:
    bank = session.scalar(select(Bank).where(Bank.name == name))
    if bank is None:
        raise BankNotFound(f"no bank named {name!r}")
    return bank


def ensure_bank(*, session: Session, clock: Clock, actor: str, name: str, action: MatchAction,
                description: str, policy_category: str | None = None) -> Bank:
    """The bank named ``name``, created with these settings if it does not exist (e.g. per-category order banks)."""
    bank = session.scalar(select(Bank).where(Bank.name == name))
    if bank is not None:
        return bank
    return create_bank(session=session, clock=clock, actor=actor, data=BankCreate(
        name=name, action=action, description=description, policy_category=policy_category))


@dataclass(frozen=True)
class EntryInput:
    signal_type: str
    value: str
    quality: int | None = None
    external_id: str | None = None
    note: str | None = None
    media_id: int | None = None
    extra: dict[str, Any] | None = None


def add_entries(
    *, session: Session, clock: Clock, actor: str, bank: Bank, entries: Sequence[EntryInput],
    provenance: Provenance, source_ref: str | None = None, audit_each: bool = True,
) -> tuple[list[BankEntry], int]:
    """Add entries (validated, de-duplicated) and schedule one propagation job for the new ones.

    Returns (entries now active for the inputs, how many were new). An entry that was
    withdrawn or disabled and is added again becomes active again.
    """
    now = clock.now()
    result: list[BankEntry] = []
    fresh: list[BankEntry] = []
    for item in entries:
        signal_type = item.signal_type.strip().lower()
        value = canonical_value(signal_type, item.value)
        digest = value_digest(value)
        entry = session.scalar(select(BankEntry).where(
            BankEntry.bank_id == bank.id, BankEntry.signal_type == signal_type, BankEntry.value_digest == digest))
        if entry is None:
            entry = BankEntry(
                bank_id=bank.id, signal_type=signal_type, value=value, value_digest=digest, quality=item.quality,
                status=EntryStatus.ACTIVE, provenance=provenance, source_ref=source_ref, media_id=item.media_id,
                external_id=item.external_id, note=item.note, extra=item.extra or {}, created_at=now,
                status_changed_at=now,
            )
            session.add(entry)
            fresh.append(entry)
        elif entry.status != EntryStatus.ACTIVE:
            entry.status, entry.status_changed_at = EntryStatus.ACTIVE, now
            fresh.append(entry)
        if item.extra and item.extra != entry.extra:
            entry.extra = {**entry.extra, **item.extra}
        if entry.media_id is None and item.media_id is not None:
            entry.media_id = item.media_id
        result.append(entry)
    session.flush()
    if audit_each:
        for entry in fresh:
            audit.record(session=session, clock=clock, actor=actor, action="bank_entry.added",
                         object_type="bank_entry", object_id=entry.id,
                         data={"bank": bank.name, "signal_type": entry.signal_type, "value": entry.value[:200],
                               "provenance": provenance.value, "source_ref": source_ref})
    if fresh:
        defer(session=session, now=now, job=PROPAGATE_JOB, payload={"entry_ids": [e.id for e in fresh]})
    return result, len(fresh)


def add_entry(
    *, session: Session, clock: Clock, actor: str, bank: Bank, entry: EntryInput, provenance: Provenance,
    source_ref: str | None = None,
) -> BankEntry:
    entries, _ = add_entries(session=session, clock=clock, actor=actor, bank=bank, entries=[entry],
                             provenance=provenance, source_ref=source_ref)
    return entries[0]


def set_entry_status(
    *, session: Session, clock: Clock, actor: str, entry: BankEntry, status: EntryStatus, reason: str = ""
) -> BankEntry:
    if entry.status == status:
        return entry
    old = entry.status
    entry.status, entry.status_changed_at = status, clock.now()
    audit.record(session=session, clock=clock, actor=actor, action=f"bank_entry.{status.value}",
                 object_type="bank_entry", object_id=entry.id,
                 data={"from": old.value, "to": status.value, "reason": reason})
    if status == EntryStatus.ACTIVE:
        defer(session=session, now=clock.now(), job=PROPAGATE_JOB, payload={"entry_ids": [entry.id]})
    return entry


def find_entries(*, session: Session, signal_type: str, values: Iterable[str]) -> list[BankEntry]:
    """Active entries, in enabled banks, with exactly these values (exact-hash lookups)."""
    digests = [value_digest(v) for v in values]
    if not digests:
        return []
    return list(session.scalars(
        select(BankEntry).join(Bank).where(
            BankEntry.signal_type == signal_type, BankEntry.value_digest.in_(digests),
            BankEntry.status == EntryStatus.ACTIVE, Bank.enabled.is_(True))))


def count_blocked_uploads(*, session: Session, entry_ids: Iterable[int], now: datetime, source: str,
                          sha256: str | None = None, placement_id: int | None = None) -> UploadRefusal | None:
    """Record one upload refused (``source="scan"``) or removed as it was posted (``"post"``) because of these
    entries: one refusal row however many entries caught it, and each entry's own counter."""
    ids = sorted(set(entry_ids))
    if not ids:
        return None
    # One atomic UPDATE: several processes may count at once.
    session.execute(update(BankEntry).where(BankEntry.id.in_(ids))
                    .values(blocked_uploads=BankEntry.blocked_uploads + 1))
    refusal = UploadRefusal(source=source, sha256=sha256, placement_id=placement_id, created_at=now)
    session.add(refusal)
    session.flush()
    session.add_all([UploadRefusalEntry(refusal_id=refusal.id, entry_id=i) for i in ids])
    return refusal


def refused_uploads(*, session: Session, entry_ids: Iterable[int]) -> int:
    """How many uploads any of these entries caught, each upload once."""
    ids = list(entry_ids)
    if not ids:
        return 0
    return int(session.scalar(select(func.count(func.distinct(UploadRefusalEntry.refusal_id)))
                              .where(UploadRefusalEntry.entry_id.in_(ids))) or 0)


def refused_placements(*, session: Session, entry_ids: Iterable[int]) -> set[int]:
    """The messages these entries caught as they were posted (re-uploads removed on posting): counted as refused
    uploads, so they are not also copies that were on the platform before."""
    ids = list(entry_ids)
    if not ids:
        return set()
    return set(session.scalars(select(UploadRefusal.placement_id).join(
        UploadRefusalEntry, UploadRefusalEntry.refusal_id == UploadRefusal.id)
        .where(UploadRefusalEntry.entry_id.in_(ids), UploadRefusal.placement_id.is_not(None)).distinct()))


def list_banks(*, session: Session) -> list[Bank]:
    return list(session.scalars(select(Bank).order_by(Bank.name)))


def entries_for_media(*, media: Media, blobs: BlobStore | None, limits: DecodeLimits, note: str | None = None
                      ) -> list[EntryInput]:
    """The entries that bank a stored media item: hashed again from its encrypted file where that is kept (so the
    entries carry its rotations, mirrors and scaled-up hashes), else from the hashes stored with it."""
    if media.blob_key and blobs is not None:
        try:
            data = blobs.get(media.blob_key)
            hashes = hash_bytes(data, limits)
            dense = video_frames(data, limits) if hashes.kind.value == "video" else ()
            return entries_for_hashes(hashes, media_id=media.id, note=note, dense_frames=dense)
        except (BlobError, UnhashableMedia):
            pass  # the file is gone or no longer decodes: its stored hashes still bank it
    entries = [EntryInput("sha256", media.sha256, media_id=media.id, note=note)]
    if media.md5:
        entries.append(EntryInput("md5", media.md5, media_id=media.id, note=note))
    if media.pdq and (media.pdq_quality or 0) >= 50:
        entries.append(EntryInput("pdq", media.pdq, quality=media.pdq_quality, media_id=media.id, note=note))
    return entries


def entry_frames(value: str, extra: dict[str, Any] | None) -> list[VpdqFrame]:
    """A vPDQ entry's frames for copy detection: four a second when it was banked from its file (``extra``), else
    its value's. Raises ValueError when neither parses."""
    dense = (extra or {}).get(DENSE_FRAMES)
    if isinstance(dense, str):
        try:
            return value_to_frames(dense)
        except ValueError:
            pass  # a damaged copy of the frames: the value still serves
    return value_to_frames(value)


def entries_for_hashes(hashes: MediaHashes, *, media_id: int | None = None, note: str | None = None,
                       dense_frames: Sequence[VpdqFrame] = ()) -> list[EntryInput]:
    """The entries that bank a file: its exact hashes and, when good enough, its PDQ (a picture) or vPDQ (a video).

    The PDQ entry keeps the file's eight rotations and mirrors (``extra.dihedral``), so that
    propagation also finds existing copies that were turned or mirrored; a picture under 512 px also keeps them
    scaled up (``extra.upscaled``), as small copies are indexed (media.pdq_upscaled). A video banked from its file
    keeps its frames four times a second beside the one-a-second vPDQ value (``extra.dense``, the same format):
    the value stays the exchange format, and the copy line finds clips with the dense frames.
    """
    entries = [EntryInput("sha256", hashes.sha256, media_id=media_id, note=note),
               EntryInput("md5", hashes.md5, media_id=media_id, note=note)]
    if hashes.kind.value == "image" and hashes.pdq.matchable:
        entries.append(EntryInput("pdq", hashes.pdq.value, quality=hashes.pdq.quality, media_id=media_id, note=note,
                                  extra={"dihedral": list(hashes.dihedral[1:]),
                                         **({"upscaled": list(hashes.upscaled_dihedral)}
                                            if hashes.upscaled_dihedral else {})}))
    if hashes.kind.value == "video" and any(frame.matchable for frame in hashes.vpdq):
        # Its frames, one a second: re-encoded copies and clips cut from it are found by the video index.
        entries.append(EntryInput("vpdq", frames_to_value(hashes.vpdq), media_id=media_id, note=note,
                                  extra={DENSE_FRAMES: frames_to_value(dense_frames)} if dense_frames else None))
    return entries
