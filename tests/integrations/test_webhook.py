"""The generic webhook integration, both ways, as a platform engineer following docs/webhook.md would build it.

In: events and upload checks, signed with HMAC-SHA256 (computed here from the documented recipe, not with
Firebreak's own helper), replay-protected and audited when refused. Out: Firebreak POSTs signed actions to the
platform's action endpoint, a real HTTP server on loopback that checks each signature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from firebreak.audit.models import AuditEvent
from firebreak.auth import service as auth_service
from firebreak.auth.models import CredentialScope
from firebreak.banks import service as banks
from firebreak.banks.models import MatchAction, Provenance
from firebreak.bootstrap.http import create_app
from firebreak.bootstrap.system import System, build_system
from firebreak.core.clock import Clock, FakeClock, SystemClock
from firebreak.core.config import load_settings
from firebreak.enforcement.models import Action, ActionKind, ActionStatus
from firebreak.matching.service import SYNC_INTERVAL
from firebreak.media.models import Media, Placement, PlacementStatus
from firebreak.platform import signing
from firebreak.platform.adapters import LinkTarget
from firebreak.platform.models import Chat, PlatformIntegration
from firebreak.signals.hashing import hash_bytes
from tests.conftest import DatabaseFactory
from tests.support import copies_of, jpeg, photo

INTEGRATION = "shop"


# -- the platform's side ----------------------------------------------------------------------------------------

def sign(secret: str, body: bytes, t: int, nonce: str | None = None) -> str:
    """Firebreak-Signature as docs/webhook.md describes it: HMAC-SHA256 over "<t>.<nonce>." + body."""
    nonce = nonce or secrets.token_hex(8)
    mac = hmac.new(secret.encode(), f"{t}.{nonce}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},n={nonce},v1={mac}"


def signed_headers(secret: str, body: bytes, when: datetime, content_type: str = "application/json",
                   nonce: str | None = None) -> dict[str, str]:
    return {"Firebreak-Integration": INTEGRATION, "Firebreak-Signature": sign(secret, body, int(when.timestamp()),
                                                                              nonce), "Content-Type": content_type}


def event(chat: str, message: str, data: bytes | None, when: datetime, *, sender: str = "u1",
          kind: str = "media_posted", forwarded_from: tuple[str, str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_id": f"evt-{chat}-{message}", "kind": kind,
        "chat": {"id": chat, "kind": "group", "is_public": False, "member_count": 40, "title": f"Chat {chat}"},
        "message_id": message, "sender": {"id": sender, "display_name": sender.upper()},
        "sent_at": when.isoformat(),
        "media": [] if data is None else [{"media_id": f"file-{chat}-{message}", "mime_type": "image/jpeg",
                                           "data_base64": base64.b64encode(data).decode()}],
    }
    if forwarded_from:
        body["forwarded_from"] = {"chat_id": forwarded_from[0], "message_id": forwarded_from[1]}
    return body


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    signature_ok: bool
    signature_error: str | None


@dataclass
class ActionEndpoint:
    """The platform's action endpoint: checks Firebreak's signature, records each call, answers as told."""

    clock: Clock
    secret: bytes = b""
    answers: list[tuple[int, str]] = field(default_factory=list)  # (status, body) for the next calls; then 200
    received: list[Received] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)  # path -> bytes, for media given by URL in events
    fetches: list[tuple[str, bool]] = field(default_factory=list)  # (path, signature ok)

    def start(self, port: int = 0) -> None:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                try:
                    signing.verify(endpoint.secret, body, self.headers.get(signing.HEADER), endpoint.clock.now())
                    ok, error = True, None
                except signing.SignatureError as exc:
                    ok, error = False, str(exc)
                endpoint.received.append(Received(self.path, dict(self.headers.items()), json.loads(body), ok, error))
                status, text = endpoint.answers.pop(0) if endpoint.answers and ok else (200 if ok else 401, "")
                payload = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                url = f"http://{self.headers['Host']}{self.path}"  # media fetches sign the URL itself
                try:
                    signing.verify(endpoint.secret, url.encode(), self.headers.get(signing.HEADER),
                                   endpoint.clock.now())
                    ok = True
                except signing.SignatureError:
                    ok = False
                endpoint.fetches.append((self.path, ok))
                data = endpoint.files.get(self.path) if ok else None
                self.send_response(200 if data is not None else (404 if ok else 401))
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(data or b"")))
                self.end_headers()
                self.wfile.write(data or b"")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="action-endpoint", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/firebreak/actions"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def calls(self, action: str) -> list[Received]:
        return [r for r in self.received if r.body.get("action") == action]


# -- fixtures -----------------------------------------------------------------------------------------------------

@pytest.fixture
def endpoint(system: System) -> Iterator[ActionEndpoint]:
    server = ActionEndpoint(clock=system.clock)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def secret(system: System, endpoint: ActionEndpoint) -> str:
    """What `firebreak integrations add shop --adapter webhook --set action_url=... --set link_prefixes=...` makes."""
    with system.db.transaction() as session:
        integration = PlatformIntegration(name=INTEGRATION, adapter="webhook", created_at=system.clock.now(), config={
            "action_url": endpoint.url, "link_prefixes": ["https://chat.example/c"]})
        session.add(integration)
        session.flush()
        shared = system.secrets.new_secret(integration)
    endpoint.secret = shared.encode()
    return shared


@pytest.fixture
def client(system: System) -> Iterator[TestClient]:
    with TestClient(create_app(system), raise_server_exceptions=False) as c:
        yield c


def post_event(client: TestClient, secret: str, body: dict[str, Any], when: datetime) -> Any:
    raw = json.dumps(body).encode()
    return client.post("/v1/events", content=raw, headers=signed_headers(secret, raw, when))


def bank_file(system: System, data: bytes, action: MatchAction = MatchAction.BLOCK) -> None:
    with system.db.transaction() as session:
        bank = banks.ensure_bank(session=session, clock=system.clock, actor="test", name="confirmed", action=action,
                                 description="confirmed by review")
        banks.add_entries(session=session, clock=system.clock, actor="test", bank=bank,
                          entries=banks.entries_for_hashes(hash_bytes(data)), provenance=Provenance.DECISION)
    # Upload checks see a new entry within SYNC_INTERVAL of its commit (the matching index's promise).
    time.sleep(SYNC_INTERVAL + 0.05)


def rejections(system: System) -> list[dict[str, Any]]:
    with system.db.sessions() as session:
        rows = session.scalars(select(AuditEvent).where(AuditEvent.action == "webhook.rejected")
                               .order_by(AuditEvent.seq)).all()
        return [{"actor": r.actor, "path": r.object_id, **json.loads(r.data)} for r in rows]


def count(system: System, model: type[Any]) -> int:
    with system.db.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


# -- events in ----------------------------------------------------------------------------------------------------

def test_signed_event_is_recorded(system: System, client: TestClient, secret: str) -> None:
    now = system.clock.now()
    r = post_event(client, secret, event("c1", "m1", jpeg(photo("coffee")), now), now)
    assert r.status_code == 200, r.text
    assert r.json() == {"event_id": "evt-c1-m1", "placements": 1, "duplicate": False, "verdict": "allow"}
    with system.db.sessions() as session:
        placement = session.scalar(select(Placement))
        assert placement is not None
        assert (placement.chat_external_id, placement.message_external_id, placement.media_external_id,
                placement.status) == ("c1", "m1", "file-c1-m1", PlacementStatus.LIVE)
        chat = session.scalar(select(Chat))
        assert chat is not None and (chat.title, chat.member_count) == ("Chat c1", 40)
    assert rejections(system) == []


def test_unsigned_request_is_refused_and_audited(system: System, client: TestClient, secret: str) -> None:
    raw = json.dumps(event("c1", "m1", jpeg(photo("coffee")), system.clock.now())).encode()
    r = client.post("/v1/events", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Firebreak-Signature"
    assert "Firebreak-Integration" in r.json()["detail"]
    r = client.post("/v1/events", content=raw, headers={"Firebreak-Integration": INTEGRATION})
    assert r.status_code == 401 and "missing Firebreak-Signature" in r.json()["detail"]
    headers = signed_headers(secret, raw, system.clock.now())
    r = client.post("/v1/events", content=raw, headers={**headers, "Firebreak-Integration": "someone-else"})
    assert r.status_code == 401 and "unknown integration" in r.json()["detail"]
    assert count(system, Placement) == 0
    found = rejections(system)
    assert [f["path"] for f in found] == ["/v1/events"] * 3
    assert "missing Firebreak-Signature header" in found[1]["reason"]
    assert found[1]["actor"].startswith("integration:") and found[1]["actor"] != "integration:unknown"


@pytest.mark.parametrize("tamper", ["wrong-secret", "body-changed", "mac-truncated", "garbled-header"])
def test_bad_signature_is_refused(system: System, client: TestClient, secret: str, tamper: str) -> None:
    now = system.clock.now()
    raw = json.dumps(event("c1", "m1", jpeg(photo("coffee")), now)).encode()
    headers = signed_headers("not-the-secret" if tamper == "wrong-secret" else secret, raw, now)
    if tamper == "body-changed":
        raw = raw.replace(b'"c1"', b'"c2"')
    if tamper == "mac-truncated":
        headers["Firebreak-Signature"] = headers["Firebreak-Signature"][:-2]
    if tamper == "garbled-header":
        headers["Firebreak-Signature"] = "sha256=" + hashlib.sha256(raw).hexdigest()
    r = client.post("/v1/events", content=raw, headers=headers)
    assert r.status_code == 401, r.text
    assert ("malformed" if tamper == "garbled-header" else "does not match") in r.json()["detail"]
    assert count(system, Placement) == 0
    assert len(rejections(system)) == 1


@pytest.mark.parametrize(("skew", "accepted"), [(-301, False), (301, False), (-299, True), (299, True)])
def test_timestamp_must_be_within_five_minutes(system: System, client: TestClient, secret: str, skew: int,
                                               accepted: bool) -> None:
    now = system.clock.now()
    r = post_event(client, secret, event("c1", "m1", jpeg(photo("coffee")), now), now + timedelta(seconds=skew))
    assert r.status_code == (200 if accepted else 401), r.text
    if not accepted:
        assert "300 s replay window" in r.json()["detail"]
        assert "replay window" in rejections(system)[0]["reason"]


def test_replayed_request_is_refused_and_audited(system: System, client: TestClient, secret: str,
                                                 clock: FakeClock) -> None:
    now = system.clock.now()
    raw = json.dumps(event("c1", "m1", jpeg(photo("coffee")), now)).encode()
    headers = signed_headers(secret, raw, now)
    assert client.post("/v1/events", content=raw, headers=headers).status_code == 200
    clock.advance(30)
    r = client.post("/v1/events", content=raw, headers=headers)  # captured and sent again
    assert r.status_code == 401 and "replayed" in r.json()["detail"]
    assert [x["reason"] for x in rejections(system)] == ["replayed request: this signature was already used"]
    # Re-sending the same event, freshly signed, is fine and records nothing twice.
    r = client.post("/v1/events", content=raw, headers=signed_headers(secret, raw, system.clock.now()))
    assert r.status_code == 200 and r.json()["placements"] == 1
    assert count(system, Placement) == 1
    # Long after the window the old signature is refused for its age.
    clock.advance(3600)
    r = client.post("/v1/events", content=raw, headers=headers)
    assert r.status_code == 401 and "replay window" in r.json()["detail"]


@pytest.mark.parametrize(("change", "field", "words"), [
    (lambda e: e["chat"].pop("id"), "chat.id", "Field required"),
    (lambda e: e.update(media=[]), None, "at least one media item"),
    (lambda e: e["media"][0].update(data_base64="@@not base64@@"), "media.0.data_base64", "not valid base64"),
    (lambda e: e["media"][0].update(data_base64=None), "media.0", "data_base64 or url"),
    (lambda e: e.update(kind="media_forwarded"), None, "needs forwarded_from"),
    (lambda e: e.update(sent_at="2026-01-01T09:00:00"), "sent_at", "timezone"),
    (lambda e: e.update(kind="media_liked"), "kind", "Input should be"),
    (lambda e: e.update(colour="red"), "colour", "Extra inputs"),
])
def test_malformed_event_is_422_naming_the_field_and_records_nothing(
        system: System, client: TestClient, secret: str, change: Any, field: str | None, words: str) -> None:
    """``field`` None: a rule across fields, which the message states (the problem names the whole body)."""
    body = event("c1", "m1", jpeg(photo("coffee")), system.clock.now())
    change(body)
    r = post_event(client, secret, body, system.clock.now())
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    errors = r.json()["errors"]
    assert any((field is None or e["field"].startswith(field)) and words in e["message"] for e in errors), errors
    for model in (Placement, Media, Chat):
        assert count(system, model) == 0, model


def test_platform_token_works_instead_of_a_signature(system: System, client: TestClient, secret: str) -> None:
    with system.db.transaction() as session:
        integration = session.scalar(select(PlatformIntegration).where(PlatformIntegration.name == INTEGRATION))
        assert integration is not None
        token = auth_service.issue_token(session=session, clock=system.clock, actor="test", name="events",
                                         scope=CredentialScope.PLATFORM, integration_id=integration.id).token
    data = jpeg(photo("chelsea"))
    bank_file(system, data)
    now = system.clock.now()
    auth = {"Authorization": f"Bearer {token}"}
    r = client.post("/v1/events", json=event("c1", "m1", data, now), headers=auth)
    assert r.status_code == 200 and r.json()["verdict"] == "block"
    r = client.post("/v1/scan", content=data, headers={**auth, "Content-Type": "application/octet-stream"})
    assert r.status_code == 200 and r.json()["verdict"] == "block"
    assert client.post("/v1/scan", content=data, headers={"Authorization": "Bearer fbk_wrong"}).status_code == 401


def test_media_by_url_is_fetched_with_a_signed_get(system: System, client: TestClient, secret: str,
                                                   endpoint: ActionEndpoint) -> None:
    data = jpeg(photo("rocket"))
    endpoint.files["/media/abc.jpg"] = data
    body = event("c1", "m1", None, system.clock.now())
    body["media"] = [{"media_id": "abc", "url": f"http://127.0.0.1:{endpoint.port}/media/abc.jpg"},
                     {"media_id": "gone", "url": f"http://127.0.0.1:{endpoint.port}/media/gone.jpg"}]
    r = post_event(client, secret, body, system.clock.now())
    assert r.status_code == 200 and r.json()["placements"] == 0  # fetched by a job, not within the request
    system.runner.reconcile()
    assert endpoint.fetches[0] == ("/media/abc.jpg", True)
    with system.db.sessions() as session:  # a file the platform no longer has is noted; the event's other file counts
        assert session.scalar(select(func.count()).select_from(Placement)) == 1
        gone = session.scalar(select(AuditEvent).where(AuditEvent.action == "media.unfetchable"))
        assert gone is not None and "gone.jpg" in gone.data
    endpoint.files["/media/gone.jpg"] = jpeg(photo("coffee"))
    body["event_id"] = "evt-c1-m1-again"
    assert post_event(client, secret, body, system.clock.now()).status_code == 200
    system.runner.reconcile()
    with system.db.sessions() as session:
        sha = session.scalars(select(Media.sha256).join(Placement, Placement.media_id == Media.id)).all()
    assert hashlib.sha256(data).hexdigest() in sha and len(sha) == 2
    assert all(ok for _, ok in endpoint.fetches)


# -- the upload check ---------------------------------------------------------------------------------------------

def test_upload_check_with_the_file(system: System, client: TestClient, secret: str) -> None:
    original = photo("astronaut")
    banked = jpeg(original)
    bank_file(system, banked)
    for data, verdict in ((banked, "block"), (copies_of(original)["rotated_90"], "block"),
                          (jpeg(photo("coffee")), "allow")):
        headers = signed_headers(secret, data, system.clock.now(), content_type="application/octet-stream")
        r = client.post("/v1/scan", content=data, headers=headers)
        assert r.status_code == 200, r.text
        assert r.json()["verdict"] == verdict
        assert r.json()["sha256"] == hashlib.sha256(data).hexdigest()
    headers = signed_headers(secret, b"", system.clock.now(), content_type="application/octet-stream")
    r = client.post("/v1/scan", content=b"", headers=headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body"


def test_upload_check_with_hashes_only(system: System, client: TestClient, secret: str) -> None:
    data = jpeg(photo("rocket"))
    h = hash_bytes(data)
    bank_file(system, data, action=MatchAction.REVIEW)

    def check(body: dict[str, Any]) -> Any:
        raw = json.dumps(body).encode()
        return client.post("/v1/scan", content=raw, headers=signed_headers(secret, raw, system.clock.now()))

    r = check({"signals": [{"signal_type": "pdq", "value": h.pdq.value, "quality": 100}]})
    assert r.status_code == 200 and r.json()["verdict"] == "review"
    assert [(m["bank"], m["signal_type"], m["distance"]) for m in r.json()["matches"]] == [("confirmed", "pdq", 0)]
    r = check({"signals": [{"signal_type": "md5", "value": h.md5}, {"signal_type": "sha256", "value": h.sha256}]})
    assert r.json()["verdict"] == "review" and {m["signal_type"] for m in r.json()["matches"]} == {"md5", "sha256"}
    assert check({"signals": [{"signal_type": "md5", "value": "0" * 32}]}).json()["verdict"] == "allow"
    r = check({"signals": [{"signal_type": "pdq", "value": "xyz"}]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "signals.0.value"
    r = check({"signals": [{"signal_type": "photodna", "value": "00"}]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "signals.0.signal_type"
    assert check({"signals": []}).status_code == 422


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_the_documented_openssl_one_liner_signs_correctly(system: System, client: TestClient, secret: str,
                                                          tmp_path: Path) -> None:
    body = json.dumps(event("c9", "m9", jpeg(photo("camera")), system.clock.now())).encode()
    (tmp_path / "event.json").write_bytes(body)
    t, n = int(system.clock.now().timestamp()), "0a1b2c3d4e5f6a7b"
    script = ("printf '%s.%s.' \"$T\" \"$N\" | cat - event.json | openssl dgst -sha256 -hmac \"$SECRET\" "
              "| sed 's/^.*= //'")
    mac = subprocess.run(["sh", "-c", script], cwd=tmp_path, env={"T": str(t), "N": n, "SECRET": secret,
                                                                  "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, check=True).stdout.strip()
    r = client.post("/v1/events", content=body, headers={
        "Firebreak-Integration": INTEGRATION, "Firebreak-Signature": f"t={t},n={n},v1={mac}",
        "Content-Type": "application/json"})
    assert r.status_code == 200, r.text


# -- actions out --------------------------------------------------------------------------------------------------

def _post_banked(system: System, client: TestClient, secret: str, chat: str = "c1", message: str = "m1") -> None:
    data = jpeg(photo("astronaut"))
    bank_file(system, data)
    r = post_event(client, secret, event(chat, message, copies_of(photo("astronaut"))["reencoded_q50"],
                                         system.clock.now(), sender="uploader"), system.clock.now())
    assert r.status_code == 200 and r.json()["verdict"] == "block", r.text


def _action(system: System, kind: ActionKind) -> Action:
    with system.db.sessions() as session:
        action = session.scalar(select(Action).where(Action.kind == kind))
        assert action is not None
        session.expunge(action)
        return action


def test_platform_receives_a_signed_remove_message(system: System, client: TestClient, secret: str,
                                                   endpoint: ActionEndpoint) -> None:
    _post_banked(system, client, secret)
    system.runner.reconcile()
    removes = endpoint.calls("remove_message")
    assert len(removes) == 1
    call = removes[0]
    assert call.signature_ok, call.signature_error
    assert call.path == "/firebreak/actions"
    assert call.headers["Content-Type"] == "application/json"
    assert call.headers["Idempotency-Key"]
    assert call.body["target"]["chat_id"] == "c1" and call.body["target"]["message_id"] == "m1"
    assert call.body["target"]["media_id"] == "file-c1-m1" and call.body["target"]["account_id"] == "uploader"
    # What the platform may show its users: the ground in plain words, never the name of a bank.
    assert call.body["target"]["reason"] == call.body["params"]["reason"] == "Content found to be illegal"
    quarantines = endpoint.calls("quarantine_media")
    assert [q.body["target"]["media_id"] for q in quarantines] == ["file-c1-m1"] and quarantines[0].signature_ok
    assert _action(system, ActionKind.REMOVE_MESSAGE).status == ActionStatus.DONE
    with system.db.sessions() as session:
        assert session.scalar(select(Placement.status)) == PlacementStatus.REMOVED
    system.runner.reconcile()
    system.enforcement.run_actions()
    assert len(endpoint.calls("remove_message")) == 1  # done is done: never sent again


def test_unavailable_platform_is_retried_until_done(system: System, client: TestClient, secret: str,
                                                    endpoint: ActionEndpoint, clock: FakeClock) -> None:
    endpoint.answers = [(503, "maintenance"), (503, "maintenance")]  # the remove, then the quarantine
    _post_banked(system, client, secret)
    system.runner.reconcile()
    action = _action(system, ActionKind.REMOVE_MESSAGE)
    assert (action.status, action.attempts, action.last_error) == (ActionStatus.PENDING, 1, "HTTP 503: maintenance")
    assert action.next_attempt_at is not None and action.next_attempt_at > system.clock.now()
    system.enforcement.run_actions()
    assert len(endpoint.calls("remove_message")) == 1  # not before its backoff
    clock.advance(timedelta(seconds=5))
    system.enforcement.run_actions()
    removes = endpoint.calls("remove_message")
    assert len(removes) == 2 and all(r.signature_ok for r in removes)
    assert removes[0].headers["Idempotency-Key"] == removes[1].headers["Idempotency-Key"]
    assert removes[0].headers[signing.HEADER] != removes[1].headers[signing.HEADER]  # signed afresh
    action = _action(system, ActionKind.REMOVE_MESSAGE)
    assert (action.status, action.attempts, action.last_error) == (ActionStatus.DONE, 2, None)
    assert _action(system, ActionKind.QUARANTINE_MEDIA).status == ActionStatus.DONE


def test_message_already_gone_is_not_found(system: System, client: TestClient, secret: str,
                                           endpoint: ActionEndpoint) -> None:
    endpoint.answers = [(404, "no such message")]
    _post_banked(system, client, secret)
    system.runner.reconcile()
    action = _action(system, ActionKind.REMOVE_MESSAGE)
    assert action.status == ActionStatus.NOT_FOUND and action.last_error is None
    with system.db.sessions() as session:
        assert session.scalar(select(Placement.status)) == PlacementStatus.DELETED


def test_refused_action_fails_with_the_platforms_reason(system: System, client: TestClient, secret: str,
                                                        endpoint: ActionEndpoint, clock: FakeClock) -> None:
    endpoint.answers = [(400, "chat c1 is archived")]
    _post_banked(system, client, secret)
    system.runner.reconcile()
    action = _action(system, ActionKind.REMOVE_MESSAGE)
    assert action.status == ActionStatus.FAILED
    assert action.last_error == "HTTP 400: chat c1 is archived"
    clock.advance(timedelta(hours=2))
    system.enforcement.run_actions()
    system.runner.reconcile()
    assert len(endpoint.calls("remove_message")) == 1  # a refusal is final: not retried
    with system.db.sessions() as session:
        assert session.scalar(select(Placement.status)) == PlacementStatus.LIVE
        failed = session.scalars(select(AuditEvent.data).where(AuditEvent.action == "action.failed")).all()
    assert any("chat c1 is archived" in json.loads(d)["detail"] for d in failed)


def test_unreachable_platform_is_retried(system: System, client: TestClient, secret: str,
                                         endpoint: ActionEndpoint, clock: FakeClock) -> None:
    endpoint.stop()  # nothing listens on the action URL any more
    _post_banked(system, client, secret)
    system.runner.reconcile()
    action = _action(system, ActionKind.REMOVE_MESSAGE)
    assert action.status == ActionStatus.PENDING
    assert action.last_error is not None and action.last_error.startswith("platform unreachable")
    endpoint.start(port=endpoint.port)  # back on the same address
    clock.advance(timedelta(seconds=5))
    system.enforcement.run_actions()
    assert _action(system, ActionKind.REMOVE_MESSAGE).status == ActionStatus.DONE
    assert endpoint.calls("remove_message")[0].signature_ok


def test_integration_made_with_the_cli_works_end_to_end(tmp_path: Path, databases: DatabaseFactory) -> None:
    """docs/webhook.md step by step: `firebreak integrations add`, sign with the printed secret, get actions."""
    url = databases.new_url("sqlite")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIREBREAK_")}
    env.update(FIREBREAK_DATA_DIR=str(tmp_path / "var"), FIREBREAK_DATABASE_URL=url, COLUMNS="300")

    def firebreak(*args: str) -> str:
        r = subprocess.run([sys.executable, "-m", "firebreak", *args], env=env, capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0, r.stderr
        return r.stdout

    clock = FakeClock()
    endpoint = ActionEndpoint(clock=clock)
    endpoint.start()
    try:
        firebreak("db", "upgrade")
        out = firebreak("integrations", "add", INTEGRATION, "--adapter", "webhook",
                        "--set", f"action_url={endpoint.url}", "--set", "link_prefixes=https://chat.example/c")
        shared = out.split("shown once):", 1)[1].strip()
        endpoint.secret = shared.encode()
        system = build_system(load_settings(environ={"FIREBREAK_DATABASE_URL": url}, data_dir=tmp_path / "var",
                                              queue_url="memory://"), clock=clock)
        try:
            with TestClient(create_app(system), raise_server_exceptions=False) as client:
                data = jpeg(photo("rocket"))
                bank_file(system, data)
                r = post_event(client, shared, event("room-7", "msg-42", data, clock.now()), clock.now())
                assert r.status_code == 200 and r.json()["verdict"] == "block", r.text
                system.runner.reconcile()
        finally:
            system.close()
    finally:
        endpoint.stop()
    (remove,) = endpoint.calls("remove_message")
    assert remove.signature_ok and remove.body["target"]["chat_id"] == "room-7"
    assert remove.body["target"]["message_id"] == "msg-42"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_served_firebreak_acts_on_a_signed_event(tmp_path: Path, databases: DatabaseFactory) -> None:
    """The whole guide against a real `firebreak serve`: CLI setup, a signed event, a signed action back."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIREBREAK_")}
    env.update(FIREBREAK_DATA_DIR=str(tmp_path / "var"), FIREBREAK_DATABASE_URL=databases.new_url("sqlite"),
               FIREBREAK_PORT=str(port), FIREBREAK_SMTP_LISTEN="false", FIREBREAK_SANDBOX_ENABLED="false",
               FIREBREAK_RECONCILE_INTERVAL_SECONDS="0.2", FIREBREAK_LOG_LEVEL="warning", COLUMNS="300")

    def firebreak(*args: str) -> str:
        r = subprocess.run([sys.executable, "-m", "firebreak", *args], env=env, capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0, r.stderr
        return r.stdout

    data = jpeg(photo("rocket"))
    h = hash_bytes(data)
    (tmp_path / "confirmed.txt").write_text(f"sha256 {h.sha256}\nmd5 {h.md5}\npdq {h.pdq.value}\n")
    endpoint = ActionEndpoint(clock=SystemClock())
    endpoint.start()
    server = None
    try:
        firebreak("db", "upgrade")
        out = firebreak("integrations", "add", INTEGRATION, "--adapter", "webhook",
                        "--set", f"action_url={endpoint.url}", "--set", "link_prefixes=https://chat.example/c")
        shared = out.split("shown once):", 1)[1].strip()
        endpoint.secret = shared.encode()
        firebreak("banks", "create", "confirmed", "--action", "block")
        firebreak("banks", "import", "confirmed", str(tmp_path / "confirmed.txt"), "--format", "te")
        log = (tmp_path / "serve.log").open("w")
        server = subprocess.Popen([sys.executable, "-m", "firebreak", "serve"], env=env, stdout=log, stderr=log)
        log.close()  # the child has its own copy
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=10) as http:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if http.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
                time.sleep(0.2)
            now = datetime.now(UTC)
            raw = json.dumps(event("room-7", "msg-42", data, now)).encode()
            r = http.post("/v1/events", content=raw, headers=signed_headers(shared, raw, now))
            assert r.status_code == 200 and r.json()["verdict"] == "block", (tmp_path / "serve.log").read_text()
        deadline = time.monotonic() + 30
        while not endpoint.calls("remove_message") and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        if server is not None:
            server.terminate()
            try:
                server.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.communicate()
        endpoint.stop()
    (remove,) = endpoint.calls("remove_message")
    assert remove.signature_ok and remove.body["target"]["chat_id"] == "room-7"


