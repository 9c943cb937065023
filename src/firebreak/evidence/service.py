"""Evidence: preserving what was removed, legal holds, retention purges, audited access, and key rotation.

Everything here takes a session and never commits; the flows own the transactions. Sealing is envelope encryption
(``sealing.py``); what goes with the media is gathered in ``context.py``.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from firebreak.audit import service as audit
from firebreak.audit.models import AuditEvent
from firebreak.cases.models import Case
from firebreak.core.blobs import BlobError, BlobStore
from firebreak.core.clock import Clock
from firebreak.core.jobs.outbox import schedule
from firebreak.evidence import context as gathering
from firebreak.evidence.models import (
    EvidenceMedia,
    EvidencePurge,
    EvidenceRecord,
    HoldScope,
    LegalHold,
    RecordStatus,
    Trigger,
)
from firebreak.evidence.package import CustodyEvent, iso
from firebreak.evidence.schemas import REASON_HINT, OrderScope
from firebreak.evidence.sealing import KeyEncryptionKeys, new_data_key, open_sealed, seal, unwrap, wrap
from firebreak.media.models import Placement
from firebreak.platform.models import Chat, PlatformAccount

PRESERVE_JOB = "evidence.preserve"
PURGE_JOB = "evidence.purge"
PRESERVE_KEY = "evidence.preserve:pending"
PURGE_KEY = "evidence.purge:daily"
_WOKEN = "firebreak.evidence.preserver_woken"
REMOVE_MESSAGE = "remove_message"
DONE = "done"


class EvidenceError(Exception):
    """A request about evidence that cannot be carried out; the message says why, for the person asking."""


class NotFound(EvidenceError):
    pass


# -- retention -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RetentionPolicy:
    """How long preserved evidence is kept, by category (a taxonomy name), unless a legal hold keeps it longer."""

    default_days: int = 90
    by_category: Mapping[str, int] = field(default_factory=lambda: {"csam": 365})
    hold_days: int = 90  # a new hold, and each extension

    def rule(self, category: str | None) -> tuple[int, str]:
        if category and category in self.by_category:
            days = self.by_category[category]
            return days, f"retention for {category}: {days} days"
        return self.default_days, f"default retention: {self.default_days} days"


def check_reason(reason: str | None) -> str:
    cleaned = (reason or "").strip()
    if not cleaned:
        raise EvidenceError(f"A reason is required to open preserved evidence: {REASON_HINT}.")
    if len(cleaned) > 1000:
        raise EvidenceError("The reason is longer than 1000 characters; say it in fewer words.")
    return cleaned


def new_uid() -> str:
    return secrets.token_hex(10)


# -- asking for preservation -----------------------------------------------------------------------------------------

class RemovedContent(Protocol):
    """What enforcement hands over when an action's outcome is recorded (an ``Action`` row fits)."""

    @property
    def id(self) -> int: ...

    @property
    def kind(self) -> str: ...

    @property
    def status(self) -> str: ...

    @property
    def placement_id(self) -> int | None: ...

    @property
    def media_id(self) -> int | None: ...

    @property
    def order_item_id(self) -> int | None: ...

    @property
    def match_id(self) -> int | None: ...

    @property
    def decision_id(self) -> int | None: ...

    @property
    def params(self) -> dict[str, Any]: ...


def wake_preserver(session: Session, now: datetime) -> None:
    """Make sure the preserve job runs soon (one job row works through every pending record)."""
    if session.info.get(_WOKEN):
        return
    schedule(session=session, job=PRESERVE_JOB, due_at=now, dedupe_key=PRESERVE_KEY, now=now, keep_earlier=True)
    session.info[_WOKEN] = True


def preserve_removed(*, session: Session, now: datetime, action: RemovedContent) -> EvidenceRecord | None:
    """The hook enforcement calls when an action's outcome is recorded: a message removed from the platform is
    preserved (media and context), asked for in the same transaction as the outcome. Anything else is ignored.

    The record waits (``AWAITING``) until enforcement has written the removal's statement of reasons and notice
    (:func:`removals_followed_up`), so that its sealed context holds them."""
    if action.kind != REMOVE_MESSAGE or action.status != DONE or action.placement_id is None:
        return None
    category = action.params.get("category") if isinstance(action.params, dict) else None
    record = EvidenceRecord(
        uid=new_uid(), dedupe_key=f"action:{action.id}", trigger=Trigger.REMOVAL, status=RecordStatus.AWAITING,
        category=str(category) if category else None, action_id=action.id, placement_id=action.placement_id,
        media_id=action.media_id, order_item_id=action.order_item_id, match_id=action.match_id,
        decision_id=action.decision_id, created_at=now)
    session.add(record)
    return record


