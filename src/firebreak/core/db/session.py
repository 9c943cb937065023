"""Engines, sessions and the unit of work. The caller (a request or a job) owns the transaction."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from firebreak.core.config import Settings

T = TypeVar("T")


class DatabaseUnavailable(Exception):
    pass


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
        _configure_sqlite(engine, transactions=kwargs.get("isolation_level") != "AUTOCOMMIT")
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _configure_sqlite(engine: Engine, *, transactions: bool = True) -> None:
    """WAL, foreign keys, and BEGIN IMMEDIATE so concurrent writers queue instead of forking state.

    pysqlite's own transaction handling starts transactions late (not before a SELECT),
    which would let two writers read the same audit-chain head. We take it over.

    An engine without ``transactions`` (the readers' engine, AUTOCOMMIT) begins none: each statement reads on its
    own and takes no lock, so a long read (a copy search of tens of milliseconds) never holds up a writer. SQLAlchemy
    still fires "begin" on such a connection, so BEGIN IMMEDIATE there would take the write lock for the whole
    session (it did until 2026-12-05).
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

    if not transactions:
        return

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
    reader_engine: Engine | None = None

    @classmethod
    def from_engine(cls, engine: Engine) -> Database:
        # Its own small pool: autocommit (each statement on its own, no BEGIN/COMMIT round trips, and on SQLite no
        # write lock) and no ping before each use (a round trip); read() tries again once if a connection died.
        url = engine.url.render_as_string(hide_password=False)
        # Connections autocommit from the start (no switching back and forth), with nothing to roll back on return.
        options: dict[str, Any] = {"isolation_level": "AUTOCOMMIT", "pool_reset_on_return": None}
        if engine.dialect.name != "sqlite":
            options["pool_pre_ping"] = False
        reader = make_engine(url, **options)
        readers = sessionmaker(bind=reader, expire_on_commit=False)
        return cls(engine, make_session_factory(engine), readers, reader)

    @classmethod
    def on_connection(cls, connection: Connection) -> Database:
        """Every transaction a savepoint on one connection (tests roll the connection back afterwards)."""
        sessions = sessionmaker(bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint")
        return cls(connection.engine, sessions, sessions)

    def read(self, work: Callable[[Session], T]) -> T:
        """Run ``work``, which only reads, on a session without a transaction around its statements: for lookups
        on the request path, where every round trip counts. Never write through it. If the pooled connection turns
        out to be dead (the database restarted), ``work`` runs once more on a new one."""
        for attempt in (1, 2):
            try:
                with self.readers() as session:
                    return work(session)
            except DBAPIError as exc:
                if attempt == 2 or not exc.connection_invalidated:
                    raise
        raise AssertionError("unreachable")

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
        if self.reader_engine is not None:
            self.reader_engine.dispose()
