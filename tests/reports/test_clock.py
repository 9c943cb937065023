"""Clocks by jurisdiction, handled like authority deadlines: reminders at 50% and 90%, escalation at the deadline,
each once, also across a restart; a decision stops the clock. Moved with a fake clock."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, select

from firebreak.auth.models import Role
from firebreak.bootstrap.http import create_app
from firebreak.bootstrap.system import build_system
from firebreak.core.clock import FakeClock
from firebreak.core.config import Settings
from firebreak.core.jobs.models import ScheduledTask, TaskStatus
from firebreak.reports.service import Deadlines
from tests.mail.sink import SinkMessage, SmtpSink
from tests.reports.world import World, csrf_of, make_world
from tests.support import jpeg, scene

TEAM, ONCALL = "victims-team@platform.test", "oncall@platform.test"


class Hooks:
    """A webhook receiver on loopback."""

    def __init__(self) -> None:
        self.received: list[dict[str, object]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/oncall"


@pytest.fixture
def hooks() -> Iterator[Hooks]:
    h = Hooks()
    yield h
    h.server.shutdown()
    h.server.server_close()


@pytest.fixture
def settings(settings: Settings, hooks: Hooks) -> Settings:
    return settings.model_copy(update={"victim_review_email": TEAM, "oncall_email": ONCALL,
                                       "oncall_webhook_url": hooks.url})


def _to(sink: SmtpSink, address: str) -> list[SinkMessage]:
    return [m for m in sink.messages if address in m.envelope_to]


def _fresh(world: World, settings: Settings, clock: FakeClock, connection: Connection) -> World:
    """The same database in a new process: deadlines are rows, so nothing is forgotten."""
    system = build_system(settings, clock=clock, engine=connection.engine, bind=connection)
    return World(system, TestClient(create_app(system), raise_server_exceptions=False, follow_redirects=False),
                 world.chats)


def test_a_korean_deletion_request_gets_24_hours_with_reminders_and_escalation_across_a_restart(
        world: World, sink: SmtpSink, hooks: Hooks, settings: Settings, clock: FakeClock,
        connection: Connection) -> None:
    message = world.post("class", "joon", jpeg(scene(31), 90))
    world.settle(1)
    start = clock.now()
    filed = world.file_report([world.link(message)], jurisdiction="KR")
    report = world.report(filed.case_number)
    assert report.deadline_at == start + timedelta(hours=24) and report.priority == 80

    clock.set(start + timedelta(hours=11, minutes=59))
    world.system.runner.reconcile()
    assert world.report(filed.case_number).reminded_50_at is None and _to(sink, TEAM) == []
    clock.set(start + timedelta(hours=12))
    world.system.runner.reconcile()
    assert world.report(filed.case_number).reminded_50_at == start + timedelta(hours=12)
    (half,) = _to(sink, TEAM)
    assert half.subject == f"[50%] {filed.case_number}: 12h00m left"
    assert "sexual_deepfake, jurisdiction KR" in half.text() and f"/console/reports/{filed.case_number}" in half.text()
    assert "Kim" not in half.text() and "chat.example" not in half.text()  # staff mail: no reporter, no link

    world = _fresh(world, settings, clock, connection)  # a restart
    clock.set(start + timedelta(hours=21, minutes=36))
    world.system.runner.reconcile()
    assert world.report(filed.case_number).reminded_90_at == start + timedelta(hours=21, minutes=36)
    assert [m.subject for m in _to(sink, TEAM)][1] == f"[90%] {filed.case_number}: 2h24m left"
    assert _to(sink, ONCALL) == [] and hooks.received == []

    moderator = world.staff_client("mod", Role.MODERATOR)
    clock.set(start + timedelta(hours=24, seconds=1))
    world.system.runner.reconcile()
    report = world.report(filed.case_number)
    assert report.escalated_at == start + timedelta(hours=24, seconds=1)
    assert report.priority == 100  # escalated to the top of the queue
    (overdue,) = _to(sink, ONCALL)
    assert overdue.subject == f"[OVERDUE] {filed.case_number}"
    assert hooks.received == [{"event": "victim_report.overdue", "case_number": filed.case_number,
                               "category": "sexual_deepfake", "jurisdiction": "KR",
                               "deadline_at": (start + timedelta(hours=24)).isoformat()}]
    listing = moderator.get("/console/reports").text
    assert "overdue" in listing and filed.case_number in listing
    # Each fires once, however often the worker looks.
    clock.advance(timedelta(hours=3))
    world.system.runner.reconcile()
    assert len(_to(sink, TEAM)) == 2 and len(_to(sink, ONCALL)) == 1 and len(hooks.received) == 1


def test_deadlines_follow_the_jurisdiction_and_a_decision_stops_the_clock(world: World, clock: FakeClock,
                                                                          sink: SmtpSink) -> None:
    messages = [world.post("class", "joon", jpeg(scene(40 + i), 90)) for i in range(3)]
    world.settle(1)
    start = clock.now()
    complete_us = world.file_report([world.link(messages[0])], jurisdiction="US", contact_email="a@example.org")
    bare_us = world.file_report([world.link(messages[1])], jurisdiction="US")  # no contact: not a complete request
    elsewhere = world.file_report([world.link(messages[2])], jurisdiction="", category="csam")
    assert world.report(complete_us.case_number).deadline_at == start + timedelta(hours=48)
    assert world.report(complete_us.case_number).complete_request is True
    assert world.report(bare_us.case_number).complete_request is False
    assert world.report(bare_us.case_number).deadline_at == start + timedelta(hours=48)  # the default applies
    assert world.report(elsewhere.case_number).priority == 100  # a child: first in the queue
    listing = world.staff_client("mod", Role.MODERATOR).get("/console/reports").text
    assert listing.index(elsewhere.case_number) < listing.index(complete_us.case_number)

    moderator = world.staff_client("mod2", Role.MODERATOR)
    detail = moderator.get(f"/console/reports/{complete_us.case_number}")
    moderator.post(f"/console/reports/{complete_us.case_number}/confirm", data={"csrf_token": csrf_of(detail.text)})
    world.client.post(f"{bare_us.status_url}/withdraw", data={
        "csrf_token": csrf_of(world.client.get(bare_us.status_url).text), "confirm": "yes"})
    with world.system.db.sessions() as session:
        ids = {world.report(c.case_number).id for c in (complete_us, bare_us)}
        tasks = session.scalars(select(ScheduledTask).where(ScheduledTask.job == "reports.sla")).all()
    assert {t.status for t in tasks if t.payload["report_id"] in ids} == {TaskStatus.CANCELLED}
    clock.set(start + timedelta(hours=60))
    world.system.runner.reconcile()
    assert all(world.report(c.case_number).escalated_at is None for c in (complete_us, bare_us))
    assert world.report(elsewhere.case_number).escalated_at is not None


def test_deadline_rules() -> None:
    rules = Deadlines(hours={"KR": 12, "US": 48}, default_hours=72)
    assert rules.allowed("KR", complete=False) == timedelta(hours=12)
    assert rules.allowed("US", complete=True) == timedelta(hours=48)
    assert rules.allowed("US", complete=False) == timedelta(hours=72)
    assert rules.allowed("", complete=True) == timedelta(hours=72)
    assert rules.allowed("DE", complete=True) == timedelta(hours=72)


def test_deadlines_are_configurable_per_jurisdiction(settings: Settings, clock: FakeClock,
                                                     connection: Connection) -> None:
    configured = settings.model_copy(update={"victim_deadline_hours": {"KR": 6, "US": 48, "JP": 12},
                                             "victim_default_deadline_hours": 36})
    system = build_system(configured, clock=clock, engine=connection.engine, bind=connection)
    world = make_world(system, TestClient(create_app(system), raise_server_exceptions=False, follow_redirects=False))
    message = world.post("class", "joon", jpeg(scene(50), 90))
    world.settle(1)
    start = clock.now()
    korea = world.file_report([world.link(message)], jurisdiction="KR")
    japan = world.file_report([world.link(message)], jurisdiction="JP")
    other = world.file_report([world.link(message)], jurisdiction="")
    assert world.report(korea.case_number).deadline_at == start + timedelta(hours=6)
    assert world.report(japan.case_number).deadline_at == start + timedelta(hours=12)
    assert world.report(other.case_number).deadline_at == start + timedelta(hours=36)
    page = world.client.get("/report?lang=en").text
    assert "within 6 hours for a deletion request under Korean law, 48 hours for a complete request" in page
    assert '<option value="JP">Japan</option>' in page  # every jurisdiction with its own deadline can be chosen
