"""Cases: one piece of harmful content and everything gathered about it."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from firebreak.core.db.base import Base, BigId, IdMixin, StrEnumType, TimestampMixin, UTCDateTime


class CaseStatus(enum.StrEnum):
    OPEN = "open"
    ACTIONED = "actioned"
    CLOSED = "closed"


class Case(IdMixin, TimestampMixin, Base):
    """Groups the orders, reports, matches and decisions about the same content.

    Evidence preserved for law enforcement is held at case level (legal hold).
    """

    __tablename__ = "cases"

    reference: Mapped[str] = mapped_column(String(40), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    category: Mapped[str | None] = mapped_column(String(80))
    status: Mapped[CaseStatus] = mapped_column(StrEnumType(CaseStatus), default=CaseStatus.OPEN)
    priority: Mapped[int] = mapped_column(default=50)
    legal_hold: Mapped[bool] = mapped_column(default=False)
    legal_hold_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    media_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("media.id"))
    notes: Mapped[str | None] = mapped_column(Text)
