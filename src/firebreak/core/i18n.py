"""Translations: one layer for every text an outsider reads (mails to authorities, the portal, the sandbox).

Catalogs are gettext ``.po`` files under ``firebreak/locales/<lang>/LC_MESSAGES/firebreak.po``, read with Babel when
first needed (no compiled ``.mo`` files to keep in step: the ``.po`` file is the one source). English is the source
language; adding a language is adding a catalog (``make catalogs LANG=xx``, then translate it). Strings are marked in
Python with ``gettext``/``ngettext`` on a :class:`Translator`, or with :func:`N_` where the text is data translated
later (category labels, statuses); in templates with ``{% trans %}`` and ``_()`` (``jinja2.ext.i18n``, new-style).

Dates are shown in the reader's time zone beside UTC (:func:`format_datetime`), so a Korean authority reads KST.
"""

from __future__ import annotations

import functools
import io
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.core import get_global
from babel.dates import format_datetime as babel_format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

DOMAIN = "firebreak"
DEFAULT_LANGUAGE = "en"
LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
LANGUAGE_COOKIE = "fb_lang"
_TAG = re.compile(r"^([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]{2,8})*$")


def N_(message: str) -> str:
    """Mark a text for translation where it is defined; it is translated where it is shown."""
    return message


class I18nError(Exception):
    """A catalog or time zone that cannot be used; the message names it."""


@functools.cache
def catalogs(directory: Path = LOCALES_DIR) -> dict[str, NullTranslations]:
    """Every catalog under ``directory``, by language, read once per process. English needs none."""
    found: dict[str, NullTranslations] = {DEFAULT_LANGUAGE: NullTranslations()}
    if not directory.is_dir():
        return found
    for po in sorted(directory.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        language = po.parent.parent.name
        try:
            with po.open("rb") as fh:
                catalog = read_po(fh, locale=language.replace("-", "_"), domain=DOMAIN)
        except Exception as exc:  # a broken catalog must name itself, not surface as a template error
            raise I18nError(f"catalog {po}: {exc}") from exc
        buffer = io.BytesIO()
        write_mo(buffer, catalog, use_fuzzy=False)  # fuzzy entries are not translations yet
        buffer.seek(0)
        found[language] = Translations(buffer, domain=DOMAIN)
    return found


def languages() -> list[str]:
    """The languages Firebreak speaks, English first."""
    return [DEFAULT_LANGUAGE, *sorted(k for k in catalogs() if k != DEFAULT_LANGUAGE)]


def supported(language: str | None) -> str | None:
    """The supported language for a tag (``ko-KR`` -> ``ko``), or None."""
    if not language:
        return None
    match = _TAG.match(language.strip())
    if match is None:
        return None
    available = catalogs()
    full = language.strip().replace("_", "-")
    if full in available:
        return full
    base = match[1].lower()
    return base if base in available else None


def negotiate(accept_language: str | None) -> str:
    """The best language for an ``Accept-Language`` header; English when nothing fits."""
    choices: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "").split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and quality > 0:
            choices.append((-quality, index, tag))
    for _, _, tag in sorted(choices):
        found = supported(tag)
        if found:
            return found
    return DEFAULT_LANGUAGE


def zone(name: str | None) -> tzinfo:
    """An IANA time zone (``Asia/Seoul``); UTC for none."""
    if not name or name == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise I18nError(f"{name!r} is not an IANA time zone such as Asia/Seoul or Europe/Berlin") from None


def country_zone(country: str | None) -> str | None:
    """The time zone of a country that has exactly one (``KR`` -> ``Asia/Seoul``); None for several or unknown."""
    zones: list[str] = get_global("territory_zones").get((country or "").upper(), [])
    return zones[0] if len(zones) == 1 else None


def format_datetime(when: datetime | None, locale: str = DEFAULT_LANGUAGE, tz: tzinfo | str | None = None) -> str:
    """``2026-03-02 23:00:00 KST (2026-03-02 14:00:00 UTC)``: the reader's time first, UTC beside it."""
    if when is None:
        return "—"
    if when.tzinfo is None:
        raise ValueError("a naive datetime cannot be shown: store UTC with tzinfo")
    where = zone(tz) if isinstance(tz, str) or tz is None else tz
    try:
        babel_locale = Locale.parse(locale.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        babel_locale = Locale.parse(DEFAULT_LANGUAGE)
    pattern = "yyyy-MM-dd HH:mm:ss"
    utc = babel_format_datetime(when, pattern, tzinfo=UTC, locale=babel_locale) + " UTC"
    if where is UTC or getattr(where, "key", "") in ("UTC", "Etc/UTC"):
        return utc
    local = when.astimezone(where)
    return f"{babel_format_datetime(local, pattern, tzinfo=where, locale=babel_locale)} {local.tzname()} ({utc})"


@dataclass(frozen=True)
class Translator:
    """Texts and dates for one reader: a language and a time zone."""

    language: str = DEFAULT_LANGUAGE
    timezone: str | None = None
    _translations: NullTranslations = field(default_factory=NullTranslations, repr=False, compare=False)

    def gettext(self, message: str, **variables: object) -> str:
        text = self._translations.gettext(message)
        return text % variables if variables else text

    def ngettext(self, singular: str, plural: str, n: int, **variables: object) -> str:
        text = self._translations.ngettext(singular, plural, n)
        return text % {"num": n, **variables}

    _ = gettext

    @property
    def translations(self) -> NullTranslations:
        return self._translations

    def datetime(self, when: datetime | None) -> str:
        return format_datetime(when, self.language, self.timezone)


def translator(language: str | None = None, timezone: str | None = None) -> Translator:
    """The translator for a reader; an unsupported language reads English, an unknown zone UTC."""
    chosen = supported(language) or DEFAULT_LANGUAGE
    try:
        zone(timezone)
    except I18nError:
        timezone = None
    return Translator(chosen, timezone, catalogs()[chosen])


__all__ = [
    "DEFAULT_LANGUAGE", "DOMAIN", "LANGUAGE_COOKIE", "LOCALES_DIR", "I18nError", "N_", "Translator", "catalogs",
    "country_zone", "format_datetime", "languages", "negotiate", "supported", "translator", "zone",
]
