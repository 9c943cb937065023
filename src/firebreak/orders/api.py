"""Order routes. Authorities see only their own orders (anything else is 'not found'); staff see all."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from firebreak.api.deps import Principal, PrincipalDep, require_staff
from firebreak.auth.models import CredentialScope, Role
from firebreak.authorities.models import Authority
from firebreak.authorities.taxonomy import CATEGORIES
from firebreak.core.http.deps import ClockDep, Provide, SessionDep
from firebreak.core.http.problems import Problem
from firebreak.orders import service
from firebreak.orders.flows import OrderDesk
from firebreak.orders.models import Channel, MessageDirection, Order, OrderMessage, OrderStatus
from firebreak.orders.receipts import acknowledgement, build_receipt
from firebreak.orders.render import receipt_html
from firebreak.orders.schemas import (
    Acknowledgement,
    MessageIn,
    MessageOut,
    OrderCreate,
    OrderOut,
    Receipt,
    ReviewDecision,
)

router = APIRouter(prefix="/v1/orders", tags=["orders"])
Desk = Annotated[OrderDesk, Provide(OrderDesk)]
Liaison = Annotated[Principal, require_staff(Role.ADMIN, Role.LIAISON)]
StaffRead = Annotated[Principal, require_staff(Role.ADMIN, Role.LIAISON, Role.AUDITOR)]


def check_category(category: str) -> None:
    if category not in CATEGORIES:
        raise Problem(422, "Invalid order", f"category {category!r} is not one of {', '.join(CATEGORIES)}",
                      errors=[{"field": "category", "message": f"one of {', '.join(CATEGORIES)}"}])


def _visible(session: SessionDep, who: Principal, tracking_id: str) -> Order:
    if who.kind == CredentialScope.AUTHORITY:
        authority_id = who.authority_id
    elif who.is_staff(Role.ADMIN, Role.LIAISON, Role.AUDITOR):
        authority_id = None
    else:
        raise Problem(403, "Forbidden", "orders are for authorities and liaison staff")
    try:
        return service.get_order(session=session, tracking_id=tracking_id, authority_id=authority_id)
    except service.OrderError:
        raise Problem(404, "Not found", f"no order {tracking_id} for you") from None


def order_out(order: Order, now_ts: float) -> OrderOut:
    out = OrderOut.model_validate(order)
    out.item_count = len(order.items)
    if order.deadline_at is not None and order.status in service.OPEN:
        out.seconds_left = int(order.deadline_at.timestamp() - now_ts)
        out.overdue = out.seconds_left < 0
    return out


@router.post("", response_model=Acknowledgement, status_code=201,
             summary="Send a takedown order (authority token). The answer is the acknowledgement.")
def create(data: OrderCreate, session: SessionDep, desk: Desk, who: PrincipalDep,
           response: Response) -> Acknowledgement:
    if who.kind != CredentialScope.AUTHORITY or who.authority_id is None:
        raise Problem(403, "Forbidden", "only an authority's API token can send orders")
    check_category(data.category)
    authority = session.get(Authority, who.authority_id)
    if authority is None or not authority.is_active:
        raise Problem(403, "Forbidden", "this authority is not active")
    order, ack = desk.submit(session=session, authority=authority, contact=None, channel=Channel.API, data=data,
                             actor=who.actor)
    response.headers["Location"] = f"/v1/orders/{order.tracking_id}"
    return ack


@router.get("", response_model=list[OrderOut], summary="Orders: an authority's own, or all for staff")
def list_orders(session: SessionDep, clock: ClockDep, who: PrincipalDep, status: OrderStatus | None = None,
                open_only: bool = False) -> list[OrderOut]:
    stmt = select(Order)
    if who.kind == CredentialScope.AUTHORITY:
        stmt = stmt.where(Order.authority_id == who.authority_id)
    elif not who.is_staff(Role.ADMIN, Role.LIAISON, Role.AUDITOR):
        raise Problem(403, "Forbidden", "orders are for authorities and liaison staff")
    if status is not None:
        stmt = stmt.where(Order.status == status)
    if open_only:
        stmt = stmt.where(Order.status.in_(service.OPEN))
    orders = session.scalars(stmt.order_by(Order.deadline_at.is_(None), Order.deadline_at, Order.id).limit(500))
    now = clock.now().timestamp()
    return [order_out(o, now) for o in orders]


@router.get("/{tracking_id}", response_model=OrderOut)
def get(tracking_id: str, session: SessionDep, clock: ClockDep, who: PrincipalDep) -> OrderOut:
    return order_out(_visible(session, who, tracking_id), clock.now().timestamp())


@router.get("/{tracking_id}/acknowledgement", response_model=Acknowledgement)
def get_ack(tracking_id: str, session: SessionDep, clock: ClockDep, who: PrincipalDep) -> Acknowledgement:
    return acknowledgement(_visible(session, who, tracking_id), status_url=None)


def live_receipt(session: SessionDep, clock: ClockDep, desk: OrderDesk, order: Order) -> Receipt:
    """The receipt as of now (copies and refused re-uploads counted live, also after the order closed);
    ``reported_back_at`` says when one was last sent (None if never). The copy as sent stays in ``order.receipt``."""
    authority = session.get(Authority, order.authority_id) if order.authority_id else None
    return build_receipt(session=session, clock=clock, order=order,
                         authority_name=authority.name if authority else "unverified sender",
                         reported_back_at=order.reported_back_at, link_for=desk.link_for(session))


@router.get("/{tracking_id}/receipt", response_model=Receipt,
            summary="The receipt: per item the outcome, time of action, copies removed, re-uploads blocked")
def get_receipt(tracking_id: str, session: SessionDep, clock: ClockDep, desk: Desk, who: PrincipalDep) -> Receipt:
    return live_receipt(session, clock, desk, _visible(session, who, tracking_id))


@router.get("/{tracking_id}/receipt.html", response_class=HTMLResponse, summary="The receipt, printable")
def get_receipt_html(tracking_id: str, session: SessionDep, clock: ClockDep, desk: Desk,
                     who: PrincipalDep) -> HTMLResponse:
    order = _visible(session, who, tracking_id)
    authority = session.get(Authority, order.authority_id) if order.authority_id else None
    reader = desk.reader(authority) if who.kind == CredentialScope.AUTHORITY else desk.reader(None)
    return HTMLResponse(receipt_html(live_receipt(session, clock, desk, order), desk.platform_name, reader))


@router.get("/{tracking_id}/messages", response_model=list[MessageOut], summary="The order's secure thread")
def messages(tracking_id: str, session: SessionDep, who: PrincipalDep) -> list[OrderMessage]:
    order = _visible(session, who, tracking_id)
    return service.thread(session=session, order=order, for_authority=who.kind == CredentialScope.AUTHORITY)


@router.post("/{tracking_id}/messages", response_model=MessageOut, status_code=201)
def post_message(tracking_id: str, data: MessageIn, session: SessionDep, clock: ClockDep, desk: Desk,
                 who: PrincipalDep) -> OrderMessage:
    order = _visible(session, who, tracking_id)
    if who.kind == CredentialScope.AUTHORITY:
        direction, author = MessageDirection.FROM_AUTHORITY, who.actor
    elif who.is_staff(Role.ADMIN, Role.LIAISON):
        direction, author = MessageDirection.FROM_PLATFORM, who.actor
    else:
        raise Problem(403, "Forbidden", "auditors read the thread; they do not write in it")
    message = service.add_message(session=session, clock=clock, actor=who.actor, order=order,
                                  direction=direction, channel=Channel.API, author=author, body=data.body,
                                  subject=data.subject)
    if direction == MessageDirection.FROM_PLATFORM:
        desk.send_message(session=session, order=order, text=data.body, subject=data.subject)
    return message


@router.post("/{tracking_id}/withdraw", response_model=OrderOut, summary="The authority withdraws its order")
def withdraw(tracking_id: str, session: SessionDep, clock: ClockDep, who: PrincipalDep) -> OrderOut:
    order = _visible(session, who, tracking_id)
    if who.kind != CredentialScope.AUTHORITY and not who.is_staff(Role.ADMIN, Role.LIAISON):
        raise Problem(403, "Forbidden", "only the authority or liaison staff withdraw an order")
    try:
        service.transition(session=session, clock=clock, actor=who.actor, order=order,
                           new=OrderStatus.WITHDRAWN, reason="withdrawn by " + who.actor)
    except service.IllegalTransition as exc:
        raise Problem(409, "Conflict", str(exc)) from None
    return order_out(order, clock.now().timestamp())


@router.post("/{tracking_id}/review", response_model=OrderOut,
             summary="Liaison review: verify an unverified mail order, approve or reject, decline items")
def review(tracking_id: str, data: ReviewDecision, session: SessionDep, clock: ClockDep, desk: Desk,
           who: Liaison) -> OrderOut:
    order = _visible(session, who, tracking_id)
    try:
        if not data.approve:
            service.transition(session=session, clock=clock, actor=who.actor, order=order,
                               new=OrderStatus.REJECTED, reason=data.reason or "rejected after review")
            return order_out(order, clock.now().timestamp())
        if order.status == OrderStatus.RECEIVED:
            authority_id = data.authority_id or order.sender_authentication.get("candidate_authority_id")
            authority = session.get(Authority, authority_id) if authority_id else None
            if authority is None:
                raise Problem(422, "Invalid review", "name the authority this order comes from",
                              errors=[{"field": "authority_id", "message": "required for an unverified order"}])
            desk.verify(session=session, actor=who.actor, order=order, authority=authority)
        if order.status == OrderStatus.VERIFIED:
            desk.confirm(session=session, actor=who.actor, order=order,
                         declined={d.position: d.decline_reason for d in data.declined_items})
        else:
            raise Problem(409, "Conflict", f"order {order.tracking_id} is {order.status.value}: nothing to review")
    except service.IllegalTransition as exc:
        raise Problem(409, "Conflict", str(exc)) from None
    return order_out(order, clock.now().timestamp())


@router.post("/{tracking_id}/report", response_model=Receipt, summary="Send the receipt now (liaison staff)")
def report_now(tracking_id: str, session: SessionDep, desk: Desk, who: Liaison) -> Receipt:
    order = _visible(session, who, tracking_id)
    desk.report_back(session, order, final=order.status not in service.OPEN)
    return Receipt.model_validate(order.receipt)


dashboard = APIRouter(prefix="/v1/dashboard", tags=["orders"])


@dashboard.get("/orders", response_model=list[OrderOut], summary="Open orders, least time left first")
def open_orders(session: SessionDep, clock: ClockDep, _: StaffRead) -> list[OrderOut]:
    now = clock.now().timestamp()
    return [order_out(o, now) for o in service.open_orders(session=session)]
