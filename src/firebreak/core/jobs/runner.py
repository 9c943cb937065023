"""Running job rows: the registry of named handlers, and the runner that claims due rows and runs them.

A job is a ``ScheduledTask`` row (see outbox.py) plus a handler registered here under the job's stable name. The
runner claims rows with a lease, runs their handlers outside any transaction, and records the outcome: done, or
failed and due again after the retry policy's delay, or failed for good (``PermanentJobError``, or out of attempts).
Every worker runs :meth:`JobRunner.reconcile` on a timer, so rows whose queue message was lost, or whose worker died,
still run.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from firebreak.core.clock import Clock
from firebreak.core.db.session import Database
from firebreak.core.jobs import workers
from firebreak.core.jobs.models import ScheduledTask, TaskStatus
from firebreak.core.jobs.outbox import claim_due_tasks, defer
from firebreak.core.jobs.workers import WorkerIdentity
from firebreak.core.retry import RetryPolicy

log = logging.getLogger(__name__)

JobHandler = Callable[[dict[str, Any]], None]


class Priority(enum.IntEnum):
    """Which queued job a free worker runs first. A job's priority is declared where it is registered and is not
    stored in its row, so a release may change it (docs/decisions.md, "Jobs have priorities")."""

    BACKGROUND = -10  # nobody waits on it: a bank's rehash, statements for the EU database, purges
    NORMAL = 0  # the work itself: propagation, copy checks, removals
    PROMPT = 10  # a person waits on it now: an order's acknowledgement, a receipt, a victim's confirmation


class PermanentJobError(Exception):
    """A job that cannot succeed by retrying; its row is marked failed with this reason at once."""


@dataclass
class JobRegistry:
    """Stable job names to handlers. Names are storage keys: never rename one."""

    handlers: dict[str, JobHandler] = field(default_factory=dict)
    priorities: dict[str, Priority] = field(default_factory=dict)  # jobs not named here are NORMAL

    def register(self, name: str, handler: JobHandler, priority: Priority = Priority.NORMAL) -> None:
        if name in self.handlers:
            raise ValueError(f"job {name!r} registered twice")
        self.handlers[name] = handler
        if priority != Priority.NORMAL:
            self.priorities[name] = priority

    def register_all(self, handlers: dict[str, JobHandler], priorities: Mapping[str, Priority] | None = None
                     ) -> None:
        priorities = priorities or {}
        unknown = set(priorities) - set(handlers)
        if unknown:
            raise ValueError(f"priorities given for jobs not registered here: {sorted(unknown)}")
        for name, handler in handlers.items():
            self.register(name, handler, priorities.get(name, Priority.NORMAL))

    def priority(self, name: str) -> Priority:
        return self.priorities.get(name, Priority.NORMAL)

    def run(self, name: str, payload: dict[str, Any]) -> None:
        try:
            handler = self.handlers[name]
        except KeyError:
            raise LookupError(f"no job named {name!r}") from None
        handler(payload)


class JobRunner:
    """Claims due job rows and runs them. Safe to run in many threads and processes at once.

    ``releases`` give back other domains' leases (platform actions) of a worker that died; see ``workers.py``.
    """

    def __init__(self, *, db: Database, clock: Clock, registry: JobRegistry, lease: timedelta,
                 retry: RetryPolicy, dead_after: timedelta = timedelta(seconds=10),
                 identity: WorkerIdentity | None = None) -> None:
        self.db = db
        self.clock = clock
        self.registry = registry
        self.lease = lease
        self.retry = retry
        self.dead_after = dead_after
        self.identity = identity or WorkerIdentity()
        self.releases: list[workers.LeaseRelease] = []
        self.halting = threading.Event()  # set by a stopping worker: reconcile claims nothing more

    # -- this process as a worker ---------------------------------------------------------------------------------

    def register(self) -> None:
        """Say this process runs jobs, and take back at once what a dead predecessor on this host left."""
        self.halting.clear()  # a worker started again after a stop claims again
        with self.db.transaction() as session:
            workers.register(session=session, me=self.identity, now=self.clock.now())
        self.take_back()

    def heartbeat(self) -> None:
        with self.db.transaction() as session:
            workers.heartbeat(session=session, me=self.identity, now=self.clock.now())

    def take_back(self) -> int:
        """Release the leases of workers that died (their jobs and actions run again now)."""
        with self.db.transaction() as session:
            return workers.take_back(session=session, me=self.identity, now=self.clock.now(),
                                     dead_after=self.dead_after, releases=self.releases)

    def stop(self) -> None:
        """A clean stop: this process's leases are given back for others to take at once."""
        with self.db.transaction() as session:
            workers.stop(session=session, me=self.identity, now=self.clock.now(), releases=self.releases)

    def tick(self) -> int:
        """One pass of a worker's timer: heartbeat, take back a dead worker's leases, run what is due."""
        self.heartbeat()
        self.take_back()
        return self.reconcile()

    def submit(self, job: str, payload: dict[str, Any] | None = None) -> int:
        """Queue a job in a transaction of its own (callers inside a transaction use outbox.defer)."""
        if job not in self.registry.handlers:
            raise LookupError(f"no job named {job!r}")
        with self.db.transaction() as session:
            return defer(session=session, now=self.clock.now(), job=job, payload=payload).id

    def run_task(self, task_id: int) -> bool:
        """Claim one task row and run it, unless another worker has it. True if it ran."""
        return self._claim_and_run(task_id=task_id) > 0

    def reconcile(self) -> int:
        """Run every task that is due, or whose worker died, the most urgent first. Returns how many ran.

        It claims one task at a time: a claimed batch would be run one after another by this thread while other
        workers stood idle, and a prompt job that came due meanwhile would wait behind the whole batch."""
        ran = 0
        while not self.halting.is_set():
            count = self._claim_and_run(task_id=None)
            ran += count
            if count == 0:
                return ran
        return ran

    def halt(self) -> None:
        """Claim nothing more on the timer (a worker is stopping); what is running finishes."""
        self.halting.set()

    def _claim_and_run(self, *, task_id: int | None) -> int:
        with self.db.transaction() as session:
            claimed = [(t.id, t.job, dict(t.payload), t.attempts, t.claims) for t in claim_due_tasks(
                session=session, now=self.clock.now(), lease=self.lease, task_id=task_id, limit=1,
                owner=self.identity.id, priorities=self.registry.priorities)]
        for claimed_id, job, payload, attempts, claim in claimed:
            error: str | None = None
            permanent = False
            try:
                self.registry.run(job, {**payload, "task_id": claimed_id})
            except PermanentJobError as exc:
                error, permanent = str(exc)[:2000], True
            except Exception as exc:  # recorded and retried with backoff on a later pass
                log.warning("task %s (%s) failed, will retry: %s: %s", claimed_id, job, type(exc).__name__, exc,
                            exc_info=log.isEnabledFor(logging.DEBUG))
                error = f"{type(exc).__name__}: {exc}"[:2000]
            self._record(claimed_id, claim, attempts, error, permanent)
        return len(claimed)

    def _record(self, task_id: int, claim: int, attempts: int, error: str | None, permanent: bool) -> None:
        """Record how the run of ``claim`` went, unless the row moved on meanwhile: the job re-armed it (PENDING
        again), or it was re-armed and another worker claimed it (a later claim: that worker records its own run)."""
        with self.db.transaction() as session:
            task = session.get(ScheduledTask, task_id)
            if task is None or task.status != TaskStatus.RUNNING or task.claims != claim:
                return
            now = self.clock.now()
            task.lease_owner = None
            if error is None:
                task.status, task.done_at, task.lease_until = TaskStatus.DONE, now, None
                return
            task.last_error = error
            task.lease_until = None
            task.status = TaskStatus.FAILED if permanent or self.retry.gives_up(attempts) else TaskStatus.PENDING
            task.due_at = now + self.retry.delay(attempts)


__all__ = ["JobHandler", "JobRegistry", "JobRunner", "PermanentJobError", "Priority"]
