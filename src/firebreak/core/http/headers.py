"""Security headers on every HTML page, whoever rendered it.

Pages show case material, so every HTML response gets ``PAGE_HEADERS``: a Content-Security-Policy that allows scripts
and styles from this site only (no inline code, no frames), ``X-Frame-Options: DENY``, ``Cache-Control: no-store``,
``Referrer-Policy: same-origin`` and ``nosniff``. ``SecurityHeaders`` adds them to any ``text/html`` response that did
not set them itself (a route may send a stricter or different policy: its own headers win). The API documentation
pages (Swagger UI, ReDoc) run an inline start-up script, so they get ``DOCS_CSP`` instead; every other response gets
``nosniff``.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
PAGE_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": PAGE_CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
# Swagger UI and ReDoc start with an inline script and, unless served from this site, load from the jsDelivr CDN.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
    "font-src 'self' https://fonts.gstatic.com; "
    "worker-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


class SecurityHeaders:
    """ASGI middleware: ``PAGE_HEADERS`` on HTML responses that lack them (``DOCS_CSP`` on ``docs_paths``)."""

    def __init__(self, app: ASGIApp, *, docs_paths: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.docs_paths = docs_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = scope["path"] in self.docs_paths

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if headers.get("content-type", "").lower().startswith("text/html"):
                    for name, value in PAGE_HEADERS.items():
                        if name not in headers:
                            headers[name] = DOCS_CSP if docs and name == "Content-Security-Policy" else value
                elif "x-content-type-options" not in headers:
                    headers["X-Content-Type-Options"] = "nosniff"
            await send(message)

        await self.app(scope, receive, with_headers)


__all__ = ["DOCS_CSP", "PAGE_CSP", "PAGE_HEADERS", "SecurityHeaders"]
