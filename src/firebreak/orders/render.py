"""Order texts: mail bodies from text templates, and the printable receipt (HTML; print to PDF from the browser)."""

from __future__ import annotations

from typing import Any

from fastapi.responses import HTMLResponse

from firebreak.core.i18n import Translator
from firebreak.orders import labels
from firebreak.orders.schemas import Receipt
from firebreak.web.templating import SECURITY_HEADERS, env


def mail_text(name: str, reader: Translator, **context: Any) -> str:
    """A mail body from ``orders/templates/mail/<name>.txt`` for this reader."""
    text = env.get_template(f"orders/mail/{name}.txt").render(
        lang=reader.language, tz=reader.timezone, labels=labels.as_context(), **context)
    return text.rstrip() + "\n"


def receipt_html(receipt: Receipt, platform: str, reader: Translator | None = None) -> str:
    reader = reader or Translator()
    return env.get_template("orders/receipt.html").render(
        receipt=receipt, platform=platform, lang=reader.language, tz=reader.timezone, labels=labels.as_context())


def receipt_page(receipt: Receipt, platform: str, reader: Translator | None = None) -> HTMLResponse:
    """The receipt as a page: it is case material, so it goes with the pages' security headers (no caching, no
    framing, styles from /static/ only)."""
    return HTMLResponse(receipt_html(receipt, platform, reader), headers=SECURITY_HEADERS)
