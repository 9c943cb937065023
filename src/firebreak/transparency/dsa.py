"""Statements of reasons in the DSA Transparency Database's schema v2: values, validation, building, export.

Every field name, rule and allowed value here is that of the database's schema v2 (in force since 1 July 2025,
summarised in ``shared/reference/dsa-statement-of-reasons.md``). :func:`validate_statement` checks each rule of the
field table and names the field and the rule it breaks; :func:`build_statement` turns Firebreak's own facts about a
restrictive action into a statement that passes it; :func:`export_jsonl` writes statements as JSON lines.

A statement holds no personal data: no user ids, names, chat titles, e-mail addresses, links or message text. The
builder takes none of them as fields; the free text it is given is scrubbed, and the validator refuses a statement
that still carries an e-mail address. docs/transparency.md has the mapping and the puid rule.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, Literal, TextIO
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, field_validator

from firebreak.authorities.taxonomy import get_category


class DecisionVisibility(StrEnum):
    CONTENT_REMOVED = "DECISION_VISIBILITY_CONTENT_REMOVED"
    CONTENT_DISABLED = "DECISION_VISIBILITY_CONTENT_DISABLED"
    CONTENT_DEMOTED = "DECISION_VISIBILITY_CONTENT_DEMOTED"
    CONTENT_AGE_RESTRICTED = "DECISION_VISIBILITY_CONTENT_AGE_RESTRICTED"
    CONTENT_INTERACTION_RESTRICTED = "DECISION_VISIBILITY_CONTENT_INTERACTION_RESTRICTED"
    CONTENT_LABELLED = "DECISION_VISIBILITY_CONTENT_LABELLED"
    OTHER = "DECISION_VISIBILITY_OTHER"


class DecisionMonetary(StrEnum):
    SUSPENSION = "DECISION_MONETARY_SUSPENSION"
    TERMINATION = "DECISION_MONETARY_TERMINATION"
    OTHER = "DECISION_MONETARY_OTHER"


class DecisionProvision(StrEnum):
    PARTIAL_SUSPENSION = "DECISION_PROVISION_PARTIAL_SUSPENSION"
    TOTAL_SUSPENSION = "DECISION_PROVISION_TOTAL_SUSPENSION"
    PARTIAL_TERMINATION = "DECISION_PROVISION_PARTIAL_TERMINATION"
    TOTAL_TERMINATION = "DECISION_PROVISION_TOTAL_TERMINATION"


class DecisionAccount(StrEnum):
    SUSPENDED = "DECISION_ACCOUNT_SUSPENDED"
    TERMINATED = "DECISION_ACCOUNT_TERMINATED"


class AccountType(StrEnum):
    BUSINESS = "ACCOUNT_TYPE_BUSINESS"
    PRIVATE = "ACCOUNT_TYPE_PRIVATE"


class DecisionGround(StrEnum):
    ILLEGAL_CONTENT = "DECISION_GROUND_ILLEGAL_CONTENT"
    INCOMPATIBLE_CONTENT = "DECISION_GROUND_INCOMPATIBLE_CONTENT"


class ContentType(StrEnum):
    APP = "CONTENT_TYPE_APP"
    AUDIO = "CONTENT_TYPE_AUDIO"
    IMAGE = "CONTENT_TYPE_IMAGE"
    PRODUCT = "CONTENT_TYPE_PRODUCT"
    SYNTHETIC_MEDIA = "CONTENT_TYPE_SYNTHETIC_MEDIA"
    TEXT = "CONTENT_TYPE_TEXT"
    VIDEO = "CONTENT_TYPE_VIDEO"
    OTHER = "CONTENT_TYPE_OTHER"


class StatementCategory(StrEnum):
    ANIMAL_WELFARE = "STATEMENT_CATEGORY_ANIMAL_WELFARE"
    CONSUMER_INFORMATION = "STATEMENT_CATEGORY_CONSUMER_INFORMATION"
    CYBER_VIOLENCE = "STATEMENT_CATEGORY_CYBER_VIOLENCE"
    CYBER_VIOLENCE_AGAINST_WOMEN = "STATEMENT_CATEGORY_CYBER_VIOLENCE_AGAINST_WOMEN"
    DATA_PROTECTION_AND_PRIVACY_VIOLATIONS = "STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS"
    ILLEGAL_OR_HARMFUL_SPEECH = "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH"
    INTELLECTUAL_PROPERTY_INFRINGEMENTS = "STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS"
    NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS = (
        "STATEMENT_CATEGORY_NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS")
    NOT_SPECIFIED_NOTICE = "STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE"
    OTHER_VIOLATION_TC = "STATEMENT_CATEGORY_OTHER_VIOLATION_TC"
    PROTECTION_OF_MINORS = "STATEMENT_CATEGORY_PROTECTION_OF_MINORS"
    RISK_FOR_PUBLIC_SECURITY = "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY"
    SCAMS_AND_FRAUD = "STATEMENT_CATEGORY_SCAMS_AND_FRAUD"
    SELF_HARM = "STATEMENT_CATEGORY_SELF_HARM"
    UNSAFE_AND_PROHIBITED_PRODUCTS = "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS"
    VIOLENCE = "STATEMENT_CATEGORY_VIOLENCE"


class Keyword(StrEnum):
    ADULT_SEXUAL_MATERIAL = "KEYWORD_ADULT_SEXUAL_MATERIAL"
    AGE_SPECIFIC_RESTRICTIONS = "KEYWORD_AGE_SPECIFIC_RESTRICTIONS"
    AGE_SPECIFIC_RESTRICTIONS_MINORS = "KEYWORD_AGE_SPECIFIC_RESTRICTIONS_MINORS"
    ANIMAL_HARM = "KEYWORD_ANIMAL_HARM"
    BIOMETRIC_DATA_BREACH = "KEYWORD_BIOMETRIC_DATA_BREACH"
    BULLYING_AGAINST_GIRLS = "KEYWORD_BULLYING_AGAINST_GIRLS"
    CHILD_SEXUAL_ABUSE_MATERIAL = "KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL"
    CHILD_SEXUAL_ABUSE_MATERIAL_DEEPFAKE = "KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL_DEEPFAKE"
    CONTENT_PROMOTING_EATING_DISORDERS = "KEYWORD_CONTENT_PROMOTING_EATING_DISORDERS"
    COORDINATED_HARM = "KEYWORD_COORDINATED_HARM"
    COPYRIGHT_INFRINGEMENT = "KEYWORD_COPYRIGHT_INFRINGEMENT"
    CYBER_BULLYING_INTIMIDATION = "KEYWORD_CYBER_BULLYING_INTIMIDATION"
    CYBER_HARASSMENT = "KEYWORD_CYBER_HARASSMENT"
    CYBER_HARASSMENT_AGAINST_WOMEN = "KEYWORD_CYBER_HARASSMENT_AGAINST_WOMEN"
    CYBER_INCITEMENT = "KEYWORD_CYBER_INCITEMENT"
    CYBER_STALKING = "KEYWORD_CYBER_STALKING"
    CYBER_STALKING_AGAINST_WOMEN = "KEYWORD_CYBER_STALKING_AGAINST_WOMEN"
    DATA_FALSIFICATION = "KEYWORD_DATA_FALSIFICATION"
    DEFAMATION = "KEYWORD_DEFAMATION"
    DESIGN_INFRINGEMENT = "KEYWORD_DESIGN_INFRINGEMENT"
    DISCRIMINATION = "KEYWORD_DISCRIMINATION"
    FEMALE_GENDERED_DISINFORMATION = "KEYWORD_FEMALE_GENDERED_DISINFORMATION"
    GEOGRAPHIC_INDICATIONS_INFRINGEMENT = "KEYWORD_GEOGRAPHIC_INDICATIONS_INFRINGEMENT"
    GEOGRAPHICAL_REQUIREMENTS = "KEYWORD_GEOGRAPHICAL_REQUIREMENTS"
    GOODS_SERVICES_NOT_PERMITTED = "KEYWORD_GOODS_SERVICES_NOT_PERMITTED"
    GROOMING_SEXUAL_ENTICEMENT_MINORS = "KEYWORD_GROOMING_SEXUAL_ENTICEMENT_MINORS"
    HATE_SPEECH = "KEYWORD_HATE_SPEECH"
    HIDDEN_ADVERTISEMENT = "KEYWORD_HIDDEN_ADVERTISEMENT"
    HUMAN_EXPLOITATION = "KEYWORD_HUMAN_EXPLOITATION"
    HUMAN_TRAFFICKING = "KEYWORD_HUMAN_TRAFFICKING"
    ILLEGAL_ORGANIZATIONS = "KEYWORD_ILLEGAL_ORGANIZATIONS"
    IMPERSONATION_ACCOUNT_HIJACKING = "KEYWORD_IMPERSONATION_ACCOUNT_HIJACKING"
    INAUTHENTIC_ACCOUNTS = "KEYWORD_INAUTHENTIC_ACCOUNTS"
    INAUTHENTIC_LISTINGS = "KEYWORD_INAUTHENTIC_LISTINGS"
    INAUTHENTIC_USER_REVIEWS = "KEYWORD_INAUTHENTIC_USER_REVIEWS"
    INCITEMENT_AGAINST_WOMEN = "KEYWORD_INCITEMENT_AGAINST_WOMEN"
    INCITEMENT_VIOLENCE_HATRED = "KEYWORD_INCITEMENT_VIOLENCE_HATRED"
    INSUFFICIENT_INFORMATION_ON_TRADERS = "KEYWORD_INSUFFICIENT_INFORMATION_ON_TRADERS"
    LANGUAGE_REQUIREMENTS = "KEYWORD_LANGUAGE_REQUIREMENTS"
    MISINFORMATION_DISINFORMATION = "KEYWORD_MISINFORMATION_DISINFORMATION"
    MISLEADING_INFO_CONSUMER_RIGHTS = "KEYWORD_MISLEADING_INFO_CONSUMER_RIGHTS"
    MISLEADING_INFO_GOODS_SERVICES = "KEYWORD_MISLEADING_INFO_GOODS_SERVICES"
    MISSING_PROCESSING_GROUND = "KEYWORD_MISSING_PROCESSING_GROUND"
    NON_CONSENSUAL_IMAGE_SHARING = "KEYWORD_NON_CONSENSUAL_IMAGE_SHARING"
    NON_CONSENSUAL_IMAGE_SHARING_AGAINST_WOMEN = "KEYWORD_NON_CONSENSUAL_IMAGE_SHARING_AGAINST_WOMEN"
    NON_CONSENSUAL_MATERIAL_DEEPFAKE = "KEYWORD_NON_CONSENSUAL_MATERIAL_DEEPFAKE"
    NON_CONSENSUAL_MATERIAL_DEEPFAKE_AGAINST_WOMEN = "KEYWORD_NON_CONSENSUAL_MATERIAL_DEEPFAKE_AGAINST_WOMEN"
    NONCOMPLIANCE_PRICING = "KEYWORD_NONCOMPLIANCE_PRICING"
    NUDITY = "KEYWORD_NUDITY"
    PATENT_INFRINGEMENT = "KEYWORD_PATENT_INFRINGEMENT"
    PHISHING = "KEYWORD_PHISHING"
    PROHIBITED_PRODUCTS = "KEYWORD_PROHIBITED_PRODUCTS"
    PYRAMID_SCHEMES = "KEYWORD_PYRAMID_SCHEMES"
    RIGHT_TO_BE_FORGOTTEN = "KEYWORD_RIGHT_TO_BE_FORGOTTEN"
    RISK_ENVIRONMENTAL_DAMAGE = "KEYWORD_RISK_ENVIRONMENTAL_DAMAGE"
    RISK_PUBLIC_HEALTH = "KEYWORD_RISK_PUBLIC_HEALTH"
    SELF_MUTILATION = "KEYWORD_SELF_MUTILATION"
    STALKING = "KEYWORD_STALKING"
    SUICIDE = "KEYWORD_SUICIDE"
    TERRORIST_CONTENT = "KEYWORD_TERRORIST_CONTENT"
    TRADE_SECRET_INFRINGEMENT = "KEYWORD_TRADE_SECRET_INFRINGEMENT"  # noqa: S105 (a category, not a secret)
    TRADEMARK_INFRINGEMENT = "KEYWORD_TRADEMARK_INFRINGEMENT"
    TRAFFICKING_WOMEN_GIRLS = "KEYWORD_TRAFFICKING_WOMEN_GIRLS"
    UNLAWFUL_SALE_ANIMALS = "KEYWORD_UNLAWFUL_SALE_ANIMALS"
    UNSAFE_CHALLENGES = "KEYWORD_UNSAFE_CHALLENGES"
    UNSAFE_PRODUCTS = "KEYWORD_UNSAFE_PRODUCTS"
    VIOLATION_EU_LAW = "KEYWORD_VIOLATION_EU_LAW"
    VIOLATION_NATIONAL_LAW = "KEYWORD_VIOLATION_NATIONAL_LAW"
    OTHER = "KEYWORD_OTHER"


class SourceType(StrEnum):
    ARTICLE_16 = "SOURCE_ARTICLE_16"  # a notice under Art. 16 DSA (anyone, often a person)
    TRUSTED_FLAGGER = "SOURCE_TRUSTED_FLAGGER"
    OTHER_NOTIFICATION = "SOURCE_TYPE_OTHER_NOTIFICATION"  # includes notifications and orders from authorities
    VOLUNTARY = "SOURCE_VOLUNTARY"  # the provider's own initiative


class AutomatedDecision(StrEnum):
    FULLY = "AUTOMATED_DECISION_FULLY"
    PARTIALLY = "AUTOMATED_DECISION_PARTIALLY"
    NOT_AUTOMATED = "AUTOMATED_DECISION_NOT_AUTOMATED"


YesNo = Literal["Yes", "No"]

DECISION_VISIBILITIES: frozenset[str] = frozenset(DecisionVisibility)
DECISION_MONETARIES: frozenset[str] = frozenset(DecisionMonetary)
DECISION_PROVISIONS: frozenset[str] = frozenset(DecisionProvision)
DECISION_ACCOUNTS: frozenset[str] = frozenset(DecisionAccount)
ACCOUNT_TYPES: frozenset[str] = frozenset(AccountType)
DECISION_GROUNDS: frozenset[str] = frozenset(DecisionGround)
INCOMPATIBLE_CONTENT_ILLEGALS: frozenset[str] = frozenset({"Yes", "No"})
CONTENT_TYPES: frozenset[str] = frozenset(ContentType)
STATEMENT_CATEGORIES: frozenset[str] = frozenset(StatementCategory)
KEYWORDS: frozenset[str] = frozenset(Keyword)
SOURCE_TYPES: frozenset[str] = frozenset(SourceType)
AUTOMATED_DETECTIONS: frozenset[str] = frozenset({"Yes", "No"})
AUTOMATED_DECISIONS: frozenset[str] = frozenset(AutomatedDecision)

# Schema v1 values the database refuses since 1 July 2025: named apart so the error says why.
REFUSED_V1_VALUES: frozenset[str] = frozenset({
    "STATEMENT_CATEGORY_NON_CONSENSUAL_BEHAVIOUR", "STATEMENT_CATEGORY_PORNOGRAPHY_OR_SEXUALIZED_CONTENT",
    "STATEMENT_CATEGORY_SCOPE_OF_PLATFORM_SERVICE", "STATEMENT_CATEGORY_UNSAFE_AND_ILLEGAL_PRODUCTS",
    "KEYWORD_IMAGE_BASED_SEXUAL_ABUSE", "KEYWORD_NON_CONSENSUAL_ITEMS_DEEPFAKE",
})

# territorial_scope: the 27 EU member states and the three other EEA states, ISO 3166-1 alpha-2 (Greece is GR).
EU_COUNTRIES: frozenset[str] = frozenset(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split())
EEA_COUNTRIES: frozenset[str] = EU_COUNTRIES | {"IS", "LI", "NO"}

# content_language: the 183 ISO 639-1 codes, written upper case in a statement.
ISO_639_1: frozenset[str] = frozenset(code.upper() for code in (
    "aa ab ae af ak am an ar as av ay az ba be bg bi bm bn bo br bs ca ce ch co cr cs cu cv cy da de dv dz ee el en "
    "eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia id ie ig ii ik io is it iu ja "
    "jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb "
    "nd ne ng nl nn no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq "
    "sr ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh zu"
).split())

END_DATE_FIELDS = ("end_date_account_restriction", "end_date_monetary_restriction", "end_date_service_restriction",
                   "end_date_visibility_restriction")
DECISION_FIELDS = ("decision_visibility", "decision_monetary", "decision_provision", "decision_account")
REQUIRED_FIELDS = ("decision_ground", "content_type", "category", "content_date", "application_date",
                   "decision_facts", "source_type", "automated_detection", "automated_decision", "puid")
ARRAY_FIELDS = ("decision_visibility", "content_type", "category_addition", "category_specification",
                "territorial_scope")
OBJECT_FIELDS = ("content_id",)
STRING_FIELDS = (
    "decision_visibility_other", "decision_monetary", "decision_monetary_other", "decision_provision",
    "decision_account", "account_type", "decision_ground", "decision_ground_reference_url",
    "illegal_content_legal_ground", "illegal_content_explanation", "incompatible_content_ground",
    "incompatible_content_explanation", "incompatible_content_illegal", "content_type_other", "category",
    "category_specification_other", "content_language", "content_date", "application_date", *END_DATE_FIELDS,
    "decision_facts", "source_type", "source_identity", "automated_detection", "automated_decision", "puid")
SCHEMA_FIELDS: frozenset[str] = frozenset((*ARRAY_FIELDS, *OBJECT_FIELDS, *STRING_FIELDS))

MAX_LENGTHS: Mapping[str, int] = {
    "decision_visibility_other": 500, "decision_monetary_other": 500, "decision_ground_reference_url": 500,
    "illegal_content_legal_ground": 500, "illegal_content_explanation": 2000, "incompatible_content_ground": 500,
    "incompatible_content_explanation": 2000, "content_type_other": 500, "category_specification_other": 500,
    "decision_facts": 5000, "source_identity": 500, "puid": 500,
}
_ONE_OF: Mapping[str, frozenset[str]] = {
    "decision_visibility": DECISION_VISIBILITIES, "decision_monetary": DECISION_MONETARIES,
    "decision_provision": DECISION_PROVISIONS, "decision_account": DECISION_ACCOUNTS, "account_type": ACCOUNT_TYPES,
    "decision_ground": DECISION_GROUNDS, "incompatible_content_illegal": INCOMPATIBLE_CONTENT_ILLEGALS,
    "content_type": CONTENT_TYPES, "category": STATEMENT_CATEGORIES, "category_addition": STATEMENT_CATEGORIES,
    "category_specification": KEYWORDS, "source_type": SOURCE_TYPES, "automated_detection": AUTOMATED_DETECTIONS,
    "automated_decision": AUTOMATED_DECISIONS,
}
# (field holding the choice, the OTHER value, the free-text field it needs)
_OTHER_PAIRS = (
    ("decision_visibility", "DECISION_VISIBILITY_OTHER", "decision_visibility_other"),
    ("decision_monetary", "DECISION_MONETARY_OTHER", "decision_monetary_other"),
    ("content_type", "CONTENT_TYPE_OTHER", "content_type_other"),
    ("category_specification", "KEYWORD_OTHER", "category_specification_other"),
)
# (ground, the fields it requires, the fields only it may carry)
_GROUND_FIELDS = (
    ("DECISION_GROUND_ILLEGAL_CONTENT", ("illegal_content_legal_ground", "illegal_content_explanation"),
     ("illegal_content_legal_ground", "illegal_content_explanation")),
    ("DECISION_GROUND_INCOMPATIBLE_CONTENT", ("incompatible_content_ground", "incompatible_content_explanation"),
     ("incompatible_content_ground", "incompatible_content_explanation", "incompatible_content_illegal")),
)
_DATE_RANGES: Mapping[str, tuple[date | None, date]] = {
    "content_date": (date(2000, 1, 1), date(2038, 1, 1)),
    "application_date": (date(2020, 1, 1), date(2038, 1, 1)),
    **{name: (None, date(2038, 1, 1)) for name in END_DATE_FIELDS},
}
_PUID = re.compile(r"[a-zA-Z0-9_-]+")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")


class Rule(StrEnum):
    """The rule a field breaks, one per line of the field table (and the no-personal-data rule)."""

    UNKNOWN_FIELD = "unknown_field"
    TYPE = "type"
    REQUIRED = "required"
    ONE_DECISION = "one_decision_required"
    ALLOWED_VALUES = "allowed_values"
    REFUSED_V1 = "refused_v1_value"
    DUPLICATE = "duplicate_value"
    OTHER_TEXT_REQUIRED = "other_text_required"
    OTHER_TEXT_WITHOUT_OTHER = "other_text_without_other"
    REQUIRED_FOR_GROUND = "required_for_ground"
    ONLY_WITH_GROUND = "only_with_ground"
    MAX_LENGTH = "max_length"
    URL = "url"
    SYNTHETIC_ALONE = "synthetic_media_alone"
    COUNTRY = "country_code"
    UPPER_CASE = "upper_case"
    LANGUAGE = "language_code"
    DATE_FORMAT = "date_format"
    DATE_RANGE = "date_range"
    DATE_ORDER = "date_order"
    IGNORED_FOR_VOLUNTARY = "ignored_for_voluntary"
    PATTERN = "pattern"
    CONTENT_ID = "content_id"
    PERSONAL_DATA = "personal_data"


@dataclass(frozen=True)
class FieldError:
    field: str
    rule: Rule
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message} [{self.rule.value}]"


class StatementInvalid(ValueError):
    """A statement breaks the schema; ``errors`` names each field and rule."""

    def __init__(self, errors: list[FieldError], *, puid: object = None) -> None:
        self.errors = errors
        self.puid = puid
        super().__init__(f"statement {puid!r}: " + "; ".join(str(e) for e in errors))


def _blank(value: Any) -> bool:
    """Absent, null, empty or white space: the database treats all of these as not given."""
    return value is None or (isinstance(value, str) and not value.strip()) or (isinstance(value, list) and not value)


def validate_statement(doc: Mapping[str, Any]) -> list[FieldError]:
    """Every rule of the schema v2 field table this statement breaks (empty when the database would take it)."""
    errors: list[FieldError] = []

    def fail(name: str, rule: Rule, message: str) -> None:
        errors.append(FieldError(name, rule, message))

    if not isinstance(doc, Mapping):
        return [FieldError("statement", Rule.TYPE, "a statement is a JSON object")]
    for name in sorted(set(doc) - SCHEMA_FIELDS):
        fail(name, Rule.UNKNOWN_FIELD, "not a field of the schema v2 (unknown fields may carry personal data)")

    # Types first: a field of the wrong shape is reported once and left out of the checks below.
    given: dict[str, Any] = {}
    for name in SCHEMA_FIELDS & set(doc):
        value = doc[name]
        if value is None:
            continue
        if name in ARRAY_FIELDS and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            fail(name, Rule.TYPE, "must be an array of strings")
        elif name in OBJECT_FIELDS and not isinstance(value, dict):
            fail(name, Rule.TYPE, "must be an object")
        elif name in STRING_FIELDS and not isinstance(value, str):
            fail(name, Rule.TYPE, f"must be a string, not {type(value).__name__}")
        elif not _blank(value):
            given[name] = value
    typed_wrong = {e.field for e in errors if e.rule is Rule.TYPE}

    for name in REQUIRED_FIELDS:
        if name not in given and name not in typed_wrong:
            fail(name, Rule.REQUIRED, "is required")
    if not any(name in given or name in typed_wrong for name in DECISION_FIELDS):
        fail("decision_visibility", Rule.ONE_DECISION,
             "one of decision_visibility, decision_monetary, decision_provision, decision_account is required")

    for name, allowed in _ONE_OF.items():
        if name not in given:
            continue
        values = given[name] if name in ARRAY_FIELDS else [given[name]]
        for value in values:
            if value in REFUSED_V1_VALUES:
                fail(name, Rule.REFUSED_V1, f"{value!r} is a schema v1 value, refused since 1 July 2025")
            elif value not in allowed:
                fail(name, Rule.ALLOWED_VALUES, f"{value!r} is not an allowed value")
    for name in ARRAY_FIELDS:
        if name in given and len(set(given[name])) != len(given[name]):
            fail(name, Rule.DUPLICATE, "lists a value twice")

    for choice, other_value, text_field in _OTHER_PAIRS:
        chosen = given.get(choice)
        has_other = other_value in chosen if isinstance(chosen, list) else chosen == other_value
        if has_other and text_field not in given and text_field not in typed_wrong:
            fail(text_field, Rule.OTHER_TEXT_REQUIRED, f"is required when {choice} is {other_value}")
        elif not has_other and text_field in given:
            fail(text_field, Rule.OTHER_TEXT_WITHOUT_OTHER, f"is only given when {choice} is {other_value}")

    ground = given.get("decision_ground")
    for ground_value, needed, own in _GROUND_FIELDS:
        if ground == ground_value:
            for name in needed:
                if name not in given and name not in typed_wrong:
                    fail(name, Rule.REQUIRED_FOR_GROUND, f"is required when decision_ground is {ground_value}")
        elif ground in DECISION_GROUNDS:
            for name in own:
                if name in given:
                    fail(name, Rule.ONLY_WITH_GROUND, f"is only given when decision_ground is {ground_value}")

    for name, limit in MAX_LENGTHS.items():
        if name in given and len(given[name]) > limit:
            fail(name, Rule.MAX_LENGTH, f"is {len(given[name])} characters, at most {limit}")

    url = given.get("decision_ground_reference_url")
    if url is not None:
        parts = urlparse(url)
        if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in url):
            fail("decision_ground_reference_url", Rule.URL, "must be an http(s) URL")

    content_types = given.get("content_type", [])
    if "CONTENT_TYPE_SYNTHETIC_MEDIA" in content_types and len(set(content_types)) == 1:
        fail("content_type", Rule.SYNTHETIC_ALONE,
             "CONTENT_TYPE_SYNTHETIC_MEDIA goes with the medium it is (a deepfake image: IMAGE + SYNTHETIC_MEDIA)")

    for code in given.get("territorial_scope", []):
        if code not in EEA_COUNTRIES:
            hint = " (Greece is GR)" if code.upper() == "EL" else ""
            fail("territorial_scope", Rule.COUNTRY, f"{code!r} is not an EU/EEA ISO 3166 alpha-2 code{hint}")
    language = given.get("content_language")
    if language is not None and language not in ISO_639_1:
        if language.upper() in ISO_639_1:
            fail("content_language", Rule.UPPER_CASE, f"is written upper case: {language.upper()!r}")
        else:
            fail("content_language", Rule.LANGUAGE, f"{language!r} is not an ISO 639-1 code")

    days: dict[str, date] = {}
    for name, (earliest, latest) in _DATE_RANGES.items():
        if name not in given:
            continue
        try:
            if not _DAY.fullmatch(given[name]):
                raise ValueError
            day = date.fromisoformat(given[name])
        except ValueError:
            fail(name, Rule.DATE_FORMAT, f"{given[name]!r} is not a date YYYY-MM-DD")
            continue
        if (earliest is not None and day < earliest) or day > latest:
            fail(name, Rule.DATE_RANGE, f"must lie in {earliest or 'any time'} .. {latest}")
        else:
            days[name] = day
    if "content_date" in days and "application_date" in days and days["content_date"] > days["application_date"]:
        fail("content_date", Rule.DATE_ORDER, "content is posted before a decision on it is applied")

    if given.get("source_type") == "SOURCE_VOLUNTARY" and "source_identity" in given:
        fail("source_identity", Rule.IGNORED_FOR_VOLUNTARY, "is not given for SOURCE_VOLUNTARY (the database drops it)")

    puid = given.get("puid")
    if puid is not None and not _PUID.fullmatch(puid):
        fail("puid", Rule.PATTERN, "only letters, digits, '-' and '_'")

    content_id = given.get("content_id")
    if content_id is not None and not (
            set(content_id) == {"EAN-13"} and isinstance(content_id["EAN-13"], str)
            and re.fullmatch(r"\d{13}", content_id["EAN-13"])):
        fail("content_id", Rule.CONTENT_ID, 'must be {"EAN-13": "<13 digits>"}')

    for name in sorted(given):
        value = given[name]
        texts = value if isinstance(value, list) else [value] if isinstance(value, str) else []
        if any(_EMAIL.search(text) for text in texts):
            fail(name, Rule.PERSONAL_DATA, "carries an e-mail address; no personal data goes into a statement")
    return errors


class DsaStatement(BaseModel):
    """One statement of reasons, field for field as the database takes it. Build with :meth:`from_payload` or
    :func:`build_statement`, both of which validate every rule first."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    decision_visibility: list[DecisionVisibility] | None = None
    decision_visibility_other: str | None = None
    decision_monetary: DecisionMonetary | None = None
    decision_monetary_other: str | None = None
    decision_provision: DecisionProvision | None = None
    decision_account: DecisionAccount | None = None
    account_type: AccountType | None = None
    decision_ground: DecisionGround
    decision_ground_reference_url: str | None = None
    illegal_content_legal_ground: str | None = None
    illegal_content_explanation: str | None = None
    incompatible_content_ground: str | None = None
    incompatible_content_explanation: str | None = None
    incompatible_content_illegal: YesNo | None = None
    content_type: list[ContentType]
    content_type_other: str | None = None
    category: StatementCategory
    category_addition: list[StatementCategory] | None = None
    category_specification: list[Keyword] | None = None
    category_specification_other: str | None = None
    territorial_scope: list[str] | None = None
    content_language: str | None = None
    content_date: date
    application_date: date
    end_date_account_restriction: date | None = None
    end_date_monetary_restriction: date | None = None
    end_date_service_restriction: date | None = None
    end_date_visibility_restriction: date | None = None
    decision_facts: str
    source_type: SourceType
    source_identity: str | None = None
    automated_detection: YesNo
    automated_decision: AutomatedDecision
    puid: str
    content_id: dict[str, str] | None = None

    @field_validator(*END_DATE_FIELDS, mode="before")
    @classmethod
    def _blank_is_indefinite(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @classmethod
    def from_payload(cls, doc: Mapping[str, Any]) -> DsaStatement:
        errors = validate_statement(doc)
        if errors:
            raise StatementInvalid(errors, puid=doc.get("puid") if isinstance(doc, Mapping) else None)
        return cls.model_validate(dict(doc))

    def payload(self) -> dict[str, Any]:
        """The JSON object sent to the database: set fields only, enumerations as their strings."""
        return self.model_dump(mode="json", exclude_none=True)


# --- From Firebreak's facts to a statement ---------------------------------------------------------------------


class ActionKind(StrEnum):
    """The restrictive actions Firebreak takes; each gets one statement."""

    REMOVE_CONTENT = "remove_content"  # an ordered item or a copy of it
    REFUSE_UPLOAD = "refuse_upload"  # a file matching a bank entry, stopped before it was published
    RESTRICT_ACCOUNT = "restrict_account"
    SUSPEND_ACCOUNT = "suspend_account"
    SUSPEND_CHAT = "suspend_chat"


class SourceKind(StrEnum):
    AUTHORITY = "authority"  # an order or notification from a competent authority
    TRUSTED_FLAGGER = "trusted_flagger"
    NOTICE = "notice"  # a notice under Art. 16 DSA from anyone, e.g. a victim's report
    OWN_INITIATIVE = "own_initiative"


class Medium(StrEnum):
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    TEXT = "text"


@dataclass(frozen=True, kw_only=True)
class IllegalContentGround:
    legal_ground: str  # the law relied on, e.g. "Art. 5 Directive 2011/93/EU"
    explanation: str  # why the content is illegal under it


@dataclass(frozen=True, kw_only=True)
class TermsGround:
    ground: str  # the clause of the terms of service relied on
    explanation: str  # why the content breaks it
    also_illegal: bool | None = None
    reference_url: str | None = None  # where the terms are published


@dataclass(frozen=True, kw_only=True)
class StatementFacts:
    """What Firebreak knows about one restrictive action, without anything that names a person or a chat.

    ``personal`` holds identifying values the caller has at hand (user id, display name, chat title, e-mail,
    message text): they are never copied into the statement, only scrubbed from the free text given here.
    """

    puid: str
    action: ActionKind
    ground: IllegalContentGround | TermsGround
    category: str  # a Firebreak taxonomy name, e.g. "ncii" (authorities/taxonomy.py)
    media: tuple[Medium, ...]
    content_posted_at: datetime  # when the content was posted, not when the order came
    decided_at: datetime  # when the action was applied
    source: SourceKind
    automated_detection: bool
    automated_decision: AutomatedDecision
    synthetic: bool = False  # generated or manipulated media (a deepfake)
    source_name: str | None = None  # an authority or trusted flagger (organisations only)
    restriction_ends: datetime | None = None  # account and chat actions; None = indefinite
    territorial_scope: tuple[str, ...] | None = None
    language: str | None = None
    account_type: AccountType | None = None
    keywords: tuple[Keyword, ...] = ()  # added to the category's own
    facts: str = ""  # what else was relied on, in the operator's words
    personal: tuple[str, ...] = ()


_SOURCE_TYPES = {SourceKind.AUTHORITY: SourceType.OTHER_NOTIFICATION, SourceKind.TRUSTED_FLAGGER:
                 SourceType.TRUSTED_FLAGGER, SourceKind.NOTICE: SourceType.ARTICLE_16,
                 SourceKind.OWN_INITIATIVE: SourceType.VOLUNTARY}
_SOURCE_WORDS = {SourceKind.AUTHORITY: "an order or notification from a competent authority",
                 SourceKind.TRUSTED_FLAGGER: "a notice from a trusted flagger",
                 SourceKind.NOTICE: "a notice under Art. 16 DSA",
                 SourceKind.OWN_INITIATIVE: "the provider's own initiative"}
_CONTENT_TYPES = {Medium.IMAGE: ContentType.IMAGE, Medium.VIDEO: ContentType.VIDEO, Medium.AUDIO: ContentType.AUDIO,
                  Medium.TEXT: ContentType.TEXT}
_AUTOMATION_WORDS = {AutomatedDecision.FULLY: "taken by automated means",
                     AutomatedDecision.PARTIALLY: "prepared by automated means and confirmed by a person",
                     AutomatedDecision.NOT_AUTOMATED: "taken by a person"}
# Deepfake variants of a category's main keyword.
_DEEPFAKE_KEYWORDS = {Keyword.CHILD_SEXUAL_ABUSE_MATERIAL: Keyword.CHILD_SEXUAL_ABUSE_MATERIAL_DEEPFAKE,
                      Keyword.NON_CONSENSUAL_IMAGE_SHARING: Keyword.NON_CONSENSUAL_MATERIAL_DEEPFAKE}
_URL = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)
_HANDLE = re.compile(r"(?<![\w@])@[\w.-]{2,}")
_PHONE = re.compile(r"(?<![\w/])\+?\d(?:[ ().-]?\d){8,}(?![\w/])")


