"""SQLite has one writer: a read must never hold the write lock, or every writer (an acknowledgement, an upload's
verdict) waits behind a copy search."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from firebreak.core.db.session import Database, make_engine


def _writer_can_begin(path: Path) -> bool:
    other = sqlite3.connect(path, timeout=0.2, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError as exc:
        assert "locked" in str(exc)
        return False
    finally:
        other.close()


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Database:
    db = Database.from_engine(make_engine(f"sqlite:///{tmp_path / 'x.sqlite'}"))
    with db.transaction() as session:
        session.execute(text("CREATE TABLE t (x INTEGER)"))
        session.execute(text("INSERT INTO t VALUES (1), (2)"))
    return db


def test_a_read_takes_no_write_lock_while_it_works(sqlite_db: Database, tmp_path: Path) -> None:
    def work(session: Session) -> tuple[int, bool]:
        total = int(session.execute(text("SELECT sum(x) FROM t")).scalar_one())
        return total, _writer_can_begin(tmp_path / "x.sqlite")  # asked while the read's session is still open

    assert sqlite_db.read(work) == (3, True)
    sqlite_db.close()


def test_a_transaction_still_takes_the_write_lock_at_begin(sqlite_db: Database, tmp_path: Path) -> None:
    """Writers queue at BEGIN (two writers must never read the same audit-chain head)."""
    with sqlite_db.transaction() as session:
        session.execute(text("SELECT 1"))
        assert not _writer_can_begin(tmp_path / "x.sqlite")
    assert _writer_can_begin(tmp_path / "x.sqlite")
    sqlite_db.close()


def test_a_writer_commits_while_a_long_read_is_open(sqlite_db: Database) -> None:
    reading, written = threading.Event(), threading.Event()

    def writer() -> None:
        assert reading.wait(5)
        with sqlite_db.transaction() as session:
            session.execute(text("INSERT INTO t VALUES (3)"))
        written.set()

    def long_read(session: Session) -> int:
        first = int(session.execute(text("SELECT count(*) FROM t")).scalar_one())
        reading.set()
        assert written.wait(5), "the writer was held up by a read"
        return first + int(session.execute(text("SELECT count(*) FROM t")).scalar_one())

    thread = threading.Thread(target=writer)
    thread.start()
    assert sqlite_db.read(long_read) == 2 + 3  # each statement reads on its own: the second sees the new row
    thread.join(5)
    sqlite_db.close()
