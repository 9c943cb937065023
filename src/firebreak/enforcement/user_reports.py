"""Reports a platform forwards for its users (DSA Art. 16): one review item per reported message, however many
report it; the moderator decides, the sender gets the statement and notice, the reporters hear the outcome.
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.auth.models import Role
from firebreak.core.clock import Clock
from firebreak.core.jobs.outbox import defer
from firebreak.enforcement import due_process, service
from firebreak.enforcement.due_process import DueProcess
from firebreak.enforcement.reviews import MODERATORS, WHEN, ReviewDeps, bank_media, media_kind, placements_table
from firebreak.media.models import Media, Placement
from firebreak.platform.models import Chat, PlatformAccount
from firebreak.review import service as review
from firebreak.review.models import DecisionOutcome, ReviewItem
from firebreak.review.registry import Applied, Choice, DecisionRefused, Fact, ItemView, Preview, Section, Table

USER_REPORT_KIND = "user_report"


def user_report_key(placement_id: int) -> str:
    return f"user_report:{placement_id}"


def file_user_report(*, session: Session, clock: Clock, due: DueProcess, integration_id: int, chat_id: str,
                     message_id: str, report_id: str, reporter: str | None, reason: str,
                     category: str | None) -> ReviewItem | None:
    """A report a platform forwards (DSA Art. 16): to the queue, one item per reported message however many
    report it. None when Firebreak knows no media in that message (it only sees messages with media)."""
    placement = session.scalar(select(Placement).where(
        Placement.integration_id == integration_id, Placement.chat_external_id == chat_id,
        Placement.message_external_id == message_id).order_by(Placement.id).limit(1))
    if placement is None:
        return None
    existing = review.open_item(session=session, open_key=user_report_key(placement.id))
    reports = list(existing.facts.get("reports", [])) if existing else []
    if any(r.get("id") == report_id for r in reports):
        return existing
    reports.append({"id": report_id[:255], "reporter": reporter, "reason": reason[:5000], "category": category,
                    "at": clock.now().isoformat()})
    ground = due.policy.for_category(category) if category else None
    media = session.get(Media, placement.media_id)
    return review.enqueue(
        session=session, clock=clock, kind=USER_REPORT_KIND, source="platform", subject_type="placement",
        subject_id=placement.id, open_key=user_report_key(placement.id),
        title=f"Reported by {len(reports)} user{'s' if len(reports) > 1 else ''}: "
              f"{service.with_article(media_kind(media))}" + (f" ({ground.label.lower()})" if ground else ""),
        severity=min(100, (ground.severity if ground else 40) + 5 * (len(reports) - 1)), spread=len(reports),
        category=category, facts={"reports": reports, "placement_id": placement.id},
        deadline_at=clock.now() + timedelta(days=1))


class UserReportKind:
    name: ClassVar[str] = USER_REPORT_KIND
    label: ClassVar[str] = "User report"
    deciders: ClassVar[tuple[Role, ...]] = MODERATORS

    def __init__(self, deps: ReviewDeps) -> None:
        self.deps = deps

    def _placement(self, session: Session, item: ReviewItem) -> Placement:
        placement = session.get(Placement, item.subject_id)
        if placement is None:
            raise DecisionRefused("The reported message is no longer known.")
        return placement

    def choices(self, session: Session, item: ReviewItem) -> list[Choice]:
        return [
            Choice("remove", "Remove the message", DecisionOutcome.VIOLATING, restrictive=True,
                   hint="Removes this message; its sender is told why and how to appeal; the reporters are told."),
            Choice("remove_everywhere", "Remove it everywhere and block it", DecisionOutcome.VIOLATING,
                   restrictive=True, hint="Also banks the file: every copy is removed and new uploads refused."),
            Choice("no_violation", "No violation", DecisionOutcome.NOT_VIOLATING,
                   hint="The message stays; the reporters are told, and how to contest it."),
        ]

    def describe(self, session: Session, item: ReviewItem) -> ItemView:
        placement = self._placement(session, item)
        media = session.get(Media, placement.media_id)
        chat = session.get(Chat, placement.chat_id) if placement.chat_id else None
        sender = session.get(PlatformAccount, placement.sender_id) if placement.sender_id else None
        copies = list(session.scalars(select(Placement).where(Placement.media_id == placement.media_id)
                                      .order_by(Placement.posted_at)))
        reports = item.facts.get("reports", [])
        category = next((r.get("category") for r in reports if r.get("category")), None)
        return ItemView(
            summary=f"{len(reports)} user(s) reported this message to the platform (a notice under Art. 16 DSA). "
                    "Decide whether it breaks the law or the terms of service; the reporters are told.",
            ground=self.deps.due.policy.for_category(category).name,
            sections=(
                Section("The reported message", previews=(
                    Preview(placement.media_id, f"Message {placement.message_external_id}", media_kind(media)),),
                    facts=(Fact("Chat", f"{chat.title or chat.external_id} ({chat.kind.value})" if chat
                                else placement.chat_external_id),
                           Fact("Sender", f"{sender.display_name or ''} ({sender.external_id})" if sender
                                else "unknown"),
                           Fact("Posted", placement.posted_at.strftime(WHEN)),
                           Fact("Now", placement.status.value))),
                Section("The reports", table=Table(("When", "Reporter", "Category", "Reason"), tuple(
                    (str(r.get("at", ""))[:16].replace("T", " "), str(r.get("reporter") or "anonymous"),
                     str(r.get("category") or "—"), str(r.get("reason") or "—")) for r in reports))),
                Section("The same file elsewhere", facts=(Fact("Messages", str(len(copies))),),
                        table=placements_table(session, copies)),
            ))

    def apply(self, session: Session, item: ReviewItem, applied: Applied) -> str:
        placement = self._placement(session, item)
        clock, due = self.deps.clock, self.deps.due
        applied.decision.placement_id, applied.decision.media_id = placement.id, placement.media_id
        chat = session.get(Chat, placement.chat_id) if placement.chat_id else None
        _ = due.translations(None)
        where = _(" in “{chat}”").format(chat=chat.title) if chat and chat.title else ""
        if applied.choice.key == "no_violation":
            answer = _("Thank you for your report about a message{where}. We looked at it and found that it does not "
                       "break the law or our terms of service, so it stays. If you disagree, you can reply through "
                       "{platform} within 6 months.").format(where=where, platform=due.platform_name)
            result = "No violation; the message stays."
        else:
            if applied.ground is None:
                raise DecisionRefused("A removal needs a policy ground.")
            action = service.queue_removal(session=session, clock=clock, placement=placement, params={
                "reason": due_process.removal_reason(due, applied.ground), "category": applied.ground.category,
                "ground": applied.ground.name, "source": "notice"})
            if action is not None and action.decision_id is None and action.match_id is None:
                action.decision_id = applied.decision.id
            banked = 0
            media = session.get(Media, placement.media_id)
            if applied.choice.key == "remove_everywhere" and media is not None:
                banked = bank_media(session, clock, media, applied)
            answer = _("Thank you for your report about a message{where}. We looked at it and removed it: it is "
                       "{summary}.").format(where=where, summary=applied.ground.summary)
            result = "Removal queued" + (f"; {banked} new bank entries block uploads and copies." if banked else ".")
        for reporter in {r.get("reporter") for r in item.facts.get("reports", []) if r.get("reporter")}:
            due_process.queue_notice(session=session, clock=clock, key=f"report-answer:{item.id}:{reporter}",
                                     text=answer, integration_id=placement.integration_id,
                                     external_account=str(reporter), params={"kind": "report_answer"})
        defer(session=session, now=clock.now(), job=service.RUN_ACTIONS_JOB, payload={})
        return result
