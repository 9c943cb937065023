"""The composition root: builds every component of a Firebreak once, and each use case with only what it needs.

``firebreak serve``, the CLI, the workers and the tests all start from :func:`build_system`. Nothing else constructs
components or reaches for a global: a domain's application layer (``flows``) gets a small typed dependencies object,
its routes get exactly the components they name (``core.http.deps.Provide``), its jobs are registered here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Connection, Engine, event
from sqlalchemy.orm import Session

import firebreak.schema.tables  # noqa: F401  (every table, so foreign keys between domains resolve)
from firebreak.audit import jobs as audit_jobs
from firebreak.banks import jobs as banks_jobs
from firebreak.banks.flows import Banks, BanksDeps
from firebreak.bootstrap.mail import mail_transport
from firebreak.core.blobs import LocalBlobStore
from firebreak.core.clock import Clock, SystemClock
from firebreak.core.config import Settings
from firebreak.core.db.session import Database, engine_from_settings
from firebreak.core.jobs.outbox import take_deferred
from firebreak.core.jobs.queue import JobQueue, Worker, build_huey
from firebreak.core.jobs.runner import JobRegistry, JobRunner
from firebreak.core.keys import KeyRing
from firebreak.core.retry import DEFAULT_RETRY, RetryPolicy
from firebreak.enforcement import jobs as enforcement_jobs
from firebreak.enforcement import service as enforcement_service
from firebreak.enforcement.flows import Enforcement, EnforcementDeps
from firebreak.enforcement.service import StrikePolicy
from firebreak.gateway import jobs as gateway_jobs
from firebreak.gateway.flows import Gateway, GatewayDeps, InProcessLink
from firebreak.integrations.sandbox.flows import Sandbox, SandboxDeps
from firebreak.mail.dkim import DnsFunc
from firebreak.mail.send import MailTransport
from firebreak.matching.flows import IndexKeeper, IndexKeeperDeps
from firebreak.matching.service import IndexSet
from firebreak.matching.snapshots import SnapshotStore
from firebreak.orders import jobs as order_jobs
from firebreak.orders.flows import OrderDesk, OrdersDeps
from firebreak.platform.registry import AdapterContext, Adapters
from firebreak.platform.schemas import Verdict
from firebreak.platform.secrets import IntegrationSecrets
from firebreak.signals.decode import DecodeLimits

log = logging.getLogger(__name__)
SANDBOX_INTEGRATION = "sandbox"
UNCHECKED_VERDICTS = {"allow": Verdict.ALLOW, "review": Verdict.REVIEW, "refuse": Verdict.BLOCK}


@dataclass
class System:
    """One Firebreak, built: its components and its use cases."""

    settings: Settings
    db: Database
    clock: Clock
    keys: KeyRing
    blobs: LocalBlobStore
    limits: DecodeLimits
    indexes: IndexSet
    index_keeper: IndexKeeper
    secrets: IntegrationSecrets
    adapters: Adapters
    retry: RetryPolicy
    registry: JobRegistry
    runner: JobRunner
    queue: JobQueue
    mailer: MailTransport
    banks: Banks
    enforcement: Enforcement
    gateway: Gateway
    orders: OrderDesk
    sandbox: Sandbox | None

    def worker(self) -> Worker:
        return Worker(self.queue, threads=self.settings.worker_threads, runner=self.runner,
                      tick_seconds=self.settings.reconcile_interval_seconds)

    def prepare(self) -> None:
        """Start-up writes a serving process needs: the sandbox's integration row."""
        if self.sandbox is not None:
            self.gateway.ensure_integration(name=SANDBOX_INTEGRATION, adapter="sandbox")

    def close(self) -> None:
        self.db.close()


def decode_limits(settings: Settings) -> DecodeLimits:
    return DecodeLimits(max_bytes=settings.max_upload_bytes, max_pixels=settings.max_image_pixels,
                        max_frames=settings.max_video_frames, max_seconds=settings.max_decode_seconds)


def build_indexes(settings: Settings, db: Database) -> tuple[IndexSet, IndexKeeper]:
    """The process's indexes (from the host's snapshot files, when enabled) and what keeps them in step."""
    # With snapshots, the host's writer folds changes in by writing a new snapshot; a process merges its own delta
    # (a private copy of the index) only if that does not happen.
    merge_threshold = 4 * settings.index_snapshot_rows if settings.index_snapshots else 65_536
    store = SnapshotStore(settings.effective_index_dir, verify=settings.index_verify_snapshots,
                          merge_threshold=merge_threshold) if settings.index_snapshots else None
    indexes = IndexSet(snapshots=store, merge_threshold=merge_threshold)
    keeper = IndexKeeper(IndexKeeperDeps(
        db=db, indexes=indexes, follow_seconds=settings.index_follow_seconds,
        snapshot_rows=settings.index_snapshot_rows, snapshot_max_age=settings.index_snapshot_max_age_seconds,
        log_keep=settings.index_log_keep))
    return indexes, keeper


