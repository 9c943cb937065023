"""Sandbox fixtures: a connected runtime, a recording link, a small cast."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from firebreak.api.problems import install_problem_handlers
from firebreak.clock import FakeClock
from firebreak.runtime import Runtime
from firebreak.sandbox import flows, service
from firebreak.sandbox.adapter import SandboxAdapter
from firebreak.sandbox.api import router, web_router
from firebreak.sandbox.models import ChatKind, SandboxChat, SandboxUser
from tests.sandbox.doubles import RecordingLink


@pytest.fixture
def link(clock: FakeClock) -> RecordingLink:
    return RecordingLink(clock)


@pytest.fixture
def connected(runtime: Runtime, link: RecordingLink) -> Runtime:
    flows.connect(runtime, link)
    return runtime


@pytest.fixture
def adapter(runtime: Runtime) -> SandboxAdapter:
    return SandboxAdapter(runtime)


@dataclass
class Cast:
    alice: SandboxUser
    bob: SandboxUser
    carol: SandboxUser
    group: SandboxChat  # private group: alice, bob
    square: SandboxChat  # public group: alice, carol


@pytest.fixture
def cast(runtime: Runtime) -> Cast:
    with runtime.transaction() as s:
        alice = service.create_user(session=s, clock=runtime.clock, handle="alice", display_name="Alice A.")
        bob = service.create_user(session=s, clock=runtime.clock, handle="bob")
        carol = service.create_user(session=s, clock=runtime.clock, handle="carol")
        group = service.create_chat(session=s, clock=runtime.clock, creator=alice, title="Family", members=["bob"])
        square = service.create_chat(session=s, clock=runtime.clock, creator=alice, title="Town square",
                                     kind=ChatKind.GROUP, is_public=True, members=["carol"])
    return Cast(alice, bob, carol, group, square)


@pytest.fixture
def client(connected: Runtime) -> Iterator[TestClient]:
    app = FastAPI()
    app.state.runtime = connected
    install_problem_handlers(app)
    app.include_router(router)
    app.include_router(web_router)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
