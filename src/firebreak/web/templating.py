"""Server-rendered pages: ``render`` for every domain's pages, on the one environment of ``core.templates``.

``render(request, "orders/list.html", {...})`` finds ``src/firebreak/orders/templates/list.html``; the shared layout
(``base.html``) and pages of ``web`` itself live in ``web/templates``.

Every page gets ``viewer`` (who is logged in, or None), ``csrf_token`` and ``csrf_field()`` for forms, ``blur()``
for sensitive media, ``static_url()``, and ``product``. Pages are sent with ``Cache-Control: no-store`` (they show
case material) and a strict Content-Security-Policy: scripts and styles come from ``/static/`` only.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from firebreak.core.http.headers import PAGE_HEADERS
from firebreak.core.templates import BLUR_CLASS, PRODUCT, blur, build_environment, static_url
from firebreak.web import session as web_session

TEMPLATE_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"

# The same headers reach every HTML response through core.http.headers.SecurityHeaders; render sets them itself
# so that a page is safe even in an application built without that middleware (tests, embedding).
SECURITY_HEADERS = dict(PAGE_HEADERS)

env = build_environment(TEMPLATE_DIR)


def render(request: Request, name: str, context: Mapping[str, Any] | None = None, *, status_code: int = 200,
           headers: Mapping[str, str] | None = None) -> HTMLResponse:
    """Render a page with the shared context, security headers and the pending session cookie."""
    token = web_session.csrf_token(request)
    values: dict[str, Any] = {
        "request": request,
        "viewer": getattr(request.state, "viewer", None),
        "csrf_token": token,
        "csrf_field": lambda: Markup('<input type="hidden" name="csrf_token" value="{}">').format(token),
        **(context or {}),
    }
    html = env.get_template(name).render(values)
    response = HTMLResponse(html, status_code=status_code, headers={**SECURITY_HEADERS, **(headers or {})})
    web_session.apply_cookie(request, response)
    return response


__all__ = ["BLUR_CLASS", "PRODUCT", "SECURITY_HEADERS", "blur", "env", "render", "static_url"]
