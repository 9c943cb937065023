"""Test fixtures. Every database test runs twice: on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.orm import Session

from firebreak.bootstrap.system import System, build_system
from firebreak.core.clock import FakeClock
from firebreak.core.config import Settings, load_settings
from firebreak.core.db.session import make_engine
from firebreak.schema.migrate import upgrade
from tests.pgserver import PostgresServer
from tests.redisserver import RedisServer
from tests.support import FakeDns

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(autouse=True)
def _pillow_defaults() -> None:
    """Importing Synapse (the Matrix tests do, in this process) turns on Pillow's process-wide
    LOAD_TRUNCATED_IMAGES. Firebreak never runs inside Synapse's process (the module sends bytes over HTTP), so
    each test starts from Pillow's defaults, as a Firebreak process does."""
    from PIL import ImageFile

    ImageFile.LOAD_TRUNCATED_IMAGES = False


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    server = PostgresServer()
    url = server.start()
    yield url
    server.stop()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    server = RedisServer()
    url = server.start()
    yield url
    server.stop()


class DatabaseFactory:
    """Creates fresh, migrated databases on either backend and drops them afterwards."""

    def __init__(self, tmp: Path, pg_url: str) -> None:
        self.tmp = tmp
        self.pg_url = pg_url
        self._admin: Engine | None = None
        self.created: list[str] = []

    def new_url(self, backend: str) -> str:
        if backend == "sqlite":
            return f"sqlite:///{self.tmp / f'db-{uuid.uuid4().hex[:8]}.sqlite'}"
        name = f"fbtest_{uuid.uuid4().hex[:12]}"
        if self._admin is None:
            self._admin = create_engine(self.pg_url, isolation_level="AUTOCOMMIT")
        with self._admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        self.created.append(name)
        return self.pg_url.rsplit("/", 1)[0] + "/" + name

    def migrated_engine(self, backend: str) -> Engine:
        engine = make_engine(self.new_url(backend))
        upgrade(engine)
        return engine

    def close(self) -> None:
        if self._admin is not None:
            with self._admin.connect() as conn:
                for name in self.created:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            self._admin.dispose()


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory, pg_server_url: str) -> Iterator[DatabaseFactory]:
    factory = DatabaseFactory(tmp_path_factory.mktemp("databases"), pg_server_url)
    yield factory
    factory.close()


@pytest.fixture(scope="session")
def _shared_engines(databases: DatabaseFactory) -> Iterator[dict[str, Engine]]:
    engines = {backend: databases.migrated_engine(backend) for backend in BACKENDS}
    yield engines
    for engine in engines.values():
        engine.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(environ={}, data_dir=tmp_path / "var", queue_url="memory://")


@pytest.fixture
def connection(backend: str, _shared_engines: dict[str, Engine]) -> Iterator[Connection]:
    """A connection inside a transaction that is rolled back after the test."""
    conn = _shared_engines[backend].connect()
    trans = conn.begin()
    yield conn
    trans.rollback()
    conn.close()


@pytest.fixture
def dns() -> FakeDns:
    return FakeDns()


@pytest.fixture
def system(settings: Settings, clock: FakeClock, connection: Connection, dns: FakeDns) -> Iterator[System]:
    yield build_system(settings, clock=clock, engine=connection.engine, bind=connection, dkim_dns=dns)


@pytest.fixture
def session(system: System) -> Iterator[Session]:
    with system.db.sessions() as s:
        yield s





def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say plainly how many database tests ran on each backend."""
    counts: dict[str, dict[str, int]] = {b: {} for b in BACKENDS}
    for outcome in ("passed", "failed", "error"):
        for report in terminalreporter.stats.get(outcome, []):
            nodeid = getattr(report, "nodeid", "")
            if getattr(report, "when", "call") != "call" and outcome == "passed":
                continue
            for b in BACKENDS:
                if f"[{b}" in nodeid or f"-{b}]" in nodeid or f"-{b}-" in nodeid:
                    counts[b][outcome] = counts[b].get(outcome, 0) + 1
    parts = [f"{b}: " + ", ".join(f"{n} {o}" for o, n in sorted(c.items())) for b, c in counts.items() if c]
    if parts:
        terminalreporter.write_line("database tests by backend -> " + "; ".join(parts))
