"""Matches between platform media and bank entries."""

from __future__ import annotations

import enum

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from firebreak.core.db.base import Base, BigId, IdMixin, StrEnumType, TimestampMixin


class MatchSource(enum.StrEnum):
    UPLOAD = "upload"  # found when the media was posted or scanned
    PROPAGATION = "propagation"  # found when a bank entry was added


class MatchReview(enum.StrEnum):
    NOT_NEEDED = "not_needed"  # the bank acts on its own (block/remove)
    PENDING = "pending"  # waiting in the moderators' queue
    CONFIRMED = "confirmed"  # a moderator confirmed: acted on
    DISMISSED = "dismissed"  # a moderator found no violation (false match)


class Match(IdMixin, TimestampMixin, Base):
    __tablename__ = "matches"
    __table_args__ = (UniqueConstraint("media_id", "bank_entry_id"),)

    media_id: Mapped[int] = mapped_column(BigId, ForeignKey("media.id"), index=True)
    bank_entry_id: Mapped[int] = mapped_column(BigId, ForeignKey("bank_entries.id"), index=True)
    signal_type: Mapped[str] = mapped_column(String(32))
    distance: Mapped[int] = mapped_column(default=0)
    source: Mapped[MatchSource] = mapped_column(StrEnumType(MatchSource))
    review: Mapped[MatchReview] = mapped_column(StrEnumType(MatchReview), default=MatchReview.NOT_NEEDED)
