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
    attempts: Mapped[int] = mapped_column(default=0)  # since it was last (re-)armed: the retry policy counts these
    claims: Mapped[int] = mapped_column(default=0, server_default="0")  # every claim ever: the claim's token
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lease_owner: Mapped[str | None] = mapped_column(String(36))  # the WorkerProcess holding the lease
    last_error: Mapped[str | None] = mapped_column(Text)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WorkerProcess(TimestampMixin, Base):
    """A process that runs jobs, while it lives: it beats its heart every reconcile tick.

    When one dies (no heartbeat for a while, or its pid is gone from this host), any other worker takes its leases
    back at once instead of waiting for them to expire.
    """

    __tablename__ = "worker_processes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column()
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
