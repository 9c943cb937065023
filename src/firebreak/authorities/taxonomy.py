"""The categories of illegal content that orders name, and how each maps to a DSA statement of reasons.

One taxonomy for the whole system: authorities set deadlines per category, orders carry a category, and the
transparency export turns it into the DSA Transparency Database fields (schema v2, see
``shared/reference/dsa-statement-of-reasons.md``): ``category``, ``category_specification`` (keywords) and, for
synthetic media, an extra ``content_type``. Category names are storage keys: never rename one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from firebreak.core.i18n import N_


@dataclass(frozen=True)
class Category:
    name: str  # storage key, e.g. "ncii"
    label: str  # for people (English; translated where shown)
    statement_category: str  # DSA STATEMENT_CATEGORY_*
    keywords: tuple[str, ...]  # DSA KEYWORD_* for category_specification; the first is the main one
    content_types: tuple[str, ...] = ()  # DSA CONTENT_TYPE_* always added (e.g. synthetic media)
    note: str = ""


# The DSA values this taxonomy may use (schema v2). Values refused since 1 July 2025 are absent on purpose.
STATEMENT_CATEGORIES: frozenset[str] = frozenset({
    "STATEMENT_CATEGORY_ANIMAL_WELFARE", "STATEMENT_CATEGORY_CONSUMER_INFORMATION",
    "STATEMENT_CATEGORY_CYBER_VIOLENCE", "STATEMENT_CATEGORY_CYBER_VIOLENCE_AGAINST_WOMEN",
    "STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS", "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
    "STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS",
    "STATEMENT_CATEGORY_NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS", "STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE",
    "STATEMENT_CATEGORY_OTHER_VIOLATION_TC", "STATEMENT_CATEGORY_PROTECTION_OF_MINORS",
    "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY", "STATEMENT_CATEGORY_SCAMS_AND_FRAUD", "STATEMENT_CATEGORY_SELF_HARM",
    "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS", "STATEMENT_CATEGORY_VIOLENCE",
})

# The keywords this taxonomy uses, all taken from the schema v2 list.
KEYWORDS: frozenset[str] = frozenset({
    "KEYWORD_TERRORIST_CONTENT", "KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL", "KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL_DEEPFAKE",
    "KEYWORD_NON_CONSENSUAL_MATERIAL_DEEPFAKE", "KEYWORD_NON_CONSENSUAL_IMAGE_SHARING", "KEYWORD_HATE_SPEECH",
    "KEYWORD_INCITEMENT_VIOLENCE_HATRED", "KEYWORD_VIOLATION_NATIONAL_LAW", "KEYWORD_VIOLATION_EU_LAW",
})

CATEGORIES: Mapping[str, Category] = MappingProxyType({
    c.name: c for c in (
        Category(
            "terrorist_content", N_("Terrorist content"), "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY",
            ("KEYWORD_TERRORIST_CONTENT",),
            note="EU TCO Regulation 2021/784: removal within one hour of a removal order.",
        ),
        Category(
            "csam", N_("Child sexual abuse material"), "STATEMENT_CATEGORY_PROTECTION_OF_MINORS",
            ("KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL",),
            note="A generated or manipulated image of a minor uses KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL_DEEPFAKE.",
        ),
        Category(
            "sexual_deepfake", N_("Sexual deepfake of a real person"), "STATEMENT_CATEGORY_CYBER_VIOLENCE",
            ("KEYWORD_NON_CONSENSUAL_MATERIAL_DEEPFAKE",), ("CONTENT_TYPE_SYNTHETIC_MEDIA",),
            note="Of an adult; of a minor it is csam. The ..._AGAINST_WOMEN variants exist where that is known.",
        ),
        Category(
            "ncii", N_("Non-consensual intimate imagery"), "STATEMENT_CATEGORY_CYBER_VIOLENCE",
            ("KEYWORD_NON_CONSENSUAL_IMAGE_SHARING",),
            note="US TAKE IT DOWN Act: removal within 48 hours of a valid request.",
        ),
        Category(
            "hate_speech", N_("Illegal hate speech"), "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
            ("KEYWORD_HATE_SPEECH",),
            note="Incitement to violence or hatred may add KEYWORD_INCITEMENT_VIOLENCE_HATRED.",
        ),
        Category(
            "other", N_("Other illegal content"), "STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE", (),
            note="The order names its legal ground; the statement's illegal_content_legal_ground carries it.",
        ),
    )
})


def get_category(name: str) -> Category:
    try:
        return CATEGORIES[name]
    except KeyError:
        raise KeyError(f"unknown category {name!r}; known: {', '.join(CATEGORIES)}") from None

