"""Authorities (regulators, police, hotlines) and their people."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from firebreak.core.db.base import Base, BigId, IdMixin, StrEnumType, TimestampMixin, UTCDateTime


class TrustLevel(enum.StrEnum):
    STANDARD = "standard"  # orders go to liaison review before action
    TRUSTED = "trusted"  # orders in trusted_categories act at once


class Authority(IdMixin, TimestampMixin, Base):
    __tablename__ = "authorities"

    name: Mapped[str] = mapped_column(String(300), unique=True)
    country: Mapped[str] = mapped_column(String(2))  # ISO 3166-1 alpha-2
    jurisdiction: Mapped[str] = mapped_column(String(200))
    legal_bases: Mapped[list[str]] = mapped_column(JSON, default=list)
    mail_domains: Mapped[list[str]] = mapped_column(JSON, default=list)
    mail_addresses: Mapped[list[str]] = mapped_column(JSON, default=list)
    # category -> deadline in seconds, e.g. {"terrorist_content": 3600}
    default_deadlines: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    trust_level: Mapped[TrustLevel] = mapped_column(StrEnumType(TrustLevel), default=TrustLevel.STANDARD)
    trusted_categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    language: Mapped[str] = mapped_column(String(8), default="en")  # its mails and portal (core.i18n)
    timezone: Mapped[str | None] = mapped_column(String(64))  # IANA name; dates are shown in it beside UTC
    escalation_webhook: Mapped[str | None] = mapped_column(String(1000))
    notes: Mapped[str | None] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(default=True)

    contacts: Mapped[list[AuthorityContact]] = relationship(back_populates="authority")


class AuthorityContact(IdMixin, TimestampMixin, Base):
    """A person at an authority (an officer, a case handler): "contact" throughout the code. May use the portal."""

    __tablename__ = "authority_contacts"

    authority_id: Mapped[int] = mapped_column(BigId, ForeignKey("authorities.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    phone: Mapped[str | None] = mapped_column(String(64))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    is_active: Mapped[bool] = mapped_column(default=True)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    authority: Mapped[Authority] = relationship(back_populates="contacts")


class AuthorityDkimKey(IdMixin, TimestampMixin, Base):
    """A DKIM public key pinned for an authority's mail domain and selector, registered by an admin (received
    out of band from the authority). Several may be valid at once, so keys can be rotated with an overlap."""

    __tablename__ = "authority_dkim_keys"

    authority_id: Mapped[int] = mapped_column(BigId, ForeignKey("authorities.id"), index=True)
    domain: Mapped[str] = mapped_column(String(253), index=True)
    selector: Mapped[str] = mapped_column(String(63))
    # The key record as published in DNS would be ("v=DKIM1; k=rsa; p=..."), normalised.
    public_key: Mapped[str] = mapped_column(Text)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime())
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    added_by: Mapped[str] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
