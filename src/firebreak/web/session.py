"""Browser sessions: a signed cookie, CSRF tokens bound to it, and the login throttle.

The cookie holds ``v1.<payload>.<signature>``: the payload is base64url JSON (session id, kind, account id, a
fingerprint of the account's password hash, login time, last-seen time) and the signature an HMAC-SHA256 under a
key derived from the instance key. Nothing secret is in the payload; the account is looked up on every request, so a
deactivated account or a changed password ends its sessions at once.

Kept in the database, so every process on every host sees them at once: the sessions ended by logout (a copied cookie
dies with the logout everywhere) and the failed-login counters, per account and per client address. See docs/web.md.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from firebreak.core.clock import Clock
from firebreak.core.db.session import Database
from firebreak.core.http.deps import components_of
from firebreak.core.keys import KeyRing
from firebreak.web.models import EndedSession, LoginThrottle

COOKIE_NAME = "fb_session"
IDLE_TIMEOUT = timedelta(hours=8)
ABSOLUTE_TIMEOUT = timedelta(hours=24)
REFRESH_AFTER = timedelta(minutes=1)  # re-issue the cookie (sliding expiry) at most this often
LOCK_AFTER_FAILURES = 10  # per account
FAILURE_WINDOW = timedelta(minutes=15)
LOCK_DURATION = timedelta(minutes=5)
CLIENT_LOCK_AFTER_FAILURES = 30  # per client address, whatever accounts it tries
CLIENT_LOCK_DURATION = timedelta(minutes=15)

Kind = Literal["anon", "staff", "contact"]


@dataclass(frozen=True)
class SessionState:
    sid: str
    kind: Kind
    account_id: int | None  # StaffUser.id or AuthorityContact.id
    fingerprint: str | None  # of the account's password hash when the session began
    issued_at: int  # epoch seconds
    seen_at: int  # epoch seconds


class WebKeys:
    """The keys of browser sessions."""

    def __init__(self, keys: KeyRing) -> None:
        self._signing = keys.derive("web-session")
        self._csrf = keys.derive("web-csrf")
        self._fingerprint = keys.derive("web-password-fingerprint")

    def sign(self, data: bytes) -> str:
        return _b64(hmac.new(self._signing, data, hashlib.sha256).digest())

    def csrf_token(self, sid: str) -> str:
        return _b64(hmac.new(self._csrf, sid.encode(), hashlib.sha256).digest())

    def fingerprint(self, password_hash: str) -> str:
        return _b64(hmac.new(self._fingerprint, password_hash.encode(), hashlib.sha256).digest()[:16])


@dataclass(frozen=True)
class BrowserSessions:
    """What the browser side needs: the session keys, the database (ended sessions, throttles), the clock, and
    whether cookies are Secure."""

    keys: WebKeys
    db: Database
    clock: Clock
    secure_cookies: bool

    def is_ended(self, sid: str) -> bool:
        with self.db.sessions() as session:
            return session.get(EndedSession, sid) is not None


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _epoch(when: datetime) -> int:
    return int(when.timestamp())


def new_session(now: datetime, kind: Kind = "anon", account_id: int | None = None,
                fingerprint: str | None = None) -> SessionState:
    """A fresh session with a new id: every login gets one, so a session id known before login is worthless."""
    return SessionState(sid=secrets.token_urlsafe(18), kind=kind, account_id=account_id, fingerprint=fingerprint,
                        issued_at=_epoch(now), seen_at=_epoch(now))


def encode(keys: WebKeys, state: SessionState) -> str:
    payload = {"sid": state.sid, "k": state.kind, "a": state.account_id, "f": state.fingerprint,
               "iat": state.issued_at, "seen": state.seen_at}
    body = "v1." + _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    return f"{body}.{keys.sign(body.encode())}"


def decode(keys: WebKeys, cookie: str | None, now: datetime,
           is_ended: Callable[[str], bool] = lambda sid: False) -> SessionState | None:
    """The session in the cookie, or None when it is missing, forged, ended or expired."""
    if not cookie or len(cookie) > 4096 or cookie.count(".") != 2:
        return None
    body, _, signature = cookie.rpartition(".")
    if not hmac.compare_digest(keys.sign(body.encode()), signature) or not body.startswith("v1."):
        return None
    try:
        raw: dict[str, Any] = json.loads(_unb64(body[3:]))
        state = SessionState(sid=str(raw["sid"]), kind=raw["k"], account_id=raw["a"], fingerprint=raw["f"],
                             issued_at=int(raw["iat"]), seen_at=int(raw["seen"]))
    except (ValueError, KeyError, TypeError):
        return None
    if state.kind not in ("anon", "staff", "contact"):
        return None
    t = _epoch(now)
    if t - state.seen_at > IDLE_TIMEOUT.total_seconds() or t - state.issued_at > ABSOLUTE_TIMEOUT.total_seconds():
        return None
    if is_ended(state.sid):
        return None
    return state


def touch(state: SessionState, now: datetime) -> SessionState | None:
    """The session with a new last-seen time, when it is time to re-issue the cookie; else None."""
    if _epoch(now) - state.seen_at < REFRESH_AFTER.total_seconds():
        return None
    return replace(state, seen_at=_epoch(now))


def end(session: Session, state: SessionState, now: datetime) -> None:
    """Refuse this session's cookie from now on, in every process, even if a copy of it is replayed."""
    expires = min(datetime.fromtimestamp(state.issued_at, UTC) + ABSOLUTE_TIMEOUT, now + IDLE_TIMEOUT)
    session.execute(delete(EndedSession).where(EndedSession.expires_at < now))  # forget what expired anyway
    if session.get(EndedSession, state.sid) is None:
        session.add(EndedSession(sid=state.sid, expires_at=expires))
        session.flush()


