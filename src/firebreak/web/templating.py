"""Server-rendered pages: ``render`` for every domain's pages, on the one environment of ``core.templates``.

``render(request, "orders/list.html", {...})`` finds ``src/firebreak/orders/templates/list.html``; the shared layout
(``base.html``) and pages of ``web`` itself live in ``web/templates``.

Every page gets ``viewer`` (who is logged in, or None), ``csrf_token`` and ``csrf_field()`` for forms, ``blur()``
for sensitive media, ``static_url()``, and ``product``. Pages are sent with ``Cache-Control: no-store`` (they show
case material) and a strict Content-Security-Policy: scripts and styles come from ``/static/`` only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from babel import Locale
from fastapi import Request, Response
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from firebreak.core import i18n
from firebreak.core.templates import BLUR_CLASS, PRODUCT, blur, build_environment, static_url
from firebreak.web import session as web_session

TEMPLATE_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

env = build_environment(TEMPLATE_DIR)


@dataclass(frozen=True)
class PageLanguage:
    """The language a page is shown in, why, and the links that switch it."""

    code: str
    chosen: bool  # picked with ?lang= on this request: remembered in a cookie
    links: list[dict[str, str]]


def page_language(request: Request, preferred: str | None = None) -> PageLanguage:
    """?lang= (the switch), then the remembered choice, then ``preferred`` (an authority's language for its
    portal), then the browser's Accept-Language; English when none is supported."""
    asked = i18n.supported(request.query_params.get("lang"))
    code = (asked or i18n.supported(request.cookies.get(i18n.LANGUAGE_COOKIE)) or i18n.supported(preferred)
            or i18n.negotiate(request.headers.get("accept-language")))
    links = []
    for language in i18n.languages():
        query = urlencode([*[(k, v) for k, v in request.query_params.multi_items() if k != "lang"],
                           ("lang", language)])
        links.append({"code": language, "name": Locale.parse(language.replace("-", "_")).get_display_name(language)
                      or language, "href": f"{request.url.path}?{query}", "current": "1" if language == code else ""})
    return PageLanguage(code, asked is not None, links)


def remember_language(response: Response, language: PageLanguage) -> None:
    if language.chosen:
        response.set_cookie(i18n.LANGUAGE_COOKIE, language.code, max_age=365 * 86400, httponly=True,
                            samesite="lax", path="/")


def render(request: Request, name: str, context: Mapping[str, Any] | None = None, *, status_code: int = 200,
           headers: Mapping[str, str] | None = None) -> HTMLResponse:
    """Render a page with the shared context, security headers and the pending session cookie."""
    token = web_session.csrf_token(request)
    viewer = getattr(request.state, "viewer", None)
    language = page_language(request, getattr(viewer, "language", None))
    values: dict[str, Any] = {
        "request": request,
        "viewer": viewer,
        "csrf_token": token,
        "csrf_field": lambda: Markup('<input type="hidden" name="csrf_token" value="{}">').format(token),
        "lang": language.code,
        "tz": getattr(viewer, "timezone", None),
        "language_links": language.links,
        **(context or {}),
    }
    html = env.get_template(name).render(values)
    response = HTMLResponse(html, status_code=status_code, headers={**SECURITY_HEADERS, **(headers or {})})
    remember_language(response, language)
    web_session.apply_cookie(request, response)
    return response


__all__ = ["BLUR_CLASS", "PRODUCT", "SECURITY_HEADERS", "PageLanguage", "blur", "env", "page_language",
           "remember_language", "render", "static_url"]
