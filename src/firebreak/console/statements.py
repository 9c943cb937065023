"""Statements of reasons: how many, the latest, and the period's export as JSON lines (admins and auditors)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select

from firebreak.auth.models import Role
from firebreak.console.pages import page
from firebreak.core.http.deps import SessionDep
from firebreak.core.http.problems import Problem
from firebreak.transparency.api import export_response
from firebreak.transparency.models import StatementKind, StatementOfReasons
from firebreak.web.deps import Viewer, current_staff, web_router

router = web_router(tags=["console: statements"])
Auditor = Annotated[Viewer, current_staff(Role.ADMIN, Role.AUDITOR)]


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value.strip()) if value.strip() else None
    except ValueError:
        return None


@router.get("/console/statements", response_class=HTMLResponse)
def statements_page(request: Request, session: SessionDep, viewer: Auditor) -> HTMLResponse:
    by_kind = dict(session.execute(select(StatementOfReasons.kind, func.count())
                                   .group_by(StatementOfReasons.kind)).all())
    automated = int(session.scalar(select(func.count()).select_from(StatementOfReasons).where(
        StatementOfReasons.kind == StatementKind.RESTRICTION, StatementOfReasons.automated.is_(True))) or 0)
    reversed_ = int(session.scalar(select(func.count()).select_from(StatementOfReasons).where(
        StatementOfReasons.reversed_at.is_not(None))) or 0)
    latest = list(session.scalars(select(StatementOfReasons).where(
        StatementOfReasons.kind == StatementKind.RESTRICTION).order_by(StatementOfReasons.id.desc()).limit(50)))
    return page(request, "statements.html", {
        "restrictions": int(by_kind.get(StatementKind.RESTRICTION, 0)), "automated": automated,
        "reversed": reversed_, "latest": latest, "error": None}, current="/console/statements")


@router.get("/console/statements/export")
def export(request: Request, session: SessionDep, viewer: Auditor, start: str = "", end: str = "") -> Response:
    first, last = _day(start), _day(end)
    if (start.strip() and first is None) or (end.strip() and last is None):
        return page(request, "statements.html", {
            "restrictions": 0, "automated": 0, "reversed": 0, "latest": [],
            "error": "Give the period as dates, YYYY-MM-DD."}, current="/console/statements", status_code=422)
    try:
        return export_response(session, first, last)
    except Problem as exc:
        return page(request, "statements.html", {"restrictions": 0, "automated": 0, "reversed": 0, "latest": [],
                                                 "error": exc.detail or exc.title},
                    current="/console/statements", status_code=exc.status)
