"""HTTP routes platforms call: events in, upload checks. Signed with HMAC, or a platform token."""

from __future__ import annotations

import hashlib
import logging
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from types import SimpleNamespace
from typing import IO, Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from firebreak.audit import service as audit
from firebreak.auth import service as auth_service
from firebreak.auth.models import CredentialScope
from firebreak.authorities.taxonomy import CATEGORIES
from firebreak.core.clock import Clock
from firebreak.core.db.session import Database
from firebreak.core.http.deps import Provide
from firebreak.core.http.guard import accepts
from firebreak.core.http.openapi import answers, request_body
from firebreak.core.http.problems import Problem
from firebreak.enforcement.appeals import Appeals, AppealUnknown
from firebreak.gateway.flows import BadSignal, Gateway, UnknownIntegration
from firebreak.gateway.service import EventError
from firebreak.platform import signing
from firebreak.platform.models import PlatformIntegration, SeenSignature
from firebreak.platform.schemas import (
    ChatIn,
    EventAccepted,
    PlatformEvent,
    ScanResult,
    ScanSignalsRequest,
    SenderIn,
    Verdict,
)
from firebreak.platform.secrets import IntegrationSecrets
from firebreak.review.service import ReviewError

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["platform"])
INTEGRATION_HEADER = "Firebreak-Integration"
# Paths whose routes authenticate the caller before reading the body (signed_caller): the body guard's gate
# (api.deps.CredentialGate) leaves them to it. Every route that takes CallerDep is here, or a platform that signs its
# calls instead of sending a token is refused before its route sees the signature.
SIGNED_PATHS = frozenset({"/v1/events", "/v1/scan", "/v1/reports", "/v1/appeals"})


class Caller:
    def __init__(self, integration: PlatformIntegration, body: bytes) -> None:
        self.integration = integration
        self.body = body


# A platform token is looked up once per process every PLATFORM_TOKEN_TTL: revoking it, or deactivating its
# integration, takes effect within that time. last_used_at is written at most once a minute.
PLATFORM_TOKEN_TTL = timedelta(seconds=1)
TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)


class PlatformLogins(auth_service.TokenCache[PlatformIntegration]):
    """This process's cache of platform tokens -> their (detached, read-only) integration."""

    def __init__(self) -> None:
        super().__init__(ttl=PLATFORM_TOKEN_TTL)