def scrub(text: str, personal: Iterable[str] = ()) -> str:
    """Free text with the given identifying values, e-mail addresses, links, @handles and phone numbers removed."""
    for value in sorted({p.strip() for p in personal if p and p.strip()}, key=len, reverse=True):
        text = re.sub(rf"(?<!\w){re.escape(value)}(?!\w)", "[removed]", text, flags=re.IGNORECASE)
    text = _EMAIL.sub("[e-mail removed]", text)
    text = _URL.sub("[link removed]", text)
    text = _HANDLE.sub("[handle removed]", text)
    return _PHONE.sub("[number removed]", text)


def _utc_day(when: datetime, what: str) -> str:
    if when.tzinfo is None:
        raise ValueError(f"{what} is a naive datetime; Firebreak keeps UTC with tzinfo")
    return when.astimezone(UTC).date().isoformat()


def _media_words(facts: StatementFacts) -> str:
    words = " and ".join(dict.fromkeys(m.value for m in facts.media)) or "content"
    return f"synthetic {words}" if facts.synthetic else words


def _describe(facts: StatementFacts, label: str) -> str:
    media = _media_words(facts)
    what = {
        ActionKind.REMOVE_CONTENT: f"The {media} was removed from the service",
        ActionKind.REFUSE_UPLOAD: f"An upload of the {media} was refused before it was published",
        ActionKind.RESTRICT_ACCOUNT: f"The account that shared the {media} was restricted",
        ActionKind.SUSPEND_ACCOUNT: f"The account that shared the {media} was suspended",
        ActionKind.SUSPEND_CHAT: f"The chat in which the {media} was shared was suspended",
    }[facts.action]
    detection = "detected by automated means" if facts.automated_detection else "identified by a person"
    parts = [f"{what}. Category: {label}. Source: {_SOURCE_WORDS[facts.source]}. The content was {detection}; the "
             f"decision was {_AUTOMATION_WORDS[facts.automated_decision]}."]
    if facts.facts.strip():
        parts.append(facts.facts.strip())
    return " ".join(parts)


