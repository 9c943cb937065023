"""Acknowledgements and receipts: what the authority gets back, item by item, copy by copy."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.core.clock import Clock
from firebreak.enforcement.models import Action
from firebreak.orders.models import ItemOutcome, ItemResolution, Order, OrderItem, OrderStatus
from firebreak.orders.schemas import Acknowledgement, CopyReceipt, ItemAck, ItemReceipt, Receipt
from firebreak.orders.service import item_copies, item_counts
from firebreak.transparency import service as statements

# (integration id, chat id, message id) -> the message's link as the platform shows it, or None
LinkFor = Callable[[int, str, str], str | None]


def acknowledgement(order: Order, *, status_url: str | None = None) -> Acknowledgement:
    """The acknowledgement. Until the sender is verified it says nothing about the items (which exist, which are
    gone): anyone can write to the hotline, and the answer must not let them probe the platform."""
    note = None
    items: list[ItemAck] = []
    if order.status == OrderStatus.RECEIVED:
        note = ("Your order is recorded. We could not yet confirm that it comes from a registered authority "
                "(see the verification note); a liaison officer will verify it. Nothing you sent is lost. What "
                "we found for each item is reported once the order is verified.")
    else:
        items = [ItemAck(position=i.position, kind=i.kind, value=i.value[:500],
                         recognised=i.resolution in (ItemResolution.FOUND, ItemResolution.ALREADY_REMOVED),
                         resolution=i.resolution, reason=i.resolution_reason) for i in order.items]
    return Acknowledgement(
        tracking_id=order.tracking_id, status=order.status, received_at=order.received_at,
        acknowledged_at=order.acknowledged_at or order.received_at, deadline_at=order.deadline_at,
        items=items, item_count=len(order.items), status_url=status_url, note=note)


def statement_summary(session: Session, item: OrderItem) -> dict[str, Any] | None:
    """The stored statement of reasons of the item's own removal or suspension (DSA Art. 17, the Transparency
    Database's shape, no personal data): the very statement the affected user was told and the export holds."""
    if item.outcome not in (ItemOutcome.REMOVED, ItemOutcome.GEO_RESTRICTED):
        return None
    action_id = session.scalar(select(Action.id).where(Action.order_item_id == item.id).order_by(Action.id).limit(1))
    stored = statements.for_action(session=session, action_id=action_id) if action_id is not None else None
    return dict(stored.payload) if stored is not None else None


def build_receipt(*, session: Session, clock: Clock, order: Order, authority_name: str,
                  reported_back_at: datetime | None = None, link_for: LinkFor | None = None) -> Receipt:
    """The receipt as of now: outcomes, copies and refused re-uploads counted live. ``reported_back_at`` is when it
    was (or is being) sent; None for a receipt never sent."""
    items = []
    totals = {"items": 0, "removed": 0, "already_removed": 0, "not_found": 0, "declined": 0, "pending": 0,
              "preserved": 0, "copies_removed": 0, "reuploads_blocked": 0}
    for item in order.items:
        counts = item_counts(session, item)
        copies = [CopyReceipt(chat=c.chat, chat_title=c.chat_title, message=c.message,
                              link=link_for(c.integration_id, c.chat, c.message) if link_for else None,
                              removed_at=c.removed_at, match=c.how,
                              signal_type=c.signal_type, distance=0 if c.exact else c.distance)
                  for c in item_copies(session, item)]
        items.append(ItemReceipt(
            position=item.position, kind=item.kind, value=item.value[:500], outcome=item.outcome,
            reason=item.outcome_reason, actioned_at=item.actioned_at, copies_removed=counts.copies_removed,
            reuploads_blocked=counts.reuploads_blocked,
            statement_of_reasons=statement_summary(session, item), copies=copies))
        totals["items"] += 1
        key = item.outcome.value if item.outcome.value in totals else "removed"
        totals[key] += 1
        totals["copies_removed"] += counts.copies_removed
        totals["reuploads_blocked"] += counts.reuploads_blocked
    met = None
    if order.deadline_at is not None and order.status not in (OrderStatus.RECEIVED, OrderStatus.VERIFIED):
        done_at = order.closed_at or clock.now()
        met = done_at <= order.deadline_at
    return Receipt(
        tracking_id=order.tracking_id, authority=authority_name, authority_reference=order.authority_reference,
        status=order.status, category=order.category, legal_basis=order.legal_basis, received_at=order.received_at,
        acknowledged_at=order.acknowledged_at, deadline_at=order.deadline_at, actioned_at=order.actioned_at,
        reported_back_at=reported_back_at, met_deadline=met, items=items, totals=totals)
