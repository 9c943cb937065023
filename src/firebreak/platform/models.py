"""What Firebreak knows of the platform: integrations, accounts, chats."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, validates

from firebreak.core.db.base import Base, BigId, IdMixin, StrEnumType, TimestampMixin, UTCDateTime
from firebreak.core.names import name_key


class PlatformIntegration(IdMixin, TimestampMixin, Base):
    """One connected platform (the sandbox, a webhook platform, a Matrix homeserver)."""

    __tablename__ = "platform_integrations"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    # Unique whatever the case (core.names); kept in step with name.
    name_key: Mapped[str] = mapped_column(String(64), unique=True)
    adapter: Mapped[str] = mapped_column(String(40))  # stable adapter name: sandbox, webhook, matrix
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # HMAC secret for the webhook integration, encrypted with the instance key.
    secret_encrypted: Mapped[str | None] = mapped_column(String(500))
    is_active: Mapped[bool] = mapped_column(default=True)

    @validates("name")
    def _keep_name_key(self, _: str, value: str) -> str:
        self.name_key = name_key(value)
        return value


class StandingStatus(enum.StrEnum):
    ACTIVE = "active"
    RESTRICTED = "restricted"
    SUSPENDED = "suspended"


class PlatformAccount(IdMixin, TimestampMixin, Base):
    """A user of the platform (an uploader, a sender). Identified by the platform's own id."""

    __tablename__ = "platform_accounts"
    __table_args__ = (UniqueConstraint("integration_id", "external_id"),)

    integration_id: Mapped[int] = mapped_column(BigId, ForeignKey("platform_integrations.id"))
    external_id: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str | None] = mapped_column(String(255))
    language: Mapped[str | None] = mapped_column(String(16))  # as the platform says it: notices use it
    status: Mapped[StandingStatus] = mapped_column(StrEnumType(StandingStatus), default=StandingStatus.ACTIVE)
    strikes: Mapped[int] = mapped_column(default=0)
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ChatKind(enum.StrEnum):
    GROUP = "group"
    CHANNEL = "channel"
    DIRECT = "direct"


class Chat(IdMixin, TimestampMixin, Base):
    __tablename__ = "chats"
    __table_args__ = (UniqueConstraint("integration_id", "external_id"),)

    integration_id: Mapped[int] = mapped_column(BigId, ForeignKey("platform_integrations.id"))
    external_id: Mapped[str] = mapped_column(String(255))
    title: Mapped[str | None] = mapped_column(String(255))
    kind: Mapped[ChatKind] = mapped_column(StrEnumType(ChatKind), default=ChatKind.GROUP)
    is_public: Mapped[bool] = mapped_column(default=False)
    member_count: Mapped[int | None] = mapped_column()
    admins: Mapped[list[str]] = mapped_column(JSON, default=list)  # the platform's ids of who administers it
    status: Mapped[StandingStatus] = mapped_column(StrEnumType(StandingStatus), default=StandingStatus.ACTIVE)
    strikes: Mapped[int] = mapped_column(default=0)
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SeenSignature(Base):
    """Signatures of accepted webhook calls, kept for the replay window so a replay is refused."""

    __tablename__ = "seen_signatures"

    signature: Mapped[str] = mapped_column(String(64), primary_key=True)
    integration_id: Mapped[int] = mapped_column(BigId, ForeignKey("platform_integrations.id"))
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
