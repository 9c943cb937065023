"""Order pages: the authority portal (send an order, follow it, the thread, the receipt) and the console
(open orders by time left, the verification queue, review)."""

from __future__ import annotations

import base64
import re
from typing import Annotated, Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.auth.models import Role
from firebreak.authorities import service as authorities_service
from firebreak.authorities.models import Authority, AuthorityContact
from firebreak.authorities.taxonomy import CATEGORIES
from firebreak.core.clock import Clock
from firebreak.core.config import Settings
from firebreak.core.http.deps import ClockDep, Provide, SessionDep
from firebreak.core.i18n import N_, Translator, translator
from firebreak.mail.outbox import read_outbox
from firebreak.orders import labels, service
from firebreak.orders.flows import OrderDesk
from firebreak.orders.models import Channel, ItemKind, MessageDirection, Order, OrderMessage, OrderStatus
from firebreak.orders.receipts import acknowledgement, build_receipt
from firebreak.orders.render import receipt_html
from firebreak.orders.schemas import MAX_ITEMS, OrderCreate, OrderItemIn, Receipt
from firebreak.web.deps import ContactViewer, Viewer, WebNotFound, current_staff, web_router
from firebreak.web.templating import page_language, remember_language, render

router = web_router(tags=["orders pages"])
Desk = Annotated[OrderDesk, Provide(OrderDesk)]
LiaisonViewer = Annotated[Viewer, current_staff(Role.ADMIN, Role.LIAISON)]
ReaderViewer = Annotated[Viewer, current_staff(Role.ADMIN, Role.LIAISON, Role.AUDITOR)]
_HEX = re.compile(r"^[0-9a-fA-F]+$")
MAX_FILE_BYTES = 50 * 1024 * 1024


def parse_item_lines(text: str, t: Translator | None = None) -> tuple[list[OrderItemIn], list[str]]:
    """One link or hash per line. Returns the items and, for lines that are neither, an error each."""
    t = t or Translator()
    items: list[OrderItemIn] = []
    errors: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        label, sep, rest = line.partition(":")
        if sep and label.lower() in ("pdq", "md5", "sha256") and _HEX.match(rest.strip()):
            items.append(OrderItemIn(kind=ItemKind.HASH, signal_type=label.lower(), value=rest.strip()))
        elif re.match(r"^(https?://|sandbox://|matrix:)", line, re.IGNORECASE):
            items.append(OrderItemIn(kind=ItemKind.MESSAGE_LINK, value=line[:4000]))
        elif _HEX.match(line) and len(line) == 32:
            items.append(OrderItemIn(kind=ItemKind.HASH, signal_type="md5", value=line))
        elif _HEX.match(line) and len(line) == 64:
            items.append(OrderItemIn(kind=ItemKind.HASH, signal_type="sha256", value=line))
            items.append(OrderItemIn(kind=ItemKind.HASH, signal_type="pdq", value=line))
        else:
            errors.append(t.gettext("Line %(number)d: “%(line)s” is neither a link nor a hash (pdq:…, md5:…, "
                                    "sha256:…).", number=number, line=line[:80]))
    return items, errors


def _own_order(session: SessionDep, viewer: Viewer, tracking_id: str) -> Order:
    try:
        return service.get_order(session=session, tracking_id=tracking_id,
                                 authority_id=viewer.authority_id if viewer.is_contact else None)
    except service.OrderError:
        raise WebNotFound(N_("There is no such order.")) from None


def _categories() -> list[tuple[str, str]]:
    return [(name, c.label) for name, c in CATEGORIES.items()]


def _thread(session: SessionDep, order: Order, viewer: Viewer) -> list[OrderMessage]:
    return service.thread(session=session, order=order, for_authority=viewer.is_contact)


