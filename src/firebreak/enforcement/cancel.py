"""Giving up an action the platform has not carried out yet, because its cause went away."""

from __future__ import annotations

from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from firebreak.audit import service as audit
from firebreak.core.clock import Clock
from firebreak.enforcement.models import Action, ActionStatus

# How a cancelled action's last_error begins: a person must not retry it (its cause went away).
CANCELLED = "cancelled: "


def is_cancelled(action: Action) -> bool:
    return action.status == ActionStatus.FAILED and (action.last_error or "").startswith(CANCELLED)


def cancel_pending(*, session: Session, clock: Clock, action: Action, reason: str) -> bool | None:
    """Give up an action the platform has not carried out yet, because its cause went away (a restriction whose
    period ended, a removal whose bank entry was withdrawn). True: cancelled (FAILED, with ``reason``, and followed up:
    nothing happened, so no statement, record or notice); False: it was final already; None: a worker is carrying it
    out right now (its outcome will be recorded: ask again later)."""
    now = clock.now()
    # One conditional write, so a worker claiming it at this moment (PostgreSQL) either finds it cancelled or keeps it.
    cancelled = session.execute(update(Action).where(
        Action.id == action.id, Action.status == ActionStatus.PENDING,
        or_(Action.lease_owner.is_(None), Action.next_attempt_at.is_(None), Action.next_attempt_at <= now),
    ).values(status=ActionStatus.FAILED, completed_at=now, lease_owner=None, last_error=f"{CANCELLED}{reason}"[:2000],
             followed_up_at=now).execution_options(synchronize_session=False))
    session.refresh(action)
    if not cancelled.rowcount:  # type: ignore[attr-defined]
        return None if action.status == ActionStatus.PENDING else False
    audit.record(session=session, clock=clock, actor="system:enforcement", action="action.cancelled",
                 object_type="action", object_id=action.id, data={"kind": action.kind.value, "reason": reason[:500]})
    return True


__all__ = ["CANCELLED", "cancel_pending", "is_cancelled"]
