"""A throwaway PostgreSQL server for the test session, on loopback.

If FIREBREAK_TEST_POSTGRES_URL is set (CI may start its own server), that server is
used. Otherwise the Debian PostgreSQL binaries start a private cluster in a temporary
directory on a free port, and it is removed at the end.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    def __init__(self) -> None:
        self.url_env = os.environ.get("FIREBREAK_TEST_POSTGRES_URL")
        self.tmp: Path | None = None
        self.port = 0
        self._as_user: list[str] = []

    def _bin(self, name: str) -> str:
        found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
        if not found:
            raise RuntimeError(
                f"PostgreSQL's {name} was not found under /usr/lib/postgresql: install the postgresql package "
                "(make test and .ci/run do this)"
            )
        return found[-1]

    def start(self) -> str:
        if self.url_env:
            return self.url_env
        self.tmp = Path(tempfile.mkdtemp(prefix="firebreak-pg-"))
        if os.geteuid() == 0:  # initdb refuses to run as root
            shutil.chown(self.tmp, "postgres", "postgres")
            self._as_user = ["runuser", "-u", "postgres", "--"]
        data = self.tmp / "data"
        self.port = _free_port()
        subprocess.run(
            [*self._as_user, self._bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
             "--no-sync"], check=True, capture_output=True,
        )
        subprocess.run(
            [*self._as_user, self._bin("pg_ctl"), "-D", str(data), "-l", str(self.tmp / "log"), "-w", "-o",
             f"-p {self.port} -k {self.tmp} -h 127.0.0.1 -c fsync=off -c synchronous_commit=off "
             "-c full_page_writes=off -c max_connections=200", "start"],
            check=True, capture_output=True,
        )
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        if self.tmp is None:
            return
        subprocess.run(
            [*self._as_user, self._bin("pg_ctl"), "-D", str(self.tmp / "data"), "-m", "immediate", "stop"],
            capture_output=True,
        )
        time.sleep(0.1)
        shutil.rmtree(self.tmp, ignore_errors=True)
