"""Templates: one Jinja2 environment for every page, mail and printable document.

``<domain>/<name>`` is looked up in that domain package's ``templates/`` folder (``firebreak.orders`` or, for an
integration, ``firebreak.integrations.sandbox``), so each keeps its own pages; a name without a domain is looked up in
the shared folder given to :func:`build_environment` (the layout). Autoescaping is on for HTML and strings, undefined
names are errors, and every template gets ``product``, ``version``, ``static_url()`` and ``blur()``.
"""

from __future__ import annotations

import importlib.util
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Literal

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

PRODUCT = "Firebreak"
BLUR_CLASS = "fb-blur"


class _DomainLoader(BaseLoader):
    """``<domain>/<name>`` from ``firebreak/<domain>/templates/<name>`` (or ``firebreak/integrations/<domain>/...``)."""

    def __init__(self) -> None:
        self._loaders: dict[str, FileSystemLoader | None] = {}

    def _loader(self, domain: str) -> FileSystemLoader | None:
        if domain not in self._loaders:
            dirs: list[Path] = []
            for package in (f"firebreak.{domain}", f"firebreak.integrations.{domain}"):
                spec = importlib.util.find_spec(package)
                if spec is not None:
                    dirs += [Path(p) / "templates" for p in (spec.submodule_search_locations or [])]
            found = [d for d in dirs if d.is_dir()]
            self._loaders[domain] = FileSystemLoader(found) if found else None
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


def build_environment(shared: Path) -> Environment:
    """The one Jinja2 environment: ``shared`` holds the layout; ``<domain>/<name>`` finds a domain's own pages."""
    env = Environment(
        loader=ChoiceLoader([FileSystemLoader(shared), _DomainLoader()]),
        autoescape=select_autoescape(["html", "htm", "xml"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(product=PRODUCT, static_url=static_url, blur=blur, version=__version__)
    env.filters["duration"] = duration
    return env


__all__ = ["BLUR_CLASS", "PRODUCT", "blur", "build_environment", "duration", "static_url"]
