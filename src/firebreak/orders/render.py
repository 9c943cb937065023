"""The printable receipt (HTML; print to PDF from the browser)."""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, select_autoescape

from firebreak.orders.schemas import Receipt

_env = Environment(loader=PackageLoader("firebreak.orders", "templates"), autoescape=select_autoescape(["html"]))


def receipt_html(receipt: Receipt, platform: str) -> str:
    return _env.get_template("receipt.html").render(receipt=receipt, platform=platform)
