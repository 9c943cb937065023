"""Reports from people depicted (victims) and other notices, with no account needed."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from firebreak.core.db.base import Base, BigId, IdMixin, StrEnumType, TimestampMixin, UTCDateTime


class ReportStatus(enum.StrEnum):
    RECEIVED = "received"
    IN_REVIEW = "in_review"
    ACTIONED = "actioned"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"


class VictimReport(IdMixin, TimestampMixin, Base):
    __tablename__ = "victim_reports"

    reference: Mapped[str] = mapped_column(String(40), unique=True)
    # A secret the reporter keeps to check status without an account (stored hashed).
    access_code_hash: Mapped[str] = mapped_column(String(64))
    reporter_relation: Mapped[str] = mapped_column(String(40), default="depicted")  # depicted, guardian, other
    contact_email: Mapped[str | None] = mapped_column(String(320))
    category: Mapped[str | None] = mapped_column(String(80))
    description: Mapped[str | None] = mapped_column(Text)
    message_links: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Hashes computed in the reporter's browser: [{"signal_type": "pdq", "value": ..., "quality": ...}]
    client_hashes: Mapped[list[dict[str, str | int]]] = mapped_column(JSON, default=list)
    status: Mapped[ReportStatus] = mapped_column(StrEnumType(ReportStatus), default=ReportStatus.RECEIVED)
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    case_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("cases.id"))