def _receipt(session: SessionDep, clock: Clock, desk: OrderDesk, order: Order) -> Receipt:
    """As of now, counted live; ``reported_back_at`` is when one was last sent."""
    authority = session.get(Authority, order.authority_id) if order.authority_id else None
    return build_receipt(session=session, clock=clock, order=order,
                         authority_name=authority.name if authority else "unverified sender",
                         reported_back_at=order.reported_back_at, link_for=desk.link_for(session))


def _order_page(request: Request, session: Session, clock: Clock, desk: OrderDesk, viewer: Viewer, order: Order,
                **extra: Any) -> HTMLResponse:
    receipt = _receipt(session, clock, desk, order)
    items = [{"item": item, "receipt": line} for item, line in zip(order.items, receipt.items, strict=True)]
    return render(request, "orders/detail.html", {
        "order": order, "ack": acknowledgement(order), "receipt": receipt, "rows": items,
        "thread": _thread(session, order, viewer), "time_left": _time_left(order, clock),
        "labels": labels.as_context(), "follow_ups": service.follow_up_actions(session, order)
        if viewer.is_staff else [], "sent": False, **extra})


def _time_left(order: Order, clock: Clock) -> int | None:
    if order.deadline_at is None or order.status not in service.OPEN:
        return None
    return int((order.deadline_at - clock.now()).total_seconds())


# -- portal ------------------------------------------------------------------------------------------------------

@router.get("/portal/orders", response_class=HTMLResponse)
def portal_orders(request: Request, viewer: ContactViewer) -> Response:
    return RedirectResponse("/portal", status_code=303)


@router.get("/portal/orders/new", response_class=HTMLResponse)
def new_order_form(request: Request, viewer: ContactViewer) -> HTMLResponse:
    blank = dict.fromkeys(("category", "legal_basis", "authority_reference", "items", "free_text"), "")
    return render(request, "orders/new.html", {"categories": _categories(), "errors": [], "form": blank,
                                               "max_items": MAX_ITEMS})


@router.post("/portal/orders/new", response_class=HTMLResponse)
async def new_order(request: Request, session: SessionDep, desk: Desk, viewer: ContactViewer) -> Response:
    async with request.form() as form:
        return await _new_order(request, form, session, desk, viewer)


