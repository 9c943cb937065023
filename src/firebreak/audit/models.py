"""The append-only, hash-chained audit log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from firebreak.core.db.base import Base, BigId, UTCDateTime


class AuditEvent(Base):
    """One audited state change.

    ``seq`` numbers the chain 1, 2, 3...; ``prev_hash`` is the hash of event seq-1 and
    ``hash`` covers this event's canonical content including ``prev_hash``. ``data`` is
    kept as canonical JSON text so that both databases return it byte for byte.
    """

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(200))  # "staff:3", "authority:2", "system", "integration:1"
    action: Mapped[str] = mapped_column(String(80))  # "order.created", "action.done", ...
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str] = mapped_column(String(80), index=True)
    data: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
