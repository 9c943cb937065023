"""Orders coming in: by API, by the portal, by e-mail. Each answers at once with an acknowledgement."""

from __future__ import annotations

import base64
import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.audit import service as audit
from firebreak.authorities.models import Authority, AuthorityContact
from firebreak.jobs import service as jobs
from firebreak.orders import notify
from firebreak.orders.models import Channel, ItemKind, MessageDirection, Order, OrderMessage, OrderStatus
from firebreak.orders.receipts import acknowledgement
from firebreak.orders.schemas import MAX_ITEMS, Acknowledgement, OrderCreate, OrderItemIn
from firebreak.orders.service import IntakeContext, add_message, create_order
from firebreak.platform.adapters import LinkTarget
from firebreak.platform.models import PlatformIntegration

if TYPE_CHECKING:
    from firebreak.mail.schemas import ParsedMail
    from firebreak.mail.smtp import InboundMail
    from firebreak.runtime import Runtime

log = logging.getLogger(__name__)
PROCESS_MAIL_JOB = "orders.process_mail"


def intake_context(runtime: Runtime, session: Session) -> IntakeContext:
    integrations = [i for i in session.scalars(select(PlatformIntegration).where(
        PlatformIntegration.is_active.is_(True)).order_by(PlatformIntegration.id))]

    def parse_link(url: str) -> tuple[int, LinkTarget] | None:
        for integration in integrations:
            try:
                target = runtime.adapters.for_integration(integration).parse_link(url)
            except Exception:  # a misconfigured adapter must not stop intake
                log.exception("adapter of %s failed to parse a link", integration.name)
                continue
            if target is not None:
                return integration.id, target
        return None

    return IntakeContext(clock=runtime.clock, blobs=runtime.blobs, limits=runtime.decode_limits,
                         parse_link=parse_link, platform_name=runtime.settings.platform_name)


def status_url(runtime: Runtime, order: Order) -> str | None:
    base = runtime.settings.public_url.rstrip("/")
    return f"{base}/portal/orders/{order.tracking_id}" if base else None


def submit(*, runtime: Runtime, session: Session, authority: Authority, contact: AuthorityContact | None,
           channel: Channel, data: OrderCreate, actor: str) -> tuple[Order, Acknowledgement]:
    """An order from an authenticated authority (API token or portal login): verified at once."""
    order = create_order(session=session, ctx=intake_context(runtime, session), actor=actor, authority=authority,
                         contact=contact, channel=channel, data=data, received_at=runtime.clock.now(), verified=True,
                         sender_address=contact.email if contact else None)
    ack = acknowledgement(order, status_url=status_url(runtime, order))
    if contact is not None and channel == Channel.PORTAL:
        notify.queue_mail(session=session, now=runtime.clock.now(), to=[contact.email],
                          subject=f"Order received: {order.tracking_id}", text=ack_text(runtime, order, ack),
                          order=order, reply=False)
    return order, ack


# -- e-mail ------------------------------------------------------------------------------------------------------

def receive_mail(runtime: Runtime, inbound: InboundMail) -> None:
    """Called by the SMTP listener before it answers 250: keep the mail (encrypted), queue its processing.

    Raising here makes the listener answer 451, so the sending server retries: nothing accepted is lost.
    """
    with runtime.transaction() as session:
        key = runtime.blobs.put(inbound.raw)
        digest = hashlib.sha256(inbound.raw).hexdigest()
        audit.record(session=session, clock=runtime.clock, actor="system:smtp", action="mail.received",
                     object_type="mail", object_id=digest[:32],
                     data={"from": inbound.envelope_from, "to": list(inbound.envelope_to), "peer": inbound.peer,
                           "bytes": len(inbound.raw), "tls": inbound.tls, "blob": key})
        jobs.defer(session=session, now=runtime.clock.now(), job=PROCESS_MAIL_JOB,
                   payload={"blob": key, "sha256": digest, "envelope_from": inbound.envelope_from,
                            "peer": inbound.peer, "received_at": inbound.received_at.isoformat()})


@dataclass(frozen=True)
class SenderCheck:
    authority: Authority | None
    contact: AuthorityContact | None
    authenticated: bool
    reason: str
    details: dict[str, Any]


