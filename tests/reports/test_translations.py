"""Every text of the victims' pages and mails is in the Korean catalog: translated, not fuzzy, same placeholders."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

import firebreak
from firebreak.core.i18n import translator

ROOT = Path(firebreak.__file__).parent
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|\{(\w+)\}")


def victim_texts() -> set[str]:
    found: set[str] = set()
    keywords = {**DEFAULT_KEYWORDS, "N_": None}
    method_map = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
    options = {"**/templates/**.html": {"trimmed": "true", "extensions": "jinja2.ext.i18n"}}
    for where in (ROOT / "reports", ROOT / "core"):
        for _file, _line, message, _comments, _context in extract_from_dir(where, method_map, options,
                                                                            keywords=keywords):
            found.add(message if isinstance(message, str) else message[0])
    return found


def placeholders(text: str) -> set[str]:
    return {a or b for a, b in PLACEHOLDER.findall(text)}


def test_every_victim_text_is_translated_into_korean() -> None:
    texts = victim_texts()
    assert len(texts) > 150
    with (ROOT / "locales" / "ko" / "LC_MESSAGES" / "firebreak.po").open("rb") as fh:
        catalog = read_po(fh, locale="ko")
    problems = []
    for text in sorted(texts):
        message = catalog.get(text)
        if message is None:
            problems.append(f"missing: {text!r}")
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(strings):
            problems.append(f"untranslated or fuzzy: {text!r}")
        for string in strings:
            if placeholders(string) != placeholders(text):
                problems.append(f"placeholders differ: {text!r} -> {string!r}")
    assert problems == []


def test_the_layer_translates_and_falls_back_to_english() -> None:
    assert translator("ko-KR").gettext("Case %(case)s", case="VR-2026-7K3Q9X") == "접수 번호 VR-2026-7K3Q9X"
    assert translator("ko").ngettext("%(num)d hour", "%(num)d hours", 24) == "24시간"
    assert translator("fr").gettext("Case %(case)s", case="X") == "Case X"
    assert translator(None).ngettext("%(num)d hour", "%(num)d hours", 1) == "1 hour"
