"""Human decisions and appeals against them."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from firebreak.core.db.base import Base, BigId, IdMixin, StrEnumType, TimestampMixin, UTCDateTime


class DecisionOutcome(enum.StrEnum):
    VIOLATING = "violating"  # act: remove, and bank so copies go too
    NOT_VIOLATING = "not_violating"
    GEO_RESTRICT = "geo_restrict"
    ESCALATE = "escalate"


class Decision(IdMixin, TimestampMixin, Base):
    """A decision on a piece of content. Every decision names its policy ground."""

    __tablename__ = "decisions"

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
    legal_reference: Mapped[str | None] = mapped_column(String(500))
    explanation: Mapped[str | None] = mapped_column(Text)
    automated: Mapped[bool] = mapped_column(default=False)
    decided_by_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("staff_users.id"))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime())
    territorial_scope: Mapped[str | None] = mapped_column(String(500))  # comma-separated ISO codes


class AppealStatus(enum.StrEnum):
    OPEN = "open"
    UPHELD = "upheld"  # the decision stands
    REVERSED = "reversed"  # the decision is undone, content restored


class Appeal(IdMixin, TimestampMixin, Base):
    __tablename__ = "appeals"

    decision_id: Mapped[int] = mapped_column(BigId, ForeignKey("decisions.id"), index=True)
    appellant_account_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("platform_accounts.id"))
    statement: Mapped[str] = mapped_column(Text)
    status: Mapped[AppealStatus] = mapped_column(StrEnumType(AppealStatus), default=AppealStatus.OPEN)
    resolved_by_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("staff_users.id"))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolution_note: Mapped[str | None] = mapped_column(Text)
