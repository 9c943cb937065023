"""Readiness says what it checked (database, queue, indexes); /metrics gives request latencies and the figures an
operator watches: jobs due, actions by outcome, orders at risk of missing their deadline, the index's size and lag."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from firebreak.bootstrap import metrics
from firebreak.bootstrap.http import serving_app
from firebreak.bootstrap.system import System
from firebreak.core.clock import FakeClock
from firebreak.core.jobs.outbox import schedule
from firebreak.orders.models import Channel, Order, OrderStatus


@pytest.fixture
def client(system: System) -> Iterator[TestClient]:
    with TestClient(serving_app(system), raise_server_exceptions=False) as c:
        yield c


def _order(system: System, tracking: str, status: OrderStatus, due_in: timedelta) -> None:
    with system.db.transaction() as session:
        now = system.clock.now()
        session.add(Order(tracking_id=tracking, channel=Channel.API, category="sexual_deepfake", status=status,
                          received_at=now, deadline_at=now + due_in, created_at=now))


def _sample(text: str, name: str, labels: str = "") -> float:
    found = re.search(rf"^{re.escape(name)}{re.escape(labels)} (\S+)$", text, re.MULTILINE)
    assert found, f"{name}{labels} not in /metrics"
    return float(found[1])


def test_readiness_reports_the_database_the_queue_and_the_indexes(client: TestClient, backend: str) -> None:
    ready = client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["database"] == backend and body["queue"] == {"messages_waiting": 0}
    assert body["indexes"]["source"] == "database" and body["indexes"]["lag_seconds"] < 5


def test_readiness_fails_while_the_indexes_are_behind(system: System, client: TestClient,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(type(system.index_keeper), "running", property(lambda self: True))  # as if it ran, stuck
    not_ready = client.get("/readyz")
    assert not_ready.status_code == 503
    assert "indexes: last followed the change log" in not_ready.json()["detail"]


def test_metrics_give_latencies_and_what_an_operator_watches(system: System, client: TestClient,
                                                             clock: FakeClock) -> None:
    _order(system, "FB-1", OrderStatus.IN_PROGRESS, timedelta(minutes=30))  # at risk
    _order(system, "FB-2", OrderStatus.VERIFIED, timedelta(hours=-1))  # overdue
    _order(system, "FB-3", OrderStatus.IN_PROGRESS, timedelta(days=1))  # open, on time
    _order(system, "FB-4", OrderStatus.COMPLETED, timedelta(hours=-2))  # done: none of these
    with system.db.transaction() as session:
        schedule(session=session, job="audit.ping", due_at=clock.now() - timedelta(seconds=1), payload={})
    assert client.get("/readyz").status_code == 200
    metrics.observe_indexes(system.indexes)
    text = client.get("/metrics")
    assert text.status_code == 200 and text.headers["content-type"].startswith("text/plain")
    body = text.text
    assert _sample(body, "firebreak_orders_open") == 3
    assert _sample(body, "firebreak_orders_sla_at_risk") == 1
    assert _sample(body, "firebreak_orders_overdue") == 1
    assert _sample(body, "firebreak_jobs", '{status="pending"}') == 1
    assert _sample(body, "firebreak_index_entries", '{index="bank"}') == 0
    assert _sample(body, "firebreak_http_request_duration_seconds_count",
                   '{method="GET",route="/readyz",status="200"}') >= 1
