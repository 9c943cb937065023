"""Evidence routes for staff: records, legal holds, purges, opening evidence and exporting packages (with a reason).

Metadata (records, holds, purges) is for admins, liaison officers and auditors; opening evidence and exporting packages
is for admins and liaison officers, and every opening is audited with who and why.
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from firebreak.api.deps import Principal, require_staff
from firebreak.auth.models import Role
from firebreak.core.http.deps import Provide, SessionDep
from firebreak.core.http.openapi import answers
from firebreak.core.http.params import IdPath
from firebreak.core.http.problems import Problem
from firebreak.evidence.flows import Evidence
from firebreak.evidence.models import LegalHold
from firebreak.evidence.schemas import (
    HoldExtension,
    HoldOut,
    HoldRequest,
    PackageRequest,
    PurgeOut,
    Reasoned,
    RecordOut,
)
from firebreak.evidence.sealing import EvidenceKeyError
from firebreak.evidence.service import EvidenceError, NotFound

router = APIRouter(prefix="/v1/evidence", tags=["evidence"])
Readers = Annotated[Principal, require_staff(Role.ADMIN, Role.LIAISON, Role.AUDITOR)]
Openers = Annotated[Principal, require_staff(Role.ADMIN, Role.LIAISON)]
EvidenceDep = Annotated[Evidence, Provide(Evidence)]


def _problem(exc: Exception) -> Problem:
    if isinstance(exc, NotFound):
        return Problem(404, "Not found", str(exc))
    if isinstance(exc, EvidenceKeyError):
        # The instance's keys, not the request: an operator must configure the key named (FIREBREAK_EVIDENCE_KEYS).
        return Problem(503, "Evidence cannot be opened with the keys configured", str(exc))
    return Problem(422, "Cannot do that", str(exc))


def _hold_out(hold: LegalHold, active: bool) -> HoldOut:
    return HoldOut(id=hold.id, scope=hold.scope, subject_id=hold.subject_id, label=hold.label, reason=hold.reason,
                   source=hold.source, placed_by=hold.placed_by, placed_at=hold.placed_at, expires_at=hold.expires_at,
                   extensions=len(hold.extensions), released_at=hold.released_at, active=active)


@router.get("/records", response_model=list[RecordOut], summary="What is preserved about an order or a case")
@answers(404, 503)
def records(evidence: EvidenceDep, session: SessionDep, _: Readers, order: str | None = None,
            case: str | None = None) -> list[Any]:
    try:
        return evidence.records(order=order, case=case, session=session)
    except EvidenceError as exc:
        raise _problem(exc) from None


@router.post("/records/{uid}/context", summary="A record's context (placements, sender, chat, forward chain, "
             "matches, decisions, statements); audited with your reason")
@answers(404, 503)
def record_context(uid: str, body: Reasoned, evidence: EvidenceDep, session: SessionDep,
                   who: Openers) -> dict[str, Any]:
    try:
        return evidence.open(actor=who.actor, uid=uid, reason=body.reason, purpose="view", session=session).context
    except (EvidenceError, EvidenceKeyError) as exc:
        raise _problem(exc) from None


@router.post("/records/{uid}/media", response_class=Response, summary="The preserved file; audited with your reason")
@answers(404, 503)
def record_media(uid: str, body: Reasoned, evidence: EvidenceDep, session: SessionDep, who: Openers) -> Response:
    try:
        opened = evidence.open(actor=who.actor, uid=uid, reason=body.reason, purpose="export", session=session)
    except (EvidenceError, EvidenceKeyError) as exc:
        raise _problem(exc) from None
    if opened.media is None:
        raise Problem(404, "Not found", f"evidence record {uid} holds no file (only its context)")
    return Response(opened.media, media_type=opened.media_type or "application/octet-stream",
                    headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
                             "Content-Disposition": f'attachment; filename="{opened.media_sha256}"'})


@router.post("/packages", response_class=FileResponse, summary="A signed evidence package (zip) for an order or a "
             "case; audited with your reason")
@answers(404, 503)
def package(body: PackageRequest, evidence: EvidenceDep, session: SessionDep, who: Openers) -> FileResponse:
    fd, path = tempfile.mkstemp(suffix=".zip", prefix="evidence-")
    try:
        with os.fdopen(fd, "wb") as out:
            written = evidence.package(actor=who.actor, reason=body.reason, order=body.order, case=body.case, out=out,
                                       session=session)
    except (EvidenceError, EvidenceKeyError) as exc:
        os.unlink(path)
        raise _problem(exc) from None
    except BaseException:
        os.unlink(path)
        raise
    name = f"evidence-{(body.order or body.case or 'package')}-{written.package_id[:8]}.zip"
    return FileResponse(path, media_type="application/zip", filename=name, background=BackgroundTask(os.unlink, path),
                        headers={"Cache-Control": "no-store", "X-Package-Id": written.package_id,
                                 "X-Signing-Key-Sha256": written.fingerprint})


@router.get("/holds", response_model=list[HoldOut])
def holds(evidence: EvidenceDep, session: SessionDep, _: Readers) -> list[HoldOut]:
    return [_hold_out(h, active) for h, active in evidence.holds(session=session)]


@router.post("/holds", response_model=HoldOut, status_code=201, summary="Place a legal hold on an item, an account, "
             "a chat, an order or a case")
@answers(404, 503)
def place_hold(body: HoldRequest, evidence: EvidenceDep, session: SessionDep, who: Openers) -> HoldOut:
    try:
        hold = evidence.place_hold(actor=who.actor, scope=body.scope, subject=body.subject, reason=body.reason,
                                   days=body.days, session=session)
    except EvidenceError as exc:
        raise _problem(exc) from None
    return _hold_out(hold, True)


@router.post("/holds/{hold_id}/extend", response_model=HoldOut)
@answers(404, 503)
def extend_hold(hold_id: IdPath, body: HoldExtension, evidence: EvidenceDep, session: SessionDep,
                who: Openers) -> HoldOut:
    try:
        hold = evidence.extend_hold(actor=who.actor, hold_id=hold_id, reason=body.reason, days=body.days,
                                    session=session)
    except EvidenceError as exc:
        raise _problem(exc) from None
    return _hold_out(hold, True)


@router.post("/holds/{hold_id}/release", response_model=HoldOut)
@answers(404, 503)
def release_hold(hold_id: IdPath, body: Reasoned, evidence: EvidenceDep, session: SessionDep, who: Openers) -> HoldOut:
    try:
        hold = evidence.release_hold(actor=who.actor, hold_id=hold_id, reason=body.reason, session=session)
    except EvidenceError as exc:
        raise _problem(exc) from None
    return _hold_out(hold, False)


@router.get("/purges", response_model=list[PurgeOut], summary="What retention purged, when and under which rule, "
            "each checked against the audit log")
def purges(evidence: EvidenceDep, session: SessionDep, _: Readers,
           since: Annotated[date | None, Query(alias="from")] = None,
           until: Annotated[date | None, Query(alias="to", description="last day included")] = None) -> list[PurgeOut]:
    start = datetime.combine(since, time(), tzinfo=UTC) if since else None
    end = datetime.combine(until + timedelta(days=1), time(), tzinfo=UTC) if until else None
    return [PurgeOut(record_uid=c.purge.record_uid, purged_at=c.purge.purged_at, rule=c.purge.rule,
                     category=c.purge.category, media_sha256=c.purge.media_sha256,
                     media_deleted=c.purge.media_deleted, context_sha256=c.purge.context_sha256,
                     audit_seq=c.purge.audit_seq, verified=c.problem is None, problem=c.problem)
            for c in evidence.purges(since=start, until=end, session=session)]

