"""What the authority reads, rendered in its language and time zone: mail texts and the printable receipt."""

from __future__ import annotations

from typing import Any

from firebreak.core.i18n import Translator
from firebreak.orders import labels
from firebreak.orders.schemas import Receipt
from firebreak.web.templating import env


def mail_text(name: str, reader: Translator, **context: Any) -> str:
    """A mail body from ``orders/templates/mail/<name>.txt`` for this reader."""
    text = env.get_template(f"orders/mail/{name}.txt").render(
        lang=reader.language, tz=reader.timezone, labels=labels.as_context(), **context)
    return text.rstrip() + "\n"


def receipt_html(receipt: Receipt, platform: str, reader: Translator | None = None) -> str:
    reader = reader or Translator()
    return env.get_template("orders/receipt.html").render(
        receipt=receipt, platform=platform, lang=reader.language, tz=reader.timezone, labels=labels.as_context())
