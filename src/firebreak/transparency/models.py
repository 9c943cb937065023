"""Statements of reasons (DSA Art. 17), kept in the Transparency Database's schema."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from firebreak.core.db.base import Base, BigId, IdMixin, TimestampMixin, UTCDateTime


class StatementOfReasons(IdMixin, TimestampMixin, Base):
    __tablename__ = "statements_of_reasons"

    puid: Mapped[str] = mapped_column(String(500), unique=True)
    decision_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("decisions.id"), index=True)
    order_item_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("order_items.id"))
    placement_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("placements.id"))
    # The statement as sent to the DSA Transparency Database (no personal data).
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    sent_to_user_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    submission_error: Mapped[str | None] = mapped_column(String(2000))


class StatementSubmission(Base):
    """Where one statement stands with the DSA Transparency Database: in flight (batch_id), or its outcome.

    The table behind ``eu_database.SubmissionStore``: a statement without a row, or with neither batch nor outcome,
    is pending; one with a batch and no outcome was in flight when a run stopped, and is sent again first.
    """

    __tablename__ = "statement_submissions"

    puid: Mapped[str] = mapped_column(String(500), primary_key=True)
    statement_id: Mapped[int] = mapped_column(BigId, ForeignKey("statements_of_reasons.id"), unique=True)
    batch_id: Mapped[str | None] = mapped_column(String(64), index=True)
    outcome: Mapped[str | None] = mapped_column(String(20), index=True)  # eu_database.Outcome values
    reason: Mapped[str | None] = mapped_column(String(2000))
    attempted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
