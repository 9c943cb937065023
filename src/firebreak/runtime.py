"""The running system: settings, database, clock and job queue, built once and passed in."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy.orm import Session, sessionmaker

from firebreak.clock import Clock, SystemClock
from firebreak.config import Settings
from firebreak.db.session import engine_from_settings, make_engine, make_session_factory, transaction
from firebreak.enforcement.service import StrikePolicy
from firebreak.jobs.models import ScheduledTask, TaskStatus
from firebreak.jobs.queue import JobQueue, JobRegistry, PermanentJobError, Worker, build_huey
from firebreak.jobs.service import claim_due_tasks, defer, take_deferred
from firebreak.matching.service import IndexSet
from firebreak.media.blobs import LocalBlobStore, blob_store_from_settings
from firebreak.platform.registry import Adapters
from firebreak.signals.decode import DecodeLimits

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 8


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Clock
    registry: JobRegistry
    jobs: JobQueue
    blobs: LocalBlobStore
    indexes: IndexSet
    strike_policy: StrikePolicy
    adapters: Adapters = field(init=False)
    extras: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.adapters = Adapters(self)

    @property
    def decode_limits(self) -> DecodeLimits:
        s = self.settings
        return DecodeLimits(max_bytes=s.max_upload_bytes, max_pixels=s.max_image_pixels,
                            max_frames=s.max_video_frames, max_seconds=s.max_decode_seconds)

    def transaction(self) -> Any:
        return transaction(self.sessions)

    def submit(self, job: str, payload: dict[str, Any] | None = None) -> int:
        """Queue a job in a transaction of its own (callers inside a transaction use jobs.service.defer)."""
        if job not in self.registry.handlers:
            raise LookupError(f"no job named {job!r}")
        with self.transaction() as session:
            return defer(session=session, now=self.clock.now(), job=job, payload=payload).id

    def run_task(self, task_id: int) -> bool:
        """Claim one task row and run it, unless another worker has it. True if it ran."""
        return self._claim_and_run(task_id=task_id) > 0

    def reconcile(self) -> int:
        """Run every task that is due, or whose worker died. Safe to run from many workers at once."""
        ran = 0
        while True:
            count = self._claim_and_run(task_id=None)
            ran += count
            if count == 0:
                return ran

    def _claim_and_run(self, *, task_id: int | None) -> int:
        lease = timedelta(seconds=self.settings.job_lease_seconds)
        with self.transaction() as session:
            claimed = [(t.id, t.job, dict(t.payload), t.attempts) for t in claim_due_tasks(
                session=session, now=self.clock.now(), lease=lease, task_id=task_id, limit=20)]
        for claimed_id, job, payload, attempts in claimed:
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
            with self.transaction() as session:
                task = session.get(ScheduledTask, claimed_id)
                if task is None or task.status != TaskStatus.RUNNING:
                    continue
                if error is None:
                    task.status, task.done_at, task.lease_until = TaskStatus.DONE, self.clock.now(), None
                else:
                    task.last_error = error
                    task.status = TaskStatus.FAILED if permanent or attempts >= MAX_ATTEMPTS else TaskStatus.PENDING
                    task.due_at = self.clock.now() + timedelta(seconds=min(3600, 5 * 2**attempts))
        return len(claimed)

    def worker(self) -> Worker:
        return Worker(self.jobs, threads=self.settings.worker_threads, reconcile=self.reconcile,
                      tick_seconds=self.settings.reconcile_interval_seconds)

    def close(self) -> None:
        self.engine.dispose()


def build_runtime(
    settings: Settings,
    *,
    clock: Clock | None = None,
    engine: Engine | None = None,
    bind: Connection | None = None,
    immediate_jobs: bool = False,
) -> Runtime:
    """Build the runtime. ``bind`` (tests) runs every transaction as a savepoint on one connection."""
    import firebreak.db.models  # noqa: F401  (every table, so that foreign keys between domains resolve)

    engine = engine or engine_from_settings(settings)
    if bind is not None:
        sessions = sessionmaker(bind=bind, expire_on_commit=False, join_transaction_mode="create_savepoint")
    else:
        sessions = make_session_factory(engine)
    registry = JobRegistry()
    holder: list[Runtime] = []
    queue = JobQueue(build_huey(settings, immediate=immediate_jobs), lambda task_id: holder[0].run_task(task_id))

    @event.listens_for(sessions, "after_commit")
    def _send_deferred(session: Session) -> None:
        for task_id in take_deferred(session):
            try:
                queue.nudge(task_id)
            except Exception:  # the row is committed; the reconciler will run it
                log.warning("could not nudge a worker for task %s; the reconciler will run it", task_id)

    @event.listens_for(sessions, "after_rollback")
    def _drop_deferred(session: Session) -> None:
        take_deferred(session)

    runtime = Runtime(
        settings=settings, engine=engine, sessions=sessions, clock=clock or SystemClock(), registry=registry,
        jobs=queue, blobs=blob_store_from_settings(settings), indexes=IndexSet(),
        strike_policy=StrikePolicy(account_restrict_at=settings.account_restrict_strikes,
                                   account_suspend_at=settings.account_suspend_strikes,
                                   chat_suspend_at=settings.chat_suspend_strikes),
    )
    holder.append(runtime)
    from firebreak.jobs.registry import register_all_jobs

    register_all_jobs(runtime)
    return runtime


__all__ = ["Runtime", "build_runtime", "make_engine"]
