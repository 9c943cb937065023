"""Passwords, API tokens and staff accounts."""

from __future__ import annotations

import hashlib
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.audit import service as audit
from firebreak.auth.models import ApiCredential, CredentialScope, Role, StaffUser
from firebreak.core.clock import Clock
from firebreak.core.names import name_key

_hasher = PasswordHasher()
TOKEN_PREFIX = "fbk_"  # noqa: S105 (a prefix that makes leaked tokens greppable, not a secret)
MIN_PASSWORD_LENGTH = 12
V = TypeVar("V")


class AuthError(Exception):
    pass


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    if not stored_hash:
        return False
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AuthError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")


def create_staff_user(
    *, session: Session, clock: Clock, actor: str, username: str, password: str, role: Role,
    display_name: str | None = None, email: str | None = None,
) -> StaffUser:
    check_password_strength(password)
    # Unique whatever the case (core.names): "Ana" and "ana" would be taken for one person.
    if (taken := session.scalar(select(StaffUser.username).where(StaffUser.username_key == name_key(username)))):
        raise AuthError(f"user {taken!r} already exists")
    user = StaffUser(
        username=username, display_name=display_name or username, email=email, password_hash=hash_password(password),
        role=role, created_at=clock.now(),
    )
    session.add(user)
    session.flush()
    audit.record(
        session=session, clock=clock, actor=actor, action="staff_user.created", object_type="staff_user",
        object_id=user.id, data={"username": username, "role": role.value},
    )
    return user


def authenticate_staff(*, session: Session, clock: Clock, username: str, password: str) -> StaffUser | None:
    user = session.scalar(select(StaffUser).where(StaffUser.username == username, StaffUser.is_active.is_(True)))
    if user is None or not verify_password(user.password_hash, password):
        return None
    user.last_login_at = clock.now()
    return user


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    credential: ApiCredential
    token: str  # shown once, never stored


def issue_token(
    *, session: Session, clock: Clock, actor: str, name: str, scope: CredentialScope,
    authority_id: int | None = None, integration_id: int | None = None, staff_user_id: int | None = None,
) -> IssuedToken:
    owners = {CredentialScope.AUTHORITY: authority_id, CredentialScope.PLATFORM: integration_id,
              CredentialScope.STAFF: staff_user_id}
    if owners[scope] is None or sum(v is not None for v in owners.values()) != 1:
        raise AuthError(f"a {scope.value} token belongs to exactly one {scope.value}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    cred = ApiCredential(
        name=name, prefix=token[:12], token_hash=token_digest(token), scope=scope, authority_id=authority_id,
        integration_id=integration_id, staff_user_id=staff_user_id, created_at=clock.now(),
    )
    session.add(cred)
    session.flush()
    audit.record(
        session=session, clock=clock, actor=actor, action="api_credential.issued", object_type="api_credential",
        object_id=cred.id, data={"name": name, "scope": scope.value, "authority_id": authority_id,
                                 "integration_id": integration_id, "staff_user_id": staff_user_id},
    )
    return IssuedToken(cred, token)


def token_is_live(*, session: Session, clock: Clock, token: str) -> bool:
    """Whether the token is a live credential's (not revoked, not expired). Reads only; for checks made before a
    request's body is read, ahead of the route's own ``resolve_token``."""
    row = session.execute(select(ApiCredential.revoked_at, ApiCredential.expires_at)
                          .where(ApiCredential.token_hash == token_digest(token))).first()
    return row is not None and row.revoked_at is None and (row.expires_at is None or row.expires_at > clock.now())


def resolve_token(*, session: Session, clock: Clock, token: str, touch_after: timedelta | None = None
                  ) -> ApiCredential | None:
    """The live credential of a token, or None. Stamps ``last_used_at``; with ``touch_after``, only when the stamp
    is older than that (a hot path then writes once a minute instead of on every request)."""
    cred = session.scalar(select(ApiCredential).where(ApiCredential.token_hash == token_digest(token)))
    now = clock.now()
    if cred is None or cred.revoked_at is not None or (cred.expires_at is not None and cred.expires_at <= now):
        return None
    if touch_after is None or cred.last_used_at is None or now - cred.last_used_at >= touch_after:
        cred.last_used_at = now
    return cred


class TokenCache(Generic[V]):
    """What tokens resolved to, kept in memory until ``ttl`` has passed (or the credential expires, if sooner).

    For hot paths (a platform's upload checks): a cached token costs no database round trip. The price is
    that a token revoked, or an owner deactivated, is still accepted by each process for at most ``ttl``.
    Only tokens that resolved are kept, so unknown tokens cannot fill it; ``max_entries`` bounds it anyway.
    Keys are token digests, never tokens. Thread-safe.
    """

    def __init__(self, *, ttl: timedelta, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[str, tuple[datetime, V]] = {}
        self._lock = threading.Lock()

    def get(self, token: str, now: datetime) -> V | None:
        key = token_digest(token)
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= now:
            with self._lock:
                if self._entries.get(key) is entry:
                    del self._entries[key]
            return None
        return entry[1]

    def put(self, token: str, value: V, now: datetime, *, expires_at: datetime | None = None) -> None:
        until = now + self.ttl if expires_at is None else min(now + self.ttl, expires_at)
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries = {k: e for k, e in self._entries.items() if e[0] > now}
                if len(self._entries) >= self.max_entries:
                    self._entries.clear()
            self._entries[token_digest(token)] = (until, value)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def revoke_token(*, session: Session, clock: Clock, actor: str, credential: ApiCredential) -> None:
    if credential.revoked_at is None:
        credential.revoked_at = clock.now()
        audit.record(
            session=session, clock=clock, actor=actor, action="api_credential.revoked", object_type="api_credential",
            object_id=credential.id, data={},
        )
