"""Health, readiness (the database, the job queue, the freshness of this process's indexes), metrics, version, and
the audit chain check."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from sqlalchemy.exc import OperationalError

from firebreak import __version__
from firebreak.api.deps import Principal, require_staff
from firebreak.audit import service as audit_service
from firebreak.auth.models import Role
from firebreak.bootstrap import metrics
from firebreak.core.db.session import DatabaseUnavailable, check_database
from firebreak.core.http.deps import DatabaseDep, Provide, SessionDep
from firebreak.core.http.openapi import answers
from firebreak.core.http.problems import problem_response
from firebreak.core.jobs.queue import JobQueue
from firebreak.matching.flows import IndexKeeper
from firebreak.schema.migrate import SchemaError, check_current

router = APIRouter()
# A process whose index keeper has not followed the change log for this long is not ready: it would answer upload
# checks from stale indexes (new bank entries reach a healthy process within a second).
READY_INDEX_LAG_SECONDS = 5.0


@router.get("/healthz", tags=["system"], summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", tags=["system"], response_model=None,
            summary="The database answers with a current schema, the job queue answers, the indexes are fresh")
@answers(503)
def readyz(db: DatabaseDep, queue: Annotated[JobQueue, Provide(JobQueue)],
           keeper: Annotated[IndexKeeper, Provide(IndexKeeper)]) -> Any:
    try:
        with db.sessions() as session:
            connection = session.connection()
            check_database(connection)
            check_current(connection)
            if not keeper.running:  # no keeper in this process: the indexes follow the log on demand
                keeper.deps.indexes.sync(session)
    except (DatabaseUnavailable, SchemaError) as exc:
        return problem_response(503, "Not ready", str(exc))
    except OperationalError as exc:
        return problem_response(503, "Not ready", f"database: {str(exc.orig or exc).splitlines()[0]}")
    try:
        waiting = queue.pending_count()
    except Exception as exc:  # any failure of the queue's storage (Redis away, a file not writable)
        return problem_response(503, "Not ready", f"job queue: {type(exc).__name__}: {str(exc).splitlines()[0]}")
    indexes = keeper.deps.indexes
    lag = indexes.lag_seconds()
    if lag > READY_INDEX_LAG_SECONDS:
        why = keeper.last_error or ("still loading" if not indexes.started else "not following the change log")
        return problem_response(503, "Not ready", f"indexes: last followed the change log {lag:.0f} s ago ({why})")
    return {"status": "ready", "database": db.dialect, "queue": {"messages_waiting": waiting},
            "indexes": {"source": indexes.source, "log_position": indexes.position, "lag_seconds": round(lag, 3),
                        "bank_entries": len(indexes.bank), "media": len(indexes.media)}}


@router.get("/metrics", tags=["system"], summary="Prometheus metrics", response_class=Response)
async def prometheus_metrics(figures: Annotated[metrics.DatabaseFigures, Provide(metrics.DatabaseFigures)]) -> Response:
    body, content_type = await run_in_threadpool(metrics.render, figures)
    return Response(body, media_type=content_type)


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
