"""A whole Firebreak on loopback for end-to-end tests: web server, worker, SMTP listener, real database.

The same wiring as `firebreak serve` (firebreak.bootstrap.processes.Services), on a fresh database and free ports.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

from firebreak.bootstrap.http import serving_app
from firebreak.bootstrap.processes import Services
from firebreak.bootstrap.system import System, build_system
from firebreak.core.config import Settings, load_settings
from firebreak.mail.dkim import DnsFunc
from firebreak.schema.migrate import upgrade
from tests.mail.sink import SmtpSink


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveFirebreak:
    def __init__(self, tmp: Path, database_url: str, *, smtp: bool = False, dkim_dns: DnsFunc | None = None,
                 **settings: Any) -> None:
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
        self.system: System = build_system(self.settings, dkim_dns=dkim_dns)
        upgrade(self.system.db.engine)
        self.system.prepare()
        self.services = Services(self.system, worker=True, smtp=smtp)
        self.app = serving_app(self.system)
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
        self.system.close()
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
