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
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.audit import service as audit
from firebreak.core.clock import Clock
from firebreak.core.jobs.outbox import schedule
from firebreak.enforcement import conduct, due_process
from firebreak.enforcement.cancel import cancel_pending
from firebreak.enforcement.due_process import DueProcess
from firebreak.enforcement.models import Action, ActionKind, ActionStatus
from firebreak.platform.adapters import AdapterProvider, LiftsRestrictions
from firebreak.platform.models import PlatformAccount, PlatformIntegration, StandingStatus
from firebreak.transparency.models import StatementOfReasons
from firebreak.transparency.notices import Notice, NoticeKind, Standing, notice_text

_HELD = {ActionKind.RESTRICT_ACCOUNT: (StandingStatus.RESTRICTED, Standing.RESTRICTED),
         ActionKind.SUSPEND_ACCOUNT: (StandingStatus.SUSPENDED, Standing.SUSPENDED)}


@dataclass(frozen=True)
class Ended:
    lifted: bool  # the account is active again (False: its standing had moved on, or nothing to do yet)
    on_platform: bool  # the platform was asked to lift it (its adapter can)
    why: str
    again_later: bool = False  # the platform is carrying the restriction out right now: ask again in a while
    # Carried out on the platform, whose adapter cannot lift it: the platform must (the person is told to ask it).
    left_to_platform: bool = False


def locked_account(session: Session, account_id: int) -> PlatformAccount | None:
    """The account, read afresh and locked until the transaction ends (PostgreSQL; SQLite's transaction holds the
    only write lock already): a period's end, an escalation and an appeal never overwrite each other's standing."""
    return session.scalars(select(PlatformAccount).where(PlatformAccount.id == account_id).with_for_update()
                           .execution_options(populate_existing=True)).first()


latest_standing_action = due_process.latest_standing_action


def end_standing(*, session: Session, clock: Clock, due: DueProcess, adapters: AdapterProvider,
                 action_id: int) -> Ended:
    """Lift the restriction or suspension ``action_id`` put on an account, its period over."""
    action = session.get(Action, action_id)
    held = _HELD.get(action.kind) if action is not None else None
    if action is None or held is None or action.account_id is None:
        return Ended(False, False, "no restriction or suspension of an account")
    account = locked_account(session, action.account_id)
    if account is None:
        return Ended(False, False, "the account is gone")
    latest = latest_standing_action(session, account.id)
    if (latest is not None and latest.id != action.id) or account.status != held[0]:
        why = "a later restriction or suspension replaced it" if latest is not None and latest.id != action.id \
            else f"the account is {account.status.value} now (lifted on appeal, or by the platform)"
        audit.record(session=session, clock=clock, actor="system:enforcement", action="account.standing_end_skipped",
                     object_type="platform_account", object_id=account.id,
                     data={"action_id": action.id, "kind": action.kind.value, "why": why})
        return Ended(False, False, why)
    if action.status == ActionStatus.PENDING:
        cancelled = cancel_pending(session=session, clock=clock, action=action,
                                           reason="its period ended before the platform carried it out")
        if cancelled is None:
            return Ended(False, False, "the platform is carrying it out now", again_later=True)
    if action.status != ActionStatus.DONE:
        # Never carried out (cancelled above, or it failed): the person was never told of it, and nothing is lifted
        # on the platform; Firebreak's record only.
        account.status, account.status_changed_at = StandingStatus.ACTIVE, clock.now()
        audit.record(session=session, clock=clock, actor="system:enforcement", action="account.standing_ended",
                     object_type="platform_account", object_id=account.id,
                     data={"action_id": action.id, "kind": action.kind.value, "lifted_on_platform": False,
                           "carried_out": False})
        return Ended(True, False, "its period ended; the platform had never carried it out")
    return lift(session=session, clock=clock, due=due, adapters=adapters, account=account, action=action,
                notify=True, why="its period ended")


def lift(*, session: Session, clock: Clock, due: DueProcess, adapters: AdapterProvider, account: PlatformAccount,
         action: Action, notify: bool, why: str, not_before: datetime | None = None) -> Ended:
    """Make the account active again, ask the platform to lift ``action``'s standing (where it can), and, with
    ``notify``, tell the person that its period ended."""
    now = clock.now()
    held = _HELD[action.kind]
    account.status, account.status_changed_at = StandingStatus.ACTIVE, now
    integration = session.get(PlatformIntegration, action.integration_id)
    on_platform = integration is not None and isinstance(adapters.for_integration(integration), LiftsRestrictions)
    if on_platform:
        key = due_process.lift_key(action.id)
        if session.scalar(select(Action.id).where(Action.idempotency_key == key)) is None:
            session.add(Action(idempotency_key=key, kind=ActionKind.LIFT_RESTRICTION,
                               integration_id=action.integration_id, account_id=account.id, created_at=now,
                               next_attempt_at=max(now, not_before or now), params={"reason": why}))
    audit.record(session=session, clock=clock, actor="system:enforcement", action="account.standing_ended",
                 object_type="platform_account", object_id=account.id,
                 data={"action_id": action.id, "kind": action.kind.value, "lifted_on_platform": on_platform,
                       "why": why})
    statement = session.scalar(select(StatementOfReasons).where(StatementOfReasons.action_id == action.id))
    if notify and statement is not None:
        notice = Notice(kind=NoticeKind.STANDING_ENDED, platform=due.platform_name, reference=statement.puid,
                        standing=held[1], restored=on_platform, window_days=due.conduct.window.days)
        due_process.queue_notice(session=session, clock=clock, key=f"standing-ended:{action.id}",
                                 text=notice_text(notice, due.translations(account.language)),
                                 integration_id=action.integration_id, account_id=account.id,
                                 params={"statement": statement.puid, "kind": notice.kind.value,
                                         "language": account.language})
    return Ended(True, on_platform, why, left_to_platform=not on_platform)  # done, or being carried out now


