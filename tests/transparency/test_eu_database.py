"""Submission to the DSA Transparency Database, against the local stand-in over loopback HTTP: batches of at most
100, the bearer token, backoff and Retry-After, rate limits, partial refusals, and crashes resumed without a
statement stored twice or lost. Backoff and rate limits run in fake time."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from firebreak.core.clock import FakeClock
from firebreak.core.retry import RetryPolicy
from firebreak.transparency.dsa import (
    ActionKind,
    AutomatedDecision,
    IllegalContentGround,
    Medium,
    SourceKind,
    StatementFacts,
    build_statement,
    derive_puid,
)
from firebreak.transparency.eu_database import (
    MemorySubmissionStore,
    Outcome,
    QueuedStatement,
    SubmissionInterrupted,
    TransparencyDatabaseClient,
    TransparencyDatabaseConfig,
)
from tests.transparency.dsa_stand_in import DsaStandIn

KEY = b"statement-puid-key-for-tests-0001"


class FakeTime:
    """sleep() moves monotonic() on; nothing really waits."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def stand_in() -> Iterator[DsaStandIn]:
    server = DsaStandIn(token="tdb-test-token").start()
    yield server
    server.stop()


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def statements(count: int, *, start: int = 0) -> list[dict[str, Any]]:
    actions = list(ActionKind)
    return [build_statement(facts=StatementFacts(
        puid=derive_puid(key=KEY, kind="action", local_id=i), action=actions[i % len(actions)],
        ground=IllegalContentGround(legal_ground="Art. 5 Directive 2011/93/EU",
                                    explanation="Matched an item confirmed by the authority's order."),
        category="csam", media=(Medium.IMAGE,), content_posted_at=datetime(2026, 1, 5, tzinfo=UTC),
        decided_at=datetime(2026, 1, 6, tzinfo=UTC), source=SourceKind.AUTHORITY, automated_detection=True,
        automated_decision=AutomatedDecision.FULLY)).payload() for i in range(start, start + count)]


def client(stand_in: DsaStandIn, fake_time: FakeTime, **config: Any) -> TransparencyDatabaseClient:
    settings: dict[str, Any] = {"base_url": stand_in.base_url, "token": "tdb-test-token",
                                "requests_per_second": 1000.0} | config
    return TransparencyDatabaseClient(TransparencyDatabaseConfig(**settings), sleep=fake_time.sleep,
                                      monotonic=fake_time.monotonic,
                                      clock=FakeClock(datetime(2026, 1, 7, 12, 0, tzinfo=UTC)))


def assert_each_stored_once(stand_in: DsaStandIn, payloads: Sequence[dict[str, Any]]) -> None:
    puids = [p["puid"] for p in payloads]
    assert sorted(stand_in.stored_order) == sorted(puids)  # every one stored, none twice


def test_250_statements_go_in_three_requests(stand_in: DsaStandIn, fake_time: FakeTime) -> None:
    payloads = statements(250)
    store = MemorySubmissionStore(payloads)
    with client(stand_in, fake_time) as tdb:
        report = tdb.submit(store)
    assert [len(r.puids) for r in stand_in.requests] == [100, 100, 50]
    assert [r.status for r in stand_in.requests] == [201, 201, 201]
    assert (report.accepted, report.requests) == (250, 3)
    assert set(store.outcomes().values()) == {Outcome.ACCEPTED}
    assert store.outcome(payloads[0]["puid"])[1] == f"HTTP 201 uuid={stand_in.stored[payloads[0]['puid']]['uuid']}"
    assert_each_stored_once(stand_in, payloads)
    # What the database stored is exactly what was built: nothing added, nothing lost on the way.
    assert {k: v for k, v in stand_in.stored[payloads[7]["puid"]].items() if k != "uuid"} == payloads[7]


def test_requests_are_spaced_to_the_configured_rate(stand_in: DsaStandIn, fake_time: FakeTime) -> None:
    with client(stand_in, fake_time, requests_per_second=2.0) as tdb:
        tdb.submit(MemorySubmissionStore(statements(250)))
    assert fake_time.sleeps == [0.5, 0.5]


