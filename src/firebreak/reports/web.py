"""The victims' public pages, in the reader's language: report, hash on your device, the status link, look up a
case, withdraw it. No account; every page works without script except hashing, which must run on the device.

Forms are CSRF-protected with the anonymous session's token; when that has expired (a form left open for hours),
the form comes back filled in, with a plain request to send it again, instead of losing what the person wrote.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from importlib.resources import files
from typing import Annotated, Any

from babel import Locale
from fastapi import Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from firebreak.core.config import Settings
from firebreak.core.http.deps import Provide, SessionDep, SettingsDep
from firebreak.core.i18n import N_, Translator, format_datetime, translator
from firebreak.reports import forms, labels, limits
from firebreak.reports.flows import AlreadySubmitted, LinksRefused, NotFound, Reports, submission_key
from firebreak.reports.models import ReportStatus, VictimReport
from firebreak.reports.schemas import MAX_FILES, MAX_FORM_BYTES, MAX_LINKS, ReportIn
from firebreak.web import session as web_session
from firebreak.web.deps import web_router
from firebreak.web.templating import page_language, render


def browser_session_first(request: Request) -> None:
    """Read the browser session before the request's own transaction starts: on SQLite that transaction holds the
    write lock, and the session check (ended sessions) reads in a transaction of its own."""
    web_session.current(request)


router = web_router(tags=["victims' pages"], dependencies=[Depends(browser_session_first)])
ReportsDep = Annotated[Reports, Provide(Reports)]
_SCRIPT = re.compile(r"^[a-z0-9]+\.js$")
_REPORT_ASSETS = {"hashes.js": "text/javascript", "reports.css": "text/css"}
SMALL_FORM_BYTES = 4096
NO_REFERRER = {"Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}

FIELD_MESSAGES = {
    "links": N_("Give at least one link to a message, at most 20, one per line."),
    "category": N_("Choose what the content is."),
    "reporter": N_("Choose who is reporting."),
    "jurisdiction": N_("Choose where you live."),
    "signature": N_("Type your full name as your signature."),
    "good_faith": N_("Please confirm the statement: we can act only on a request made in good faith."),
    "contact.email": N_("This is not an e-mail address."),
    "contact.phone": N_("This is not a phone number."),
    "contact.name": N_("Please shorten the name to 200 characters."),
    "details": N_("Please keep this under 4,000 characters."),
    "email_updates": N_("For e-mail updates, give an e-mail address."),
}
_FORM_FIELDS = ("links", "category", "reporter", "jurisdiction", "signature", "good_faith", "contact_name",
                "contact_email", "contact_phone", "details", "email_updates", "submission")


# -- static files: the hashing library and the page's own script and style ------------------------------------------

def _asset(data: bytes, media_type: str) -> Response:
    return Response(data, media_type=media_type,
                    headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"})


@router.get("/static/selfhash/{name}", response_class=Response)
def selfhash_script(name: str) -> Response:
    script = files("firebreak.reports").joinpath("static", "selfhash", name)
    if not _SCRIPT.match(name) or not script.is_file():
        return Response("Not found", status_code=404, media_type="text/plain")
    return _asset(script.read_bytes(), "text/javascript")


@router.get("/static/reports/{name}", response_class=Response)
def report_asset(name: str) -> Response:
    if name not in _REPORT_ASSETS:
        return Response("Not found", status_code=404, media_type="text/plain")
    return _asset(files("firebreak.reports").joinpath("static", name).read_bytes(), _REPORT_ASSETS[name])


# -- shared -----------------------------------------------------------------------------------------------------

def _t(request: Request) -> Translator:
    return translator(page_language(request).code)


def _page(request: Request, name: str, settings: Settings, context: Mapping[str, Any], *, status_code: int = 200,
          headers: Mapping[str, str] | None = None) -> HTMLResponse:
    hours = settings.victim_deadline_hours
    default = settings.victim_default_deadline_hours
    korean = page_language(request).code == "ko"
    base = {"platform": settings.platform_name, "page": "", "tz": "Asia/Seoul" if korean else None,
            "categories": labels.CATEGORIES, "relations": labels.RELATIONS,
            "jurisdictions": _jurisdictions(request, settings), "max_links": MAX_LINKS, "max_files": MAX_FILES,
            "deadlines": {"kr": hours.get("KR", default) * 3600, "us": hours.get("US", default) * 3600,
                          "other": default * 3600}}
    return render(request, name, {**base, **context}, status_code=status_code,
                  headers={**NO_REFERRER, **(headers or {})})


def _jurisdictions(request: Request, settings: Settings) -> list[tuple[str, str]]:
    """Every jurisdiction with a deadline of its own (Korea and the US first), named in the page's language, and
    "somewhere else"."""
    territories = Locale.parse(page_language(request).code).territories
    codes = sorted(settings.victim_deadline_hours, key=lambda c: (c not in ("KR", "US"), c != "KR", c))
    return [(c, territories.get(c, c)) for c in codes] + [("", labels.ELSEWHERE)]


def _message(request: Request, settings: Settings, title: str, message: str, *, status_code: int,
             error: bool = True, links: list[tuple[str, str]] | None = None,
             headers: Mapping[str, str] | None = None) -> HTMLResponse:
    return _page(request, "reports/message.html", settings,
                 {"title": title, "message": message, "error": error, "links": links or []},
                 status_code=status_code, headers=headers)


def _too_many(request: Request, settings: Settings, exc: limits.RateLimited) -> HTMLResponse:
    t = _t(request)
    minutes = max(1, (exc.seconds + 59) // 60)
    return _message(request, settings, t.gettext("Please wait a little"),
                    t.ngettext("Too many tries from this connection. Please try again in %(num)d minute.",
                               "Too many tries from this connection. Please try again in %(num)d minutes.",
                               minutes),
                    status_code=429, headers={"Retry-After": str(exc.seconds)})


def _too_large(request: Request, settings: Settings) -> HTMLResponse:
    t = _t(request)
    return _message(request, settings, t.gettext("This form is too large"),
                    t.gettext("Nothing was sent. Please shorten what you wrote and try again."), status_code=413)


# -- the report form ------------------------------------------------------------------------------------------------

def _blank(request: Request) -> dict[str, str]:
    blank = dict.fromkeys(_FORM_FIELDS, "")
    # A one-time key per form shown: sending this form twice (a reload after sending) records one case.
    blank["submission"] = secrets.token_urlsafe(24)
    if page_language(request).code == "ko":
        blank["jurisdiction"] = "KR"  # a guess the person sees and can change
    return blank


def _form_page(request: Request, settings: Settings, form: Mapping[str, str], errors: Mapping[str, str], *,
               status_code: int = 200) -> HTMLResponse:
    return _page(request, "reports/report_form.html", settings, {"page": "report", "form": form, "errors": errors},
                 status_code=status_code)


@router.get("/report", response_class=HTMLResponse)
def report_form(request: Request, settings: SettingsDep) -> HTMLResponse:
    return _form_page(request, settings, _blank(request), {})


def _field_of(error: Mapping[str, Any]) -> str:
    loc = [str(p) for p in error.get("loc", ())]
    if loc and loc[0] == "links":
        return "links"
    if loc:
        return ".".join(loc[:2])
    message = str(error.get("msg", ""))
    for name in FIELD_MESSAGES:
        if f"{name}:" in message:
            return name
    return "links"


def _report_in(form: Mapping[str, str]) -> ReportIn:
    contact = {k: v for k, v in (("name", form["contact_name"].strip()), ("email", form["contact_email"].strip()),
                                 ("phone", form["contact_phone"].strip())) if v}
    data = {"links": [line.strip() for line in form["links"].splitlines() if line.strip()],
            "category": form["category"] or None, "reporter": form["reporter"] or None,
            "jurisdiction": form["jurisdiction"], "signature": form["signature"],
            "good_faith": form["good_faith"] == "yes", "contact": contact,
            "details": form["details"].strip() or None, "email_updates": form["email_updates"] == "yes",
            "language": form["language"] if form["language"] in ("en", "ko") else "en"}
    return ReportIn.model_validate(data)


@router.post("/report", response_class=HTMLResponse)
async def send_report(request: Request, session: SessionDep, reports: ReportsDep, settings: SettingsDep
                      ) -> HTMLResponse:
    t = _t(request)
    try:
        raw = await forms.read_form(request, MAX_FORM_BYTES)
    except forms.TooLarge:
        return _too_large(request, settings)
    except forms.NotAForm:
        return _message(request, settings, t.gettext("This form could not be read"),
                        t.gettext("Nothing was sent. Please go back and send the form again."), status_code=400)
    form = {name: forms.first(raw, name)[:8000] for name in (*_FORM_FIELDS, "language")}
    form["links"] = forms.first(raw, "links")[:MAX_FORM_BYTES]
    shown = {k: v for k, v in form.items() if k != "language"}
    if not web_session.csrf_ok(request, forms.first(raw, "csrf_token")):
        expired = {"form": t.gettext("This page was open for a long time, so for your safety nothing was sent yet. "
                                    "Please check the form and press “Send the report” again.")}
        return _form_page(request, settings, shown, expired, status_code=403)
    try:
        data = _report_in(form)
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors():
            field = _field_of(error)
            errors.setdefault(field, t.gettext(FIELD_MESSAGES.get(field, FIELD_MESSAGES["links"])))
        return _form_page(request, settings, shown, errors, status_code=422)
    try:
        submitted = reports.submit(session=session, data=data, client=forms.client_address(request),
                                   key=submission_key(form["submission"]))
    except AlreadySubmitted as exc:
        return _message(request, settings, t.gettext("This report was already sent"), t.gettext(
            "We received it as case %(reference)s, and nothing was recorded twice. Its status link and PIN were "
            "shown when you sent it (and e-mailed to you if you asked for updates); for your safety we cannot show "
            "them again.", reference=exc.reference), status_code=409, error=False,
            links=[("/report/lookup", t.gettext("Look up a case with its number and PIN"))])
    except LinksRefused as exc:
        messages = []
        for problem in exc.problems:
            if problem.problem == "chat_link":
                messages.append(t.gettext("Link %(n)d leads to a whole chat: please copy the link of the message "
                                          "itself.", n=problem.position))
            else:
                messages.append(t.gettext("Link %(n)d is not on %(platform)s: we can remove content only from "
                                          "%(platform)s.", n=problem.position, platform=settings.platform_name))
        return _form_page(request, settings, shown, {"links": " ".join(messages)}, status_code=422)
    except limits.RateLimited as exc:
        return _too_many(request, settings, exc)
    return _page(request, "reports/sent.html", settings, {"submitted": submitted, "updates": data.email_updates},
                 status_code=201)


@router.get("/report/hashes", response_class=HTMLResponse)
def hashes_page(request: Request, settings: SettingsDep) -> HTMLResponse:
    return _page(request, "reports/hashes.html", settings, {"page": "hashes"})


# -- the status link, the look-up, withdrawal ----------------------------------------------------------------------

def _status_page(request: Request, settings: Settings, reports: Reports, session: SessionDep,
                 report: VictimReport, *, withdraw_action: str, withdraw_fields: list[tuple[str, str]],
                 notice: str | None = None, withdraw_error: str | None = None, status_code: int = 200
                 ) -> HTMLResponse:
    t = _t(request)
    view = reports.status(session, report)
    page = page_language(request)
    zone = "Asia/Seoul" if report.jurisdiction == "KR" or page.code == "ko" else None
    deadline = format_datetime(view.deadline_at, page.code, zone) if view.deadline_at else ""
    steps = [{"key": s.key, "done": s.done, "at": s.at, "count": s.count,
              "title": t.gettext(labels.STEP_TITLES[s.key]), "detail": labels.step_detail(t, s)} for s in view.steps]
    return _page(request, "reports/status.html", settings, {
        "view": view, "steps": steps, "tz": zone, "notice": notice, "withdraw_error": withdraw_error,
        "summary": labels.summary(t, view, closed=report.closed_at is not None, platform=settings.platform_name,
                                  deadline=deadline),
        "can_withdraw": view.status != ReportStatus.WITHDRAWN, "withdraw_action": withdraw_action,
        "withdraw_fields": withdraw_fields}, status_code=status_code)


def _no_such_link(request: Request, settings: Settings) -> HTMLResponse:
    t = _t(request)
    return _message(request, settings, t.gettext("This status link does not work"),
                    t.gettext("Check that you copied all of it. You can also look up your case with its number "
                              "and PIN."), status_code=404, links=[("/report/lookup", t.gettext("Look up your case"))])


@router.get("/report/status/{token}", response_class=HTMLResponse)
def status_page(token: str, request: Request, session: SessionDep, reports: ReportsDep, settings: SettingsDep
                ) -> HTMLResponse:
    try:
        report = reports.by_token(session=session, token=token, client=forms.client_address(request))
    except NotFound:
        return _no_such_link(request, settings)
    except limits.RateLimited as exc:
        return _too_many(request, settings, exc)
    t = _t(request)
    notice = t.gettext("The case was withdrawn.") if request.query_params.get("withdrawn") == "1" else None
    return _status_page(request, settings, reports, session, report, notice=notice,
                        withdraw_action=f"/report/status/{token}/withdraw", withdraw_fields=[])


@router.post("/report/status/{token}/withdraw", response_class=HTMLResponse)
async def withdraw_by_link(token: str, request: Request, session: SessionDep, reports: ReportsDep,
                           settings: SettingsDep) -> Response:
    t = _t(request)
    try:
        raw = await forms.read_form(request, SMALL_FORM_BYTES)
    except (forms.TooLarge, forms.NotAForm):
        return _too_large(request, settings)
    try:
        report = reports.by_token(session=session, token=token, client=forms.client_address(request))
    except NotFound:
        return _no_such_link(request, settings)
    except limits.RateLimited as exc:
        return _too_many(request, settings, exc)
    action = f"/report/status/{token}/withdraw"
    if not web_session.csrf_ok(request, forms.first(raw, "csrf_token")):
        return _status_page(request, settings, reports, session, report, withdraw_action=action, withdraw_fields=[],
                            withdraw_error=t.gettext("This page was open for a long time. Please tick the box and "
                                                     "press the button again."), status_code=403)
    if forms.first(raw, "confirm") != "yes":
        return _status_page(request, settings, reports, session, report, withdraw_action=action, withdraw_fields=[],
                            withdraw_error=t.gettext("Tick the box to confirm that you want to withdraw the case."),
                            status_code=422)
    if not reports.withdraw(session=session, report_id=report.id):
        return _status_page(request, settings, reports, session, report, withdraw_action=action, withdraw_fields=[],
                            notice=t.gettext("This case was already withdrawn."))
    return RedirectResponse(f"/report/status/{token}?withdrawn=1", status_code=303, headers=NO_REFERRER)


@router.get("/report/lookup", response_class=HTMLResponse)
def lookup_form(request: Request, settings: SettingsDep) -> HTMLResponse:
    return _page(request, "reports/lookup.html", settings, {"page": "lookup", "error": None, "case_number": ""})


async def _by_pin(request: Request, session: SessionDep, reports: Reports, settings: Settings
                  ) -> tuple[VictimReport | None, dict[str, list[str]], Response | None]:
    t = _t(request)
    try:
        raw = await forms.read_form(request, SMALL_FORM_BYTES)
    except (forms.TooLarge, forms.NotAForm):
        return None, {}, _too_large(request, settings)
    case_number = forms.first(raw, "case_number")[:40]

    def again(error: str, status_code: int) -> HTMLResponse:
        return _page(request, "reports/lookup.html", settings, {"page": "lookup", "error": error,
                                                                 "case_number": case_number},
                     status_code=status_code)

    if not web_session.csrf_ok(request, forms.first(raw, "csrf_token")):
        return None, raw, again(t.gettext("This page was open for a long time. Please enter your PIN and press the "
                                          "button again."), 403)
    try:
        report = reports.by_pin(session=session, case_number=case_number, pin=forms.first(raw, "pin")[:20],
                                client=forms.client_address(request))
    except NotFound:
        return None, raw, again(t.gettext("We found no case with this number and PIN. Check both and try again."),
                                404)
    except limits.RateLimited as exc:
        return None, raw, _too_many(request, settings, exc)
    return report, raw, None


@router.post("/report/lookup", response_class=HTMLResponse)
async def lookup(request: Request, session: SessionDep, reports: ReportsDep, settings: SettingsDep) -> Response:
    report, raw, refused = await _by_pin(request, session, reports, settings)
    if refused is not None or report is None:
        return refused or _too_large(request, settings)
    return _status_page(request, settings, reports, session, report, withdraw_action="/report/lookup/withdraw",
                        withdraw_fields=[("case_number", report.reference), ("pin", forms.first(raw, "pin")[:20])])


@router.post("/report/lookup/withdraw", response_class=HTMLResponse)
async def withdraw_by_pin(request: Request, session: SessionDep, reports: ReportsDep, settings: SettingsDep
                          ) -> Response:
    t = _t(request)
    report, raw, refused = await _by_pin(request, session, reports, settings)
    if refused is not None or report is None:
        return refused or _too_large(request, settings)
    fields = [("case_number", report.reference), ("pin", forms.first(raw, "pin")[:20])]
    if forms.first(raw, "confirm") != "yes":
        return _status_page(request, settings, reports, session, report, withdraw_action="/report/lookup/withdraw",
                            withdraw_fields=fields, status_code=422,
                            withdraw_error=t.gettext("Tick the box to confirm that you want to withdraw the case."))
    withdrawn = reports.withdraw(session=session, report_id=report.id)
    notice = t.gettext("The case was withdrawn.") if withdrawn else t.gettext("This case was already withdrawn.")
    return _status_page(request, settings, reports, session, report, withdraw_action="/report/lookup/withdraw",
                        withdraw_fields=fields, notice=notice)


__all__ = ["router"]
