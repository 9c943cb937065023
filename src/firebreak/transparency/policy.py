"""The policy: the grounds on which Firebreak restricts content, accounts and chats (a TOML file).

A :class:`Ground` says what a decision relies on: a law (``basis = "illegal"``) or a clause of the terms of service
(``"terms"``), the taxonomy category that gives its DSA statement category and keywords, the words the affected user
reads, the default action of a bank of its category, and the severity that orders the review queue. The built-in
file is ``policy.toml`` next to this module; ``FIREBREAK_POLICY_FILE`` points at another. Every problem is a
:class:`PolicyError` naming the ground and the field.

The words a notice shows the user (``summary``, ``legal_ground``) are translated through the catalogs like every other
sentence of it: :func:`extract_words` hands the built-in file's to ``make catalogs`` (babel.cfg). A ground of another
file is shown as written where the catalogs do not know it.
"""

from __future__ import annotations

import tomllib
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any, Literal

from firebreak.authorities.taxonomy import CATEGORIES
from firebreak.transparency.dsa import KEYWORDS, IllegalContentGround, TermsGround

BUILT_IN = Path(__file__).with_name("policy.toml")
ACTIONS = ("block", "remove", "review")
_FIELDS = {"name", "label", "basis", "category", "legal_ground", "explanation", "summary", "keywords",
           "default_action", "severity", "default_for", "reference_url"}
USER_FACING = ("summary", "legal_ground")  # what a notice shows the user: translated by the catalogs


class PolicyError(Exception):
    """The policy file is wrong; the message names the ground and the field."""


@dataclass(frozen=True)
class Ground:
    name: str  # storage key
    label: str  # for staff
    basis: Literal["illegal", "terms"]
    category: str  # authorities/taxonomy.py
    legal_ground: str  # the law, or the clause of the terms
    explanation: str  # why content under this ground is restricted (statement of reasons)
    summary: str  # what the user reads: "an intimate image of a person shared without their consent"
    keywords: tuple[str, ...] = ()
    default_action: str = "review"
    severity: int = 50
    reference_url: str | None = None

    @property
    def illegal(self) -> bool:
        return self.basis == "illegal"

    def statement_ground(self, legal_ground: str | None = None) -> IllegalContentGround | TermsGround:
        """The ground as the statement builder takes it; an order's own legal basis replaces the file's."""
        if self.illegal:
            return IllegalContentGround(legal_ground=(legal_ground or self.legal_ground)[:500],
                                        explanation=self.explanation)
        return TermsGround(ground=self.legal_ground, explanation=self.explanation, also_illegal=False,
                           reference_url=self.reference_url)


class Policy:
    """The grounds, by name, and the default ground of each taxonomy category."""

    def __init__(self, grounds: list[Ground], defaults: Mapping[str, str]) -> None:
        self.grounds: Mapping[str, Ground] = MappingProxyType({g.name: g for g in grounds})
        self._defaults = dict(defaults)

    def get(self, name: str) -> Ground:
        try:
            return self.grounds[name]
        except KeyError:
            raise PolicyError(f"no policy ground named {name!r}; known: {', '.join(self.grounds)}") from None

    def for_category(self, category: str | None) -> Ground:
        """The ground used when only a category is known (an order's, a bank's); 'other' when unknown."""
        name = self._defaults.get(category or "") or self._defaults.get("other")
        if name is None:
            raise PolicyError(f"the policy has no default ground for category {category!r} nor for 'other'")
        return self.grounds[name]

    def choices(self) -> list[Ground]:
        return sorted(self.grounds.values(), key=lambda g: (-g.severity, g.label))