def test_a_429_with_retry_after_is_honoured(stand_in: DsaStandIn, fake_time: FakeTime) -> None:
    stand_in.fail_next(1, 429, retry_after="7")
    payloads = statements(3)
    store = MemorySubmissionStore(payloads)
    with client(stand_in, fake_time) as tdb:
        report = tdb.submit(store)
    assert fake_time.sleeps == [7.0]
    assert [r.status for r in stand_in.requests] == [429, 201]
    assert (report.accepted, report.requests) == (3, 2)
    assert_each_stored_once(stand_in, payloads)


def test_retry_after_as_an_http_date(stand_in: DsaStandIn, fake_time: FakeTime) -> None:
    stand_in.fail_next(1, 429, retry_after="Wed, 07 Jan 2026 12:00:42 GMT")  # the fake clock reads 12:00:00
    with client(stand_in, fake_time) as tdb:
        tdb.submit(MemorySubmissionStore(statements(1)))
    assert fake_time.sleeps == [42.0]


def test_server_errors_are_retried_with_exponential_backoff(stand_in: DsaStandIn, fake_time: FakeTime) -> None:
    stand_in.fail_next(3, 500)
    payloads = statements(5)
    store = MemorySubmissionStore(payloads)
    with client(stand_in, fake_time, retry=RetryPolicy(base_seconds=1.0, cap_seconds=60.0, max_attempts=6)) as tdb:
        report = tdb.submit(store)
    assert fake_time.sleeps == [1.0, 2.0, 4.0]
    assert report.accepted == 5
    assert_each_stored_once(stand_in, payloads)


def test_when_retries_run_out_the_batch_waits_in_flight_for_the_next_run(stand_in: DsaStandIn,
                                                                         fake_time: FakeTime) -> None:
    stand_in.fail_next(3, 503)
    payloads = statements(120)
    store = MemorySubmissionStore(payloads)
    three_tries = RetryPolicy(base_seconds=1.0, cap_seconds=60.0, max_attempts=3)
    with client(stand_in, fake_time, retry=three_tries) as tdb, pytest.raises(SubmissionInterrupted, match="503"):
        tdb.submit(store)
    assert len(store.in_flight()) == 100 and len(store.pending(1000)) == 20
    assert stand_in.stored == {}
    with client(stand_in, fake_time) as tdb:  # the next run, a new process
        report = tdb.submit(store)
    assert (report.recovered, report.accepted, report.already_accepted) == (100, 120, 0)
    assert set(store.outcomes().values()) == {Outcome.ACCEPTED}
    assert_each_stored_once(stand_in, payloads)


def test_a_wrong_token_stops_the_run_and_loses_nothing(stand_in: DsaStandIn, fake_time: FakeTime) -> None:
    payloads = statements(4)
    store = MemorySubmissionStore(payloads)
    with client(stand_in, fake_time, token="revoked-token") as tdb, pytest.raises(SubmissionInterrupted,
                                                                                  match="token"):
        tdb.submit(store)
    assert [r.status for r in stand_in.requests] == [] and stand_in.stored == {}  # refused before it was read
    assert len(store.in_flight()) == 4
    with client(stand_in, fake_time) as tdb:
        assert tdb.submit(store).accepted == 4
    assert_each_stored_once(stand_in, payloads)


def test_a_connection_dropped_after_the_database_stored_the_batch(stand_in: DsaStandIn,
                                                                  fake_time: FakeTime) -> None:
    """The database stored the batch but the answer never came: the retry is refused as duplicates, and those
    count as accepted, not as clashes."""
    stand_in.drop_after_accept_next(1)
    payloads = statements(150)
    store = MemorySubmissionStore(payloads)
    with client(stand_in, fake_time) as tdb:
        report = tdb.submit(store)
    assert [(len(r.puids), r.status) for r in stand_in.requests] == [(100, None), (100, 422), (50, 201)]
    assert (report.already_accepted, report.accepted) == (100, 50)
    assert store.outcome(payloads[0]["puid"])[0] is Outcome.ALREADY_ACCEPTED
    assert_each_stored_once(stand_in, payloads)


class Crash(Exception):
    """The process dies here."""


