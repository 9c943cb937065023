"""Actions on the platform: what is pending, what failed and why, and trying a failed one again."""

from __future__ import annotations

from typing import Annotated

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select

from firebreak.auth.models import Role
from firebreak.console.pages import page
from firebreak.core.http.deps import ClockDep, SessionDep
from firebreak.enforcement import service as enforcement
from firebreak.enforcement.models import Action, ActionStatus
from firebreak.media.models import Placement
from firebreak.platform.models import Chat, PlatformAccount
from firebreak.web.deps import Viewer, WebNotFound, current_staff, web_router
from firebreak.web.templating import render

router = web_router(tags=["console: actions"])
Reader = Annotated[Viewer, current_staff(Role.ADMIN, Role.MODERATOR, Role.AUDITOR)]
Operator = Annotated[Viewer, current_staff(Role.ADMIN, Role.MODERATOR)]
PAGE = 100


def _targets(session: SessionDep, actions: list[Action]) -> dict[int, str]:
    placements = {p.id: p for p in session.scalars(select(Placement).where(
        Placement.id.in_({a.placement_id for a in actions if a.placement_id})))}
    accounts = {a.id: a for a in session.scalars(select(PlatformAccount).where(
        PlatformAccount.id.in_({a.account_id for a in actions if a.account_id})))}
    chats = {c.id: c for c in session.scalars(select(Chat).where(Chat.id.in_({a.chat_id for a in actions
                                                                            if a.chat_id})))}
    found: dict[int, str] = {}
    for a in actions:
        if a.placement_id in placements:
            p = placements[a.placement_id]
            found[a.id] = f"message {p.message_external_id} in {p.chat_external_id}"
        elif a.account_id in accounts:
            found[a.id] = f"account {accounts[a.account_id].external_id}"
        elif a.chat_id in chats:
            found[a.id] = f"chat {chats[a.chat_id].external_id}"
        else:
            found[a.id] = f"account {a.params.get('account')}" if a.params.get("account") else "—"
    return found


@router.get("/console/actions", response_class=HTMLResponse)
def actions(request: Request, session: SessionDep, viewer: Reader, status: str = "failed",
            after: int = 0) -> HTMLResponse:
    status = status if status in {s.value for s in ActionStatus} else ActionStatus.FAILED.value
    counts = {(k.value, s.value): int(n) for k, s, n in session.execute(
        select(Action.kind, Action.status, func.count()).group_by(Action.kind, Action.status)).all()}
    rows = list(session.scalars(select(Action).where(Action.status == ActionStatus(status), Action.id > after)
                                .order_by(Action.id).limit(PAGE + 1)))
    return page(request, "actions.html", {
        "rows": rows[:PAGE], "more": rows[PAGE - 1].id if len(rows) > PAGE else None, "status": status,
        "statuses": [s.value for s in ActionStatus], "counts": counts,
        "kinds": sorted({k for k, _ in counts}), "targets": _targets(session, rows[:PAGE]),
        "can_retry": viewer.has_role(Role.ADMIN, Role.MODERATOR),
        "flash": "The action is queued again." if request.query_params.get("retried") else None,
    }, current="/console/actions")


@router.post("/console/actions/{action_id}/retry")
def retry(action_id: int, request: Request, session: SessionDep, clock: ClockDep, viewer: Operator) -> Response:
    action = session.get(Action, action_id)
    if action is None:
        raise WebNotFound("There is no such action.")
    if not enforcement.retry_action(session=session, clock=clock, action=action, actor=viewer.actor):
        return render(request, "error.html", {
            "title": "Nothing to retry",
            "message": f"Action #{action.id} was cancelled ({(action.last_error or '')[len('cancelled: '):]}): its "
                       f"cause went away, so it is not tried again." if action.last_error and
                       action.last_error.startswith("cancelled: ") else
                       f"Action #{action.id} is {action.status.value}, not failed: there is nothing to try again."},
            status_code=409)
    return RedirectResponse("/console/actions?retried=1", status_code=303)
