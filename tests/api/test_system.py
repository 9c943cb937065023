"""Health, readiness, problem details and authentication of the HTTP API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from pydantic import BaseModel

from firebreak.auth import service as auth_service
from firebreak.auth.models import CredentialScope, Role
from firebreak.bootstrap.http import create_app
from firebreak.bootstrap.system import System


@pytest.fixture
def client(system: System) -> Iterator[TestClient]:
    with TestClient(create_app(system), raise_server_exceptions=False) as c:
        yield c


class Thing(BaseModel):
    name: str
    count: int


def _staff_token(system: System, role: Role) -> str:
    with system.db.transaction() as session:
        user = auth_service.create_staff_user(session=session, clock=system.clock, actor="test",
                                              username=f"u-{role.value}", password="a long password!", role=role)
        return auth_service.issue_token(session=session, clock=system.clock, actor="test", name="t",
                                        scope=CredentialScope.STAFF, staff_user_id=user.id).token


def test_healthz_and_readyz(client: TestClient, backend: str) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["database"] == backend


def test_openapi_served(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    assert "/v1/version" in client.get("/openapi.json").json()["paths"]


def test_unknown_route_is_problem_json(client: TestClient) -> None:
    r = client.get("/v1/nothing-here")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["status"] == 404 and r.json()["title"] == "Not found"


def test_missing_token_is_401_problem(client: TestClient) -> None:
    r = client.get("/v1/audit/verify")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert "Bearer" in r.json()["detail"]


def test_wrong_token_is_401(client: TestClient) -> None:
    r = client.get("/v1/audit/verify", headers={"Authorization": "Bearer fbk_nope"})
    assert r.status_code == 401


def test_role_is_checked(client: TestClient, system: System) -> None:
    moderator = _staff_token(system, Role.MODERATOR)
    auditor = _staff_token(system, Role.AUDITOR)
    assert client.get("/v1/audit/verify", headers={"Authorization": f"Bearer {moderator}"}).status_code == 403
    r = client.get("/v1/audit/verify", headers={"Authorization": f"Bearer {auditor}"})
    assert r.status_code == 200 and r.json()["ok"] is True and r.json()["events_checked"] >= 2


def test_bad_body_names_the_field(system: System) -> None:
    app = create_app(system)
    router = APIRouter()

    # Outside /v1: a body sent to /v1 needs a token before it is read (test_guard.py).
    @router.post("/things")
    def make(thing: Thing) -> Thing:
        return thing

    app.include_router(router)
    with TestClient(app) as c:
        r = c.post("/things", json={"name": "x", "count": "many"})
        assert r.status_code == 422
        body = r.json()
        assert body["errors"][0]["field"] == "count"
        assert "count" in body["detail"]
        r = c.post("/things", content=b"{not json", headers={"content-type": "application/json"})
        assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")


def test_unexpected_error_is_500_problem_without_trace(system: System) -> None:
    app = create_app(system)

    @app.get("/v1/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/v1/boom")
    assert r.status_code == 500
    assert "secret internals" not in r.text and "Traceback" not in r.text