class CrashingStore:
    """The memory store, dying once at a chosen point, as a process killed mid-batch would."""

    def __init__(self, inner: MemorySubmissionStore, *, at: str) -> None:
        self.inner = inner
        self.at = at

    def pending(self, limit: int) -> Sequence[QueuedStatement]:
        return self.inner.pending(limit)

    def in_flight(self) -> Sequence[QueuedStatement]:
        return self.inner.in_flight()

    def mark_in_flight(self, puids: Sequence[str], batch_id: str) -> None:
        self.inner.mark_in_flight(puids, batch_id)
        if self.at == "after marking, before sending":
            raise Crash

    def record(self, puid: str, outcome: Outcome, reason: str) -> None:
        if self.at == "after the database stored, before recording":
            raise Crash
        self.inner.record(puid, outcome, reason)


@pytest.mark.parametrize("at", ["after marking, before sending", "after the database stored, before recording"])
def test_a_crash_mid_batch_resumes_with_every_statement_stored_exactly_once(stand_in: DsaStandIn,
                                                                           fake_time: FakeTime, at: str) -> None:
    payloads = statements(250)
    store = MemorySubmissionStore(payloads)
    with client(stand_in, fake_time) as tdb, pytest.raises(Crash):
        tdb.submit(CrashingStore(store, at=at))
    crashed = {q.puid for q in store.in_flight()}
    assert len(crashed) == 100
    assert len(stand_in.stored) == (0 if at.startswith("after marking") else 100)

    with client(stand_in, fake_time) as tdb:  # a new process: it knows only what the store kept
        report = tdb.submit(store)
    assert report.recovered == 100
    assert_each_stored_once(stand_in, payloads)
    outcomes = store.outcomes()
    assert None not in outcomes.values()  # the memory store refuses a second outcome, so each has exactly one
    expected = Outcome.ACCEPTED if at.startswith("after marking") else Outcome.ALREADY_ACCEPTED
    assert {outcomes[p] for p in crashed} == {expected}
    assert {outcomes[p["puid"]] for p in payloads if p["puid"] not in crashed} == {Outcome.ACCEPTED}
    assert store.in_flight() == [] and store.pending(1000) == []


def test_an_invalid_statement_is_never_sent_and_its_field_is_named(stand_in: DsaStandIn, fake_time: FakeTime) -> None:
    payloads = statements(5)
    missing = {k: v for k, v in payloads[1].items() if k != "decision_facts"}
    outdated = payloads[3] | {"category": "STATEMENT_CATEGORY_PORNOGRAPHY_OR_SEXUALIZED_CONTENT"}
    store = MemorySubmissionStore([payloads[0], missing, payloads[2], outdated, payloads[4]])
    with client(stand_in, fake_time) as tdb:
        report = tdb.submit(store)
    assert (report.invalid, report.accepted) == (2, 3)
    outcome, reason = store.outcome(missing["puid"])
    assert outcome is Outcome.INVALID and "decision_facts: is required" in reason
    outcome, reason = store.outcome(outdated["puid"])
    assert outcome is Outcome.INVALID and "category" in reason and "refused_v1_value" in reason
    sent = {puid for r in stand_in.requests for puid in r.puids}
    assert missing["puid"] not in sent and outdated["puid"] not in sent
    assert set(stand_in.stored) == {payloads[i]["puid"] for i in (0, 2, 4)}


@pytest.mark.parametrize("attributed", [True, False], ids=["422 names it", "422 names nothing"])
def test_one_refused_statement_does_not_hold_back_the_others(stand_in: DsaStandIn, fake_time: FakeTime,
                                                            attributed: bool) -> None:
    payloads = statements(100)
    bad = payloads[42]["puid"]
    stand_in.reject_puids = {bad}
    stand_in.attribute_errors = attributed
    store = MemorySubmissionStore(payloads)
    with client(stand_in, fake_time) as tdb:
        report = tdb.submit(store)
    assert (report.refused, report.accepted) == (1, 99)
    outcome, reason = store.outcome(bad)
    assert outcome is Outcome.REFUSED and reason.startswith("HTTP 422")
    if attributed:
        assert "refused by a rule the client lacks" in reason
        assert [(len(r.puids), r.status) for r in stand_in.requests] == [(100, 422), (99, 201)]
    else:  # halved down to the culprit: about 2 * log2(100) requests
        assert report.requests <= 15
        assert "The given data was invalid." in reason
    assert set(stand_in.stored) == {p["puid"] for p in payloads} - {bad}