async def _new_order(request: Request, form: Any, session: Session, desk: OrderDesk, viewer: Viewer) -> Response:
    values = {k: str(form.get(k) or "") for k in ("category", "legal_basis", "authority_reference", "items",
                                                  "free_text")}
    t = translator(page_language(request, viewer.language).code)
    items, errors = parse_item_lines(values["items"], t)
    for upload in form.getlist("files"):
        if isinstance(upload, str) or not upload.filename:
            continue
        data = await upload.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            errors.append(t.gettext("File %(name)s: larger than %(mb)d MB.", name=upload.filename,
                                    mb=MAX_FILE_BYTES // (1024 * 1024)))
            continue
        if data:
            items.append(OrderItemIn(kind=ItemKind.MEDIA, value=upload.filename[:300],
                                     media_base64=base64.b64encode(data).decode()))
    if values["category"] not in CATEGORIES:
        errors.append(t.gettext("Category: choose one from the list."))
    if not items and not errors:
        errors.append(t.gettext("Items: give at least one message link, hash or file."))
    if len(items) > MAX_ITEMS:
        errors.append(t.gettext("Items: one order holds at most %(max)d items; please split it.", max=MAX_ITEMS))
    data_in: OrderCreate | None = None
    if not errors:
        try:
            data_in = OrderCreate(category=values["category"], legal_basis=values["legal_basis"] or None,
                                  authority_reference=values["authority_reference"] or None,
                                  free_text=values["free_text"] or None, items=items)
        except ValidationError as exc:
            errors.extend(f"{'.'.join(map(str, e['loc'])) or 'Order'}: {e['msg']}" for e in exc.errors())
    if errors or data_in is None:
        return render(request, "orders/new.html", {"categories": _categories(), "errors": errors, "form": values,
                                                   "max_items": MAX_ITEMS}, status_code=422)
    authority = session.get(Authority, viewer.authority_id)
    contact = session.get(AuthorityContact, viewer.account_id)
    if authority is None or not authority.is_active:
        raise WebNotFound(N_("Your authority is not active."))
    order, _ = desk.submit(session=session, authority=authority, contact=contact, channel=Channel.PORTAL,
                           data=data_in, actor=viewer.actor)
    return RedirectResponse(f"/portal/orders/{order.tracking_id}?sent=1", status_code=303)


@router.get("/portal/orders/{tracking_id}", response_class=HTMLResponse)
def portal_order(tracking_id: str, request: Request, session: SessionDep, clock: ClockDep, desk: Desk,
                 viewer: ContactViewer) -> HTMLResponse:
    order = _own_order(session, viewer, tracking_id)
    return _order_page(request, session, clock, desk, viewer, order, area="portal",
                       sent=request.query_params.get("sent") == "1")


@router.get("/portal/orders/{tracking_id}/receipt", response_class=HTMLResponse)
def portal_receipt(tracking_id: str, request: Request, session: SessionDep, clock: ClockDep, desk: Desk,
                   viewer: ContactViewer) -> HTMLResponse:
    order = _own_order(session, viewer, tracking_id)
    language = page_language(request, viewer.language)
    response = HTMLResponse(receipt_html(_receipt(session, clock, desk, order), desk.platform_name,
                                         translator(language.code, viewer.timezone)))
    remember_language(response, language)
    return response


@router.post("/portal/orders/{tracking_id}/messages")
async def portal_message(tracking_id: str, request: Request, session: SessionDep, clock: ClockDep,
                         viewer: ContactViewer) -> Response:
    order = _own_order(session, viewer, tracking_id)
    body = str((await request.form()).get("body") or "").strip()
    if body:
        service.add_message(session=session, clock=clock, actor=viewer.actor, order=order,
                            direction=MessageDirection.FROM_AUTHORITY, channel=Channel.PORTAL,
                            author=viewer.login, body=body[:20000])
    return RedirectResponse(f"/portal/orders/{order.tracking_id}#thread", status_code=303)


# -- console -----------------------------------------------------------------------------------------------------

@router.get("/console/orders", response_class=HTMLResponse)
def console_orders(request: Request, session: SessionDep, clock: ClockDep, viewer: ReaderViewer) -> HTMLResponse:
    open_orders = service.open_orders(session=session)
    received = [o for o in open_orders if o.status == OrderStatus.RECEIVED]
    authorities = {a.id: a.name for a in session.scalars(select(Authority))}
    rows: list[dict[str, Any]] = [{"order": o, "authority": authorities.get(o.authority_id or 0, "unverified sender"),
                                   "time_left": _time_left(o, clock)} for o in open_orders]
    closed = session.scalars(select(Order).where(Order.status.not_in(service.OPEN))
                             .order_by(Order.id.desc()).limit(50)).all()
    return render(request, "orders/console_list.html", {
        "rows": rows, "queue": [r for r in rows if r["order"] in received],
        "closed": [{"order": o, "authority": authorities.get(o.authority_id or 0, "unverified sender")}
                   for o in closed]})


@router.get("/console/orders/{tracking_id}", response_class=HTMLResponse)
def console_order(tracking_id: str, request: Request, session: SessionDep, clock: ClockDep, desk: Desk,
                  viewer: ReaderViewer) -> HTMLResponse:
    order = _own_order(session, viewer, tracking_id)
    authorities = list(session.scalars(select(Authority).where(Authority.is_active.is_(True))
                                       .order_by(Authority.name)))
    return _order_page(request, session, clock, desk, viewer, order, area="console", authorities=authorities,
                       can_act=viewer.has_role(Role.ADMIN, Role.LIAISON))


@router.get("/console/orders/{tracking_id}/receipt", response_class=HTMLResponse)
def console_receipt(tracking_id: str, request: Request, session: SessionDep, clock: ClockDep, desk: Desk,
                    viewer: ReaderViewer) -> HTMLResponse:
    order = _own_order(session, viewer, tracking_id)
    language = page_language(request)
    response = HTMLResponse(receipt_html(_receipt(session, clock, desk, order), desk.platform_name,
                                         translator(language.code)))
    remember_language(response, language)
    return response


@router.post("/console/orders/{tracking_id}/review")
async def console_review(tracking_id: str, request: Request, session: SessionDep, clock: ClockDep, desk: Desk,
                         viewer: LiaisonViewer) -> Response:
    order = _own_order(session, viewer, tracking_id)
    form = await request.form()
    decision = str(form.get("decision") or "")
    try:
        if decision == "reject":
            service.transition(session=session, clock=clock, actor=viewer.actor, order=order,
                               new=OrderStatus.REJECTED, reason=str(form.get("reason") or "rejected after review"))
        elif decision == "approve":
            if order.status == OrderStatus.RECEIVED:
                authority = session.get(Authority, int(str(form.get("authority_id") or 0)))
                if authority is None:
                    raise service.OrderError("choose the authority this order comes from")
                desk.verify(session=session, actor=viewer.actor, order=order, authority=authority)
            declined: dict[int, str] = {}
            for item in order.items:
                reason = str(form.get(f"decline_{item.position}") or "").strip()
                if reason:
                    declined[item.position] = reason
            desk.confirm(session=session, actor=viewer.actor, order=order, declined=declined)
    except service.OrderError as exc:
        return render(request, "orders/error.html", {"message": str(exc), "order": order}, status_code=409)
    return RedirectResponse(f"/console/orders/{order.tracking_id}", status_code=303)


@router.post("/console/orders/{tracking_id}/messages")
async def console_message(tracking_id: str, request: Request, session: SessionDep, clock: ClockDep, desk: Desk,
                          viewer: LiaisonViewer) -> Response:
    order = _own_order(session, viewer, tracking_id)
    body = str((await request.form()).get("body") or "").strip()
    if body:
        service.add_message(session=session, clock=clock, actor=viewer.actor, order=order,
                            direction=MessageDirection.FROM_PLATFORM, channel=Channel.PORTAL,
                            author=viewer.name, body=body[:20000])
        desk.send_message(session=session, order=order, text=body[:20000])
    return RedirectResponse(f"/console/orders/{order.tracking_id}#thread", status_code=303)


@router.get("/console/outbox", response_class=HTMLResponse)
def console_outbox(request: Request, settings: Annotated[Settings, Provide(Settings)],
                   viewer: LiaisonViewer) -> HTMLResponse:
    """The development outbox: what Firebreak would have sent, when no mail server is configured."""
    return render(request, "orders/outbox.html", {
        "mails": read_outbox(settings.outbox_dir), "smtp_host": settings.outgoing_smtp_host,
        "folder": str(settings.outbox_dir)})


@router.get("/portal", response_class=HTMLResponse)
def portal_home(request: Request, session: SessionDep, viewer: ContactViewer) -> HTMLResponse:
    # Only the contact's own authority is ever loaded here.
    authority = authorities_service.get_authority(session=session, authority_id=viewer.authority_id or 0)
    deadlines = [(CATEGORIES[name].label if name in CATEGORIES else name,
                  int(authorities_service.time_allowed(authority, name).total_seconds())) for name in CATEGORIES]
    return render(request, "portal_home.html", {"authority": authority, "deadlines": deadlines,
                                                "orders": portal_orders_for(session, authority.id),
                                                "labels": labels.as_context()})


def portal_orders_for(session: Session, authority_id: int) -> list[Order]:
    """The contact home page's list: the authority's own orders, newest first."""
    return list(session.scalars(select(Order).where(Order.authority_id == authority_id)
                                .order_by(Order.id.desc()).limit(200)))
