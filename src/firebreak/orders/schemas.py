"""Order shapes: what an authority sends, the acknowledgement, the receipt."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from firebreak.core.http.params import DbId
from firebreak.orders.models import Channel, ItemKind, ItemOutcome, ItemResolution, MessageDirection, OrderStatus

MAX_ITEMS = 5000
Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]


class OrderItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: ItemKind
    value: Annotated[str, StringConstraints(min_length=1, max_length=4000, strip_whitespace=True)]
    signal_type: Annotated[str, StringConstraints(max_length=32)] | None = None  # for kind=hash
    media_base64: str | None = Field(default=None, description="for kind=media: the file, base64")

    @model_validator(mode="after")
    def _check(self) -> OrderItemIn:
        if self.kind == ItemKind.HASH and not self.signal_type:
            raise ValueError("a hash item needs signal_type (pdq, md5, sha256)")
        if self.kind == ItemKind.MEDIA and not self.media_base64:
            raise ValueError("a media item needs media_base64")
        return self


class OrderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    authority_reference: Annotated[str, StringConstraints(max_length=200)] | None = None
    legal_basis: Annotated[str, StringConstraints(max_length=500)] | None = None
    category: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    # "remove": take the items and every copy down. "preserve": a preservation request (e.g. 18 U.S.C. 2703(f)):
    # keep the items and their context as evidence under a legal hold (90 days, extendable), remove nothing.
    requested_action: Literal["remove", "preserve"] = "remove"
    territorial_scope: list[Country] = Field(default_factory=list, max_length=60)
    deadline: AwareDatetime | None = None
    free_text: Annotated[str, StringConstraints(max_length=20000)] | None = None
    items: list[OrderItemIn] = Field(min_length=1, max_length=MAX_ITEMS)


class ItemAck(BaseModel):
    position: int
    kind: ItemKind
    value: str
    recognised: bool
    resolution: ItemResolution
    reason: str | None


class Acknowledgement(BaseModel):
    """Sent within seconds, by the channel the order came in."""

    tracking_id: str
    status: OrderStatus
    received_at: datetime
    acknowledged_at: datetime
    deadline_at: datetime | None
    items: list[ItemAck] = Field(description="per item, whether it was recognised; empty until the sender is "
                                 "verified")
    item_count: int = 0
    status_url: str | None = None
    note: str | None = None


class CopyReceipt(BaseModel):
    """A copy removed with an item: where it was, when it went, how it was recognised."""

    chat: str = Field(description="the chat's id on the platform")
    chat_title: str | None
    message: str = Field(description="the message's id on the platform")
    link: str | None = Field(description="the message's link as the platform shows it")
    removed_at: datetime | None
    match: Literal["exact", "near", "edited", "clip"] = Field(
        description="exact: same file (SHA-256/MD5); near: perceptual (PDQ); edited: a cropped, captioned or "
                    "recoloured copy of a picture that the second line of matching verified; clip: a copy of a "
                    "video, or a clip cut from it, whose seconds line up with it (both with signal_type copy)")
    signal_type: str
    distance: int = Field(description="Hamming distance of the perceptual hash (0 for exact matches)")


class ItemReceipt(BaseModel):
    position: int
    kind: ItemKind
    value: str
    outcome: ItemOutcome
    reason: str | None
    actioned_at: datetime | None
    copies_removed: int
    reuploads_blocked: int = Field(description="uploads of the item refused since, each once; live")
    statement_of_reasons: dict[str, Any] | None
    copies: list[CopyReceipt] = Field(default_factory=list)


class Receipt(BaseModel):
    tracking_id: str
    authority: str
    authority_reference: str | None
    status: OrderStatus
    category: str
    legal_basis: str | None
    received_at: datetime
    acknowledged_at: datetime | None
    deadline_at: datetime | None
    actioned_at: datetime | None
    reported_back_at: datetime | None = Field(description="when the receipt was last sent; None if never")
    met_deadline: bool | None
    items: list[ItemReceipt]
    totals: dict[str, int]


class OrderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    tracking_id: str
    status: OrderStatus
    status_reason: str | None
    channel: Channel
    category: str
    legal_basis: str | None
    authority_reference: str | None
    territorial_scope: list[str]
    received_at: datetime
    acknowledged_at: datetime | None
    deadline_at: datetime | None
    actioned_at: datetime | None
    reported_back_at: datetime | None
    seconds_left: int | None = None
    overdue: bool = False
    item_count: int = 0


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: Annotated[str, StringConstraints(min_length=1, max_length=20000)]
    subject: Annotated[str, StringConstraints(max_length=500)] | None = None


class MessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    direction: MessageDirection
    channel: Channel
    author: str
    subject: str | None
    body: str
    created_at: datetime
    internal: bool = Field(default=False, description="a note for the platform's staff only")


class ItemDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    position: int = Field(ge=1, le=MAX_ITEMS)
    decline_reason: Annotated[str, StringConstraints(min_length=3, max_length=2000)]


class ReviewDecision(BaseModel):
    """A liaison officer's review of an order from a not-trusted authority (or of unverified mail)."""

    model_config = ConfigDict(extra="forbid")

    approve: bool
    reason: Annotated[str, StringConstraints(max_length=2000)] | None = None
    declined_items: list[ItemDecision] = Field(default_factory=list)
    authority_id: DbId | None = Field(default=None, description="for unverified mail: the authority it is from")
