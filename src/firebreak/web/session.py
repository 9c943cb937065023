"""Browser sessions: a signed cookie, CSRF tokens bound to it, and the login throttle.

The cookie holds ``v1.<payload>.<signature>``: the payload is base64url JSON (session id, kind, account id, a
fingerprint of the account's password hash, login time, last-seen time) and the signature an HMAC-SHA256 under a
key derived from the instance key. Nothing secret is in the payload; the account is looked up on every request, so a
deactivated account or a changed password ends its sessions at once.

Kept in memory, per process (a server-side session table would need a migration): the sessions ended by logout
(so a copied cookie dies with the logout in this process; in another process it lives until it idles out) and the
failed-login counters. See docs/web.md.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import Response

from firebreak.core.clock import Clock
from firebreak.core.http.deps import components_of
from firebreak.core.keys import KeyRing

COOKIE_NAME = "fb_session"
IDLE_TIMEOUT = timedelta(hours=8)
ABSOLUTE_TIMEOUT = timedelta(hours=24)
REFRESH_AFTER = timedelta(minutes=1)  # re-issue the cookie (sliding expiry) at most this often
LOCK_AFTER_FAILURES = 10
FAILURE_WINDOW = timedelta(minutes=15)
LOCK_DURATION = timedelta(minutes=5)
_MAX_TRACKED = 10_000  # failure counters and ended sessions kept per process, at most

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
    """The keys and in-memory state of browser sessions (one process)."""

    def __init__(self, keys: KeyRing) -> None:
        self._signing = keys.derive("web-session")
        self._csrf = keys.derive("web-csrf")
        self._fingerprint = keys.derive("web-password-fingerprint")
        self.lock = threading.Lock()
        self.ended: dict[str, int] = {}  # sid -> epoch after which the cookie would have expired anyway
        self.failures: dict[str, list[datetime]] = {}
        self.locked_until: dict[str, datetime] = {}

    def sign(self, data: bytes) -> str:
        return _b64(hmac.new(self._signing, data, hashlib.sha256).digest())

    def csrf_token(self, sid: str) -> str:
        return _b64(hmac.new(self._csrf, sid.encode(), hashlib.sha256).digest())

    def fingerprint(self, password_hash: str) -> str:
        return _b64(hmac.new(self._fingerprint, password_hash.encode(), hashlib.sha256).digest()[:16])


@dataclass(frozen=True)
class BrowserSessions:
    """What the browser side needs: the session keys and state, the clock, and whether cookies are Secure."""

    keys: WebKeys
    clock: Clock
    secure_cookies: bool


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


def decode(keys: WebKeys, cookie: str | None, now: datetime) -> SessionState | None:
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
    with keys.lock:
        if state.sid in keys.ended:
            return None
    return state


def touch(state: SessionState, now: datetime) -> SessionState | None:
    """The session with a new last-seen time, when it is time to re-issue the cookie; else None."""
    if _epoch(now) - state.seen_at < REFRESH_AFTER.total_seconds():
        return None
    return replace(state, seen_at=_epoch(now))


def end(keys: WebKeys, state: SessionState, now: datetime) -> None:
    """Refuse this session's cookie from now on (in this process), even if a copy of it is replayed."""
    t = _epoch(now)
    with keys.lock:
        for sid in [sid for sid, expires in keys.ended.items() if expires < t]:
            del keys.ended[sid]
        keys.ended[state.sid] = min(state.issued_at + int(ABSOLUTE_TIMEOUT.total_seconds()),
                                    t + int(IDLE_TIMEOUT.total_seconds()))
        if len(keys.ended) > _MAX_TRACKED:
            for sid in sorted(keys.ended, key=keys.ended.__getitem__)[: len(keys.ended) - _MAX_TRACKED]:
                del keys.ended[sid]


# --- login throttle --------------------------------------------------------------------------------------------------

def throttle_key(kind: Kind, account: str) -> str:
    return f"{kind}:{account.strip().lower()}"


def locked_for(keys: WebKeys, key: str, now: datetime) -> timedelta | None:
    """How long this account is still locked after too many failed logins, or None."""
    with keys.lock:
        until = keys.locked_until.get(key)
        if until is None:
            return None
        if until <= now:
            del keys.locked_until[key]
            return None
        return until - now


def record_failure(keys: WebKeys, key: str, now: datetime) -> bool:
    """Count a failed login; True when this failure locks the account."""
    with keys.lock:
        recent = [t for t in keys.failures.get(key, []) if now - t < FAILURE_WINDOW] + [now]
        if len(recent) >= LOCK_AFTER_FAILURES:
            keys.failures.pop(key, None)
            keys.locked_until[key] = now + LOCK_DURATION
            return True
        keys.failures[key] = recent
        if len(keys.failures) > _MAX_TRACKED:  # forget the stalest counters first
            for stale in sorted(keys.failures, key=lambda k: keys.failures[k][-1])[: len(keys.failures) - _MAX_TRACKED]:
                del keys.failures[stale]
        return False


def record_success(keys: WebKeys, key: str) -> None:
    with keys.lock:
        keys.failures.pop(key, None)


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
    state = decode(keys, request.cookies.get(COOKIE_NAME), now)
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
