"""Fixtures for the console's pages: the console world on the ``system`` fixture, and logged-in clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from firebreak.auth import service as auth_service
from firebreak.bootstrap.http import create_app
from firebreak.bootstrap.system import System
from firebreak.core.clock import FakeClock
from tests.console.world import PASSWORD, ConsoleWorld, build_world, csrf_of


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth_service, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


def settle(system: System, clock: FakeClock, rounds: int = 8) -> None:
    for _ in range(rounds):
        system.runner.reconcile()
        clock.advance(timedelta(seconds=2))
    system.runner.reconcile()


@pytest.fixture
def world(system: System, clock: FakeClock) -> ConsoleWorld:
    system.prepare()
    return build_world(system, lambda: settle(system, clock))


@pytest.fixture
def login(system: System) -> Iterator[Callable[[str], TestClient]]:
    clients: list[TestClient] = []
    app = create_app(system)

    def make(username: str) -> TestClient:
        client = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
        clients.append(client)
        page = client.get("/console/login")
        r = client.post("/console/login", data={"username": username, "password": PASSWORD,
                                                "csrf_token": csrf_of(page.text), "next": "/console"})
        assert r.status_code == 303 and r.headers["location"] == "/console", r.text
        return client

    yield make
    for client in clients:
        client.close()
