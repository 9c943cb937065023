"""Authority shapes for the API, and the validators for the values an authority is registered with.

``normalise_address`` and ``normalise_domain`` are public: e-mail intake uses them to compare a sender with the
registry exactly as the registry stored it.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    field_validator,
)

from firebreak.auth import service as auth_service
from firebreak.authorities.models import TrustLevel
from firebreak.authorities.taxonomy import CATEGORIES
from firebreak.core import i18n

# ISO 3166-1 alpha-2, plus EU (exceptionally reserved: EU bodies such as Europol's referral unit) and XK (Kosovo,
# user-assigned, used by the EU institutions).
COUNTRY_CODES: frozenset[str] = frozenset("""
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR
GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO
JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR
MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO
RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV
TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW EU XK
""".split())

MIN_DEADLINE_SECONDS = 60
MAX_DEADLINE_SECONDS = 366 * 86400

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_TLD = re.compile(r"^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$")
_LOCAL = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LANGUAGE = re.compile(r"^([a-z]{2,3})(?:-([a-z]{2}))?$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ()./-]{2,62}$")


def normalise_domain(value: str) -> str:
    """A mail domain in the form the registry keeps: lower case, ASCII (punycode), no trailing dot."""
    domain = value.strip().removeprefix("@").rstrip(".").lower()
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(f"{value!r} is not a valid domain name") from None
    labels = domain.split(".")
    if (len(domain) > 253 or len(labels) < 2 or not all(_LABEL.match(label) for label in labels)
            or not _TLD.match(labels[-1])):
        raise ValueError(f"{value!r} is not a valid domain name")
    return domain


def normalise_address(value: str) -> str:
    """An e-mail address in the form the registry keeps: lower case, domain in punycode."""
    local, at, domain = value.strip().lower().rpartition("@")
    if not at or not local or len(local) > 64 or not _LOCAL.match(local):
        raise ValueError(f"{value!r} is not a valid e-mail address")
    try:
        return f"{local}@{normalise_domain(domain)}"
    except ValueError:
        raise ValueError(f"{value!r} is not a valid e-mail address") from None


def _country(value: str) -> str:
    code = value.strip().upper()
    if code not in COUNTRY_CODES:
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code (e.g. DE, FR, KR, US)")
    return code


def _language(value: str) -> str:
    match = _LANGUAGE.match(value.strip().lower())
    if match is None:
        raise ValueError(f"{value!r} is not a language code such as en, de, ko or pt-BR")
    return match[1] + (f"-{match[2].upper()}" if match[2] else "")


def _timezone(value: str) -> str:
    name = value.strip()
    try:
        i18n.zone(name)
    except i18n.I18nError as exc:
        raise ValueError(str(exc)) from None
    return name


def _webhook(value: str) -> str:
    url = value.strip()
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError("the escalation webhook must be an https:// URL")
    if parts.username or parts.password:
        raise ValueError("put no credentials in the webhook URL")
    if parts.fragment:
        raise ValueError("the webhook URL may not have a #fragment")
    return url


def _dedupe(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _category(value: str) -> str:
    name = value.strip().lower()
    if name not in CATEGORIES:
        raise ValueError(f"unknown category {value!r}; known: {', '.join(CATEGORIES)}")
    return name


def _deadlines(value: dict[str, int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for key, seconds in value.items():
        name = _category(key)
        if not MIN_DEADLINE_SECONDS <= seconds <= MAX_DEADLINE_SECONDS:
            raise ValueError(f"{name}: a deadline is between {MIN_DEADLINE_SECONDS} s and {MAX_DEADLINE_SECONDS} s")
        out[name] = seconds
    return out


def _password_strength(value: SecretStr | None) -> SecretStr | None:
    if value is not None:
        try:
            auth_service.check_password_strength(value.get_secret_value())
        except auth_service.AuthError as exc:
            raise ValueError(str(exc)) from None
    return value


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Country = Annotated[str, StringConstraints(min_length=1, max_length=8), AfterValidator(_country)]
Jurisdiction = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
LegalBasis = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Domain = Annotated[str, StringConstraints(max_length=300), AfterValidator(normalise_domain)]
Address = Annotated[str, StringConstraints(max_length=320), AfterValidator(normalise_address)]
CategoryName = Annotated[str, AfterValidator(_category)]
Deadlines = Annotated[dict[str, int], AfterValidator(_deadlines)]
Language = Annotated[str, StringConstraints(max_length=16), AfterValidator(_language)]
Webhook = Annotated[str, StringConstraints(max_length=1000), AfterValidator(_webhook)]
TimeZone = Annotated[str, StringConstraints(max_length=64), AfterValidator(_timezone)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=_PHONE.pattern)]
Password = Annotated[SecretStr, AfterValidator(_password_strength)]


LegalBases = Annotated[list[LegalBasis], Field(max_length=50), AfterValidator(_dedupe)]
Domains = Annotated[list[Domain], Field(max_length=100), AfterValidator(_dedupe)]
Addresses = Annotated[list[Address], Field(max_length=500), AfterValidator(_dedupe)]
Categories = Annotated[list[CategoryName], Field(max_length=len(CATEGORIES)), AfterValidator(_dedupe)]


class AuthorityCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    country: Country
    jurisdiction: Jurisdiction
    legal_bases: LegalBases = Field(default_factory=list)
    mail_domains: Domains = Field(default_factory=list)
    mail_addresses: Addresses = Field(default_factory=list)
    # Categories left out get DEFAULT_DEADLINES (authorities.service).
    default_deadlines: Deadlines | None = None
    trust_level: TrustLevel = TrustLevel.STANDARD
    trusted_categories: Categories = Field(default_factory=list)
    language: Language = Field(default="en", description="Its mails and portal: en, ko, ... (see /v1/languages)")
    timezone: TimeZone | None = Field(default=None, description="IANA time zone for dates in its mails and portal, "
                                      "e.g. Asia/Seoul; by default the country's, where it has only one")
    escalation_webhook: Webhook | None = None
    notes: str | None = Field(default=None, max_length=10_000)


_NOT_NULL = ("name", "country", "jurisdiction", "legal_bases", "mail_domains", "mail_addresses",
             "default_deadlines", "trust_level", "trusted_categories", "language")


class AuthorityUpdate(BaseModel):
    """A partial update: fields left out stay as they are; ``default_deadlines`` merges into the current ones."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    country: Country | None = None
    jurisdiction: Jurisdiction | None = None
    legal_bases: LegalBases | None = None
    mail_domains: Domains | None = None
    mail_addresses: Addresses | None = None
    default_deadlines: Deadlines | None = None
    trust_level: TrustLevel | None = None
    trusted_categories: Categories | None = None
    language: Language | None = None
    timezone: TimeZone | None = None
    escalation_webhook: Webhook | None = None
    notes: str | None = Field(default=None, max_length=10_000)

    @field_validator(*_NOT_NULL)
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Runs only for values that were sent: an explicit null for a required field is a mistake, not "unset".
        if value is None:
            raise ValueError("may not be null; leave the field out to keep it")
        return value


class ContactCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    email: Address
    phone: Phone | None = None
    password: Password | None = None  # lets the contact log in to the portal


class PasswordSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: Password


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class ContactOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    authority_id: int
    name: str
    email: str
    phone: str | None
    is_active: bool
    has_password: bool = Field(validation_alias="password_hash")
    last_login_at: datetime | None
    created_at: datetime

    @field_validator("has_password", mode="before")
    @classmethod
    def _has_password(cls, value: Any) -> bool:
        return bool(value)


class AuthorityOut(BaseModel):
    """The full record, for staff."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    country: str
    jurisdiction: str
    legal_bases: list[str]
    mail_domains: list[str]
    mail_addresses: list[str]
    default_deadlines: dict[str, int]
    trust_level: TrustLevel
    trusted_categories: list[str]
    language: str
    timezone: str | None
    escalation_webhook: str | None
    notes: str | None
    is_active: bool
    created_at: datetime


class AuthoritySelfOut(BaseModel):
    """What an authority sees of its own record: no staff notes, no trust assessment."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    country: str
    jurisdiction: str
    legal_bases: list[str]
    mail_domains: list[str]
    mail_addresses: list[str]
    default_deadlines: dict[str, int]
    language: str
    timezone: str | None
    escalation_webhook: str | None
    is_active: bool
    contacts: list[ContactOut]


class TokenOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class IssuedTokenOut(TokenOut):
    token: str = Field(description="Shown once; only its hash is kept.")


class CategoryOut(BaseModel):
    name: str
    label: str
    statement_category: str
    keywords: list[str]
    content_types: list[str]
    default_deadline_seconds: int
    note: str


_SELECTOR = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_-]{1,63})*$")


def _selector(value: str) -> str:
    selector = value.strip()
    if not _SELECTOR.match(selector):
        raise ValueError(f"{value!r} is not a DKIM selector (letters, digits, - and _, dot-separated)")
    return selector.lower()


class DkimKeyCreate(BaseModel):
    """A DKIM public key the authority gave us out of band, pinned for its domain and selector."""

    model_config = ConfigDict(extra="forbid")

    domain: Domain
    selector: Annotated[str, StringConstraints(max_length=63), AfterValidator(_selector)]
    public_key: Annotated[str, StringConstraints(min_length=20, max_length=10_000)] = Field(
        description="The DNS TXT record (v=DKIM1; k=rsa; p=...), its p= value, or a PEM public key")
    valid_from: AwareDatetime | None = Field(default=None, description="default: now")
    valid_until: AwareDatetime | None = None
    replaces: int | None = Field(default=None, description="rotation: the id of the key this one replaces; the old "
                                 "key stays valid for overlap_seconds after valid_from")
    overlap_seconds: int = Field(default=7 * 86400, ge=0, le=366 * 86400)
    note: Annotated[str, StringConstraints(max_length=2000)] | None = None


class DkimKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    authority_id: int
    domain: str
    selector: str
    public_key: str
    valid_from: datetime
    valid_until: datetime | None
    revoked_at: datetime | None
    added_by: str
    note: str | None
    created_at: datetime
