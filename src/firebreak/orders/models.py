"""Takedown orders from authorities, their items, and the thread about them."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from firebreak.core.db.base import Base, BigId, IdMixin, StrEnumType, TimestampMixin, UTCDateTime


class Channel(enum.StrEnum):
    API = "api"
    PORTAL = "portal"
    EMAIL = "email"


class OrderStatus(enum.StrEnum):
    RECEIVED = "received"  # in; sender not yet verified (e-mail without valid DKIM, unknown sender)
    VERIFIED = "verified"  # sender authenticated; waiting for action or liaison review
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    PARTIALLY_COMPLETED = "partially_completed"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class Order(IdMixin, TimestampMixin, Base):
    __tablename__ = "orders"

    tracking_id: Mapped[str] = mapped_column(String(40), unique=True)
    authority_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("authorities.id"), index=True)
    submitted_by_contact_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("authority_contacts.id"))
    channel: Mapped[Channel] = mapped_column(StrEnumType(Channel))
    authority_reference: Mapped[str | None] = mapped_column(String(200))
    legal_basis: Mapped[str | None] = mapped_column(String(500))
    category: Mapped[str] = mapped_column(String(80))
    requested_action: Mapped[str] = mapped_column(String(40), default="remove")
    territorial_scope: Mapped[list[str]] = mapped_column(JSON, default=list)
    free_text: Mapped[str | None] = mapped_column(Text)
    status: Mapped[OrderStatus] = mapped_column(StrEnumType(OrderStatus), default=OrderStatus.RECEIVED)
    status_reason: Mapped[str | None] = mapped_column(Text)
    # Transparency timestamps (DSA Art. 15 / TAKE IT DOWN): each is stored, never derived.
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    actioned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reported_back_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # SLA clock: when each reminder and the escalation fired (set once, by the deadline worker).
    reminded_50_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reminded_90_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The receipt as reported back (item by item), kept as sent.
    receipt: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # E-mail intake: sender, Message-ID (to reply in thread), authentication result.
    sender_address: Mapped[str | None] = mapped_column(String(320))
    source_message_id: Mapped[str | None] = mapped_column(String(500))
    sender_authentication: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    case_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("cases.id"))

    items: Mapped[list[OrderItem]] = relationship(back_populates="order", order_by="OrderItem.position")


class ItemKind(enum.StrEnum):
    MESSAGE_LINK = "message_link"
    CHAT_LINK = "chat_link"
    MEDIA = "media"  # an attached file
    HASH = "hash"


class ItemResolution(enum.StrEnum):
    PENDING = "pending"
    FOUND = "found"
    ALREADY_REMOVED = "already_removed"
    NOT_FOUND = "not_found"
    NOT_RESOLVABLE = "not_resolvable"


class ItemOutcome(enum.StrEnum):
    PENDING = "pending"
    REMOVED = "removed"
    GEO_RESTRICTED = "geo_restricted"
    ALREADY_REMOVED = "already_removed"
    NOT_FOUND = "not_found"
    DECLINED = "declined"


class OrderItem(IdMixin, TimestampMixin, Base):
    __tablename__ = "order_items"

    order_id: Mapped[int] = mapped_column(BigId, ForeignKey("orders.id"), index=True)
    position: Mapped[int] = mapped_column()
    kind: Mapped[ItemKind] = mapped_column(StrEnumType(ItemKind))
    value: Mapped[str] = mapped_column(Text)  # the link, the hash, or the attachment's file name
    signal_type: Mapped[str | None] = mapped_column(String(32))
    media_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("media.id"))
    placement_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("placements.id"))
    resolution: Mapped[ItemResolution] = mapped_column(StrEnumType(ItemResolution), default=ItemResolution.PENDING)
    resolution_reason: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[ItemOutcome] = mapped_column(StrEnumType(ItemOutcome), default=ItemOutcome.PENDING)
    outcome_reason: Mapped[str | None] = mapped_column(Text)
    bank_entry_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("bank_entries.id"))
    actioned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    order: Mapped[Order] = relationship(back_populates="items")


class MessageDirection(enum.StrEnum):
    FROM_AUTHORITY = "from_authority"
    FROM_PLATFORM = "from_platform"
    SYSTEM = "system"  # acknowledgements, receipts, reminders


class OrderMessage(IdMixin, TimestampMixin, Base):
    """The secure thread of an order."""

    __tablename__ = "order_messages"

    order_id: Mapped[int] = mapped_column(BigId, ForeignKey("orders.id"), index=True)
    direction: Mapped[MessageDirection] = mapped_column(StrEnumType(MessageDirection))
    channel: Mapped[Channel] = mapped_column(StrEnumType(Channel))
    author: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str | None] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    mail_message_id: Mapped[str | None] = mapped_column(String(500), index=True)
    # Internal notes (alerts to the liaison team, SLA reminders): staff see them, the authority never does.
    internal: Mapped[bool] = mapped_column(default=False, server_default=false())
