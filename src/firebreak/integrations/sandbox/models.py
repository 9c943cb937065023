"""The sandbox messenger's tables: users, chats, memberships, media, messages, notices (all ``sandbox_*``).

Rows are addressed from outside by short, stable, readable ids built from the primary key and a prefix
(``u7``, ``c12``, ``m345``, ``md9``); these become ``chat_external_id`` / ``message_external_id`` in Firebreak.
"""

from __future__ import annotations

import enum
import re
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from firebreak.core.db.base import Base, BigId, IdMixin, StrEnumType, TimestampMixin, UTCDateTime

USER_PREFIX, CHAT_PREFIX, MESSAGE_PREFIX, MEDIA_PREFIX = "u", "c", "m", "md"
_EXTERNAL_ID = re.compile(r"(md|[ucm])([1-9][0-9]{0,17})")


def parse_external_id(prefix: str, value: str) -> int | None:
    """The primary key behind ``c12`` for prefix ``c``; None for anything else (``m12``, ``c``, ``c012``)."""
    found = _EXTERNAL_ID.fullmatch(value.strip())
    if found is None or found.group(1) != prefix:
        return None
    return int(found.group(2))


class AccountStatus(enum.StrEnum):
    ACTIVE = "active"
    RESTRICTED = "restricted"  # may post text, not media
    SUSPENDED = "suspended"  # may not post at all


class ChatKind(enum.StrEnum):
    GROUP = "group"
    CHANNEL = "channel"
    DIRECT = "direct"


class ChatStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"  # readable, nobody may post


class MessageStatus(enum.StrEnum):
    LIVE = "live"
    REMOVED = "removed"  # by the platform (a Firebreak action); restorable after an appeal
    DELETED = "deleted"  # by its sender


class SandboxUser(IdMixin, TimestampMixin, Base):
    __tablename__ = "sandbox_users"

    handle: Mapped[str] = mapped_column(String(32), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    status: Mapped[AccountStatus] = mapped_column(StrEnumType(AccountStatus), default=AccountStatus.ACTIVE)
    status_reason: Mapped[str | None] = mapped_column(Text)
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The language the user chose (a tag such as "ko"): the sandbox tells Firebreak, whose notices then use it.
    language: Mapped[str | None] = mapped_column(String(16))

    @property
    def external_id(self) -> str:
        return f"{USER_PREFIX}{self.id}"


class SandboxChat(IdMixin, TimestampMixin, Base):
    __tablename__ = "sandbox_chats"

    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[ChatKind] = mapped_column(StrEnumType(ChatKind), default=ChatKind.GROUP)
    is_public: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[ChatStatus] = mapped_column(StrEnumType(ChatStatus), default=ChatStatus.ACTIVE)
    status_reason: Mapped[str | None] = mapped_column(Text)
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("sandbox_users.id"))

    @property
    def external_id(self) -> str:
        return f"{CHAT_PREFIX}{self.id}"


class SandboxMembership(IdMixin, TimestampMixin, Base):
    __tablename__ = "sandbox_memberships"
    __table_args__ = (UniqueConstraint("chat_id", "user_id"),)

    chat_id: Mapped[int] = mapped_column(BigId, ForeignKey("sandbox_chats.id"))
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("sandbox_users.id"), index=True)


class SandboxMedia(IdMixin, TimestampMixin, Base):
    """One stored file. Identical bytes are stored once, as a real messenger does; forwards share the row."""

    __tablename__ = "sandbox_media"

    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    mime_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column()
    filename: Mapped[str | None] = mapped_column(String(255))
    # Stand-in demo imagery only, so the database is the simplest store. Deferred: lists never load bytes.
    data: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    quarantined_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    quarantine_reason: Mapped[str | None] = mapped_column(Text)

    @property
    def external_id(self) -> str:
        return f"{MEDIA_PREFIX}{self.id}"

    @property
    def url(self) -> str:
        return f"sandbox-media://{self.external_id}"


class SandboxMessage(IdMixin, Base):
    __tablename__ = "sandbox_messages"
    __table_args__ = (Index("ix_sandbox_messages_chat_order", "chat_id", "id"),)

    chat_id: Mapped[int] = mapped_column(BigId, ForeignKey("sandbox_chats.id"))
    sender_id: Mapped[int] = mapped_column(BigId, ForeignKey("sandbox_users.id"), index=True)
    text: Mapped[str | None] = mapped_column(Text)
    media_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("sandbox_media.id"), index=True)
    forwarded_from_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("sandbox_messages.id"), index=True)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[MessageStatus] = mapped_column(StrEnumType(MessageStatus), default=MessageStatus.LIVE)
    removed_reason: Mapped[str | None] = mapped_column(Text)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    restored_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    chat: Mapped[SandboxChat] = relationship(lazy="joined", innerjoin=True)
    sender: Mapped[SandboxUser] = relationship(lazy="joined", innerjoin=True)
    media: Mapped[SandboxMedia | None] = relationship(lazy="joined")
    forwarded_from: Mapped[SandboxMessage | None] = relationship(remote_side="SandboxMessage.id", lazy="select")

    @property
    def external_id(self) -> str:
        return f"{MESSAGE_PREFIX}{self.id}"


class SandboxNotice(IdMixin, TimestampMixin, Base):
    """A notice in a user's inbox: what the platform did and why (the statement of reasons summary)."""

    __tablename__ = "sandbox_notices"
    __table_args__ = (UniqueConstraint("user_id", "dedupe_key"),)

    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("sandbox_users.id"))
    text: Mapped[str] = mapped_column(Text)
    chat_ref: Mapped[str | None] = mapped_column(String(40))
    message_ref: Mapped[str | None] = mapped_column(String(40))
    # Makes notify_user idempotent: the same notice asked for twice lands once.
    dedupe_key: Mapped[str] = mapped_column(String(64))


class SandboxModerationCall(IdMixin, Base):
    """Every moderation call the platform received from Firebreak, as a real platform logs its API: what was asked,
    about what, and what it answered (``done``, ``already``, ``not_found``, ``failed``)."""

    __tablename__ = "sandbox_moderation_calls"

    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(200), index=True)  # m12, md3, u7, c2
    outcome: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime())
