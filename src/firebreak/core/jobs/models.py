"""Deadlines and follow-ups as rows, so they survive restarts (a worker reconciles them)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from firebreak.core.db.base import Base, IdMixin, StrEnumType, TimestampMixin, UTCDateTime


class TaskStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"  # claimed by a worker until lease_until; reclaimed after a crash
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"


class ScheduledTask(IdMixin, TimestampMixin, Base):
    """A job due at a time: an SLA reminder, an escalation, a receipt at the deadline."""

    __tablename__ = "scheduled_tasks"
    __table_args__ = (Index("ix_scheduled_tasks_status_due", "status", "due_at"),)

    job: Mapped[str] = mapped_column(String(80))  # stable job name in the job registry
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[TaskStatus] = mapped_column(StrEnumType(TaskStatus), default=TaskStatus.PENDING)
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    attempts: Mapped[int] = mapped_column(default=0)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
