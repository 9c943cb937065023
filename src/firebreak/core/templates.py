"""Templates: one Jinja2 environment for every page, mail and printable document.

``<domain>/<name>`` is looked up in that domain package's ``templates/`` folder (``firebreak.orders`` or, for an
integration, ``firebreak.integrations.sandbox``), so each keeps its own pages; a name without a domain is looked up in
the shared folder given to :func:`build_environment` (the layout). Autoescaping is on for HTML and strings, undefined
names are errors, and every template gets ``product``, ``version``, ``static_url()`` and ``blur()``. Texts are
translated per render (``jinja2.ext.i18n``: ``{% trans %}`` and ``_()``) into the context's ``lang``, and the
``datetime`` filter shows a time in the context's ``tz`` beside UTC (``core.i18n``).
"""

from __future__ import annotations

import importlib.util
import secrets
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Literal

from babel.support import NullTranslations
from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateNotFound,
    pass_context,
    select_autoescape,
)
from jinja2.runtime import Context
from markupsafe import Markup

from firebreak import __version__
from firebreak.core.i18n import DEFAULT_LANGUAGE, format_datetime, languages, translator

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


def _lang(context: Context) -> str:
    return str(context.get("lang") or DEFAULT_LANGUAGE)


def _translations(context: Context) -> NullTranslations:
    return translator(_lang(context)).translations


@pass_context
def _gettext(context: Context, message: str) -> str:
    return _translations(context).gettext(message)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    return _translations(context).ngettext(singular, plural, n)


def duration(seconds: int | float, language: str = DEFAULT_LANGUAGE) -> str:
    """A deadline for people: "1 hour", "48 hours", "7 days", "90 minutes", in ``language``. Up to two days it
    counts hours, as the laws that set these deadlines do."""
    t = translator(language)
    total = int(seconds)
    if total % 86400 == 0 and total > 2 * 86400:
        return t.ngettext("%(num)d day", "%(num)d days", total // 86400)
    if total % 3600 == 0 and total > 0:
        return t.ngettext("%(num)d hour", "%(num)d hours", total // 3600)
    if total % 60 == 0 and total > 0:
        return t.ngettext("%(num)d minute", "%(num)d minutes", total // 60)
    return t.ngettext("%(num)d second", "%(num)d seconds", total)


@pass_context
def translate_filter(context: Context, message: str) -> str:
    """``{{ value | t }}``: translate a text held in a variable (a label marked with ``N_``)."""
    return _translations(context).gettext(message)


@pass_context
def duration_filter(context: Context, seconds: int | float) -> str:
    return duration(seconds, _lang(context))


@pass_context
def datetime_filter(context: Context, value: datetime | None) -> str:
    """``{{ order.received_at | datetime }}``: the reader's time zone (``tz`` in the context) beside UTC."""
    return format_datetime(value, _lang(context), context.get("tz"))


def build_environment(shared: Path) -> Environment:
    """The one Jinja2 environment: ``shared`` holds the layout; ``<domain>/<name>`` finds a domain's own pages."""
    env = Environment(
        loader=ChoiceLoader([FileSystemLoader(shared), _DomainLoader()]),
        autoescape=select_autoescape(["html", "htm", "xml"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    # Translations follow each render's ``lang`` (the reader's language), so one environment serves every reader.
    env.policies["ext.i18n.trimmed"] = True
    env.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(product=PRODUCT, static_url=static_url, blur=blur, version=__version__, languages=languages)
    env.filters["duration"] = duration_filter
    env.filters["datetime"] = datetime_filter
    env.filters["t"] = translate_filter
    return env


__all__ = ["BLUR_CLASS", "PRODUCT", "blur", "build_environment", "duration", "static_url"]