@dataclass(frozen=True)
class CallerCheck:
    """What authenticating a platform's call needs."""

    db: Database
    clock: Clock
    secrets: IntegrationSecrets
    logins: PlatformLogins
    max_body_bytes: int

    def reject(self, request: Request, reason: str, integration_id: int | None) -> Problem:
        with self.db.transaction() as session:
            audit.record(session=session, clock=self.clock, actor=f"integration:{integration_id or 'unknown'}",
                         action="webhook.rejected", object_type="request", object_id=request.url.path[:80],
                         data={"reason": reason, "peer": request.client.host if request.client else None})
        return Problem(401, "Not authenticated", reason, headers={"WWW-Authenticate": "Firebreak-Signature"})

    def token_integration(self, request: Request, token: str) -> PlatformIntegration:
        """The token's integration, from the database (call it in a worker thread)."""
        now = self.clock.now()
        integration = None
        expires_at = None
        with self.db.transaction() as session:
            cred = auth_service.resolve_token(session=session, clock=self.clock, token=token,
                                              touch_after=TOKEN_TOUCH_INTERVAL)
            if cred is not None and cred.scope == CredentialScope.PLATFORM and cred.integration_id is not None:
                found = session.get(PlatformIntegration, cred.integration_id)
                if found is not None and found.is_active:
                    session.expunge(found)
                    integration, expires_at = found, cred.expires_at
        # Refused outside the transaction: reject writes an audit event in a transaction of its own.
        if integration is None:
            raise self.reject(request, "the token is not a platform integration's token", None)
        self.logins.put(token, integration, now, expires_at=expires_at)
        return integration

    def begin_signature(self, request: Request, name: str) -> tuple[PlatformIntegration, signing.PendingSignature]:
        """Everything about a signed call that needs no body: the integration, the header's form and time."""
        refusal: tuple[str, int | None] | None = None
        pending = None
        with self.db.transaction() as session:
            integration = session.scalar(select(PlatformIntegration).where(PlatformIntegration.name == name))
            if integration is None or not integration.is_active or not integration.secret_encrypted:
                refusal = (f"unknown integration {name[:100]!r}", None)
            else:
                try:
                    pending = signing.begin_verify(self.secrets.secret_of(integration),
                                                   request.headers.get(signing.HEADER), self.clock.now())
                except signing.SignatureError as exc:
                    refusal = (str(exc), integration.id)
                session.expunge(integration)
        # Refused outside the transaction: reject writes an audit event in a transaction of its own.
        if refusal is not None:
            raise self.reject(request, *refusal)
        assert integration is not None and pending is not None  # noqa: S101 - refused above otherwise
        return integration, pending

    def finish_signature(self, request: Request, integration: PlatformIntegration,
                         pending: signing.PendingSignature) -> None:
        """Check the MAC over the body read, and that the signature was not used before."""
        try:
            _, signature = pending.finish()
        except signing.SignatureError as exc:
            raise self.reject(request, str(exc), integration.id) from None
        now = self.clock.now()
        try:
            with self.db.transaction() as session:
                session.add(SeenSignature(signature=hashlib.sha256(signature.encode()).hexdigest(),
                                          integration_id=integration.id, seen_at=now))
                # Forget signatures older than the window: their timestamps are refused anyway.
                session.execute(delete(SeenSignature).where(
                    SeenSignature.seen_at < now - timedelta(seconds=2 * signing.DEFAULT_WINDOW_SECONDS)))
        except IntegrityError:
            raise self.reject(request, "replayed request: this signature was already used",
                              integration.id) from None


# A signed body is kept in memory up to this size while its signature is checked, on disk beyond.
SPOOL_IN_MEMORY_BYTES = 1024 * 1024


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, read only now that the caller is known (the route's limit is also kept by the body guard)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Problem(413, "Payload too large", f"at most {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@asynccontextmanager
async def _spooled_body(request: Request, limit: int, pending: signing.PendingSignature) -> AsyncIterator[IO[bytes]]:
    """A signed body, fed to its MAC as it arrives and kept in a temporary file: a body whose signature turns out
    wrong never sits in memory whole."""
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES) as spool:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise Problem(413, "Payload too large", f"at most {limit} bytes")
            pending.update(chunk)
            spool.write(chunk)
        spool.seek(0)
        yield spool


@answers(401, 413)
async def signed_caller(request: Request, check: Annotated[CallerCheck, Provide(CallerCheck)]) -> Caller:
    """The integration calling, authenticated by HMAC signature (with replay protection) or a platform token.

    The caller is authenticated before the body is read (a signature's MAC while it is read). Database work runs
    in the thread pool, never on the event loop; a cached platform token needs none.
    """
    name = request.headers.get(INTEGRATION_HEADER)
    auth = request.headers.get("authorization", "")
    if not name and auth.lower().startswith("bearer "):
        token = auth[7:].strip()
        cached = check.logins.get(token, check.clock.now())
        caller = cached if cached is not None else await run_in_threadpool(check.token_integration, request, token)
        return Caller(caller, await _read_body(request, check.max_body_bytes))
    if not name:
        raise await run_in_threadpool(check.reject, request,
                                      f"send {INTEGRATION_HEADER} and {signing.HEADER} headers", None)
    signer, pending = await run_in_threadpool(check.begin_signature, request, name)
    async with _spooled_body(request, check.max_body_bytes, pending) as spool:
        await run_in_threadpool(check.finish_signature, request, signer, pending)
        return Caller(signer, spool.read())


