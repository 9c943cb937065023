"""The audit log's pages: search the chain, and check it (admins and auditors)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from firebreak.audit import service as audit
from firebreak.audit.models import AuditEvent
from firebreak.auth.models import Role
from firebreak.console.pages import page
from firebreak.core.http.deps import SessionDep
from firebreak.web.deps import Viewer, current_staff, web_router

router = web_router(tags=["console: audit"])
Auditor = Annotated[Viewer, current_staff(Role.ADMIN, Role.AUDITOR)]
PAGE = 100


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value.strip()) if value.strip() else None
    except ValueError:
        return None


@router.get("/console/audit", response_class=HTMLResponse)
def search(request: Request, session: SessionDep, viewer: Auditor, actor: str = "", action: str = "",
           object_type: str = "", object_id: str = "", start: str = "", end: str = "",
           before: int = 0) -> HTMLResponse:
    errors = []
    first, last = _day(start), _day(end)
    if start.strip() and first is None:
        errors.append(f"“{start[:20]}” is not a date (YYYY-MM-DD).")
    if end.strip() and last is None:
        errors.append(f"“{end[:20]}” is not a date (YYYY-MM-DD).")
    stmt = select(AuditEvent)
    if actor.strip():
        stmt = stmt.where(AuditEvent.actor == actor.strip())
    if action.strip():
        stmt = stmt.where(AuditEvent.action.startswith(action.strip(), autoescape=True))
    if object_type.strip():
        stmt = stmt.where(AuditEvent.object_type == object_type.strip())
    if object_id.strip():
        stmt = stmt.where(AuditEvent.object_id == object_id.strip())
    if first is not None:
        stmt = stmt.where(AuditEvent.occurred_at >= datetime.combine(first, datetime.min.time(), UTC))
    if last is not None:
        stmt = stmt.where(AuditEvent.occurred_at < datetime.combine(last, datetime.min.time(), UTC) + timedelta(1))
    if before > 0:
        stmt = stmt.where(AuditEvent.seq < before)
    events = list(session.scalars(stmt.order_by(AuditEvent.seq.desc()).limit(PAGE + 1)))
    seq, head = audit.head(session=session)
    return page(request, "audit.html", {
        "events": events[:PAGE], "older": events[PAGE - 1].seq if len(events) > PAGE else None, "errors": errors,
        "form": {"actor": actor, "action": action, "object_type": object_type, "object_id": object_id,
                 "start": start, "end": end}, "head_seq": seq, "head": head}, current="/console/audit")


@router.get("/console/audit/verify", response_class=HTMLResponse)
def verify(request: Request, session: SessionDep, viewer: Auditor, expect: str = "") -> HTMLResponse:
    result = audit.verify(session=session, expected_head=expect.strip() or None)
    return page(request, "audit_verify.html", {"result": result, "expect": expect.strip()}, current="/console/audit")
