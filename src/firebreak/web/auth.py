"""Logging in and out in the browser: staff at /console/login, authority contacts at /portal/login.

Every attempt is audited (``web.login.succeeded`` / ``web.login.failed`` with the reason; never the password). After
``LOCK_AFTER_FAILURES`` failures in ``FAILURE_WINDOW`` an account is locked for ``LOCK_DURATION``, counted in this
process's memory (see web.session). A login starts a new session (new id, new CSRF token); logout ends it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.audit import service as audit
from firebreak.auth import service as auth_service
from firebreak.auth.models import StaffUser
from firebreak.authorities import service as authorities
from firebreak.core.clock import Clock
from firebreak.core.http.deps import SessionDep
from firebreak.core.i18n import N_
from firebreak.web import session as web_session
from firebreak.web.deps import CONTACT_HOME, CONTACT_LOGIN, STAFF_HOME, STAFF_LOGIN, safe_next, web_router
from firebreak.web.templating import render

router = web_router(tags=["web"])

FormText = Annotated[str, Form()]
WRONG = {"staff": N_("Wrong username or password."), "contact": N_("Wrong e-mail address or password.")}
STALE = N_("This login form had expired. Please try again.")
STALE_FORM = N_("This form had expired. Go back, reload the page and try again.")


@dataclass(frozen=True)
class _Door:
    kind: web_session.Kind
    home: str
    path: str
    title: str
    login_label: str  # what the account is called on the form
    login_type: str
    autocomplete: str


STAFF = _Door("staff", STAFF_HOME, STAFF_LOGIN, N_("Console login"), N_("username"), "text", "username")
CONTACT = _Door("contact", CONTACT_HOME, CONTACT_LOGIN, N_("Authority portal login"), N_("e-mail address"), "email",
                "email")


def _page(request: Request, door: _Door, *, next_path: str, login: str = "", error: str | None = None,
          status_code: int = 200) -> HTMLResponse:
    web_session.ensure(request)
    return render(request, "login.html", {"door": door, "next": next_path, "login": login, "error": error},
                  status_code=status_code)


def _actor(kind: str, account_id: int | None) -> str:
    return f"staff:{account_id}" if kind == "staff" else f"contact:{account_id}"


def _audit_attempt(session: Session, clock: Clock, request: Request, door: _Door, *, login: str,
                   account_id: int | None, failure: str | None, locked: bool = False) -> None:
    data: dict[str, Any] = {"kind": door.kind, "login": login[:320],
                            "client": request.client.host if request.client else None}
    if failure:
        data |= {"reason": failure, "locked": locked}
    audit.record(
        session=session, clock=clock, actor="anonymous" if failure else _actor(door.kind, account_id),
        action="web.login.failed" if failure else "web.login.succeeded",
        object_type="staff_user" if door.kind == "staff" else "authority_contact",
        object_id=account_id if account_id is not None else "unknown", data=data,
    )


def _check_staff(session: Session, clock: Clock, username: str, password: str
                 ) -> tuple[StaffUser | None, str | None, int | None]:
    user = session.scalar(select(StaffUser).where(StaffUser.username == username.strip()))
    if user is None:
        authorities.burn_password_check(password)
        return None, "unknown_account", None
    if not auth_service.verify_password(user.password_hash, password):
        return None, "bad_password", user.id
    if not user.is_active:
        return None, "inactive", user.id
    user.last_login_at = clock.now()
    return user, None, user.id


def _login(request: Request, session: Session, door: _Door, *, login: str, password: str, csrf_token: str,
           next_path: str) -> Response:
    next_path = safe_next(next_path, door.home)
    if not web_session.csrf_ok(request, csrf_token):
        return _page(request, door, next_path=next_path, login=login, error=STALE, status_code=403)
    web = web_session.sessions_of(request)
    clock, keys = web.clock, web.keys
    now = clock.now()
    key = web_session.throttle_key(door.kind, login)
    client = web_session.client_key(request.client.host if request.client else None)
    if (wait := web_session.locked_for(session, [key, client], now)) is not None:
        _audit_attempt(session, clock, request, door, login=login, account_id=None, failure="locked", locked=True)
        minutes = max(1, math.ceil(wait.total_seconds() / 60))
        return _page(request, door, next_path=next_path, login=login, status_code=429,
                     error=f"Too many failed attempts. Try again in {minutes} minute{'s' if minutes > 1 else ''}.")
    fingerprint: str | None = None
    if door.kind == "staff":
        user, failure, account_id = _check_staff(session, clock, login, password)
        if user is not None:
            fingerprint = keys.fingerprint(user.password_hash)
    else:
        result = authorities.authenticate_contact(session=session, clock=clock, email=login, password=password)
        failure, account_id = result.failure, result.contact_id
        if result.contact is not None and result.contact.password_hash:
            fingerprint = keys.fingerprint(result.contact.password_hash)
    if failure is not None or account_id is None:
        locked = web_session.record_failure(session, key, now)
        locked = web_session.record_failure(session, client, now, limit=web_session.CLIENT_LOCK_AFTER_FAILURES,
                                            lock=web_session.CLIENT_LOCK_DURATION) or locked
        _audit_attempt(session, clock, request, door, login=login, account_id=account_id,
                       failure=failure or "unknown_account", locked=locked)
        return _page(request, door, next_path=next_path, login=login, error=WRONG[door.kind])
    web_session.record_success(session, key)
    previous = web_session.current(request)
    if previous is not None and previous.kind != "anon":
        web_session.end(session, previous, now)
    web_session.start(request, web_session.new_session(now, door.kind, account_id, fingerprint))
    _audit_attempt(session, clock, request, door, login=login, account_id=account_id, failure=None)
    return RedirectResponse(next_path, status_code=303)


@router.get("/console/login", response_class=HTMLResponse)
def staff_login_page(request: Request, next: str = "") -> HTMLResponse:
    return _page(request, STAFF, next_path=safe_next(next, STAFF.home))


@router.post("/console/login")
def staff_login(request: Request, session: SessionDep, username: FormText = "",
                password: FormText = "", csrf_token: FormText = "", next: FormText = "") -> Response:
    return _login(request, session, STAFF, login=username, password=password, csrf_token=csrf_token,
                  next_path=next)


@router.get("/portal/login", response_class=HTMLResponse)
def contact_login_page(request: Request, next: str = "") -> HTMLResponse:
    return _page(request, CONTACT, next_path=safe_next(next, CONTACT.home))


@router.post("/portal/login")
def contact_login(request: Request, session: SessionDep, email: FormText = "",
                  password: FormText = "", csrf_token: FormText = "", next: FormText = "") -> Response:
    return _login(request, session, CONTACT, login=email, password=password, csrf_token=csrf_token,
                  next_path=next)


@router.post("/logout")
def logout(request: Request, session: SessionDep, csrf_token: FormText = "") -> Response:
    state = web_session.current(request)
    door = CONTACT if state is not None and state.kind == "contact" else STAFF
    if state is None or state.kind == "anon":
        web_session.clear(request)
        return RedirectResponse(door.path, status_code=303)
    if not web_session.csrf_ok(request, csrf_token):
        return render(request, "error.html", {"title": N_("Not allowed"), "message": STALE_FORM},
                      status_code=403)
    web = web_session.sessions_of(request)
    web_session.end(session, state, web.clock.now())
    web_session.clear(request)
    audit.record(session=session, clock=web.clock, actor=_actor(state.kind, state.account_id),
                 action="web.logout", object_type="staff_user" if state.kind == "staff" else "authority_contact",
                 object_id=state.account_id or "unknown", data={"kind": state.kind})
    return RedirectResponse(door.path, status_code=303)