CallerDep = Annotated[Caller, Depends(signed_caller)]
GatewayDep = Annotated[Gateway, Provide(Gateway)]


def _event_from(body: bytes) -> PlatformEvent:
    try:
        return PlatformEvent.model_validate_json(body)
    except ValidationError as exc:
        errors = [{"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
                  for e in exc.errors(include_url=False)]
        fields = ", ".join(sorted({e["field"] for e in errors}))
        raise Problem(422, "Invalid event", f"Check these fields: {fields}", errors=errors) from None


@router.post("/events", response_model=EventAccepted, summary="Record a platform event (media posted, forwarded, "
             "edited, deleted)", openapi_extra=request_body({"application/json": PlatformEvent}))
@accepts("upload")  # media may come inline, base64
@answers(422)
def post_event(caller: CallerDep, gateway: GatewayDep) -> EventAccepted:
    event = _event_from(caller.body)
    try:
        result = gateway.record_event(caller.integration.name, event)
    except UnknownIntegration as exc:
        raise Problem(401, "Not authenticated", str(exc)) from None
    except EventError as exc:
        raise Problem(422, "Invalid event", str(exc), errors=[{"field": exc.field, "message": str(exc)}]) from None
    verdict = Verdict.BLOCK if any(h.action.value in ("block", "remove") for h in result.hits) else (
        Verdict.REVIEW if result.hits else Verdict.ALLOW)
    return EventAccepted(event_id=event.event_id, placements=len(result.placements), verdict=verdict)


@router.post("/scan", response_model=ScanResult, summary="Upload check: allow, block or review, within the request",
             openapi_extra=request_body({"application/json": ScanSignalsRequest,
                                         "application/octet-stream": {"type": "string", "format": "binary"}}))
@accepts("upload")
@answers(422)
async def post_scan(request: Request, caller: CallerDep, gateway: GatewayDep,
                    jurisdiction: Annotated[str | None, Query(
                        pattern="^[A-Za-z]{2}$", description="the uploader's country (ISO 3166-1 alpha-2), for "
                        "banks that act in some jurisdictions only")] = None,
                    uploader: Annotated[str | None, Query(
                        min_length=1, max_length=255, description="your id of the account uploading: a refusal "
                        "then reaches them with its reasons and counts on their record")] = None,
                    language: Annotated[str | None, Query(
                        pattern="^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})?$", description="the uploader's language, "
                        "for the notice")] = None,
                    chat: Annotated[str | None, Query(min_length=1, max_length=255,
                                                      description="your id of the chat it was for")] = None,
                    ) -> ScanResult:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        try:
            body = ScanSignalsRequest.model_validate_json(caller.body)
        except ValidationError as exc:
            errors = [{"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
                      for e in exc.errors(include_url=False)]
            raise Problem(422, "Invalid scan request", "Check these fields: " + ", ".join(
                sorted({e["field"] for e in errors})), errors=errors) from None
        try:
            # Most checks match nothing and are answered from memory, here; the rest need the database.
            answer = gateway.scan_signals_in_memory(body)
            return answer if answer is not None else await run_in_threadpool(
                partial(gateway.scan_signals, body, integration=caller.integration.name))
        except BadSignal as exc:
            raise Problem(422, "Invalid scan request", str(exc),
                          errors=[{"field": exc.field, "message": str(exc)}]) from None
    if not caller.body:
        raise Problem(422, "Invalid scan request", "send the file as application/octet-stream, or JSON signals",
                      errors=[{"field": "body", "message": "empty"}])
    try:
        who = SenderIn(id=uploader, language=language) if uploader else None
        where = ChatIn(id=chat) if chat else None
    except ValidationError as exc:
        field = ".".join(str(p) for p in exc.errors()[0]["loc"]) or "uploader"
        raise Problem(422, "Invalid scan request", f"{field}: {exc.errors()[0]['msg']}",
                      errors=[{"field": field, "message": exc.errors()[0]["msg"]}]) from None
    return await run_in_threadpool(partial(gateway.scan_bytes, caller.body,
                                           jurisdiction=jurisdiction.upper() if jurisdiction else None,
                                           integration=caller.integration.name, uploader=who, chat=where))


class UserReportIn(BaseModel):
    """A report one of the platform's users made about a message (a notice under Art. 16 DSA)."""

    model_config = ConfigDict(extra="forbid")

    report_id: str = Field(min_length=1, max_length=255, description="your id for the report (sending it again "
                                                                     "adds nothing)")
    chat_id: str = Field(min_length=1, max_length=255)
    message_id: str = Field(min_length=1, max_length=255)
    reporter_id: str | None = Field(default=None, min_length=1, max_length=255,
                                    description="your id of the user who reported: they are told the outcome")
    reason: str = Field(default="", max_length=5000, description="what the reporter wrote")
    category: str | None = Field(default=None, description="the category the user chose, if any: "
                                 "terrorist_content, csam, sexual_deepfake, ncii, hate_speech or other")

    @field_validator("category")
    @classmethod
    def _known(cls, value: str | None) -> str | None:
        if value is not None and value not in CATEGORIES:
            raise ValueError(f"not a category; known: {', '.join(CATEGORIES)}")
        return value


class ReportQueued(BaseModel):
    status: str
    review_item: int


@router.post("/reports", response_model=ReportQueued, status_code=202,
             summary="Forward a user's report about a message to the review queue (DSA Art. 16)",
             openapi_extra=request_body({"application/json": UserReportIn}))
@answers(404, 422)
def post_report(caller: CallerDep, gateway: GatewayDep) -> ReportQueued:
    try:
        data = UserReportIn.model_validate_json(caller.body)
    except ValidationError as exc:
        errors = [{"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
                  for e in exc.errors(include_url=False)]
        raise Problem(422, "Invalid report", "Check these fields: " + ", ".join(sorted({e["field"] for e in errors})),
                      errors=errors) from None
    item = gateway.report(caller.integration.name, chat_id=data.chat_id, message_id=data.message_id,
                          report_id=data.report_id, reporter=data.reporter_id, reason=data.reason,
                          category=data.category)
    if item is None:
        raise Problem(404, "Not found", f"no message {data.message_id[:100]!r} with media in chat "
                      f"{data.chat_id[:100]!r} is known: send its media_posted event first")
    return ReportQueued(status="queued", review_item=item)


class AppealIn(BaseModel):
    """An appeal the platform forwards for its user, against the decision a notice named."""

    model_config = ConfigDict(extra="forbid")

    statement: str = Field(min_length=1, max_length=500, description="the reference in the notice (params.statement)")
    account_id: str = Field(min_length=1, max_length=255, description="your id of the user appealing")
    text: str = Field(min_length=1, max_length=10000, description="why the user thinks the decision is wrong")


class AppealOut(BaseModel):
    reference: str
    status: str
    statement: str
    filed_at: datetime


@router.post("/appeals", response_model=AppealOut, status_code=201,
             summary="Forward a user's appeal against a decision (DSA Art. 20)",
             openapi_extra=request_body({"application/json": AppealIn}))
@answers(403, 404, 409, 422)
def post_appeal(caller: CallerDep, appeals: Annotated[Appeals, Provide(Appeals)]) -> AppealOut:
    try:
        data = AppealIn.model_validate_json(caller.body)
    except ValidationError as exc:
        errors = [{"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
                  for e in exc.errors(include_url=False)]
        raise Problem(422, "Invalid appeal", "Check these fields: " + ", ".join(sorted({e["field"] for e in errors})),
                      errors=errors) from None
    try:
        appeal, statement = appeals.from_platform(integration_id=caller.integration.id, puid=data.statement,
                                                  account=data.account_id, text=data.text,
                                                  actor=f"integration:{caller.integration.id}")
    except AppealUnknown as exc:
        raise Problem(404, "Not found", str(exc)) from None
    except ReviewError as exc:
        raise Problem(exc.status, "Appeal not accepted", str(exc)) from None
    return AppealOut(reference=appeal.reference or "", status=appeal.status.value, statement=statement,
                     filed_at=appeal.created_at)


_SCAN_ROUTE = SimpleNamespace(path="/v1/scan")  # what request metrics label the fast lane's answers with


class ScanFastLane:
    """ASGI middleware in front of the framework for the hottest request: a platform's JSON upload check.

    When the caller's platform token is in this process's cache (looked up within the last PLATFORM_TOKEN_TTL) and
    the request is well formed, it answers here: no routing, no dependency resolution, no thread hop. A miss is
    answered from memory (Gateway.scan_signals_in_memory); a candidate is decided by the database with one read, on
    the event loop, when the indexes are fresh. Anything else (another route, a signature, an unknown or uncached
    token, bad input, indexes due to follow the log, a database error) goes to the application unchanged, which
    answers it the usual way; so the answers are the route's own, only sooner (docs/benchmarks.md).
    """

    def __init__(self, app: ASGIApp, *, gateway: Gateway, check: CallerCheck) -> None:
        self.app = app
        self.gateway = gateway
        self.check = check

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != "/v1/scan":
            await self.app(scope, receive, send)
            return
        token = self._cached_caller(scope)
        if token is None:
            await self.app(scope, receive, send)
            return
        read = await self._read(receive)
        if read is None:
            return  # the client left: nobody to answer
        body, more, whole = read
        answer = self._answer(body) if whole else None
        if answer is None:
            await self.app(scope, self._replay(body, more, receive), send)
            return
        scope["route"] = _SCAN_ROUTE
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())]})
        await send({"type": "http.response.body", "body": answer})

    def _cached_caller(self, scope: Scope) -> str | None:
        content_type = auth = b""
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value
            elif name == b"authorization":
                auth = value
            elif name == INTEGRATION_HEADER.lower().encode():
                return None  # a signed call: the route checks the signature
        if content_type.split(b";")[0].strip().lower() != b"application/json" or not auth[:7].lower() == b"bearer ":
            return None
        token = auth[7:].strip().decode("latin-1")
        return token if self.check.logins.get(token, self.check.clock.now()) is not None else None

    async def _read(self, receive: Receive) -> tuple[bytes, bool, bool] | None:
        """The body read so far; whether the client has more of it; whether it is complete and small enough to
        answer here (a larger one goes to the route with the rest as it comes). None if the client left."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            more = bool(message.get("more_body", False))
            if size > self.check.max_body_bytes or not more:
                return b"".join(chunks), more, not more and size <= self.check.max_body_bytes

    def _answer(self, body: bytes) -> bytes | None:
        try:
            request = ScanSignalsRequest.model_validate_json(body)
            answer = self.gateway.scan_signals_in_memory(request)
            if answer is None:
                if not self.gateway.deps.indexes.fresh:
                    return None  # the indexes must follow the change log first: the route does that in a thread
                # A candidate: the database decides, with one read, here on the event loop. Waiting for that read
                # (0.2-1 ms) costs the loop less than handing it to a worker thread (about 0.5 ms of CPU per hop,
                # measured in docs/benchmarks.md); a failing read goes to the route instead.
                answer = self.gateway.scan_signals(request, record=False)
                if answer.verdict == Verdict.BLOCK:
                    return None  # a refusal is written (its count, statement and notice): the route does that
        except (ValidationError, BadSignal):
            return None  # the route explains what is wrong
        except Exception:  # the database: the route answers (and reports) it the usual way
            log.warning("upload check passed to the route after an error", exc_info=True)
            return None
        return answer.model_dump_json().encode()

    @staticmethod
    def _replay(body: bytes, more: bool, receive: Receive) -> Receive:
        """What the application reads: the part already read, then the rest (if any) as it comes."""
        sent = False

        async def replayed() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": more}
            return await receive()

        return replayed