def check_sender(runtime: Runtime, session: Session, raw: bytes, parsed: ParsedMail) -> SenderCheck:
    from firebreak.mail.dkim import sender_matches, verify_dkim

    dkim = verify_dkim(raw, dnsfunc=runtime.extras.get("dkim_dns"))
    details = dkim.as_dict()
    address = (parsed.from_address or "").lower()
    domain = address.rpartition("@")[2]
    candidates = [a for a in session.scalars(select(Authority).where(Authority.is_active.is_(True)))
                  if address in [x.lower() for x in a.mail_addresses or []]
                  or any(domain == d.lower() or domain.endswith("." + d.lower()) for d in a.mail_domains or [])]
    authority = candidates[0] if len(candidates) == 1 else None
    contact = session.scalar(select(AuthorityContact).where(AuthorityContact.email == address)) if address else None
    if contact is not None and authority is not None and contact.authority_id != authority.id:
        contact = None
    if authority is None:
        reason = ("the sender address is not registered for any authority" if not candidates
                  else "the sender address is registered for more than one authority")
        return SenderCheck(None, None, False, reason, details)
    if not dkim.valid:
        return SenderCheck(authority, contact, False, f"the DKIM signature could not be verified ({dkim.reason})",
                           details)
    if not sender_matches(address, dkim.domain, authority.mail_addresses or [], authority.mail_domains or []):
        return SenderCheck(authority, contact, False,
                           f"the DKIM signature ({dkim.domain}) does not vouch for the sender {address}", details)
    return SenderCheck(authority, contact, True, "DKIM signature valid for a registered sender", details)


def _items_from_mail(parsed: ParsedMail) -> list[OrderItemIn]:
    items: list[OrderItemIn] = []
    for link in parsed.links:
        items.append(OrderItemIn(kind=ItemKind.MESSAGE_LINK, value=link))
    for h in parsed.hashes:
        kinds = ["sha256", "pdq"] if h.kind == "sha256_or_pdq" else [h.kind]
        items.extend(OrderItemIn(kind=ItemKind.HASH, value=h.value, signal_type=k) for k in kinds)
    for attachment in parsed.media:
        items.append(OrderItemIn(kind=ItemKind.MEDIA, value=attachment.filename or "attachment",
                                 media_base64=base64.b64encode(attachment.data).decode()))
    return items


def _thread_order(session: Session, parsed: ParsedMail) -> Order | None:
    ids = [i for i in [parsed.in_reply_to, *parsed.references] if i]
    if ids:
        order_id = session.scalar(select(OrderMessage.order_id).where(OrderMessage.mail_message_id.in_(ids))
                                  .order_by(OrderMessage.id.desc()).limit(1))
        if order_id is None:
            order_id = session.scalar(select(Order.id).where(Order.source_message_id.in_(ids)).limit(1))
        if order_id is not None:
            return session.get(Order, order_id)
    if parsed.tracking_id:
        return session.scalar(select(Order).where(Order.tracking_id == parsed.tracking_id.upper()))
    return None


