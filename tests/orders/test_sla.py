"""SLA clocks with a fake clock: reminders at 50% and 90%, escalation when overdue, also across a restart."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, select

from firebreak.bootstrap.http import create_app
from firebreak.bootstrap.system import System, build_system
from firebreak.core.clock import FakeClock
from firebreak.core.config import Settings
from firebreak.core.jobs.models import ScheduledTask, TaskStatus
from firebreak.orders.models import Order
from tests.mail.sink import SinkMessage, SmtpSink
from tests.orders.test_orders_api import auth, authority_token, staff_token


class Hooks:
    def __init__(self) -> None:
        self.received: list[dict[str, object]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers["Content-Length"])
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/oncall"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hooks() -> Iterator[Hooks]:
    h = Hooks()
    yield h
    h.close()


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as server:
        yield server


LIAISON, ONCALL = "liaison@platform.test", "oncall@platform.test"


@pytest.fixture
def sla_settings(settings: Settings, hooks: Hooks, sink: SmtpSink) -> Settings:
    return settings.model_copy(update={"oncall_webhook_url": hooks.url, "liaison_email": LIAISON,
                                       "oncall_email": ONCALL, "outgoing_smtp_host": sink.host,
                                       "outgoing_smtp_port": sink.port})


def _mails_to(sink: SmtpSink, address: str) -> list[SinkMessage]:
    return [m for m in sink.messages if address in m.envelope_to]


def _order(rt: System) -> str:
    token = authority_token(rt, "TCO authority", trusted=False)
    with TestClient(create_app(rt)) as client:
        r = client.post("/v1/orders", headers=auth(token), json={
            "category": "terrorist_content", "legal_basis": "Regulation (EU) 2021/784, Art. 3",
            "items": [{"kind": "hash", "signal_type": "md5", "value": "1" * 32}]})
    assert r.status_code == 201, r.text
    return str(r.json()["tracking_id"])


def _state(rt: System, tracking: str) -> Order:
    with rt.db.sessions() as session:
        order = session.scalar(select(Order).where(Order.tracking_id == tracking))
        assert order is not None
        session.expunge(order)
        return order


def test_reminders_and_escalation_fire_on_time_across_restart(
        sla_settings: Settings, clock: FakeClock, connection: Connection, hooks: Hooks, sink: SmtpSink) -> None:
    rt = build_system(sla_settings, clock=clock, engine=connection.engine, bind=connection)
    start = clock.now()
    tracking = _order(rt)
    order = _state(rt, tracking)
    assert order.deadline_at == start + timedelta(hours=1)  # terrorist content: one hour

    clock.set(start + timedelta(minutes=29, seconds=59))
    rt.runner.reconcile()
    assert _state(rt, tracking).reminded_50_at is None
    assert _mails_to(sink, LIAISON) == []
    clock.set(start + timedelta(minutes=30))
    rt.runner.reconcile()
    assert _state(rt, tracking).reminded_50_at == start + timedelta(minutes=30)
    (half,) = _mails_to(sink, LIAISON)
    assert half.subject == f"[50%] {tracking}: 0h30m left"
    deadline = (start + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M")
    assert f"Order {tracking} (terrorist_content) is 50% through its time" in half.text()
    assert f"30m left, deadline {deadline} UTC" in half.text()

    # The process restarts: a new system, same database. Deadlines are rows, so nothing is forgotten.
    rt = build_system(sla_settings, clock=clock, engine=connection.engine, bind=connection)
    clock.set(start + timedelta(minutes=53, seconds=59))
    rt.runner.reconcile()
    assert _state(rt, tracking).reminded_90_at is None
    clock.set(start + timedelta(minutes=54, seconds=1))
    rt.runner.reconcile()
    order = _state(rt, tracking)
    assert order.reminded_90_at == start + timedelta(minutes=54, seconds=1)
    assert order.escalated_at is None
    assert [m.subject for m in _mails_to(sink, LIAISON)] == [f"[50%] {tracking}: 0h30m left",
                                                           f"[90%] {tracking}: 0h05m left"]
    assert "is 90% through its time: 0h05m left" in _mails_to(sink, LIAISON)[1].text()
    assert _mails_to(sink, ONCALL) == []

    liaison = staff_token(rt)
    with TestClient(create_app(rt)) as client:
        assert client.get("/v1/dashboard/orders", headers=auth(liaison)).json()[0]["overdue"] is False
        clock.set(start + timedelta(hours=1, seconds=1))
        rt.runner.reconcile()
        dash = client.get("/v1/dashboard/orders", headers=auth(liaison)).json()
    order = _state(rt, tracking)
    assert order.escalated_at == start + timedelta(hours=1, seconds=1)
    assert dash[0]["overdue"] is True and dash[0]["seconds_left"] < 0
    assert order.reported_back_at is not None and order.receipt is not None  # interim receipt at the deadline
    assert [h["tracking_id"] for h in hooks.received] == [tracking]
    assert hooks.received[0]["event"] == "order.overdue"
    (overdue,) = _mails_to(sink, ONCALL)
    assert overdue.subject == f"[OVERDUE] {tracking}"
    assert f"Order {tracking} (terrorist_content) is OVERDUE since {deadline} UTC" in overdue.text()
    # Each alert fires once, however often the reconciler runs.
    clock.advance(timedelta(hours=2))
    rt.runner.reconcile()
    assert len(hooks.received) == 1
    assert len(_mails_to(sink, LIAISON)) == 2 and len(_mails_to(sink, ONCALL)) == 1
    with rt.db.sessions() as session:
        pending = session.scalars(select(ScheduledTask).where(ScheduledTask.status == TaskStatus.PENDING,
                                                              ScheduledTask.job == "orders.sla")).all()
    assert pending == []


def test_completed_order_cancels_its_clock(settings: Settings, clock: FakeClock, connection: Connection) -> None:
    rt = build_system(settings, clock=clock, engine=connection.engine, bind=connection)
    tracking = _order(rt)
    liaison = staff_token(rt)
    with TestClient(create_app(rt)) as client:
        assert client.post(f"/v1/orders/{tracking}/review", headers=auth(liaison),
                           json={"approve": True}).status_code == 200
    for _ in range(5):
        rt.runner.reconcile()
        clock.advance(timedelta(seconds=2))
    assert _state(rt, tracking).status.value == "completed"
    clock.advance(timedelta(hours=2))
    rt.runner.reconcile()
    order = _state(rt, tracking)
    assert order.reminded_50_at is None and order.escalated_at is None
