"""Enforcement's kinds of review item: a match in a review bank, a proposed chat action, an appeal.

Registered in the composition root (``ReviewKinds.register``). Each describes its item for the console and applies
a decision inside the caller's transaction: removals, suspensions and restorations are ``Action`` rows the worker
carries out, and every restriction they lead to gets its statement and notice when done (``due_process``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import ClassVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.auth.models import Role
from firebreak.banks import service as banks
from firebreak.banks.models import Bank, BankEntry, EntryStatus, MatchAction, Provenance
from firebreak.core.clock import Clock
from firebreak.core.jobs.outbox import defer
from firebreak.enforcement import chats, conduct, due_process, service
from firebreak.enforcement.due_process import DueProcess
from firebreak.enforcement.models import AccountConduct, Action, ActionKind, ConductKind, RefusedUpload
from firebreak.matching.models import Match, MatchReview
from firebreak.media.models import Media, Placement, PlacementStatus
from firebreak.platform.adapters import AdapterProvider, LiftsRestrictions
from firebreak.platform.models import Chat, PlatformAccount, PlatformIntegration, StandingStatus
from firebreak.review import service as review
from firebreak.review.models import Appeal, AppealStatus, Decision, DecisionOutcome, ReviewItem
from firebreak.review.registry import (
    Applied,
    Choice,
    DecisionRefused,
    Fact,
    Field,
    ItemView,
    Preview,
    ReviewKinds,
    Section,
    Table,
)
from firebreak.transparency import service as statements
from firebreak.transparency.models import StatementOfReasons
from firebreak.transparency.notices import Notice, NoticeKind, notice_text

MODERATORS = (Role.ADMIN, Role.MODERATOR)
_WHAT = {"DECISION_VISIBILITY_CONTENT_REMOVED": "content removed",
         "DECISION_VISIBILITY_OTHER": "upload refused",
         "DECISION_VISIBILITY_CONTENT_DISABLED": "chat suspended",
         "DECISION_ACCOUNT_SUSPENDED": "account suspended",
         "DECISION_PROVISION_PARTIAL_SUSPENSION": "account restricted"}
_AUTOMATION = {"AUTOMATED_DECISION_FULLY": "decided automatically",
               "AUTOMATED_DECISION_PARTIALLY": "decided automatically, confirmed by a person",
               "AUTOMATED_DECISION_NOT_AUTOMATED": "decided by a person"}
_WHEN = "%Y-%m-%d %H:%M UTC"


@dataclass(frozen=True)
class ReviewDeps:
    clock: Clock
    due: DueProcess
    adapters: AdapterProvider


def _placements_table(session: Session, placements: list[Placement], limit: int = 50) -> Table:
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
                     p.posted_at.strftime(_WHEN), "forwarded" if p.forwarded_from_message else "posted",
                     p.status.value))
    return Table(("Chat", "Message", "Sender", "Posted", "How", "Now"), tuple(rows))


def _media_kind(media: Media | None) -> str:
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
            summary=f"{service.with_article(_media_kind(media)).capitalize()} on the platform matches an entry of "
                    f"the bank “{bank.name}”, whose matches a person decides. {live} message(s) with it are live.",
            ground=ground.name,
            sections=(
                Section("The media", previews=(Preview(match.media_id, "The matched media", _media_kind(media)),),
                        facts=(Fact("Kind", _media_kind(media)),
                               Fact("Size", f"{media.width}×{media.height}" if media and media.width else "—"))),
                Section("Why it is here", facts=(
                    Fact("Bank", f"{bank.name} (action: {bank.action.value}, category: "
                                 f"{bank.policy_category or 'none'})", href=f"/console/banks/{bank.name}"),
                    Fact("Entry", f"#{entry.id}, {entry.signal_type}, from {entry.provenance.value}"
                                  + (f" ({entry.source_ref})" if entry.source_ref else "")),
                    Fact("Distance", f"{match.distance} bits ({match.signal_type}); the bank's threshold is "
                                     f"{bank.pdq_distance}" if match.signal_type == "pdq" else "exact match"),
                    *(Fact("Also matches", f"{other_bank.name} ({other.signal_type}, distance {other.distance})",
                           href=f"/console/banks/{other_bank.name}") for other, other_bank in others),
                )),
                Section("Where it is (the spread)", facts=(
                    Fact("Messages", f"{len(placements)} ({live} live)"),
                    Fact("Chats", str(len({p.chat_external_id for p in placements}))),
                    Fact("Senders", str(len({p.sender_id for p in placements if p.sender_id}))),
                    Fact("Speed", f"{item.spread_per_hour:g} per hour since first seen"),
                ), table=_placements_table(session, placements)),
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
        banked = _bank_media(session, clock, media, applied) if media is not None else 0
        defer(session=session, now=clock.now(), job=service.RUN_ACTIONS_JOB, payload={})
        return f"Removal of {removed} message(s) queued; {banked} new bank entries block uploads and copies."


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
                    Preview(p.media_id, f"{p.message_external_id}, posted {p.posted_at.strftime(_WHEN)}")
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


# -- an appeal --------------------------------------------------------------------------------------------------

class AppealKind:
    name: ClassVar[str] = review.APPEAL_KIND
    label: ClassVar[str] = "Appeal"
    deciders: ClassVar[tuple[Role, ...]] = MODERATORS

    def __init__(self, deps: ReviewDeps) -> None:
        self.deps = deps

    def _appeal(self, session: Session, item: ReviewItem) -> tuple[Appeal, StatementOfReasons]:
        appeal = session.get(Appeal, item.subject_id)
        statement = session.get(StatementOfReasons, appeal.statement_id) if appeal and appeal.statement_id else None
        if appeal is None or statement is None:
            raise DecisionRefused("The appeal behind this item no longer exists.")
        return appeal, statement

    def choices(self, session: Session, item: ReviewItem) -> list[Choice]:
        _, statement = self._appeal(session, item)
        action = session.get(Action, statement.action_id) if statement.action_id else None
        content = statement.refused_upload_id is not None or (
            action is not None and action.kind == ActionKind.REMOVE_MESSAGE)
        options = []
        if content:
            options.append(Choice("reverse", "Reverse: the item itself was wrong", DecisionOutcome.NOT_VIOLATING,
                                  impact="withdraw_entry", hint="Restores the content where the platform can, "
                                  "withdraws the bank entries behind it, lifts the warning, tells the user."))
            options.append(Choice("reverse_record", "Reverse for this user only", DecisionOutcome.NOT_VIOLATING,
                                  hint="The item stays banned and removed, but it no longer counts against this "
                                       "user's account; the user is told."))
        elif action is not None and action.kind == ActionKind.SUSPEND_CHAT:
            options.append(Choice("reverse", "Reverse: open the chat again", DecisionOutcome.NOT_VIOLATING,
                                  hint="Asks the platform to lift the chat's suspension (where it can); its "
                                       "administrators are told."))
        else:
            options.append(Choice("reverse", "Reverse: lift the restriction", DecisionOutcome.NOT_VIOLATING,
                                  hint="Lifts the violations that led to it, asks the platform to lift the "
                                       "restriction (where it can), and tells the user."))
        options.append(Choice("uphold", "Uphold the decision", DecisionOutcome.VIOLATING,
                              hint="The decision stands; the user is told, with where else they can turn."))
        return options

    def describe(self, session: Session, item: ReviewItem) -> ItemView:
        appeal, statement = self._appeal(session, item)
        payload = statement.payload
        action = session.get(Action, statement.action_id) if statement.action_id else None
        placement = session.get(Placement, action.placement_id) if action and action.placement_id else None
        refusal = session.get(RefusedUpload, statement.refused_upload_id) if statement.refused_upload_id else None
        account = session.get(PlatformAccount, statement.account_id) if statement.account_id else None
        record = conduct.record_of(session=session, account_id=account.id) if account else []
        previews: tuple[Preview, ...] = ()
        if placement is not None:
            previews = (Preview(placement.media_id, f"Message {placement.message_external_id}"),)
        decided = (f"by a person ({review._staff_name(session, statement.decided_by_id)})"
                   if statement.decided_by_id else "automatically")
        ground = self.deps.due.policy.grounds.get(statement.ground or "")
        return ItemView(
            summary=f"The user appeals against a decision taken {decided} on "
                    f"{payload.get('application_date', '?')}. Another moderator than the one who decided must "
                    "decide the appeal.",
            sections=(
                Section("The appeal", facts=(
                    Fact("Reference", appeal.reference or "—"), Fact("Filed", appeal.created_at.strftime(_WHEN)),
                    Fact("Through", "the platform" if appeal.channel.value == "platform" else "the notice's link"),
                    Fact("The user wrote", appeal.statement))),
                Section("The decision appealed", facts=(
                    Fact("What", _WHAT.get((payload.get("decision_visibility") or [""])[0]) or _WHAT.get(
                        payload.get("decision_account") or payload.get("decision_provision") or "", "—")),
                    Fact("Ground", ground.label if ground else (statement.ground or "—")),
                    Fact("Facts", str(payload.get("decision_facts", "—"))),
                    Fact("How", ("found automatically; " if payload.get("automated_detection") == "Yes"
                                 else "found by a person; ")
                         + _AUTOMATION.get(str(payload.get("automated_decision")), "—")),
                    Fact("Statement", statement.puid),
                    Fact("Content posted", str(payload.get("content_date", "—"))),
                    *((Fact("Upload refused", refusal.refused_at.strftime(_WHEN)),) if refusal else ()),
                ), previews=previews),
                Section("The account's record", facts=(
                    Fact("Account", f"{account.display_name or ''} ({account.external_id}), {account.status.value}"
                         if account else "—"),), table=Table(
                    ("When", "What", "Why", "Lifted"),
                    tuple((c.occurred_at.strftime(_WHEN), c.kind.value, c.cause.value.replace("_", " "),
                           c.lifted_at.strftime(_WHEN) if c.lifted_at else "—") for c in record))),
            ),
            fields=(Field("answer", "Answer to the user (optional, sent with the outcome)"),))

    def apply(self, session: Session, item: ReviewItem, applied: Applied) -> str:
        appeal, statement = self._appeal(session, item)
        if appeal.status != AppealStatus.OPEN:
            raise DecisionRefused(f"This appeal was already {appeal.status.value}.")
        clock, due = self.deps.clock, self.deps.due
        staff = applied.second_staff_id or applied.staff_id
        answer = (applied.inputs.get("answer") or "").strip()
        account = session.get(PlatformAccount, statement.account_id) if statement.account_id else None
        action = session.get(Action, statement.action_id) if statement.action_id else None
        integration_id = action.integration_id if action else (
            refusal.integration_id if (refusal := session.get(RefusedUpload, statement.refused_upload_id or 0))
            else account.integration_id if account else 0)
        notice = Notice(kind=NoticeKind.APPEAL_REJECTED, platform=due.platform_name, reference=statement.puid)
        if applied.choice.key == "uphold":
            review.resolve_appeal(session=session, clock=clock, appeal=appeal, status=AppealStatus.UPHELD,
                                  staff_id=staff, note=answer or applied.note)
            result = "The decision stands; the user is told."
        else:
            lifted = self._lift(session, statement, applied.actor)
            restored: bool | None = None
            withdrawn = 0
            standing = action is not None and action.kind in (
                ActionKind.RESTRICT_ACCOUNT, ActionKind.SUSPEND_ACCOUNT, ActionKind.SUSPEND_CHAT)
            if standing:
                assert action is not None  # noqa: S101 - narrowed above
                lifted += self._lift_violations(session, action, applied.actor)
                restored = self._lift_restriction(session, action, statement)
            elif applied.choice.key == "reverse":
                withdrawn = self._withdraw_entries(session, statement, action, applied.actor)
                restored = self._restore(session, action)
            statements.record_reversal(session=session, clock=clock, key=due.puid_key, original=statement,
                                       appeal_id=appeal.id, decided_by_id=staff,
                                       facts=f"Reversed on appeal {appeal.reference}: {applied.choice.label}.",
                                       actor=applied.actor)
            review.resolve_appeal(session=session, clock=clock, appeal=appeal, status=AppealStatus.REVERSED,
                                  staff_id=staff, note=answer or applied.note)
            notice = replace(notice, kind=NoticeKind.DECISION_REVERSED, restored=restored,
                             standing_lifted=standing)
            what = "the restriction" if standing else "content"
            result = (f"Reversed: {lifted} record entr{'y' if lifted == 1 else 'ies'} lifted, {withdrawn} bank "
                      f"entr{'y' if withdrawn == 1 else 'ies'} withdrawn, {what} "
                      + {True: "restoration queued" if not standing else "lifted on the platform (queued)",
                         False: "cannot be restored on this platform" if not standing
                         else "cannot be lifted through Firebreak on this platform: lift it there",
                         None: "left as it is"}[restored] + ".")
        chat = session.get(Chat, statement.chat_id) if statement.chat_id else None
        if account is None and action is not None and action.kind == ActionKind.SUSPEND_CHAT and chat is not None:
            text = notice_text(replace(notice, chat_title=chat.title), due.translations(None))
            if answer:
                text += "\n\n" + answer
            for admin in chat.admins or []:
                due_process.queue_notice(session=session, clock=clock, key=f"appeal-answer:{appeal.id}:{admin}",
                                         text=text, integration_id=integration_id, external_account=admin,
                                         params={"statement": statement.puid, "kind": notice.kind.value,
                                                 "appeal": appeal.reference})
        if account is not None:
            text = notice_text(notice, due.translations(account.language))
            if answer:
                text += "\n\n" + answer
            due_process.queue_notice(session=session, clock=clock, key=f"appeal-answer:{appeal.id}", text=text,
                                     integration_id=integration_id, account_id=account.id,
                                     placement_id=action.placement_id if action else None,
                                     params={"statement": statement.puid, "kind": notice.kind.value,
                                             "appeal": appeal.reference})
        defer(session=session, now=clock.now(), job=service.RUN_ACTIONS_JOB, payload={})
        return result

    def _lift_violations(self, session: Session, action: Action, actor: str) -> int:
        """A restriction reversed: the violations that led to it no longer count."""
        if action.account_id is None:
            return 0
        rows = list(session.scalars(select(AccountConduct).where(
            AccountConduct.account_id == action.account_id, AccountConduct.kind == ConductKind.VIOLATION,
            AccountConduct.lifted_at.is_(None), AccountConduct.created_at <= action.created_at)))
        for row in rows:
            conduct.lift(session=session, clock=self.deps.clock, conduct=row,
                         reason="the restriction it led to was reversed on appeal", actor=actor)
        return len(rows)

    def _lift_restriction(self, session: Session, action: Action, statement: StatementOfReasons) -> bool:
        """Ask the platform to lift the account's or chat's restriction; False where it cannot."""
        integration = session.get(PlatformIntegration, action.integration_id)
        if integration is None or not isinstance(self.deps.adapters.for_integration(integration), LiftsRestrictions):
            return False
        now = self.deps.clock.now()
        key = f"lift_restriction:{statement.id}"
        if session.scalar(select(Action.id).where(Action.idempotency_key == key)) is None:
            session.add(Action(idempotency_key=key, kind=ActionKind.LIFT_RESTRICTION,
                               integration_id=action.integration_id, account_id=action.account_id,
                               chat_id=action.chat_id if action.account_id is None else None, created_at=now,
                               next_attempt_at=now, params={"reason": "lifted after an appeal"}))
        if action.account_id is not None:
            account = session.get(PlatformAccount, action.account_id)
            if account is not None:
                account.status, account.status_changed_at = StandingStatus.ACTIVE, now
        elif action.chat_id is not None:
            chat = session.get(Chat, action.chat_id)
            if chat is not None:
                chat.status, chat.status_changed_at = StandingStatus.ACTIVE, now
        return True

    def _lift(self, session: Session, statement: StatementOfReasons, actor: str) -> int:
        rows = list(session.scalars(select(AccountConduct).where(
            (AccountConduct.statement_id == statement.id) | (
                (AccountConduct.action_id == statement.action_id) if statement.action_id is not None
                else (AccountConduct.refused_upload_id == statement.refused_upload_id)),
            AccountConduct.lifted_at.is_(None))))
        for row in rows:
            conduct.lift(session=session, clock=self.deps.clock, conduct=row, reason="appeal upheld: reversed",
                         actor=actor)
        return len(rows)

    def _withdraw_entries(self, session: Session, statement: StatementOfReasons, action: Action | None,
                          actor: str) -> int:
        """The item itself was wrong: withdraw every bank entry that matched it, and the entries banked from the
        order item or decision behind the removal (never a whole import batch: those share one source)."""
        entry_ids: set[int] = set()
        media_id = action.media_id if action is not None else None
        if action is not None and action.match_id is not None:
            match = session.get(Match, action.match_id)
            if match is not None:
                entry_ids.add(match.bank_entry_id)
                media_id = media_id or match.media_id
        if action is not None and action.decision_id is not None:
            decision = session.get(Decision, action.decision_id)
            media_id = media_id or (decision.media_id if decision else None)
        if media_id is not None:
            entry_ids.update(session.scalars(select(Match.bank_entry_id).where(Match.media_id == media_id)))
        if statement.refused_upload_id is not None:
            refusal = session.get(RefusedUpload, statement.refused_upload_id)
            if refusal is not None:
                entry_ids.add(refusal.bank_entry_id)
        refs = set()
        if action is not None and action.decision_id is not None:
            refs.add(f"decision:{action.decision_id}")
        if action is not None and action.order_item_id is not None:
            refs.add(f"order_item:{action.order_item_id}")
        for entry in session.scalars(select(BankEntry).where(BankEntry.id.in_(entry_ids))):
            if entry.source_ref and entry.source_ref.startswith(("decision:", "order_item:")):
                refs.add(entry.source_ref)
        if not entry_ids and not refs:
            return 0
        withdrawn = 0
        for entry in session.scalars(select(BankEntry).where(BankEntry.id.in_(entry_ids)
                                                             | BankEntry.source_ref.in_(refs))):
            if entry.status == EntryStatus.ACTIVE:
                banks.set_entry_status(session=session, clock=self.deps.clock, actor=actor, entry=entry,
                                       status=EntryStatus.WITHDRAWN, reason=f"appeal against {statement.puid}")
                withdrawn += 1
        return withdrawn

    def _restore(self, session: Session, action: Action | None) -> bool | None:
        """Queue the content's restoration where the platform can; False where it cannot (Matrix)."""
        if action is None or action.kind != ActionKind.REMOVE_MESSAGE or action.placement_id is None:
            return None
        integration = session.get(PlatformIntegration, action.integration_id)
        if integration is None:
            return False
        adapter = self.deps.adapters.for_integration(integration)
        if not getattr(adapter, "restores_messages", True):
            return False
        now = self.deps.clock.now()
        key = f"restore_message:{action.placement_id}:{action.id}"
        if session.scalar(select(Action.id).where(Action.idempotency_key == key)) is None:
            session.add(Action(idempotency_key=key, kind=ActionKind.RESTORE_MESSAGE,
                               integration_id=action.integration_id, placement_id=action.placement_id,
                               media_id=action.media_id, created_at=now, next_attempt_at=now,
                               params={"release_media": True, "reason": "restored after an appeal"}))
        return True


