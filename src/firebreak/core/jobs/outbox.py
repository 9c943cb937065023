"""Deferring jobs until the transaction that asked for them commits (a small outbox)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from firebreak.core.jobs.models import ScheduledTask, TaskStatus

_DEFERRED = "firebreak.deferred_tasks"


def defer(*, session: Session, now: datetime, job: str, payload: dict[str, Any] | None = None) -> ScheduledTask:
    """Run ``job`` soon, if and only if ``session`` commits (a transactional outbox).

    The task is a row written in the caller's transaction; after commit a queue message
    nudges a worker to run it at once. If the message is lost (crash, Redis restart),
    the reconciler finds the row and runs it anyway.
    """
    task = ScheduledTask(job=job, payload=payload or {}, due_at=now, created_at=now)
    session.add(task)
    session.flush()
    session.info.setdefault(_DEFERRED, []).append((task.id, job))
    return task


def take_deferred(session: Session) -> list[tuple[int, str]]:
    """The (task id, job name) of each job the session deferred, once: the worker nudges to send after commit."""
    return list(session.info.pop(_DEFERRED, []))


def schedule(
    *, session: Session, job: str, due_at: datetime, payload: dict[str, Any] | None = None,
    dedupe_key: str | None = None, now: datetime | None = None, keep_earlier: bool = False,
) -> ScheduledTask:
    """A job due at a time, as a row. Re-scheduling with the same dedupe_key moves the existing row (and re-arms it
    if it ran); with ``keep_earlier`` a pending row already due sooner keeps its time."""
    if dedupe_key is not None:
        existing = session.scalar(select(ScheduledTask).where(ScheduledTask.dedupe_key == dedupe_key))
        if existing is not None:
            return _rearm(existing, due_at=due_at, payload=payload, keep_earlier=keep_earlier)
    task = ScheduledTask(job=job, payload=payload or {}, due_at=due_at, dedupe_key=dedupe_key,
                         created_at=now or due_at)
    if dedupe_key is None:
        session.add(task)
        session.flush()
        return task
    try:
        # Two transactions may both find no row and both insert (PostgreSQL): the second one takes the first's row
        # instead of failing its whole transaction.
        with session.begin_nested():
            session.add(task)
            session.flush()
    except IntegrityError:
        existing = session.scalar(select(ScheduledTask).where(ScheduledTask.dedupe_key == dedupe_key))
        if existing is None:
            raise
        return _rearm(existing, due_at=due_at, payload=payload, keep_earlier=keep_earlier)
    return task


def _rearm(existing: ScheduledTask, *, due_at: datetime, payload: dict[str, Any] | None,
           keep_earlier: bool) -> ScheduledTask:
    if not (keep_earlier and existing.status == TaskStatus.PENDING and existing.due_at <= due_at):
        existing.due_at = due_at
    existing.payload = payload or {}
    existing.status = TaskStatus.PENDING
    existing.lease_until = None
    existing.attempts = 0
    return existing


def cancel(*, session: Session, dedupe_key: str) -> None:
    task = session.scalar(select(ScheduledTask).where(ScheduledTask.dedupe_key == dedupe_key))
    if task is not None and task.status == TaskStatus.PENDING:
        task.status = TaskStatus.CANCELLED


# How many of the longest-due rows a claim looks at to pick the most urgent. Each half of the claim reads them in
# index order (a few tenths of a millisecond with 100,000 rows due); ordering every due row by priority took 28 ms a
# claim at 100,000, with SQLite's write lock held throughout.
CLAIM_WINDOW = 64
# A row of lower priority (BACKGROUND: a purge the retention rules owe) due for longer than this ranks as NORMAL, so
# steady work cannot put it off for ever.
AGED = timedelta(minutes=10)


def claim_due_tasks(
    *, session: Session, now: datetime, lease: timedelta, limit: int = 50, task_id: int | None = None,
    owner: str | None = None, priorities: Mapping[str, int] | None = None,
) -> list[ScheduledTask]:
    """Claim due tasks (and tasks whose worker died: lease expired) for ``lease``: among the CLAIM_WINDOW longest
    due (and the CLAIM_WINDOW longest expired), the highest of ``priorities`` (by job name; others count 0, and so
    does a lower one due for longer than AGED) first, then the longest due, then the first written. On PostgreSQL
    only the rows claimed are locked (SKIP LOCKED, one by one in that order), so a worker nudged for one row never
    finds it locked by a claim that did not take it.

    Handlers run at least once: a task whose worker dies after the work but before
    it is marked done runs again, so handlers are written to be idempotent.
    """
    window = max(limit, CLAIM_WINDOW)
    due_now = and_(ScheduledTask.status == TaskStatus.PENDING, ScheduledTask.due_at <= now)
    lease_expired = and_(ScheduledTask.status == TaskStatus.RUNNING, ScheduledTask.lease_until <= now)
    # Rows due at the same instant run in the order they were written (id): two mails to one person, deferred in
    # one second, arrive in the order the events happened.
    due = select(ScheduledTask).where(due_now).order_by(ScheduledTask.due_at, ScheduledTask.id).limit(window)
    expired = (select(ScheduledTask).where(lease_expired).order_by(ScheduledTask.lease_until, ScheduledTask.id)
               .limit(window))
    if task_id is not None:
        due, expired = due.where(ScheduledTask.id == task_id), expired.where(ScheduledTask.id == task_id)
    ranks = priorities or {}
    aged = now - AGED

    def rank(task: ScheduledTask) -> int:
        value = ranks.get(task.job, 0)
        return max(value, 0) if task.due_at <= aged else value

    candidates = [*session.scalars(due), *session.scalars(expired)]
    candidates.sort(key=lambda task: (-rank(task), task.due_at, task.id))
    if session.get_bind().dialect.name != "postgresql":
        tasks = candidates[:limit]  # SQLite: this transaction holds the only write lock since BEGIN IMMEDIATE
    else:
        tasks = []
        for candidate in candidates:
            if len(tasks) >= limit:
                break
            locked = session.scalar(select(ScheduledTask).where(ScheduledTask.id == candidate.id,
                                                                or_(due_now, lease_expired))
                                    .with_for_update(skip_locked=True)
                                    .execution_options(populate_existing=True))
            if locked is not None:
                tasks.append(locked)
    for task in tasks:
        task.status = TaskStatus.RUNNING
        task.lease_until = now + lease
        task.lease_owner = owner
        task.attempts += 1
        task.claims += 1
    return tasks