@pytest.mark.parametrize("prefixes", [["https://chat.example/c", "https://m.chat.example/c/"],
                                      "https://chat.example/c,https://m.chat.example/c/"])
def test_message_links_are_recognised_by_prefix(system: System, endpoint: ActionEndpoint,
                                                prefixes: list[str] | str) -> None:
    """Links an authority or a victim sends resolve to the platform's chat and message ids."""
    with system.db.transaction() as session:
        integration = PlatformIntegration(name="links", adapter="webhook", created_at=system.clock.now(),
                                          config={"action_url": endpoint.url, "link_prefixes": prefixes})
        session.add(integration)
        session.flush()
        system.secrets.new_secret(integration)
        session.expunge(integration)
    adapter = system.adapters.for_integration(integration)
    assert adapter.parse_link("https://chat.example/c/room-7/msg-42") == LinkTarget("room-7", "msg-42")
    assert adapter.parse_link("https://m.chat.example/c/room-7/msg-42?utm_source=share") == LinkTarget(
        "room-7", "msg-42")
    assert adapter.parse_link("https://chat.example/c/room-7") == LinkTarget("room-7")
    for other in ("https://chat.example/c/", "https://chat.example/cx/room-7/msg-42", "https://chat.example/d/1/2",
                  "https://chat.example/c/a/b/c", "https://elsewhere.example/c/room-7/msg-42"):
        assert adapter.parse_link(other) is None, other
