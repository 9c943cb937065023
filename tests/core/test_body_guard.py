"""The body guard: a request body is read only for a caller with credentials, and never past the route's limit.

Each request here goes straight to the ASGI application with a ``receive`` that counts what the application pulls,
so "refused before the body was read" is measured, not assumed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi import FastAPI

from firebreak.auth import service as auth_service
from firebreak.auth.models import CredentialScope, Role
from firebreak.authorities.models import Authority, TrustLevel
from firebreak.bootstrap.http import create_app
from firebreak.bootstrap.system import System
from firebreak.core.config import Settings, load_settings
from firebreak.core.http.guard import BodyLimits

MB = 1024 * 1024
BIG = 300 * MB  # what the client says it sends; only what the app pulls is ever produced
CHUNK = 64 * 1024


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    chunks_read: int = 0

    def json(self) -> dict[str, object]:
        found: dict[str, object] = json.loads(self.body)
        return found


@dataclass
class Body:
    """A request body of ``size`` bytes, produced chunk by chunk as the application asks for it."""

    size: int
    chunks_read: int = 0
    _sent: int = field(default=0)

    async def receive(self) -> dict[str, object]:
        if self._sent >= self.size:
            await asyncio.sleep(0)
            return {"type": "http.disconnect"}
        n = min(CHUNK, self.size - self._sent)
        self._sent += n
        self.chunks_read += 1
        return {"type": "http.request", "body": b"x" * n, "more_body": self._sent < self.size}


def call(app: FastAPI, method: str, path: str, *, headers: dict[str, str], size: int,
         declare_length: bool = True) -> Answer:
    body = Body(size)
    sent: list[dict[str, object]] = []
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    if declare_length:
        raw.append((b"content-length", str(size).encode()))
    else:
        raw.append((b"transfer-encoding", b"chunked"))
    path, _, query = path.partition("?")
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": query.encode(), "root_path": "",
             "headers": raw, "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000)}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    asyncio.run(app(scope, body.receive, send))  # type: ignore[arg-type]
    start = next(m for m in sent if m["type"] == "http.response.start")
    content = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")  # type: ignore[misc]
    answer_headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}  # type: ignore[attr-defined]
    return Answer(int(start["status"]), answer_headers, content, body.chunks_read)  # type: ignore[call-overload]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Small limits, so that a body cut off at the limit is cheap to produce."""
    return load_settings(environ={}, data_dir=tmp_path / "var", queue_url="memory://", max_upload_bytes=MB,
                         max_form_bytes=64 * 1024)


@pytest.fixture
def app(system: System) -> Iterator[FastAPI]:
    yield create_app(system)


def staff_token(system: System) -> str:
    with system.db.transaction() as session:
        user = auth_service.create_staff_user(session=session, clock=system.clock, actor="test", username="guard",
                                              password="a long password!", role=Role.ADMIN)
        return auth_service.issue_token(session=session, clock=system.clock, actor="test", name="t",
                                        scope=CredentialScope.STAFF, staff_user_id=user.id).token


def authority_token(system: System) -> str:
    with system.db.transaction() as session:
        authority = Authority(name="Guard Authority", country="DE", jurisdiction="Germany", legal_bases=[],
                              mail_domains=[], mail_addresses=[], default_deadlines={},
                              trust_level=TrustLevel.STANDARD, trusted_categories=[], language="en",
                              created_at=system.clock.now())
        session.add(authority)
        session.flush()
        return auth_service.issue_token(session=session, clock=system.clock, actor="test", name="api",
                                        scope=CredentialScope.AUTHORITY, authority_id=authority.id).token


API_ROUTES = [("POST", "/v1/orders", "application/json"), ("POST", "/v1/scan", "application/octet-stream"),
              ("POST", "/v1/events", "application/json"), ("POST", "/h/hash", "multipart/form-data; boundary=b"),
              ("POST", "/c/bank/x/content", "multipart/form-data; boundary=b"),
              ("POST", "/v1/banks/x/import", "text/plain"), ("PATCH", "/v1/authorities/1", "application/json")]


