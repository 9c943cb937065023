"""The end of a restriction or suspension for repeated violations: at the end of its period it is lifted.

DSA Art. 23 lets a platform suspend someone who often shares manifestly illegal content "for a reasonable period of
time"; a restriction or suspension that counting led to therefore carries its end (``conduct.standing_until``),
stated in its statement of reasons and its notice. A job due then (``conduct.STANDING_ENDS_JOB``) lifts it: the
account is active again in Firebreak's record, the platform is asked to lift it (where its adapter can,
``LiftsRestrictions``), and the person is told. The violations stay on the record for their window: one more can
restrict or suspend the account again.

Nothing is lifted when the account's standing moved on meanwhile: an appeal lifted it already, or a later
restriction or suspension replaced it (that one carries its own end).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.audit import service as audit
from firebreak.core.clock import Clock
from firebreak.enforcement import due_process
from firebreak.enforcement.due_process import DueProcess
from firebreak.enforcement.models import Action, ActionKind
from firebreak.platform.adapters import AdapterProvider, LiftsRestrictions
from firebreak.platform.models import PlatformAccount, PlatformIntegration, StandingStatus
from firebreak.transparency.models import StatementOfReasons
from firebreak.transparency.notices import Notice, NoticeKind, Standing, notice_text

_HELD = {ActionKind.RESTRICT_ACCOUNT: (StandingStatus.RESTRICTED, Standing.RESTRICTED),
         ActionKind.SUSPEND_ACCOUNT: (StandingStatus.SUSPENDED, Standing.SUSPENDED)}


@dataclass(frozen=True)
class Ended:
    lifted: bool  # the account is active again (False: its standing had moved on, nothing to do)
    on_platform: bool  # the platform was asked to lift it (its adapter can)
    why: str


def end_standing(*, session: Session, clock: Clock, due: DueProcess, adapters: AdapterProvider,
                 action_id: int) -> Ended:
    """Lift the restriction or suspension ``action_id`` put on an account, its period over."""
    action = session.get(Action, action_id)
    held = _HELD.get(action.kind) if action is not None else None
    if action is None or held is None or action.account_id is None:
        return Ended(False, False, "no restriction or suspension of an account")
    account = session.get(PlatformAccount, action.account_id)
    if account is None:
        return Ended(False, False, "the account is gone")
    later = session.scalar(select(Action.id).where(
        Action.account_id == account.id, Action.id > action.id,
        Action.kind.in_((ActionKind.RESTRICT_ACCOUNT, ActionKind.SUSPEND_ACCOUNT))).limit(1))
    if later is not None or account.status != held[0]:
        why = "a later restriction or suspension replaced it" if later is not None else (
            f"the account is {account.status.value} now (lifted on appeal, or by the platform)")
        audit.record(session=session, clock=clock, actor="system:enforcement", action="account.standing_end_skipped",
                     object_type="platform_account", object_id=account.id,
                     data={"action_id": action.id, "kind": action.kind.value, "why": why})
        return Ended(False, False, why)
    now = clock.now()
    account.status, account.status_changed_at = StandingStatus.ACTIVE, now
    integration = session.get(PlatformIntegration, action.integration_id)
    on_platform = integration is not None and isinstance(adapters.for_integration(integration), LiftsRestrictions)
    if on_platform:
        key = f"standing_ended:{action.id}"
        if session.scalar(select(Action.id).where(Action.idempotency_key == key)) is None:
            session.add(Action(idempotency_key=key, kind=ActionKind.LIFT_RESTRICTION,
                               integration_id=action.integration_id, account_id=account.id, created_at=now,
                               next_attempt_at=now, params={"reason": "the period it was set for ended"}))
    audit.record(session=session, clock=clock, actor="system:enforcement", action="account.standing_ended",
                 object_type="platform_account", object_id=account.id,
                 data={"action_id": action.id, "kind": action.kind.value, "lifted_on_platform": on_platform})
    statement = session.scalar(select(StatementOfReasons).where(StatementOfReasons.action_id == action.id))
    reference = statement.puid if statement is not None else action.idempotency_key
    notice = Notice(kind=NoticeKind.STANDING_ENDED, platform=due.platform_name, reference=reference,
                    standing=held[1], restored=on_platform, window_days=due.conduct.window.days)
    due_process.queue_notice(session=session, clock=clock, key=f"standing-ended:{action.id}",
                             text=notice_text(notice, due.translations(account.language)),
                             integration_id=action.integration_id, account_id=account.id,
                             params={"statement": reference, "kind": notice.kind.value,
                                     "language": account.language})
    return Ended(True, on_platform, "its period ended")


__all__ = ["Ended", "end_standing"]