def test_a_puid_used_before_by_another_statement_is_a_refusal_not_a_success(stand_in: DsaStandIn,
                                                                            fake_time: FakeTime) -> None:
    payloads = statements(3)
    stand_in.stored[payloads[1]["puid"]] = {"puid": payloads[1]["puid"], "uuid": "from-somewhere-else"}
    store = MemorySubmissionStore(payloads)
    with client(stand_in, fake_time) as tdb:
        report = tdb.submit(store)
    assert (report.refused, report.accepted, report.already_accepted) == (1, 2, 0)
    outcome, reason = store.outcome(payloads[1]["puid"])
    assert outcome is Outcome.REFUSED and "already used" in reason


def test_max_batches_bounds_one_run(stand_in: DsaStandIn, fake_time: FakeTime) -> None:
    store = MemorySubmissionStore(statements(250))
    with client(stand_in, fake_time) as tdb:
        assert tdb.submit(store, max_batches=2).accepted == 200
        assert len(store.pending(1000)) == 50


def test_the_stand_in_enforces_the_documented_rules(stand_in: DsaStandIn) -> None:
    url = stand_in.base_url + "/api/v1/statements"
    auth = {"Authorization": "Bearer tdb-test-token"}
    good = statements(101)
    with httpx.Client() as http:
        assert http.post(url, json={"statements": good[:1]}).status_code == 401
        assert http.post(url, json={"statements": good[:1]}, headers={"Authorization": "Bearer nope"}).status_code \
            == 401
        assert http.post(url, json={"statements": []}, headers=auth).status_code == 422
        assert http.post(url, json={"statements": good}, headers=auth).status_code == 422  # 101
        half_filled = {k: v for k, v in good[0].items() if k != "content_type"}
        answer = http.post(url, json={"statements": [good[1], half_filled]}, headers=auth)
        assert answer.status_code == 422
        assert set(answer.json()["errors"]) == {"statement_1"}
        assert "content_type" in answer.json()["errors"]["statement_1"]
        assert stand_in.stored == {}  # all or nothing
        assert http.post(url, json={"statements": good[:100]}, headers=auth).status_code == 201
        again = http.post(url, json={"statements": good[99:101]}, headers=auth)
        assert again.status_code == 422 and again.json()["errors"]["existing_puids"] == [good[99]["puid"]]
    assert len(stand_in.stored) == 100


def test_config_refuses_what_the_database_would_not_take() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        TransparencyDatabaseConfig(base_url="https://tdb.example", token="t", batch_size=101)
    with pytest.raises(ValueError, match="token"):
        TransparencyDatabaseConfig(base_url="https://tdb.example", token=" ")
    assert "secret-token" not in repr(TransparencyDatabaseConfig(base_url="https://tdb.example",
                                                                  token="secret-token"))


def test_backoff_is_capped(stand_in: DsaStandIn, fake_time: FakeTime) -> None:
    stand_in.fail_next(5, 502)
    with client(stand_in, fake_time, retry=RetryPolicy(base_seconds=10.0, cap_seconds=30.0, max_attempts=6)) as tdb:
        tdb.submit(MemorySubmissionStore(statements(1)))
    assert fake_time.sleeps == [10.0, 20.0, 30.0, 30.0, 30.0]


def test_a_retry_after_beyond_the_limit_stops_the_run(stand_in: DsaStandIn, fake_time: FakeTime) -> None:
    stand_in.fail_next(1, 429, retry_after=str(int(timedelta(hours=2).total_seconds())))
    store = MemorySubmissionStore(statements(2))
    with client(stand_in, fake_time) as tdb, pytest.raises(SubmissionInterrupted, match="wait 7200 s"):
        tdb.submit(store)
    assert fake_time.sleeps == [] and len(store.in_flight()) == 2
