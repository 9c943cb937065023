"""Keeping a process's indexes in step with the database, and its host's snapshot files fresh.

:class:`IndexKeeper` runs in every serving and worker process (``bootstrap.processes.Services``): it follows the
index change log every ``follow_seconds`` (so new and withdrawn bank entries reach this process within a second),
switches to a newer snapshot when the host's writer has written one, and, in the one process per host that holds
the snapshot lock, writes a new snapshot when enough changes have accumulated and trims the log.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from sqlalchemy import delete, func, select

from firebreak.core.db.session import Database
from firebreak.matching.changes import TRIMMED
from firebreak.matching.models import IndexChange
from firebreak.matching.service import IndexSet

log = logging.getLogger(__name__)
TRIM_BATCH = 100_000


@dataclass(frozen=True)
class IndexKeeperDeps:
    db: Database
    indexes: IndexSet
    follow_seconds: float = 0.25
    maintain_seconds: float = 2.0
    snapshot_rows: int = 65_536  # rows outside the snapshot (new, replaced, removed) that prompt a new one
    snapshot_max_age: float = 3600.0  # a snapshot older than this is rewritten if anything changed since
    log_keep: int = 10_000_000  # changes kept in the log (older ones are trimmed by the host's writer)


class IndexKeeper:
    def __init__(self, deps: IndexKeeperDeps) -> None:
        self.deps = deps
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._writing: threading.Thread | None = None
        self.snapshots_written = 0
        self.last_error: str | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="firebreak-index-keeper", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._writing is not None:
            self._writing.join(timeout=600)
        if self.deps.indexes.snapshots is not None:
            self.deps.indexes.snapshots.release()

    def _run(self) -> None:
        next_maintenance = 0.0
        while not self._stop.is_set():
            try:
                self.follow()
                if time.monotonic() >= next_maintenance:
                    next_maintenance = time.monotonic() + self.deps.maintain_seconds
                    self.maintain()
                self.last_error = None
            except Exception as exc:  # the database may be briefly away: try again on the next tick
                if self.last_error is None:
                    log.exception("following the index change log failed; retrying")
                self.last_error = f"{type(exc).__name__}: {exc}"
            self._stop.wait(self.deps.follow_seconds)

    def follow(self) -> None:
        # A read (no transaction): four times a second, on SQLite a transaction would take the write lock each time;
        # `read` also tries once more on a fresh connection after the database restarted.
        self.deps.db.read(lambda session: self.deps.indexes.sync(session, force=True))

    def maintain(self) -> None:
        """Switch to a newer host snapshot; on the host's writer, write one when due."""
        indexes, store = self.deps.indexes, self.deps.indexes.snapshots
        if store is None or not indexes.started:
            return
        self.deps.db.read(indexes.reload_if_newer)
        if self._writing is not None and self._writing.is_alive():
            return
        if not store.try_lock() or not self._snapshot_due():
            return
        self._writing = threading.Thread(target=self.write_snapshot, name="firebreak-index-snapshot", daemon=True)
        self._writing.start()

    def _snapshot_due(self) -> bool:
        indexes, store = self.deps.indexes, self.deps.indexes.snapshots
        assert store is not None  # noqa: S101 - checked by the caller
        if store.identity() is None:
            return True
        if indexes.pending_rows() >= self.deps.snapshot_rows:
            return True
        position = store.position()
        loaded = indexes.loaded
        age = time.time() - loaded.written_at if loaded is not None else float("inf")
        return position is None or (age > self.deps.snapshot_max_age and indexes.safe_position > position)

    def write_snapshot(self) -> int:
        """Write the host's snapshot files from this process's indexes (it must hold the lock), then trim the log.
        Returns the position written."""
        indexes, store = self.deps.indexes, self.deps.indexes.snapshots
        if store is None or not store.try_lock():
            raise RuntimeError("this process is not its host's snapshot writer")
        started = time.monotonic()
        frozen, exact, position = indexes.frozen()
        store.write(indexes=frozen, exact=exact, position=position)
        self.snapshots_written += 1
        log.info("index snapshot written at log position %d (%d bank entries, %d media) in %.1f s", position,
                 len(frozen["bank"]), len(frozen["media"]), time.monotonic() - started)
        self.trim_log()
        self.deps.db.read(indexes.reload_if_newer)  # map the file just written: its pages are shared, the old copy goes
        return position

    def trim_log(self) -> int:
        """Delete changes older than the newest ``log_keep``, in batches, and leave a marker saying so (a snapshot
        from before it can no longer catch up). Returns how many were deleted."""
        newest, oldest = self.deps.db.read(lambda session: (
            int(session.scalar(select(func.max(IndexChange.seq))) or 0),
            int(session.scalar(select(func.min(IndexChange.seq))) or 0)))
        below = newest - self.deps.log_keep
        deleted = 0
        for start in range(oldest, below, TRIM_BATCH):
            with self.deps.db.transaction() as session:
                deleted += int(session.execute(delete(IndexChange).where(  # type: ignore[attr-defined]
                    IndexChange.seq < min(start + TRIM_BATCH, below))).rowcount)
                if start + TRIM_BATCH >= below:
                    session.add(IndexChange(kind=TRIMMED, item_id=below))
        return deleted


__all__ = ["IndexKeeper", "IndexKeeperDeps"]
