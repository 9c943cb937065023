"""Bank shapes for the API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from firebreak.banks.models import EntryStatus, MatchAction, Provenance

BankName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")]


class BankCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: BankName
    description: str | None = Field(default=None, max_length=2000)
    action: MatchAction = MatchAction.REVIEW
    jurisdictions: list[Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]] = Field(default_factory=list)
    enabled: bool = True
    pdq_distance: int = Field(default=31, ge=0, le=64)
    policy_category: str | None = Field(default=None, max_length=80)


class BankUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str | None = Field(default=None, max_length=2000)
    action: MatchAction | None = None
    jurisdictions: list[Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]] | None = None
    enabled: bool | None = None
    pdq_distance: int | None = Field(default=None, ge=0, le=64)
    policy_category: str | None = Field(default=None, max_length=80)

    @field_validator("action", "jurisdictions", "enabled", "pdq_distance")
    @classmethod
    def _not_null(cls, v: object) -> object:
        # Leaving a field out keeps it; only the description and the category can be cleared with null.
        if v is None:
            raise ValueError("may be left out but not null")
        return v


class BankOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str | None
    action: MatchAction
    jurisdictions: list[str]
    enabled: bool
    pdq_distance: int
    policy_category: str | None
    created_at: datetime


class EntryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    signal_type: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    value: Annotated[str, StringConstraints(min_length=1, max_length=200_000)]
    quality: int | None = Field(default=None, ge=0, le=100)
    external_id: str | None = Field(default=None, max_length=200)
    note: str | None = Field(default=None, max_length=2000)

    @field_validator("signal_type")
    @classmethod
    def _lower(cls, v: str) -> str:
        return v.strip().lower()


class EntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    bank_id: int
    signal_type: str
    value: str
    quality: int | None
    status: EntryStatus
    provenance: Provenance
    source_ref: str | None
    external_id: str | None
    created_at: datetime


class ImportLineError(BaseModel):
    line: int
    message: str


class ImportReport(BaseModel):
    format: str
    lines_read: int
    added: int
    already_present: int
    withdrawn: int
    errors: list[ImportLineError]
    extra: dict[str, Any] = Field(default_factory=dict)