def build_system(
    settings: Settings,
    *,
    clock: Clock | None = None,
    engine: Engine | None = None,
    bind: Connection | None = None,
    immediate_jobs: bool = False,
    dkim_dns: DnsFunc | None = None,
    mailer: MailTransport | None = None,
) -> System:
    """Build a Firebreak. ``bind`` (tests) runs every transaction as a savepoint on one connection."""
    clock = clock or SystemClock()
    if bind is not None:
        db = Database.on_connection(bind)
    else:
        db = Database.from_engine(engine or engine_from_settings(settings))
    keys = KeyRing.from_settings(settings)
    blobs = LocalBlobStore(settings.blob_dir, keys)
    limits = decode_limits(settings)
    indexes, index_keeper = build_indexes(settings, db)
    secrets = IntegrationSecrets(keys)
    adapters = Adapters(AdapterContext(db=db, clock=clock, secrets=secrets, settings=settings))
    retry = DEFAULT_RETRY
    lease = timedelta(seconds=settings.job_lease_seconds)
    registry = JobRegistry()
    # A worker that missed this many heartbeats (one per reconcile tick) is dead; on this host, one whose pid is gone.
    dead_after = timedelta(seconds=max(10.0, 5 * settings.reconcile_interval_seconds))
    runner = JobRunner(db=db, clock=clock, registry=registry, lease=lease, retry=retry, dead_after=dead_after)
    runner.releases.append(enforcement_service.release_leases)
    queue = JobQueue(build_huey(settings, immediate=immediate_jobs), runner.run_task)
    _nudge_after_commit(db, queue)

    policy = StrikePolicy(account_restrict_at=settings.account_restrict_strikes,
                          account_suspend_at=settings.account_suspend_strikes,
                          chat_suspend_at=settings.chat_suspend_strikes)
    enforcement = Enforcement(EnforcementDeps(db=db, clock=clock, indexes=indexes, adapters=adapters, policy=policy,
                                              retry=retry, lease=lease, owner=runner.identity.id,
                                              propagation_batch=settings.propagation_batch))
    gateway = Gateway(GatewayDeps(db=db, clock=clock, blobs=blobs, limits=limits, indexes=indexes,
                                  adapters=adapters, policy=policy, pdq_min_quality=settings.pdq_min_quality,
                                  unchecked_verdict=UNCHECKED_VERDICTS[settings.unchecked_uploads]))
    orders = OrderDesk(OrdersDeps(db=db, clock=clock, blobs=blobs, limits=limits, adapters=adapters,
                                  mailer=mailer or mail_transport(settings), settings=settings, dkim_dns=dkim_dns))
    banks = Banks(BanksDeps(db=db, clock=clock, blobs=blobs, limits=limits))
    sandbox = None
    if settings.sandbox_enabled:
        sandbox = Sandbox(SandboxDeps(db=db, clock=clock, link=InProcessLink(gateway),
                                      integration=SANDBOX_INTEGRATION, platform_name=settings.platform_name,
                                      max_upload_bytes=settings.max_upload_bytes))

    registry.register_all(audit_jobs.handlers(db=db, clock=clock))
    registry.register_all(banks_jobs.handlers(banks))
    registry.register_all(enforcement_jobs.handlers(enforcement))
    registry.register_all(gateway_jobs.handlers(gateway))
    registry.register_all(order_jobs.handlers(orders))
    return System(settings=settings, db=db, clock=clock, keys=keys, blobs=blobs, limits=limits, indexes=indexes,
                  index_keeper=index_keeper, secrets=secrets, adapters=adapters, retry=retry, registry=registry,
                  runner=runner, queue=queue,
                  mailer=mailer or orders.deps.mailer, banks=banks, enforcement=enforcement, gateway=gateway,
                  orders=orders, sandbox=sandbox)


def _nudge_after_commit(db: Database, queue: JobQueue) -> None:
    """After a transaction that deferred jobs commits, wake a worker for each (the rows are the truth)."""

    @event.listens_for(db.sessions, "after_commit")
    def _send_deferred(session: Session) -> None:
        for task_id in take_deferred(session):
            try:
                queue.nudge(task_id)
            except Exception:  # the row is committed; the reconciler will run it
                log.warning("could not nudge a worker for task %s; the reconciler will run it", task_id)

    @event.listens_for(db.sessions, "after_rollback")
    def _drop_deferred(session: Session) -> None:
        take_deferred(session)


__all__ = ["SANDBOX_INTEGRATION", "System", "build_system", "decode_limits"]
