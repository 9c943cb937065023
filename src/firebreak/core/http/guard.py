"""Request bodies: bounded, and read only for callers worth reading them for.

``BodyGuard`` is an ASGI middleware in front of every route. For a request that has a body it

1. asks the *gate*, for paths that need credentials (``/v1/...``, the HMA routes), whether the request carries
   credentials worth reading the body for, and answers 401 before a byte of the body is read when it does not;
2. refuses a ``Content-Length`` above the route's limit with 413, again before reading (on the route's first read);
3. counts the bytes as the route reads them, chunked bodies too, and stops at the limit with 413.

A route says what it takes with ``@accepts("upload")`` or ``@accepts("request")`` under its ``@router.post``; a
route that says nothing takes a small JSON body or form (``form``). The sizes come from the settings
(``BodyLimits.of_settings``). Nothing here knows a domain: the gate is a callable the composition root passes in.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from firebreak.core.config import Settings
from firebreak.core.http.problems import Problem, problem_response
from firebreak.core.http.routing import route_views

BodySize = Literal["form", "upload", "request"]
_ATTRIBUTE = "__firebreak_body__"
F = TypeVar("F", bound=Callable[..., object])
MB = 1024 * 1024


def accepts(size: BodySize) -> Callable[[F], F]:
    """Mark a route's function with the body it takes: ``upload`` (one file of up to ``max_upload_bytes``, raw,
    multipart or base64 in JSON) or ``request`` (several files: up to the global ``max_request_bytes``).

    Put it under the route decorator, so that it runs first::

        @router.post("/scan")
        @accepts("upload")
        async def scan(...) -> ...: ...
    """

    def mark(function: F) -> F:
        setattr(function, _ATTRIBUTE, size)
        return function

    return mark


def body_size_of(route: Any) -> BodySize:
    """What the route takes (``form`` when it says nothing); ``route`` as ``core.http.routing.route_views`` gives."""
    endpoint = getattr(route, "endpoint", None)
    size: BodySize = getattr(endpoint, _ATTRIBUTE, "form")
    return size


@dataclass(frozen=True)
class BodyLimits:
    """Bytes a request body may have, by what the route takes."""

    form: int
    upload: int
    request: int

    @classmethod
    def of_settings(cls, settings: Settings) -> BodyLimits:
        request = settings.request_body_limit
        # One file as base64 inside JSON is 4/3 of its size; 1 MiB more for the envelope and multipart framing.
        upload = min(request, settings.max_upload_bytes * 4 // 3 + MB)
        return cls(form=min(settings.max_form_bytes, upload), upload=upload, request=request)

    def of(self, size: BodySize) -> int:
        return {"form": self.form, "upload": self.upload, "request": self.request}[size]


class Gate(Protocol):
    """Decides, from the headers alone, whether a request's body is worth reading: None if so, else the refusal."""

    def __call__(self, headers: Headers, path: str) -> Awaitable[Problem | None]: ...


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a body passes its limit; answered as a 413 problem (HTML on pages)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than this route accepts ({_size(limit)}). Send a "
                              "smaller file, or split the request.")
        self.limit = limit


def _size(n: int) -> str:
    return f"{n} bytes" if n < MB else f"{n / MB:.1f} MiB ({n} bytes)"


@dataclass(frozen=True)
class _CompiledRoute:
    pattern: re.Pattern[str]
    methods: frozenset[str] | None
    size: BodySize


def _content_length(headers: Headers) -> int | None:
    raw = headers.get("content-length")
    if raw is None:
        return None
    raw = raw.strip()
    return int(raw) if raw.isdigit() and len(raw) < 20 else None


class BodyGuard:
    """The middleware; see the module's docstring. ``routes`` gives the application's routes (read once, lazily)."""

    def __init__(self, app: ASGIApp, *, routes: Callable[[], Sequence[BaseRoute]], limits: BodyLimits,
                 gate: Gate | None = None, gated_prefixes: tuple[str, ...] = ()) -> None:
        self.app = app
        self._routes = routes
        self._compiled: list[_CompiledRoute] | None = None
        self.limits = limits
        self.gate = gate
        self.gated_prefixes = gated_prefixes

    def _table(self) -> list[_CompiledRoute]:
        if self._compiled is None:
            self._compiled = [
                _CompiledRoute(view.path_regex, frozenset(view.methods) if view.methods else None,
                               body_size_of(view))
                for view in route_views(self._routes()) if getattr(view, "path_regex", None) is not None]
        return self._compiled

    def limit_for(self, method: str, path: str) -> int:
        """The body limit of the route this request goes to (``form`` when none matches)."""
        for route in self._table():
            if route.pattern.match(path) and (route.methods is None or method in route.methods):
                return self.limits.of(route.size)
        return self.limits.form

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        length = _content_length(headers)
        has_body = (length is not None and length > 0) or "transfer-encoding" in headers or (
            length is None and "content-length" in headers)
        if not has_body:  # HTTP/1.1: no Content-Length and no Transfer-Encoding is no body
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if self.gate is not None and path.startswith(self.gated_prefixes):
            refusal = await self.gate(headers, path)
            if refusal is not None:
                await self._refuse(scope, receive, send, refusal)
                return
        if "content-length" in headers and length is None:
            await self._refuse(scope, receive, send, Problem(
                400, "Bad request", "The Content-Length header is not a number of bytes."))
            return
        limit = self.limit_for(scope["method"], path)
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            # Refused on the route's first read, so that pages can answer in HTML; nothing has been read yet.
            if length is not None and length > limit:
                raise BodyTooLarge(limit)
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge as exc:  # read outside a route's error handling (a middleware, a mounted app)
            if started:
                raise
            await self._refuse(scope, receive, send, Problem(413, "Payload too large", str(exc.detail)))

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, problem: Problem) -> None:
        response = problem_response(problem.status, problem.title, problem.detail, instance=scope["path"],
                                    errors=problem.errors, headers=problem.headers)
        # The body is left unread; the server discards what the client still sends.
        await response(scope, receive, send)


__all__ = ["BodyGuard", "BodyLimits", "BodySize", "BodyTooLarge", "Gate", "accepts", "body_size_of"]
