"""Statements of reasons for auditors: the period's statements as JSON lines, in the Transparency Database's shape."""

from __future__ import annotations

import io
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from firebreak.api.deps import Principal, require_staff
from firebreak.auth.models import Role
from firebreak.core.http.deps import SessionDep
from firebreak.core.http.problems import Problem
from firebreak.transparency import dsa
from firebreak.transparency import service as statements

router = APIRouter(prefix="/v1", tags=["transparency"])
Auditor = Annotated[Principal, require_staff(Role.ADMIN, Role.AUDITOR)]


def export_response(session: SessionDep, start: date | None, end: date | None) -> Response:
    if start is not None and end is not None and start > end:
        raise Problem(422, "Invalid period", f"from ({start}) is after to ({end})",
                      errors=[{"field": "from", "message": "must not be after to"}])
    buffer = io.StringIO()
    try:
        count = dsa.export_jsonl(statements.payloads(session=session, start=start, end=end), buffer)
    except dsa.StatementInvalid as exc:  # stored statements were validated: this is a bug, named precisely
        raise Problem(500, "A stored statement is not valid", str(exc)) from None
    name = f"statements-{start or 'start'}-{end or 'now'}.jsonl"
    return Response(buffer.getvalue(), media_type="application/x-ndjson",
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "X-Statement-Count": str(count),
                             "Cache-Control": "no-store"})


@router.get("/statements", response_class=Response, summary="Statements of reasons of a period, as JSON lines "
            "(DSA Transparency Database schema v2, no personal data)",
            responses={200: {"content": {"application/x-ndjson": {}}}})
def export(session: SessionDep, _: Auditor,
           start: Annotated[date | None, Query(alias="from", description="first application date, YYYY-MM-DD")]
           = None,
           end: Annotated[date | None, Query(alias="to", description="last application date, YYYY-MM-DD")]
           = None) -> Response:
    return export_response(session, start, end)
