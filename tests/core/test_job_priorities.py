"""Job priorities: a person waiting on an answer is never queued behind long work.

The fault this guards: an authority's acknowledgement (two jobs, reading the mail then sending the answer) queued
behind 25 propagations, and on a loaded machine came after the 5 seconds the hotline promises.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from firebreak.core.clock import FakeClock
from firebreak.core.config import load_settings
from firebreak.core.db.session import Database
from firebreak.core.jobs.models import ScheduledTask, TaskStatus
from firebreak.core.jobs.outbox import claim_due_tasks, defer, schedule, take_deferred
from firebreak.core.jobs.queue import JobQueue, Worker, build_huey
from firebreak.core.jobs.runner import JobRegistry, JobRunner, Priority
from firebreak.core.retry import RetryPolicy
from tests.conftest import DatabaseFactory


@pytest.fixture
def engine(backend: str, databases: DatabaseFactory) -> Iterator[Engine]:
    engine = databases.migrated_engine(backend)
    yield engine
    engine.dispose()


def _defer(db: Database, clock: FakeClock, job: str) -> int:
    with db.transaction() as session:
        return defer(session=session, now=clock.now(), job=job, payload={}).id


def _claim(db: Database, clock: FakeClock, limit: int, priorities: dict[str, Priority]) -> list[int]:
    with db.transaction() as session:
        return [t.id for t in claim_due_tasks(session=session, now=clock.now(), lease=timedelta(minutes=5),
                                              limit=limit, priorities=priorities)]


def test_registry_priorities_default_to_normal_and_refuse_unknown_jobs() -> None:
    registry = JobRegistry()
    registry.register_all({"a": lambda _: None, "b": lambda _: None}, {"b": Priority.PROMPT})
    assert registry.priority("a") == Priority.NORMAL and registry.priority("b") == Priority.PROMPT
    assert registry.priorities == {"b": Priority.PROMPT}  # only what differs from NORMAL is kept
    with pytest.raises(ValueError, match=r"not registered here: \['c'\]"):
        registry.register_all({"d": lambda _: None}, {"c": Priority.PROMPT})


def test_the_reconciler_claims_the_most_urgent_due_task_first(engine: Engine) -> None:
    db, clock = Database.from_engine(engine), FakeClock()
    background = _defer(db, clock, "sweep")
    clock.advance(timedelta(seconds=1))
    normal = _defer(db, clock, "work")
    clock.advance(timedelta(seconds=1))
    prompt = _defer(db, clock, "answer")
    priorities = {"sweep": Priority.BACKGROUND, "answer": Priority.PROMPT}
    assert [_claim(db, clock, 1, priorities) for _ in range(3)] == [[prompt], [normal], [background]]
    db.close()


def test_the_reconciler_runs_one_task_at_a_time_in_priority_order(engine: Engine) -> None:
    """Claiming a batch would leave other workers idle while this one works through it, and a prompt task due
    meanwhile would wait behind the whole batch."""
    db, clock = Database.from_engine(engine), FakeClock()
    ran: list[str] = []
    claimed_while_running: list[int] = []
    registry = JobRegistry()

    def work(payload: dict[str, Any]) -> None:
        with db.transaction() as session:
            claimed_while_running.append(len(list(session.scalars(
                select(ScheduledTask).where(ScheduledTask.status == TaskStatus.RUNNING)))))
        ran.append("work")

    registry.register_all({"work": work, "answer": lambda _: ran.append("answer")}, {"answer": Priority.PROMPT})
    runner = JobRunner(db=db, clock=clock, registry=registry, lease=timedelta(minutes=5), retry=RetryPolicy())
    for _ in range(5):
        _defer(db, clock, "work")
    _defer(db, clock, "answer")
    assert runner.reconcile() == 6
    assert ran == ["answer"] + ["work"] * 5
    assert claimed_while_running == [1] * 5  # only the task running now is leased to this worker
    db.close()


def test_deferred_jobs_are_nudged_with_their_job_names(engine: Engine) -> None:
    db, clock = Database.from_engine(engine), FakeClock()
    session = db.sessions()
    first = defer(session=session, now=clock.now(), job="work").id
    second = defer(session=session, now=clock.now(), job="answer").id
    assert take_deferred(session) == [(first, "work"), (second, "answer")]
    assert take_deferred(session) == []
    session.rollback()
    session.close()
    db.close()


@pytest.mark.parametrize("queue_url", ["sqlite", "memory://"])
def test_a_prompt_job_runs_at_once_while_every_worker_is_busy(engine: Engine, tmp_path: Path,
                                                             queue_url: str) -> None:
    """One worker thread, held by a long job: a prompt job deferred now still runs (the prompt lane), and exactly
    once (huey's message for it then finds the row taken). Without the lane it would wait the 30 s of the long job."""
    url = f"sqlite:///{tmp_path / 'queue.db'}" if queue_url == "sqlite" else queue_url
    settings = load_settings(environ={}, data_dir=tmp_path / "var", queue_url=url)
    db, clock = Database.from_engine(engine), FakeClock()
    release, started, finished, answered = threading.Event(), threading.Event(), threading.Event(), threading.Event()
    answers: list[bool] = []

    def long(payload: dict[str, Any]) -> None:
        started.set()
        release.wait(30)
        finished.set()

    def answer(payload: dict[str, Any]) -> None:
        answers.append(finished.is_set())
        answered.set()

    registry = JobRegistry()
    registry.register_all({"long": long, "answer": answer}, {"answer": Priority.PROMPT})
    runner = JobRunner(db=db, clock=clock, registry=registry, lease=timedelta(minutes=5), retry=RetryPolicy())
    queue = JobQueue(build_huey(settings), runner.run_task)
    worker = Worker(queue, threads=1, runner=None)  # no reconciler: only the nudges run anything here
    worker.start()
    try:
        task = _defer(db, clock, "long")
        queue.nudge(task, registry.priority("long"))
        assert started.wait(10), "the long job did not start"
        task = _defer(db, clock, "answer")
        queue.nudge(task, registry.priority("answer"))
        assert answered.wait(10), "the prompt job waited for the busy worker"
    finally:
        release.set()
        worker.stop()
    assert answers == [False]  # it ran while the only worker thread was still in the long job, and only once
    with db.transaction() as session:
        assert session.get(ScheduledTask, task).status == TaskStatus.DONE  # type: ignore[union-attr]
    db.close()


def test_background_work_due_long_enough_ranks_as_normal(engine: Engine) -> None:
    """Steady work must not put off a BACKGROUND job (the retention purge) for ever; a fresh one still waits."""
    db, clock = Database.from_engine(engine), FakeClock()
    priorities = {"purge": Priority.BACKGROUND}
    purge = _defer(db, clock, "purge")
    clock.advance(timedelta(minutes=11))
    work = _defer(db, clock, "work")
    assert _claim(db, clock, 1, priorities) == [purge]  # due 11 minutes: ranks as NORMAL, and is the longer due
    clock.advance(timedelta(minutes=1))
    fresh_purge = _defer(db, clock, "purge")
    clock.advance(timedelta(minutes=1))
    later_work = _defer(db, clock, "work")
    assert _claim(db, clock, 3, priorities) == [work, later_work, fresh_purge]
    db.close()


def test_a_worker_that_stopped_leaves_prompt_jobs_to_the_queue(engine: Engine, tmp_path: Path) -> None:
    settings = load_settings(environ={}, data_dir=tmp_path / "var", queue_url="memory://")
    db, clock = Database.from_engine(engine), FakeClock()
    registry = JobRegistry()
    registry.register_all({"answer": lambda _: None}, {"answer": Priority.PROMPT})
    runner = JobRunner(db=db, clock=clock, registry=registry, lease=timedelta(minutes=5), retry=RetryPolicy())
    queue = JobQueue(build_huey(settings), runner.run_task)
    worker = Worker(queue, threads=1, runner=None, tick_seconds=3600)
    worker.start()
    assert queue.prompt_lane is not None
    worker.stop()
    assert queue.prompt_lane is None
    task = _defer(db, clock, "answer")
    queue.nudge(task, Priority.PROMPT)
    assert queue.pending_count() == 1 and queue.run_pending() == 1
    with db.transaction() as session:
        assert session.get(ScheduledTask, task).status == TaskStatus.DONE  # type: ignore[union-attr]
    db.close()


def test_a_halted_runner_claims_nothing_until_it_registers_again(engine: Engine) -> None:
    db, clock = Database.from_engine(engine), FakeClock()
    ran: list[int] = []
    registry = JobRegistry()
    registry.register("work", lambda payload: ran.append(payload["task_id"]))
    runner = JobRunner(db=db, clock=clock, registry=registry, lease=timedelta(minutes=5), retry=RetryPolicy())
    task = _defer(db, clock, "work")
    runner.halt()  # a worker stopping: its reconciler must not start another job
    assert runner.reconcile() == 0 and ran == []
    runner.register()  # the worker started again
    assert runner.reconcile() == 1 and ran == [task]
    db.close()


def test_tasks_due_at_the_same_instant_run_in_the_order_they_were_written(engine: Engine) -> None:
    """Two mails to one person deferred in the same second (their report received, then declined) must arrive in
    that order; PostgreSQL returns rows of equal due time in any order unless told."""
    db, clock = Database.from_engine(engine), FakeClock()
    jobs = ("mail", "work", "mail", "work", "mail", "work", "mail", "work")
    written = [1000 + n for n in range(len(jobs))]
    with db.transaction() as session:  # written last first: PostgreSQL's table (and index) holds them in reverse
        for task_id, job in reversed(list(zip(written, jobs, strict=True))):
            session.add(ScheduledTask(id=task_id, job=job, payload={}, due_at=clock.now(), created_at=clock.now()))
            session.flush()
    claimed = [_claim(db, clock, 1, {"mail": Priority.PROMPT}) for _ in written]
    mails, works = written[0::2], written[1::2]
    assert claimed == [[task] for task in mails + works]
    db.close()


def test_a_run_records_nothing_on_a_row_that_was_re_armed_and_claimed_again(engine: Engine) -> None:
    """A job re-arms its own row while it runs (a batch with more to do); another worker claims the re-armed row
    before the first records its outcome. The first must not mark the second's claim done: its work would be lost."""
    db, clock = Database.from_engine(engine), FakeClock()
    claimed_again: list[int] = []

    def batch(payload: dict[str, Any]) -> None:
        with db.transaction() as session:
            schedule(session=session, job="batch", due_at=clock.now(), payload={"step": 2}, dedupe_key="batch")
        claimed_again.extend(_claim(db, clock, 1, {}))  # another worker, still running it when this one returns

    registry = JobRegistry()
    registry.register("batch", batch)
    runner = JobRunner(db=db, clock=clock, registry=registry, lease=timedelta(minutes=5), retry=RetryPolicy())
    with db.transaction() as session:
        first = schedule(session=session, job="batch", due_at=clock.now(), payload={"step": 1}, dedupe_key="batch").id
    assert runner._claim_and_run(task_id=first) == 1
    assert claimed_again == [first]
    with db.transaction() as session:
        task = session.get(ScheduledTask, first)
        assert task is not None
        assert (task.status, task.claims, task.payload) == (TaskStatus.RUNNING, 2, {"step": 2})
    db.close()
