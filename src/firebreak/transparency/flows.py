"""Sending statements of reasons to the DSA Transparency Database, from the ``statements_of_reasons`` table.

A run sends what a stopped run left in flight, then pending statements in batches of at most 100 (see
``eu_database.py``). The store below commits after every call, so a crash at any point leaves each statement either
pending, in flight (sent again first, and counted as already accepted if the database had stored it) or with its
outcome: none is lost and none is stored twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import httpx

from firebreak.core.clock import Clock
from firebreak.core.db.session import Database
from firebreak.core.jobs.outbox import schedule
from firebreak.transparency import submissions as service
from firebreak.transparency.eu_database import (
    Outcome,
    QueuedStatement,
    SubmissionInterrupted,
    SubmissionReport,
    TransparencyDatabaseClient,
    TransparencyDatabaseConfig,
)

log = logging.getLogger(__name__)
SUBMIT_JOB = "transparency.submit_statements"
SUBMIT_KEY = "transparency.submit_statements:next"


class DatabaseSubmissionStore:
    """``eu_database.SubmissionStore`` over ``statement_submissions``: every call is its own committed transaction."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    def pending(self, limit: int) -> Sequence[QueuedStatement]:
        with self.db.transaction() as session:
            return service.pending_statements(session, limit)

    def in_flight(self) -> Sequence[QueuedStatement]:
        with self.db.transaction() as session:
            return service.in_flight_statements(session)

    def mark_in_flight(self, puids: Sequence[str], batch_id: str) -> None:
        with self.db.transaction() as session:
            service.mark_in_flight(session=session, now=self.clock.now(), puids=puids, batch_id=batch_id)

    def record(self, puid: str, outcome: Outcome, reason: str) -> None:
        with self.db.transaction() as session:
            service.record_outcome(session=session, now=self.clock.now(), puid=puid, outcome=outcome, reason=reason)


@dataclass(frozen=True)
class SubmissionDeps:
    db: Database
    clock: Clock
    config: TransparencyDatabaseConfig | None  # None: no database configured, nothing is sent
    interval: timedelta = timedelta(minutes=5)
    max_batches: int = 50  # per run; the next run carries on
    transport: httpx.BaseTransport | None = None
    sleep: Callable[[float], None] = field(default=time.sleep)
    monotonic: Callable[[], float] = field(default=time.monotonic)


class StatementSubmitter:
    def __init__(self, deps: SubmissionDeps) -> None:
        self.deps = deps

    @property
    def enabled(self) -> bool:
        return self.deps.config is not None

    def store(self) -> DatabaseSubmissionStore:
        return DatabaseSubmissionStore(self.deps.db, self.deps.clock)

    def submit(self) -> SubmissionReport | None:
        """One run: what was in flight, then up to ``max_batches`` batches. None when no database is configured.
        The next run is scheduled whatever happens; a run that stops leaves its batch in flight for it."""
        d = self.deps
        if d.config is None:
            return None
        try:
            with TransparencyDatabaseClient(d.config, transport=d.transport, sleep=d.sleep, monotonic=d.monotonic,
                                            clock=d.clock) as client:
                report = client.submit(self.store(), max_batches=d.max_batches)
        except SubmissionInterrupted as exc:
            log.warning("transparency database submission stopped: %s (%d accepted before); the next run resumes",
                        exc, exc.report.accepted)
            report = exc.report
        finally:
            self.schedule_next()
        return report

    def schedule_next(self, *, soon: bool = False) -> None:
        d = self.deps
        if d.config is None:
            return
        now = d.clock.now()
        with d.db.transaction() as session:
            schedule(session=session, job=SUBMIT_JOB, due_at=now if soon else now + d.interval, dedupe_key=SUBMIT_KEY,
                     now=now, keep_earlier=True)

    def counts(self) -> dict[str, int]:
        with self.deps.db.transaction() as session:
            return service.submission_counts(session)
