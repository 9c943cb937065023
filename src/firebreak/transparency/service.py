"""Storing statements of reasons, finding them again, and exporting them in the Transparency Database's shape.

Every restrictive action and every refused upload gets one statement (``record``), built from Firebreak's facts by
``dsa.build_statement`` and validated before it is stored. Its puid is a keyed hash of the record it is about
(``dsa.derive_puid``), so recording the same action twice gives back the same statement. A reversal on appeal is
stored beside it (``record_reversal``) and marks the original reversed; it is an internal record, never exported.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.audit import service as audit
from firebreak.core.clock import Clock
from firebreak.transparency import dsa
from firebreak.transparency.models import StatementKind, StatementOfReasons

EXPORT_BATCH = 1000


@dataclass(frozen=True, kw_only=True)
class StatementLinks:
    """What a statement is about, kept beside its payload (never in it)."""

    ground: str
    action_id: int | None = None
    refused_upload_id: int | None = None
    order_item_id: int | None = None
    placement_id: int | None = None
    decision_id: int | None = None
    account_id: int | None = None
    chat_id: int | None = None
    decided_by_id: int | None = None


def puid_for(key: bytes, kind: str, local_id: int) -> str:
    return dsa.derive_puid(key=key, kind=kind, local_id=local_id)


def record(*, session: Session, clock: Clock, facts: dsa.StatementFacts, links: StatementLinks,
           actor: str = "system:transparency", audits: list[audit.PendingEvent] | None = None) -> StatementOfReasons:
    """Store the statement for one restrictive action (or return the one stored before: same puid).

    Raises ``dsa.StatementInvalid`` naming each field when the facts would make a statement the database refuses:
    nothing half-filled is ever stored. Batches pass ``audits``: the audit event is appended there, for the caller
    to write with the others (``audit.record_many``).
    """
    with session.no_autoflush:  # nothing pending bears on it; batches would flush once per statement for nothing
        existing = session.scalar(select(StatementOfReasons).where(StatementOfReasons.puid == facts.puid))
    if existing is not None:
        return existing
    statement = dsa.build_statement(facts=facts)
    row = StatementOfReasons(
        puid=facts.puid, kind=StatementKind.RESTRICTION, payload=statement.payload(),
        application_date=statement.application_date, decided_at=facts.decided_at,
        automated=facts.automated_decision == dsa.AutomatedDecision.FULLY, created_at=clock.now(),
        ground=links.ground, action_id=links.action_id, refused_upload_id=links.refused_upload_id,
        order_item_id=links.order_item_id, placement_id=links.placement_id, decision_id=links.decision_id,
        account_id=links.account_id, chat_id=links.chat_id, decided_by_id=links.decided_by_id)
    session.add(row)
    session.flush()
    event = audit.PendingEvent(actor=actor, action="statement.recorded", object_type="statement", object_id=row.id,
                               data={"puid": row.puid, "ground": links.ground, "action_id": links.action_id,
                                     "refused_upload_id": links.refused_upload_id, "automated": row.automated})
    if audits is not None:
        audits.append(event)
    else:
        audit.record_many(session=session, clock=clock, events=[event])
    return row


def record_reversal(*, session: Session, clock: Clock, key: bytes, original: StatementOfReasons, appeal_id: int,
                    decided_by_id: int, facts: str, actor: str, of_copy: bool = False) -> StatementOfReasons:
    """The record that a restriction was reversed on appeal; the original is marked reversed. Idempotent.

    ``of_copy``: the appeal was another person's, against the item this restriction's content was a copy of, and
    the item was found not to violate: one reversal per original statement, not per appeal."""
    puid = puid_for(key, "copy_reversal", original.id) if of_copy else puid_for(key, "reversal", appeal_id)
    existing = session.scalar(select(StatementOfReasons).where(StatementOfReasons.puid == puid))
    if existing is not None:
        return existing
    now = clock.now()
    row = StatementOfReasons(
        puid=puid, kind=StatementKind.REVERSAL, reverses_id=original.id, account_id=original.account_id,
        chat_id=original.chat_id, placement_id=original.placement_id, ground=original.ground, automated=False,
        decided_by_id=decided_by_id, decided_at=now, application_date=now.date(), created_at=now,
        payload={"reverses": original.puid, "application_date": now.date().isoformat(),
                 "decision_facts": dsa.scrub(facts)[:5000],
                 "automated_decision": dsa.AutomatedDecision.NOT_AUTOMATED.value})
    original.reversed_at = now
    session.add(row)
    session.flush()
    audit.record(session=session, clock=clock, actor=actor, action="statement.reversed", object_type="statement",
                 object_id=original.id, data={"puid": original.puid, "reversal": row.puid, "appeal_id": appeal_id})
    return row


def get(*, session: Session, statement_id: int) -> StatementOfReasons | None:
    return session.get(StatementOfReasons, statement_id)


def by_puid(*, session: Session, puid: str) -> StatementOfReasons | None:
    return session.scalar(select(StatementOfReasons).where(StatementOfReasons.puid == puid.strip()))


def for_action(*, session: Session, action_id: int) -> StatementOfReasons | None:
    return session.scalar(select(StatementOfReasons).where(StatementOfReasons.action_id == action_id))


def restrictions(*, session: Session, start: date | None = None, end: date | None = None,
                 batch: int = EXPORT_BATCH) -> Iterator[StatementOfReasons]:
    """Restriction statements applied from ``start`` to ``end`` (both included), in the order they were made."""
    last = 0
    while True:
        stmt = select(StatementOfReasons).where(StatementOfReasons.kind == StatementKind.RESTRICTION,
                                                StatementOfReasons.id > last)
        if start is not None:
            stmt = stmt.where(StatementOfReasons.application_date >= start)
        if end is not None:
            stmt = stmt.where(StatementOfReasons.application_date <= end)
        rows = list(session.scalars(stmt.order_by(StatementOfReasons.id).limit(batch)))
        if not rows:
            return
        yield from rows
        last = rows[-1].id


def payloads(*, session: Session, start: date | None = None, end: date | None = None) -> Iterator[dict[str, Any]]:
    for row in restrictions(session=session, start=start, end=end):
        yield dict(row.payload)


def export_file(*, session: Session, path: Path, start: date | None = None, end: date | None = None) -> int:
    """Write the period's statements to ``path`` as JSON lines, validated one by one; returns how many.

    Written to a temporary file beside ``path`` and renamed on success, so a failed export leaves no half file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            count = dsa.export_jsonl(payloads(session=session, start=start, end=end), fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return count
