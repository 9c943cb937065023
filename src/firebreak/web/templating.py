"""Server-rendered pages: one Jinja2 environment, one ``render`` for every domain.

``render(request, "orders/list.html", {...})`` finds ``src/firebreak/orders/templates/list.html``: a template name
that starts with a domain package's name is looked up in that package's ``templates/`` folder, so each domain keeps
its own pages; the shared layout (``base.html``) and pages of ``web`` itself live in ``web/templates``.

Every page gets ``viewer`` (who is logged in, or None), ``csrf_token`` and ``csrf_field()`` for forms, ``blur()``
for sensitive media, ``static_url()``, and ``product``. Pages are sent with ``Cache-Control: no-store`` (they show
case material) and a strict Content-Security-Policy: scripts and styles come from ``/static/`` only.
"""

from __future__ import annotations

import importlib.util
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateNotFound,
    select_autoescape,
)
from markupsafe import Markup

from firebreak import __version__
from firebreak.web import session as web_session

PRODUCT = "Firebreak"
TEMPLATE_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
BLUR_CLASS = "fb-blur"

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


class _DomainLoader(BaseLoader):
    """``<domain>/<name>`` from ``firebreak/<domain>/templates/<name>``."""

    def __init__(self) -> None:
        self._loaders: dict[str, FileSystemLoader | None] = {}

    def _loader(self, domain: str) -> FileSystemLoader | None:
        if domain not in self._loaders:
            spec = importlib.util.find_spec(f"firebreak.{domain}")
            dirs = [Path(p) / "templates" for p in (spec.submodule_search_locations or []) if spec] if spec else []
            self._loaders[domain] = FileSystemLoader([d for d in dirs if d.is_dir()]) if dirs else None
        return self._loaders[domain]

    def get_source(self, environment: Environment, template: str) -> tuple[str, str | None, Callable[[], bool] | None]:
        domain, sep, rest = template.partition("/")
        if not sep or not domain.isidentifier() or not domain.islower():
            raise TemplateNotFound(template)
        try:
            loader = self._loader(domain)
        except ImportError:
            loader = None
        if loader is None:
            raise TemplateNotFound(template)
        return loader.get_source(environment, rest)


def static_url(name: str) -> str:
    return f"/static/{name}?v={__version__}"


def blur(src: str, alt: str = "", *, media: Literal["image", "video"] = "image",
         label: str = "Show sensitive media") -> Markup:
    """Sensitive media, blurred until the viewer chooses to see it (a checkbox: works without script, by keyboard,
    and says its state to screen readers)."""
    ident = f"fb-blur-{secrets.token_hex(4)}"
    if media == "video":
        element = Markup('<video src="{}" controls preload="none" aria-label="{}"></video>').format(src, alt)
    else:
        element = Markup('<img src="{}" alt="{}" loading="lazy" decoding="async" referrerpolicy="no-referrer">').format(
            src, alt)
    return Markup(
        '<figure class="{cls}"><input type="checkbox" class="{cls}__toggle" id="{id}">'
        '<label class="{cls}__label" for="{id}"><span class="{cls}__show">{label}</span>'
        '<span class="{cls}__hide">Hide again</span></label>{element}</figure>'
    ).format(cls=BLUR_CLASS, id=ident, label=label, element=element)


def duration(seconds: int | float) -> str:
    """A deadline for people: "1 hour", "48 hours", "7 days", "90 minutes". Up to two days it counts hours, as
    the laws that set these deadlines do."""
    total = int(seconds)
    if total % 86400 == 0 and total > 2 * 86400:
        count, unit = total // 86400, "day"
    elif total % 3600 == 0 and total > 0:
        count, unit = total // 3600, "hour"
    elif total % 60 == 0 and total > 0:
        count, unit = total // 60, "minute"
    else:
        count, unit = total, "second"
    return f"{count} {unit}{'s' if count != 1 else ''}"


def _make_env() -> Environment:
    env = Environment(
        loader=ChoiceLoader([FileSystemLoader(TEMPLATE_DIR), _DomainLoader()]),
        autoescape=select_autoescape(["html", "htm", "xml"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(product=PRODUCT, static_url=static_url, blur=blur, version=__version__)
    env.filters["duration"] = duration
    return env


env = _make_env()


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


__all__ = ["BLUR_CLASS", "PRODUCT", "blur", "env", "render", "static_url"]