def removals_followed_up(*, session: Session, now: datetime, action_ids: Sequence[int]) -> int:
    """The hook enforcement calls once due process ran for these actions: their records can be sealed now."""
    if not action_ids:
        return 0
    ready = list(session.scalars(update(EvidenceRecord).where(
        EvidenceRecord.action_id.in_(list(action_ids)), EvidenceRecord.status == RecordStatus.AWAITING)
        .values(status=RecordStatus.PENDING).returning(EvidenceRecord.id)
        .execution_options(synchronize_session=False)))
    if ready:
        wake_preserver(session, now)
    return len(ready)


def _request(session: Session, now: datetime, *, dedupe_key: str, trigger: Trigger, category: str | None,
             note: str, **refs: int | None) -> EvidenceRecord | None:
    """A preservation asked for by a hold; None when this very thing was already asked for."""
    session.flush()
    if session.scalar(select(EvidenceRecord.id).where(EvidenceRecord.dedupe_key == dedupe_key)) is not None:
        return None
    record = EvidenceRecord(uid=new_uid(), dedupe_key=dedupe_key, trigger=trigger, status=RecordStatus.PENDING,
                            category=category, note=note[:500], created_at=now, **refs)
    session.add(record)
    wake_preserver(session, now)
    return record


# -- sealing pending records -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Vault:
    """What sealing and opening need: blob storage and the key-encryption keys."""

    blobs: BlobStore
    keks: KeyEncryptionKeys


def _record_aad(uid: str) -> bytes:
    return f"firebreak-evidence:{uid}".encode()


