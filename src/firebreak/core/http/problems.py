"""Errors as RFC 9457 problem details. Never a stack trace, never an HTML 500."""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError, StatementError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    """A domain error the client can act on."""

    def __init__(
        self, status: int, title: str, detail: str | None = None, *, type_: str = "about:blank",
        errors: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type_
        self.errors = errors
        self.headers = headers


def problem_response(
    status: int, title: str, detail: str | None = None, *, instance: str | None = None, type_: str = "about:blank",
    errors: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"type": type_, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"}:
        parts = parts[1:] or parts
    return ".".join(parts)


def conflicting_column(exc: IntegrityError) -> str | None:
    """The column of a violated unique constraint, as SQLite and PostgreSQL name it in their messages."""
    message = str(exc.orig)
    for pattern in (r"UNIQUE constraint failed: \w+\.(\w+)", r"Key \((\w+)(?:, \w+)*\)="):
        if found := re.search(pattern, message):
            return found[1].removesuffix("_key")
    return None


def _value_problem(request: Request) -> JSONResponse:
    return problem_response(422, "Invalid request", "A number or value is outside what can be stored (integers are "
                            "limited to 64 bits).", instance=request.url.path)


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(
            exc.status, exc.title, exc.detail, instance=request.url.path, type_=exc.type, errors=exc.errors,
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": _field_path(e.get("loc", ())), "message": e.get("msg", "invalid")} for e in exc.errors()]
        fields = ", ".join(sorted({e["field"] for e in errors if e["field"]})) or "request"
        return problem_response(
            422, "Invalid request", f"Check these fields: {fields}", instance=request.url.path, errors=errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else None
        title = {400: "Bad request", 401: "Not authenticated", 403: "Forbidden", 404: "Not found",
                 405: "Method not allowed", 409: "Conflict", 413: "Payload too large", 415: "Unsupported media type",
                 429: "Too many requests"}.get(exc.status_code, "Error")
        return problem_response(
            exc.status_code, title, detail, instance=request.url.path, headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(IntegrityError)
    async def _conflict(request: Request, exc: IntegrityError) -> JSONResponse:
        # A unique value taken between the route's own check and the write (or a check that missed it). Services
        # refuse duplicates with their own words first; this is the net under them, never a 500.
        log.warning("integrity error on %s %s: %s", request.method, request.url.path, str(exc.orig)[:300])
        field = conflicting_column(exc)
        return problem_response(
            409, "Conflict", f"This conflicts with an existing record{f' ({field} is already taken)' if field else ''}"
            ": nothing was changed. Reload, and choose another value.", instance=request.url.path,
            errors=[{"field": field, "message": "already taken"}] if field else None)

    @app.exception_handler(DataError)
    async def _out_of_range(request: Request, exc: DataError) -> JSONResponse:
        log.warning("data error on %s %s: %s", request.method, request.url.path, str(exc.orig)[:300])
        return _value_problem(request)

    @app.exception_handler(StatementError)
    async def _statement(request: Request, exc: StatementError) -> JSONResponse:
        # SQLite's driver refuses an integer beyond 64 bits before the statement runs.
        if isinstance(exc.orig, OverflowError):
            return _value_problem(request)
        return _internal_error(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return _internal_error(request, exc)


def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(
        500, "Internal error", "The error was logged; nothing you sent was lost if you got an acknowledgement "
        "before. Please retry later.", instance=request.url.path,
    )
