"""Firebreak scaled out on loopback, as real processes: PostgreSQL, Redis, `firebreak serve` processes (each its own
"host": its own index snapshot folder) and `firebreak jobs worker` processes, all started with the commands an
operator runs (docs/deployment.md). Files (blobs, the instance key) are on one shared data dir, as a deployment
shares them on a network volume.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import redis

from tests.live import free_port


class ActionPlatform:
    """The platform's action endpoint: takes ``delay`` per call and remembers each removal by its Idempotency-Key
    (a repeated key is the same removal asked again: the platform answers "done" and removes nothing new)."""

    def __init__(self, delay: float = 0.02) -> None:
        self.calls: Counter[str] = Counter()
        self.lock = threading.Lock()
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                time.sleep(delay)
                with platform.lock:
                    platform.calls[self.headers.get("Idempotency-Key", "")] += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/actions"

    def removed(self) -> Counter[str]:
        """Removal calls by ``chat:message``."""
        with self.lock:
            found: Counter[str] = Counter()
            for key, n in self.calls.items():
                if key.startswith("remove_message:"):
                    _, chat, message, *_ = key.split(":")
                    found[f"{chat}:{message}"] += n
            return found

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Role:
    name: str
    command: list[str]
    env: dict[str, str]
    log: Path
    port: int | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen([sys.executable, "-m", "firebreak", *self.command], env=self.env,
                                            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def kill(self) -> None:
        """kill -9 the role (every process of it: uvicorn's workers are in its session)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def signal(self, number: int) -> None:
        """Send a signal to every process of the role (SIGSTOP freezes it where it is, SIGCONT lets it go on)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, number)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


@dataclass
class Cluster:
    tmp: Path
    database_url: str
    redis_url: str
    settings: dict[str, str] = field(default_factory=dict)
    roles: dict[str, Role] = field(default_factory=dict)

    def env(self, host: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FIREBREAK_", "PROMETHEUS_"))}
        env.update({
            "FIREBREAK_DATABASE_URL": self.database_url, "FIREBREAK_QUEUE_URL": self.redis_url,
            "FIREBREAK_DATA_DIR": str(self.tmp / "shared"), "FIREBREAK_LOCAL_DIR": str(self.tmp / host),
            "FIREBREAK_SECRET_KEY": "one key for every process of this deployment",
            "FIREBREAK_SMTP_LISTEN": "0", "FIREBREAK_SANDBOX_ENABLED": "0", "FIREBREAK_EMBEDDED_WORKER": "0",
            "FIREBREAK_RECONCILE_INTERVAL_SECONDS": "0.5", "FIREBREAK_WORKER_THREADS": "2",
            "FIREBREAK_LOG_LEVEL": "warning",
        })
        env.update(self.settings)
        return env

    def flush_queue(self) -> None:
        client = redis.Redis.from_url(self.redis_url)
        client.flushdb()
        client.close()

    def serve(self, name: str, *, workers: int = 1) -> Role:
        port = free_port()
        command = ["serve", "--port", str(port), "--no-worker"] if workers == 1 else \
            ["serve", "--port", str(port), "--workers", str(workers)]
        (self.tmp / name).mkdir(parents=True, exist_ok=True)
        role = Role(name, command, self.env(name), self.tmp / f"{name}.log", port=port)
        self.roles[name] = role
        role.start()
        return role

    def worker(self, name: str) -> Role:
        (self.tmp / name).mkdir(parents=True, exist_ok=True)
        role = Role(name, ["jobs", "worker"], self.env(name), self.tmp / f"{name}.log")
        self.roles[name] = role
        role.start()
        return role

    def wait_ready(self, role: Role, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if role.process is not None and role.process.poll() is not None:
                raise AssertionError(f"{role.name} exited with {role.process.returncode}:\n{role.tail()}")
            try:
                r = httpx.get(f"{role.url}/readyz", timeout=5)
                if r.status_code == 200:
                    return dict(r.json())
                last = r.text
            except httpx.HTTPError as exc:
                last = str(exc)
            time.sleep(0.2)
        raise AssertionError(f"{role.name} not ready after {timeout} s ({last}):\n{role.tail()}")

    def stop(self) -> None:
        for role in self.roles.values():
            role.stop()
