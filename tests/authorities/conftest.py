"""Fixtures for the authority registry: a client with the registry's routes, tokens for each staff role."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient

from firebreak.auth import service as auth_service
from firebreak.auth.models import CredentialScope, Role
from firebreak.authorities import api as authorities_api
from firebreak.bootstrap.http import create_app
from firebreak.bootstrap.system import System


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real argon2 with test-sized cost, so that the many logins here take milliseconds, not seconds each."""
    monkeypatch.setattr(auth_service, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


def build_app(system: System) -> FastAPI:
    app = create_app(system)
    if not any(getattr(route, "path", "") == "/v1/authorities/me" for route in app.routes):
        app.include_router(authorities_api.router)
    return app


@pytest.fixture
def client(system: System) -> Iterator[TestClient]:
    with TestClient(build_app(system), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def staff_token(system: System) -> Callable[[Role], str]:
    def make(role: Role) -> str:
        with system.db.transaction() as session:
            user = auth_service.create_staff_user(session=session, clock=system.clock, actor="test",
                                                  username=f"u-{role.value}", password="a long password!", role=role)
            return auth_service.issue_token(session=session, clock=system.clock, actor="test", name="t",
                                            scope=CredentialScope.STAFF, staff_user_id=user.id).token

    return make

