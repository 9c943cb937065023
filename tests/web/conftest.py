"""Fixtures for browser tests: an app with the web routes, staff and officers with passwords, a page-test router."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

import pytest
from argon2 import PasswordHasher
from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, PlainTextResponse
from fastapi.testclient import TestClient
from pydantic import SecretStr

from firebreak.auth import service as auth_service
from firebreak.auth.models import Role
from firebreak.authorities import service as authorities
from firebreak.authorities.schemas import AuthorityCreate, ContactCreate
from firebreak.bootstrap.http import create_app
from firebreak.bootstrap.system import System
from firebreak.web import routes as web_routes
from firebreak.web.deps import Viewer, current_contact, current_staff, ensure_own_authority, web_router
from firebreak.web.templating import render

PASSWORD = "correct horse battery staple"


def page_test_router() -> APIRouter:
    """Pages the way other domains will write them, to test the dependencies they rely on."""
    router = web_router()

    @router.post("/console/test/echo", response_class=PlainTextResponse)
    def echo(viewer: Annotated[Viewer, current_staff()], text: Annotated[str, Form()] = "") -> str:
        return f"{viewer.login}: {text}"

    @router.get("/console/test/admin", response_class=PlainTextResponse)
    def admin_only(viewer: Annotated[Viewer, current_staff(Role.ADMIN)]) -> str:
        return f"admin page for {viewer.login}"

    @router.get("/portal/test/authorities/{authority_id}", response_class=HTMLResponse)
    def authority_page(request: Request, authority_id: int,
                       viewer: Annotated[Viewer, current_contact()]) -> HTMLResponse:
        ensure_own_authority(viewer, authority_id)
        return render(request, "error.html", {"title": "Authority page", "message": f"authority {authority_id}"})

    return router



@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real argon2 with test-sized cost, so that the many logins here take milliseconds, not seconds each."""
    monkeypatch.setattr(auth_service, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


def build_app(system: System) -> FastAPI:
    app = create_app(system)
    if not any(getattr(route, "path", "") == "/console/login" for route in app.routes):
        app.include_router(web_routes.router)
    app.include_router(page_test_router())
    return app


@pytest.fixture
def client(system: System) -> Iterator[TestClient]:
    with TestClient(build_app(system), raise_server_exceptions=False, follow_redirects=False) as c:
        yield c


@dataclass(frozen=True)
class People:
    admin_id: int
    moderator_id: int
    authority_a: int
    authority_b: int
    contact_a: int
    contact_b: int


@pytest.fixture
def people(system: System) -> People:
    clock = system.clock
    with system.db.transaction() as session:
        admin = auth_service.create_staff_user(session=session, clock=clock, actor="test", username="alice",
                                               display_name="Alice Admin", password=PASSWORD, role=Role.ADMIN)
        moderator = auth_service.create_staff_user(session=session, clock=clock, actor="test", username="mo",
                                                   display_name="Mo Moderator", password=PASSWORD,
                                                   role=Role.MODERATOR)
        ids = []
        for name, country, email in (("Bundeskriminalamt", "DE", "jana@bka.example"),
                                     ("Korea Communications Standards Commission", "KR", "min@kocsc.example")):
            authority = authorities.create_authority(session=session, clock=clock, actor="test", data=AuthorityCreate(
                name=name, country=country, jurisdiction=name))
            contact = authorities.add_contact(session=session, clock=clock, actor="test", authority=authority,
                                              data=ContactCreate(name=f"Officer of {name}", email=email,
                                                                 password=SecretStr(PASSWORD)))
            ids.append((authority.id, contact.id))
        return People(admin.id, moderator.id, ids[0][0], ids[1][0], ids[0][1], ids[1][1])


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF field on the page"
    return match[1]
