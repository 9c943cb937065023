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
from firebreak.core.config import ConfigError, Settings
from firebreak.core.db.session import Database, engine_from_settings
from firebreak.core.i18n import translator
from firebreak.core.jobs.outbox import take_deferred
from firebreak.core.jobs.queue import JobQueue, Worker, build_huey
from firebreak.core.jobs.runner import JobRegistry, JobRunner
from firebreak.core.keys import KeyRing
from firebreak.core.retry import DEFAULT_RETRY, RetryPolicy
from firebreak.enforcement import jobs as enforcement_jobs
from firebreak.enforcement import review_kinds
from firebreak.enforcement import service as enforcement_service
from firebreak.enforcement.appeals import Appeals, AppealsDeps
from firebreak.enforcement.conduct import ConductPolicy
from firebreak.enforcement.due_process import DueProcess
from firebreak.enforcement.flows import Enforcement, EnforcementDeps
from firebreak.enforcement.reviews import ReviewDeps as EnforcementReviewDeps
from firebreak.evidence import jobs as evidence_jobs
from firebreak.evidence.flows import Evidence, EvidenceDeps
from firebreak.evidence.sealing import KeyEncryptionKeys
from firebreak.evidence.service import RetentionPolicy, Vault
from firebreak.gateway import jobs as gateway_jobs
from firebreak.gateway.flows import Gateway, GatewayDeps, InProcessLink
from firebreak.integrations.sandbox.flows import Sandbox, SandboxDeps
from firebreak.mail.dkim import DnsFunc
from firebreak.mail.send import MailTransport
from firebreak.matching.copies import CopyLine
from firebreak.matching.flows import IndexKeeper, IndexKeeperDeps
from firebreak.matching.service import IndexSet
from firebreak.matching.snapshots import SnapshotStore
from firebreak.orders import jobs as order_jobs
from firebreak.orders.flows import OrderDesk, OrdersDeps
from firebreak.orders.preservation import OrdersDirectory
from firebreak.orders.review import OrderReviewKind
from firebreak.platform.registry import AdapterContext, Adapters
from firebreak.platform.schemas import Verdict
from firebreak.platform.secrets import IntegrationSecrets
from firebreak.reports import jobs as report_jobs
from firebreak.reports.flows import Reports, ReportsDeps
from firebreak.reports.queue import ReviewQueue
from firebreak.reports.review import InReviewQueue, VictimReportKind
from firebreak.review.flows import ReviewDeps, ReviewDesk
from firebreak.review.registry import ReviewKinds
from firebreak.signals.decode import DecodeLimits
from firebreak.transparency import jobs as transparency_jobs
from firebreak.transparency.eu_database import TransparencyDatabaseConfig
from firebreak.transparency.flows import StatementSubmitter, SubmissionDeps
from firebreak.transparency.notices import Translate, Translations, english_only
from firebreak.transparency.policy import PolicyError, load_policy
from firebreak.transparency_reports.flows import TransparencyReports, TransparencyReportsDeps

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
    due: DueProcess
    review: ReviewDesk
    appeals: Appeals
    reports: Reports
    sandbox: Sandbox | None
    evidence: Evidence
    statements: StatementSubmitter
    transparency_reports: TransparencyReports

    def worker(self) -> Worker:
        return Worker(self.queue, threads=self.settings.worker_threads, runner=self.runner,
                      tick_seconds=self.settings.reconcile_interval_seconds)

    def prepare(self) -> None:
        """Start-up writes a serving process needs: the sandbox's integration row."""
        if self.sandbox is not None:
            self.gateway.ensure_integration(name=SANDBOX_INTEGRATION, adapter="sandbox")
        self.evidence.ensure_scheduled()
        self.statements.schedule_next(soon=True)
        self.enforcement.ensure_descriptions_current()
        self.enforcement.ensure_standing_periods()

    def close(self) -> None:
        self.db.close()