def _media_aad(sha256: str) -> bytes:
    return f"firebreak-evidence-media:{sha256}".encode()


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def pending_records(session: Session, limit: int) -> list[EvidenceRecord]:
    stmt = (select(EvidenceRecord).where(EvidenceRecord.status == RecordStatus.PENDING)
            .order_by(EvidenceRecord.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return list(session.scalars(stmt))


def _seal_media(session: Session, vault: Vault, media_sha256: str, mime: str | None, data: bytes,
                now: datetime) -> EvidenceMedia:
    kept = session.scalar(select(EvidenceMedia).where(EvidenceMedia.sha256 == media_sha256))
    if kept is not None and kept.blob_key is not None:
        return kept
    data_key = new_data_key()
    blob_key = vault.blobs.put(seal(data_key, data, aad=_media_aad(media_sha256)))
    kek_id, wrapped = wrap(vault.keks, data_key, aad=_media_aad(media_sha256))
    if kept is None:
        kept = EvidenceMedia(sha256=media_sha256, mime_type=mime, size_bytes=len(data), created_at=now,
                             blob_key=blob_key, kek_id=kek_id, wrapped_key=wrapped)
        session.add(kept)
    else:  # purged before, preserved again
        kept.blob_key, kept.kek_id, kept.wrapped_key, kept.purged_at = blob_key, kek_id, wrapped, None
    session.flush()
    return kept


def seal_record(*, session: Session, clock: Clock, vault: Vault, retention: RetentionPolicy,
                record: EvidenceRecord, rows: gathering.Rows | None = None) -> EvidenceRecord:
    """Gather a pending record's context, seal it and its media, and start its retention period. ``rows`` keeps
    rows read for one record for the next ones of a batch."""
    now = clock.now()
    context, media = gathering.gather(rows or gathering.Rows(session), record, preserved_at=now)
    if media is not None:
        record.media_id = media.id
        data: bytes | None = None
        if media.blob_key:
            try:
                data = vault.blobs.get(media.blob_key)
            except BlobError as exc:
                context["media_bytes_missing"] = str(exc)
        if data is not None:
            if hashlib.sha256(data).hexdigest() != media.sha256:
                context["media_bytes_missing"] = "the stored file does not match its SHA-256; not preserved"
            else:
                record.evidence_media_id = _seal_media(session, vault, media.sha256, media.mime_type, data, now).id
    if record.placement_id and record.account_id is None and context.get("sender"):
        record.account_id = context["sender"]["id"]
    if record.placement_id and record.chat_id is None and context.get("chat"):
        record.chat_id = context["chat"]["id"]
    plaintext = canonical(context)
    data_key = new_data_key()
    aad = _record_aad(record.uid)
    record.context_blob_key = vault.blobs.put(seal(data_key, plaintext, aad=aad))
    record.kek_id, record.wrapped_key = wrap(vault.keks, data_key, aad=aad)
    record.context_sha256 = hashlib.sha256(plaintext).hexdigest()
    days, rule = retention.rule(record.category)
    record.preserved_at, record.retain_until, record.retention_rule = now, now + timedelta(days=days), rule
    record.status = RecordStatus.SEALED
    media_sha = context.get("media", {}).get("sha256")
    audit.record(session=session, clock=clock, actor="system:evidence", action="evidence.preserved",
                 object_type="evidence", object_id=record.uid,
                 data={"trigger": record.trigger.value, "category": record.category, "action_id": record.action_id,
                       "placement_id": record.placement_id, "account_id": record.account_id,
                       "chat_id": record.chat_id, "order_id": record.order_id, "case_id": record.case_id,
                       "media_sha256": media_sha, "media_bytes": record.evidence_media_id is not None,
                       "context_sha256": record.context_sha256, "retain_until": record.retain_until,
                       "rule": rule})
    return record


# -- legal holds -----------------------------------------------------------------------------------------------------

def _hold_event(session: Session, clock: Clock, actor: str, action: str, hold: LegalHold, **data: Any) -> None:
    audit.record(session=session, clock=clock, actor=actor, action=action, object_type="legal_hold",
                 object_id=hold.id, data={"scope": hold.scope.value, "subject_id": hold.subject_id,
                                          "label": hold.label, "expires_at": hold.expires_at, **data})


def place_hold(*, session: Session, clock: Clock, actor: str, scope: HoldScope, subject_id: int, label: str,
               reason: str, retention: RetentionPolicy, days: int | None = None, source: str = "staff",
               order_item_ids: Sequence[int] = (), placement_ids: Sequence[int] = ()) -> LegalHold:
    """Hold evidence about a subject: what is preserved survives purges until the hold ends. What is not yet
    preserved about an item, an account or a chat is preserved now (a snapshot)."""
    reason = check_reason(reason)
    now = clock.now()
    hold = LegalHold(scope=scope, subject_id=subject_id, label=label[:300], reason=reason, source=source,
                     placed_by=actor, placed_at=now, expires_at=now + timedelta(days=days or retention.hold_days),
                     order_item_ids=list(order_item_ids), placement_ids=list(placement_ids), extensions=[],
                     created_at=now)
    session.add(hold)
    session.flush()
    _hold_event(session, clock, actor, "evidence.hold_placed", hold, reason=reason, source=source)
    trigger = Trigger.PRESERVATION_REQUEST if source == "preservation_request" else Trigger.STAFF
    note = f"hold {hold.id}: {label}"
    if scope == HoldScope.ITEM:
        placement = session.get(Placement, subject_id)
        _request(session, now, dedupe_key=f"hold:{hold.id}:placement:{subject_id}", trigger=trigger, category=None,
                 note=note, placement_id=subject_id, media_id=placement.media_id if placement else None)
    elif scope == HoldScope.ACCOUNT:
        _request(session, now, dedupe_key=f"hold:{hold.id}:account:{subject_id}", trigger=trigger, category=None,
                 note=note, account_id=subject_id)
    elif scope == HoldScope.CHAT:
        _request(session, now, dedupe_key=f"hold:{hold.id}:chat:{subject_id}", trigger=trigger, category=None,
                 note=note, chat_id=subject_id)
    elif scope == HoldScope.CASE:
        case = session.get(Case, subject_id)
        if case is not None and case.media_id is not None:
            _request(session, now, dedupe_key=f"hold:{hold.id}:case-media:{case.media_id}", trigger=trigger,
                     category=case.category, note=note, media_id=case.media_id, case_id=case.id)
    return hold


def place_hold_for_order(*, session: Session, clock: Clock, actor: str, scope: OrderScope, reason: str,
                         retention: RetentionPolicy, days: int | None = None,
                         source: str = "preservation_request") -> LegalHold:
    """A preservation request (an order whose requested action is "preserve"), or a staff member's hold on an order:
    hold the order's items and preserve each now, with its context, without removing anything. Called with what the
    order covers, as the orders domain sees it."""
    hold = place_hold(session=session, clock=clock, actor=actor, scope=HoldScope.ORDER, subject_id=scope.order_id,
                      label=f"order {scope.tracking_id}" + (f" ({scope.authority})" if scope.authority else ""),
                      reason=reason, retention=retention, days=days, source=source,
                      order_item_ids=scope.order_item_ids, placement_ids=scope.placement_ids)
    now = clock.now()
    trigger = Trigger.PRESERVATION_REQUEST if source == "preservation_request" else Trigger.STAFF
    note = (f"preservation request {scope.tracking_id}" if trigger == Trigger.PRESERVATION_REQUEST
            else f"hold {hold.id} on order {scope.tracking_id}")
    for item in scope.items:
        refs: dict[str, int | None] = {"order_id": scope.order_id, "order_item_id": item.order_item_id,
                                       "case_id": scope.case_id}
        for placement_id in item.placement_ids:
            _request(session, now, dedupe_key=f"order:{scope.order_id}:placement:{placement_id}",
                     trigger=trigger, category=scope.category, note=note,
                     placement_id=placement_id, **refs)
        if not item.placement_ids and item.media_id is not None:
            _request(session, now, dedupe_key=f"order:{scope.order_id}:media:{item.media_id}",
                     trigger=trigger, category=scope.category, note=note,
                     media_id=item.media_id, **refs)
        if item.chat_id is not None:
            _request(session, now, dedupe_key=f"order:{scope.order_id}:chat:{item.chat_id}",
                     trigger=trigger, category=scope.category, note=note,
                     chat_id=item.chat_id, **refs)
    return hold


def get_hold(session: Session, hold_id: int) -> LegalHold:
    hold = session.get(LegalHold, hold_id)
    if hold is None:
        raise NotFound(f"There is no legal hold {hold_id}.")
    return hold


def extend_hold(*, session: Session, clock: Clock, actor: str, hold_id: int, reason: str,
                retention: RetentionPolicy, days: int | None = None) -> LegalHold:
    """Another period (90 days by default, as a US preservation request may be extended once by 90 more)."""
    reason = check_reason(reason)
    hold = get_hold(session, hold_id)
    if hold.released_at is not None:
        raise EvidenceError(f"Legal hold {hold.id} was released on {hold.released_at:%Y-%m-%d}; place a new one.")
    now = clock.now()
    previous = hold.expires_at
    hold.expires_at = max(previous, now) + timedelta(days=days or retention.hold_days)
    hold.extensions = [*hold.extensions, {"at": iso(now), "by": actor, "reason": reason,
                                          "from": iso(previous), "until": iso(hold.expires_at)}]
    _hold_event(session, clock, actor, "evidence.hold_extended", hold, reason=reason, previous_expiry=previous)
    return hold


def release_hold(*, session: Session, clock: Clock, actor: str, hold_id: int, reason: str) -> LegalHold:
    reason = check_reason(reason)
    hold = get_hold(session, hold_id)
    if hold.released_at is None:
        hold.released_at, hold.released_by, hold.release_reason = clock.now(), actor, reason
        _hold_event(session, clock, actor, "evidence.hold_released", hold, reason=reason)
    return hold


def is_active(hold: LegalHold, now: datetime) -> bool:
    return hold.released_at is None and hold.expires_at > now


@dataclass
class Holds:
    """Every hold in force at one moment, to test records against."""

    by_scope: dict[str, dict[int, list[str]]] = field(default_factory=dict)

    def add(self, kind: str, subject: int | None, label: str) -> None:
        if subject is not None:
            self.by_scope.setdefault(kind, {}).setdefault(subject, []).append(label)

    def holding(self, record: EvidenceRecord) -> list[str]:
        found: list[str] = []
        for kind, subject in (("placement", record.placement_id), ("account", record.account_id),
                              ("chat", record.chat_id), ("order", record.order_id),
                              ("order_item", record.order_item_id), ("case", record.case_id),
                              ("media", record.media_id)):
            if subject is not None:
                found += self.by_scope.get(kind, {}).get(subject, [])
        return sorted(set(found))


def holds_in_force(session: Session, now: datetime) -> Holds:
    holds = Holds()
    for hold in session.scalars(select(LegalHold).where(LegalHold.released_at.is_(None), LegalHold.expires_at > now)):
        label = f"hold {hold.id} ({hold.label}) until {hold.expires_at:%Y-%m-%d}"
        kind = {HoldScope.ITEM: "placement", HoldScope.ACCOUNT: "account", HoldScope.CHAT: "chat",
                HoldScope.ORDER: "order", HoldScope.CASE: "case"}[hold.scope]
        holds.add(kind, hold.subject_id, label)
        for item_id in hold.order_item_ids:
            holds.add("order_item", item_id, label)
        for placement_id in hold.placement_ids:
            holds.add("placement", placement_id, label)
    # Cases flagged for legal hold in the cases table count too (until their date, or indefinitely).
    for case in session.scalars(select(Case).where(Case.legal_hold.is_(True))):
        if case.legal_hold_until is None or case.legal_hold_until > now:
            label = f"case {case.reference} legal hold"
            holds.add("case", case.id, label)
            holds.add("media", case.media_id, label)
    return holds


def list_holds(session: Session) -> list[LegalHold]:
    return list(session.scalars(select(LegalHold).order_by(LegalHold.id)))


# -- retention purges ------------------------------------------------------------------------------------------------

@dataclass
class PurgeStep:
    purged: int = 0
    kept_by_hold: int = 0
    cursor: int = 0
    done: bool = False


def purge_due(*, session: Session, clock: Clock, blobs: BlobStore, after_id: int = 0, limit: int = 200) -> PurgeStep:
    """Purge up to ``limit`` sealed records whose retention ran out and that no hold keeps, from id ``after_id``.
    The encrypted blobs are deleted (a file's bytes only when no other record keeps them); a tombstone and an audit
    event say what went, when and under which rule."""
    now = clock.now()
    step = PurgeStep(cursor=after_id)
    due = list(session.scalars(select(EvidenceRecord).where(
        EvidenceRecord.status == RecordStatus.SEALED, EvidenceRecord.retain_until <= now,
        EvidenceRecord.id > after_id).order_by(EvidenceRecord.id).limit(limit)))
    if not due:
        step.done = True
        return step
    holds = holds_in_force(session, now)
    for record in due:
        step.cursor = record.id
        if holds.holding(record):
            step.kept_by_hold += 1
            continue
        _purge(session, clock, blobs, record, now)
        step.purged += 1
    step.done = len(due) < limit
    return step


def _purge(session: Session, clock: Clock, blobs: BlobStore, record: EvidenceRecord, now: datetime) -> None:
    deleted: list[str] = []
    if record.context_blob_key:
        blobs.delete(record.context_blob_key)
        deleted.append(record.context_blob_key)
    media = session.get(EvidenceMedia, record.evidence_media_id) if record.evidence_media_id else None
    record.status, record.purged_at = RecordStatus.PURGED, now
    record.context_blob_key, record.wrapped_key = None, None
    session.flush()
    media_deleted = False
    if media is not None and media.blob_key is not None:
        still_kept = session.scalar(select(func.count()).select_from(EvidenceRecord).where(
            EvidenceRecord.evidence_media_id == media.id, EvidenceRecord.status != RecordStatus.PURGED))
        if not still_kept:
            blobs.delete(media.blob_key)
            deleted.append(media.blob_key)
            media.blob_key, media.wrapped_key, media.purged_at = None, None, now
            media_deleted = True
    rule = record.retention_rule or "retention"
    preserved_at, retain_until = record.preserved_at or now, record.retain_until or now  # sealed: both are set
    event = audit.record(session=session, clock=clock, actor="system:evidence", action="evidence.purged",
                         object_type="evidence", object_id=record.uid,
                         data={"rule": rule, "category": record.category, "preserved_at": preserved_at,
                               "retain_until": retain_until,
                               "media_sha256": media.sha256 if media else None, "media_deleted": media_deleted,
                               "context_sha256": record.context_sha256})
    session.add(EvidencePurge(record_id=record.id, record_uid=record.uid, purged_at=now, rule=rule,
                              category=record.category, preserved_at=preserved_at,
                              retain_until=retain_until, media_sha256=media.sha256 if media else None,
                              media_deleted=media_deleted, context_sha256=record.context_sha256,
                              deleted_blobs=deleted, audit_seq=event.seq))


@dataclass(frozen=True)
class PurgeCheck:
    purge: EvidencePurge
    problem: str | None


def check_purges(*, session: Session, blobs: BlobStore, since: datetime | None = None,
                 until: datetime | None = None) -> list[PurgeCheck]:
    """Each purge in the period, checked afterwards: its audit event says the same, the record is marked purged,
    and its encrypted blobs are really gone."""
    stmt = select(EvidencePurge).order_by(EvidencePurge.purged_at, EvidencePurge.id)
    if since is not None:
        stmt = stmt.where(EvidencePurge.purged_at >= since)
    if until is not None:
        stmt = stmt.where(EvidencePurge.purged_at < until)
    checks = []
    for purge in session.scalars(stmt):
        checks.append(PurgeCheck(purge, _check_purge(session, blobs, purge)))
    return checks


def _check_purge(session: Session, blobs: BlobStore, purge: EvidencePurge) -> str | None:
    event = session.scalar(select(AuditEvent).where(AuditEvent.seq == purge.audit_seq))
    if event is None or event.action != "evidence.purged" or event.object_id != purge.record_uid:
        return f"audit event #{purge.audit_seq} is not this purge (missing or different)"
    data = json.loads(event.data)
    if (data.get("rule"), data.get("media_sha256"), data.get("context_sha256")) != (
            purge.rule, purge.media_sha256, purge.context_sha256):
        return f"audit event #{purge.audit_seq} records a different rule or hashes"
    record = session.get(EvidenceRecord, purge.record_id)
    if record is None or record.status != RecordStatus.PURGED or record.context_blob_key or record.wrapped_key:
        return "the record is not marked purged, or still has its key or blob"
    for key in purge.deleted_blobs:
        try:
            blobs.get(key)
        except BlobError:
            continue  # gone, as it should be
        return f"encrypted blob {key} still exists"
    return None


def schedule_daily_purge(*, session: Session, now: datetime, at_hour: int = 3) -> None:
    """The next purge run: tomorrow (UTC) at ``at_hour``, as a job row."""
    due = (now + timedelta(days=1)).replace(hour=at_hour, minute=0, second=0, microsecond=0)
    schedule(session=session, job=PURGE_JOB, due_at=due, dedupe_key=PURGE_KEY, now=now, keep_earlier=True)


# -- finding and opening evidence ----------------------------------------------------------------------------------

def get_record(session: Session, uid: str) -> EvidenceRecord:
    record = session.scalar(select(EvidenceRecord).where(EvidenceRecord.uid == uid))
    if record is None:
        raise NotFound(f"There is no evidence record {uid!r}.")
    return record


def records_for(session: Session, *, order: OrderScope | None = None, case_id: int | None = None,
                case_media_id: int | None = None, orders_of_case: Iterable[OrderScope] = ()) -> list[EvidenceRecord]:
    conditions = []
    for scope in ([order] if order else []) + list(orders_of_case):
        conditions.append(EvidenceRecord.order_id == scope.order_id)
        if scope.order_item_ids:
            conditions.append(EvidenceRecord.order_item_id.in_(scope.order_item_ids))
        if scope.placement_ids:
            conditions.append(EvidenceRecord.placement_id.in_(scope.placement_ids))
    if case_id is not None:
        conditions.append(EvidenceRecord.case_id == case_id)
    if case_media_id is not None:
        conditions.append(EvidenceRecord.media_id == case_media_id)
    if not conditions:
        return []
    return list(session.scalars(select(EvidenceRecord).where(or_(*conditions)).order_by(EvidenceRecord.id)))


@dataclass(frozen=True)
class OpenedRecord:
    record: EvidenceRecord
    context: dict[str, Any]
    context_bytes: bytes
    media: bytes | None
    media_sha256: str | None
    media_type: str | None


def open_record(*, session: Session, vault: Vault, record: EvidenceRecord) -> OpenedRecord:
    """Decrypt a sealed record. Callers audit the access (``audit_access``) in the same transaction."""
    if record.status == RecordStatus.PURGED:
        raise EvidenceError(f"Evidence record {record.uid} was purged on {record.purged_at:%Y-%m-%d} "
                            f"({record.retention_rule}); nothing of it is left but its tombstone.")
    if record.status != RecordStatus.SEALED or not record.context_blob_key or not record.wrapped_key:
        raise EvidenceError(f"Evidence record {record.uid} is still being preserved; try again in a minute.")
    aad = _record_aad(record.uid)
    data_key = unwrap(vault.keks, record.kek_id or "", record.wrapped_key, aad=aad)
    plaintext = open_sealed(data_key, vault.blobs.get(record.context_blob_key), aad=aad)
    media_bytes = media_sha = media_type = None
    media = session.get(EvidenceMedia, record.evidence_media_id) if record.evidence_media_id else None
    if media is not None and media.blob_key and media.wrapped_key:
        media_key = unwrap(vault.keks, media.kek_id, media.wrapped_key, aad=_media_aad(media.sha256))
        media_bytes = open_sealed(media_key, vault.blobs.get(media.blob_key), aad=_media_aad(media.sha256))
        media_sha, media_type = media.sha256, media.mime_type
    return OpenedRecord(record, json.loads(plaintext), plaintext, media_bytes, media_sha, media_type)


def audit_access(*, session: Session, clock: Clock, actor: str, records: Sequence[EvidenceRecord], reason: str,
                 purpose: str, package_id: str | None = None) -> None:
    """One audit event per record opened: who, why, and what for (view, export, package)."""
    audit.record_many(session=session, clock=clock, events=[
        audit.PendingEvent(actor=actor, action=f"evidence.{purpose}", object_type="evidence", object_id=r.uid,
                           data={"reason": reason, "package_id": package_id}) for r in records])


def custody_events(session: Session, *, records: Sequence[EvidenceRecord], extra: Mapping[str, Iterable[str]] = (
        {})) -> list[CustodyEvent]:
    """The audit events about these records and what they are about, in chain order."""
    objects: dict[str, set[str]] = {"evidence": {r.uid for r in records}}
    for r in records:
        for kind, value in (("action", r.action_id), ("match", r.match_id), ("platform_account", r.account_id),
                            ("chat", r.chat_id)):
            if value is not None:
                objects.setdefault(kind, set()).add(str(value))
    for kind, values in dict(extra).items():
        objects.setdefault(kind, set()).update(values)
    conditions = [and_(AuditEvent.object_type == kind, AuditEvent.object_id.in_(sorted(ids)))
                  for kind, ids in objects.items() if ids]
    rows = session.scalars(select(AuditEvent).where(or_(*conditions)).order_by(AuditEvent.seq))
    return [CustodyEvent(seq=e.seq, occurred_at=iso(e.occurred_at), actor=e.actor, action=e.action,
                         object_type=e.object_type, object_id=e.object_id, data=e.data, prev_hash=e.prev_hash,
                         hash=e.hash) for e in rows]


def describe(record: EvidenceRecord, holds: Holds, media_sha256: str | None) -> dict[str, Any]:
    return {"uid": record.uid, "trigger": record.trigger.value, "status": record.status.value,
            "category": record.category, "placement_id": record.placement_id, "media_sha256": media_sha256,
            "order_id": record.order_id, "case_id": record.case_id, "preserved_at": record.preserved_at,
            "retain_until": record.retain_until, "retention_rule": record.retention_rule,
            "held_by": holds.holding(record)}


# -- key rotation ------------------------------------------------------------------------------------------------------

@dataclass
class RotationStep:
    rewrapped_records: int = 0
    rewrapped_media: int = 0
    done: bool = False


def rotate_keys_batch(*, session: Session, vault: Vault, limit: int = 200) -> RotationStep:
    """Re-wrap up to ``limit`` data keys under the current KEK. Each new wrapping is unwrapped again and the sealed
    part it opens is opened before the batch is kept, so a wrong key can lose nothing."""
    current = vault.keks.current_id
    step = RotationStep()
    records = list(session.scalars(select(EvidenceRecord).where(
        EvidenceRecord.wrapped_key.is_not(None), EvidenceRecord.kek_id != current).order_by(EvidenceRecord.id)
        .limit(limit)))
    for record in records:
        aad = _record_aad(record.uid)
        if record.wrapped_key is None or record.context_blob_key is None:
            continue  # not selected: only records with a wrapped key are
        data_key = unwrap(vault.keks, record.kek_id or "", record.wrapped_key, aad=aad)
        kek_id, wrapped = wrap(vault.keks, data_key, aad=aad)
        open_sealed(unwrap(vault.keks, kek_id, wrapped, aad=aad), vault.blobs.get(record.context_blob_key), aad=aad)
        record.kek_id, record.wrapped_key = kek_id, wrapped
        step.rewrapped_records += 1
    room = limit - len(records)
    media_rows = list(session.scalars(select(EvidenceMedia).where(
        EvidenceMedia.wrapped_key.is_not(None), EvidenceMedia.kek_id != current).order_by(EvidenceMedia.id)
        .limit(max(room, 0)))) if room > 0 else []
    for media in media_rows:
        aad = _media_aad(media.sha256)
        if media.wrapped_key is None or media.blob_key is None:
            continue
        data_key = unwrap(vault.keks, media.kek_id, media.wrapped_key, aad=aad)
        kek_id, wrapped = wrap(vault.keks, data_key, aad=aad)
        open_sealed(unwrap(vault.keks, kek_id, wrapped, aad=aad), vault.blobs.get(media.blob_key), aad=aad)
        media.kek_id, media.wrapped_key = kek_id, wrapped
        step.rewrapped_media += 1
    step.done = len(records) < limit and len(media_rows) < max(room, 0)
    return step


def keys_in_use(session: Session) -> dict[str, int]:
    counts: dict[str, int] = {}
    for model in (EvidenceRecord, EvidenceMedia):
        for kek_id, n in session.execute(select(model.kek_id, func.count()).where(model.wrapped_key.is_not(None))
                                         .group_by(model.kek_id)):
            counts[str(kek_id)] = counts.get(str(kek_id), 0) + int(n)
    return counts


# -- subjects of holds -------------------------------------------------------------------------------------------------

def resolve_subject(session: Session, scope: HoldScope, subject: str) -> tuple[int, str]:
    """The id and a label for a hold's subject as a person names it (an id; for orders and cases, the caller)."""
    text = subject.strip()
    if scope in (HoldScope.ITEM, HoldScope.ACCOUNT, HoldScope.CHAT):
        if not text.isdigit():
            raise EvidenceError(f"For a hold on a {scope.value}, give its Firebreak id (a number), not {text!r}.")
        ident = int(text)
        if scope == HoldScope.ITEM:
            placement = session.get(Placement, ident)
            if placement is None:
                raise NotFound(f"There is no item (placement) {ident}.")
            return ident, f"message {placement.message_external_id} in chat {placement.chat_external_id}"
        if scope == HoldScope.ACCOUNT:
            account = session.get(PlatformAccount, ident)
            if account is None:
                raise NotFound(f"There is no account {ident}.")
            return ident, f"account {account.external_id}"
        chat = session.get(Chat, ident)
        if chat is None:
            raise NotFound(f"There is no chat {ident}.")
        return ident, f"chat {chat.external_id}"
    if scope == HoldScope.CASE:
        case = session.scalar(select(Case).where(Case.reference == text))
        if case is None:
            raise NotFound(f"There is no case {text!r}.")
        return case.id, f"case {case.reference}"
    raise EvidenceError("A hold on an order is placed with the order (see place_hold_for_order).")


__all__ = [
    "PRESERVE_JOB", "PURGE_JOB", "EvidenceError", "Holds", "NotFound", "OpenedRecord", "RemovedContent",
    "RetentionPolicy", "Vault", "audit_access", "check_purges", "check_reason", "custody_events", "extend_hold",
    "holds_in_force", "open_record", "place_hold", "place_hold_for_order", "preserve_removed", "purge_due",
    "records_for", "release_hold", "rotate_keys_batch", "seal_record",
]
