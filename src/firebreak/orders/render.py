"""The printable receipt (HTML; print to PDF from the browser)."""

from __future__ import annotations

from fastapi.responses import HTMLResponse

from firebreak.orders.schemas import Receipt
from firebreak.web.templating import SECURITY_HEADERS, env


def receipt_html(receipt: Receipt, platform: str) -> str:
    return env.get_template("orders/receipt.html").render(receipt=receipt, platform=platform)


def receipt_page(receipt: Receipt, platform: str) -> HTMLResponse:
    """The receipt as a page: it is case material, so it goes with the pages' security headers (no caching, no
    framing, styles from /static/ only)."""
    return HTMLResponse(receipt_html(receipt, platform), headers=SECURITY_HEADERS)
