"""Which processes run jobs, and taking back the work of one that died.

Every worker process registers a row (:class:`WorkerProcess`) when it starts and beats its heart on every reconcile
tick; the job rows and platform actions it claims carry its id as ``lease_owner``. A worker is dead when its heart has
not beaten for ``dead_after``, or at once when it ran on this very host and its pid is gone (a ``kill -9``, a crash, an
OOM kill). Whoever notices first takes its leases back, so its work runs again within seconds instead of after the
whole lease. A worker that stops cleanly says so and gives its leases back itself.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from firebreak.core.jobs.models import ScheduledTask, TaskStatus, WorkerProcess

log = logging.getLogger(__name__)

# Other domains' leases (platform actions) are released by hooks: (session, dead worker id, now) -> rows released.
LeaseRelease = Callable[[Session, str, datetime], int]


@dataclass(frozen=True)
class WorkerIdentity:
    """This process, as a lease owner."""

    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)


def register(*, session: Session, me: WorkerIdentity, now: datetime) -> None:
    row = session.get(WorkerProcess, me.id)
    if row is None:
        session.add(WorkerProcess(id=me.id, host=me.host[:255], pid=me.pid, started_at=now, heartbeat_at=now,
                                  created_at=now))
    else:
        row.heartbeat_at, row.stopped_at = now, None


def heartbeat(*, session: Session, me: WorkerIdentity, now: datetime) -> None:
    updated = session.execute(update(WorkerProcess).where(WorkerProcess.id == me.id)
                              .values(heartbeat_at=now)).rowcount  # type: ignore[attr-defined]
    if not updated:
        register(session=session, me=me, now=now)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def dead_workers(*, session: Session, me: WorkerIdentity, now: datetime, dead_after: timedelta) -> list[WorkerProcess]:
    """Workers that stopped beating, or whose process is gone from this host. Never this process itself."""
    candidates = session.scalars(select(WorkerProcess).where(
        WorkerProcess.stopped_at.is_(None), WorkerProcess.id != me.id,
        or_(WorkerProcess.heartbeat_at < now - dead_after, WorkerProcess.host == me.host)))
    return [w for w in candidates
            if w.heartbeat_at < now - dead_after or (w.host == me.host and not _pid_alive(w.pid))]


def release_tasks(*, session: Session, owner: str, now: datetime) -> int:
    """Job rows the owner was running fall due again now."""
    return int(session.execute(update(ScheduledTask).where(
        ScheduledTask.lease_owner == owner, ScheduledTask.status == TaskStatus.RUNNING,
    ).values(status=TaskStatus.PENDING, due_at=now, lease_until=None, lease_owner=None)).rowcount)  # type: ignore[attr-defined]


def take_back(*, session: Session, me: WorkerIdentity, now: datetime, dead_after: timedelta,
              releases: list[LeaseRelease]) -> int:
    """Release every lease of every dead worker and mark them stopped. Returns how many leases were released."""
    released = 0
    for dead in dead_workers(session=session, me=me, now=now, dead_after=dead_after):
        count = release_tasks(session=session, owner=dead.id, now=now)
        for release in releases:
            count += release(session, dead.id, now)
        dead.stopped_at = now
        log.warning("worker %s (pid %s on %s) is gone: took back %d leases", dead.id, dead.pid, dead.host, count)
        released += count
    return released


def stop(*, session: Session, me: WorkerIdentity, now: datetime, releases: list[LeaseRelease]) -> None:
    """A clean stop: give every lease back (what finished was already recorded) and say so."""
    release_tasks(session=session, owner=me.id, now=now)
    for release in releases:
        release(session, me.id, now)
    row = session.get(WorkerProcess, me.id)
    if row is not None:
        row.stopped_at = now


__all__ = ["LeaseRelease", "WorkerIdentity", "dead_workers", "heartbeat", "register", "release_tasks", "stop",
           "take_back"]
