"""Banks' long-running use case: recomputing stored perceptual hashes the current way (issue #16), resumably.

The cursor lives in the job row (``ScheduledTask`` with a fixed dedupe key), written in the same transaction as each
batch: a worker or `firebreak banks rehash` that stops half-way is resumed by the next one from where it stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from firebreak.audit import service as audit
from firebreak.banks.rehash import RehashBatch, recompute_pdq
from firebreak.core.blobs import BlobStore
from firebreak.core.clock import Clock
from firebreak.core.db.session import Database
from firebreak.core.jobs.models import ScheduledTask, TaskStatus
from firebreak.core.jobs.outbox import schedule
from firebreak.media.models import Media
from firebreak.signals.decode import DecodeLimits

REHASH_JOB = "banks.rehash_pdq"
REHASH_KEY = "banks.rehash_pdq"
BATCH = 100


@dataclass(frozen=True)
class RehashProgress:
    after_id: int
    total: int  # media items in all
    remaining: int  # above the cursor
    done: bool


@dataclass(frozen=True)
class BanksDeps:
    db: Database
    clock: Clock
    blobs: BlobStore
    limits: DecodeLimits


class Banks:
    def __init__(self, deps: BanksDeps) -> None:
        self.deps = deps

    def start_rehash(self) -> RehashProgress:
        """Queue the recompute from the start, unless one is under way (then it goes on from its cursor)."""
        d = self.deps
        with d.db.transaction() as session:
            task = session.scalar(select(ScheduledTask).where(ScheduledTask.dedupe_key == REHASH_KEY))
            if task is None or task.status in (TaskStatus.DONE, TaskStatus.CANCELLED, TaskStatus.FAILED):
                schedule(session=session, job=REHASH_JOB, due_at=d.clock.now(), payload={"after_id": 0},
                         dedupe_key=REHASH_KEY, now=d.clock.now())
                audit.record(session=session, clock=d.clock, actor="system:rehash", action="banks.rehash_started",
                             object_type="job", object_id=REHASH_KEY, data={})
        return self.progress()

    def progress(self) -> RehashProgress:
        with self.deps.db.sessions() as session:
            task = session.scalar(select(ScheduledTask).where(ScheduledTask.dedupe_key == REHASH_KEY))
            after = int((task.payload or {}).get("after_id", 0)) if task is not None else 0
            total = int(session.scalar(select(func.count()).select_from(Media)) or 0)
            remaining = int(session.scalar(select(func.count()).select_from(Media).where(Media.id > after)) or 0)
            done = task is not None and task.status == TaskStatus.DONE
        return RehashProgress(after, total, 0 if done else remaining, done)

    def rehash_step(self, *, budget_seconds: float = 20.0,
                    on_batch: Callable[[RehashBatch], None] | None = None) -> bool:
        """Recompute batches for about ``budget_seconds``, each committed with the cursor. True when finished."""
        d = self.deps
        started = time.monotonic()
        while True:
            with d.db.transaction() as session:
                task = session.scalar(select(ScheduledTask).where(ScheduledTask.dedupe_key == REHASH_KEY))
                after = int((task.payload or {}).get("after_id", 0)) if task is not None else 0
                batch = recompute_pdq(session=session, blobs=d.blobs, clock=d.clock, limits=d.limits,
                                      after_id=after, limit=BATCH)
                if task is not None:
                    task.payload = {"after_id": batch.last_id}
                if batch.done:
                    audit.record(session=session, clock=d.clock, actor="system:rehash", action="banks.rehash_done",
                                 object_type="job", object_id=REHASH_KEY, data={"last_id": batch.last_id})
            if on_batch is not None:
                on_batch(batch)
            if batch.done or time.monotonic() - started > budget_seconds:
                return batch.done

    def rehash_job(self, payload: dict[str, Any]) -> None:
        """The job: some batches, then due again at once until done (other jobs run in between)."""
        if not self.rehash_step():
            d = self.deps
            with d.db.transaction() as session:
                task = session.scalar(select(ScheduledTask).where(ScheduledTask.dedupe_key == REHASH_KEY))
                after = (task.payload or {}).get("after_id", 0) if task is not None else 0
                schedule(session=session, job=REHASH_JOB, due_at=d.clock.now(), payload={"after_id": after},
                         dedupe_key=REHASH_KEY, now=d.clock.now())
