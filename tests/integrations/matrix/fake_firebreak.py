"""A loopback stand-in for Firebreak's platform endpoints, for testing the Synapse module without Firebreak.

A real HTTP server: it checks every request's HMAC signature with ``firebreak.platform.signing`` (including replay
protection, as Firebreak does), answers ``/v1/scan`` with ``block`` for listed SHA-256 digests, and records the
``/v1/events`` bodies after validating them against ``PlatformEvent``.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image
from pydantic import ValidationError

from firebreak.platform import signing
from firebreak.platform.schemas import PlatformEvent

INTEGRATION = "matrix-test"
SECRET = "matrix-test-shared-secret"


class FakeFirebreak:
    def __init__(self, integration: str = INTEGRATION, secret: str = SECRET) -> None:
        self.integration = integration
        self.secret = secret.encode()
        self.blocked: set[str] = set()
        self.scans: list[str] = []  # sha256 of every scanned body
        self.events: list[dict[str, Any]] = []
        self.rejections: list[str] = []  # requests refused for signature, replay or schema problems
        self.fail_next_events = 0  # answer this many /v1/events with 503 first
        self.scan_outage = False  # answer /v1/scan with 503
        self.scan_delay = 0.0  # seconds to think before answering /v1/scan
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-firebreak", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def events_for(self, message_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.events if e["message_id"] == message_id]

    def wait_for_event(self, message_id: str, kind: str, timeout: float = 15.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events_for(message_id):
                if event["kind"] == kind:
                    return event
            time.sleep(0.05)
        raise AssertionError(f"no {kind} event for {message_id} within {timeout} s; got {self.events}; "
                             f"rejections {self.rejections}")

    def _check(self, headers: Any, body: bytes) -> str | None:
        if headers.get("Firebreak-Integration") != self.integration:
            return f"wrong integration {headers.get('Firebreak-Integration')!r}"
        try:
            _, signature = signing.verify(self.secret, body, headers.get(signing.HEADER), datetime.now(UTC))
        except signing.SignatureError as e:
            return str(e)
        with self._lock:
            if signature in self._seen:
                return "replayed signature"
            self._seen.add(signature)
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the caller gave up waiting

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                problem = fake._check(self.headers, body)
                if problem is not None:
                    with fake._lock:
                        fake.rejections.append(f"{self.path}: {problem}")
                    self._answer(401, {"title": problem})
                    return
                if self.path == "/v1/scan":
                    self._scan(body)
                elif self.path == "/v1/events":
                    self._event(body)
                else:
                    self._answer(404, {"title": "not found"})

            def _scan(self, body: bytes) -> None:
                if fake.scan_delay:
                    time.sleep(fake.scan_delay)
                if fake.scan_outage:
                    self._answer(503, {"title": "down for maintenance"})
                    return
                if self.headers.get("Content-Type") != "application/octet-stream":
                    self._answer(415, {"title": "expected raw bytes"})
                    return
                digest = hashlib.sha256(body).hexdigest()
                with fake._lock:
                    fake.scans.append(digest)
                verdict = "block" if digest in fake.blocked else "allow"
                self._answer(200, {"verdict": verdict, "matches": [], "sha256": digest,
                                   "checked_at": datetime.now(UTC).isoformat()})

            def _event(self, body: bytes) -> None:
                with fake._lock:
                    if fake.fail_next_events > 0:
                        fake.fail_next_events -= 1
                        failing = True
                    else:
                        failing = False
                if failing:
                    self._answer(503, {"title": "try again"})
                    return
                try:
                    event = PlatformEvent.model_validate_json(body)
                except ValidationError as e:
                    with fake._lock:
                        fake.rejections.append(f"/v1/events: {e}")
                    self._answer(422, {"title": "invalid event"})
                    return
                with fake._lock:
                    fake.events.append(json.loads(body))
                self._answer(202, {"event_id": event.event_id, "placements": len(event.media), "duplicate": False,
                                   "verdict": "allow"})

        return Handler


def png(seed: int, size: int = 32) -> bytes:
    """A real, distinct PNG for each seed."""
    image = Image.new("RGB", (size, size), ((seed * 67) % 256, (seed * 131) % 256, (seed * 29) % 256))
    image.putpixel((seed % size, (seed // size) % size), (255 - (seed % 256), 0, 0))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
