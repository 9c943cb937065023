"""Giving up an action the platform has not carried out yet, because its cause went away."""

from __future__ import annotations

from sqlalchemy.orm import Session

from firebreak.audit import service as audit
from firebreak.core.clock import Clock
from firebreak.enforcement.models import Action, ActionStatus


def cancel_pending(*, session: Session, clock: Clock, action: Action, reason: str) -> bool | None:
    """Give up an action the platform has not carried out yet, because its cause went away (a restriction whose
    period ended, a removal whose bank entry was withdrawn). True: cancelled (FAILED, with ``reason``, and followed up:
    nothing happened, so no statement, record or notice); False: it was final already; None: a worker is carrying it
    out right now (its outcome will be recorded: ask again later)."""
    if action.status != ActionStatus.PENDING:
        return False
    now = clock.now()
    if action.lease_owner is not None and action.next_attempt_at is not None and action.next_attempt_at > now:
        return None
    action.status, action.completed_at, action.lease_owner = ActionStatus.FAILED, now, None
    action.last_error, action.followed_up_at = f"cancelled: {reason}"[:2000], now
    audit.record(session=session, clock=clock, actor="system:enforcement", action="action.cancelled",
                 object_type="action", object_id=action.id, data={"kind": action.kind.value, "reason": reason[:500]})
    return True


__all__ = ["cancel_pending"]
