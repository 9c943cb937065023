"""The signed-webhook adapter keeps the adapter contract, against a small platform on loopback that checks every
signature and keeps its messages the way a real one would."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from firebreak.core.clock import FakeClock
from firebreak.integrations.webhook.adapter import WebhookAdapter
from firebreak.platform import signing
from firebreak.platform.adapters import ActionTarget
from tests.platform.adapter_contract import AdapterContract
from tests.support import jpeg, scene

SECRET = b"contract-secret"
LINKS = "https://chat.example/c"


class Platform:
    """Messages by (chat, message); files by path. Unsigned or forged calls get 401 and change nothing."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.live: dict[tuple[str, str], bool] = {}
        self.files: dict[str, bytes] = {}
        self.lock = threading.Lock()
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, status: int, body: bytes = b"", kind: str = "text/plain") -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                try:
                    signing.verify(SECRET, body, self.headers.get(signing.HEADER), platform.clock.now())
                except signing.SignatureError as exc:
                    return self._answer(401, str(exc).encode())
                self._answer(*platform.act(json.loads(body)))

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                url = f"http://{self.headers['Host']}{self.path}"
                try:
                    signing.verify(SECRET, url.encode(), self.headers.get(signing.HEADER), platform.clock.now())
                except signing.SignatureError:
                    return self._answer(401)
                data = platform.files.get(self.path)
                self._answer(200, data, "image/jpeg") if data is not None else self._answer(404)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def act(self, call: dict[str, Any]) -> tuple[int, bytes]:
        target = call["target"]
        key = (str(target.get("chat_id")), str(target.get("message_id")))
        with self.lock:
            if call["action"] in ("remove_message", "quarantine_media", "restore_message"):
                if key not in self.live:
                    return 404, b"no such message"
                self.live[key] = call["action"] == "restore_message"
                return 200, b""
            known_account = target.get("account_id") in {"u1"}
            known_chat = target.get("chat_id") in {c for c, _ in self.live}
            if call["action"] in ("restrict_account", "suspend_account", "notify_user"):
                return (200, b"") if known_account else (404, b"no such account")
            return (200, b"") if known_chat else (404, b"no such chat")

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class PlatformWorld:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    def post_media(self) -> ActionTarget:
        with self.platform.lock:
            n = len(self.platform.live) + 1
            self.platform.live[("room1", f"msg{n}")] = True
            self.platform.files[f"/media/file{n}"] = jpeg(scene(n))
        return ActionTarget(chat_id="room1", message_id=f"msg{n}", media_id=f"file{n}", account_id="u1")

    def is_visible(self, target: ActionTarget) -> bool:
        return self.platform.live[(target.chat_id or "", target.message_id or "")]

    def link_to(self, target: ActionTarget) -> str:
        return f"{LINKS}/{target.chat_id}/{target.message_id}"

    def media_url(self, target: ActionTarget) -> str:
        return f"{self.platform.base}/media/{target.media_id}"

    def media_bytes(self, target: ActionTarget) -> bytes:
        return self.platform.files[f"/media/{target.media_id}"]


class TestWebhookAdapterContract(AdapterContract):
    @pytest.fixture
    def platform(self) -> Iterator[Platform]:
        server = Platform(FakeClock())
        yield server
        server.stop()

    @pytest.fixture
    def adapter(self, platform: Platform) -> WebhookAdapter:
        return WebhookAdapter(action_url=f"{platform.base}/actions", secret=SECRET, clock=platform.clock,
                              link_prefixes=[LINKS])

    @pytest.fixture
    def world(self, platform: Platform) -> PlatformWorld:
        return PlatformWorld(platform)
