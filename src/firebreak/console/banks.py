"""Bank pages: every bank with its action, threshold and counts; a bank's entries, to pause or withdraw one.

Everyone on the console's staff may look; an admin changes a bank's settings, an admin or moderator an entry's
status. Entries show their hash, where they came from and how many uploads they stopped, never a picture.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from firebreak.auth.models import Role
from firebreak.banks import service as banks
from firebreak.banks.models import Bank, BankEntry, EntryStatus, MatchAction
from firebreak.banks.schemas import BankUpdate
from firebreak.console.pages import page
from firebreak.core.http.deps import ClockDep, SessionDep
from firebreak.web.deps import Viewer, WebNotFound, current_staff, web_router

router = web_router(tags=["console: banks"])
Reader = Annotated[Viewer, current_staff(Role.ADMIN, Role.MODERATOR, Role.LIAISON, Role.AUDITOR)]
Admin = Annotated[Viewer, current_staff(Role.ADMIN)]
Editor = Annotated[Viewer, current_staff(Role.ADMIN, Role.MODERATOR)]
PAGE = 100


def _bank(session: Session, name: str) -> Bank:
    try:
        return banks.get_bank(session=session, name=name)
    except banks.BankNotFound:
        raise WebNotFound("There is no bank with that name.") from None


@router.get("/console/banks", response_class=HTMLResponse)
def bank_list(request: Request, session: SessionDep, viewer: Reader) -> HTMLResponse:
    counts = dict(session.execute(select(BankEntry.bank_id, func.count()).where(
        BankEntry.status == EntryStatus.ACTIVE).group_by(BankEntry.bank_id)).all())
    blocked = dict(session.execute(select(BankEntry.bank_id, func.sum(BankEntry.blocked_uploads))
                                   .group_by(BankEntry.bank_id)).all())
    rows = [{"bank": b, "active": counts.get(b.id, 0), "blocked": int(blocked.get(b.id) or 0)}
            for b in banks.list_banks(session=session)]
    return page(request, "banks.html", {"rows": rows}, current="/console/banks")


def _bank_page(request: Request, session: Session, viewer: Viewer, bank: Bank, *, status: str = "", after: int = 0,
               error: str | None = None, status_code: int = 200) -> HTMLResponse:
    stmt = select(BankEntry).where(BankEntry.bank_id == bank.id, BankEntry.id > after)
    if status in {s.value for s in EntryStatus}:
        stmt = stmt.where(BankEntry.status == EntryStatus(status))
    entries = list(session.scalars(stmt.order_by(BankEntry.id).limit(PAGE + 1)))
    more = entries[PAGE].id if len(entries) > PAGE else None
    by_status = dict(session.execute(select(BankEntry.status, func.count()).where(BankEntry.bank_id == bank.id)
                                     .group_by(BankEntry.status)).all())
    return page(request, "bank.html", {
        "bank": bank, "entries": entries[:PAGE], "more": more, "status": status, "error": error,
        "by_status": {s.value: int(by_status.get(s, 0)) for s in EntryStatus},
        "actions": [a.value for a in MatchAction],
        "statuses": [s.value for s in EntryStatus], "can_configure": viewer.has_role(Role.ADMIN),
        "can_edit": viewer.has_role(Role.ADMIN, Role.MODERATOR),
        "flash": "Saved." if request.query_params.get("saved") else None,
    }, current="/console/banks", status_code=status_code)


@router.get("/console/banks/{name}", response_class=HTMLResponse)
def bank_page(name: str, request: Request, session: SessionDep, viewer: Reader, status: str = "",
              after: int = 0) -> HTMLResponse:
    return _bank_page(request, session, viewer, _bank(session, name), status=status, after=max(0, after))


@router.post("/console/banks/{name}")
async def configure(name: str, request: Request, session: SessionDep, clock: ClockDep, viewer: Admin) -> Response:
    bank = _bank(session, name)
    form = await request.form()
    distance = str(form.get("pdq_distance") or "").strip()
    try:
        data = BankUpdate(action=MatchAction(str(form.get("action") or bank.action.value)),
                          pdq_distance=int(distance) if distance.isdigit() else -1,
                          enabled=form.get("enabled") == "on")
    except (ValidationError, ValueError):
        return _bank_page(request, session, viewer, bank, status_code=422,
                          error="Check the settings: the action is block, remove or review, and the PDQ distance a "
                                "whole number from 0 to 64.")
    banks.update_bank(session=session, clock=clock, actor=viewer.actor, bank=bank, data=data)
    return RedirectResponse(f"/console/banks/{bank.name}?saved=1", status_code=303)


@router.post("/console/banks/{name}/entries/{entry_id}")
async def entry_status(name: str, entry_id: int, request: Request, session: SessionDep, clock: ClockDep,
                       viewer: Editor) -> Response:
    bank = _bank(session, name)
    entry = session.get(BankEntry, entry_id)
    if entry is None or entry.bank_id != bank.id:
        raise WebNotFound("There is no such entry in this bank.")
    form = await request.form()
    wanted = str(form.get("status") or "")
    reason = str(form.get("reason") or "").strip()
    if wanted not in {s.value for s in EntryStatus}:
        return _bank_page(request, session, viewer, bank, status_code=422,
                          error="Choose active, disabled or withdrawn for the entry.")
    if wanted == EntryStatus.WITHDRAWN.value and not reason:
        return _bank_page(request, session, viewer, bank, status_code=422,
                          error=f"Say why entry #{entry.id} is withdrawn: the reason is kept in the audit log.")
    banks.set_entry_status(session=session, clock=clock, actor=viewer.actor, entry=entry,
                           status=EntryStatus(wanted), reason=reason[:500])
    return RedirectResponse(f"/console/banks/{bank.name}?{urlencode({'saved': 1})}#entry-{entry.id}",
                            status_code=303)
