"""The review queue's "appeal" kind: a user's appeal against a restriction, decided by another moderator.

Reversing restores content (where the platform can), withdraws the bank entries of an item that was wrong, lifts
what the decision put on the account's record or lifts the restriction itself, stores the reversal and tells the
user; upholding tells the user where else to turn.
"""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.auth.models import Role
from firebreak.banks import service as banks
from firebreak.banks.models import BankEntry, EntryStatus
from firebreak.core.jobs.outbox import defer
from firebreak.enforcement import conduct, due_process, reinstate, service
from firebreak.enforcement import standing as standing_rules
from firebreak.enforcement.models import AccountConduct, Action, ActionKind, ConductKind, RefusedUpload
from firebreak.enforcement.reviews import MODERATORS, WHEN, ReviewDeps
from firebreak.matching.models import Match
from firebreak.media.models import Placement
from firebreak.platform.adapters import LiftsRestrictions
from firebreak.platform.models import Chat, PlatformAccount, PlatformIntegration, StandingStatus
from firebreak.review import service as review
from firebreak.review.models import Appeal, AppealStatus, Decision, DecisionOutcome, ReviewItem
from firebreak.review.registry import Applied, Choice, DecisionRefused, Fact, Field, ItemView, Preview, Section, Table
from firebreak.transparency import service as statements
from firebreak.transparency.models import StatementOfReasons
from firebreak.transparency.notices import Notice, NoticeKind, notice_text

_WHAT = {"DECISION_VISIBILITY_CONTENT_REMOVED": "content removed",
         "DECISION_VISIBILITY_OTHER": "upload refused",
         "DECISION_VISIBILITY_CONTENT_DISABLED": "chat suspended",
         "DECISION_ACCOUNT_SUSPENDED": "account suspended",
         "DECISION_PROVISION_PARTIAL_SUSPENSION": "account restricted"}
_AUTOMATION = {"AUTOMATED_DECISION_FULLY": "decided automatically",
               "AUTOMATED_DECISION_PARTIALLY": "decided automatically, confirmed by a person",
               "AUTOMATED_DECISION_NOT_AUTOMATED": "decided by a person"}


