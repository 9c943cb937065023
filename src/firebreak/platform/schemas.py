"""What platforms send Firebreak: events and upload checks. Versioned under /v1."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

Id = Annotated[str, StringConstraints(min_length=1, max_length=255, strip_whitespace=True)]


class EventKind(enum.StrEnum):
    MEDIA_POSTED = "media_posted"
    MEDIA_FORWARDED = "media_forwarded"
    MESSAGE_EDITED = "message_edited"  # new media replaces the message's media
    MESSAGE_DELETED = "message_deleted"  # deleted by its sender or the platform


class ChatIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Id
    kind: Literal["group", "channel", "direct"] = "group"
    is_public: bool = False
    member_count: int | None = Field(default=None, ge=0, le=2**31 - 1)  # an INTEGER column
    title: str | None = Field(default=None, max_length=255)
    admins: list[Id] | None = Field(default=None, max_length=50)  # who administers the chat (chat-level notices)


class SenderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Id
    display_name: str | None = Field(default=None, max_length=255)
    language: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})?$")] | None = None


class ForwardedFrom(BaseModel):
    model_config = ConfigDict(extra="forbid")

    chat_id: Id
    message_id: Id


class SignalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    signal_type: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    value: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    quality: int | None = Field(default=None, ge=0, le=100)


class MediaIn(BaseModel):
    """One media item of a message: its bytes (base64), or a URL Firebreak fetches through the adapter."""

    model_config = ConfigDict(extra="forbid")

    media_id: Id | None = None  # the platform's id for the file (e.g. mxc://server/abc)
    url: Annotated[str, StringConstraints(max_length=2000)] | None = None
    data_base64: str | None = None
    mime_type: Annotated[str, StringConstraints(max_length=100)] | None = None

    @model_validator(mode="after")
    def _bytes_or_url(self) -> MediaIn:
        if not self.url and not self.data_base64:
            raise ValueError("each media item needs data_base64 or url")
        return self


class PlatformEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_id: Id  # the platform's id for this event; re-sending the same event_id is a no-op
    kind: EventKind
    chat: ChatIn
    message_id: Id
    sender: SenderIn | None = None
    sent_at: AwareDatetime
    forwarded_from: ForwardedFrom | None = Field(default=None, validate_default=True)
    media: list[MediaIn] = Field(default_factory=list, max_length=50, validate_default=True)

    @field_validator("forwarded_from")
    @classmethod
    def _forward_needs_source(cls, value: ForwardedFrom | None, info: ValidationInfo) -> ForwardedFrom | None:
        if info.data.get("kind") == EventKind.MEDIA_FORWARDED and value is None:
            raise ValueError("a media_forwarded event needs forwarded_from")
        return value

    @field_validator("media")
    @classmethod
    def _media_needed(cls, value: list[MediaIn], info: ValidationInfo) -> list[MediaIn]:
        kind = info.data.get("kind")
        if kind in (EventKind.MEDIA_POSTED, EventKind.MEDIA_FORWARDED) and not value:
            raise ValueError(f"a {kind.value} event needs at least one media item")
        return value


class EventAccepted(BaseModel):
    event_id: str
    placements: int
    duplicate: bool = False
    verdict: Verdict


class Verdict(enum.StrEnum):
    ALLOW = "allow"
    BLOCK = "block"  # refuse the upload
    REVIEW = "review"  # allow for now, a human looks at it


class ScanSignalsRequest(BaseModel):
    """Upload check with hashes computed by the platform."""

    model_config = ConfigDict(extra="forbid")

    signals: list[SignalIn] = Field(min_length=1, max_length=200)
    jurisdiction: Annotated[str, StringConstraints(min_length=2, max_length=2, to_upper=True)] | None = None
    # Who is uploading, and where: a refusal then reaches them as a notice and counts on their record.
    uploader: SenderIn | None = None
    chat: ChatIn | None = None


class ScanMatch(BaseModel):
    bank: str
    action: str
    signal_type: str
    distance: int
    entry_id: int


class ScanResult(BaseModel):
    verdict: Verdict
    matches: list[ScanMatch]
    sha256: str | None = None
    checked_at: datetime
    # Set when the file could not be fully checked: Firebreak could not hash it at all ("unhashable: too_large",
    # "unhashable: corrupt", ...), or it is cut short and was hashed as a browser shows it ("truncated"). The verdict
    # for such a file, when nothing matched, is the FIREBREAK_UNCHECKED_UPLOADS setting (review by default).
    unchecked: str | None = Field(default=None, description="Why the file could not be fully checked, if it could not")


EventAccepted.model_rebuild()
