"""Engines, sessions and the unit of work. The caller (a request or a job) owns the transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from firebreak.core.config import Settings


class DatabaseUnavailable(Exception):
    pass


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    """WAL, foreign keys, and BEGIN IMMEDIATE so concurrent writers queue instead of forking state.

    pysqlite's own transaction handling starts transactions late (not before a SELECT),
    which would let two writers read the same audit-chain head. We take it over.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def engine_from_settings(settings: Settings) -> Engine:
    if settings.effective_database_url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return make_engine(settings.effective_database_url)


def check_database(bind: Engine | Connection) -> None:
    try:
        if isinstance(bind, Connection):
            bind.execute(text("SELECT 1"))
        else:
            with bind.connect() as conn:
                conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        where = bind.engine.url.render_as_string(hide_password=True)
        raise DatabaseUnavailable(f"database {where}: {reason}") from None


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@dataclass(frozen=True)
class Database:
    """The database of one Firebreak: its engine and sessions. ``transaction()`` is the unit of work;
    ``reads()`` is for hot read-only paths."""

    engine: Engine
    sessions: sessionmaker[Session]
    readers: sessionmaker[Session]

    @classmethod
    def from_engine(cls, engine: Engine) -> Database:
        # Autocommit: each statement on its own, no BEGIN/COMMIT round trips, and on SQLite no write lock.
        reader = engine.execution_options(isolation_level="AUTOCOMMIT")
        return cls(engine, make_session_factory(engine), sessionmaker(bind=reader, expire_on_commit=False))

    @classmethod
    def on_connection(cls, connection: Connection) -> Database:
        """Every transaction a savepoint on one connection (tests roll the connection back afterwards)."""
        sessions = sessionmaker(bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint")
        return cls(connection.engine, sessions, sessions)

    def reads(self) -> AbstractContextManager[Session]:
        """A session that only reads, statement by statement (no transaction around them): for lookups on the
        request path where one round trip per statement matters. Never write through it."""
        return self.readers()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def transaction(self) -> AbstractContextManager[Session]:
        return transaction(self.sessions)

    def check(self) -> None:
        """Raise DatabaseUnavailable unless the database answers."""
        with self.sessions() as session:
            check_database(session.connection())

    def close(self) -> None:
        self.engine.dispose()
