"""The translation catalogs: every text marked for translation is in every catalog, and Korean is complete."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from firebreak.core import i18n

ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def _extracted() -> set[str]:
    with (ROOT / "babel.cfg").open() as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    found: set[str] = set()
    for _, _, message, _, _ in extract_from_dir(str(ROOT), method_map, options_map):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


def _catalog(language: str) -> Catalog:
    with (i18n.LOCALES_DIR / language / "LC_MESSAGES" / "firebreak.po").open("rb") as fh:
        return read_po(fh, locale=language)


def test_every_marked_text_is_in_every_catalog() -> None:
    texts = _extracted()
    assert len(texts) > 150  # the extraction found the templates and the code
    for language in ("ko", "en"):
        catalog = _catalog(language)
        missing = sorted(t for t in texts if t not in catalog)
        assert missing == [], f"{language}: not in the catalog (run `make catalogs` and translate): {missing[:10]}"


def test_korean_is_complete_and_keeps_every_placeholder() -> None:
    catalog = _catalog("ko")
    problems = []
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(strings):
            problems.append(f"untranslated or fuzzy: {ids[0]!r}")
            continue
        wanted = set(PLACEHOLDER.findall(ids[0]))
        if any(set(PLACEHOLDER.findall(s)) != wanted for s in strings):
            problems.append(f"placeholders differ: {ids[0]!r}")
    assert problems == []


def test_the_reader_gets_korean_text_and_korean_time() -> None:
    t = i18n.translator("ko-KR", "Asia/Seoul")
    assert t.language == "ko" and t.gettext("Tracking ID") == "추적 번호"
    assert t.datetime(datetime(2026, 3, 2, 14, 0, tzinfo=UTC)) == "2026-03-02 23:00:00 KST (2026-03-02 14:00:00 UTC)"
    assert i18n.translator("fr").gettext("Tracking ID") == "Tracking ID"  # no French catalog: English
    assert i18n.translator("en", "UTC").datetime(datetime(2026, 3, 2, 14, 0, tzinfo=UTC)) == "2026-03-02 14:00:00 UTC"


def test_browser_language_negotiation() -> None:
    assert i18n.negotiate("ko-KR,ko;q=0.9,en-US;q=0.8") == "ko"
    assert i18n.negotiate("fr-FR,fr;q=0.9,ko;q=0.5") == "ko"
    assert i18n.negotiate("de, fr;q=0.5") == "en"
    assert i18n.negotiate(None) == "en" and i18n.negotiate("en;q=garbage,,;") == "en"
    assert i18n.country_zone("KR") == "Asia/Seoul" and i18n.country_zone("US") is None
