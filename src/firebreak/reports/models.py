"""Reports from the people depicted (victims), their items, and the limits that keep floods out. No account needed.

A report names content on the platform (message links) or, hash-only, carries hashes computed on the person's own
device. The person keeps a case number, a secret status link (stored as a SHA-256 of its token) and a PIN (stored as
an HMAC under an instance-derived key). Contact details, the typed signature and the person's own words are sealed
with AES-GCM (``reports.sealing``): the database holds no readable personal data of the reporter.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from firebreak.core.db.base import Base, BigId, IdMixin, StrEnumType, TimestampMixin, UTCDateTime


class ReportKind(enum.StrEnum):
    LINKS = "links"  # names messages on the platform: reviewed, then removed with every copy
    HASHES = "hashes"  # hashes from the person's device only: banked for review at once (a hash cannot be verified)


class ReportStatus(enum.StrEnum):
    RECEIVED = "received"
    IN_REVIEW = "in_review"
    ACTIONED = "actioned"  # confirmed: banked, removals under way or done
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"
    HASHES_ACTIVE = "hashes_active"  # hash-only: the hashes are in the victims' review bank


class ReporterRelation(enum.StrEnum):
    DEPICTED = "depicted"  # the person in the picture
    GUARDIAN = "guardian"  # a parent or guardian
    REPRESENTATIVE = "representative"  # an authorised representative, e.g. a victim-support centre


class ReportCategory(enum.StrEnum):
    INTIMATE_IMAGE = "intimate_image"  # an intimate image shared without consent
    SEXUAL_DEEPFAKE = "sexual_deepfake"
    THREAT_TO_SHARE = "threat_to_share"
    CSAM = "csam"  # child sexual abuse material
    OTHER = "other"

    @property
    def taxonomy(self) -> str:
        """The category of the shared taxonomy (authorities/taxonomy.py) that banks, grounds and statements use."""
        return _TAXONOMY[self]


_TAXONOMY = {ReportCategory.INTIMATE_IMAGE: "ncii", ReportCategory.SEXUAL_DEEPFAKE: "sexual_deepfake",
             ReportCategory.THREAT_TO_SHARE: "ncii", ReportCategory.CSAM: "csam", ReportCategory.OTHER: "other"}


class DeclineReason(enum.StrEnum):
    NOT_FOUND = "not_found"  # nothing at the links on the platform
    NOT_VIOLATING = "not_violating"
    NEED_MORE_INFORMATION = "need_more_information"
    DUPLICATE = "duplicate"  # the same content is handled under another case


class VictimReport(IdMixin, TimestampMixin, Base):
    __tablename__ = "victim_reports"

    reference: Mapped[str] = mapped_column(String(40), unique=True)  # the case number the person keeps
    # SHA-256 of the status link's token (256 random bits: a fast hash is enough, as for API tokens).
    access_code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # SHA-256 of the one-time key of the form (or the API's Idempotency-Key) it came from: the same form sent twice
    # (a reload, a double click, a client's retry) is one case.
    submission_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    pin_hash: Mapped[str] = mapped_column(String(64))  # HMAC-SHA256 under the instance's "victim-pin" key
    kind: Mapped[ReportKind] = mapped_column(StrEnumType(ReportKind), default=ReportKind.LINKS)
    reporter_relation: Mapped[ReporterRelation] = mapped_column(StrEnumType(ReporterRelation))
    category: Mapped[ReportCategory] = mapped_column(StrEnumType(ReportCategory))
    jurisdiction: Mapped[str] = mapped_column(String(8), default="")  # ISO country whose clock applies, "" other
    language: Mapped[str] = mapped_column(String(16), default="en")  # of the pages and mails the person reads
    message_links: Mapped[list[str]] = mapped_column(JSON, default=list)  # as the person gave them
    # AES-GCM sealed JSON: signature, name, e-mail, phone, the person's own words. None once withdrawn.
    sealed_private: Mapped[str | None] = mapped_column(Text)
    email_updates: Mapped[bool] = mapped_column(default=False)
    good_faith_statement: Mapped[bool] = mapped_column(default=False)
    # The four elements of the US TAKE IT DOWN Act are all present: signature, where the content is, the
    # good-faith statement, and a way to reach the person.
    complete_request: Mapped[bool] = mapped_column(default=False)
    priority: Mapped[int] = mapped_column(default=50)
    status: Mapped[ReportStatus] = mapped_column(StrEnumType(ReportStatus), default=ReportStatus.RECEIVED)
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reviewed_by_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("staff_users.id"))
    decline_reason: Mapped[DeclineReason | None] = mapped_column(StrEnumType(DeclineReason))
    review_note: Mapped[str | None] = mapped_column(Text)  # the moderator's, for staff only
    actioned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # the first removal
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # every removal final, copies searched
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reminded_50_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reminded_90_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The search for copies, as evidence of the effort: per bank entry what was searched and found, with times.
    copy_search: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    case_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("cases.id"))

    items: Mapped[list[VictimReportItem]] = relationship(back_populates="report",
                                                         order_by="VictimReportItem.position")


class ItemKind(enum.StrEnum):
    MESSAGE_LINK = "message_link"
    FILE_HASHES = "file_hashes"  # one file hashed on the person's device


class ItemResolution(enum.StrEnum):
    PENDING = "pending"
    FOUND = "found"
    ALREADY_REMOVED = "already_removed"
    NOT_FOUND = "not_found"  # a link to the platform, but no such message with media is known


class ItemOutcome(enum.StrEnum):
    PENDING = "pending"
    REMOVED = "removed"
    ALREADY_REMOVED = "already_removed"
    NOT_FOUND = "not_found"
    BANKED = "banked"  # hashes in the bank: matches go to review
    NOT_ACTED = "not_acted"  # declined or withdrawn before anything was done
    FAILED = "failed"  # the platform did not carry the removal out


class VictimReportItem(IdMixin, TimestampMixin, Base):
    __tablename__ = "victim_report_items"

    report_id: Mapped[int] = mapped_column(BigId, ForeignKey("victim_reports.id"), index=True)
    position: Mapped[int] = mapped_column()
    kind: Mapped[ItemKind] = mapped_column(StrEnumType(ItemKind))
    value: Mapped[str] = mapped_column(Text)  # the link, or the file's SHA-256
    # For file hashes: {"md5", "sha256", "pdq": {"hash", "quality"} | None, "frames": [...]}; never a file name.
    hashes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    integration_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("platform_integrations.id"))
    placement_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("placements.id"))
    media_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("media.id"))
    resolution: Mapped[ItemResolution] = mapped_column(StrEnumType(ItemResolution), default=ItemResolution.PENDING)
    outcome: Mapped[ItemOutcome] = mapped_column(StrEnumType(ItemOutcome), default=ItemOutcome.PENDING)
    actioned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    report: Mapped[VictimReport] = relationship(back_populates="items")


class VictimRateLimit(Base):
    """A counter in a fixed window for one key (a keyed hash of a client address, or a case), and a lock.

    In the database, so every process counts together (as the login throttle does).
    """

    __tablename__ = "victim_rate_limits"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    count: Mapped[int] = mapped_column(default=0)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
