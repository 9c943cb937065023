"""Matches between platform media and bank entries."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from firebreak.core.db.base import Base, BigId, IdMixin, StrEnumType, TimestampMixin, UTCDateTime


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
    # How the second line of matching found it (signal_type "copy"): its method, and the PDQ distance or the
    # geometric check's inliers and coverage. None for a hash match, which its signal type and distance say.
    evidence: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class CopyDescription(IdMixin, Base):
    """What the second line of matching keeps of one still picture (``matching.copydetect.describe``): its canonical
    variants' PDQ (borders, caption bars and screen frames off) and its local features. Written once, by the job
    that describes a new picture; read by the copy indexes of the bank side and of posted media (``copies``).
    Item-level choice, docs/copy-detection.md: features and, sealed, the outlines; never the picture itself."""

    __tablename__ = "copy_descriptions"
    # Ids are never handed out twice (SQLite would reuse the highest after a delete): the posted side follows them,
    # and the upgrade job replaces a row by a new one (``copies.replace_description``).
    __table_args__ = {"sqlite_autoincrement": True}

    media_id: Mapped[int] = mapped_column(BigId, ForeignKey("media.id"), unique=True)
    width: Mapped[int] = mapped_column()
    height: Mapped[int] = mapped_column()
    pdq_rows: Mapped[list[list[Any]]] = mapped_column(JSON)  # [variant name, PDQ hex, quality], original first
    features: Mapped[bytes] = mapped_column(LargeBinary)  # keypoints.FeatureSet.to_bytes()
    # A colour picture's features on its brightest channel (a hue change keeps them); None for a grey picture
    brightest_features: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # The picture's outlines (``structure.EdgeMap.to_bytes()``, a line drawing of it), sealed (``copies.OutlineSeal``:
    # AES-GCM under the instance's ``copy-outlines`` key, bound to the media id); None where none were kept
    outlines: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # The extractor that wrote the row (keypoints.EXTRACTOR_REVISION): older rows are described again by a job
    revision: Mapped[int] = mapped_column(server_default="1", index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class IndexChange(Base):
    """A bank entry or media item whose indexed value may have changed (added, withdrawn, re-enabled, rehashed).

    Written in the transaction that changed the row (``matching.changes``); every process's indexes follow this
    log and read the row's current state, so they agree with the database within a second. Kept for the last
    ``index_log_keep`` changes (docs/matching.md, "Many processes").
    """

    __tablename__ = "index_changes"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(8))  # "bank" (a bank entry's id) or "media" (a media item's id)
    item_id: Mapped[int] = mapped_column(BigInteger)
