"""Audit jobs: `jobs.ping` proves the queue end to end (`firebreak jobs ping`)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from firebreak.audit import service

if TYPE_CHECKING:
    from firebreak.runtime import Runtime


def register(runtime: Runtime) -> None:
    def ping(payload: dict[str, Any]) -> None:
        """Write an audit event, after holding for ``hold_seconds``: shows end to end that queued work ran."""
        time.sleep(float(payload.get("hold_seconds", 0)))
        with runtime.transaction() as session:
            service.record(
                session=session, clock=runtime.clock, actor="system:worker", action="jobs.ping",
                object_type="job", object_id=str(payload.get("tag", "")), data=payload,
            )

    runtime.registry.register("audit.ping", ping)
