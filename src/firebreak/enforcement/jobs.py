"""Enforcement jobs: propagate new bank entries; carry out pending actions."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from firebreak.banks.models import BankEntry
from firebreak.banks.service import PROPAGATE_JOB
from firebreak.enforcement import service
from firebreak.matching.service import media_matching_entry
from firebreak.platform.adapters import ActionResult
from firebreak.platform.models import PlatformIntegration

if TYPE_CHECKING:
    from firebreak.runtime import Runtime

log = logging.getLogger(__name__)
ACTION_BATCH = 200


def run_actions(runtime: Runtime, *, limit: int | None = None) -> int:
    """Carry out every due action, in batches. Returns how many outcomes were recorded."""
    lease = timedelta(seconds=runtime.settings.job_lease_seconds)
    recorded = 0
    while limit is None or recorded < limit:
        with runtime.transaction() as session:
            claimed = service.claim_actions(session=session, now=runtime.clock.now(), limit=ACTION_BATCH,
                                            lease=lease)
            integrations = {i: session.get(PlatformIntegration, i) for i in {c.integration_id for c in claimed}}
        if not claimed:
            return recorded
        by_integration: dict[int, list[service.ClaimedAction]] = defaultdict(list)
        for c in claimed:
            by_integration[c.integration_id].append(c)
        results: list[tuple[int, ActionResult]] = []
        for integration_id, group in by_integration.items():
            integration = integrations[integration_id]
            if integration is None:
                continue
            adapter = runtime.adapters.for_integration(integration)
            results.extend((c.id, service.carry_out(adapter, c)) for c in group)
        with runtime.transaction() as session:
            outcomes = service.record_outcomes(session=session, clock=runtime.clock, results=results)
            recorded += sum(1 for action in outcomes if action is not None)
    return recorded


def propagate(runtime: Runtime, entry_ids: list[int]) -> None:
    def find(session: Session, entry: BankEntry, radius: int) -> list[tuple[int, int]]:
        return media_matching_entry(session=session, indexes=runtime.indexes, entry=entry, radius=radius)

    for entry_id in entry_ids:
        service.propagate_entry(sessions=runtime.sessions, clock=runtime.clock, entry_id=entry_id, find_media=find,
                                policy=runtime.strike_policy, batch=runtime.settings.propagation_batch)
    run_actions(runtime)


def register(runtime: Runtime) -> None:
    def _propagate(payload: dict[str, Any]) -> None:
        propagate(runtime, [int(i) for i in payload.get("entry_ids", [])])

    def _run_actions(payload: dict[str, Any]) -> None:
        run_actions(runtime)

    runtime.registry.register(PROPAGATE_JOB, _propagate)
    runtime.registry.register(service.RUN_ACTIONS_JOB, _run_actions)
