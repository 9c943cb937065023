"""Request-scoped dependencies: the runtime, a transaction, the authenticated principal."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from firebreak.api.problems import Problem
from firebreak.auth import service as auth_service
from firebreak.auth.models import CredentialScope, Role, StaffUser
from firebreak.runtime import Runtime


async def get_runtime(request: Request) -> Runtime:
    # async: FastAPI runs a plain def dependency in its thread pool, a hop that costs more than this does.
    runtime: Runtime = request.app.state.runtime
    return runtime


def db_session(runtime: Annotated[Runtime, Depends(get_runtime)]) -> Iterator[Session]:
    """The request owns the transaction: commit when the route returns, before the response is sent."""
    session = runtime.sessions()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SessionDep = Annotated[Session, Depends(db_session, scope="function")]


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


def get_principal(request: Request, session: SessionDep, runtime: RuntimeDep) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _UNAUTHENTICATED
    cred = auth_service.resolve_token(session=session, clock=runtime.clock, token=token.strip())
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


def require_staff(*roles: Role):  # type: ignore[no-untyped-def]
    def check(principal: PrincipalDep) -> Principal:
        if not principal.is_staff(*roles):
            wanted = ", ".join(r.value for r in roles) or "staff"
            raise Problem(403, "Forbidden", f"This needs a staff token with role {wanted}.")
        return principal

    return Depends(check)