def _ground(raw: Mapping[str, Any], index: int) -> tuple[Ground, bool]:
    where = f"ground {raw.get('name') or index + 1}"
    unknown = sorted(set(raw) - _FIELDS)
    if unknown:
        raise PolicyError(f"{where}: unknown field {unknown[0]!r}")

    def text(field: str, *, required: bool = True, limit: int = 500) -> str:
        value = raw.get(field)
        if value is None and not required:
            return ""
        if not isinstance(value, str) or not value.strip():
            raise PolicyError(f"{where}: {field} must be a non-empty string")
        if len(value) > limit:
            raise PolicyError(f"{where}: {field} is {len(value)} characters, at most {limit}")
        return value.strip()

    name = text("name", limit=80)
    if not name.replace("_", "").replace("-", "").isalnum() or not name.islower():
        raise PolicyError(f"{where}: name must be lower-case letters, digits, '_' or '-'")
    basis = text("basis")
    if basis not in ("illegal", "terms"):
        raise PolicyError(f"{where}: basis must be 'illegal' or 'terms', not {basis!r}")
    category = text("category")
    if category not in CATEGORIES:
        raise PolicyError(f"{where}: category {category!r} is not one of {', '.join(CATEGORIES)}")
    keywords = raw.get("keywords", [])
    if not isinstance(keywords, list) or any(k not in KEYWORDS for k in keywords):
        raise PolicyError(f"{where}: keywords must be DSA KEYWORD_* values")
    action = raw.get("default_action", "review")
    if action not in ACTIONS:
        raise PolicyError(f"{where}: default_action must be one of {', '.join(ACTIONS)}")
    severity = raw.get("severity", 50)
    if not isinstance(severity, int) or isinstance(severity, bool) or not 0 <= severity <= 100:
        raise PolicyError(f"{where}: severity must be a whole number from 0 to 100")
    default_for = raw.get("default_for", False)
    if not isinstance(default_for, bool):
        raise PolicyError(f"{where}: default_for must be true or false")
    url = text("reference_url", required=False) or None
    if url is not None and not url.startswith(("https://", "http://")):
        raise PolicyError(f"{where}: reference_url must be an http(s) URL")
    return Ground(name=name, label=text("label", limit=200), basis="illegal" if basis == "illegal" else "terms",
                  category=category, legal_ground=text("legal_ground"), explanation=text("explanation", limit=2000),
                  summary=text("summary", limit=300), keywords=tuple(keywords), default_action=action,
                  severity=severity, reference_url=url), default_for


def parse_policy(data: Mapping[str, Any]) -> Policy:
    raw = data.get("ground")
    if not isinstance(raw, list) or not raw:
        raise PolicyError("the policy needs at least one [[ground]]")
    grounds: list[Ground] = []
    defaults: dict[str, str] = {}
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise PolicyError(f"ground {index + 1}: must be a table")
        ground, default_for = _ground(item, index)
        if any(g.name == ground.name for g in grounds):
            raise PolicyError(f"ground {ground.name}: defined twice")
        if default_for:
            if ground.category in defaults:
                raise PolicyError(f"ground {ground.name}: category {ground.category} already has the default ground "
                                  f"{defaults[ground.category]}")
            defaults[ground.category] = ground.name
        grounds.append(ground)
    if "other" not in defaults:
        raise PolicyError("the policy needs a default ground for category 'other' (default_for = true)")
    return Policy(grounds, defaults)


def load_policy(path: Path | None = None) -> Policy:
    """The policy from ``path`` (the built-in file when None). Raises PolicyError naming what is wrong."""
    source = path or BUILT_IN
    try:
        with source.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise PolicyError(f"policy file {source}: not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"policy file {source}: not valid TOML ({exc})") from None
    try:
        return parse_policy(data)
    except PolicyError as exc:
        raise PolicyError(f"policy file {source}: {exc}") from None


def extract_words(fileobj: IO[bytes], keywords: Mapping[str, Any], comment_tags: Collection[str],
                  options: Mapping[str, Any]) -> Iterator[tuple[int, str | None, str, list[str]]]:
    """A Babel extractor (``[extractors]`` in babel.cfg): the words of a policy file that notices show the user."""
    data = tomllib.load(fileobj)
    for ground in data.get("ground", []):
        for field in USER_FACING:
            text = ground.get(field) if isinstance(ground, dict) else None
            if isinstance(text, str) and text.strip():
                yield 0, None, text, [f"policy ground {ground.get('name')}: {field}"]
