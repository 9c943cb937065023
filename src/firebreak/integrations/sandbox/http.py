"""HTTP plumbing shared by the JSON API and the web view: refusals as statuses, uploads, served files."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import Response, UploadFile

from firebreak.core.http.problems import Problem
from firebreak.integrations.sandbox import service

UPLOAD_BLOCKED = "urn:firebreak:sandbox:upload-blocked"

_STATUS: list[tuple[type[Exception], int]] = [
    (service.InvalidInput, 422), (service.UploadRefused, 422), (service.UnknownUser, 401), (service.NotFound, 404),
    (service.Forbidden, 403), (service.Conflict, 409), (service.MediaGone, 410), (service.ScanUnavailable, 503),
]
_TITLE = {422: "Invalid request", 401: "Who are you?", 404: "Not found", 403: "Forbidden", 409: "Conflict",
          410: "Gone", 503: "Try again later"}


def status_of(exc: Exception) -> int:
    return next((code for kind, code in _STATUS if isinstance(exc, kind)), 500)


@contextmanager
def problems() -> Iterator[None]:
    """Sandbox refusals as problem details; the message is written for the person who asked."""
    try:
        yield
    except service.InvalidInput as exc:
        raise Problem(422, "Invalid request", f"Check this field: {exc.field}: {exc}",
                      errors=[{"field": exc.field, "message": str(exc)}]) from None
    except service.UploadRefused as exc:
        raise Problem(422, "Upload refused", exc.reason, type_=UPLOAD_BLOCKED,
                      errors=[{"field": "file", "message": exc.reason}]) from None
    except service.UnknownUser as exc:
        raise Problem(401, "Who are you?", f"{exc}: name yourself with 'X-Sandbox-User: <handle>'.",
                      errors=[{"field": "X-Sandbox-User", "message": "unknown user"}]) from None
    except service.SandboxError as exc:
        status = status_of(exc)
        raise Problem(status, _TITLE.get(status, "Error"), str(exc)) from None


def read_upload(file: UploadFile | None, limit: int) -> service.Upload | None:
    """The uploaded file, or None when the form had no file (browsers send an empty, unnamed part)."""
    if file is None or (not file.filename and not file.size):
        return None
    data = file.file.read(limit + 1)
    if len(data) > limit:
        raise service.InvalidInput("file", f"the file is larger than {limit} bytes")
    if not data:
        raise service.InvalidInput("file", "the file is empty")
    return service.Upload(data=data, filename=file.filename, mime_type=file.content_type)


def media_response(data: bytes, mime: str) -> Response:
    # no-store: a file taken down must not live on in a browser cache.
    return Response(content=data, media_type=mime, headers={
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox", "Content-Disposition": "inline"})
