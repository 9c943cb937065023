"""Reading orders that came in: who sent a mail, what it asks for, which order a reply belongs to, the answer text.

The use cases that own transactions (receiving, processing, submitting) are in ``orders.flows``.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.authorities.models import Authority, AuthorityContact
from firebreak.mail.dkim import DnsFunc, sender_matches, verify_dkim
from firebreak.mail.schemas import ParsedMail
from firebreak.orders.models import ItemKind, Order, OrderMessage, OrderStatus
from firebreak.orders.schemas import Acknowledgement, OrderItemIn


@dataclass(frozen=True)
class SenderCheck:
    authority: Authority | None
    contact: AuthorityContact | None
    authenticated: bool
    reason: str
    details: dict[str, Any]


def check_sender(*, session: Session, raw: bytes, parsed: ParsedMail, dnsfunc: DnsFunc | None = None
                 ) -> SenderCheck:
    """Is the mail from a registered authority, and does a valid DKIM signature vouch for its sender?"""
    dkim = verify_dkim(raw, dnsfunc=dnsfunc)
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


def items_from_mail(parsed: ParsedMail) -> list[OrderItemIn]:
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


def thread_order(session: Session, parsed: ParsedMail) -> Order | None:
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


def ack_text(platform_name: str, ack: Acknowledgement) -> str:
    lines = [
        f"The {platform_name} takedown desk received your order.",
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


