"""Where a victim's report waits for a moderator: a small interface, and the default that needs nothing else.

``Reports`` calls :class:`ReviewQueue` when a report arrives (``enqueue``), again when its clock escalates it (a
higher priority), and when it leaves the queue (``withdraw``: decided, declined or withdrawn by the person). Each
call runs in the caller's transaction, so a report and its queue entry are written together or not at all.

The composition root connects the general review queue (``reports.review.InReviewQueue`` and the ``victim_report``
review kind, which decides through ``Reports.confirm`` / ``Reports.decline``). :class:`ReportList` keeps the queue
in the reports' own rows only (priority, deadline, status, shown on ``/console/reports``): for a deployment without
the review queue, and for tests.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from firebreak.audit import service as audit
from firebreak.core.clock import Clock

VICTIM_REPORT = "victim_report"


class ReviewQueue(Protocol):
    def enqueue(self, *, session: Session, kind: str, ref: str, priority: int, deadline: datetime | None,
                category: str, jurisdiction: str | None, title: str) -> None:
        """Put ``ref`` (a case number) in the queue, or raise its priority / bring its deadline forward."""
        ...

    def withdraw(self, *, session: Session, kind: str, ref: str, reason: str) -> None:
        """Take ``ref`` out of the queue: nothing is left to decide."""
        ...


class ReportList:
    """The default queue: the open reports themselves, shown on the console's reports page."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def enqueue(self, *, session: Session, kind: str, ref: str, priority: int, deadline: datetime | None,
                category: str, jurisdiction: str | None, title: str) -> None:
        audit.record(session=session, clock=self.clock, actor="system:reports", action="report.queued",
                     object_type="victim_report", object_id=ref,
                     data={"kind": kind, "priority": priority, "deadline": deadline, "category": category,
                           "jurisdiction": jurisdiction})

    def withdraw(self, *, session: Session, kind: str, ref: str, reason: str) -> None:
        audit.record(session=session, clock=self.clock, actor="system:reports", action="report.dequeued",
                     object_type="victim_report", object_id=ref, data={"kind": kind, "reason": reason})


__all__ = ["VICTIM_REPORT", "ReportList", "ReviewQueue"]
