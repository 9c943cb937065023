"""Media items (unique bytes), their signals, and placements (where they appear)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from firebreak.core.db.base import Base, BigId, IdMixin, StrEnumType, TimestampMixin, UTCDateTime


class MediaKind(enum.StrEnum):
    IMAGE = "image"
    VIDEO = "video"
    OTHER = "other"


class HashStatus(enum.StrEnum):
    PENDING = "pending"  # bytes stored, not hashed yet (or fetch pending)
    HASHED = "hashed"
    UNHASHABLE = "unhashable"  # corrupt, disguised, oversized...: reason in hash_error
    FETCH_FAILED = "fetch_failed"  # could not get the bytes; retried


class Media(IdMixin, TimestampMixin, Base):
    """One distinct file, keyed by SHA-256. Identical bytes are stored and hashed once."""

    __tablename__ = "media"

    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    md5: Mapped[str | None] = mapped_column(String(32), index=True)
    kind: Mapped[MediaKind] = mapped_column(StrEnumType(MediaKind), default=MediaKind.OTHER)
    mime_type: Mapped[str | None] = mapped_column(String(100))
    size_bytes: Mapped[int | None] = mapped_column()
    width: Mapped[int | None] = mapped_column()
    height: Mapped[int | None] = mapped_column()
    duration_seconds: Mapped[float | None] = mapped_column()
    # PDQ of an image (or of a video's first second), for quick lookups and display.
    pdq: Mapped[str | None] = mapped_column(String(64))
    pdq_quality: Mapped[int | None] = mapped_column()
    # Pictures under 512 px: the reference PDQ of the picture scaled up to 1024 px, indexed beside ``pdq`` so that a
    # larger banked original finds its small copies (the reference barely blurs a small picture; see docs/signals.md).
    pdq_upscaled: Mapped[str | None] = mapped_column(String(64))
    blob_key: Mapped[str | None] = mapped_column(String(200))  # encrypted blob in the blob store
    source_url: Mapped[str | None] = mapped_column(String(2000))
    hash_status: Mapped[HashStatus] = mapped_column(StrEnumType(HashStatus), default=HashStatus.PENDING)
    hash_error: Mapped[str | None] = mapped_column(Text)
    hash_attempts: Mapped[int] = mapped_column(default=0)
    quarantined_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    signals: Mapped[list[MediaSignal]] = relationship(back_populates="media", cascade="all, delete-orphan")
    placements: Mapped[list[Placement]] = relationship(back_populates="media")


class MediaSignal(IdMixin, Base):
    """One signal of a media item: a sha256, an md5, a pdq, or one vPDQ frame."""

    __tablename__ = "media_signals"
    __table_args__ = (Index("ix_media_signals_type_value", "signal_type", "value"),)

    media_id: Mapped[int] = mapped_column(BigId, ForeignKey("media.id", ondelete="CASCADE"), index=True)
    signal_type: Mapped[str] = mapped_column(String(32))  # stable SignalType.name
    value: Mapped[str] = mapped_column(String(128))
    quality: Mapped[int | None] = mapped_column()
    frame_number: Mapped[int | None] = mapped_column()
    timestamp_seconds: Mapped[float | None] = mapped_column()

    media: Mapped[Media] = relationship(back_populates="signals")


class PlacementStatus(enum.StrEnum):
    LIVE = "live"
    REMOVED = "removed"  # removed by Firebreak's action
    DELETED = "deleted"  # deleted by the user or platform before any action
    GEO_RESTRICTED = "geo_restricted"


class Placement(IdMixin, TimestampMixin, Base):
    """A media item in one message on the platform."""

    __tablename__ = "placements"
    __table_args__ = (
        UniqueConstraint("integration_id", "chat_external_id", "message_external_id", "media_id"),
        Index("ix_placements_media_status", "media_id", "status"),
    )

    integration_id: Mapped[int] = mapped_column(BigId, ForeignKey("platform_integrations.id"))
    media_id: Mapped[int] = mapped_column(BigId, ForeignKey("media.id"))
    chat_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("chats.id"), index=True)
    sender_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("platform_accounts.id"), index=True)
    chat_external_id: Mapped[str] = mapped_column(String(255))
    message_external_id: Mapped[str] = mapped_column(String(255))
    media_external_id: Mapped[str | None] = mapped_column(String(500))  # e.g. an mxc:// URI
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    forwarded_from_chat: Mapped[str | None] = mapped_column(String(255))
    forwarded_from_message: Mapped[str | None] = mapped_column(String(255))
    forwarded_from_placement_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("placements.id"))
    status: Mapped[PlacementStatus] = mapped_column(StrEnumType(PlacementStatus), default=PlacementStatus.LIVE)
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    media: Mapped[Media] = relationship(back_populates="placements")

