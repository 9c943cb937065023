"""Shapes in and out of the evidence domain, and what it needs to know of orders (given, never read here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.orm import Session

from firebreak.evidence.models import HoldScope

REASON_HINT = "say why you need it, e.g. 'Police request 2026/114 from the Seoul cyber unit'"


@dataclass(frozen=True)
class OrderScopeItem:
    order_item_id: int
    placement_ids: tuple[int, ...] = ()
    media_id: int | None = None
    chat_id: int | None = None  # an item naming a whole chat


@dataclass(frozen=True)
class OrderScope:
    """What an authority's order covers, as the orders domain sees it (evidence cannot read orders' tables)."""

    order_id: int
    tracking_id: str
    category: str
    authority: str | None = None
    case_id: int | None = None
    items: tuple[OrderScopeItem, ...] = field(default_factory=tuple)

    @property
    def order_item_ids(self) -> list[int]:
        return [i.order_item_id for i in self.items]

    @property
    def placement_ids(self) -> list[int]:
        return [p for i in self.items for p in i.placement_ids]


class OrderDirectory(Protocol):
    """Finds orders for the evidence domain. Implemented in ``orders.preservation``, wired by the composition root."""

    def find(self, session: Session, tracking_id: str) -> OrderScope | None: ...

    def of_case(self, session: Session, case_id: int) -> list[OrderScope]: ...


class NoOrders:
    """The directory of a Firebreak with no orders domain wired (packages by case still work)."""

    def find(self, session: Session, tracking_id: str) -> OrderScope | None:
        return None

    def of_case(self, session: Session, case_id: int) -> list[OrderScope]:
        return []


class Reasoned(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=1000, description=f"Why: {REASON_HINT}.")

    @field_validator("reason")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError(f"a reason is required: {REASON_HINT}")
        return value.strip()


class PackageRequest(Reasoned):
    order: str | None = Field(default=None, description="An order's tracking id, e.g. FB-2026-0001-ABCD.")
    case: str | None = Field(default=None, description="A case reference.")


class HoldRequest(Reasoned):
    scope: HoldScope
    subject: str = Field(min_length=1, max_length=300, description="Placement id, account id, chat id, order "
                                                                   "tracking id or case reference.")
    days: int | None = Field(default=None, ge=1, le=3650)


class HoldExtension(Reasoned):
    days: int | None = Field(default=None, ge=1, le=3650)


class HoldOut(BaseModel):
    id: int
    scope: HoldScope
    subject_id: int
    label: str
    reason: str
    source: str
    placed_by: str
    placed_at: datetime
    expires_at: datetime
    extensions: int
    released_at: datetime | None
    active: bool


class RecordOut(BaseModel):
    uid: str
    trigger: str
    status: str
    category: str | None
    placement_id: int | None
    media_sha256: str | None
    order_id: int | None
    case_id: int | None
    preserved_at: datetime | None
    retain_until: datetime | None
    retention_rule: str | None
    held_by: list[str]


class PurgeOut(BaseModel):
    record_uid: str
    purged_at: datetime
    rule: str
    category: str | None
    media_sha256: str | None
    media_deleted: bool
    context_sha256: str | None
    audit_seq: int
    verified: bool
    problem: str | None


Purpose = Literal["view", "export"]
