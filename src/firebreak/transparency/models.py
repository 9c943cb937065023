"""Statements of reasons (DSA Art. 17), kept in the Transparency Database's schema."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from firebreak.core.db.base import Base, BigId, IdMixin, StrEnumType, TimestampMixin, UTCDateTime


class StatementKind(enum.StrEnum):
    RESTRICTION = "restriction"  # a restrictive action: its payload is a statement in the database's schema v2
    REVERSAL = "reversal"  # a restriction undone on appeal: an internal record, never sent to the database


class StatementOfReasons(IdMixin, TimestampMixin, Base):
    """One statement: the payload (no personal data) and, beside it, what it is about (never exported)."""

    __tablename__ = "statements_of_reasons"
    __table_args__ = (Index("ix_statements_of_reasons_kind_date", "kind", "application_date"),)

    puid: Mapped[str] = mapped_column(String(500), unique=True)
    kind: Mapped[StatementKind] = mapped_column(StrEnumType(StatementKind), default=StatementKind.RESTRICTION)
    decision_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("decisions.id"), index=True)
    order_item_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("order_items.id"))
    placement_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("placements.id"))
    action_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("actions.id"), unique=True)
    refused_upload_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("refused_uploads.id"), unique=True)
    # Who it affects (for the notice and the appeal): never part of the payload.
    account_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("platform_accounts.id"), index=True)
    chat_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("chats.id"))
    ground: Mapped[str | None] = mapped_column(String(80))  # the policy ground's name
    automated: Mapped[bool] = mapped_column(default=True)  # decided without a person
    decided_by_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("staff_users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    application_date: Mapped[date | None] = mapped_column(Date())
    reverses_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("statements_of_reasons.id"))
    reversed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
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
