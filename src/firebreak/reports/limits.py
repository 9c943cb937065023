"""Rate limits against floods, in the database so that every process counts together.

Each limit is a fixed window per key: a keyed hash of the client address (``addr:...``, never the address itself) or
a case (``case:<reference>``). Over the limit the key is locked until the window ends; the caller answers 429 with
how long to wait. Old rows are swept as new ones are written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from firebreak.reports.models import VictimRateLimit


@dataclass(frozen=True)
class Limit:
    name: str  # part of the key: one counter per limit and subject
    count: int  # allowed in one window
    window: timedelta


# A person filing for themselves sends one or two reports; a victim-support centre may send more from one office.
REPORTS_PER_ADDRESS = Limit("reports", 20, timedelta(hours=1))
# Status links that lead nowhere, per address: a person mistyping a few times is fine; a guesser is stopped.
UNKNOWN_TOKENS_PER_ADDRESS = Limit("unknown-token", 20, timedelta(minutes=15))
# Wrong PINs, per case (whoever tries) and per address (whichever cases it tries).
WRONG_PINS_PER_CASE = Limit("wrong-pin", 5, timedelta(hours=1))
WRONG_PINS_PER_ADDRESS = Limit("wrong-pin", 20, timedelta(hours=1))
# Requests about one case (status pages, withdrawals): a page left open and reloaded stays well under it.
REQUESTS_PER_CASE = Limit("case-requests", 300, timedelta(hours=1))
# Update mails to one case's contact: milestones only, never more than this in a day.
MAILS_PER_CASE = Limit("mails", 8, timedelta(days=1))


class RateLimited(Exception):
    """Over a limit; ``retry_after`` is how long until it lifts."""

    def __init__(self, limit: Limit, retry_after: timedelta) -> None:
        super().__init__(f"too many {limit.name} requests; try again in {int(retry_after.total_seconds())} s")
        self.limit = limit
        self.retry_after = retry_after

    @property
    def seconds(self) -> int:
        return max(1, int(self.retry_after.total_seconds() + 0.999))


def _row(session: Session, key: str, now: datetime) -> VictimRateLimit:
    row = session.get(VictimRateLimit, key, with_for_update=True)
    if row is None:
        try:
            with session.begin_nested():  # another process may be counting the same key's first hit
                session.add(VictimRateLimit(key=key, count=0, window_started_at=now))
        except IntegrityError:
            pass
        row = session.get(VictimRateLimit, key, with_for_update=True, populate_existing=True)
        assert row is not None  # noqa: S101 - inserted above, by us or by the other process
    return row


def check(session: Session, limit: Limit, subject: str, now: datetime) -> None:
    """Raise RateLimited when ``subject`` is locked under ``limit`` (without counting)."""
    row = session.get(VictimRateLimit, f"{limit.name}:{subject}")
    if row is not None and row.locked_until is not None and row.locked_until > now:
        raise RateLimited(limit, row.locked_until - now)


def hit(session: Session, limit: Limit, subject: str, now: datetime) -> None:
    """Count one request of ``subject``; raise RateLimited when it is over the limit (and lock it)."""
    row = _row(session, f"{limit.name}:{subject}", now)
    if row.locked_until is not None and row.locked_until > now:
        raise RateLimited(limit, row.locked_until - now)
    if now - row.window_started_at >= limit.window:
        row.count, row.window_started_at, row.locked_until = 0, now, None
    row.count += 1
    if row.count > limit.count:
        row.locked_until = row.window_started_at + limit.window
        session.flush()
        raise RateLimited(limit, row.locked_until - now)
    session.flush()


def sweep(session: Session, now: datetime, older_than: timedelta = timedelta(days=2)) -> None:
    """Forget counters whose window and lock ended long ago."""
    cutoff = now - older_than
    session.execute(delete(VictimRateLimit).where(
        VictimRateLimit.window_started_at < cutoff,
        (VictimRateLimit.locked_until.is_(None)) | (VictimRateLimit.locked_until < cutoff)))


__all__ = ["MAILS_PER_CASE", "REPORTS_PER_ADDRESS", "REQUESTS_PER_CASE", "UNKNOWN_TOKENS_PER_ADDRESS",
           "WRONG_PINS_PER_ADDRESS", "WRONG_PINS_PER_CASE", "Limit", "RateLimited", "check", "hit", "sweep"]
