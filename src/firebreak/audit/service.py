"""Writing and verifying the audit chain.

Every state change calls :func:`record` inside the same transaction as the change, so
the change and its audit event commit together or not at all.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from firebreak.audit.models import AuditEvent
from firebreak.core.clock import Clock

GENESIS_HASH = "0" * 64
# Any constant works; it names the one advisory lock that serialises chain appends on PostgreSQL.
_PG_CHAIN_LOCK = 0x46495245  # "FIRE"


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return _iso(value)
    if hasattr(value, "value"):  # enums
        return value.value
    raise TypeError(f"not JSON-serialisable in an audit event: {type(value).__name__}")


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_hash(
    *, seq: int, occurred_at: datetime, actor: str, action: str, object_type: str, object_id: str, data: str,
    prev_hash: str,
) -> str:
    content = canonical_json(
        {
            "seq": seq,
            "occurred_at": _iso(occurred_at),
            "actor": actor,
            "action": action,
            "object_type": object_type,
            "object_id": object_id,
            "data": data,
            "prev_hash": prev_hash,
        }
    )
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def _lock_chain(session: Session) -> None:
    # SQLite transactions already start with BEGIN IMMEDIATE (see db.session): one writer at a time.
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_CHAIN_LOCK})


def record(
    *,
    session: Session,
    clock: Clock,
    actor: str,
    action: str,
    object_type: str,
    object_id: str | int,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the chain, in the caller's transaction."""
    _lock_chain(session)
    last = session.execute(select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)).first()
    seq, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS_HASH)
    occurred_at = clock.now()
    data_text = canonical_json(data or {})
    event = AuditEvent(
        seq=seq,
        occurred_at=occurred_at,
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        data=data_text,
        prev_hash=prev_hash,
    )
    event.hash = event_hash(
        seq=seq, occurred_at=occurred_at, actor=actor, action=action, object_type=object_type,
        object_id=str(object_id), data=data_text, prev_hash=prev_hash,
    )
    session.add(event)
    session.flush()
    return event


@dataclass(frozen=True)
class PendingEvent:
    actor: str
    action: str
    object_type: str
    object_id: str | int
    data: dict[str, Any] | None = None


def record_many(*, session: Session, clock: Clock, events: list[PendingEvent]) -> list[AuditEvent]:
    """Append several events in order with one chain lock, one head read and one flush (bulk work)."""
    if not events:
        return []
    _lock_chain(session)
    last = session.execute(select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)).first()
    seq, prev_hash = (last[0], last[1]) if last else (0, GENESIS_HASH)
    occurred_at = clock.now()
    rows = []
    for pending in events:
        seq += 1
        data_text = canonical_json(pending.data or {})
        row = AuditEvent(seq=seq, occurred_at=occurred_at, actor=pending.actor, action=pending.action,
                         object_type=pending.object_type, object_id=str(pending.object_id), data=data_text,
                         prev_hash=prev_hash)
        row.hash = event_hash(seq=seq, occurred_at=occurred_at, actor=pending.actor, action=pending.action,
                              object_type=pending.object_type, object_id=str(pending.object_id), data=data_text,
                              prev_hash=prev_hash)
        prev_hash = row.hash
        rows.append(row)
    session.add_all(rows)
    session.flush()
    return rows


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    events_checked: int
    head_hash: str
    problem: str | None = None
    first_bad_seq: int | None = None
    first_bad_id: int | None = None


def _walk(session: Session, batch: int = 5000) -> Iterator[AuditEvent]:
    last_id: int | None = None
    # Walk in storage order (id), so a row inserted behind our back shows where it landed.
    while True:
        stmt = select(AuditEvent).order_by(AuditEvent.id).limit(batch)
        if last_id is not None:
            stmt = stmt.where(AuditEvent.id > last_id)
        rows = list(session.scalars(stmt))
        if not rows:
            return
        yield from rows
        last_id = rows[-1].id
        session.expunge_all()


def verify(*, session: Session, expected_head: str | None = None) -> VerifyResult:
    """Walk the chain and name the first event that was altered, deleted or inserted out of order.

    ``expected_head`` is a head anchored earlier (printed by ``audit head``, written into an evidence package): the
    intact chain must still contain it. Events appended after it are fine; a chain cut before it, or rewritten, is
    not, since its hash covers every event up to it.
    """
    prev_hash = GENESIS_HASH
    expected_seq = 1
    count = 0
    anchored = expected_head is None or expected_head == GENESIS_HASH
    for event in _walk(session):
        where = f"event #{event.seq} (id {event.id}, {event.action} on {event.object_type} {event.object_id})"
        if event.seq != expected_seq:
            if event.seq > expected_seq:
                problem = (
                    f"{where}: events #{expected_seq}..#{event.seq - 1} are missing (deleted)"
                    if event.prev_hash != prev_hash
                    else f"{where}: numbered out of order after #{expected_seq - 1}"
                )
            else:
                problem = f"{where}: inserted out of order (expected #{expected_seq} at this place)"
            return VerifyResult(False, count, prev_hash, problem, event.seq, event.id)
        if event.prev_hash != prev_hash:
            problem = f"{where}: does not follow event #{expected_seq - 1} (previous event deleted or chain re-linked)"
            return VerifyResult(False, count, prev_hash, problem, event.seq, event.id)
        recomputed = event_hash(
            seq=event.seq, occurred_at=event.occurred_at, actor=event.actor, action=event.action,
            object_type=event.object_type, object_id=event.object_id, data=event.data, prev_hash=event.prev_hash,
        )
        if recomputed != event.hash:
            problem = f"{where}: content altered (hash does not match)"
            return VerifyResult(False, count, prev_hash, problem, event.seq, event.id)
        prev_hash = event.hash
        anchored = anchored or event.hash == expected_head
        expected_seq += 1
        count += 1
    if not anchored:
        problem = (
            f"chain ends at event #{expected_seq - 1} with head {prev_hash[:16]}... and nowhere holds the anchored "
            f"head {(expected_head or '')[:16]}... (events at the end deleted, or the chain rewritten)"
        )
        return VerifyResult(False, count, prev_hash, problem, expected_seq, None)
    return VerifyResult(True, count, prev_hash)


def head(*, session: Session) -> tuple[int, str]:
    last = session.execute(select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)).first()
    return (last[0], last[1]) if last else (0, GENESIS_HASH)