class AppealKind:
    name: ClassVar[str] = review.APPEAL_KIND
    label: ClassVar[str] = "Appeal"
    deciders: ClassVar[tuple[Role, ...]] = MODERATORS

    def __init__(self, deps: ReviewDeps) -> None:
        self.deps = deps

    def _appeal(self, session: Session, item: ReviewItem) -> tuple[Appeal, StatementOfReasons]:
        appeal = session.get(Appeal, item.subject_id)
        # Locked and read afresh: a reversal of every copy (another appeal's) may be reversing it in another worker.
        statement = session.scalars(select(StatementOfReasons).where(StatementOfReasons.id == appeal.statement_id)
                                    .with_for_update().execution_options(populate_existing=True)).first() \
            if appeal and appeal.statement_id else None
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
                                  "withdraws the bank entries behind it, lifts the warning, tells the user; every "
                                  "other copy removed because it matched those entries is reversed the same way."))
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
                    Fact("Reference", appeal.reference or "—"), Fact("Filed", appeal.created_at.strftime(WHEN)),
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
                    *((Fact("Upload refused", refusal.refused_at.strftime(WHEN)),) if refusal else ()),
                ), previews=previews),
                Section("The account's record", facts=(
                    Fact("Account", f"{account.display_name or ''} ({account.external_id}), {account.status.value}"
                         if account else "—"),), table=Table(
                    ("When", "What", "Why", "Lifted"),
                    tuple((c.occurred_at.strftime(WHEN), c.kind.value, c.cause.value.replace("_", " "),
                           c.lifted_at.strftime(WHEN) if c.lifted_at else "—") for c in record))),
            ),
            fields=(Field("answer", "Answer to the user (optional, sent with the outcome)"),))

    def apply(self, session: Session, item: ReviewItem, applied: Applied) -> str:
        appeal, statement = self._appeal(session, item)
        if appeal.status != AppealStatus.OPEN:
            raise DecisionRefused(f"This appeal was already {appeal.status.value}.")
        if statement.reversed_at is not None:
            raise DecisionRefused("This decision was already reversed (the item it matched was found not to violate "
                                  "on another appeal); the user was told.")
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
            withdrawn: list[int] = []
            standing = action is not None and action.kind in (
                ActionKind.RESTRICT_ACCOUNT, ActionKind.SUSPEND_ACCOUNT, ActionKind.SUSPEND_CHAT)
            standing_lifted, holds, also_lifted, left_to_platform = standing, "", False, False
            if standing and action is not None and action.account_id is not None:
                lifted += self._lift_violations(session, action, applied.actor)
                # The account's current standing (this one, or a later one that replaced it) is lifted when the
                # violations left no longer reach it; one with violations enough of its own stands.
                relieved = standing_rules.relieve(session=session, clock=clock, due=due, adapters=self.deps.adapters,
                                                  account_id=action.account_id, why="lifted after an appeal")
                restored = relieved.on_platform if relieved is not None else None
                standing_lifted = relieved is not None
                if relieved is None:
                    held = session.get(PlatformAccount, action.account_id)
                    holds = "" if held is None or held.status == StandingStatus.ACTIVE else held.status.value
            elif standing and action is not None:  # a chat
                restored = self._lift_chat_restriction(session, action, statement)
            elif applied.choice.key == "reverse":
                withdrawn = self._withdraw_entries(session, statement, action, applied.actor)
                restored = None if action is None else reinstate.queue_restore(
                    session=session, clock=clock, adapters=self.deps.adapters, action=action,
                    reason="restored after an appeal")
                if withdrawn:  # every other copy removed because it matched them was removed on the same mistake
                    reinstate.schedule_reinstatement(session=session, clock=clock, entry_ids=withdrawn,
                                                     appeal_id=appeal.id,
                                                     appeal_reference=appeal.reference or f"#{appeal.id}",
                                                     decided_by_id=staff,
                                                     appellant_action_id=action.id if action else None)
            if not standing and statement.account_id is not None:
                # The warning or violation lifted may take away the basis of the account's restriction.
                relief = standing_rules.relieve(
                    session=session, clock=clock, due=due, adapters=self.deps.adapters,
                    account_id=statement.account_id, why="lifted after an appeal")
                also_lifted, left_to_platform = relief is not None, relief is not None and relief.left_to_platform
            statements.record_reversal(session=session, clock=clock, key=due.puid_key, original=statement,
                                       appeal_id=appeal.id, decided_by_id=staff,
                                       facts=f"Reversed on appeal {appeal.reference}: {applied.choice.label}.",
                                       actor=applied.actor)
            review.resolve_appeal(session=session, clock=clock, appeal=appeal, status=AppealStatus.REVERSED,
                                  staff_id=staff, note=answer or applied.note)
            notice = replace(notice, kind=NoticeKind.DECISION_REVERSED, restored=restored,
                             standing_lifted=standing_lifted, standing_relieved=also_lifted, standing_holds=holds,
                             relief_left_to_platform=left_to_platform)
            what = "the restriction" if standing else "content"
            copies = " (every copy removed because it matched them is being reversed too)" if withdrawn else ""
            result = (f"Reversed: {lifted} record entr{'y' if lifted == 1 else 'ies'} lifted, {len(withdrawn)} bank "
                      f"entr{'y' if len(withdrawn) == 1 else 'ies'} withdrawn{copies}, {what} "
                      + {True: "restoration queued" if not standing else "lifted on the platform (queued)",
                         False: "cannot be restored on this platform" if not standing
                         else "cannot be lifted through Firebreak on this platform: lift it there",
                         None: "left as it is" if not standing else (
                             f"left as it is: the account stays {holds} on violations that still count" if holds
                             else "left as it is: it had ended already")}[restored] + "."
                      + (" The account's restriction lost its basis and is lifted too." if also_lifted else ""))
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

    def _lift_chat_restriction(self, session: Session, action: Action, statement: StatementOfReasons) -> bool:
        """Ask the platform to lift a chat's suspension; False where it cannot. (An account's standing is lifted
        through `standing.relieve`, which also weighs the violations that still count.)"""
        integration = session.get(PlatformIntegration, action.integration_id)
        if integration is None or not isinstance(self.deps.adapters.for_integration(integration), LiftsRestrictions):
            return False
        now = self.deps.clock.now()
        key = f"lift_restriction:{statement.id}"
        if session.scalar(select(Action.id).where(Action.idempotency_key == key)) is None:
            session.add(Action(idempotency_key=key, kind=ActionKind.LIFT_RESTRICTION,
                               integration_id=action.integration_id, chat_id=action.chat_id, created_at=now,
                               next_attempt_at=now, params={"reason": "lifted after an appeal"}))
        chat = session.get(Chat, action.chat_id) if action.chat_id is not None else None
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
                          actor: str) -> list[int]:
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
            return []
        withdrawn = []
        for entry in session.scalars(select(BankEntry).where(BankEntry.id.in_(entry_ids)
                                                             | BankEntry.source_ref.in_(refs))):
            if entry.status == EntryStatus.ACTIVE:
                banks.set_entry_status(session=session, clock=self.deps.clock, actor=actor, entry=entry,
                                       status=EntryStatus.WITHDRAWN, reason=f"appeal against {statement.puid}")
                withdrawn.append(entry.id)
        return withdrawn
