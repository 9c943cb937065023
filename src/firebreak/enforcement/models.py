"""Actions on the platform and the propagation of a bank entry to every copy."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from firebreak.core.db.base import Base, BigId, IdMixin, StrEnumType, TimestampMixin, UTCDateTime


class ActionKind(enum.StrEnum):
    REMOVE_MESSAGE = "remove_message"
    QUARANTINE_MEDIA = "quarantine_media"
    RESTRICT_ACCOUNT = "restrict_account"
    SUSPEND_ACCOUNT = "suspend_account"
    SUSPEND_CHAT = "suspend_chat"
    NOTIFY_USER = "notify_user"
    RESTORE_MESSAGE = "restore_message"  # after a successful appeal
    LIFT_RESTRICTION = "lift_restriction"  # an account's or chat's, after a successful appeal (a capability)


class ActionStatus(enum.StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"  # gave up after the last attempt; reason in last_error
    NOT_FOUND = "not_found"  # the platform no longer has the target


class Action(IdMixin, TimestampMixin, Base):
    """One action on the platform. Idempotent by key; retried with backoff until final."""

    __tablename__ = "actions"
    __table_args__ = (Index("ix_actions_status_next_attempt", "status", "next_attempt_at"),
                      Index("ix_actions_follow_up", "status", "followed_up_at"))

    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    integration_id: Mapped[int] = mapped_column(BigId, ForeignKey("platform_integrations.id"))
    kind: Mapped[ActionKind] = mapped_column(StrEnumType(ActionKind))
    status: Mapped[ActionStatus] = mapped_column(StrEnumType(ActionStatus), default=ActionStatus.PENDING)
    placement_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("placements.id"), index=True)
    media_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("media.id"))
    account_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("platform_accounts.id"))
    chat_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("chats.id"))
    # Why: the match, order item or decision that caused it.
    match_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("matches.id"))
    order_item_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("order_items.id"))
    decision_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("decisions.id"))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lease_owner: Mapped[str | None] = mapped_column(String(36))  # the WorkerProcess carrying it out
    last_error: Mapped[str | None] = mapped_column(Text)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When due process followed a restrictive action done (statement, record, notice); None: still to do.
    followed_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PropagationStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"


class Propagation(IdMixin, TimestampMixin, Base):
    """Finding and acting on every existing copy of a new bank entry. Resumable by cursor."""

    __tablename__ = "propagations"

    bank_entry_id: Mapped[int] = mapped_column(BigId, ForeignKey("bank_entries.id"), unique=True)
    status: Mapped[PropagationStatus] = mapped_column(
        StrEnumType(PropagationStatus), default=PropagationStatus.PENDING
    )
    # Media ids still to do are those above the cursor, in the snapshot taken at the start.
    cursor_media_id: Mapped[int] = mapped_column(BigId, default=0)
    media_found: Mapped[int] = mapped_column(default=0)
    media_done: Mapped[int] = mapped_column(default=0)
    placements_actioned: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    error: Mapped[str | None] = mapped_column(String(2000))


class ConductKind(enum.StrEnum):
    WARNING = "warning"  # the first notice: content posted before it was banned, or the first offence
    VIOLATION = "violation"  # banked content posted (or an upload of it tried) after a warning


class ConductCause(enum.StrEnum):
    REMOVED = "removed"  # a message of the account was removed
    UPLOAD_REFUSED = "upload_refused"  # an upload of banked content was refused


class AccountConduct(IdMixin, TimestampMixin, Base):
    """A warning or a violation on an account's record. Restrictions count violations after a warning, within a
    window; an appeal that succeeds lifts the record it was about."""

    __tablename__ = "account_conduct"
    __table_args__ = (Index("ix_account_conduct_account_time", "account_id", "occurred_at"),)

    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("platform_accounts.id"))
    kind: Mapped[ConductKind] = mapped_column(StrEnumType(ConductKind))
    cause: Mapped[ConductCause] = mapped_column(StrEnumType(ConductCause))
    ground: Mapped[str | None] = mapped_column(String(80))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())  # when the content was posted or tried
    action_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("actions.id"), unique=True)
    refused_upload_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("refused_uploads.id"), unique=True)
    statement_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("statements_of_reasons.id"))
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lifted_reason: Mapped[str | None] = mapped_column(String(500))


class RefusedUpload(IdMixin, TimestampMixin, Base):
    """An upload Firebreak told the platform to refuse (verdict ``block``): it gets a statement of reasons, and,
    when the platform named the uploader, a notice and a place on their record."""

    __tablename__ = "refused_uploads"

    integration_id: Mapped[int] = mapped_column(BigId, ForeignKey("platform_integrations.id"))
    account_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("platform_accounts.id"), index=True)
    chat_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("chats.id"))
    bank_entry_id: Mapped[int] = mapped_column(BigId, ForeignKey("bank_entries.id"))
    sha256: Mapped[str | None] = mapped_column(String(64))
    medium: Mapped[str] = mapped_column(String(20), default="image")
    refused_at: Mapped[datetime] = mapped_column(UTCDateTime())
