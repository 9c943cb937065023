"""Victims' reports in the general review queue: the queue adapter and the "victim_report" review kind.

``Reports`` tells its :class:`~firebreak.reports.queue.ReviewQueue` when a report arrives, escalates or leaves.
:class:`InReviewQueue` puts it into the review queue (``review.service``) that moderators work for everything else,
ordered with the rest by severity and time left; :class:`VictimReportKind` says what its item page shows and applies
the decision through ``Reports.confirm`` / ``Reports.decline``, so a report decided in the queue and one decided on
its own console page (``/console/reports/<case>``) go the same way. The reporter's contact details are never on the
item page: they stay on the report's page, on request, audited.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy.orm import Session

from firebreak.auth.models import Role
from firebreak.core.clock import Clock
from firebreak.media.models import Media, Placement
from firebreak.reports import service
from firebreak.reports.flows import Reports
from firebreak.reports.labels import DECLINE_LABELS
from firebreak.reports.models import DeclineReason, ReportKind, ReportStatus, VictimReport
from firebreak.reports.queue import VICTIM_REPORT
from firebreak.review import service as review
from firebreak.review.models import DecisionOutcome, ReviewItem
from firebreak.review.registry import Applied, Choice, DecisionRefused, Fact, Field, ItemView, Preview, Section
from firebreak.transparency.policy import Policy

_WHEN = "%Y-%m-%d %H:%M UTC"
_RELATIONS = {"depicted": "the person shown", "guardian": "a parent or guardian",
              "representative": "an authorised representative"}


def open_key(reference: str) -> str:
    return f"{VICTIM_REPORT}:{reference}"


class InReviewQueue:
    """``ReviewQueue`` over the general review queue: one open item per report, by case number."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def enqueue(self, *, session: Session, kind: str, ref: str, priority: int, deadline: datetime | None,
                category: str, jurisdiction: str | None, title: str) -> None:
        report = service.by_reference(session=session, reference=ref)
        if report is None:  # the caller's own report, flushed before it calls: cannot happen
            raise LookupError(f"no victim report {ref}")
        session.flush()
        review.enqueue(session=session, clock=self.clock, kind=kind, source="victim", subject_type="victim_report",
                       subject_id=report.id, open_key=open_key(ref), title=title, severity=priority,
                       deadline_at=deadline, category=category, jurisdiction=jurisdiction or None,
                       facts={"case": ref}, actor="system:reports")

    def withdraw(self, *, session: Session, kind: str, ref: str, reason: str) -> None:
        review.withdraw(session=session, clock=self.clock, open_key=open_key(ref), reason=reason,
                        actor="system:reports")


class VictimReportKind:
    name: ClassVar[str] = VICTIM_REPORT
    label: ClassVar[str] = "Victim's report"
    deciders: ClassVar[tuple[Role, ...]] = (Role.ADMIN, Role.MODERATOR)

    def __init__(self, reports: Reports, policy: Policy) -> None:
        self.reports = reports
        self.policy = policy

    def _report(self, session: Session, item: ReviewItem) -> VictimReport:
        report = session.get(VictimReport, item.subject_id)
        if report is None:
            raise DecisionRefused("The report behind this item no longer exists.")
        return report

    def choices(self, session: Session, item: ReviewItem) -> list[Choice]:
        return [
            Choice("confirm", "Confirm: remove it and every copy", DecisionOutcome.VIOLATING, restrictive=True,
                   hint="Banks each reported file (every identical and near copy is removed, re-uploads refused), "
                        "removes each reported message, and tells the person."),
            Choice("decline", "Decline", DecisionOutcome.NOT_VIOLATING,
                   hint="Nothing is removed; the person reads the reason you choose."),
        ]

    def describe(self, session: Session, item: ReviewItem) -> ItemView:
        report = self._report(session, item)
        private = self.reports.private(report)
        facts = [
            Fact("Case", report.reference, href=f"/console/reports/{report.reference}"),
            Fact("Status", report.status.value.replace("_", " ")),
            Fact("What it is", report.category.value.replace("_", " ")),
            Fact("Reported by", _RELATIONS.get(report.reporter_relation.value, report.reporter_relation.value)),
            Fact("Jurisdiction", report.jurisdiction or "not given"),
            Fact("Received", report.received_at.strftime(_WHEN)),
            Fact("Deadline", report.deadline_at.strftime(_WHEN) if report.deadline_at else "—"),
            Fact("Complete request", "yes (signed, with a way to reach the person)"
                 if report.complete_request else "no", warn=not report.complete_request),
        ]
        sections = [Section("The report", facts=tuple(facts),
                            note=f"In the person's words: {private['details']}" if private.get("details") else None)]
        for it in report.items:
            placement = session.get(Placement, it.placement_id) if it.placement_id else None
            media = session.get(Media, it.media_id) if it.media_id else None
            item_facts = [Fact("Link" if report.kind == ReportKind.LINKS else "Hash", it.value[:300]),
                          Fact("Found", it.resolution.value.replace("_", " "),
                               warn=it.resolution.value != "found")]
            if placement is not None:
                item_facts += [Fact("Posted", placement.posted_at.strftime(_WHEN)),
                               Fact("Now", placement.status.value)]
            previews = (Preview(media.id, f"Item {it.position} as posted", media.kind.value),) if media else ()
            sections.append(Section(f"Item {it.position}", facts=tuple(item_facts), previews=previews))
        reasons = tuple((r.value, DECLINE_LABELS[r.value]) for r in DeclineReason)
        return ItemView(
            summary="A person depicted (or someone for them) asks for this to be removed. Confirm only what the "
                    "report shows; the person's contact details are on the case page, for those who may contact "
                    "them.",
            sections=tuple(sections),
            fields=(Field("reason", "Why it is declined (the person reads it)", options=reasons,
                          for_choices=("decline",)),),
            ground=self.policy.for_category(report.category.taxonomy).name)

    def apply(self, session: Session, item: ReviewItem, applied: Applied) -> str:
        report = self._report(session, item)
        if report.status != ReportStatus.IN_REVIEW:
            raise DecisionRefused(f"Report {report.reference} is {report.status.value.replace('_', ' ')}: "
                                  "it was decided or withdrawn meanwhile.")
        note = applied.note or None
        applied.decision.report_id = report.id  # transparency reports count decisions per report
        try:
            if applied.choice.key == "confirm":
                self.reports.confirm(session=session, report_id=report.id, actor=applied.actor,
                                     staff_id=applied.staff_id or None, note=note,
                                     ground=applied.ground.name if applied.ground else None,
                                     decision_id=applied.decision.id)
                return f"Report {report.reference} confirmed: its items are banked and the messages removed."
            try:
                reason = DeclineReason(applied.inputs.get("reason", ""))
            except ValueError:
                raise DecisionRefused("Choose the reason the person will read.") from None
            self.reports.decline(session=session, report_id=report.id, actor=applied.actor,
                                 staff_id=applied.staff_id or None, reason=reason, note=note)
            return f"Report {report.reference} declined ({DECLINE_LABELS[reason.value]})."
        except service.ReportError as exc:
            raise DecisionRefused(str(exc)) from None


__all__ = ["InReviewQueue", "VictimReportKind", "open_key"]