def decode_limits(settings: Settings) -> DecodeLimits:
    return DecodeLimits(max_bytes=settings.max_upload_bytes, max_pixels=settings.max_image_pixels,
                        max_frames=settings.max_video_frames, max_seconds=settings.max_decode_seconds)


def retention_policy(settings: Settings) -> RetentionPolicy:
    return RetentionPolicy(default_days=settings.evidence_retention_days,
                           by_category=dict(settings.evidence_retention_by_category),
                           hold_days=settings.evidence_hold_days)


def evidence_keys(settings: Settings, keys: KeyRing) -> KeyEncryptionKeys:
    try:
        return KeyEncryptionKeys.build(settings.evidence_keys, keys)
    except ValueError as exc:
        raise ConfigError(f"FIREBREAK_EVIDENCE_KEYS: {exc}") from None


def transparency_database(settings: Settings) -> TransparencyDatabaseConfig | None:
    if not settings.dsa_tdb_url:
        return None
    return TransparencyDatabaseConfig(base_url=settings.dsa_tdb_url, token=settings.dsa_tdb_token,
                                      requests_per_second=settings.dsa_tdb_requests_per_second)


def catalog_translations(language: str | None) -> Translate:
    """Notices in the user's language, from the catalogs (English where a text has no translation)."""
    return translator(language).translations.gettext


