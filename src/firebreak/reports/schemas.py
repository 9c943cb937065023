"""Shapes of a victim's report in and out: a report naming messages, a hash-only submission, what the person keeps.

Every field has a hard length limit and unknown fields are refused (``extra="forbid"``): a hash-only submission can
carry nothing but hashes and its few form fields. Text is kept as typed (pages escape it on output); control
characters other than line breaks and tabs are refused.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from firebreak.reports.models import DeclineReason, ReportCategory, ReporterRelation, ReportKind, ReportStatus

MAX_LINKS = 20
MAX_FILES = 50
MAX_FRAMES = 120  # the browser library's cap: two minutes at one frame a second
MAX_FORM_BYTES = 64 * 1024  # a report form, all fields: a few KB when filled in by hand
MAX_HASHES_BODY_BYTES = 512 * 1024  # 50 files with 120 frames each fit in about 400 KB
_EMAIL = re.compile(r"^[^@\s<>()\[\],;:\"\\]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ()./-]{4,30}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_HEX64 = r"^[0-9a-f]{64}$"
_HEX32 = r"^[0-9a-f]{32}$"


def _no_control(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("contains control characters")
    return value


def _email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError("is not an e-mail address")
    return value


def _phone(value: str) -> str:
    if not _PHONE.match(value):
        raise ValueError("is not a phone number")
    return value


def _link(value: str) -> str:
    if any(c.isspace() for c in value):
        raise ValueError("a link has no spaces; put one link per line")
    return _no_control(value)


Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000), AfterValidator(_no_control)]
Line = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), AfterValidator(_no_control)]
Email = Annotated[str, StringConstraints(strip_whitespace=True, max_length=254), AfterValidator(_email)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, max_length=32), AfterValidator(_phone)]
Link = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000), AfterValidator(_link)]
Language = Literal["en", "ko"]
Jurisdiction = Annotated[str, StringConstraints(pattern=r"^([A-Z]{2})?$")]


class Contact(BaseModel):
    """How to reach the person (optional). The US TAKE IT DOWN Act counts a request complete only with it."""

    model_config = ConfigDict(extra="forbid")

    name: Line | None = None  # the person or the organisation reporting, if not the signature
    email: Email | None = None
    phone: Phone | None = None

    @property
    def given(self) -> bool:
        return bool(self.email or self.phone)


class ReportIn(BaseModel):
    """A report naming content on the platform (the report page and ``POST /v1/victim-reports``)."""

    model_config = ConfigDict(extra="forbid")

    links: list[Link] = Field(min_length=1, max_length=MAX_LINKS)
    category: ReportCategory
    reporter: ReporterRelation
    jurisdiction: Jurisdiction = ""
    signature: Annotated[Line, StringConstraints(min_length=2)]  # the person's full name, typed: an e-signature
    good_faith: bool  # "I believe in good faith that this was published without consent"
    contact: Contact = Field(default_factory=Contact)
    details: Text | None = None  # anything else the reviewers should know
    email_updates: bool = False
    language: Language = "en"

    @field_validator("good_faith")
    @classmethod
    def _stated(cls, value: bool) -> bool:
        if not value:
            raise ValueError("the good-faith statement must be confirmed")
        return value

    @model_validator(mode="after")
    def _check(self) -> ReportIn:
        if self.email_updates and not self.contact.email:
            raise ValueError("email_updates: updates by e-mail need an e-mail address")
        self.links = list(dict.fromkeys(self.links))
        return self


class PdqIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hash: Annotated[str, StringConstraints(pattern=_HEX64)]
    quality: int = Field(ge=0, le=100)


class FrameIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    time: float = Field(ge=0, le=86400)
    hash: Annotated[str, StringConstraints(pattern=_HEX64)]
    quality: int = Field(ge=0, le=100)


class FileHashesIn(BaseModel):
    """One file's hashes, as the browser library (static/selfhash) or `firebreak selfhash` computes them."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["image", "video", "other"]
    sha256: Annotated[str, StringConstraints(pattern=_HEX64)]
    md5: Annotated[str, StringConstraints(pattern=_HEX32)]
    pdq: PdqIn | None = None
    frames: list[FrameIn] | None = Field(default=None, max_length=MAX_FRAMES)


class HashesIn(BaseModel):
    """A hash-only submission (the hashing page and ``POST /v1/victim-reports/hashes``)."""

    model_config = ConfigDict(extra="forbid")

    hashes: list[FileHashesIn] = Field(min_length=1, max_length=MAX_FILES)
    category: ReportCategory
    reporter: ReporterRelation = ReporterRelation.DEPICTED
    contact: Contact = Field(default_factory=Contact)
    email_updates: bool = False
    language: Language = "en"

    @model_validator(mode="after")
    def _check(self) -> HashesIn:
        if self.email_updates and not self.contact.email:
            raise ValueError("email_updates: updates by e-mail need an e-mail address")
        seen: dict[str, FileHashesIn] = {}
        for item in self.hashes:
            seen.setdefault(item.sha256, item)
        self.hashes = list(seen.values())
        return self


class Submitted(BaseModel):
    """What the person keeps. The token and the PIN are shown once: only their hashes are stored."""

    case_number: str
    kind: ReportKind
    status: ReportStatus
    status_url: str
    status_token: str
    pin: str
    received_at: datetime
    deadline_at: datetime | None


class StatusStep(BaseModel):
    key: Literal["received", "in_review", "removed", "copies_removed", "reuploads_blocked", "declined", "withdrawn",
                 "hashes_active", "matches"]
    done: bool
    at: datetime | None = None
    count: int | None = None


class StatusOut(BaseModel):
    """What a status link shows: dates and counts, never anything about the content."""

    case_number: str
    kind: ReportKind
    status: ReportStatus
    received_at: datetime
    deadline_at: datetime | None
    decline_reason: DeclineReason | None = None
    steps: list[StatusStep]


class WithdrawIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: Annotated[str, StringConstraints(max_length=200)] | None = None
    case_number: Annotated[str, StringConstraints(max_length=40)] | None = None
    pin: Annotated[str, StringConstraints(max_length=20)] | None = None


class StatusQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: Annotated[str, StringConstraints(max_length=200)] | None = None
    case_number: Annotated[str, StringConstraints(max_length=40)] | None = None
    pin: Annotated[str, StringConstraints(max_length=20)] | None = None


__all__ = ["MAX_FILES", "MAX_FORM_BYTES", "MAX_FRAMES", "MAX_HASHES_BODY_BYTES", "MAX_LINKS", "Contact",
           "FileHashesIn", "FrameIn", "HashesIn", "PdqIn", "ReportIn", "StatusOut", "StatusQuery", "StatusStep",
           "Submitted", "WithdrawIn"]
