"""Fixtures for victims' reports: a world with the sandbox messenger, cheap password hashing, a mail sink."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from firebreak.auth import service as auth_service
from firebreak.bootstrap.http import create_app
from firebreak.bootstrap.system import System
from firebreak.core.config import Settings
from tests.mail.sink import SmtpSink
from tests.reports.world import World, make_world


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real argon2 with test-sized cost, so staff logins take milliseconds."""
    monkeypatch.setattr(auth_service, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as server:
        yield server


@pytest.fixture
def settings(settings: Settings, sink: SmtpSink) -> Settings:
    return settings.model_copy(update={"outgoing_smtp_host": sink.host, "outgoing_smtp_port": sink.port,
                                       "liaison_email": "liaison@platform.test",
                                       "oncall_email": "oncall@platform.test"})


@pytest.fixture
def client(system: System) -> Iterator[TestClient]:
    with TestClient(create_app(system), raise_server_exceptions=False, follow_redirects=False) as c:
        yield c


@pytest.fixture
def world(system: System, client: TestClient) -> World:
    return make_world(system, client)
