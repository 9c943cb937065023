"""Victims' reports: intake, the one state machine, the clock, confirmation into a victim bank, decline, withdrawal.

Services take a session and never commit. Platform-facing work goes through the banks and enforcement services, so a
confirmed report's content is removed with every identical and near copy, and re-uploads are refused, by the same
engine as an authority's order. What the person reads about their case is in ``reports.status``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.audit import service as audit
from firebreak.banks import service as banks
from firebreak.banks.models import Bank, BankEntry, EntryStatus, MatchAction, Provenance
from firebreak.core.blobs import BlobStore
from firebreak.core.clock import Clock
from firebreak.core.jobs import outbox as jobs
from firebreak.enforcement import service as enforcement
from firebreak.enforcement.service import RUN_ACTIONS_JOB
from firebreak.media.models import Media, Placement, PlacementStatus
from firebreak.platform.adapters import LinkTarget
from firebreak.reports.models import (
    DeclineReason,
    ItemKind,
    ItemOutcome,
    ItemResolution,
    ReportCategory,
    ReporterRelation,
    ReportKind,
    ReportStatus,
    VictimReport,
    VictimReportItem,
)
from firebreak.reports.queue import VICTIM_REPORT, ReviewQueue
from firebreak.reports.schemas import FileHashesIn, HashesIn, ReportIn
from firebreak.reports.sealing import ReportSecrets
from firebreak.signals.decode import DecodeLimits
from firebreak.signals.vpdq import VpdqFrame, frames_to_value

SLA_JOB = "reports.sla"
FOLLOW_JOB = "reports.follow"
_REFERENCE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U
HASH_BANK = "victims-hashes"

TRANSITIONS: dict[ReportStatus, set[ReportStatus]] = {
    ReportStatus.RECEIVED: {ReportStatus.IN_REVIEW, ReportStatus.HASHES_ACTIVE, ReportStatus.WITHDRAWN},
    ReportStatus.IN_REVIEW: {ReportStatus.ACTIONED, ReportStatus.DECLINED, ReportStatus.WITHDRAWN},
    ReportStatus.ACTIONED: {ReportStatus.WITHDRAWN},
    ReportStatus.DECLINED: {ReportStatus.WITHDRAWN},
    ReportStatus.HASHES_ACTIVE: {ReportStatus.WITHDRAWN},
}
OPEN = (ReportStatus.RECEIVED, ReportStatus.IN_REVIEW)
SLA_MARKS = (("50", 0.5), ("90", 0.9), ("overdue", 1.0))

# Who is at risk of what, first: abuse of a child, then a threat still to be carried out, then images already out.
PRIORITY = {ReportCategory.CSAM: 100, ReportCategory.THREAT_TO_SHARE: 90, ReportCategory.INTIMATE_IMAGE: 80,
            ReportCategory.SEXUAL_DEEPFAKE: 80, ReportCategory.OTHER: 50}
ESCALATED_PRIORITY = 100
# What the platform tells the sender of a removed message: the rule, never who reported it or the case number.
# What the platform shows where a removed message was: the rule, never who reported it.
REMOVAL_REASONS = {"csam": "child sexual abuse material, confirmed by review",
                   "sexual_deepfake": "a sexual deepfake of a real person, confirmed by review"}
REMOVAL_REASON = "intimate imagery shared without consent, confirmed by review"


class ReportError(Exception):
    """A report operation that cannot be done; the message says why."""


class IllegalTransition(ReportError):
    pass


LinkParser = Callable[[str], tuple[int, LinkTarget] | None]


@dataclass(frozen=True)
class Deadlines:
    """How long a review may take, by jurisdiction (settings ``victim_deadline_hours``).

    A jurisdiction in ``complete_only`` gives its time only to a complete request: the US TAKE IT DOWN Act's 48
    hours run for a request with a signature, where the content is, the good-faith statement and contact details.
    """

    hours: dict[str, int] = field(default_factory=lambda: {"KR": 24, "US": 48})
    default_hours: int = 48
    complete_only: frozenset[str] = frozenset({"US"})

    def allowed(self, jurisdiction: str, complete: bool) -> timedelta:
        hours = self.hours.get(jurisdiction)
        if hours is None or (jurisdiction in self.complete_only and not complete):
            hours = self.default_hours
        return timedelta(hours=hours)


@dataclass(frozen=True)
class Context:
    """What the rules need from the running system, passed in so the service stays testable."""

    clock: Clock
    secrets: ReportSecrets
    queue: ReviewQueue
    parse_link: LinkParser
    deadlines: Deadlines
    blobs: BlobStore | None
    limits: DecodeLimits
    platform_name: str


@dataclass(frozen=True)
class Created:
    report: VictimReport
    token: str  # shown once: only its SHA-256 is stored
    pin: str  # shown once: only its HMAC is stored


def transition(*, session: Session, clock: Clock, actor: str, report: VictimReport, new: ReportStatus,
               reason: str | None = None) -> None:
    """The only way a report changes status: checks the move, stamps the time, cancels a clock no longer needed,
    writes the audit event (with the case number, never the person's data)."""
    old = report.status
    if new not in TRANSITIONS.get(old, set()):
        raise IllegalTransition(f"report {report.reference} cannot go from {old.value} to {new.value}")
    report.status, report.status_changed_at = new, clock.now()
    if new not in OPEN:
        for mark, _ in SLA_MARKS:
            jobs.cancel(session=session, dedupe_key=f"victim-sla:{report.id}:{mark}")
    audit.record(session=session, clock=clock, actor=actor, action=f"report.{new.value}",
                 object_type="victim_report", object_id=report.reference,
                 data={"from": old.value, "to": new.value, "reason": reason})


def new_reference(session: Session, clock: Clock) -> str:
    while True:
        reference = f"VR-{clock.now().year}-" + "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(6))
        if session.scalar(select(VictimReport.id).where(VictimReport.reference == reference)) is None:
            return reference


@dataclass(frozen=True)
class LinkProblem:
    position: int  # 1-based, as the person numbers their lines
    link: str
    problem: str  # "other_site" | "chat_link"


def check_links(links: Sequence[str], parse_link: LinkParser) -> list[LinkProblem]:
    """Links that do not name one message on this platform (another site, or a whole chat)."""
    problems = []
    for position, link in enumerate(links, start=1):
        parsed = parse_link(link)
        if parsed is None:
            problems.append(LinkProblem(position, link, "other_site"))
        elif parsed[1].message_id is None:
            problems.append(LinkProblem(position, link, "chat_link"))
    return problems


def _new(session: Session, ctx: Context, *, kind: ReportKind, relation: ReporterRelation,
         category: ReportCategory, jurisdiction: str, language: str, private: dict[str, str | None],
         email_updates: bool, good_faith: bool, complete: bool, links: list[str]) -> Created:
    now = ctx.clock.now()
    reference = new_reference(session, ctx.clock)
    token, pin = ctx.secrets.new_token(), ctx.secrets.new_pin()
    kept = {k: v for k, v in private.items() if v}
    report = VictimReport(
        reference=reference, access_code_hash=ctx.secrets.token_hash(token),
        pin_hash=ctx.secrets.pin_hash(reference, pin), kind=kind, reporter_relation=relation, category=category,
        jurisdiction=jurisdiction, language=language, message_links=links,
        sealed_private=ctx.secrets.seal(kept, case=reference) if kept else None, email_updates=email_updates,
        good_faith_statement=good_faith, complete_request=complete, priority=PRIORITY[category],
        status=ReportStatus.RECEIVED, status_changed_at=now, received_at=now, created_at=now)
    session.add(report)
    session.flush()
    audit.record(session=session, clock=ctx.clock, actor="reporter", action="report.received",
                 object_type="victim_report", object_id=reference,
                 data={"kind": kind.value, "category": category.value, "relation": relation.value,
                       "jurisdiction": jurisdiction, "items": len(links), "complete_request": complete,
                       "contact_given": bool(private.get("email") or private.get("phone"))})
    return Created(report, token, pin)


def create_report(*, session: Session, ctx: Context, data: ReportIn) -> Created:
    """Record a report naming messages, resolve its links, start its clock and put it in the review queue.

    The caller has checked the links (``check_links``): each names a message on this platform.
    """
    complete = data.contact.given  # the form requires the signature, the links and the statement
    created = _new(session, ctx, kind=ReportKind.LINKS, relation=data.reporter, category=data.category,
                   jurisdiction=data.jurisdiction, language=data.language,
                   private={"signature": data.signature, "name": data.contact.name, "email": data.contact.email,
                            "phone": data.contact.phone, "details": data.details},
                   email_updates=data.email_updates, good_faith=data.good_faith, complete=complete,
                   links=list(data.links))
    report = created.report
    for position, link in enumerate(data.links, start=1):
        item = VictimReportItem(report_id=report.id, position=position, kind=ItemKind.MESSAGE_LINK, value=link,
                                hashes={}, created_at=ctx.clock.now())
        session.add(item)
        resolve(session=session, ctx=ctx, item=item)
    session.flush()
    report.deadline_at = report.received_at + ctx.deadlines.allowed(report.jurisdiction, complete)
    schedule_sla(session=session, report=report)
    transition(session=session, clock=ctx.clock, actor="system:reports", report=report, new=ReportStatus.IN_REVIEW)
    report.queued_at = ctx.clock.now()
    ctx.queue.enqueue(session=session, kind=VICTIM_REPORT, ref=report.reference, priority=report.priority,
                      deadline=report.deadline_at, category=report.category.value,
                      jurisdiction=report.jurisdiction or None, title=queue_title(report))
    return created


def queue_title(report: VictimReport) -> str:
    count = len(report.message_links)
    return (f"Victim report {report.reference}: {report.category.value.replace('_', ' ')}, "
            f"{count} link{'s' if count != 1 else ''}")


def resolve(*, session: Session, ctx: Context, item: VictimReportItem) -> None:
    """Find the message a link names among the placements Firebreak has seen."""
    parsed = ctx.parse_link(item.value)
    if parsed is None or parsed[1].message_id is None:
        item.resolution = ItemResolution.NOT_FOUND
        return
    integration_id, target = parsed
    placements = list(session.scalars(select(Placement).where(
        Placement.integration_id == integration_id, Placement.chat_external_id == target.chat_id,
        Placement.message_external_id == target.message_id).order_by(Placement.id)))
    item.integration_id = integration_id
    if not placements:
        item.resolution = ItemResolution.NOT_FOUND
        return
    live = [p for p in placements if p.status == PlacementStatus.LIVE]
    chosen = live[0] if live else placements[0]
    item.placement_id, item.media_id = chosen.id, chosen.media_id
    item.resolution = ItemResolution.FOUND if live else ItemResolution.ALREADY_REMOVED


def create_hash_report(*, session: Session, ctx: Context, data: HashesIn) -> Created:
    """Record hashes computed on the person's device and bank them at once in the victims' review bank.

    A hash alone cannot be verified, so matches go to human review (the bank's action), never straight to removal.
    """
    created = _new(session, ctx, kind=ReportKind.HASHES, relation=data.reporter, category=data.category,
                   jurisdiction="", language=data.language,
                   private={"name": data.contact.name, "email": data.contact.email, "phone": data.contact.phone},
                   email_updates=data.email_updates, good_faith=False, complete=False, links=[])
    report = created.report
    bank = banks.ensure_bank(session=session, clock=ctx.clock, actor="system:reports", name=HASH_BANK,
                             action=MatchAction.REVIEW, policy_category="ncii",
                             description="Hashes people computed on their own devices (unverified): matches are "
                                         "reviewed")
    for position, file in enumerate(data.hashes, start=1):
        item = VictimReportItem(report_id=report.id, position=position, kind=ItemKind.FILE_HASHES,
                                value=file.sha256, hashes=file.model_dump(mode="json"),
                                resolution=ItemResolution.FOUND, outcome=ItemOutcome.BANKED,
                                actioned_at=ctx.clock.now(), created_at=ctx.clock.now())
        session.add(item)
        session.flush()
        banks.add_entries(session=session, clock=ctx.clock, actor="system:reports", bank=bank,
                          entries=_file_entries(file, note=f"victim report {report.reference}"),
                          provenance=Provenance.REPORT, source_ref=item_ref(item))
    transition(session=session, clock=ctx.clock, actor="system:reports", report=report,
               new=ReportStatus.HASHES_ACTIVE)
    return created


def _file_entries(file: FileHashesIn, *, note: str) -> list[banks.EntryInput]:
    entries = [banks.EntryInput("sha256", file.sha256, note=note), banks.EntryInput("md5", file.md5, note=note)]
    if file.kind == "image" and file.pdq is not None:
        entries.append(banks.EntryInput("pdq", file.pdq.hash, quality=file.pdq.quality, note=note))
    if file.kind == "video" and file.frames:
        frames = [VpdqFrame(i, round(f.time, 3), f.hash, f.quality)
                  for i, f in enumerate(sorted(file.frames, key=lambda f: f.time))]
        entries.append(banks.EntryInput("vpdq", frames_to_value(frames), note=note))
    return entries


def item_ref(item: VictimReportItem) -> str:
    return f"victim_report_item:{item.id}"


def schedule_sla(*, session: Session, report: VictimReport) -> None:
    if report.deadline_at is None:
        return
    span = report.deadline_at - report.received_at
    for mark, fraction in SLA_MARKS:
        jobs.schedule(session=session, job=SLA_JOB, due_at=report.received_at + span * fraction,
                      payload={"report_id": report.id, "mark": mark}, dedupe_key=f"victim-sla:{report.id}:{mark}")


def follow(*, session: Session, clock: Clock, report: VictimReport, after: timedelta = timedelta(seconds=1)) -> None:
    """Look at the report again soon (a row, so it survives restarts) until its removals are final."""
    jobs.schedule(session=session, job=FOLLOW_JOB, due_at=clock.now() + after, payload={"report_id": report.id},
                  dedupe_key=f"victim-follow:{report.id}")


# -- decisions ------------------------------------------------------------------------------------------------------

def victim_bank_name(category: ReportCategory) -> str:
    return f"victims-{category.value}"


def confirm(*, session: Session, ctx: Context, report: VictimReport, actor: str, staff_id: int | None,
            note: str | None = None, ground: str | None = None, decision_id: int | None = None) -> None:
    """The moderator confirms: every item goes into the victim bank (so every identical and near copy is removed
    and re-uploads are refused) and each reported message is removed.

    The removals are a person's decision on a notice: their statements of reasons say so, with ``ground`` (a policy
    ground's name; default: the category's) and, when the review queue decided, its ``decision_id``."""
    if report.status != ReportStatus.IN_REVIEW:
        raise ReportError(f"report {report.reference} is {report.status.value.replace('_', ' ')}, not in review")
    clock = ctx.clock
    bank = banks.ensure_bank(session=session, clock=clock, actor=actor, name=victim_bank_name(report.category),
                             action=MatchAction.BLOCK, policy_category=report.category.taxonomy,
                             description=f"Confirmed from victims' reports, category {report.category.value}")
    for item in report.items:
        if item.resolution in (ItemResolution.PENDING, ItemResolution.NOT_FOUND):
            resolve(session=session, ctx=ctx, item=item)  # the platform may have seen the message since
        media = session.get(Media, item.media_id) if item.media_id else None
        if media is None:
            item.outcome, item.actioned_at = ItemOutcome.NOT_FOUND, clock.now()
            continue
        banks.add_entries(session=session, clock=clock, actor=actor, bank=bank,
                          entries=banks.entries_for_media(media=media, blobs=ctx.blobs, limits=ctx.limits,
                                                          note=f"victim report {report.reference}"),
                          provenance=Provenance.REPORT, source_ref=item_ref(item))
        placement = session.get(Placement, item.placement_id) if item.placement_id else None
        if placement is not None and placement.status == PlacementStatus.LIVE:
            taxonomy = report.category.taxonomy
            params: dict[str, Any] = {"reason": REMOVAL_REASONS.get(taxonomy, REMOVAL_REASON), "category": taxonomy,
                                      "source": "notice", "reviewed_by": staff_id}
            if ground:
                params["ground"] = ground
            action = enforcement.queue_removal(session=session, clock=clock, placement=placement, params=params)
            if action is not None and decision_id is not None and action.decision_id is None \
                    and action.match_id is None and action.order_item_id is None:
                action.decision_id = decision_id
        else:
            item.outcome, item.actioned_at = ItemOutcome.ALREADY_REMOVED, clock.now()
    report.reviewed_at, report.reviewed_by_id, report.review_note = clock.now(), staff_id, note
    transition(session=session, clock=clock, actor=actor, report=report, new=ReportStatus.ACTIONED)
    ctx.queue.withdraw(session=session, kind=VICTIM_REPORT, ref=report.reference, reason="confirmed")
    jobs.defer(session=session, now=clock.now(), job=RUN_ACTIONS_JOB, payload={})
    follow(session=session, clock=clock, report=report)


def decline(*, session: Session, ctx: Context, report: VictimReport, actor: str, staff_id: int | None,
            reason: DeclineReason, note: str | None = None) -> None:
    if report.status != ReportStatus.IN_REVIEW:
        raise ReportError(f"report {report.reference} is {report.status.value.replace('_', ' ')}, not in review")
    report.reviewed_at, report.reviewed_by_id = ctx.clock.now(), staff_id
    report.decline_reason, report.review_note = reason, note
    for item in report.items:
        item.outcome = ItemOutcome.NOT_ACTED
    transition(session=session, clock=ctx.clock, actor=actor, report=report, new=ReportStatus.DECLINED,
               reason=reason.value)
    ctx.queue.withdraw(session=session, kind=VICTIM_REPORT, ref=report.reference, reason="declined")


def report_entries(session: Session, report: VictimReport) -> list[BankEntry]:
    refs = [item_ref(i) for i in report.items]
    if not refs:
        return []
    return list(session.scalars(select(BankEntry).where(BankEntry.source_ref.in_(refs)).order_by(BankEntry.id)))


def withdraw(*, session: Session, ctx: Context, report: VictimReport, actor: str = "reporter") -> bool:
    """The person withdraws the case: its hashes are withdrawn from every bank (no new match, no refused upload from
    them), it leaves the queue, and its sealed contact details and own words are erased. False if already withdrawn.

    Messages already removed stay removed: that was the platform's decision under its rules, and restoring intimate
    images because someone, possibly under pressure, pressed a button would do harm.
    """
    if report.status == ReportStatus.WITHDRAWN:
        return False
    was_open = report.status in OPEN
    for entry in report_entries(session, report):
        if entry.status != EntryStatus.WITHDRAWN:
            banks.set_entry_status(session=session, clock=ctx.clock, actor=actor, entry=entry,
                                   status=EntryStatus.WITHDRAWN, reason=f"case {report.reference} withdrawn")
    for item in report.items:
        if item.outcome == ItemOutcome.PENDING:
            item.outcome = ItemOutcome.NOT_ACTED
    report.withdrawn_at = ctx.clock.now()
    report.sealed_private, report.email_updates = None, False
    transition(session=session, clock=ctx.clock, actor=actor, report=report, new=ReportStatus.WITHDRAWN)
    jobs.cancel(session=session, dedupe_key=f"victim-follow:{report.id}")
    if was_open:
        ctx.queue.withdraw(session=session, kind=VICTIM_REPORT, ref=report.reference, reason="withdrawn")
    return True


# -- finding a case ----------------------------------------------------------------------------------------------

def by_token(*, session: Session, secrets_: ReportSecrets, token: str) -> VictimReport | None:
    token = token.strip()
    if not 20 <= len(token) <= 200:
        return None
    return session.scalar(select(VictimReport).where(VictimReport.access_code_hash == secrets_.token_hash(token)))


def by_reference(*, session: Session, reference: str) -> VictimReport | None:
    return session.scalar(select(VictimReport).where(VictimReport.reference == normal_reference(reference)))


def normal_reference(reference: str) -> str:
    """A case number as typed: case, spaces and dashes do not matter, and O/I/L read as 0/1/1 (Crockford)."""
    text = "".join(c for c in reference.upper() if c.isascii() and c.isalnum())
    if len(text) != 12 or not text.startswith("VR"):
        return reference.strip().upper()[:40]
    code = text[6:].replace("O", "0").replace("I", "1").replace("L", "1")
    return f"VR-{text[2:6]}-{code}"


def open_reports(*, session: Session) -> list[VictimReport]:
    """The default queue's order: priority, then the nearest deadline, then the oldest."""
    return list(session.scalars(select(VictimReport).where(VictimReport.status.in_(OPEN)).order_by(
        VictimReport.priority.desc(), VictimReport.deadline_at.is_(None), VictimReport.deadline_at,
        VictimReport.received_at)))


def victim_banks(*, session: Session) -> list[Bank]:
    return list(session.scalars(select(Bank).where(Bank.name.like("victims-%")).order_by(Bank.name)))


__all__ = ["FOLLOW_JOB", "HASH_BANK", "OPEN", "SLA_JOB", "Context", "Created", "Deadlines", "IllegalTransition",
           "LinkProblem", "ReportError", "check_links", "confirm", "create_hash_report", "create_report", "decline",
           "follow", "item_ref", "open_reports", "report_entries", "resolve", "schedule_sla", "transition",
           "victim_bank_name", "withdraw"]
