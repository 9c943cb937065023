"""The victims' desk: reports in (no account), decisions, withdrawal, the clock, following removals, mails out.

Routes pass their session (the request owns the transaction): ``submit``, ``submit_hashes``, ``confirm``,
``decline``, ``withdraw`` and the look-ups work inside it, so a report, its queue entry, its clock and its first mail
are written together or not at all. Background work (the clock, following removals, mails) owns its transactions.
The rules are in ``reports.service`` and ``reports.status``.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.audit import service as audit
from firebreak.core.blobs import BlobStore
from firebreak.core.clock import Clock
from firebreak.core.config import Settings
from firebreak.core.db.session import Database
from firebreak.core.escalation import time_left
from firebreak.core.i18n import translator
from firebreak.core.jobs import outbox as jobs
from firebreak.core.jobs.runner import PermanentJobError
from firebreak.core.keys import KeyRing
from firebreak.mail.send import MailSendError, MailTransport, OutgoingMail
from firebreak.platform.adapters import AdapterProvider, LinkTarget
from firebreak.platform.models import PlatformIntegration
from firebreak.reports import limits, mails, service, status
from firebreak.reports.models import DeclineReason, ReportStatus, VictimReport
from firebreak.reports.queue import VICTIM_REPORT, ReportList, ReviewQueue
from firebreak.reports.schemas import HashesIn, ReportIn, StatusOut, Submitted
from firebreak.reports.sealing import ReportSecrets, SealError, normal_pin, shown_pin
from firebreak.signals.decode import DecodeLimits

log = logging.getLogger(__name__)
MAIL_JOB = "reports.mail"
WEBHOOK_JOB = "reports.webhook"


class LinksRefused(service.ReportError):
    """Some links do not name a message on this platform; nothing was recorded."""

    def __init__(self, problems: list[service.LinkProblem]) -> None:
        super().__init__("; ".join(f"link {p.position} ({p.link[:100]}): {p.problem}" for p in problems))
        self.problems = problems


class AlreadySubmitted(service.ReportError):
    """This form (or API call with this Idempotency-Key) was already sent: it is recorded once, under ``reference``."""

    def __init__(self, reference: str) -> None:
        super().__init__(f"already received as case {reference}")
        self.reference = reference


def submission_key(raw: str | None) -> str | None:
    """What is stored of a form's one-time key or an API Idempotency-Key: its SHA-256 (None when there is none)."""
    raw = (raw or "").strip()
    return hashlib.sha256(raw.encode()).hexdigest() if raw else None


class NotFound(service.ReportError):
    """No such case for this caller (also what a wrong token or PIN gets: nothing tells them apart)."""


@dataclass(frozen=True)
class ReportsDeps:
    db: Database
    clock: Clock
    keys: KeyRing
    adapters: AdapterProvider
    blobs: BlobStore | None
    limits: DecodeLimits
    mailer: MailTransport
    settings: Settings
    queue: ReviewQueue | None = None  # None: the console's own list of open reports (reports.queue.ReportList)


