"""A whole Firebreak on loopback for end-to-end tests: web server, worker, SMTP listener, real database.

The same wiring as `firebreak serve` (firebreak.services.Services), on a fresh database and free ports.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

from firebreak.app import create_app, prepare
from firebreak.config import Settings, load_settings
from firebreak.db.migrate import upgrade
from firebreak.mail.sink import SmtpSink
from firebreak.runtime import Runtime, build_runtime
from firebreak.services import Services


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveFirebreak:
    def __init__(self, tmp: Path, database_url: str, *, smtp: bool = False, **settings: Any) -> None:
        self.port = free_port()
        # Outgoing mail goes to a real SMTP sink on loopback, where tests read it.
        self.outbox = SmtpSink(port=0).start()
        values: dict[str, Any] = {
            "outgoing_smtp_host": "127.0.0.1", "outgoing_smtp_port": self.outbox.port,
            "data_dir": tmp / "var", "database_url": database_url, "queue_url": "memory://",
            "public_url": f"http://127.0.0.1:{self.port}", "reconcile_interval_seconds": 0.3,
            "smtp_listen_port": free_port() if smtp else 2525, "hotline_address": "takedown@platform.test",
            "worker_threads": 2,
        }
        values.update(settings)
        self.settings: Settings = load_settings(environ={}, **values)
        self.runtime: Runtime = build_runtime(self.settings)
        upgrade(self.runtime.engine)
        prepare(self.runtime)
        self.services = Services(self.runtime, worker=True, smtp=smtp)
        self.app = create_app(self.runtime)
        self._server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning",
                                                     lifespan="off"))
        self._thread = threading.Thread(target=self._server.run, name="uvicorn", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LiveFirebreak:
        self.services.start()
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the web server did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self.services.stop()
        self.runtime.close()
        self.outbox.stop()

    def __enter__(self) -> LiveFirebreak:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_for(predicate: Any, timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