def build_statement(*, facts: StatementFacts) -> DsaStatement:
    """The statement of reasons for one restrictive action. Raises StatementInvalid naming each field the facts
    leave wrong (an over-long explanation, a country outside the EEA, ...): never a half-filled statement."""
    category = get_category(facts.category)  # KeyError names the known categories

    def clean(text: str) -> str:
        return scrub(text, facts.personal)

    doc: dict[str, Any] = {
        "puid": facts.puid,
        "content_date": _utc_day(facts.content_posted_at, "content_posted_at"),
        "application_date": _utc_day(facts.decided_at, "decided_at"),
        "source_type": _SOURCE_TYPES[facts.source].value,
        "automated_detection": "Yes" if facts.automated_detection else "No",
        "automated_decision": AutomatedDecision(facts.automated_decision).value,
        "decision_facts": clean(_describe(facts, category.label)),
    }
    if facts.source in (SourceKind.AUTHORITY, SourceKind.TRUSTED_FLAGGER) and facts.source_name:
        # Organisations only: an Art. 16 notifier is often a person, so that source is never named.
        doc["source_identity"] = clean(facts.source_name)

    end = _utc_day(facts.restriction_ends, "restriction_ends") if facts.restriction_ends else None
    if end is not None and facts.action in (ActionKind.REMOVE_CONTENT, ActionKind.REFUSE_UPLOAD):
        raise ValueError(f"restriction_ends is for account and chat actions, not {facts.action.value}")
    if facts.action is ActionKind.REMOVE_CONTENT:
        doc["decision_visibility"] = [DecisionVisibility.CONTENT_REMOVED.value]
    elif facts.action is ActionKind.REFUSE_UPLOAD:
        # Nothing was published, so nothing was removed or disabled: the schema's OTHER says what happened.
        doc["decision_visibility"] = [DecisionVisibility.OTHER.value]
        doc["decision_visibility_other"] = "Upload refused before publication"
    elif facts.action is ActionKind.RESTRICT_ACCOUNT:
        doc["decision_provision"] = DecisionProvision.PARTIAL_SUSPENSION.value
        doc["end_date_service_restriction"] = end
    elif facts.action is ActionKind.SUSPEND_ACCOUNT:
        doc["decision_account"] = DecisionAccount.SUSPENDED.value
        doc["end_date_account_restriction"] = end
    else:  # a suspended chat: its content is out of reach and the service is withheld from it
        doc["decision_visibility"] = [DecisionVisibility.CONTENT_DISABLED.value]
        doc["decision_provision"] = DecisionProvision.PARTIAL_SUSPENSION.value
        doc["end_date_visibility_restriction"] = end
        doc["end_date_service_restriction"] = end
    if facts.account_type is not None:
        doc["account_type"] = AccountType(facts.account_type).value

    statement_category = category.statement_category
    if isinstance(facts.ground, IllegalContentGround):
        doc["decision_ground"] = DecisionGround.ILLEGAL_CONTENT.value
        doc["illegal_content_legal_ground"] = clean(facts.ground.legal_ground)
        doc["illegal_content_explanation"] = clean(facts.ground.explanation)
    else:
        doc["decision_ground"] = DecisionGround.INCOMPATIBLE_CONTENT.value
        doc["incompatible_content_ground"] = clean(facts.ground.ground)
        doc["incompatible_content_explanation"] = clean(facts.ground.explanation)
        if facts.ground.also_illegal is not None:
            doc["incompatible_content_illegal"] = "Yes" if facts.ground.also_illegal else "No"
        if facts.ground.reference_url:
            doc["decision_ground_reference_url"] = facts.ground.reference_url
        if statement_category == StatementCategory.NOT_SPECIFIED_NOTICE:
            # "other" under the terms of service is a breach of them, not an unspecified notice.
            statement_category = StatementCategory.OTHER_VIOLATION_TC.value
    doc["category"] = statement_category

    keywords = [Keyword(k) for k in category.keywords]
    if facts.synthetic:
        keywords = [_DEEPFAKE_KEYWORDS.get(k, k) for k in keywords]
    keywords += facts.keywords
    if keywords:
        doc["category_specification"] = [k.value for k in dict.fromkeys(keywords)]

    content_types = [_CONTENT_TYPES[m] for m in facts.media] + [ContentType(c) for c in category.content_types]
    if facts.synthetic:
        content_types.append(ContentType.SYNTHETIC_MEDIA)
    doc["content_type"] = [c.value for c in dict.fromkeys(content_types)]

    if facts.territorial_scope is not None:
        # The EU writes Greece EL; ISO 3166, and so the database, writes GR.
        codes = {"GR" if c.strip().upper() == "EL" else c.strip().upper() for c in facts.territorial_scope}
        doc["territorial_scope"] = sorted(codes)
    if facts.language:
        doc["content_language"] = facts.language.strip().upper()
    return DsaStatement.from_payload({k: v for k, v in doc.items() if v is not None})


