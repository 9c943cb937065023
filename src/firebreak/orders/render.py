"""The printable receipt (HTML; print to PDF from the browser)."""

from __future__ import annotations

from firebreak.orders.schemas import Receipt
from firebreak.web.templating import env


def receipt_html(receipt: Receipt, platform: str) -> str:
    return env.get_template("orders/receipt.html").render(receipt=receipt, platform=platform)
