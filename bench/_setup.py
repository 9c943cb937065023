"""Shared helpers for the end-to-end benches: the machine, a private PostgreSQL, migrated databases, bulk loading
straight into Firebreak's tables, an in-process platform, and markdown output.

Nothing here is imported by Firebreak itself.
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import Engine, create_engine, text

from firebreak.core.config import Settings, load_settings
from firebreak.core.db.session import make_engine
from firebreak.platform.adapters import ActionResult, ActionTarget, FetchedMedia, FetchError, LinkTarget
from firebreak.schema.migrate import upgrade

REPO = Path(__file__).resolve().parent.parent
PG_BIN = Path("/usr/lib/postgresql/15/bin")


# -- the machine ------------------------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    """What the figures were measured on: nproc, CPU model, memory, Python, date, commit."""
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    commit = "unknown"
    git = shutil.which("git")
    if git:
        found = subprocess.run([git, "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        if found.returncode == 0:
            commit = found.stdout.strip()
    return {
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": model,
        "memory": f"{mem_kb / 1024 / 1024:.0f} GB",
        "python": platform.python_version(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit + " (plus the working tree)",
    }


def machine_lines() -> list[str]:
    m = machine()
    return [
        f"- machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory']} RAM, Python {m['python']}",
        f"- date: {m['date']}, commit {m['commit']}",
    ]


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- PostgreSQL -------------------------------------------------------------------------------------------------


class PrivatePostgres:
    """A throwaway PostgreSQL 15 cluster on loopback, started like tests/pgserver.py (as ``postgres`` via runuser
    when run as root), but with the server's default durability (fsync and synchronous_commit on): the figures
    must hold for a production-like server. ``shared_buffers`` is raised to 1 GB so the data set fits.
    """

    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="firebreak-bench-pg-"))
        self.port = 0
        self._as_user: list[str] = []
        self._admin: Engine | None = None

    def start(self) -> PrivatePostgres:
        if os.geteuid() == 0:  # initdb refuses to run as root
            shutil.chown(self.tmp, "postgres", "postgres")
            self._as_user = ["runuser", "-u", "postgres", "--"]
        data = self.tmp / "data"
        self.port = free_port()
        subprocess.run(
            [*self._as_user, str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [
                *self._as_user,
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(self.tmp / "log"),
                "-w",
                "-o",
                f"-p {self.port} -k {self.tmp} -h 127.0.0.1 -c shared_buffers=1GB -c max_connections=200",
                "start",
            ],
            check=True,
            capture_output=True,
        )
        return self

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def create_database(self, name: str) -> str:
        if self._admin is None:
            self._admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with self._admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        return self.admin_url.rsplit("/", 1)[0] + "/" + name

    def stop(self) -> None:
        if self._admin is not None:
            self._admin.dispose()
        subprocess.run(
            [*self._as_user, str(PG_BIN / "pg_ctl"), "-D", str(self.tmp / "data"), "-m", "fast", "stop"],
            capture_output=True,
        )
        shutil.rmtree(self.tmp, ignore_errors=True)


def database_url(backend: str, workdir: Path, pg: PrivatePostgres | None, name: str) -> str:
    if backend == "sqlite":
        return f"sqlite:///{workdir / f'{name}.sqlite'}"
    if pg is None:
        raise ValueError("postgresql needs a running server")
    return pg.create_database(name)


def migrated_engine(url: str) -> Engine:
    engine = make_engine(url)
    upgrade(engine)
    return engine


def bench_settings(data_dir: Path, url: str, **overrides: Any) -> Settings:
    """Settings as `firebreak serve` would build them from FIREBREAK_DATA_DIR and FIREBREAK_DATABASE_URL."""
    return load_settings(environ={}, data_dir=data_dir, database_url=url, log_level="warning", **overrides)


def reader_engine(url: str) -> Engine:
    """An engine for watching progress without taking SQLite's write lock (Firebreak's own sessions start with
    BEGIN IMMEDIATE; this one reads in autocommit, which WAL lets run beside the writer)."""
    if url.startswith("sqlite"):
        return create_engine(url, connect_args={"check_same_thread": False})
    return create_engine(url, isolation_level="AUTOCOMMIT")


# -- bulk loading ---------------------------------------------------------------------------------------------


def sqlite_time(when: datetime) -> str:
    """The text SQLAlchemy writes for a UTC timestamp in SQLite (see firebreak.core.db.base.UTCDateTime)."""
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


class BulkLoader:
    """Rows straight into tables: one executemany transaction on SQLite, COPY on PostgreSQL.

    Datetimes are given aware; they are written the way Firebreak's column types write them.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    def load(self, table_name: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        raw = self.engine.raw_connection()
        count = 0
        try:
            if self.dialect == "sqlite":
                cur = raw.cursor()
                cur.execute("PRAGMA synchronous=OFF")
                cur.execute("BEGIN")
                marks = ", ".join("?" for _ in columns)

                def converted() -> Iterable[Sequence[Any]]:
                    nonlocal count
                    for row in rows:
                        count += 1
                        yield [sqlite_time(v) if isinstance(v, datetime) else v for v in row]

                cur.executemany(
                    f"INSERT INTO {table_name} ({', '.join(columns)}) VALUES ({marks})",  # noqa: S608
                    converted(),
                )
                cur.execute("COMMIT")
                cur.execute("PRAGMA synchronous=NORMAL")
            else:
                with raw.cursor() as cur:
                    with cur.copy(f"COPY {table_name} ({', '.join(columns)}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
                            count += 1
                    if "id" in columns:  # explicit ids: move the sequence past them
                        top = f"SELECT max(id) FROM {table_name}"  # noqa: S608 (our own table names)
                        cur.execute(f"SELECT setval(pg_get_serial_sequence('{table_name}', 'id'), ({top}))")
                raw.commit()
        finally:
            raw.close()
        return count

    def analyze(self) -> None:
        with self.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()


# -- the platform ---------------------------------------------------------------------------------------------


class CountingPlatform:
    """An in-process PlatformAdapter, like tests.support.RecordingPlatform: it records every call and answers
    ``done`` (the platform removed the message). Thread-safe; costs a dictionary insert per call."""

    name: ClassVar[str] = "bench"

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: dict[str, list[tuple[str | None, str | None]]] = {}
        self.first_call: float | None = None
        self.last_call: float | None = None

    def _act(self, kind: str, target: ActionTarget) -> ActionResult:
        with self.lock:
            now = time.perf_counter()
            self.first_call = self.first_call or now
            self.last_call = now
            self.calls.setdefault(kind, []).append((target.chat_id, target.message_id or target.account_id))
        return ActionResult.done()

    def reset(self) -> None:
        with self.lock:
            self.calls.clear()
            self.first_call = self.last_call = None

    def removed(self) -> list[tuple[str | None, str | None]]:
        return list(self.calls.get("remove_message", []))

    def counts(self) -> dict[str, int]:
        return {k: len(v) for k, v in sorted(self.calls.items())}

    def remove_message(self, target: ActionTarget) -> ActionResult:
        return self._act("remove_message", target)

    def quarantine_media(self, target: ActionTarget) -> ActionResult:
        return self._act("quarantine_media", target)

    def restrict_account(self, target: ActionTarget) -> ActionResult:
        return self._act("restrict_account", target)

    def suspend_account(self, target: ActionTarget) -> ActionResult:
        return self._act("suspend_account", target)

    def suspend_chat(self, target: ActionTarget) -> ActionResult:
        return self._act("suspend_chat", target)

    def notify_user(self, target: ActionTarget) -> ActionResult:
        return self._act("notify_user", target)

    def restore_message(self, target: ActionTarget) -> ActionResult:
        return self._act("restore_message", target)

    def fetch_media(self, url: str) -> FetchedMedia:
        raise FetchError("the bench platform serves no media", retryable=False)

    def parse_link(self, url: str) -> LinkTarget | None:
        return None


def wait_until(predicate: Any, *, timeout: float, interval: float = 0.005) -> float | None:
    """Poll ``predicate`` until true; the perf_counter time it became true, or None on timeout."""
    deadline = time.perf_counter() + timeout
    while True:
        if predicate():
            return time.perf_counter()
        if time.perf_counter() > deadline:
            return None
        time.sleep(interval)
