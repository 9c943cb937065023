"""Enforcement's kinds of review item: a match in a review bank and a proposed chat action (appeals are in
``appeal_review``, users' reports in ``user_reports``; ``review_kinds.register`` registers them all).

Registered in the composition root (``ReviewKinds.register``). Each describes its item for the console and applies
a decision inside the caller's transaction: removals, suspensions and restorations are ``Action`` rows the worker
carries out, and every restriction they lead to gets its statement and notice when done (``due_process``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.auth.models import Role
from firebreak.banks import service as banks
from firebreak.banks.models import Bank, BankEntry, EntryStatus, MatchAction, Provenance
from firebreak.core.clock import Clock
from firebreak.core.jobs.outbox import defer
from firebreak.enforcement import chats, due_process, service
from firebreak.enforcement.due_process import DueProcess
from firebreak.enforcement.models import Action, ActionKind
from firebreak.matching.copies import COPY_SIGNAL, evidence_words
from firebreak.matching.models import Match, MatchReview
from firebreak.media.models import Media, Placement, PlacementStatus
from firebreak.platform.adapters import AdapterProvider
from firebreak.platform.models import Chat, PlatformAccount
from firebreak.review.models import DecisionOutcome, ReviewItem
from firebreak.review.registry import (
    Applied,
    Choice,
    DecisionRefused,
    Fact,
    ItemView,
    Preview,
    Section,
    Table,
)

MODERATORS = (Role.ADMIN, Role.MODERATOR)
WHEN = "%Y-%m-%d %H:%M UTC"


@dataclass(frozen=True)
class ReviewDeps:
    clock: Clock
    due: DueProcess
    adapters: AdapterProvider


def placements_table(session: Session, placements: list[Placement], limit: int = 50) -> Table:
    senders = {a.id: a for a in session.scalars(select(PlatformAccount).where(
        PlatformAccount.id.in_({p.sender_id for p in placements if p.sender_id})))}
    chat_rows = {c.id: c for c in session.scalars(select(Chat).where(
        Chat.id.in_({p.chat_id for p in placements if p.chat_id})))}
    rows = []
    for p in placements[:limit]:
        chat = chat_rows.get(p.chat_id or 0)
        sender = senders.get(p.sender_id or 0)
        rows.append((chat.title or p.chat_external_id if chat else p.chat_external_id, p.message_external_id,
                     f"{sender.display_name or ''} ({sender.external_id})".strip() if sender else "unknown",
                     p.posted_at.strftime(WHEN), "forwarded" if p.forwarded_from_message else "posted",
                     p.status.value))
    return Table(("Chat", "Message", "Sender", "Posted", "How", "Now"), tuple(rows))


def media_kind(media: Media | None) -> str:
    return media.kind.value if media is not None else "other"


# -- a match in a review bank -----------------------------------------------------------------------------------

class MatchReviewKind:
    name: ClassVar[str] = service.MATCH_KIND
    label: ClassVar[str] = "Bank match"
    deciders: ClassVar[tuple[Role, ...]] = MODERATORS

    def __init__(self, deps: ReviewDeps) -> None:
        self.deps = deps

    def _match(self, session: Session, item: ReviewItem) -> tuple[Match, BankEntry, Bank]:
        match = session.get(Match, item.subject_id)
        entry = session.get(BankEntry, match.bank_entry_id) if match else None
        bank = session.get(Bank, entry.bank_id) if entry else None
        if match is None or entry is None or bank is None:
            raise DecisionRefused("The match behind this item no longer exists.")
        return match, entry, bank

    def choices(self, session: Session, item: ReviewItem) -> list[Choice]:
        return [
            Choice("confirm", "Violating: remove it everywhere", DecisionOutcome.VIOLATING, restrictive=True,
                   hint="Removes every live message with this media and blocks new uploads of it; each sender is "
                        "told why and how to appeal."),
            Choice("dismiss", "Not violating", DecisionOutcome.NOT_VIOLATING,
                   hint="Nothing is removed. The bank entry keeps sending matches here."),
            Choice("dismiss_withdraw", "Not violating, and the bank entry is wrong", DecisionOutcome.NOT_VIOLATING,
                   impact="withdraw_entry", hint="Nothing is removed, and the entry is withdrawn so it stops "
                                                 "matching."),
        ]

    def describe(self, session: Session, item: ReviewItem) -> ItemView:
        match, entry, bank = self._match(session, item)
        media = session.get(Media, match.media_id)
        placements = list(session.scalars(select(Placement).where(Placement.media_id == match.media_id)
                                          .order_by(Placement.posted_at)))
        others = session.execute(select(Match, Bank).join(BankEntry, BankEntry.id == Match.bank_entry_id)
                                 .join(Bank, Bank.id == BankEntry.bank_id)
                                 .where(Match.media_id == match.media_id, Match.id != match.id)).all()
        ground = self.deps.due.policy.for_category(bank.policy_category)
        live = sum(p.status == PlacementStatus.LIVE for p in placements)
        return ItemView(
            summary=f"{service.with_article(media_kind(media)).capitalize()} on the platform matches an entry of "
                    f"the bank “{bank.name}”, whose matches a person decides. {live} message(s) with it are live.",
            ground=ground.name,
            sections=(
                Section("The media", previews=(
                    Preview(match.media_id, "The matched media", media_kind(media)),
                    # A possible edited copy is judged side by side with the picture it may copy.
                    *((Preview(entry.media_id, f"The banked {media_kind(session.get(Media, entry.media_id))} "
                                               "it may copy", media_kind(session.get(Media, entry.media_id))),)
                      if match.signal_type == COPY_SIGNAL and entry.media_id else ())),
                        facts=(Fact("Kind", media_kind(media)),
                               Fact("Size", f"{media.width}×{media.height}" if media and media.width else "—"))),
                Section("Why it is here", facts=(
                    Fact("Bank", f"{bank.name} (action: {bank.action.value}, category: "
                                 f"{bank.policy_category or 'none'})", href=f"/console/banks/{bank.name}"),
                    Fact("Entry", f"#{entry.id}, {entry.signal_type}, from {entry.provenance.value}"
                                  + (f" ({entry.source_ref})" if entry.source_ref else "")),
                    _how_found(match, bank),
                    *(Fact("Also matches", f"{other_bank.name} ({other.signal_type}, distance {other.distance})",
                           href=f"/console/banks/{other_bank.name}") for other, other_bank in others),
                )),
                Section("Where it is (the spread)", facts=(
                    Fact("Messages", f"{len(placements)} ({live} live)"),
                    Fact("Chats", str(len({p.chat_external_id for p in placements}))),
                    Fact("Senders", str(len({p.sender_id for p in placements if p.sender_id}))),
                    Fact("Speed", f"{item.spread_per_hour:g} per hour since first seen"),
                ), table=placements_table(session, placements)),
            ))

    def apply(self, session: Session, item: ReviewItem, applied: Applied) -> str:
        match, entry, bank = self._match(session, item)
        clock = self.deps.clock
        decision = applied.decision
        decision.match_id, decision.media_id = match.id, match.media_id
        # The picture's other matches in this bank (its exact hashes and its PDQ) share the decision.
        siblings = list(session.scalars(select(Match).join(BankEntry, BankEntry.id == Match.bank_entry_id).where(
            Match.media_id == match.media_id, BankEntry.bank_id == bank.id, Match.review == MatchReview.PENDING)))
        if applied.choice.key != "confirm":
            for each in {match, *siblings}:
                each.review = MatchReview.DISMISSED
            if applied.choice.key == "dismiss_withdraw":
                wrong = {each.bank_entry_id for each in {match, *siblings}}
                for row in session.scalars(select(BankEntry).where(BankEntry.id.in_(wrong))):
                    banks.set_entry_status(session=session, clock=clock, actor=applied.actor, entry=row,
                                           status=EntryStatus.WITHDRAWN,
                                           reason=f"decision {decision.id}: not violating")
                return f"No violation; {len(wrong)} bank entr{'y' if len(wrong) == 1 else 'ies'} withdrawn."
            return "No violation; nothing was removed."
        if applied.ground is None:
            raise DecisionRefused("A removal needs a policy ground.")
        for each in {match, *siblings}:
            each.review = MatchReview.CONFIRMED
        removed = 0
        reason = due_process.removal_reason(self.deps.due, applied.ground)
        for placement in session.scalars(select(Placement).where(Placement.media_id == match.media_id,
                                                                 Placement.status == PlacementStatus.LIVE)):
            action = service.queue_removal(session=session, clock=clock, placement=placement, params={
                "reason": reason, "category": applied.ground.category, "ground": applied.ground.name})
            if action is not None and action.decision_id is None and action.match_id is None:
                action.decision_id = decision.id
                removed += 1
        media = session.get(Media, match.media_id)
        banked = bank_media(session, clock, media, applied) if media is not None else 0
        defer(session=session, now=clock.now(), job=service.RUN_ACTIONS_JOB, payload={})
        return f"Removal of {removed} message(s) queued; {banked} new bank entries block uploads and copies."


def _how_found(match: Match, bank: Bank) -> Fact:
    if match.signal_type == COPY_SIGNAL:
        return Fact("How it was found", f"Second line of matching (an edited copy): {evidence_words(match.evidence)}")
    if match.signal_type == "pdq":
        return Fact("Distance", f"{match.distance} bits (pdq); the bank's threshold is {bank.pdq_distance}")
    return Fact("Distance", "exact match")


# -- a proposed chat action -------------------------------------------------------------------------------------

class ChatActionKind:
    name: ClassVar[str] = chats.CHAT_KIND
    label: ClassVar[str] = "Chat action"
    deciders: ClassVar[tuple[Role, ...]] = MODERATORS

    def __init__(self, deps: ReviewDeps) -> None:
        self.deps = deps

    def _chat(self, session: Session, item: ReviewItem) -> Chat:
        chat = session.get(Chat, item.subject_id)
        if chat is None:
            raise DecisionRefused("The chat behind this item is no longer known.")
        return chat

    def choices(self, session: Session, item: ReviewItem) -> list[Choice]:
        return [
            Choice("suspend_chat", "Suspend the chat", DecisionOutcome.VIOLATING, restrictive=True,
                   impact="suspend_chat", hint="Nobody can post in it any more; its administrators are told why "
                                               "and how to appeal."),
            Choice("warn_admins", "Warn the administrators", DecisionOutcome.ESCALATE,
                   hint="The chat stays open; its administrators are told what was removed and asked to act."),
            Choice("no_action", "No chat action", DecisionOutcome.NOT_VIOLATING,
                   hint="The removals stand; the chat is left alone."),
        ]

    def describe(self, session: Session, item: ReviewItem) -> ItemView:
        chat = self._chat(session, item)
        ev = chats.evidence(session=session, chat=chat)
        removed = list(session.scalars(
            select(Placement).join(Action, Action.placement_id == Placement.id)
            .where(Placement.chat_id == chat.id, Action.kind == ActionKind.REMOVE_MESSAGE)
            .order_by(Placement.posted_at).limit(12)))
        ground = self.deps.due.policy.for_category(item.category)
        return ItemView(
            summary=("Items an authority ordered removed were posted in this chat: it may be where they spread "
                     "from." if ev.ordered else f"{ev.removed} copies of banked items were removed from this chat.")
            + " Chats are never suspended automatically; decide whether it needs action.",
            ground=ground.name,
            sections=(
                Section("The chat", facts=(
                    Fact("Title", chat.title or "—"), Fact("Id on the platform", chat.external_id),
                    Fact("Kind", f"{chat.kind.value}, {'public' if chat.is_public else 'private'}"),
                    Fact("Members", str(chat.member_count) if chat.member_count is not None else "unknown"),
                    Fact("Administrators", ", ".join(ev.admins) if ev.admins else "not known (the platform did not "
                                                                                    "say)", warn=not ev.admins),
                    Fact("Status", chat.status.value))),
                Section("Evidence", facts=(
                    Fact("Removed messages", str(ev.removed)),
                    Fact("Items an authority ordered", str(ev.ordered), warn=ev.ordered > 0),
                    Fact("Copies found through banks", str(ev.copies)),
                    Fact("Earliest removed message posted", ev.first_removed_posted_at or "—")),
                    table=Table(("Posted by", "Name", "Messages removed"),
                                tuple((p[0], p[1] or "—", str(p[2])) for p in ev.posters))),
                Section("Removed media (first 12)", previews=tuple(
                    Preview(p.media_id, f"{p.message_external_id}, posted {p.posted_at.strftime(WHEN)}")
                    for p in removed)),
            ))

    def apply(self, session: Session, item: ReviewItem, applied: Applied) -> str:
        chat = self._chat(session, item)
        clock = self.deps.clock
        if applied.choice.key == "suspend_chat":
            action = service.queue_chat_suspension(session=session, clock=clock, chat=chat,
                                                   decision_id=applied.decision.id,
                                                   params={"reason": applied.ground.summary if applied.ground
                                                           else "", "ground": applied.ground.name
                                                           if applied.ground else None})
            if action is None:
                return "The chat's suspension was already queued."
            defer(session=session, now=clock.now(), job=service.RUN_ACTIONS_JOB, payload={})
            return "The chat's suspension is queued; its administrators will be told why."
        if applied.choice.key == "warn_admins":
            if not chat.admins:
                raise DecisionRefused("The platform did not say who administers this chat, so nobody can be "
                                      "warned. Choose another decision.")
            _ = self.deps.due.translations(None)
            text = _("Messages that break our rules were removed from the chat “{chat}” that you administer. "
                     "Please make sure such content is not shared there again; otherwise the chat can be "
                     "suspended.").format(chat=chat.title or chat.external_id)
            for admin in chat.admins:
                due_process.queue_notice(session=session, clock=clock,
                                         key=f"chat-warning:{applied.decision.id}:{admin}", text=text,
                                         integration_id=chat.integration_id, external_account=admin,
                                         params={"kind": "chat_warning"})
            defer(session=session, now=clock.now(), job=service.RUN_ACTIONS_JOB, payload={})
            return f"{len(chat.admins)} administrator(s) will be warned."
        return "No chat action."


def bank_media(session: Session, clock: Clock, media: Media, applied: Applied) -> int:
    """Bank a confirmed file, so its copies go and uploads of it are refused (provenance: the decision)."""
    assert applied.ground is not None  # noqa: S101 - restrictive choices carry a ground
    target = banks.ensure_bank(session=session, clock=clock, actor=applied.actor,
                               name=f"decisions-{applied.ground.category}", action=MatchAction.BLOCK,
                               policy_category=applied.ground.category,
                               description="Items moderators confirmed as violating")
    entries = [banks.EntryInput("sha256", media.sha256, media_id=media.id),
               *([banks.EntryInput("md5", media.md5, media_id=media.id)] if media.md5 else []),
               *([banks.EntryInput("pdq", media.pdq, quality=media.pdq_quality, media_id=media.id)]
                 if media.pdq and (media.pdq_quality or 0) >= 50 else [])]
    _, added = banks.add_entries(session=session, clock=clock, actor=applied.actor, bank=target, entries=entries,
                                 provenance=Provenance.DECISION, source_ref=f"decision:{applied.decision.id}")
    return added
