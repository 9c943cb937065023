"""A small world for victims' reports: the sandbox messenger with people and chats, the app, a moderator and a
liaison officer, and helpers that file reports through the public pages as a person would."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from firebreak.auth import service as auth_service
from firebreak.auth.models import Role
from firebreak.bootstrap.http import create_app
from firebreak.bootstrap.system import System
from firebreak.core.clock import FakeClock
from firebreak.integrations.sandbox import service as sandbox
from firebreak.integrations.sandbox.flows import Sandbox
from firebreak.integrations.sandbox.models import SandboxMessage
from firebreak.reports.models import VictimReport

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
SITE = "https://chat.example"


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF field on the page"
    return match[1]


def found(pattern: str, html: str) -> str:
    match = re.search(pattern, html)
    assert match, f"{pattern!r} not on the page"
    return match[1]


@dataclass
class Filed:
    case_number: str
    pin: str
    status_url: str  # path of the status link
    page: str


@dataclass
class World:
    system: System
    client: TestClient
    chats: dict[str, str] = field(default_factory=dict)  # name -> sandbox chat id

    @property
    def sandbox(self) -> Sandbox:
        assert self.system.sandbox is not None
        return self.system.sandbox

    @property
    def clock(self) -> FakeClock:
        clock = self.system.clock
        assert isinstance(clock, FakeClock)
        return clock

    def post(self, chat: str, sender: str, data: bytes, text: str | None = None) -> sandbox.MessageView:
        return self.sandbox.post(chat_ref=self.chats[chat], sender_handle=sender, text=text,
                                 upload=sandbox.Upload(data, "photo.jpg", "image/jpeg"))

    def link(self, view: sandbox.MessageView) -> str:
        return f"{SITE}/sandbox/c/{view.chat_id}/m/{view.id}"

    def message_status(self, view: sandbox.MessageView) -> str:
        with self.system.db.sessions() as session:
            message = session.get(SandboxMessage, int(view.id[1:]))
            assert message is not None
            return message.status.value

    def settle(self, rounds: int = 8) -> None:
        """Let the worker's jobs run: removals, propagation, the follow-up, mails."""
        for _ in range(rounds):
            self.system.runner.reconcile()
            self.clock.advance(timedelta(seconds=2))

    def report(self, case_number: str) -> VictimReport:
        with self.system.db.sessions() as session:
            report = session.scalar(select(VictimReport).where(VictimReport.reference == case_number))
            assert report is not None
            session.expunge(report)
            return report

    def file_report(self, links: list[str], *, lang: str = "en", client: TestClient | None = None,
                    **fields: str) -> Filed:
        """Fill in and send the report form as a person does (GET the page, then POST it)."""
        browser = client or self.client
        page = browser.get(f"/report?lang={lang}")
        assert page.status_code == 200
        data = {"csrf_token": csrf_of(page.text), "language": lang, "links": "\n".join(links),
                "category": "sexual_deepfake", "reporter": "depicted", "jurisdiction": "KR",
                "signature": "Kim Ji-woo", "good_faith": "yes", "contact_name": "", "contact_email": "",
                "contact_phone": "", "details": "", "email_updates": ""}
        data.update(fields)
        sent = browser.post("/report", data=data)
        assert sent.status_code == 201, sent.text
        return Filed(found(r'id="case-number">([^<]+)<', sent.text), found(r'id="pin">([^<]+)<', sent.text),
                     found(r'id="status-link" href="([^"]+)"', sent.text), sent.text)

    def staff_client(self, username: str, role: Role) -> TestClient:
        with self.system.db.transaction() as session:
            auth_service.create_staff_user(session=session, clock=self.system.clock, actor="test", username=username,
                                           display_name=username.title(), password=PASSWORD, role=role)
        staff = TestClient(create_app(self.system), raise_server_exceptions=False, follow_redirects=False)
        token = csrf_of(staff.get("/console/login").text)
        r = staff.post("/console/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
        assert r.status_code == 303, r.text
        return staff


def make_world(system: System, client: TestClient) -> World:
    system.prepare()
    world = World(system, client)
    with system.db.transaction() as s:
        people = {h: sandbox.create_user(session=s, clock=system.clock, handle=h) for h in
                  ("mina", "joon", "hana", "tae")}
        chats = {
            "class": sandbox.create_chat(session=s, clock=system.clock, creator=people["mina"], title="Class 2-3",
                                         members=["joon", "hana"]),
            "club": sandbox.create_chat(session=s, clock=system.clock, creator=people["joon"], title="Club",
                                        members=["tae", "hana"]),
            "square": sandbox.create_chat(session=s, clock=system.clock, creator=people["tae"], title="Square",
                                          is_public=True, members=["joon"]),
        }
        world.chats = {name: chat.external_id for name, chat in chats.items()}
    return world
