"""An account's record: warnings and violations, and the restriction or suspension they lead to (DSA Art. 23).

- Content posted **before** it was banned (a copy found when an entry was added, an item an authority ordered) is
  removed and its sender warned: the notice is the warning. However many such copies, that never restricts anyone.
- Banked content posted, or an upload of it tried, **after** the ban is a violation when the account had been warned
  before; without an earlier warning it is the warning.
- Violations (not lifted) within the window restrict the account at ``restrict_at`` and suspend it at
  ``suspend_at``, each for its period (``restrict_for``, ``suspend_for``: DSA Art. 23 asks for a reasonable period,
  never for ever); a job due at the end lifts it (``standing.end_standing``). Chats are never restricted by
  counting: enforcement proposes chat action to the review queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from firebreak.audit import service as audit
from firebreak.core.clock import Clock
from firebreak.core.jobs.outbox import schedule
from firebreak.enforcement.cancel import cancel_pending
from firebreak.enforcement.models import AccountConduct, Action, ActionKind, ActionStatus, ConductCause, ConductKind
from firebreak.platform.models import PlatformAccount, StandingStatus


@dataclass(frozen=True)
class ConductPolicy:
    window: timedelta = timedelta(days=90)
    restrict_at: int = 2  # 0: never restrict
    suspend_at: int = 3
    restrict_for: timedelta = timedelta(days=7)
    suspend_for: timedelta = timedelta(days=30)


# The job that ends a restriction or suspension at the end of its period (payload: the action's id).
STANDING_ENDS_JOB = "enforcement.standing_ends"


def standing_ends_key(action_id: int) -> str:
    return f"standing_ends:{action_id}"


def standing_until(action: Action) -> datetime | None:
    """When a restriction or suspension for repeated violations ends; None for one without an end (an authority's
    order, or one queued before periods were kept)."""
    raw = (action.params or {}).get("until")
    if not isinstance(raw, str):
        return None
    try:
        return datetime.fromisoformat(raw)
    except ValueError:
        return None


@dataclass(frozen=True)
class Recorded:
    conduct: AccountConduct
    violations: int  # violations counted in the window, this one included
    escalation: Action | None  # a restriction or suspension queued by this one


def has_warning(session: Session, account_id: int, before: datetime) -> bool:
    return session.scalar(select(AccountConduct.id).where(
        AccountConduct.account_id == account_id, AccountConduct.kind == ConductKind.WARNING,
        AccountConduct.lifted_at.is_(None), AccountConduct.occurred_at <= before).limit(1)) is not None


def violations_within(session: Session, account_id: int, now: datetime, window: timedelta) -> int:
    return int(session.scalar(select(func.count()).select_from(AccountConduct).where(
        AccountConduct.account_id == account_id, AccountConduct.kind == ConductKind.VIOLATION,
        AccountConduct.lifted_at.is_(None), AccountConduct.occurred_at >= now - window)) or 0)


def record(*, session: Session, clock: Clock, policy: ConductPolicy, account: PlatformAccount,
           cause: ConductCause, occurred_at: datetime, banned_since: datetime | None, ground: str | None,
           integration_id: int, action_id: int | None = None, refused_upload_id: int | None = None,
           statement_id: int | None = None, escalate: bool = True,
           audits: list[audit.PendingEvent] | None = None) -> Recorded:
    """Put one removal or refusal on the account's record, and queue a restriction or suspension it leads to.

    ``banned_since``: when the content became banned (None: it was not banned before this decision), so content
    posted before then is a warning whatever else the account did.
    """
    existing = None
    if action_id is not None:
        existing = session.scalar(select(AccountConduct).where(AccountConduct.action_id == action_id))
    elif refused_upload_id is not None:
        existing = session.scalar(select(AccountConduct).where(AccountConduct.refused_upload_id == refused_upload_id))
    now = clock.now()
    if existing is not None:
        return Recorded(existing, violations_within(session, account.id, now, policy.window), None)
    after_ban = banned_since is not None and occurred_at >= banned_since
    kind = ConductKind.VIOLATION if after_ban and has_warning(session, account.id, occurred_at) \
        else ConductKind.WARNING
    counts = kind == ConductKind.VIOLATION and occurred_at >= now - policy.window
    count = violations_within(session, account.id, now, policy.window) + (1 if counts else 0)
    conduct = AccountConduct(account_id=account.id, kind=kind, cause=cause, ground=ground, occurred_at=occurred_at,
                             action_id=action_id, refused_upload_id=refused_upload_id, statement_id=statement_id,
                             created_at=now)
    session.add(conduct)
    event = audit.PendingEvent(actor="system:enforcement", action=f"account.{kind.value}",
                               object_type="platform_account", object_id=account.id,
                               data={"cause": cause.value, "ground": ground, "violations_in_window": count,
                                     "action_id": action_id, "refused_upload_id": refused_upload_id})
    if audits is not None:
        audits.append(event)
    else:
        audit.record_many(session=session, clock=clock, events=[event])
    escalation = None
    if kind == ConductKind.VIOLATION and escalate:
        escalation = _escalate(session, clock, policy, account, count, ground, integration_id, occurred_at)
    return Recorded(conduct, count, escalation)


def _escalate(session: Session, clock: Clock, policy: ConductPolicy, account: PlatformAccount, count: int,
              ground: str | None, integration_id: int, occurred_at: datetime) -> Action | None:
    now = clock.now()
    # Read afresh and locked (PostgreSQL): a period's end or an appeal in another worker must not be overwritten.
    session.scalars(select(PlatformAccount).where(PlatformAccount.id == account.id).with_for_update()
                    .execution_options(populate_existing=True)).first()
    count = violations_within(session, account.id, now, policy.window)  # again: another worker may have added one
    target: tuple[ActionKind, StandingStatus] | None = None
    period = timedelta(0)
    if count >= policy.suspend_at and account.status != StandingStatus.SUSPENDED:
        target, period = (ActionKind.SUSPEND_ACCOUNT, StandingStatus.SUSPENDED), policy.suspend_for
    elif policy.restrict_at and count >= policy.restrict_at and account.status == StandingStatus.ACTIVE:
        target, period = (ActionKind.RESTRICT_ACCOUNT, StandingStatus.RESTRICTED), policy.restrict_for
    if target is None:
        return None
    until = now + period
    # One key per account and kind while the standing holds; a lifted and later repeated one gets a new key.
    generation = int(session.scalar(select(func.count()).select_from(Action).where(
        Action.kind == target[0], Action.account_id == account.id)) or 0)
    action = Action(idempotency_key=f"{target[0].value}:{account.id}:{generation + 1}", kind=target[0],
                    integration_id=integration_id, account_id=account.id, created_at=now, next_attempt_at=now,
                    params={"cause": "conduct", "ground": ground, "violations": count,
                            "content_posted_at": occurred_at.isoformat(), "until": until.isoformat()})
    session.add(action)
    # A lift not yet carried out (an earlier period's end, an appeal) must not run after this and undo it; one being
    # carried out right now goes first (this waits for its worker's lease).
    for pending in session.scalars(select(Action).where(Action.account_id == account.id,
                                                        Action.kind == ActionKind.LIFT_RESTRICTION,
                                                        Action.status == ActionStatus.PENDING)):
        if cancel_pending(session=session, clock=clock, action=pending,
                          reason="a later restriction replaced it") is None and pending.next_attempt_at:
            action.next_attempt_at = max(action.next_attempt_at or now, pending.next_attempt_at)
    account.status, account.status_changed_at = target[1], now
    account.strikes = count
    session.flush()
    schedule(session=session, job=STANDING_ENDS_JOB, due_at=until, payload={"action_id": action.id},
             dedupe_key=standing_ends_key(action.id), now=now)
    audit.record(session=session, clock=clock, actor="system:enforcement", action=f"account.{target[1].value}_queued",
                 object_type="platform_account", object_id=account.id,
                 data={"violations_in_window": count, "action_id": action.id, "ground": ground,
                       "until": until.isoformat()})
    return action


def lift(*, session: Session, clock: Clock, conduct: AccountConduct, reason: str, actor: str) -> None:
    """Take a warning or violation off the record (an appeal succeeded)."""
    if conduct.lifted_at is not None:
        return
    conduct.lifted_at, conduct.lifted_reason = clock.now(), reason[:500]
    audit.record(session=session, clock=clock, actor=actor, action="account.conduct_lifted",
                 object_type="platform_account", object_id=conduct.account_id,
                 data={"conduct_id": conduct.id, "kind": conduct.kind.value, "reason": reason[:500]})


def record_of(*, session: Session, account_id: int) -> list[AccountConduct]:
    return list(session.scalars(select(AccountConduct).where(AccountConduct.account_id == account_id)
                                .order_by(AccountConduct.occurred_at)))
