"""The review queue, the decisions taken on its items, appeals against restrictions, and moderators' reveals."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from firebreak.core.db.base import Base, BigId, IdMixin, StrEnumType, TimestampMixin, UTCDateTime


class ItemStatus(enum.StrEnum):
    OPEN = "open"  # waits for a person
    AWAITING_SECOND = "awaiting_second"  # a decision is proposed; a second moderator must approve it
    DECIDED = "decided"
    WITHDRAWN = "withdrawn"  # nothing left to decide (the order was decided elsewhere, the content is gone)


class ReviewItem(IdMixin, TimestampMixin, Base):
    """One thing that needs a person. ``kind`` names the registered handler that describes and decides it."""

    __tablename__ = "review_items"
    __table_args__ = (Index("ix_review_items_queue", "status", "severity", "deadline_at"),)

    kind: Mapped[str] = mapped_column(String(40))  # a registered ReviewKind's name: "match", "order", "appeal", ...
    source: Mapped[str] = mapped_column(String(40))  # where it came from: "bank", "authority", "enforcement", ...
    subject_type: Mapped[str] = mapped_column(String(40))  # what it is about: "match", "order", "chat", "appeal"
    subject_id: Mapped[int] = mapped_column(BigId)
    # Set while the item is open: at most one open item per key (NULLs never clash), so asking twice adds nothing.
    open_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    title: Mapped[str] = mapped_column(String(300))  # for the queue; never a user's name
    severity: Mapped[int] = mapped_column(default=50)  # 0-100, from the policy ground
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    spread: Mapped[int] = mapped_column(default=0)  # copies or placements seen
    spread_per_hour: Mapped[float] = mapped_column(default=0.0)
    category: Mapped[str | None] = mapped_column(String(80))
    jurisdiction: Mapped[str | None] = mapped_column(String(8))
    facts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the handler's own references
    status: Mapped[ItemStatus] = mapped_column(StrEnumType(ItemStatus), default=ItemStatus.OPEN)
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claimed_by_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("staff_users.id"))
    claim_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A moderator who may not decide this item (an appeal: whoever took the decision appealed against).
    excluded_staff_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("staff_users.id"))
    # Raised on every change, so a page opened before a change cannot decide (stale pages).
    version: Mapped[int] = mapped_column(default=1)


class DecisionOutcome(enum.StrEnum):
    VIOLATING = "violating"  # act: remove, and bank so copies go too
    NOT_VIOLATING = "not_violating"
    GEO_RESTRICT = "geo_restrict"
    ESCALATE = "escalate"


class DecisionStatus(enum.StrEnum):
    FINAL = "final"  # applied
    PROPOSED = "proposed"  # waits for a second moderator
    REFUSED = "refused"  # the second moderator did not approve it; nothing was applied


class Decision(IdMixin, TimestampMixin, Base):
    """A decision on a review item. Every restrictive decision names its policy ground."""

    __tablename__ = "decisions"

    review_item_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("review_items.id"), index=True)
    choice: Mapped[str | None] = mapped_column(String(40))  # the handler's choice: "confirm", "dismiss", ...
    status: Mapped[DecisionStatus] = mapped_column(StrEnumType(DecisionStatus), default=DecisionStatus.FINAL)
    media_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("media.id"), index=True)
    placement_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("placements.id"))
    order_item_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("order_items.id"))
    report_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("victim_reports.id"))
    match_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("matches.id"))
    case_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("cases.id"))
    outcome: Mapped[DecisionOutcome] = mapped_column(StrEnumType(DecisionOutcome))
    # "illegal_content" (with legal_reference) or "incompatible_content" (terms of service)
    policy_ground: Mapped[str] = mapped_column(String(40))
    policy_category: Mapped[str] = mapped_column(String(80))
    ground: Mapped[str | None] = mapped_column(String(80))  # the policy ground's name (transparency/policy.toml)
    legal_reference: Mapped[str | None] = mapped_column(String(500))
    explanation: Mapped[str | None] = mapped_column(Text)
    automated: Mapped[bool] = mapped_column(default=False)
    decided_by_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("staff_users.id"))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime())
    second_by_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("staff_users.id"))
    second_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # what the form carried (kind-specific)
    result: Mapped[str | None] = mapped_column(Text)  # what applying it did, in words
    territorial_scope: Mapped[str | None] = mapped_column(String(500))  # comma-separated ISO codes


class AppealStatus(enum.StrEnum):
    OPEN = "open"
    UPHELD = "upheld"  # the decision stands
    REVERSED = "reversed"  # the decision is undone, content restored


class AppealChannel(enum.StrEnum):
    PLATFORM = "platform"  # forwarded by the platform through the API
    LINK = "link"  # the user followed the signed link in the notice


class Appeal(IdMixin, TimestampMixin, Base):
    """An internal complaint (DSA Art. 20) against one restriction, named by its statement of reasons."""

    __tablename__ = "appeals"

    reference: Mapped[str | None] = mapped_column(String(40), unique=True)  # told to the user
    statement_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("statements_of_reasons.id"), unique=True)
    decision_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("decisions.id"), index=True)
    review_item_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("review_items.id"))
    appellant_account_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("platform_accounts.id"))
    channel: Mapped[AppealChannel] = mapped_column(StrEnumType(AppealChannel), default=AppealChannel.LINK)
    statement: Mapped[str] = mapped_column(Text)  # what the user wrote
    status: Mapped[AppealStatus] = mapped_column(StrEnumType(AppealStatus), default=AppealStatus.OPEN)
    resolved_by_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("staff_users.id"))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolution_note: Mapped[str | None] = mapped_column(Text)


class Reveal(IdMixin, Base):
    """A moderator chose to see a sensitive picture unblurred. Counted per moderator and day (a soft limit)."""

    __tablename__ = "review_reveals"
    __table_args__ = (UniqueConstraint("staff_id", "review_item_id", "media_id", "day"),
                      Index("ix_review_reveals_staff_day", "staff_id", "day"))

    staff_id: Mapped[int] = mapped_column(BigId, ForeignKey("staff_users.id"))
    review_item_id: Mapped[int] = mapped_column(BigId, ForeignKey("review_items.id"))
    media_id: Mapped[int] = mapped_column(BigId, ForeignKey("media.id"))
    day: Mapped[date] = mapped_column(Date())
    revealed_at: Mapped[datetime] = mapped_column(UTCDateTime())