class Reports:
    def __init__(self, deps: ReportsDeps) -> None:
        self.deps = deps
        self.secrets = ReportSecrets.from_keys(deps.keys)
        self.queue: ReviewQueue = deps.queue or ReportList(deps.clock)
        self.deadlines = service.Deadlines(hours=dict(deps.settings.victim_deadline_hours),
                                           default_hours=deps.settings.victim_default_deadline_hours)

    @property
    def platform_name(self) -> str:
        return self.deps.settings.platform_name

    def context(self, session: Session) -> service.Context:
        integrations = list(session.scalars(select(PlatformIntegration).where(
            PlatformIntegration.is_active.is_(True)).order_by(PlatformIntegration.id)))
        adapters = self.deps.adapters

        def parse_link(url: str) -> tuple[int, LinkTarget] | None:
            for integration in integrations:
                try:
                    target = adapters.for_integration(integration).parse_link(url)
                except Exception:  # a misconfigured adapter must not stop a victim's report
                    log.exception("adapter of %s failed to parse a link", integration.name)
                    continue
                if target is not None:
                    return integration.id, target
            return None

        d = self.deps
        return service.Context(clock=d.clock, secrets=self.secrets, queue=self.queue, parse_link=parse_link,
                               deadlines=self.deadlines, blobs=d.blobs, limits=d.limits,
                               platform_name=self.platform_name)

    def url(self, path: str) -> str:
        return self.deps.settings.public_url.rstrip("/") + path

    def status_url(self, token: str) -> str:
        return self.url(f"/report/status/{token}")

    # -- intake ---------------------------------------------------------------------------------------------------

    def link_problems(self, session: Session, links: list[str]) -> list[service.LinkProblem]:
        return service.check_links(links, self.context(session).parse_link)

    def submit(self, *, session: Session, data: ReportIn, client: str | None, key: str | None = None) -> Submitted:
        """A report naming messages. ``key``: its form's (see :func:`submission_key`). Raises LinksRefused (nothing
        recorded), AlreadySubmitted or limits.RateLimited."""
        self._check_new(session, key)
        now = self.deps.clock.now()
        ctx = self.context(session)
        problems = service.check_links(data.links, ctx.parse_link)
        if problems:
            raise LinksRefused(problems)
        limits.hit(session, limits.REPORTS_PER_ADDRESS, self.secrets.address_key_of(client), now)
        limits.sweep(session, now)
        created = service.create_report(session=session, ctx=ctx, data=data)
        created.report.submission_key = key
        self._update(session, created.report, "received")
        return self._submitted(created)

    def submit_hashes(self, *, session: Session, data: HashesIn, client: str | None, key: str | None = None
                      ) -> Submitted:
        """Hashes computed on the person's device: banked for review at once. Raises AlreadySubmitted or
        limits.RateLimited."""
        self._check_new(session, key)
        now = self.deps.clock.now()
        limits.hit(session, limits.REPORTS_PER_ADDRESS, self.secrets.address_key_of(client), now)
        created = service.create_hash_report(session=session, ctx=self.context(session), data=data)
        created.report.submission_key = key
        self._update(session, created.report, "hashes_received")
        return self._submitted(created)

    @staticmethod
    def _check_new(session: Session, key: str | None) -> None:
        if key is None:
            return
        reference = session.scalar(select(VictimReport.reference).where(VictimReport.submission_key == key))
        if reference is not None:
            raise AlreadySubmitted(reference)

    def _submitted(self, created: service.Created) -> Submitted:
        report = created.report
        return Submitted(case_number=report.reference, kind=report.kind, status=report.status,
                         status_url=self.status_url(created.token), status_token=created.token,
                         pin=shown_pin(created.pin), received_at=report.received_at, deadline_at=report.deadline_at)

    # -- decisions ------------------------------------------------------------------------------------------------

    def get(self, session: Session, report_id: int) -> VictimReport:
        report = session.get(VictimReport, report_id)
        if report is None:
            raise NotFound(f"no report {report_id}")
        return report

    def confirm(self, *, session: Session, report_id: int, actor: str, staff_id: int | None,
                note: str | None = None, ground: str | None = None, decision_id: int | None = None
                ) -> VictimReport:
        """Bank the reported items into the victim bank (every identical and near copy is removed, re-uploads are
        refused) and remove each reported message. Raises ReportError when the report is not in review."""
        report = self.get(session, report_id)
        service.confirm(session=session, ctx=self.context(session), report=report, actor=actor, staff_id=staff_id,
                        note=note, ground=ground, decision_id=decision_id)
        self._update(session, report, "confirmed")
        return report

    def decline(self, *, session: Session, report_id: int, actor: str, staff_id: int | None, reason: DeclineReason,
                note: str | None = None) -> VictimReport:
        report = self.get(session, report_id)
        service.decline(session=session, ctx=self.context(session), report=report, actor=actor, staff_id=staff_id,
                        reason=reason, note=note)
        self._update(session, report, "declined", {"reason": reason.value})
        return report

    def withdraw(self, *, session: Session, report_id: int, actor: str = "reporter") -> bool:
        """Withdraw the case and its hashes everywhere. False when it was withdrawn already."""
        report = self.get(session, report_id)
        if report.status == ReportStatus.WITHDRAWN:
            return False
        self._update(session, report, "withdrawn")  # queued with the sealed address, before it is erased
        return service.withdraw(session=session, ctx=self.context(session), report=report, actor=actor)

    # -- the person's own access ----------------------------------------------------------------------------------

    def by_token(self, *, session: Session, token: str, client: str | None) -> VictimReport:
        """The case of a status link. A link that leads nowhere counts against the address (guessing is stopped);
        every request counts against its case. Raises NotFound or limits.RateLimited."""
        now = self.deps.clock.now()
        address = self.secrets.address_key_of(client)
        limits.check(session, limits.UNKNOWN_TOKENS_PER_ADDRESS, address, now)
        report = service.by_token(session=session, secrets_=self.secrets, token=token)
        if report is None:
            limits.hit(session, limits.UNKNOWN_TOKENS_PER_ADDRESS, address, now)
            raise NotFound("no case has this status link")
        limits.hit(session, limits.REQUESTS_PER_CASE, f"case:{report.reference}", now)
        return report

    def by_pin(self, *, session: Session, case_number: str, pin: str, client: str | None) -> VictimReport:
        """The case of a case number and PIN. Wrong PINs are limited per case and per address; an unknown case
        number is answered exactly as a wrong PIN. Raises NotFound or limits.RateLimited."""
        now = self.deps.clock.now()
        reference = service.normal_reference(case_number)
        address = self.secrets.address_key_of(client)
        limits.check(session, limits.WRONG_PINS_PER_ADDRESS, address, now)
        limits.check(session, limits.WRONG_PINS_PER_CASE, f"case:{reference}", now)
        report = service.by_reference(session=session, reference=reference)
        digits = normal_pin(pin)
        if report is None or len(digits) != 8 or not self.secrets.pin_matches(report.reference, digits,
                                                                                report.pin_hash):
            limits.hit(session, limits.WRONG_PINS_PER_ADDRESS, address, now)
            limits.hit(session, limits.WRONG_PINS_PER_CASE, f"case:{reference}", now)
            raise NotFound("no case has this number and PIN")
        limits.hit(session, limits.REQUESTS_PER_CASE, f"case:{report.reference}", now)
        return report

    def status(self, session: Session, report: VictimReport) -> StatusOut:
        return status.view(session, report)

    def private(self, report: VictimReport) -> dict[str, Any]:
        """The sealed contact details and own words (for the roles that may see them; the caller audits it)."""
        if not report.sealed_private:
            return {}
        try:
            return self.secrets.open(report.sealed_private, case=report.reference)
        except SealError:
            log.warning("the sealed details of %s do not open with this instance key", report.reference)
            return {}

    # -- mails ----------------------------------------------------------------------------------------------------

    def _update(self, session: Session, report: VictimReport, event: str, facts: dict[str, Any] | None = None
                ) -> None:
        """Queue a mail to the person, if they asked for updates. The job carries the sealed address, never the
        address itself; the mail names the case number and what was done, never the content."""
        if not report.email_updates or not report.sealed_private:
            return
        now = self.deps.clock.now()
        try:
            limits.hit(session, limits.MAILS_PER_CASE, f"case:{report.reference}", now)
        except limits.RateLimited:
            audit.record(session=session, clock=self.deps.clock, actor="system:reports", action="report.mail_skipped",
                         object_type="victim_report", object_id=report.reference, data={"event": event})
            return
        jobs.defer(session=session, now=now, job=MAIL_JOB, payload={
            "kind": "update", "report_id": report.id, "reference": report.reference, "event": event,
            "language": report.language, "sealed": report.sealed_private, "facts": facts or {}})

    def _staff_mail(self, session: Session, to: str, subject: str, text: str) -> None:
        if to:
            jobs.defer(session=session, now=self.deps.clock.now(), job=MAIL_JOB,
                       payload={"kind": "staff", "to": [to], "subject": subject, "text": text})

    def send_mail(self, payload: dict[str, Any]) -> None:
        d = self.deps
        if payload.get("kind") == "update":
            try:
                private = self.secrets.open(str(payload["sealed"]), case=str(payload["reference"]))
            except SealError:
                raise PermanentJobError("the sealed address does not open with this instance key") from None
            address = private.get("email")
            if not address:
                return
            subject, text = mails.update(translator(str(payload.get("language") or "en")), event=str(payload["event"]),
                                         case_number=str(payload["reference"]), facts=dict(payload.get("facts") or {}),
                                         platform=self.platform_name, lookup_url=self.url("/report/lookup"))
            mail = OutgoingMail(to=(address,), subject=subject, text=text, automatic=True)
            to = "the reporter"  # never logged with the address
        else:
            mail = OutgoingMail(to=tuple(payload["to"]), subject=str(payload["subject"]), text=str(payload["text"]),
                                automatic=True)
            to = ", ".join(payload["to"])
        try:
            d.mailer.send(mail)
        except MailSendError as exc:
            if exc.retryable:
                raise
            raise PermanentJobError(f"mail to {to} refused: {exc}") from None

    # -- the clock ------------------------------------------------------------------------------------------------

    def sla(self, payload: dict[str, Any]) -> None:
        """Reminders at 50% and 90% of the time, escalation at the deadline (each fires once, restart-safe)."""
        d = self.deps
        mark = str(payload["mark"])
        now = d.clock.now()
        with d.db.transaction() as session:
            report = session.get(VictimReport, int(payload["report_id"]))
            if report is None or report.status not in service.OPEN or report.deadline_at is None:
                return
            left = report.deadline_at - now
            team = d.settings.victim_review_email or d.settings.liaison_email
            link = self.url(f"/console/reports/{report.reference}")
            what = (f"Victim report {report.reference} ({report.category.value}, jurisdiction "
                    f"{report.jurisdiction or 'other'})")
            if mark in ("50", "90"):
                column = "reminded_50_at" if mark == "50" else "reminded_90_at"
                if getattr(report, column) is not None:
                    return
                setattr(report, column, now)
                audit.record(session=session, clock=d.clock, actor="system:sla", action=f"report.reminder_{mark}",
                             object_type="victim_report", object_id=report.reference,
                             data={"deadline": report.deadline_at})
                self._staff_mail(session, team, f"[{mark}%] {report.reference}: {time_left(left)} left",
                                 f"{what} is {mark}% through its time: {time_left(left)} left, deadline "
                                 f"{report.deadline_at:%Y-%m-%d %H:%M} UTC.\n\nReview it: {link}\n")
                return
            if report.escalated_at is not None:
                return
            report.escalated_at = now
            report.priority = max(report.priority, service.ESCALATED_PRIORITY)
            self.queue.enqueue(session=session, kind=VICTIM_REPORT, ref=report.reference, priority=report.priority,
                               deadline=report.deadline_at, category=report.category.value,
                               jurisdiction=report.jurisdiction or None, title=service.queue_title(report))
            audit.record(session=session, clock=d.clock, actor="system:sla", action="report.overdue",
                         object_type="victim_report", object_id=report.reference,
                         data={"deadline": report.deadline_at})
            text = (f"{what} is OVERDUE since {report.deadline_at:%Y-%m-%d %H:%M} UTC and still waits for review."
                    f"\n\nReview it: {link}\n")
            self._staff_mail(session, d.settings.oncall_email, f"[OVERDUE] {report.reference}", text)
            if d.settings.oncall_webhook_url:
                jobs.defer(session=session, now=now, job=WEBHOOK_JOB, payload={
                    "url": d.settings.oncall_webhook_url,
                    "body": {"event": "victim_report.overdue", "case_number": report.reference,
                             "category": report.category.value, "jurisdiction": report.jurisdiction,
                             "deadline_at": report.deadline_at.isoformat()}})

    # -- following removals -----------------------------------------------------------------------------------------

    def follow(self, payload: dict[str, Any]) -> None:
        d = self.deps
        with d.db.transaction() as session:
            report = session.get(VictimReport, int(payload["report_id"]))
            if report is None or report.status != ReportStatus.ACTIONED or report.closed_at is not None:
                return
            if status.refresh(session=session, clock=d.clock, report=report):
                record = status.close(session=session, clock=d.clock, report=report)
                self._update(session, report, "completed",
                             {"removed": record["reported_removed"], "copies_removed": record["copies_removed"]})
                return
            waited = d.clock.now() - (report.reviewed_at or report.received_at)
            service.follow(session=session, clock=d.clock, report=report,
                           after=timedelta(seconds=1 if waited < timedelta(minutes=5) else 30))


__all__ = ["MAIL_JOB", "WEBHOOK_JOB", "LinksRefused", "NotFound", "Reports", "ReportsDeps"]
