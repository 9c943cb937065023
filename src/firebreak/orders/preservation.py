"""What an order covers, for the evidence domain: its items, the placements they point at and the copies removed
because of them. ``OrdersDirectory`` is handed to evidence by the composition root; ``request_preservation`` is
what intake calls for an order whose requested action is "preserve" (a preservation request)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.authorities.models import Authority
from firebreak.banks.models import BankEntry
from firebreak.core.clock import Clock
from firebreak.enforcement.models import Action, ActionKind
from firebreak.evidence import service as evidence
from firebreak.evidence.models import LegalHold
from firebreak.evidence.schemas import OrderScope, OrderScopeItem
from firebreak.matching.models import Match
from firebreak.orders.models import Order, OrderItem

PRESERVE = "preserve"


def order_scope(session: Session, order: Order) -> OrderScope:
    items = []
    for item in session.scalars(select(OrderItem).where(OrderItem.order_id == order.id).order_by(OrderItem.position)):
        placements = [item.placement_id] if item.placement_id else []
        # Copies removed because this item was banked, and removals tagged with the item.
        copies = session.scalars(
            select(Action.placement_id).join(Match, Match.id == Action.match_id)
            .join(BankEntry, BankEntry.id == Match.bank_entry_id)
            .where(BankEntry.source_ref == f"order_item:{item.id}", Action.kind == ActionKind.REMOVE_MESSAGE,
                   Action.placement_id.is_not(None)))
        tagged = session.scalars(select(Action.placement_id).where(
            Action.order_item_id == item.id, Action.kind == ActionKind.REMOVE_MESSAGE,
            Action.placement_id.is_not(None)))
        chat = session.scalar(select(Action.chat_id).where(Action.order_item_id == item.id,
                                                           Action.kind == ActionKind.SUSPEND_CHAT))
        placements += [p for p in [*copies, *tagged] if p is not None]
        items.append(OrderScopeItem(order_item_id=item.id, placement_ids=tuple(dict.fromkeys(placements)),
                                    media_id=item.media_id, chat_id=chat))
    authority = session.get(Authority, order.authority_id) if order.authority_id else None
    return OrderScope(order_id=order.id, tracking_id=order.tracking_id, category=order.category,
                      authority=authority.name if authority else None, case_id=order.case_id, items=tuple(items))


class OrdersDirectory:
    """evidence.schemas.OrderDirectory over the orders tables."""

    def find(self, session: Session, tracking_id: str) -> OrderScope | None:
        order = session.scalar(select(Order).where(Order.tracking_id == tracking_id))
        return order_scope(session, order) if order is not None else None

    def of_case(self, session: Session, case_id: int) -> list[OrderScope]:
        return [order_scope(session, o) for o in session.scalars(select(Order).where(Order.case_id == case_id))]


def request_preservation(*, session: Session, clock: Clock, actor: str, order: Order,
                         retention: evidence.RetentionPolicy) -> LegalHold:
    """A preservation request: hold the order's items for 90 days (extendable) and preserve each now. Nothing is
    removed. The caller (intake, for ``requested_action == "preserve"``) records the order itself as usual."""
    reason = (f"Preservation request {order.tracking_id}"
              + (f" ({order.authority_reference})" if order.authority_reference else "")
              + (f", legal basis: {order.legal_basis}" if order.legal_basis else ""))
    return evidence.place_hold_for_order(session=session, clock=clock, actor=actor, scope=order_scope(session, order),
                                         reason=reason, retention=retention)
