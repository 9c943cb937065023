"""A platform that is down for a while: its actions are retried on the documented backoff (2, 4, 8 ... s) by the
worker's own timer, with nothing else happening, and all are done once it is back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from firebreak.banks import service as banks
from firebreak.banks.models import MatchAction, Provenance
from firebreak.banks.schemas import BankCreate
from firebreak.bootstrap.system import System
from firebreak.core.clock import FakeClock
from firebreak.core.jobs import workers
from firebreak.core.jobs.models import ScheduledTask, TaskStatus
from firebreak.core.retry import DEFAULT_RETRY
from firebreak.enforcement import service
from firebreak.enforcement.models import Action, ActionStatus
from firebreak.enforcement.service import RUN_ACTIONS_JOB
from firebreak.signals.hashing import hash_bytes
from tests.support import RecordingPlatform, copies_of, media_event, photo


@pytest.fixture
def platform(system: System) -> Iterator[RecordingPlatform]:
    system.gateway.ensure_integration(name="test", adapter="webhook")
    recording = RecordingPlatform()
    system.adapters.override("test", recording)
    yield recording


def _actions(system: System) -> list[Action]:
    with system.db.sessions() as session:
        return list(session.scalars(select(Action).order_by(Action.id)))


def _next_run(system: System) -> ScheduledTask | None:
    with system.db.sessions() as session:
        return session.scalar(select(ScheduledTask).where(
            ScheduledTask.job == RUN_ACTIONS_JOB, ScheduledTask.status == TaskStatus.PENDING)
            .order_by(ScheduledTask.due_at).limit(1))


def test_down_platform_is_retried_on_the_backoff_by_the_timer_alone(system: System, platform: RecordingPlatform,
                                                                   clock: FakeClock) -> None:
    copies = copies_of(photo("astronaut"))
    for i, data in enumerate(list(copies.values())[:3]):
        platform.add_message("chat", f"m{i}")
        system.gateway.record_event("test", media_event("chat", f"m{i}", data, when=clock.now()))
    with system.db.transaction() as session:
        bank = banks.create_bank(session=session, clock=clock, actor="test",
                                 data=BankCreate(name="ordered", action=MatchAction.BLOCK))
        banks.add_entries(session=session, clock=clock, actor="test", bank=bank,
                          entries=banks.entries_for_hashes(hash_bytes(copies["exact"])), provenance=Provenance.ORDER)
    platform.down = True
    system.runner.reconcile()  # propagation finds the copies; every removal fails once
    removals = [a for a in _actions(system) if a.kind.value == "remove_message"]
    assert len(removals) == 3 and {a.attempts for a in removals} == {1}
    calls = platform.count("remove_message")
    assert calls == 3

    for attempt in range(1, 5):  # the worker's timer alone: no event, no bank write, no manual run
        delay = DEFAULT_RETRY.delay(attempt)
        assert delay == timedelta(seconds=2 ** attempt)
        due = _next_run(system)
        assert due is not None and due.due_at == clock.now() + delay  # a row wakes the worker when retries are due
        clock.advance(delay - timedelta(milliseconds=100))
        system.runner.reconcile()
        assert platform.count("remove_message") == calls  # not before the backoff
        clock.advance(timedelta(milliseconds=100))
        system.runner.reconcile()
        assert platform.count("remove_message") == calls + 3  # each retried once, then
        calls += 3
        assert {a.attempts for a in _actions(system) if a.kind.value == "remove_message"} == {attempt + 1}

    platform.down = False
    clock.advance(DEFAULT_RETRY.delay(5))
    system.runner.reconcile()
    assert {a.status for a in _actions(system)} == {ActionStatus.DONE}
    assert platform.removed() == {("chat", f"m{i}") for i in range(3)}
    assert _next_run(system) is None  # nothing left to wake up for


def test_an_action_held_by_a_dead_worker_runs_again_at_once(system: System, platform: RecordingPlatform,
                                                            clock: FakeClock) -> None:
    """A worker that died holding actions (its lease runs for minutes) is noticed by the next tick of another."""
    platform.add_message("chat", "m1")
    data = copies_of(photo("chelsea"))["exact"]
    system.gateway.record_event("test", media_event("chat", "m1", data, when=clock.now()))
    with system.db.transaction() as session:
        bank = banks.create_bank(session=session, clock=clock, actor="test",
                                 data=BankCreate(name="ordered", action=MatchAction.BLOCK))
        banks.add_entries(session=session, clock=clock, actor="test", bank=bank,
                          entries=banks.entries_for_hashes(hash_bytes(data)), provenance=Provenance.ORDER)
    platform.down = True
    system.runner.reconcile()  # propagation: the actions are queued, and fail once
    clock.advance(DEFAULT_RETRY.delay(1))
    # Another process (on another host) claims them for its five-minute lease, then dies: its heartbeat stops.
    dead = workers.WorkerIdentity(host="elsewhere", pid=1)
    with system.db.transaction() as session:
        workers.register(session=session, me=dead, now=clock.now())
        claimed = service.claim_actions(session=session, clock=clock, limit=100, lease=timedelta(minutes=5),
                                        owner=dead.id)
    assert len(claimed) == 2  # the removal and the quarantine
    platform.down = False
    platform_calls = len(platform.calls)
    system.runner.register()
    system.runner.tick()
    assert len(platform.calls) == platform_calls  # its heart beat recently: it may still be working
    clock.advance(system.runner.dead_after + timedelta(seconds=1))
    system.runner.tick()  # one tick later than dead_after, far under the 5 minute lease
    assert platform.removed() == {("chat", "m1")}
    assert {a.status for a in _actions(system)} == {ActionStatus.DONE}
