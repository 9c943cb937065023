"""The page a user reaches from the appeal link in a notice: the decision in plain words, and the appeal form.

No account: the signed link is the key (an altered link is "not found"). A link whose decision can no longer be
appealed (the window passed, an appeal already made, the decision reversed) says so plainly instead of a form.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from firebreak.core.http.deps import Provide, SessionDep
from firebreak.enforcement.appeals import Appeals
from firebreak.enforcement.due_process import DueProcess
from firebreak.review.service import ReviewError
from firebreak.transparency.models import StatementOfReasons
from firebreak.web import session as web_session
from firebreak.web.deps import web_router
from firebreak.web.templating import render

router = web_router(tags=["appeals"])
AppealsDep = Annotated[Appeals, Provide(Appeals)]
DueDep = Annotated[DueProcess, Provide(DueProcess)]
_WHAT = {"DECISION_VISIBILITY_CONTENT_REMOVED": "removed your message",
         "DECISION_VISIBILITY_OTHER": "did not accept your upload",
         "DECISION_ACCOUNT_SUSPENDED": "suspended your account",
         "DECISION_PROVISION_PARTIAL_SUSPENSION": "restricted your account"}


def _what(statement: StatementOfReasons) -> str:
    payload = statement.payload
    if payload.get("decision_visibility") == ["DECISION_VISIBILITY_CONTENT_DISABLED"]:
        return "suspended a chat you administer"
    for key in ("decision_account", "decision_provision"):
        if payload.get(key) in _WHAT:
            return _WHAT[payload[key]]
    return _WHAT.get((payload.get("decision_visibility") or [""])[0], "took a decision about you")


def _page(request: Request, session: Session, appeals: Appeals, due: DueProcess, token: str, *,
          error: str | None = None, filed: str | None = None, status_code: int = 200) -> HTMLResponse:
    web_session.ensure(request)
    statement = appeals.statement_for_link(session, token)
    if statement is None:
        return render(request, "console/appeal.html", {
            "found": False, "platform": due.platform_name, "token": token, "error": None, "filed": None,
            "statement": None, "what": "", "summary": "", "until": None, "existing": None, "open": False,
            "automated": False}, status_code=404)
    ground = due.policy.grounds.get(statement.ground or "")
    existing = appeals.appeal_of(session, statement)
    until = appeals.appeal_until(statement)
    today = appeals.deps.clock.now().date().isoformat()
    is_open = existing is None and statement.reversed_at is None and until is not None and today <= until
    return render(request, "console/appeal.html", {
        "found": True, "platform": due.platform_name, "token": token, "statement": statement,
        "what": _what(statement), "summary": ground.summary if ground else "", "until": until,
        "existing": existing, "open": is_open, "error": error, "filed": filed,
        "automated": statement.payload.get("automated_decision") == "AUTOMATED_DECISION_FULLY",
    }, status_code=status_code)


@router.get("/appeals/{token}", response_class=HTMLResponse)
def appeal_page(token: str, request: Request, session: SessionDep, appeals: AppealsDep, due: DueDep) -> HTMLResponse:
    return _page(request, session, appeals, due, token)


@router.post("/appeals/{token}", response_class=HTMLResponse)
def appeal(token: str, request: Request, session: SessionDep, appeals: AppealsDep, due: DueDep,
           text: Annotated[str, Form(max_length=10000)] = "",
           csrf_token: Annotated[str, Form()] = "") -> HTMLResponse:
    if not web_session.csrf_ok(request, csrf_token):
        return _page(request, session, appeals, due, token, status_code=403,
                     error="This form had expired. Your appeal was not sent: please write it again and send it.")
    statement = appeals.statement_for_link(session, token)
    if statement is None:
        return _page(request, session, appeals, due, token)
    try:
        filed = appeals.from_link(session, statement, text)
    except ReviewError as exc:
        return _page(request, session, appeals, due, token, error=str(exc), status_code=exc.status)
    return _page(request, session, appeals, due, token, filed=filed.reference)
