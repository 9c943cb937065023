"""Two Firebreak processes on one database (each built on its own, sharing nothing in memory): a logout in one is
refused in the other, and a login throttle counted by one holds in the other."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from firebreak.auth import service as auth_service
from firebreak.auth.models import Role
from firebreak.bootstrap.system import build_system
from firebreak.core.config import load_settings
from firebreak.schema.migrate import upgrade
from firebreak.web.session import COOKIE_NAME, LOCK_AFTER_FAILURES
from tests.conftest import DatabaseFactory
from tests.web.conftest import PASSWORD, build_app
from tests.web.test_sessions import login


@pytest.fixture
def two(tmp_path: Path, backend: str, databases: DatabaseFactory) -> Iterator[tuple[TestClient, TestClient]]:
    url = databases.new_url(backend)
    # One secret key for both, as a deployment's processes share it (cookies are signed with it).
    settings = load_settings(environ={}, data_dir=tmp_path / "var", database_url=url, queue_url="memory://",
                             secret_key="shared by every process of this deployment")
    first, second = build_system(settings), build_system(settings)
    upgrade(first.db.engine)
    with first.db.transaction() as session:
        auth_service.create_staff_user(session=session, clock=first.clock, actor="test", username="alice",
                                       display_name="Alice", password=PASSWORD, role=Role.ADMIN)
    with (TestClient(build_app(first), follow_redirects=False) as a,
          TestClient(build_app(second), follow_redirects=False) as b):
        yield a, b
    for system in (first, second):
        system.close()


def _systems_differ(a: TestClient, b: TestClient) -> None:
    assert a.app is not b.app


def test_logout_in_one_process_is_refused_in_the_other(two: tuple[TestClient, TestClient]) -> None:
    a, b = two
    _systems_differ(a, b)
    assert login(a)[0] == 303
    cookie = a.cookies[COOKIE_NAME]
    b.cookies.set(COOKIE_NAME, cookie)  # the same browser, its next request served by the other process
    assert b.get("/console").status_code == 200
    page = a.get("/console").text
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    assert a.post("/logout", data={"csrf_token": token}).status_code == 303
    b.cookies.clear()
    b.cookies.set(COOKIE_NAME, cookie)  # a copy of the cookie from before the logout
    assert b.get("/console").status_code == 303  # refused: back to the login page


def test_a_throttle_counted_in_one_process_holds_in_the_other(two: tuple[TestClient, TestClient]) -> None:
    a, b = two
    for i in range(LOCK_AFTER_FAILURES):
        assert login(a if i % 2 else b, password="wrong")[0] == 200
    status, _, text = login(a)
    assert status == 429 and "Too many failed attempts" in text
    assert login(b)[0] == 429