def derive_puid(*, key: bytes, kind: str, local_id: str | int) -> str:
    """The puid of the statement for one of this installation's records, e.g. ``kind="action"`` and its id.

    A keyed hash (HMAC-SHA256, 128 bits kept): the same record always gives the same puid, so rebuilding a
    statement cannot mint a second one; ids are never reused, so neither are puids; and without the key nobody can
    go from a puid back to a database id. The key is per installation (a fresh installation, whose ids restart,
    has a new key).
    """
    if len(key) < 16:
        raise ValueError("the puid key needs at least 16 bytes")
    if not re.fullmatch(r"[a-z][a-z0-9_]*", kind):
        raise ValueError(f"puid kind {kind!r}: lower-case letters, digits and '_'")
    digest = hmac.new(key, f"firebreak-sor-v1:{kind}:{local_id}".encode(), hashlib.sha256).hexdigest()
    return f"fb-{kind}-{digest[:32]}"


def export_jsonl(statements: Iterable[DsaStatement | Mapping[str, Any]], fh: TextIO) -> int:
    """Write statements as JSON lines in the database's shape; return how many. Each is validated before its line
    is written and a repeated puid stops the export, so write to a temporary file and rename it on success."""
    seen: set[str] = set()
    count = 0
    for statement in statements:
        payload = statement.payload() if isinstance(statement, DsaStatement) else dict(statement)
        errors = validate_statement(payload)
        if errors:
            raise StatementInvalid(errors, puid=payload.get("puid"))
        if payload["puid"] in seen:
            raise StatementInvalid([FieldError("puid", Rule.DUPLICATE, "appears twice in one export")],
                                   puid=payload["puid"])
        seen.add(payload["puid"])
        fh.write(json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n")
        count += 1
    return count