@pytest.mark.parametrize(("method", "path", "content_type"), API_ROUTES)
@pytest.mark.parametrize("authorization", [None, "Bearer fbk_not-a-token", "Basic YWRtaW46YWRtaW4="])
def test_no_or_wrong_credentials_are_refused_before_the_body_is_read(
        app: FastAPI, method: str, path: str, content_type: str, authorization: str | None) -> None:
    headers = {"content-type": content_type} | ({"authorization": authorization} if authorization else {})
    for declare_length in (True, False):
        answer = call(app, method, path, headers=headers, size=BIG, declare_length=declare_length)
        assert answer.status == 401, answer.body
        assert answer.chunks_read == 0
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.headers["www-authenticate"] in ("Bearer", "Firebreak-Signature")


def test_a_revoked_token_is_refused_before_the_body_is_read(app: FastAPI, system: System) -> None:
    token = staff_token(system)
    with system.db.transaction() as session:
        credential = auth_service.resolve_token(session=session, clock=system.clock, token=token)
        assert credential is not None
        auth_service.revoke_token(session=session, clock=system.clock, actor="test", credential=credential)
    answer = call(app, "POST", "/v1/authorities", headers={"authorization": f"Bearer {token}",
                                                           "content-type": "application/json"}, size=BIG)
    assert answer.status == 401 and answer.chunks_read == 0
    assert "revoked" in answer.json()["detail"]  # type: ignore[operator]


def test_a_declared_length_over_the_limit_is_refused_before_reading(app: FastAPI, system: System) -> None:
    limits = BodyLimits.of_settings(system.settings)
    auth = {"authorization": f"Bearer {staff_token(system)}"}
    # A route that takes JSON only: the small limit.
    answer = call(app, "POST", "/v1/authorities", headers=auth | {"content-type": "application/json"},
                  size=limits.form + 1)
    assert answer.status == 413 and answer.chunks_read == 0
    assert answer.headers["content-type"] == "application/problem+json"
    assert f"{limits.form} bytes" in answer.json()["detail"]  # type: ignore[operator]
    # An upload route takes one file's worth, not more.
    answer = call(app, "POST", "/h/hash", headers=auth | {"content-type": "multipart/form-data; boundary=b"},
                  size=BIG)
    assert answer.status == 413 and answer.chunks_read == 0


def test_a_chunked_body_is_cut_off_at_the_limit(app: FastAPI, system: System) -> None:
    limits = BodyLimits.of_settings(system.settings)
    auth = {"authorization": f"Bearer {staff_token(system)}", "content-type": "application/json"}
    answer = call(app, "POST", "/v1/authorities", headers=auth, size=BIG, declare_length=False)
    assert answer.status == 413
    assert answer.chunks_read * CHUNK <= limits.form + CHUNK  # stopped at the limit, not at 300 MB
    answer = call(app, "POST", "/v1/orders", headers={"authorization": f"Bearer {authority_token(system)}",
                                                      "content-type": "application/json"},
                  size=limits.request + 10 * CHUNK, declare_length=False)
    assert answer.status == 413
    assert answer.chunks_read * CHUNK <= limits.request + CHUNK


def test_a_signed_call_from_an_unknown_integration_is_refused_before_reading(app: FastAPI, system: System) -> None:
    headers = {"firebreak-integration": "nobody", "firebreak-signature": "t=1,n=abc,v1=00",
               "content-type": "application/octet-stream"}
    answer = call(app, "POST", "/v1/scan", headers=headers, size=BIG, declare_length=False)
    assert answer.status == 401 and answer.chunks_read == 0
    assert "unknown integration" in answer.json()["detail"]  # type: ignore[operator]


def test_a_page_answers_a_body_too_large_in_html(app: FastAPI, system: System) -> None:
    answer = call(app, "POST", "/console/login", headers={"content-type": "application/x-www-form-urlencoded"},
                  size=BodyLimits.of_settings(system.settings).form + 1)
    assert answer.status == 413 and answer.chunks_read == 0
    assert answer.headers["content-type"].startswith("text/html")
    assert b"Too large" in answer.body and b"smaller file" in answer.body
    assert answer.headers["x-frame-options"] == "DENY"


def test_limits_follow_the_settings(system: System) -> None:
    limits = BodyLimits.of_settings(system.settings)
    settings = system.settings
    assert limits.form == settings.max_form_bytes
    assert limits.upload == settings.max_upload_bytes * 4 // 3 + MB  # one file, base64 in JSON at worst
    assert limits.request == settings.request_body_limit >= limits.upload
