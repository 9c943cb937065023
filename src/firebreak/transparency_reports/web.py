"""Transparency pages: the report for any period in the console (admins and auditors), its downloads, and the public
page with the last complete period's figures (no login)."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import Query, Request, Response
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from firebreak.auth.models import Role
from firebreak.core.http.deps import Provide, SessionDep
from firebreak.core.http.headers import DOCUMENT_CSP
from firebreak.transparency_reports import writers
from firebreak.transparency_reports.flows import ReportError, TransparencyReports, last_complete_period
from firebreak.transparency_reports.service import Report
from firebreak.web.deps import Viewer, current_staff, web_router
from firebreak.web.templating import SECURITY_HEADERS, render

router = web_router(tags=["transparency"])
Readers = Annotated[Viewer, current_staff(Role.ADMIN, Role.AUDITOR)]
TransparencyReportsDep = Annotated[TransparencyReports, Provide(TransparencyReports)]
Day = Annotated[str | None, Query()]


def _period(reports: TransparencyReports, since: str | None, until: str | None) -> tuple[date, date]:
    """The days asked for (first and last included), or the last complete period by default."""
    if not since and not until:
        start, end = last_complete_period(reports.deps.clock.now(), reports.deps.public_period)
        return start.date(), (end - timedelta(days=1)).date()
    try:
        first = date.fromisoformat(since or "")
        last = date.fromisoformat(until or "")
    except ValueError:
        raise ReportError("Give the first and last day as dates, e.g. 2026-01-01 and 2026-03-31.") from None
    if last < first:
        raise ReportError("The last day is before the first day.")
    return first, last


def _build(reports: TransparencyReports, session: Session, first: date, last: date,
           categories: tuple[str, ...] | None = None) -> Report:
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    return reports.build(start=start, end=start + timedelta(days=(last - first).days + 1), categories=categories,
                         session=session)


@router.get("/console/transparency", response_class=HTMLResponse)
def console(request: Request, viewer: Readers, reports: TransparencyReportsDep, session: SessionDep,
            since: Annotated[Day, Query(alias="from")] = None,
            until: Annotated[Day, Query(alias="to")] = None) -> HTMLResponse:
    try:
        first, last = _period(reports, since, until)
        report = _build(reports, session, first, last)
    except ReportError as exc:
        return render(request, "transparency_reports/console.html", {
            "report": None, "error": str(exc), "start": since or "", "end": until or ""}, status_code=400)
    return render(request, "transparency_reports/console.html", {
        "error": None, "start": first.isoformat(), "end": last.isoformat(), **writers.html_context(report)})


def _download(data: bytes, media_type: str, name: str) -> Response:
    headers = {**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'}
    if media_type.startswith("text/html"):  # a standalone report: its own stylesheet, no script
        headers["Content-Security-Policy"] = DOCUMENT_CSP
    return Response(data, media_type=media_type, headers=headers)


def _problem_page(request: Request, exc: ReportError) -> HTMLResponse:
    return render(request, "error.html", {"title": "Cannot build that report", "message": str(exc)}, status_code=400)


@router.get("/console/transparency/report.{fmt}", response_class=Response)
def download(request: Request, fmt: str, viewer: Readers, reports: TransparencyReportsDep, session: SessionDep,
             since: Annotated[Day, Query(alias="from")] = None,
             until: Annotated[Day, Query(alias="to")] = None) -> Response:
    if fmt not in writers.FORMATS:
        return _problem_page(request, ReportError(f"There is no {fmt!r} format: html, csv, json or xlsx."))
    try:
        first, last = _period(reports, since, until)
        data = writers.render(_build(reports, session, first, last), fmt)  # type: ignore[arg-type]
    except ReportError as exc:
        return _problem_page(request, exc)
    return _download(data, writers.MEDIA_TYPES[fmt], f"transparency-{first}-{last}.{fmt}")


@router.get("/console/transparency/eu-template.zip", response_class=Response)
def eu_template(request: Request, viewer: Readers, reports: TransparencyReportsDep, session: SessionDep,
                since: Annotated[Day, Query(alias="from")] = None,
                until: Annotated[Day, Query(alias="to")] = None) -> Response:
    try:
        first, last = _period(reports, since, until)
        files = writers.eu_files(_build(reports, session, first, last))
    except ReportError as exc:
        return _problem_page(request, exc)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return _download(buf.getvalue(), "application/zip", f"dsa-transparency-template-{first}-{last}.zip")


@router.get("/console/transparency/korea.{fmt}", response_class=Response)
def korea(request: Request, fmt: str, viewer: Readers, reports: TransparencyReportsDep, session: SessionDep,
          since: Annotated[Day, Query(alias="from")] = None,
          until: Annotated[Day, Query(alias="to")] = None) -> Response:
    if fmt not in ("html", "csv"):
        return _problem_page(request, ReportError("The Korean report is written as html or csv."))
    try:
        first, last = _period(reports, since, until)
        data = writers.korean(_build(reports, session, first, last, writers.KR_CATEGORIES),
                              fmt)  # type: ignore[arg-type]
    except ReportError as exc:
        return _problem_page(request, exc)
    if fmt == "html":
        return HTMLResponse(data, headers=SECURITY_HEADERS | {"Content-Security-Policy": DOCUMENT_CSP})
    return _download(data, writers.MEDIA_TYPES["csv"], f"transparency-kr-{first}-{last}.csv")



@router.get("/transparency", response_class=HTMLResponse)
def public(request: Request, reports: TransparencyReportsDep) -> HTMLResponse:
    # Its own short transaction, over before the page is rendered (rendering reads the visitor's browser session,
    # which on SQLite would wait for a transaction still open).
    report = reports.public()
    return render(request, "transparency_reports/public.html", {
        **writers.html_context(report), "period": reports.deps.public_period},
        headers={"Cache-Control": "public, max-age=3600"})