def process_mail(runtime: Runtime, payload: dict[str, Any]) -> None:
    from firebreak.mail.parse import parse_order_mail
    from firebreak.mail.schemas import MailParseError

    raw = runtime.blobs.get(str(payload["blob"]))
    received_at = datetime.fromisoformat(str(payload["received_at"]))
    now = runtime.clock.now()
    with runtime.transaction() as session:
        try:
            parsed = parse_order_mail(raw)
        except MailParseError as exc:
            audit.record(session=session, clock=runtime.clock, actor="system:smtp", action="mail.unreadable",
                         object_type="mail", object_id=str(payload["sha256"])[:32], data={"reason": str(exc)})
            return
        if parsed.is_automatic:
            audit.record(session=session, clock=runtime.clock, actor="system:smtp", action="mail.ignored",
                         object_type="mail", object_id=str(payload["sha256"])[:32],
                         data={"reason": "automatic mail (auto-reply, bounce or list)", "from": parsed.from_address})
            return
        if parsed.message_id and session.scalar(select(Order.id).where(
                Order.source_message_id == parsed.message_id, Order.sender_address == parsed.from_address)):
            # The same mail delivered twice (the connection dropped after we stored it): one order only.
            audit.record(session=session, clock=runtime.clock, actor="system:smtp", action="mail.duplicate",
                         object_type="mail", object_id=str(payload["sha256"])[:32],
                         data={"message_id": parsed.message_id})
            return
        sender = check_sender(runtime, session, raw, parsed)
        existing = _thread_order(session, parsed)
        if existing is not None and (existing.authority_id is None or sender.authority is None
                                     or existing.authority_id == sender.authority.id):
            _thread_reply(runtime, session, existing, parsed, sender)
            return
        items = _items_from_mail(parsed)
        if not items or len(items) > MAX_ITEMS:
            problem = ("we found no message link, hash or image/video attachment in it" if not items else
                       f"it names {len(items)} items; one order can hold at most {MAX_ITEMS}: please split it")
            audit.record(session=session, clock=runtime.clock, actor="system:smtp", action="mail.not_an_order",
                         object_type="mail", object_id=str(payload["sha256"])[:32],
                         data={"reason": problem, "from": parsed.from_address, "blob": payload["blob"]})
            if parsed.from_address:
                notify.queue_mail(session=session, now=now, to=[parsed.from_address],
                                  subject=f"Re: {parsed.subject}" if parsed.subject else "Your message",
                                  text=f"Thank you for your message to the {runtime.settings.platform_name} "
                                       f"takedown desk. We could not record it as an order: {problem}.\n\n"
                                       "Your message is kept. Please send message links (one per line), hashes or "
                                       "the images themselves; or use the portal or the API.")
            return
        try:
            data = OrderCreate(category=parsed.category, legal_basis=parsed.legal_basis,
                               authority_reference=parsed.authority_reference, free_text=parsed.text[:20000],
                               items=items)
        except ValidationError as exc:
            raise RuntimeError(f"could not build an order from the mail: {exc}") from exc
        order = create_order(
            session=session, ctx=intake_context(runtime, session), actor=f"mail:{parsed.from_address}",
            authority=sender.authority if sender.authenticated else None,
            contact=sender.contact if sender.authenticated else None, channel=Channel.EMAIL, data=data,
            received_at=received_at, verified=sender.authenticated, sender_address=parsed.from_address,
            source_message_id=parsed.message_id,
            sender_authentication={**sender.details, "registered_sender": sender.authenticated,
                                   "verdict": sender.reason, "candidate_authority_id":
                                   sender.authority.id if sender.authority else None,
                                   "warnings": parsed.warnings[:50]})
        add_message(session=session, clock=runtime.clock, actor=f"mail:{parsed.from_address}", order=order,
                    direction=MessageDirection.FROM_AUTHORITY, channel=Channel.EMAIL,
                    author=parsed.from_address or "", subject=parsed.subject, body=parsed.text[:20000],
                    mail_message_id=parsed.message_id)
        ack = acknowledgement(order, status_url=status_url(runtime, order))
        if parsed.from_address:
            text = ack_text(runtime, order, ack)
            if not sender.authenticated:
                text = (f"Thank you. We received your message and recorded it under tracking ID "
                        f"{order.tracking_id}.\n\nWe could not yet confirm that it was sent by a registered "
                        f"authority: {sender.reason}. It now waits for verification by our liaison team, who "
                        "will contact you. Nothing you sent is lost.\n\n" + text)
            notify.queue_mail(session=session, now=now, to=[parsed.from_address],
                              subject=f"Order received: {order.tracking_id}", text=text, order=order)


def _thread_reply(runtime: Runtime, session: Session, order: Order, parsed: ParsedMail, sender: SenderCheck) -> None:
    author = parsed.from_address or "unknown"
    body = parsed.text[:20000]
    if not sender.authenticated:
        body = f"[sender not verified: {sender.reason}]\n\n{body}"
    add_message(session=session, clock=runtime.clock, actor=f"mail:{author}", order=order,
                direction=MessageDirection.FROM_AUTHORITY, channel=Channel.EMAIL, author=author,
                subject=parsed.subject, body=body, mail_message_id=parsed.message_id)
    if runtime.settings.liaison_email:
        notify.queue_mail(session=session, now=runtime.clock.now(), to=[runtime.settings.liaison_email],
                          subject=f"New message on order {order.tracking_id}", text=body, order=order, reply=False)


def ack_text(runtime: Runtime, order: Order, ack: Acknowledgement) -> str:
    lines = [
        f"The {runtime.settings.platform_name} takedown desk received your order.",
        "",
        f"Tracking ID: {ack.tracking_id}",
        f"Received at: {ack.received_at:%Y-%m-%d %H:%M:%S} UTC",
        f"Deadline: {ack.deadline_at:%Y-%m-%d %H:%M:%S} UTC" if ack.deadline_at else
        "Deadline: set once the order is verified",
        f"Status: {ack.status.value.replace('_', ' ')}",
    ]
    if ack.status_url:
        lines.append(f"Status page: {ack.status_url}")
    recognised = sum(1 for i in ack.items if i.recognised)
    lines += ["", f"{len(ack.items)} items, {recognised} recognised:"]
    for item in ack.items:
        mark = "recognised" if item.recognised else "not recognised"
        reason = f" ({item.reason})" if item.reason else ""
        lines.append(f"{item.position:>4}. {mark}: {item.value[:200]}{reason}")
    lines += ["", "You will receive a receipt listing, item by item, what was done and how many copies went with "
              "it. Reply to this e-mail to write to our liaison team; keep the tracking ID in the subject."]
    return "\n".join(lines)


def verification_queue(*, session: Session) -> list[Order]:
    return list(session.scalars(select(Order).where(Order.status == OrderStatus.RECEIVED).order_by(Order.received_at)))