# -- a user's report forwarded by the platform ------------------------------------------------------------------

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
              f"{service.with_article(_media_kind(media))}" + (f" ({ground.label.lower()})" if ground else ""),
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
                    Preview(placement.media_id, f"Message {placement.message_external_id}", _media_kind(media)),),
                    facts=(Fact("Chat", f"{chat.title or chat.external_id} ({chat.kind.value})" if chat
                                else placement.chat_external_id),
                           Fact("Sender", f"{sender.display_name or ''} ({sender.external_id})" if sender
                                else "unknown"),
                           Fact("Posted", placement.posted_at.strftime(_WHEN)),
                           Fact("Now", placement.status.value))),
                Section("The reports", table=Table(("When", "Reporter", "Category", "Reason"), tuple(
                    (str(r.get("at", ""))[:16].replace("T", " "), str(r.get("reporter") or "anonymous"),
                     str(r.get("category") or "—"), str(r.get("reason") or "—")) for r in reports))),
                Section("The same file elsewhere", facts=(Fact("Messages", str(len(copies))),),
                        table=_placements_table(session, copies)),
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
                banked = _bank_media(session, clock, media, applied)
            answer = _("Thank you for your report about a message{where}. We looked at it and removed it: it is "
                       "{summary}.").format(where=where, summary=applied.ground.summary)
            result = "Removal queued" + (f"; {banked} new bank entries block uploads and copies." if banked else ".")
        for reporter in {r.get("reporter") for r in item.facts.get("reports", []) if r.get("reporter")}:
            due_process.queue_notice(session=session, clock=clock, key=f"report-answer:{item.id}:{reporter}",
                                     text=answer, integration_id=placement.integration_id,
                                     external_account=str(reporter), params={"kind": "report_answer"})
        defer(session=session, now=clock.now(), job=service.RUN_ACTIONS_JOB, payload={})
        return result


def _bank_media(session: Session, clock: Clock, media: Media, applied: Applied) -> int:
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


def register(kinds: ReviewKinds, deps: ReviewDeps) -> None:
    """Enforcement's kinds, for the composition root."""
    for kind in (MatchReviewKind(deps), ChatActionKind(deps), AppealKind(deps), UserReportKind(deps)):
        kinds.register(kind)
