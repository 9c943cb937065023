"""Building transparency reports: for any period (staff, the command line) and for the last complete period (the
public page)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy.orm import Session

from firebreak.core.clock import Clock
from firebreak.core.db.session import Database
from firebreak.transparency_reports.service import Report, build_report

Period = Literal["month", "quarter", "year"]


class ReportError(Exception):
    """A report cannot be built as asked; the message says why."""


@dataclass(frozen=True)
class TransparencyReportsDeps:
    db: Database
    clock: Clock
    platform: str
    provider: str
    public_period: Period = "quarter"


def last_complete_period(now: datetime, period: Period) -> tuple[datetime, datetime]:
    """The last calendar month, quarter or year that has ended by ``now`` (UTC): [start, end)."""
    now = now.astimezone(UTC)
    if period == "year":
        end = datetime(now.year, 1, 1, tzinfo=UTC)
        return end.replace(year=now.year - 1), end
    months = 3 if period == "quarter" else 1
    first = ((now.month - 1) // months) * months + 1
    end = datetime(now.year, first, 1, tzinfo=UTC)
    start_month, start_year = first - months, now.year
    if start_month < 1:
        start_month, start_year = start_month + 12, start_year - 1
    return datetime(start_year, start_month, 1, tzinfo=UTC), end


class TransparencyReports:
    def __init__(self, deps: TransparencyReportsDeps) -> None:
        self.deps = deps

    def build(self, *, start: datetime, end: datetime, categories: Collection[str] | None = None,
              session: Session | None = None) -> Report:
        """The report for ``[start, end)``, read in ``session`` (a request's) or in a transaction of its own."""
        if start.tzinfo is None or end.tzinfo is None:
            raise ReportError("the period's days must be in UTC")
        if end <= start:
            raise ReportError("the period ends before it starts: --to must be on or after --from")
        d = self.deps
        if session is not None:
            return build_report(session=session, start=start, end=end, generated_at=d.clock.now(),
                                platform=d.platform, provider=d.provider or d.platform, categories=categories)
        with d.db.transaction() as own:
            return self.build(start=start, end=end, categories=categories, session=own)

    def public(self, *, session: Session | None = None) -> Report:
        """The last complete period's figures, for the public page."""
        start, end = last_complete_period(self.deps.clock.now(), self.deps.public_period)
        return self.build(start=start, end=end, session=session)