def due_process(settings: Settings, keys: KeyRing, translations: Translations = english_only) -> DueProcess:
    """Statements, notices, records and appeals as the settings say (docs/review.md)."""
    try:
        policy = load_policy(settings.policy_file)
    except PolicyError as exc:
        raise ConfigError(f"FIREBREAK_POLICY_FILE: {exc}") from None
    conduct = ConductPolicy(window=timedelta(days=settings.conduct_window_days),
                            restrict_at=settings.violations_to_restrict, suspend_at=settings.violations_to_suspend,
                            restrict_for=timedelta(days=settings.restriction_days),
                            suspend_for=timedelta(days=settings.suspension_days))
    return DueProcess(policy=policy, conduct=conduct, puid_key=keys.derive("dsa-statement-puid"),
                      appeal_key=keys.derive("appeal-link"), public_url=settings.public_url,
                      platform_name=settings.platform_name, appeal_window_days=settings.appeal_window_days,
                      chat_review_after=settings.chat_review_after_removals, translations=translations)


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
    translations: Translations | None = None,
    review_queue: ReviewQueue | None = None,
) -> System:
    """Build a Firebreak. ``bind`` (tests) runs every transaction as a savepoint on one connection.

    ``review_queue``: where victims' reports wait for a moderator; None: the review queue moderators work.
    """
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
    _nudge_after_commit(db, queue, registry)

    due = due_process(settings, keys, translations or catalog_translations)
    copies = CopyLine(blobs=blobs, limits=limits, enabled=settings.copy_detection, keys=keys)
    enforcement = Enforcement(EnforcementDeps(db=db, clock=clock, indexes=indexes, adapters=adapters, due=due,
                                              retry=retry, lease=lease, owner=runner.identity.id,
                                              propagation_batch=settings.propagation_batch, copies=copies))
    gateway = Gateway(GatewayDeps(db=db, clock=clock, blobs=blobs, limits=limits, indexes=indexes,
                                  adapters=adapters, due=due, pdq_min_quality=settings.pdq_min_quality,
                                  unchecked_verdict=UNCHECKED_VERDICTS[settings.unchecked_uploads], copies=copies))
    orders = OrderDesk(OrdersDeps(db=db, clock=clock, blobs=blobs, limits=limits, adapters=adapters,
                                  mailer=mailer or mail_transport(settings), settings=settings, dkim_dns=dkim_dns,
                                  retention=retention_policy(settings)))
    banks = Banks(BanksDeps(db=db, clock=clock, blobs=blobs, limits=limits))
    reports = Reports(ReportsDeps(db=db, clock=clock, keys=keys, adapters=adapters, blobs=blobs, limits=limits,
                                  mailer=orders.deps.mailer, settings=settings,
                                  queue=review_queue or InReviewQueue(clock)))
    kinds = ReviewKinds()
    kinds.register(OrderReviewKind(orders, due.policy))
    kinds.register(VictimReportKind(reports, due.policy))
    review_kinds.register(kinds, EnforcementReviewDeps(clock=clock, due=due, adapters=adapters))
    review = ReviewDesk(ReviewDeps(db=db, clock=clock, kinds=kinds, policy=due.policy, blobs=blobs,
                                   claim_minutes=settings.review_claim_minutes,
                                   reveal_soft_limit=settings.reveal_soft_limit,
                                   second_for=tuple(settings.second_moderator_for)))
    appeals = Appeals(AppealsDeps(db=db, clock=clock, due=due))
    sandbox = None
    if settings.sandbox_enabled:
        sandbox = Sandbox(SandboxDeps(db=db, clock=clock, link=InProcessLink(gateway),
                                      integration=SANDBOX_INTEGRATION, platform_name=settings.platform_name,
                                      max_upload_bytes=settings.max_upload_bytes))

    evidence = Evidence(EvidenceDeps(
        db=db, clock=clock, vault=Vault(blobs=blobs, keks=evidence_keys(settings, keys)),
        retention=retention_policy(settings), orders=OrdersDirectory(),
        signing_key_path=settings.evidence_signing_key or settings.data_dir / "evidence-signing.key"))
    statements = StatementSubmitter(SubmissionDeps(
        db=db, clock=clock, config=transparency_database(settings),
        interval=timedelta(seconds=settings.dsa_tdb_interval_seconds)))
    transparency_reports = TransparencyReports(TransparencyReportsDeps(
        db=db, clock=clock, platform=settings.platform_name, provider=settings.provider_name,
        public_period=settings.public_report_period))

    registry.register_all(audit_jobs.handlers(db=db, clock=clock))
    registry.register_all(evidence_jobs.handlers(evidence), evidence_jobs.PRIORITIES)
    registry.register_all(transparency_jobs.handlers(statements), transparency_jobs.PRIORITIES)
    registry.register_all(banks_jobs.handlers(banks), banks_jobs.PRIORITIES)
    registry.register_all(enforcement_jobs.handlers(enforcement), enforcement_jobs.PRIORITIES)
    registry.register_all(gateway_jobs.handlers(gateway))
    registry.register_all(order_jobs.handlers(orders), order_jobs.PRIORITIES)
    registry.register_all(report_jobs.handlers(reports), report_jobs.PRIORITIES)
    return System(settings=settings, db=db, clock=clock, keys=keys, blobs=blobs, limits=limits, indexes=indexes,
                  index_keeper=index_keeper, secrets=secrets, adapters=adapters, retry=retry, registry=registry,
                  runner=runner, queue=queue,
                  mailer=mailer or orders.deps.mailer, banks=banks, enforcement=enforcement, gateway=gateway,
                  orders=orders, due=due, review=review, appeals=appeals, sandbox=sandbox, evidence=evidence,
                  statements=statements, reports=reports, transparency_reports=transparency_reports)


def _nudge_after_commit(db: Database, queue: JobQueue, registry: JobRegistry) -> None:
    """After a transaction that deferred jobs commits, wake a worker for each, the most urgent first (the rows are
    the truth)."""

    @event.listens_for(db.sessions, "after_commit")
    def _send_deferred(session: Session) -> None:
        ranked = [(registry.priority(job), task_id) for task_id, job in take_deferred(session)]
        for priority, task_id in sorted(ranked, key=lambda each: -each[0]):
            try:
                queue.nudge(task_id, priority)
            except Exception:  # the row is committed; the reconciler will run it
                log.warning("could not nudge a worker for task %s; the reconciler will run it", task_id)

    @event.listens_for(db.sessions, "after_rollback")
    def _drop_deferred(session: Session) -> None:
        take_deferred(session)


__all__ = ["SANDBOX_INTEGRATION", "System", "build_system", "decode_limits"]
