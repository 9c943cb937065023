"""Enforcement's use cases: propagate a new bank entry to every copy; carry out due actions on the platform.

Each owns its transactions: a propagation commits batch by batch with its cursor, and actions are claimed in one
transaction, carried out through the platform adapter with none open (the platform may be slow, or be this very
process), and their outcomes recorded in another.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from firebreak.banks.models import BankEntry
from firebreak.core.clock import Clock
from firebreak.core.db.session import Database
from firebreak.core.jobs.outbox import schedule
from firebreak.core.retry import RetryPolicy
from firebreak.enforcement import service
from firebreak.enforcement.models import Action, ActionStatus
from firebreak.matching.service import IndexSet, media_matching_entry
from firebreak.platform.adapters import ActionResult, AdapterProvider
from firebreak.platform.models import PlatformIntegration

log = logging.getLogger(__name__)
ACTION_BATCH = 200
# Outcomes are recorded at least this often while a batch is carried out, so a worker killed half-way leaves few
# actions whose outcome is unknown (each of those is asked of the platform again: adapters are idempotent).
RECORD_EVERY = 20
NEXT_RUN_KEY = "enforcement.run_actions:next"


@dataclass(frozen=True)
class EnforcementDeps:
    db: Database
    clock: Clock
    indexes: IndexSet
    adapters: AdapterProvider
    policy: service.StrikePolicy
    retry: RetryPolicy
    lease: timedelta
    owner: str  # this process, as the owner of the leases it takes (see core.jobs.workers)
    propagation_batch: int = service.PROPAGATION_BATCH


class Enforcement:
    def __init__(self, deps: EnforcementDeps) -> None:
        self.deps = deps

    def run_actions(self, *, limit: int | None = None) -> int:
        """Carry out every due action, in batches. Returns how many outcomes were recorded.

        Before returning, the next action still due later (a retry after a failure, or one claimed by a worker that
        died) is scheduled as a job row due at that time, so no action waits for unrelated work to wake a worker.
        """
        d = self.deps
        recorded = 0
        while limit is None or recorded < limit:
            with d.db.transaction() as session:
                claimed = service.claim_actions(session=session, now=d.clock.now(), limit=ACTION_BATCH, lease=d.lease,
                                                owner=d.owner)
                integrations = {i: session.get(PlatformIntegration, i) for i in {c.integration_id for c in claimed}}
                for integration in integrations.values():
                    if integration is not None:
                        session.expunge(integration)
            if not claimed:
                break
            by_integration: dict[int, list[service.ClaimedAction]] = defaultdict(list)
            for c in claimed:
                by_integration[c.integration_id].append(c)
            for integration_id, group in by_integration.items():
                integration = integrations[integration_id]
                if integration is None:
                    continue
                adapter = d.adapters.for_integration(integration)
                results: list[tuple[int, ActionResult]] = []
                for c in group:
                    results.append((c.id, service.carry_out(adapter, c)))
                    if len(results) >= RECORD_EVERY:
                        recorded += self._record(results)
                        results = []
                recorded += self._record(results)
        self._schedule_next()
        return recorded

    def _record(self, results: list[tuple[int, ActionResult]]) -> int:
        if not results:
            return 0
        d = self.deps
        with d.db.transaction() as session:
            outcomes = service.record_outcomes(session=session, clock=d.clock, results=results, retry=d.retry)
        return sum(1 for action in outcomes if action is not None)

    def _schedule_next(self) -> None:
        d = self.deps
        with d.db.transaction() as session:
            due = session.scalar(select(func.min(Action.next_attempt_at)).where(
                Action.status == ActionStatus.PENDING))
            if due is not None:
                schedule(session=session, job=service.RUN_ACTIONS_JOB, due_at=max(due, d.clock.now()), payload={},
                         dedupe_key=NEXT_RUN_KEY, now=d.clock.now(), keep_earlier=True)

    def propagate(self, entry_ids: list[int]) -> None:
        """Find and act on every existing copy of each entry (resumable), then carry out the actions."""
        d = self.deps

        def find(session: Session, entry: BankEntry, radius: int) -> list[tuple[int, int]]:
            return media_matching_entry(session=session, indexes=d.indexes, entry=entry, radius=radius)

        for entry_id in entry_ids:
            clashes = 0
            while True:
                try:
                    with d.db.transaction() as session:
                        step = service.propagate_batch(session=session, clock=d.clock, entry_id=entry_id,
                                                       find_media=find, policy=d.policy, batch=d.propagation_batch)
                except IntegrityError:
                    # Another worker propagating another entry of the same item (its SHA-256 and its PDQ, say)
                    # created an action for the same placement first: do the batch again, now seeing it.
                    clashes += 1
                    if clashes > 5:
                        raise
                    continue
                if step is None or step.done:
                    break
        self.run_actions()
