"""Every copy comes back when the item was wrong: the removals a withdrawn bank entry caused, reversed.

An appeal reversed because "the item itself was wrong" withdraws the bank entries behind it (``appeal_review``).
Every other copy removed because it matched one of them was removed on the same mistake: its sender appealed
nothing, yet the decision about them is as wrong as the appellant's. A job (``REINSTATE_JOB``, in batches with its
cursor in the payload, so a restart loses nothing) reverses each such removal: the content is restored where the
platform can, what it put on the sender's record is lifted, a reversal statement is stored and the sender is told.

A copy that still matches an entry in force (banked from another source, or another order) stays removed: another
decision stands behind it. Only removals are reversed; a refused upload published nothing, and its record entry is
lifted with the rest so it counts against nobody.

Entries withdrawn any other way (a hash list that dropped an entry, an operator's withdrawal) restore nothing by
themselves: a list's provider dropping a hash does not say the content was lawful, and a person decides that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.audit import service as audit
from firebreak.banks.models import Bank, BankEntry, EntryStatus
from firebreak.core.clock import Clock
from firebreak.core.jobs.outbox import schedule
from firebreak.enforcement import conduct, due_process, standing
from firebreak.enforcement.cancel import cancel_pending
from firebreak.enforcement.due_process import DueProcess
from firebreak.enforcement.models import AccountConduct, Action, ActionKind, ActionStatus, RefusedUpload
from firebreak.matching.models import Match
from firebreak.media.models import Placement
from firebreak.platform.adapters import AdapterProvider
from firebreak.platform.models import PlatformAccount, PlatformIntegration
from firebreak.review import service as review
from firebreak.review.models import Appeal, AppealStatus, ReviewItem
from firebreak.transparency import service as statements
from firebreak.transparency.models import StatementOfReasons
from firebreak.transparency.notices import Notice, NoticeKind, notice_text

REINSTATE_JOB = "enforcement.reinstate"
BATCH = 100


def reinstate_key(appeal_id: int) -> str:
    return f"reinstate:appeal:{appeal_id}"


def schedule_reinstatement(*, session: Session, clock: Clock, entry_ids: list[int], appeal_id: int,
                           appeal_reference: str, decided_by_id: int, appellant_action_id: int | None) -> None:
    """Reverse, soon and in batches, every other removal that the withdrawn ``entry_ids`` caused."""
    now = clock.now()
    schedule(session=session, job=REINSTATE_JOB, due_at=now, dedupe_key=reinstate_key(appeal_id), now=now,
             payload={"entry_ids": sorted(entry_ids), "appeal_id": appeal_id, "appeal": appeal_reference,
                      "decided_by_id": decided_by_id, "skip": appellant_action_id, "after": 0, "refusals_after": 0})


def queue_restore(*, session: Session, clock: Clock, adapters: AdapterProvider, action: Action,
                  reason: str) -> bool | None:
    """Queue a removed message's restoration where the platform can; False where it cannot (Matrix), None when
    ``action`` removed no message."""
    if action.kind != ActionKind.REMOVE_MESSAGE or action.placement_id is None:
        return None
    integration = session.get(PlatformIntegration, action.integration_id)
    if integration is None:
        return False
    if not getattr(adapters.for_integration(integration), "restores_messages", True):
        return False
    now = clock.now()
    key = f"restore_message:{action.placement_id}:{action.id}"
    if session.scalar(select(Action.id).where(Action.idempotency_key == key)) is None:
        session.add(Action(idempotency_key=key, kind=ActionKind.RESTORE_MESSAGE, integration_id=action.integration_id,
                           placement_id=action.placement_id, media_id=action.media_id, created_at=now,
                           next_attempt_at=now, params={"release_media": True, "reason": reason}))
    return True


@dataclass(frozen=True)
class Step:
    reversed: int  # removals reversed in this step
    kept: int  # copies that still match an entry in force
    more: dict[str, Any] | None  # the payload of the next step; None when done
    wait: bool = False  # the next step must wait: a removal is being carried out, or its follow-up is still due


def reinstate_step(*, session: Session, clock: Clock, due: DueProcess, adapters: AdapterProvider,
                   payload: dict[str, Any]) -> Step:
    entry_ids = [int(i) for i in payload["entry_ids"]]
    after, skip = int(payload.get("after") or 0), payload.get("skip")
    reference = str(payload["appeal"])
    actions = list(session.scalars(
        select(Action).join(Match, Match.id == Action.match_id)
        .where(Match.bank_entry_id.in_(entry_ids), Action.kind == ActionKind.REMOVE_MESSAGE, Action.id > after)
        .order_by(Action.id).limit(BATCH)))
    reversed_, kept, cursor, wait = 0, 0, after, False
    for action in actions:
        if action.status == ActionStatus.PENDING and not _still_banned(session, action):
            cancelled = cancel_pending(session=session, clock=clock, action=action,
                                       reason=f"the bank entry it matched was withdrawn (appeal {reference})")
            if cancelled is None:  # being carried out right now: its outcome first
                wait = True
                break
        if action.status == ActionStatus.DONE and action.followed_up_at is None:
            wait = True  # its statement, record and notice are still to come: reverse it after them
            break
        cursor = action.id
        if action.id == skip or action.status != ActionStatus.DONE:
            continue  # the appellant's own, or a removal that never happened (not found, failed, cancelled)
        if _still_banned(session, action):
            kept += 1
            audit.record(session=session, clock=clock, actor="system:enforcement", action="removal.kept",
                         object_type="action", object_id=action.id,
                         data={"appeal": reference, "why": "the content still matches an entry in force"})
            continue
        if _reverse(session, clock, due, adapters, action, payload):
            reversed_ += 1
    refusals_after = int(payload.get("refusals_after") or 0)
    refusals = list(session.scalars(
        select(RefusedUpload).where(RefusedUpload.bank_entry_id.in_(entry_ids), RefusedUpload.id > refusals_after)
        .order_by(RefusedUpload.id).limit(BATCH)))
    for refusal in refusals:
        for row in session.scalars(select(AccountConduct).where(AccountConduct.refused_upload_id == refusal.id,
                                                                AccountConduct.lifted_at.is_(None))):
            why = f"the item it matched was found not to violate (appeal {reference})"
            conduct.lift(session=session, clock=clock, conduct=row, actor="system:enforcement", reason=why)
            standing.relieve(session=session, clock=clock, due=due, adapters=adapters, account_id=row.account_id,
                             why=why)
    more = None
    if wait or len(actions) == BATCH or len(refusals) == BATCH:
        more = {**payload, "after": cursor, "refusals_after": refusals[-1].id if refusals else refusals_after}
    return Step(reversed_, kept, more, wait)


def _close_appeals(session: Session, clock: Clock, statement: StatementOfReasons | None, reference: str) -> None:
    """The sender's own appeal against this removal, still open, is answered by the reversal: closed as reversed
    and out of the queue (the sender is told once, by the reversal's notice)."""
    if statement is None:
        return
    for appeal in session.scalars(select(Appeal).where(Appeal.statement_id == statement.id,
                                                       Appeal.status == AppealStatus.OPEN)):
        appeal.status, appeal.resolved_at = AppealStatus.REVERSED, clock.now()
        appeal.resolution_note = f"Reversed with every copy: the item was found not to violate on appeal {reference}."
        item = session.get(ReviewItem, appeal.review_item_id) if appeal.review_item_id else None
        if item is not None and item.open_key:
            review.withdraw(session=session, clock=clock, open_key=item.open_key, actor="system:enforcement",
                            reason=f"answered by the reversal on appeal {reference}")


def _still_banned(session: Session, action: Action) -> bool:
    match = session.get(Match, action.match_id) if action.match_id else None
    media_id = action.media_id or (match.media_id if match else None)
    if media_id is None:
        return False
    return session.scalar(select(Match.id).join(BankEntry, BankEntry.id == Match.bank_entry_id)
                          .join(Bank, Bank.id == BankEntry.bank_id).where(
        Match.media_id == media_id, BankEntry.status == EntryStatus.ACTIVE, Bank.enabled.is_(True)).limit(1)) \
        is not None


def _reverse(session: Session, clock: Clock, due: DueProcess, adapters: AdapterProvider, action: Action,
             payload: dict[str, Any]) -> bool:
    # Read afresh and locked: the copy's own appeal may be reversing it in another worker.
    statement = session.scalars(select(StatementOfReasons).where(StatementOfReasons.action_id == action.id)
                                .with_for_update().execution_options(populate_existing=True)).first()
    if statement is not None and statement.reversed_at is not None:
        return False  # reversed already (its own appeal, or a step that ran before a restart)
    reference = str(payload["appeal"])
    reason = f"the item it matched was found not to violate (appeal {reference})"
    relieved = left_to_platform = False
    for row in session.scalars(select(AccountConduct).where(AccountConduct.action_id == action.id,
                                                            AccountConduct.lifted_at.is_(None))):
        conduct.lift(session=session, clock=clock, conduct=row, reason=reason, actor="system:enforcement")
        relief = standing.relieve(session=session, clock=clock, due=due, adapters=adapters,
                                  account_id=row.account_id, why=reason)
        if relief is not None:
            relieved, left_to_platform = True, left_to_platform or relief.left_to_platform
    _close_appeals(session, clock, statement, reference)
    restored = queue_restore(session=session, clock=clock, adapters=adapters, action=action,
                             reason="restored: the item it matched was found not to violate")
    audit.record(session=session, clock=clock, actor="system:enforcement", action="removal.reversed",
                 object_type="action", object_id=action.id,
                 data={"appeal": reference, "restored": restored, "statement": statement.puid if statement else None})
    if statement is None:
        return True
    statements.record_reversal(session=session, clock=clock, key=due.puid_key, original=statement,
                               appeal_id=int(payload["appeal_id"]), decided_by_id=int(payload["decided_by_id"]),
                               facts=f"Reversed: the item this content matched was found not to violate on appeal "
                                     f"{reference}.", actor="system:enforcement", of_copy=True)
    placement = session.get(Placement, action.placement_id) if action.placement_id else None
    account = session.get(PlatformAccount, placement.sender_id) if placement and placement.sender_id else None
    if account is not None:
        notice = Notice(kind=NoticeKind.DECISION_WITHDRAWN, platform=due.platform_name, reference=statement.puid,
                        restored=restored, standing_relieved=relieved, relief_left_to_platform=left_to_platform)
        due_process.queue_notice(session=session, clock=clock, key=f"withdrawn:{statement.id}",
                                 text=notice_text(notice, due.translations(account.language)),
                                 integration_id=action.integration_id, account_id=account.id,
                                 placement_id=action.placement_id,
                                 params={"statement": statement.puid, "kind": notice.kind.value,
                                         "language": account.language})
    return True


__all__ = ["BATCH", "REINSTATE_JOB", "Step", "queue_restore", "reinstate_key", "reinstate_step",
           "schedule_reinstatement"]
