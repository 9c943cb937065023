"""Audit jobs: `jobs.ping` proves the queue end to end (`firebreak jobs ping`)."""

from __future__ import annotations

import time
from typing import Any

from firebreak.audit import service
from firebreak.core.clock import Clock
from firebreak.core.db.session import Database
from firebreak.core.jobs.runner import JobHandler

PING_JOB = "audit.ping"


def handlers(*, db: Database, clock: Clock) -> dict[str, JobHandler]:
    def ping(payload: dict[str, Any]) -> None:
        """Write an audit event, after holding for ``hold_seconds``: shows end to end that queued work ran."""
        time.sleep(float(payload.get("hold_seconds", 0)))
        with db.transaction() as session:
            service.record(
                session=session, clock=clock, actor="system:worker", action="jobs.ping",
                object_type="job", object_id=str(payload.get("tag", "")), data=payload,
            )

    return {PING_JOB: ping}
