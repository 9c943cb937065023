"""A small HTTP server on 127.0.0.1 for the in-browser hashing tests.

It serves Firebreak's selfhash scripts exactly as they ship (from the installed package), the test pages
and test files it is given, accepts POSTs to /submit, and records every request it receives with its
body, so a test can check what a page sent from the server's side as well as from the browser's.
127.0.0.1 counts as a secure context, so WebCrypto (`crypto.subtle`) is available to the pages.
"""

from __future__ import annotations

import mimetypes
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

STATIC_PREFIX = "/static/selfhash/"


def selfhash_dir() -> Traversable:
    return files("firebreak.reports").joinpath("static", "selfhash")


@dataclass(frozen=True, slots=True)
class Received:
    method: str
    path: str
    body: bytes


class SelfHashServer:
    """Serves /static/selfhash/*, /pages/<name>, /files/<name>; POST /submit answers 204. Use as a context."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        self.files: dict[str, bytes] = {}
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="selfhash-server", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> SelfHashServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def take_received(self) -> list[Received]:
        with self._lock:
            out, self.received = self.received, []
        return out

    def _record(self, item: Received) -> None:
        with self._lock:
            self.received.append(item)

    def _content(self, path: str) -> tuple[bytes, str] | None:
        if path.startswith(STATIC_PREFIX):
            name = path[len(STATIC_PREFIX):]
            if "/" in name or not name.endswith(".js"):
                return None
            script = selfhash_dir().joinpath(name)
            return (script.read_bytes(), "text/javascript") if script.is_file() else None
        if path.startswith("/pages/") and path[len("/pages/"):] in self.pages:
            return self.pages[path[len("/pages/"):]].encode(), "text/html; charset=utf-8"
        if path.startswith("/files/") and path[len("/files/"):] in self.files:
            name = path[len("/files/"):]
            return self.files[name], mimetypes.guess_type(name)[0] or "application/octet-stream"
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                pass  # the test records requests itself

            def _body(self) -> bytes:
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def do_GET(self) -> None:
                server._record(Received("GET", self.path, self._body()))
                found = server._content(self.path.split("?", 1)[0])
                if found is None:
                    self.send_error(404)
                    return
                content, kind = found
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(content)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(content)

            def do_POST(self) -> None:
                server._record(Received("POST", self.path, self._body()))
                if self.path != "/submit":
                    self.send_error(404)
                    return
                self.send_response(204)
                self.end_headers()

            def do_PUT(self) -> None:
                server._record(Received("PUT", self.path, self._body()))
                self.send_error(405)

        return Handler
