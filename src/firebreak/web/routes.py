"""The browser side's own routes: the landing page, the API docs (served offline), static files, login and logout,
the console home page.

Include ``router`` in the app once; it carries the login routes of ``web.auth``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Annotated

from fastapi import Request, Response
from fastapi.responses import HTMLResponse

from firebreak.auth.models import Role
from firebreak.core.config import Settings
from firebreak.core.http.deps import Provide
from firebreak.web import auth
from firebreak.web.deps import StaffViewer, web_router
from firebreak.web.templating import STATIC_DIR, render

router = web_router(tags=["web"])
router.include_router(auth.router)

_STATIC_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*\.(css|js|svg|ico|woff2)$")
_MEDIA_TYPES = {"css": "text/css", "js": "text/javascript", "svg": "image/svg+xml", "ico": "image/x-icon",
                "woff2": "font/woff2"}


@dataclass(frozen=True)
class Section:
    title: str
    href: str
    description: str
    roles: tuple[Role, ...]  # who sees the link


CONSOLE_SECTIONS: tuple[Section, ...] = (
    Section("Orders", "/console/orders", "Takedown orders from authorities: their items, deadlines and receipts.",
            (Role.ADMIN, Role.LIAISON, Role.AUDITOR)),
    Section("Review", "/console/review", "The moderation queue, with previews blurred until you choose.",
            (Role.ADMIN, Role.MODERATOR, Role.LIAISON)),
    Section("Banks", "/console/banks", "Banks of known items and the hashes that find every copy.",
            (Role.ADMIN, Role.MODERATOR, Role.LIAISON, Role.AUDITOR)),
    Section("Audit", "/console/audit", "The hash-chained audit log and its check.", (Role.ADMIN, Role.AUDITOR)),
    Section("Outbox", "/console/outbox", "Mail Firebreak would send, kept here while no mail server is configured.",
            (Role.ADMIN, Role.LIAISON)),
)


@router.get("/static/{name}", response_class=Response)
def static(name: str) -> Response:
    match = _STATIC_NAME.match(name)
    path = STATIC_DIR / name
    if match is None or not path.is_file():
        return Response("Not found", status_code=404, media_type="text/plain")
    return Response(path.read_bytes(), media_type=_MEDIA_TYPES[match[1]],
                    headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"})


@router.get("/", response_class=HTMLResponse)
def landing(request: Request, settings: Annotated[Settings, Provide(Settings)]) -> HTMLResponse:
    """Where a newcomer starts: what this Firebreak serves, with a link to each part."""
    return render(request, "landing.html", {"sandbox": settings.sandbox_enabled,
                                            "outbox": not settings.outgoing_smtp_host,
                                            "hotline": settings.hotline_address})


# Swagger UI's own files, served from the fastapi-offline package: /docs works offline and under the strict CSP.
_SWAGGER_FILES = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css", "favicon.png": "image/png"}


@router.get("/docs", response_class=HTMLResponse, include_in_schema=False)
def api_docs(request: Request) -> HTMLResponse:
    return render(request, "api_docs.html")


@router.get("/static/swagger/{name}", response_class=Response, include_in_schema=False)
def swagger_file(name: str) -> Response:
    if name not in _SWAGGER_FILES:
        return Response("Not found", status_code=404, media_type="text/plain")
    body = resources.files("fastapi_offline").joinpath("static", name).read_bytes()
    return Response(body, media_type=_SWAGGER_FILES[name],
                    headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"})


@router.get("/console", response_class=HTMLResponse)
def console_home(request: Request, viewer: StaffViewer) -> HTMLResponse:
    sections = [s for s in CONSOLE_SECTIONS if viewer.has_role(*s.roles)]
    return render(request, "console_home.html", {"sections": sections})
