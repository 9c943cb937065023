"""The console's victims' reports: the default review queue (open reports by priority and time left), a report's
facts, confirm and decline for moderators, and the reporter's contact details for the roles that may contact them.

Contact details are shown only on request, to admins and liaison officers, and every such look is audited. Moderators
see what they need to decide: the links and what the platform knows of them, the category, who reports, whether the
request is complete, and the person's own words; never how to reach the person.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from firebreak.audit import service as audit
from firebreak.auth.models import Role
from firebreak.core.http.deps import ClockDep, Provide, SessionDep
from firebreak.media.models import Placement
from firebreak.reports import service, status
from firebreak.reports.flows import Reports
from firebreak.reports.labels import DECLINE_LABELS
from firebreak.reports.models import DeclineReason, ReportKind, VictimReport
from firebreak.reports.service import ReportError
from firebreak.web.deps import Viewer, WebNotFound, current_staff, web_router
from firebreak.web.templating import render

router = web_router(tags=["victims' reports console"])
ReportsDep = Annotated[Reports, Provide(Reports)]
DECIDERS = (Role.ADMIN, Role.MODERATOR)
CONTACT_READERS = (Role.ADMIN, Role.LIAISON)
ReaderViewer = Annotated[Viewer, current_staff(Role.ADMIN, Role.MODERATOR, Role.LIAISON)]
DeciderViewer = Annotated[Viewer, current_staff(*DECIDERS)]
ContactViewer = Annotated[Viewer, current_staff(*CONTACT_READERS)]


def _report(session: SessionDep, reference: str) -> VictimReport:
    report = service.by_reference(session=session, reference=reference)
    if report is None:
        raise WebNotFound("There is no such report.")
    return report


@router.get("/console/reports", response_class=HTMLResponse)
def console_reports(request: Request, session: SessionDep, clock: ClockDep, viewer: ReaderViewer) -> HTMLResponse:
    now = clock.now()
    rows = [{"report": r, "time_left": int((r.deadline_at - now).total_seconds()) if r.deadline_at else None}
            for r in service.open_reports(session=session)]
    decided = session.scalars(select(VictimReport).where(VictimReport.status.not_in(service.OPEN))
                              .order_by(VictimReport.status_changed_at.desc()).limit(50)).all()
    return render(request, "reports/console_list.html", {"rows": rows, "decided": decided})


def _detail(request: Request, session: SessionDep, clock: ClockDep, reports: Reports, viewer: Viewer,
            report: VictimReport, *, contact: dict[str, Any] | None = None, error: str | None = None,
            status_code: int = 200) -> HTMLResponse:
    placements = {p.id: p for p in session.scalars(select(Placement).where(
        Placement.id.in_([i.placement_id for i in report.items if i.placement_id])))}
    private = reports.private(report)
    found = status.counts(session, report)
    time_left = int((report.deadline_at - clock.now()).total_seconds()) if report.deadline_at and \
        report.status in service.OPEN else None
    return render(request, "reports/console_detail.html", {
        "report": report, "placements": placements, "details": private.get("details"),
        "signed": bool(private.get("signature")), "contact_given": bool(private.get("email") or private.get("phone")),
        "counts": found, "time_left": time_left,
        "can_decide": viewer.has_role(*DECIDERS) and report.status in service.OPEN,
        "can_see_contact": viewer.has_role(*CONTACT_READERS), "contact": contact, "error": error,
        "reasons": [(r.value, DECLINE_LABELS[r.value]) for r in DeclineReason], "links_kind": ReportKind.LINKS},
        status_code=status_code)


@router.get("/console/reports/{reference}", response_class=HTMLResponse)
def console_report(reference: str, request: Request, session: SessionDep, clock: ClockDep, reports: ReportsDep,
                   viewer: ReaderViewer) -> HTMLResponse:
    return _detail(request, session, clock, reports, viewer, _report(session, reference))


@router.post("/console/reports/{reference}/confirm", response_class=HTMLResponse)
async def console_confirm(reference: str, request: Request, session: SessionDep, clock: ClockDep,
                          reports: ReportsDep, viewer: DeciderViewer) -> Response:
    report = _report(session, reference)
    note = str((await request.form()).get("note") or "").strip()[:2000] or None
    try:
        reports.confirm(session=session, report_id=report.id, actor=viewer.actor, staff_id=viewer.account_id,
                        note=note)
    except ReportError as exc:
        return _detail(request, session, clock, reports, viewer, report, error=str(exc), status_code=409)
    return RedirectResponse(f"/console/reports/{report.reference}", status_code=303)


@router.post("/console/reports/{reference}/decline", response_class=HTMLResponse)
async def console_decline(reference: str, request: Request, session: SessionDep, clock: ClockDep,
                          reports: ReportsDep, viewer: DeciderViewer) -> Response:
    report = _report(session, reference)
    form = await request.form()
    try:
        reason = DeclineReason(str(form.get("reason") or ""))
    except ValueError:
        return _detail(request, session, clock, reports, viewer, report, status_code=422,
                       error="Choose the reason the reporter will read.")
    note = str(form.get("note") or "").strip()[:2000] or None
    try:
        reports.decline(session=session, report_id=report.id, actor=viewer.actor, staff_id=viewer.account_id,
                        reason=reason, note=note)
    except ReportError as exc:
        return _detail(request, session, clock, reports, viewer, report, error=str(exc), status_code=409)
    return RedirectResponse(f"/console/reports/{report.reference}", status_code=303)


@router.post("/console/reports/{reference}/contact", response_class=HTMLResponse)
def console_contact(reference: str, request: Request, session: SessionDep, clock: ClockDep, reports: ReportsDep,
                    viewer: ContactViewer) -> HTMLResponse:
    """The reporter's contact details, on request, audited."""
    report = _report(session, reference)
    private = reports.private(report)
    contact = {k: private.get(k) for k in ("signature", "name", "email", "phone")}
    audit.record(session=session, clock=clock, actor=viewer.actor, action="report.contact_viewed",
                 object_type="victim_report", object_id=report.reference,
                 data={"fields": sorted(k for k, v in contact.items() if v)})
    return _detail(request, session, clock, reports, viewer, report, contact=contact)


__all__ = ["router"]
