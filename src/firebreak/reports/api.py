"""The victims' JSON API, no account needed: report messages, send hashes, read a case's status, withdraw it.

Status and withdrawal take the status token (or the case number and PIN) in the body, never in a URL, so they stay
out of access logs. A token or PIN that leads nowhere gets the same 404 as an unknown case, and guessing is limited
per address and per case.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from firebreak.core.http.deps import Provide, SessionDep
from firebreak.core.http.openapi import answers, request_body
from firebreak.core.http.problems import Problem
from firebreak.reports import forms, limits
from firebreak.reports.flows import AlreadySubmitted, LinksRefused, NotFound, Reports, submission_key
from firebreak.reports.models import ReportStatus, VictimReport
from firebreak.reports.schemas import (
    MAX_FORM_BYTES,
    MAX_HASHES_BODY_BYTES,
    HashesIn,
    ReportIn,
    StatusOut,
    StatusQuery,
    Submitted,
    WithdrawIn,
)

router = APIRouter(prefix="/v1/victim-reports", tags=["victims' reports"])
# No account by design: the body guard lets these through without a token (each route limits its callers itself).
PUBLIC_PATHS = frozenset({"/v1/victim-reports", "/v1/victim-reports/hashes", "/v1/victim-reports/status",
                          "/v1/victim-reports/withdraw"})
ReportsDep = Annotated[Reports, Provide(Reports)]
_PROBLEMS = {"other_site": "not a link to a message on this platform", "chat_link": "a link to a whole chat, not to "
             "one message"}


class Withdrawn(BaseModel):
    case_number: str
    status: ReportStatus
    withdrawn_now: bool  # False: it was withdrawn before


async def _body(request: Request, model: type[Any], limit: int) -> Any:
    try:
        raw = await forms.read_limited(request, limit)
    except forms.TooLarge:
        raise Problem(413, "Payload too large", f"The body is over {limit:,} bytes.") from None
    if not request.headers.get("content-type", "").startswith("application/json"):
        raise Problem(415, "Unsupported media type", "Send JSON (Content-Type: application/json).")
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        errors = [{"field": ".".join(str(p) for p in e.get("loc", ())) or "body", "message": e.get("msg", "invalid")}
                  for e in exc.errors(include_url=False, include_input=False)]
        fields = ", ".join(sorted({e["field"] for e in errors})) or "body"
        raise Problem(422, "Invalid request", f"Check these fields: {fields}", errors=errors) from None


IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", min_length=1, max_length=255,
    description="any unique value of yours for this submission: sending it again (a retry after a lost answer) "
                "records nothing twice and answers 409 naming the case")]


def _already(exc: AlreadySubmitted) -> Problem:
    return Problem(409, "Already received", f"This submission was already received as case {exc.reference}; "
                   "nothing was recorded twice. Its status token and PIN were given in the first answer.")


def _too_many(exc: limits.RateLimited) -> Problem:
    return Problem(429, "Too many requests", f"Try again in {exc.seconds} seconds.",
                   headers={"Retry-After": str(exc.seconds)})


def _created(submitted: Submitted) -> JSONResponse:
    return JSONResponse(submitted.model_dump(mode="json"), status_code=201, headers={"Cache-Control": "no-store"})


@router.post("", status_code=201, response_model=Submitted,
             summary="Report messages showing you (or someone you act for) without consent",
             openapi_extra=request_body({"application/json": ReportIn}))
@answers(415, 429)
async def submit_report(request: Request, session: SessionDep, reports: ReportsDep,
                        idempotency_key: IdempotencyKey = None) -> JSONResponse:
    data: ReportIn = await _body(request, ReportIn, MAX_FORM_BYTES)
    try:
        submitted = reports.submit(session=session, data=data, client=forms.client_address(request),
                                   key=submission_key(idempotency_key))
    except AlreadySubmitted as exc:
        raise _already(exc) from None
    except LinksRefused as exc:
        raise Problem(422, "Invalid request", "Some links do not name a message on this platform; nothing was "
                      "recorded.", errors=[{"field": f"links.{p.position - 1}", "message": _PROBLEMS[p.problem]}
                                           for p in exc.problems]) from None
    except limits.RateLimited as exc:
        return _problem_after_commit(exc)
    return _created(submitted)


@router.post("/hashes", status_code=201, response_model=Submitted,
             summary="Send hashes computed on your own device (the files never leave it)",
             openapi_extra=request_body({"application/json": HashesIn}))
@answers(415, 429)
async def submit_hashes(request: Request, session: SessionDep, reports: ReportsDep,
                        idempotency_key: IdempotencyKey = None) -> JSONResponse:
    data: HashesIn = await _body(request, HashesIn, MAX_HASHES_BODY_BYTES)
    try:
        submitted = reports.submit_hashes(session=session, data=data, client=forms.client_address(request),
                                          key=submission_key(idempotency_key))
    except AlreadySubmitted as exc:
        raise _already(exc) from None
    except limits.RateLimited as exc:
        return _problem_after_commit(exc)
    return _created(submitted)


def _problem_after_commit(exc: limits.RateLimited) -> JSONResponse:
    """A 429 returned (not raised), so that the request's transaction keeps the counter that refused it."""
    problem = _too_many(exc)
    return JSONResponse({"type": "about:blank", "title": problem.title, "status": 429, "detail": problem.detail},
                        status_code=429, media_type="application/problem+json", headers=problem.headers)


def _find(session: SessionDep, reports: Reports, query: StatusQuery | WithdrawIn, client: str | None
          ) -> VictimReport | JSONResponse:
    try:
        if query.token:
            return reports.by_token(session=session, token=query.token, client=client)
        if query.case_number and query.pin:
            return reports.by_pin(session=session, case_number=query.case_number, pin=query.pin, client=client)
    except NotFound:
        return JSONResponse({"type": "about:blank", "title": "Not found", "status": 404,
                             "detail": "No case has this status token, or this case number and PIN."},
                            status_code=404, media_type="application/problem+json")
    except limits.RateLimited as exc:
        return _problem_after_commit(exc)
    raise Problem(422, "Invalid request", "Send the status token, or the case number and the PIN.")


@router.post("/status", response_model=StatusOut, summary="Where a case stands: dates and counts only",
             openapi_extra=request_body({"application/json": StatusQuery}))
@answers(404, 415, 429)
async def report_status(request: Request, session: SessionDep, reports: ReportsDep) -> Any:
    query: StatusQuery = await _body(request, StatusQuery, 4096)
    found = _find(session, reports, query, forms.client_address(request))
    if isinstance(found, JSONResponse):
        return found
    return JSONResponse(reports.status(session, found).model_dump(mode="json"), headers={"Cache-Control": "no-store"})


@router.post("/withdraw", response_model=Withdrawn, summary="Withdraw a case and its hashes everywhere",
             openapi_extra=request_body({"application/json": WithdrawIn}))
@answers(404, 415, 429)
async def withdraw(request: Request, session: SessionDep, reports: ReportsDep) -> Any:
    query: WithdrawIn = await _body(request, WithdrawIn, 4096)
    found = _find(session, reports, query, forms.client_address(request))
    if isinstance(found, JSONResponse):
        return found
    now = reports.withdraw(session=session, report_id=found.id)
    return Withdrawn(case_number=found.reference, status=found.status, withdrawn_now=now)


__all__ = ["router"]
