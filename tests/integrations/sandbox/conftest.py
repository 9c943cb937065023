"""Sandbox fixtures: a connected system, a recording link, a small cast."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from firebreak.bootstrap.system import System
from firebreak.core.clock import FakeClock
from firebreak.core.db.session import Database
from firebreak.core.http.deps import Components, install
from firebreak.core.http.problems import install_problem_handlers
from firebreak.integrations.sandbox import service
from firebreak.integrations.sandbox.adapter import SandboxAdapter
from firebreak.integrations.sandbox.api import router
from firebreak.integrations.sandbox.flows import Sandbox, SandboxDeps
from firebreak.integrations.sandbox.models import ChatKind, SandboxChat, SandboxUser
from firebreak.integrations.sandbox.web import router as web_router
from tests.integrations.sandbox.doubles import RecordingLink


@pytest.fixture
def link(clock: FakeClock) -> RecordingLink:
    return RecordingLink(clock)


@pytest.fixture
def connected(system: System, link: RecordingLink) -> Sandbox:
    """The sandbox with a recording link in place of Firebreak."""
    return Sandbox(SandboxDeps(db=system.db, clock=system.clock, link=link,
                               platform_name=system.settings.platform_name))


@pytest.fixture
def adapter(system: System) -> SandboxAdapter:
    return SandboxAdapter(sessions=system.db.sessions, clock=system.clock)


@dataclass
class Cast:
    alice: SandboxUser
    bob: SandboxUser
    carol: SandboxUser
    group: SandboxChat  # private group: alice, bob
    square: SandboxChat  # public group: alice, carol


@pytest.fixture
def cast(system: System) -> Cast:
    with system.db.transaction() as s:
        alice = service.create_user(session=s, clock=system.clock, handle="alice", display_name="Alice A.")
        bob = service.create_user(session=s, clock=system.clock, handle="bob")
        carol = service.create_user(session=s, clock=system.clock, handle="carol")
        group = service.create_chat(session=s, clock=system.clock, creator=alice, title="Family", members=["bob"])
        square = service.create_chat(session=s, clock=system.clock, creator=alice, title="Town square",
                                     kind=ChatKind.GROUP, is_public=True, members=["carol"])
    return Cast(alice, bob, carol, group, square)


@pytest.fixture
def client(connected: Sandbox) -> Iterator[TestClient]:
    app = FastAPI()
    found = Components()
    found.add(Sandbox, connected)
    found.add(Database, connected.deps.db)
    install(app, found)
    install_problem_handlers(app)
    app.include_router(router)
    app.include_router(web_router)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
