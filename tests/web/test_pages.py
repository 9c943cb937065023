"""The shared layout, static files, the blur helper, and pages written by other domains."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pytest
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.testclient import TestClient
from jinja2 import ChoiceLoader, FileSystemLoader, TemplateNotFound

from firebreak.bootstrap.system import System
from firebreak.core import templates
from firebreak.web import templating
from firebreak.web.deps import Viewer, current_staff
from tests.web.conftest import People, build_app, csrf_of


def test_static_files_are_served_without_external_resources(client: TestClient) -> None:
    css = client.get("/static/firebreak.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "fb-blur" in css.text and "http" not in css.text and "@import" not in css.text
    js = client.get("/static/firebreak.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    for bad in ("nothing.css", "..%2Fweb%2Fsession.py", "session.py", ".hidden.css"):
        assert client.get(f"/static/{bad}").status_code == 404, bad


def test_login_page_is_accessible_and_self_contained(client: TestClient) -> None:
    page = client.get("/portal/login")
    assert page.status_code == 200
    text = page.text
    assert '<html lang="en">' in text and 'href="#main"' in text and '<main id="main"' in text
    assert '<label for="login">E-mail address</label>' in text and 'autocomplete="current-password"' in text
    assert "Authority portal" in text and "Firebreak" in text
    assert "https://" not in text and "http://" not in text  # nothing from elsewhere
    assert "<script>" not in text and "style=" not in text  # the CSP allows no inline code


def test_blur_helper_escapes_and_defaults_to_hidden() -> None:
    html = str(templating.blur('/media/1?x="><script>', alt="a <b>"))
    assert 'class="fb-blur"' in html and 'type="checkbox"' in html and "Show sensitive media" in html
    assert "<script>" not in html and "&lt;b&gt;" in html and "&#34;&gt;" in html
    assert "checked" not in html
    assert "<video" in str(templating.blur("/media/2", media="video"))


def test_durations_read_like_the_law() -> None:
    assert [templates.duration(s) for s in (3600, 86400, 172800, 604800, 90 * 60, 45)] == [
        "1 hour", "24 hours", "48 hours", "7 days", "90 minutes", "45 seconds"]


def test_domain_templates_come_from_their_package(system: System, people: People, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "list.html").write_text(
        '{% extends "base.html" %}{% block content %}<h1>Orders of {{ viewer.name }}</h1>'
        '<form method="post">{{ csrf_field() }}</form>{{ blur("/m/1", "evidence") }}{% endblock %}')
    loader = templating.env.loader
    assert isinstance(loader, ChoiceLoader)
    domain_loader = loader.loaders[1]
    assert isinstance(domain_loader, templates._DomainLoader)
    monkeypatch.setitem(domain_loader._loaders, "orders", FileSystemLoader(tmp_path))
    monkeypatch.setattr(templating.env, "cache", None)
    router = APIRouter()  # a plain router: the page still works, refusals arrive as problem details

    @router.get("/console/domain-page", response_class=HTMLResponse)
    def orders(request: Request, viewer: Annotated[Viewer, current_staff()]) -> HTMLResponse:
        return templating.render(request, "orders/list.html")

    app = build_app(system)
    app.include_router(router)
    with TestClient(app, follow_redirects=False) as client:
        r = client.get("/console/domain-page")
        assert r.status_code == 303 and r.headers["location"] == "/console/login?next=%2Fconsole%2Fdomain-page"
        token = csrf_of(client.get("/console/login").text)
        client.post("/console/login", data={"username": "alice", "password": "correct horse battery staple",
                                            "csrf_token": token})
        page = client.get("/console/domain-page")
        assert page.status_code == 200
        assert "<h1>Orders of Alice Admin</h1>" in page.text and "Signed in as" in page.text
        assert 'class="fb-blur"' in page.text and csrf_of(page.text)
    with pytest.raises(TemplateNotFound):
        templating.env.get_template("nosuchdomain/list.html")
