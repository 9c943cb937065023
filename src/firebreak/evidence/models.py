"""Preserved evidence, legal holds on it, and the tombstones of what retention purged."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from firebreak.core.db.base import Base, BigId, IdMixin, StrEnumType, TimestampMixin, UTCDateTime


class Trigger(enum.StrEnum):
    REMOVAL = "removal"  # a removal action was carried out: the content is kept as it was
    PRESERVATION_REQUEST = "preservation_request"  # an authority's preservation order
    STAFF = "staff"  # a staff member placed a hold on something not yet preserved


class RecordStatus(enum.StrEnum):
    # A removal whose statement of reasons and notice are still being written (enforcement's follow-up job): its
    # context is gathered after them, so the package shows what the person was told.
    AWAITING = "awaiting"
    PENDING = "pending"  # asked for; the preserve job gathers the context and seals it
    SEALED = "sealed"
    PURGED = "purged"  # retention ran out and no hold kept it: encrypted blobs deleted, tombstone kept


class EvidenceMedia(IdMixin, TimestampMixin, Base):
    """The bytes of one distinct file, sealed once however many records refer to it."""

    __tablename__ = "evidence_media"

    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    mime_type: Mapped[str | None] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column()
    blob_key: Mapped[str | None] = mapped_column(String(200))  # None once purged
    kek_id: Mapped[str] = mapped_column(String(32))
    wrapped_key: Mapped[str | None] = mapped_column(String(200))
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class EvidenceRecord(IdMixin, TimestampMixin, Base):
    """One preserved thing: a placement (media and its context), or an account's or a chat's context."""

    __tablename__ = "evidence_records"
    __table_args__ = (Index("ix_evidence_records_status_retain", "status", "retain_until"),)

    uid: Mapped[str] = mapped_column(String(32), unique=True)  # names the record outside (packages, audit)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)  # "action:12": preserved once
    trigger: Mapped[Trigger] = mapped_column(StrEnumType(Trigger))
    status: Mapped[RecordStatus] = mapped_column(StrEnumType(RecordStatus), default=RecordStatus.PENDING)
    category: Mapped[str | None] = mapped_column(String(80))
    # What it is about (ids of other domains' rows, kept as plain references).
    action_id: Mapped[int | None] = mapped_column(BigId, index=True)
    placement_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("placements.id"), index=True)
    media_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("media.id"), index=True)
    account_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("platform_accounts.id"), index=True)
    chat_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("chats.id"), index=True)
    match_id: Mapped[int | None] = mapped_column(BigId)
    decision_id: Mapped[int | None] = mapped_column(BigId)
    order_item_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("order_items.id"), index=True)
    order_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("orders.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("cases.id"), index=True)
    note: Mapped[str | None] = mapped_column(String(500))
    # The sealed parts: the context JSON under this record's data key, the media through evidence_media.
    evidence_media_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("evidence_media.id"), index=True)
    context_blob_key: Mapped[str | None] = mapped_column(String(200))
    context_sha256: Mapped[str | None] = mapped_column(String(64))
    kek_id: Mapped[str | None] = mapped_column(String(32))
    wrapped_key: Mapped[str | None] = mapped_column(String(200))
    preserved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    retain_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    retention_rule: Mapped[str | None] = mapped_column(String(200))
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class HoldScope(enum.StrEnum):
    ITEM = "item"  # one placement: a message with media
    ACCOUNT = "account"
    CHAT = "chat"
    ORDER = "order"  # every item of an authority's order (a preservation request)
    CASE = "case"


class LegalHold(IdMixin, TimestampMixin, Base):
    """Evidence under a hold survives purges until the hold ends (expires, or is released)."""

    __tablename__ = "legal_holds"
    __table_args__ = (Index("ix_legal_holds_scope_subject", "scope", "subject_id"),)

    scope: Mapped[HoldScope] = mapped_column(StrEnumType(HoldScope))
    subject_id: Mapped[int] = mapped_column(BigId)
    label: Mapped[str] = mapped_column(String(300))  # for people: "order FB-...", "account @x on sandbox"
    # An order's hold also covers these (given by the order when the hold was placed).
    order_item_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    placement_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    reason: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(40))  # "staff" or "preservation_request"
    placed_by: Mapped[str] = mapped_column(String(200))
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    extensions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # [{at, by, reason, until}]
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    released_by: Mapped[str | None] = mapped_column(String(200))
    release_reason: Mapped[str | None] = mapped_column(Text)


class EvidencePurge(IdMixin, Base):
    """The tombstone of a purged record: what was deleted, when and under which rule, and the audit event."""

    __tablename__ = "evidence_purges"

    record_id: Mapped[int] = mapped_column(BigId, ForeignKey("evidence_records.id"), unique=True)
    record_uid: Mapped[str] = mapped_column(String(32), index=True)
    purged_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    rule: Mapped[str] = mapped_column(String(200))
    category: Mapped[str | None] = mapped_column(String(80))
    preserved_at: Mapped[datetime] = mapped_column(UTCDateTime())
    retain_until: Mapped[datetime] = mapped_column(UTCDateTime())
    media_sha256: Mapped[str | None] = mapped_column(String(64))
    media_deleted: Mapped[bool] = mapped_column(default=False)  # False: another record still keeps the bytes
    context_sha256: Mapped[str | None] = mapped_column(String(64))
    deleted_blobs: Mapped[list[str]] = mapped_column(JSON, default=list)  # checked to be gone afterwards
    audit_seq: Mapped[int] = mapped_column(BigInteger)