def relieve(*, session: Session, clock: Clock, due: DueProcess, adapters: AdapterProvider, account_id: int,
            why: str) -> Ended | None:
    """After violations were lifted (an appeal, a reversal): when the account's restriction or suspension no longer
    has the violations it needs within the window, it has lost its basis and is lifted now, to active (the person's
    reversal notice says what was lifted). None when it still stands, or the account holds none."""
    account = locked_account(session, account_id)
    if account is None or account.status not in (StandingStatus.RESTRICTED, StandingStatus.SUSPENDED):
        return None
    policy = due.conduct
    needed = policy.suspend_at if account.status == StandingStatus.SUSPENDED else policy.restrict_at
    if conduct.violations_within(session, account.id, clock.now(), policy.window) >= needed:
        return None
    action = latest_standing_action(session, account.id)
    if action is None:
        return None
    if action.status == ActionStatus.PENDING:
        cancel_pending(session=session, clock=clock, action=action, reason=why)
    if action.status not in (ActionStatus.PENDING, ActionStatus.DONE):  # cancelled, or never carried out: the record
        account.status, account.status_changed_at = StandingStatus.ACTIVE, clock.now()
        audit.record(session=session, clock=clock, actor="system:enforcement", action="account.standing_ended",
                     object_type="platform_account", object_id=account.id,
                     data={"action_id": action.id, "kind": action.kind.value, "lifted_on_platform": False,
                           "carried_out": False, "why": why})
        return Ended(True, False, why)
    # Done, or being carried out right now: then the lift waits for that worker's lease to run out (a restriction
    # still pending by then finds the account active and is not carried out).
    return lift(session=session, clock=clock, due=due, adapters=adapters, account=account, action=action,
                notify=False, why=why, not_before=action.next_attempt_at if action.status == ActionStatus.PENDING
                else None)




# Restrictions and suspensions put on before they carried a period get one by a background job, queued at the first
# start of a release that has periods and run twice: at once, and a day later for any that hosts not yet upgraded put
# on meanwhile (a rolling upgrade; docs/deployment.md, upgrade step 5).
PERIODS_JOB = "enforcement.give_periods"
PERIODS_KEY = "enforcement.give_periods"
PERIODS_PASSES = 2


def _counted(action: Action) -> bool:
    """Whether counting led to it: violations (``cause: conduct``), or strikes before due process (``N strikes``)."""
    params = action.params or {}
    reason = params.get("reason")
    return params.get("cause") == "conduct" or (
        "cause" not in params and isinstance(reason, str) and reason.endswith(" strikes")
        and reason.split(" ", 1)[0].isdigit())


def give_periods(*, session: Session, clock: Clock, policy: conduct.ConductPolicy, after_id: int = 0,
                 limit: int = 200) -> tuple[list[int], int | None]:
    """Restrictions and suspensions that counting led to, put on before they carried a period (releases before
    2026-12-05 evening), get one: the standing ends the period after it began, or now if that is past, and the job that
    ends it (lifts it on the platform and tells the person) is scheduled. Only an account's current standing.
    Accounts after ``after_id``, ``limit`` of them: (the actions given an end, the last account looked at, or None
    when there are no more). Each account is locked before its standing is read, and the audit events are written
    after (account rows before the audit chain's lock, as everywhere)."""
    now = clock.now()
    given: list[int] = []
    events: list[audit.PendingEvent] = []
    held = session.scalars(select(PlatformAccount.id).where(
        PlatformAccount.id > after_id,
        PlatformAccount.status.in_((StandingStatus.RESTRICTED, StandingStatus.SUSPENDED)))
        .order_by(PlatformAccount.id).limit(limit)).all()
    for account_id in held:
        account = locked_account(session, account_id)
        action = latest_standing_action(session, account_id) if account is not None else None
        if (account is None or action is None or not _counted(action) or conduct.standing_until(action) is not None
                or account.status != _HELD[action.kind][0]):  # none, another cause, has an end, or moved on
            continue
        period = policy.restrict_for if action.kind == ActionKind.RESTRICT_ACCOUNT else policy.suspend_for
        until = max(action.created_at + period, now)
        action.params = {**(action.params or {}), "until": until.isoformat(), "until_given_at": now.isoformat()}
        schedule(session=session, job=conduct.STANDING_ENDS_JOB, due_at=until, payload={"action_id": action.id},
                 dedupe_key=conduct.standing_ends_key(action.id), now=now)
        events.append(audit.PendingEvent(
            actor="system:enforcement", action="account.standing_period_given", object_type="platform_account",
            object_id=account_id, data={"action_id": action.id, "kind": action.kind.value, "until": until.isoformat(),
                                        "why": "put on before restrictions and suspensions carried a period"}))
        given.append(action.id)
    audit.record_many(session=session, clock=clock, events=events)
    return given, (held[-1] if len(held) == limit else None)


__all__ = ["PERIODS_JOB", "PERIODS_KEY", "Ended", "end_standing", "give_periods", "latest_standing_action", "lift",
           "locked_account", "relieve"]
