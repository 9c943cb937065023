"""Statements of reasons waiting for the DSA Transparency Database, and their outcomes (``statement_submissions``).

The statements themselves are rows of ``statements_of_reasons`` (their ``payload`` is what is sent; see service.py).
These functions take a session and never commit: ``flows.DatabaseSubmissionStore`` commits after each call, as the
submission client needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from firebreak.transparency.eu_database import Outcome, QueuedStatement
from firebreak.transparency.models import StatementOfReasons, StatementSubmission

SUBMITTED = (Outcome.ACCEPTED.value, Outcome.ALREADY_ACCEPTED.value)


def pending_statements(session: Session, limit: int) -> list[QueuedStatement]:
    """Up to ``limit`` statements not yet sent and not in flight, oldest first."""
    rows = session.execute(
        select(StatementOfReasons.puid, StatementOfReasons.payload)
        .outerjoin(StatementSubmission, StatementSubmission.puid == StatementOfReasons.puid)
        .where(or_(StatementSubmission.puid.is_(None),
                   and_(StatementSubmission.outcome.is_(None), StatementSubmission.batch_id.is_(None))))
        .order_by(StatementOfReasons.id).limit(limit))
    return [QueuedStatement(puid, dict(payload or {})) for puid, payload in rows]


def in_flight_statements(session: Session) -> list[QueuedStatement]:
    """Statements a stopped run left in flight, by batch."""
    rows = session.execute(
        select(StatementSubmission.puid, StatementSubmission.batch_id, StatementOfReasons.payload)
        .join(StatementOfReasons, StatementOfReasons.puid == StatementSubmission.puid)
        .where(StatementSubmission.outcome.is_(None), StatementSubmission.batch_id.is_not(None))
        .order_by(StatementSubmission.batch_id, StatementOfReasons.id))
    return [QueuedStatement(puid, dict(payload or {}), batch_id) for puid, batch_id, payload in rows]


def _submission(session: Session, puid: str) -> StatementSubmission:
    row = session.get(StatementSubmission, puid)
    if row is not None:
        return row
    statement_id = session.scalar(select(StatementOfReasons.id).where(StatementOfReasons.puid == puid))
    if statement_id is None:
        raise LookupError(f"no statement of reasons with puid {puid!r}")
    row = StatementSubmission(puid=puid, statement_id=statement_id)
    session.add(row)
    return row


def mark_in_flight(*, session: Session, now: datetime, puids: Sequence[str], batch_id: str) -> None:
    for puid in puids:
        row = _submission(session, puid)
        if row.outcome is not None:
            raise ValueError(f"statement {puid!r} already has an outcome ({row.outcome})")
        row.batch_id, row.attempted_at = batch_id, now


def record_outcome(*, session: Session, now: datetime, puid: str, outcome: Outcome, reason: str) -> None:
    """The statement's final outcome; its statement row says whether it reached the database."""
    row = _submission(session, puid)
    if row.outcome is not None:
        raise ValueError(f"statement {puid!r} already has an outcome ({row.outcome}); recorded twice")
    row.outcome, row.reason, row.batch_id, row.recorded_at = outcome.value, reason[:2000], None, now
    statement = session.scalar(select(StatementOfReasons).where(StatementOfReasons.puid == puid))
    if statement is not None:
        if outcome.value in SUBMITTED:
            statement.submitted_at, statement.submission_error = now, None
        else:
            statement.submission_error = f"{outcome.value}: {reason}"[:2000]


def submission_counts(session: Session) -> dict[str, int]:
    """How many statements stand where: pending, in_flight, and each outcome."""
    total = session.scalar(select(func.count()).select_from(StatementOfReasons)) or 0
    counts: dict[str, int] = {}
    for outcome, batch, n in session.execute(
            select(StatementSubmission.outcome, StatementSubmission.batch_id.is_not(None), func.count())
            .group_by(StatementSubmission.outcome, StatementSubmission.batch_id.is_not(None))):
        key = outcome or ("in_flight" if batch else "pending")
        counts[key] = counts.get(key, 0) + int(n)
    counts["pending"] = counts.get("pending", 0) + total - sum(counts.values())
    return counts
