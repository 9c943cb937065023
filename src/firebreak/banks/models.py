"""Banks of known items and their entries, with where each entry came from."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from firebreak.core.db.base import Base, BigId, IdMixin, StrEnumType, TimestampMixin, UTCDateTime
from firebreak.core.names import name_key


class MatchAction(enum.StrEnum):
    BLOCK = "block"  # refuse at upload and remove existing copies
    REMOVE = "remove"  # remove existing copies (uploads are removed right after posting)
    REVIEW = "review"  # send matches to human review


class Bank(IdMixin, TimestampMixin, Base):
    __tablename__ = "banks"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    # Unique whatever the case (core.names); kept in step with name. Look-ups by name stay exact.
    name_key: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    action: Mapped[MatchAction] = mapped_column(StrEnumType(MatchAction), default=MatchAction.REVIEW)
    # Empty list = global; otherwise ISO country codes where the bank applies.
    jurisdictions: Mapped[list[str]] = mapped_column(JSON, default=list)
    enabled: Mapped[bool] = mapped_column(default=True)
    pdq_distance: Mapped[int] = mapped_column(default=31)
    policy_category: Mapped[str | None] = mapped_column(String(80))

    entries: Mapped[list[BankEntry]] = relationship(back_populates="bank")

    @validates("name")
    def _keep_name_key(self, _: str, value: str) -> str:
        self.name_key = name_key(value)
        return value


class Provenance(enum.StrEnum):
    ORDER = "order"
    REPORT = "report"
    DECISION = "decision"
    IMPORT = "import"


class EntryStatus(enum.StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"  # paused by staff, may be re-enabled
    WITHDRAWN = "withdrawn"  # withdrawn by its source (e.g. StopNCII Withdrawn/Deleted)


class BankEntry(IdMixin, TimestampMixin, Base):
    __tablename__ = "bank_entries"
    __table_args__ = (
        UniqueConstraint("bank_id", "signal_type", "value_digest"),
        Index("ix_bank_entries_signal_digest", "signal_type", "value_digest"),
    )

    bank_id: Mapped[int] = mapped_column(BigId, ForeignKey("banks.id"), index=True)
    signal_type: Mapped[str] = mapped_column(String(32))
    value: Mapped[str] = mapped_column(Text)  # a vPDQ value lists every frame: no length limit
    # SHA-256 of the canonical value: exact lookups and uniqueness without indexing long text.
    value_digest: Mapped[str] = mapped_column(String(64))
    quality: Mapped[int | None] = mapped_column()
    status: Mapped[EntryStatus] = mapped_column(StrEnumType(EntryStatus), default=EntryStatus.ACTIVE)
    provenance: Mapped[Provenance] = mapped_column(StrEnumType(Provenance))
    # The order item, report, decision or import batch the entry came from.
    source_ref: Mapped[str | None] = mapped_column(String(200))
    media_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("media.id"))
    external_id: Mapped[str | None] = mapped_column(String(200))  # id in an exchange (StopNCII case number)
    note: Mapped[str | None] = mapped_column(Text)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    blocked_uploads: Mapped[int] = mapped_column(default=0)  # uploads refused or removed because of this entry
    # Indexed: the copy indexes ask for the newest change before every search (matching.copies).
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)

    bank: Mapped[Bank] = relationship(back_populates="entries")


class UploadRefusal(IdMixin, TimestampMixin, Base):
    """One upload refused (or removed as it was posted) because it matched banked items: one row per upload, however
    many of an item's entries (SHA-256, MD5, PDQ) caught it, so receipts count re-uploads once each."""

    __tablename__ = "upload_refusals"

    source: Mapped[str] = mapped_column(String(20))  # "scan" (refused before posting) or "post" (removed on posting)
    sha256: Mapped[str | None] = mapped_column(String(64))
    placement_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("placements.id"))


class UploadRefusalEntry(Base):
    """Which bank entries caught a refused upload."""

    __tablename__ = "upload_refusal_entries"

    refusal_id: Mapped[int] = mapped_column(BigId, ForeignKey("upload_refusals.id"), primary_key=True)
    entry_id: Mapped[int] = mapped_column(BigId, ForeignKey("bank_entries.id"), primary_key=True, index=True)
