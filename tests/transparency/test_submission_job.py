"""Statements of reasons from the ``statements_of_reasons`` table to the DSA Transparency Database, through the job,
against the local stand-in: batches of 100, outcomes kept per statement, a crash mid-batch resumed with every
statement stored exactly once, and a statement missing a field never sent."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, select

from firebreak.bootstrap.system import System, build_system
from firebreak.core.clock import FakeClock
from firebreak.core.config import load_settings
from firebreak.core.jobs.models import ScheduledTask, TaskStatus
from firebreak.transparency.eu_database import (
    Outcome,
    QueuedStatement,
    TransparencyDatabaseClient,
    TransparencyDatabaseConfig,
)
from firebreak.transparency.flows import SUBMIT_JOB, SUBMIT_KEY, DatabaseSubmissionStore
from firebreak.transparency.models import StatementOfReasons, StatementSubmission
from tests.transparency.dsa_stand_in import DsaStandIn
from tests.transparency.test_eu_database import statements

TOKEN = "tdb-test-token"


@pytest.fixture
def stand_in() -> Iterator[DsaStandIn]:
    server = DsaStandIn(token=TOKEN).start()
    yield server
    server.stop()


@pytest.fixture
def submitting(tmp_path: Path, clock: FakeClock, connection: Connection, stand_in: DsaStandIn) -> System:
    """A Firebreak configured to send statements to the stand-in."""
    settings = load_settings(environ={}, data_dir=tmp_path / "var", queue_url="memory://",
                             dsa_tdb_url=stand_in.base_url, dsa_tdb_token=TOKEN, dsa_tdb_requests_per_second=100)
    return build_system(settings, clock=clock, engine=connection.engine, bind=connection)


def add_statements(system: System, payloads: Sequence[dict[str, Any]]) -> None:
    with system.db.transaction() as session:
        for payload in payloads:
            session.add(StatementOfReasons(puid=payload["puid"], payload=payload, created_at=system.clock.now()))


def outcomes(system: System) -> dict[str, str | None]:
    with system.db.sessions() as session:
        rows = session.execute(select(StatementOfReasons.puid, StatementSubmission.outcome).outerjoin(
            StatementSubmission, StatementSubmission.puid == StatementOfReasons.puid))
        return {puid: outcome for puid, outcome in rows}


def run_job(system: System) -> None:
    system.statements.schedule_next(soon=True)
    system.runner.reconcile()


def assert_each_stored_once(stand_in: DsaStandIn, payloads: Sequence[dict[str, Any]]) -> None:
    assert sorted(stand_in.stored_order) == sorted(p["puid"] for p in payloads)


def test_statements_go_through_the_job_in_batches_of_100(submitting: System, stand_in: DsaStandIn) -> None:
    payloads = statements(250)
    add_statements(submitting, payloads)
    run_job(submitting)
    assert [len(r.puids) for r in stand_in.requests] == [100, 100, 50]
    assert set(outcomes(submitting).values()) == {"accepted"}
    assert_each_stored_once(stand_in, payloads)
    with submitting.db.sessions() as session:
        assert session.scalar(select(StatementOfReasons).where(
            StatementOfReasons.submitted_at.is_(None))) is None
        reason = session.scalar(select(StatementSubmission.reason).where(
            StatementSubmission.puid == payloads[0]["puid"]))
        assert reason == f"HTTP 201 uuid={stand_in.stored[payloads[0]['puid']]['uuid']}"
        task = session.scalar(select(ScheduledTask).where(ScheduledTask.dedupe_key == SUBMIT_KEY))
    assert task is not None and task.status == TaskStatus.PENDING and task.job == SUBMIT_JOB  # the next run
    assert submitting.statements.counts() == {"accepted": 250, "pending": 0}
    # A second run finds nothing to send and sends nothing.
    run_job(submitting)
    assert len(stand_in.requests) == 3


class Crash(Exception):
    """The worker dies here."""


class CrashingStore:
    """The database store, with the process dying once at a chosen point of a batch."""

    def __init__(self, inner: DatabaseSubmissionStore, *, at: str) -> None:
        self.inner, self.at, self.recorded = inner, at, 0

    def pending(self, limit: int) -> Sequence[QueuedStatement]:
        return self.inner.pending(limit)

    def in_flight(self) -> Sequence[QueuedStatement]:
        return self.inner.in_flight()

    def mark_in_flight(self, puids: Sequence[str], batch_id: str) -> None:
        self.inner.mark_in_flight(puids, batch_id)
        if self.at == "after marking, before sending":
            raise Crash

    def record(self, puid: str, outcome: Outcome, reason: str) -> None:
        if self.at == "halfway through recording" and self.recorded == 40:
            raise Crash
        self.inner.record(puid, outcome, reason)
        self.recorded += 1


@pytest.mark.parametrize("at", ["after marking, before sending", "halfway through recording"])
def test_a_crash_mid_batch_resumes_without_storing_a_statement_twice(submitting: System, stand_in: DsaStandIn,
                                                                     at: str) -> None:
    payloads = statements(150)
    add_statements(submitting, payloads)
    config = TransparencyDatabaseConfig(base_url=stand_in.base_url, token=TOKEN, requests_per_second=100)
    with TransparencyDatabaseClient(config) as client, pytest.raises(Crash):
        client.submit(CrashingStore(submitting.statements.store(), at=at))
    counts = submitting.statements.counts()
    if at.startswith("after marking"):
        assert counts == {"in_flight": 100, "pending": 50} and stand_in.stored == {}
    else:  # the database stored the batch; 40 outcomes were recorded before the crash
        assert counts == {"accepted": 40, "in_flight": 60, "pending": 50} and len(stand_in.stored) == 100

    run_job(submitting)  # the next run, a new worker: it knows only what the tables kept

    assert_each_stored_once(stand_in, payloads)
    final = outcomes(submitting)
    assert None not in final.values()
    crashed = [p["puid"] for p in payloads[:100]]
    expected = "accepted" if at.startswith("after marking") else "already_accepted"
    assert {final[p] for p in crashed[40:]} == {expected}
    assert {final[p["puid"]] for p in payloads[100:]} == {"accepted"}


def test_a_statement_missing_a_field_is_refused_with_the_field_named_and_never_sent(
        submitting: System, stand_in: DsaStandIn) -> None:
    payloads = statements(3)
    half_filled = {k: v for k, v in payloads[1].items() if k != "decision_facts"}
    add_statements(submitting, [payloads[0], half_filled, payloads[2]])
    run_job(submitting)
    final = outcomes(submitting)
    assert final[half_filled["puid"]] == "invalid"
    assert half_filled["puid"] not in {p for r in stand_in.requests for p in r.puids}
    with submitting.db.sessions() as session:
        statement = session.scalar(select(StatementOfReasons).where(StatementOfReasons.puid == half_filled["puid"]))
    assert statement is not None and statement.submitted_at is None
    assert statement.submission_error is not None and "decision_facts: is required" in statement.submission_error
    assert set(stand_in.stored) == {payloads[0]["puid"], payloads[2]["puid"]}


def test_a_puid_already_used_elsewhere_is_kept_as_refused(submitting: System, stand_in: DsaStandIn) -> None:
    payloads = statements(2)
    stand_in.stored[payloads[0]["puid"]] = {"puid": payloads[0]["puid"], "uuid": "not-ours"}
    add_statements(submitting, payloads)
    run_job(submitting)
    assert outcomes(submitting) == {payloads[0]["puid"]: "refused", payloads[1]["puid"]: "accepted"}


def test_a_stopped_run_leaves_its_batch_for_the_next(submitting: System, stand_in: DsaStandIn,
                                                     clock: FakeClock) -> None:
    payloads = statements(5)
    add_statements(submitting, payloads)
    stand_in.fail_next(1, 401)
    run_job(submitting)  # the token is refused: nothing is lost, the batch waits in flight
    assert submitting.statements.counts() == {"in_flight": 5, "pending": 0}
    run_job(submitting)
    assert set(outcomes(submitting).values()) == {"accepted"}
    assert_each_stored_once(stand_in, payloads)


def test_without_a_database_configured_nothing_is_sent(system: System) -> None:
    payloads = statements(2)
    add_statements(system, payloads)
    assert not system.statements.enabled
    system.registry.run(SUBMIT_JOB, {})
    assert set(outcomes(system).values()) == {None}
    assert system.statements.counts() == {"pending": 2}
