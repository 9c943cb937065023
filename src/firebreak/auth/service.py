"""Passwords, API tokens and staff accounts."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.audit import service as audit
from firebreak.auth.models import ApiCredential, CredentialScope, Role, StaffUser
from firebreak.clock import Clock

_hasher = PasswordHasher()
TOKEN_PREFIX = "fbk_"  # noqa: S105 (a prefix that makes leaked tokens greppable, not a secret)
MIN_PASSWORD_LENGTH = 12


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
    if session.scalar(select(StaffUser).where(StaffUser.username == username)) is not None:
        raise AuthError(f"user {username!r} already exists")
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


def resolve_token(*, session: Session, clock: Clock, token: str) -> ApiCredential | None:
    cred = session.scalar(select(ApiCredential).where(ApiCredential.token_hash == token_digest(token)))
    now = clock.now()
    if cred is None or cred.revoked_at is not None or (cred.expires_at is not None and cred.expires_at <= now):
        return None
    cred.last_used_at = now
    return cred


def revoke_token(*, session: Session, clock: Clock, actor: str, credential: ApiCredential) -> None:
    if credential.revoked_at is None:
        credential.revoked_at = clock.now()
        audit.record(
            session=session, clock=clock, actor=actor, action="api_credential.revoked", object_type="api_credential",
            object_id=credential.id, data={},
        )
