"""HTTP routes platforms call: events in, upload checks. Signed with HMAC, or a platform token."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from firebreak.audit import service as audit
from firebreak.auth import service as auth_service
from firebreak.auth.models import CredentialScope
from firebreak.core.clock import Clock
from firebreak.core.db.session import Database
from firebreak.core.http.deps import Provide
from firebreak.core.http.problems import Problem
from firebreak.gateway.flows import BadSignal, Gateway, UnknownIntegration
from firebreak.gateway.service import EventError
from firebreak.platform import signing
from firebreak.platform.models import PlatformIntegration, SeenSignature
from firebreak.platform.schemas import EventAccepted, PlatformEvent, ScanResult, ScanSignalsRequest, Verdict
from firebreak.platform.secrets import IntegrationSecrets

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["platform"])
INTEGRATION_HEADER = "Firebreak-Integration"


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

    def token_caller(self, request: Request, token: str, body: bytes) -> Caller:
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
        return Caller(integration, body)

    def signature_caller(self, request: Request, name: str, body: bytes) -> Caller:
        refusal: tuple[str, int | None] | None = None
        with self.db.transaction() as session:
            integration = session.scalar(select(PlatformIntegration).where(PlatformIntegration.name == name))
            if integration is None or not integration.is_active or not integration.secret_encrypted:
                refusal = (f"unknown integration {name[:100]!r}", None)
            else:
                try:
                    _, signature = signing.verify(self.secrets.secret_of(integration), body,
                                                  request.headers.get(signing.HEADER), self.clock.now())
                except signing.SignatureError as exc:
                    refusal = (str(exc), integration.id)
                session.expunge(integration)
        # Refused outside the transaction: reject writes an audit event in a transaction of its own.
        if refusal is not None:
            raise self.reject(request, *refusal)
        assert integration is not None  # noqa: S101 - refused above otherwise
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
        return Caller(integration, body)


async def signed_caller(request: Request, check: Annotated[CallerCheck, Provide(CallerCheck)]) -> Caller:
    """The integration calling, authenticated by HMAC signature (with replay protection) or a platform token.

    Database work runs in the thread pool, never on the event loop; a cached platform token needs none.
    """
    body = await request.body()
    if len(body) > check.max_body_bytes:
        raise Problem(413, "Payload too large", f"at most {check.max_body_bytes} bytes")
    name = request.headers.get(INTEGRATION_HEADER)
    auth = request.headers.get("authorization", "")
    if not name and auth.lower().startswith("bearer "):
        token = auth[7:].strip()
        integration = check.logins.get(token, check.clock.now())
        if integration is not None:
            return Caller(integration, body)
        return await run_in_threadpool(check.token_caller, request, token, body)
    if not name:
        raise await run_in_threadpool(check.reject, request,
                                      f"send {INTEGRATION_HEADER} and {signing.HEADER} headers", None)
    return await run_in_threadpool(check.signature_caller, request, name, body)


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
             "edited, deleted)")
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
             openapi_extra={"requestBody": {"content": {
                 "application/json": {"schema": {"$ref": "#/components/schemas/ScanSignalsRequest"}},
                 "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}})
async def post_scan(request: Request, caller: CallerDep, gateway: GatewayDep) -> ScanResult:
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
            return answer if answer is not None else await run_in_threadpool(gateway.scan_signals, body)
        except BadSignal as exc:
            raise Problem(422, "Invalid scan request", str(exc),
                          errors=[{"field": exc.field, "message": str(exc)}]) from None
    if not caller.body:
        raise Problem(422, "Invalid scan request", "send the file as application/octet-stream, or JSON signals",
                      errors=[{"field": "body", "message": "empty"}])
    jurisdiction = request.query_params.get("jurisdiction")
    return await run_in_threadpool(gateway.scan_bytes, caller.body,
                                   jurisdiction=jurisdiction.upper() if jurisdiction else None)


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
                answer = self.gateway.scan_signals(request)
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
