"""Acknowledgements and receipts: what the authority gets back, item by item."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.core.clock import Clock
from firebreak.enforcement.models import Action
from firebreak.orders.models import ItemOutcome, ItemResolution, Order, OrderItem, OrderStatus
from firebreak.orders.schemas import Acknowledgement, ItemAck, ItemReceipt, Receipt
from firebreak.orders.service import item_counts
from firebreak.transparency import service as statements


def acknowledgement(order: Order, *, status_url: str | None = None) -> Acknowledgement:
    note = None
    if order.status == OrderStatus.RECEIVED:
        note = ("Your order is recorded. We could not yet confirm that it comes from a registered authority "
                "(see the verification note); a liaison officer will verify it. Nothing you sent is lost.")
    return Acknowledgement(
        tracking_id=order.tracking_id, status=order.status, received_at=order.received_at,
        acknowledged_at=order.acknowledged_at or order.received_at, deadline_at=order.deadline_at,
        items=[ItemAck(position=i.position, kind=i.kind, value=i.value[:500],
                       recognised=i.resolution in (ItemResolution.FOUND, ItemResolution.ALREADY_REMOVED),
                       resolution=i.resolution, reason=i.resolution_reason) for i in order.items],
        status_url=status_url, note=note)


def statement_summary(session: Session, item: OrderItem) -> dict[str, Any] | None:
    """The stored statement of reasons of the item's own removal or suspension (DSA Art. 17, the Transparency
    Database's shape, no personal data): the very statement the affected user was told and the export holds."""
    if item.outcome not in (ItemOutcome.REMOVED, ItemOutcome.GEO_RESTRICTED):
        return None
    action_id = session.scalar(select(Action.id).where(Action.order_item_id == item.id).order_by(Action.id).limit(1))
    stored = statements.for_action(session=session, action_id=action_id) if action_id is not None else None
    return dict(stored.payload) if stored is not None else None


def build_receipt(*, session: Session, clock: Clock, order: Order, authority_name: str) -> Receipt:
    items = []
    totals = {"items": 0, "removed": 0, "already_removed": 0, "not_found": 0, "declined": 0, "pending": 0,
              "copies_removed": 0, "reuploads_blocked": 0}
    for item in order.items:
        counts = item_counts(session, item)
        items.append(ItemReceipt(
            position=item.position, kind=item.kind, value=item.value[:500], outcome=item.outcome,
            reason=item.outcome_reason, actioned_at=item.actioned_at, copies_removed=counts.copies_removed,
            reuploads_blocked=counts.reuploads_blocked,
            statement_of_reasons=statement_summary(session, item)))
        totals["items"] += 1
        key = item.outcome.value if item.outcome.value in totals else "removed"
        totals[key] += 1
        totals["copies_removed"] += counts.copies_removed
        totals["reuploads_blocked"] += counts.reuploads_blocked
    now = clock.now()
    met = None
    if order.deadline_at is not None and order.status not in (OrderStatus.RECEIVED, OrderStatus.VERIFIED):
        done_at = order.closed_at or now
        met = done_at <= order.deadline_at
    return Receipt(
        tracking_id=order.tracking_id, authority=authority_name, authority_reference=order.authority_reference,
        status=order.status, category=order.category, legal_basis=order.legal_basis, received_at=order.received_at,
        acknowledged_at=order.acknowledged_at, deadline_at=order.deadline_at, actioned_at=order.actioned_at,
        reported_back_at=now, met_deadline=met, items=items, totals=totals)


def receipt_text(receipt: Receipt, platform: str) -> str:
    """The plain-text receipt, as sent by e-mail."""
    lines = [
        f"Receipt for order {receipt.tracking_id}" + (f" (your reference {receipt.authority_reference})"
                                                      if receipt.authority_reference else ""),
        f"Platform: {platform}",
        f"Status: {receipt.status.value.replace('_', ' ')}",
        f"Received: {receipt.received_at:%Y-%m-%d %H:%M:%S} UTC",
        f"Deadline: {receipt.deadline_at:%Y-%m-%d %H:%M:%S} UTC" if receipt.deadline_at else "Deadline: none set",
        f"Action taken: {receipt.actioned_at:%Y-%m-%d %H:%M:%S} UTC" if receipt.actioned_at else "Action taken: -",
        f"Deadline met: {'yes' if receipt.met_deadline else 'no' if receipt.met_deadline is False else '-'}",
        "",
        f"{receipt.totals['items']} items: {receipt.totals['removed']} removed, "
        f"{receipt.totals['already_removed']} already removed, {receipt.totals['not_found']} not found, "
        f"{receipt.totals['declined']} declined, {receipt.totals['pending']} pending.",
        f"Copies removed with them: {receipt.totals['copies_removed']}. "
        f"Re-uploads blocked so far: {receipt.totals['reuploads_blocked']}.",
        "",
        "Item by item:",
    ]
    for item in receipt.items:
        when = f" at {item.actioned_at:%Y-%m-%d %H:%M:%S} UTC" if item.actioned_at else ""
        reason = f" ({item.reason})" if item.reason else ""
        lines.append(f"{item.position:>4}. {item.outcome.value.replace('_', ' ')}{when}; copies removed: "
                     f"{item.copies_removed}; re-uploads blocked: {item.reuploads_blocked}{reason}")
        lines.append(f"      {item.value[:200]}")
    lines += ["", "The machine-readable receipt is attached as JSON. Reply to this e-mail to write to the "
              "platform's liaison team; keep the tracking ID in the subject."]
    return "\n".join(lines)