# --- login throttle --------------------------------------------------------------------------------------------------
# Two counters for every attempt: the account's (LOCK_AFTER_FAILURES) and the client address's
# (CLIENT_LOCK_AFTER_FAILURES, whatever accounts it tries). Either being locked refuses the attempt.

def throttle_key(kind: Kind, account: str) -> str:
    return f"{kind}:{account.strip().casefold()[:300]}"


def client_key(address: str | None) -> str:
    return f"client:{address or 'unknown'}"


def locked_for(session: Session, keys: list[str], now: datetime) -> timedelta | None:
    """How long the longest lock on any of these keys still runs, or None."""
    rows = session.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(keys),
                                                       LoginThrottle.locked_until > now)).all()
    return max((row.locked_until - now for row in rows if row.locked_until), default=None)


def record_failure(session: Session, key: str, now: datetime, *, limit: int = LOCK_AFTER_FAILURES,
                   lock: timedelta = LOCK_DURATION) -> bool:
    """Count a failed login against ``key``; True when this failure locks it."""
    row = session.get(LoginThrottle, key, with_for_update=True)
    if row is None:
        try:
            with session.begin_nested():  # another process may count the same key's first failure right now
                session.add(LoginThrottle(key=key, failures=0, window_started_at=now))
        except IntegrityError:
            pass
        row = session.get(LoginThrottle, key, with_for_update=True, populate_existing=True)
        assert row is not None  # noqa: S101 - inserted above, by us or by the other process
    if now - row.window_started_at >= FAILURE_WINDOW:
        row.failures, row.window_started_at = 0, now
    row.failures += 1
    if row.failures >= limit:
        row.failures, row.window_started_at, row.locked_until = 0, now, now + lock
        session.flush()
        return True
    session.flush()
    return False


def record_success(session: Session, key: str) -> None:
    session.execute(delete(LoginThrottle).where(LoginThrottle.key == key, LoginThrottle.locked_until.is_(None)))


# --- the session of a request ----------------------------------------------------------------------------------------
# Dependencies and ``render`` read and change the session through these; the pending Set-Cookie waits on
# ``request.state`` until ``apply_cookie`` puts it on the response (render and WebRoute do).

def sessions_of(request: Request) -> BrowserSessions:
    return components_of(request.app).get(BrowserSessions)


def current(request: Request) -> SessionState | None:
    """The request's valid session (its cookie re-issued when due), or None."""
    if hasattr(request.state, "fb_session"):
        cached: SessionState | None = request.state.fb_session
        return cached
    web = sessions_of(request)
    keys, now = web.keys, web.clock.now()
    state = decode(keys, request.cookies.get(COOKIE_NAME), now, web.is_ended)
    if state is not None and (fresh := touch(state, now)) is not None:
        state = fresh
        request.state.fb_cookie = encode(keys, state)
    elif state is None and COOKIE_NAME in request.cookies:
        request.state.fb_cookie = ""  # forged, ended or expired: drop it
    request.state.fb_session = state
    return state


def start(request: Request, state: SessionState) -> SessionState:
    """Make ``state`` the request's session and send its cookie with the response."""
    request.state.fb_session = state
    request.state.fb_cookie = encode(sessions_of(request).keys, state)
    return state


def ensure(request: Request) -> SessionState:
    """The request's session; an anonymous one is started when there is none (forms need a CSRF token)."""
    state = current(request)
    return state if state is not None else start(request, new_session(sessions_of(request).clock.now()))


def clear(request: Request) -> None:
    request.state.fb_session = None
    request.state.fb_cookie = ""


def csrf_token(request: Request) -> str:
    return sessions_of(request).keys.csrf_token(ensure(request).sid)


def csrf_ok(request: Request, submitted: str | None) -> bool:
    state = current(request)
    if state is None or not submitted:
        return False
    return hmac.compare_digest(sessions_of(request).keys.csrf_token(state.sid), submitted)


def apply_cookie(request: Request, response: Response) -> None:
    """Put the pending session cookie (or its deletion) on the response, once."""
    value: str | None = getattr(request.state, "fb_cookie", None)
    if value is None:
        return
    request.state.fb_cookie = None
    secure = sessions_of(request).secure_cookies or request.url.scheme == "https"
    if value:
        response.set_cookie(COOKIE_NAME, value, max_age=int(IDLE_TIMEOUT.total_seconds()), path="/",
                            secure=secure, httponly=True, samesite="lax")
    else:
        response.delete_cookie(COOKIE_NAME, path="/", secure=secure, httponly=True, samesite="lax")
