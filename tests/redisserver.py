"""A throwaway Redis server for the test session, on loopback.

If FIREBREAK_TEST_REDIS_URL is set (CI may start its own server), that server is used. Otherwise Debian's
redis-server (installed by scripts/install-system-deps.sh) is started on a free port with nothing persisted, and
stopped at the end. No system service is involved.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.pgserver import _free_port


class RedisServer:
    def __init__(self) -> None:
        self.url_env = os.environ.get("FIREBREAK_TEST_REDIS_URL")
        self.tmp: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    def start(self) -> str:
        if self.url_env:
            return self.url_env
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not os.path.exists(binary):
            raise RuntimeError("redis-server was not found: install Debian's redis-server package "
                               "(make test and .ci/run do this)")
        self.tmp = Path(tempfile.mkdtemp(prefix="firebreak-redis-"))
        self.port = _free_port()
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.tmp), "--logfile", str(self.tmp / "log"), "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = (self.tmp / "log").read_text() if (self.tmp / "log").exists() else ""
                raise RuntimeError(f"redis-server did not start on port {self.port}: {log[-500:]}")
            time.sleep(0.05)
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
