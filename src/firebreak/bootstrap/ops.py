"""Health, readiness, version, and the audit chain check."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy.exc import OperationalError

from firebreak import __version__
from firebreak.api.deps import Principal, require_staff
from firebreak.audit import service as audit_service
from firebreak.auth.models import Role
from firebreak.core.db.session import DatabaseUnavailable, check_database
from firebreak.core.http.deps import DatabaseDep, SessionDep
from firebreak.core.http.openapi import answers
from firebreak.core.http.problems import problem_response
from firebreak.schema.migrate import SchemaError, check_current

router = APIRouter()


@router.get("/healthz", tags=["system"], summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", tags=["system"], summary="The database answers and its schema is current", response_model=None)
@answers(503)
def readyz(db: DatabaseDep) -> Any:
    try:
        with db.sessions() as session:
            connection = session.connection()
            check_database(connection)
            check_current(connection)
    except (DatabaseUnavailable, SchemaError) as exc:
        return problem_response(503, "Not ready", str(exc))
    except OperationalError as exc:
        return problem_response(503, "Not ready", f"database: {str(exc.orig or exc).splitlines()[0]}")
    return {"status": "ready", "database": db.dialect}


v1 = APIRouter(prefix="/v1")


class VersionOut(BaseModel):
    version: str
    api: str = "v1"


@v1.get("/version", tags=["system"])
def version() -> VersionOut:
    return VersionOut(version=__version__)


class AuditVerifyOut(BaseModel):
    ok: bool
    events_checked: int
    head_hash: str
    problem: str | None
    first_bad_seq: int | None


@v1.get("/audit/verify", tags=["audit"], summary="Walk the hash chain and report the first broken event")
def audit_verify(
    session: SessionDep, _: Annotated[Principal, require_staff(Role.ADMIN, Role.AUDITOR)]
) -> AuditVerifyOut:
    result = audit_service.verify(session=session)
    return AuditVerifyOut(ok=result.ok, events_checked=result.events_checked, head_hash=result.head_hash,
                          problem=result.problem, first_bad_seq=result.first_bad_seq)
