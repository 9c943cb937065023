"""Security headers on every HTML page, whoever rendered it.

Pages show case material, so every HTML response gets ``PAGE_HEADERS``: a Content-Security-Policy that allows scripts
and styles from this site only (no inline code, no frames), ``X-Frame-Options: DENY``, ``Cache-Control: no-store``,
``Referrer-Policy: same-origin`` and ``nosniff``. ``SecurityHeaders`` adds them to any ``text/html`` response that did
not set them itself (a route may send a stricter or different policy: its own headers win); every other response gets
``nosniff``. The API documentation (``/docs``) is Swagger UI started from a file of this site, so it runs under the
same policy.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# A self-contained document (a transparency report to publish) carries its own small stylesheet: no script at all,
# nothing loaded from anywhere. A route sends it in place of PAGE_CSP.
DOCUMENT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; frame-ancestors 'none'"
PAGE_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": PAGE_CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


class SecurityHeaders:
    """ASGI middleware: ``PAGE_HEADERS`` on HTML responses that lack them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if headers.get("content-type", "").lower().startswith("text/html"):
                    for name, value in PAGE_HEADERS.items():
                        if name not in headers:
                            headers[name] = value
                elif "x-content-type-options" not in headers:
                    headers["X-Content-Type-Options"] = "nosniff"
            await send(message)

        await self.app(scope, receive, with_headers)


__all__ = ["DOCUMENT_CSP", "PAGE_CSP", "PAGE_HEADERS", "SecurityHeaders"]
