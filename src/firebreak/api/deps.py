"""Who is calling the API: a staff member, an authority, or a platform integration (bearer tokens)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import Headers

from firebreak.auth import service as auth_service
from firebreak.auth.models import CredentialScope, Role, StaffUser
from firebreak.core.clock import Clock
from firebreak.core.db.session import Database
from firebreak.core.http.deps import ClockDep, SessionDep
from firebreak.core.http.openapi import answers
from firebreak.core.http.problems import Problem


@dataclass(frozen=True)
class Principal:
    """Who is calling: a staff member, an authority, or a platform integration."""

    kind: CredentialScope
    actor: str  # for audit events: "staff:3", "authority:2", "integration:1"
    role: Role | None = None
    staff_user_id: int | None = None
    authority_id: int | None = None
    integration_id: int | None = None
    credential_id: int | None = None

    def is_staff(self, *roles: Role) -> bool:
        return self.kind == CredentialScope.STAFF and (not roles or self.role in roles)


_UNAUTHENTICATED = Problem(
    401, "Not authenticated", "Send an API token as 'Authorization: Bearer <token>'.",
    headers={"WWW-Authenticate": "Bearer"},
)


@answers(401)
def get_principal(request: Request, session: SessionDep, clock: ClockDep) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _UNAUTHENTICATED
    cred = auth_service.resolve_token(session=session, clock=clock, token=token.strip())
    if cred is None:
        raise Problem(401, "Not authenticated", "The API token is unknown, expired or revoked.",
                      headers={"WWW-Authenticate": "Bearer"})
    if cred.scope == CredentialScope.STAFF:
        user = session.get(StaffUser, cred.staff_user_id)
        if user is None or not user.is_active:
            raise _UNAUTHENTICATED
        return Principal(CredentialScope.STAFF, f"staff:{user.id}", role=user.role, staff_user_id=user.id,
                         credential_id=cred.id)
    if cred.scope == CredentialScope.AUTHORITY:
        return Principal(CredentialScope.AUTHORITY, f"authority:{cred.authority_id}",
                         authority_id=cred.authority_id, credential_id=cred.id)
    return Principal(CredentialScope.PLATFORM, f"integration:{cred.integration_id}",
                     integration_id=cred.integration_id, credential_id=cred.id)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require_staff(*roles: Role) -> Any:
    @answers(403)
    def check(principal: PrincipalDep) -> Principal:
        if not principal.is_staff(*roles):
            wanted = ", ".join(r.value for r in roles) or "staff"
            raise Problem(403, "Forbidden", f"This needs a staff token with role {wanted}.")
        return principal

    return Depends(check)


# A token found live is not looked up again for this long by the gate (the route still checks it every time).
GATE_TOKEN_TTL = timedelta(seconds=10)


@dataclass
class CredentialGate:
    """For ``core.http.guard.BodyGuard``: may a request to the API have its body read?

    Only when it carries a live bearer token (a SHA-256 look-up, cached for ``GATE_TOKEN_TTL``); anything else is
    refused with 401 before a byte of the body is read. The route's own authentication is unchanged. Paths in
    ``self_authenticating`` are let through: their routes authenticate the caller before they read the body
    themselves (signed platform calls, whose signature covers the body: ``gateway.api.signed_caller``), or that take
    no account by design (victims' reports: ``reports.api.PUBLIC_PATHS``, limited per address by their routes).
    """

    db: Database
    clock: Clock
    self_authenticating: frozenset[str] = frozenset()
    _live: auth_service.TokenCache[bool] = field(
        default_factory=lambda: auth_service.TokenCache[bool](ttl=GATE_TOKEN_TTL))

    async def __call__(self, headers: Headers, path: str) -> Problem | None:
        if path in self.self_authenticating:
            return None
        scheme, _, token = headers.get("authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return _UNAUTHENTICATED
        now = self.clock.now()
        if self._live.get(token, now):
            return None
        if not await run_in_threadpool(self._lookup, token):
            return Problem(401, "Not authenticated", "The API token is unknown, expired or revoked.",
                           headers={"WWW-Authenticate": "Bearer"})
        self._live.put(token, True, now)
        return None

    def _lookup(self, token: str) -> bool:
        with self.db.sessions() as session:
            return auth_service.token_is_live(session=session, clock=self.clock, token=token)
