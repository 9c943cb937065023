"""On a real database (no test savepoints): Firebreak's link works in transactions of its own.

The scan may write (on SQLite a writer holds the whole file) and submitting an event may fetch the media through
the adapter at once; so the sandbox holds no transaction while it scans, and reports only what it committed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event, text

from firebreak.bootstrap.system import System, build_system
from firebreak.core.clock import FakeClock
from firebreak.core.config import Settings
from firebreak.core.db.session import Database
from firebreak.core.http.deps import Components, install
from firebreak.core.http.problems import install_problem_handlers
from firebreak.integrations.sandbox import service
from firebreak.integrations.sandbox.adapter import SandboxAdapter
from firebreak.integrations.sandbox.api import router
from firebreak.integrations.sandbox.flows import Sandbox, SandboxDeps
from firebreak.platform.adapters import FetchedMedia
from firebreak.platform.schemas import ChatIn, PlatformEvent, ScanResult, SenderIn, Verdict
from tests.conftest import DatabaseFactory
from tests.integrations.sandbox.doubles import png


@dataclass
class TransactionalLink:
    """Scans inside a write transaction and fetches each posted file back through the adapter."""

    system: System
    adapter: SandboxAdapter
    fetched: list[FetchedMedia] = field(default_factory=list)

    def scan_upload(self, integration: str, data: bytes, *, uploader: SenderIn | None = None,
                    chat: ChatIn | None = None) -> ScanResult:
        with self.system.db.transaction() as session:
            session.execute(text("SELECT 1"))
        return ScanResult(verdict=Verdict.ALLOW, matches=[], checked_at=self.system.clock.now())

    def submit_event(self, integration: str, event: PlatformEvent) -> None:
        for media in event.media:
            self.fetched.append(self.adapter.fetch_media(media.url or ""))


@pytest.fixture
def real_system(databases: DatabaseFactory, backend: str, settings: Settings,
                 clock: FakeClock) -> Iterator[System]:
    engine = databases.migrated_engine(backend)
    if backend == "sqlite":
        @event.listens_for(engine, "connect")
        def _fail_fast(dbapi_conn: Any, _record: Any) -> None:  # a lock wait would otherwise last 30 s
            dbapi_conn.execute("PRAGMA busy_timeout=2000")

    system = build_system(settings, clock=clock, engine=engine)
    yield system
    system.close()


def test_scan_and_events_run_outside_sandbox_transactions(real_system: System) -> None:
    adapter = SandboxAdapter(sessions=real_system.db.sessions, clock=real_system.clock)
    link = TransactionalLink(real_system, adapter)
    sandbox = Sandbox(SandboxDeps(db=real_system.db, clock=real_system.clock, link=link))
    with real_system.db.transaction() as s:
        alice = service.create_user(session=s, clock=real_system.clock, handle="alice")
        chat = service.create_chat(session=s, clock=real_system.clock, creator=alice, title="Room").external_id
    app = FastAPI()
    found = Components()
    found.add(Sandbox, sandbox)
    found.add(Database, real_system.db)
    install(app, found)
    install_problem_handlers(app)
    app.include_router(router)
    with TestClient(app) as client:
        posted = client.post(f"/sandbox/api/chats/{chat}/messages", headers={"X-Sandbox-User": "alice"},
                             files={"file": ("a.png", png(1), "image/png")})
        assert posted.status_code == 201, posted.text
        forwarded = client.post(f"/sandbox/api/messages/{posted.json()['id']}/forward",
                                headers={"X-Sandbox-User": "alice"}, json={"to_chat": chat})
        assert forwarded.status_code == 201, forwarded.text
    assert [f.data for f in link.fetched] == [png(1), png(1)]
