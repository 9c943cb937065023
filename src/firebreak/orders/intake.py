"""Reading orders that came in: who sent a mail, what it asks for, which order a reply belongs to, the answer text.

The use cases that own transactions (receiving, processing, submitting) are in ``orders.flows``.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.authorities import service as authorities
from firebreak.authorities.models import Authority, AuthorityContact
from firebreak.mail.dkim import DnsFunc, public_dns_txt, sender_matches, verify_dkim
from firebreak.mail.schemas import ParsedMail
from firebreak.orders.models import ItemKind, Order, OrderMessage, OrderStatus
from firebreak.orders.schemas import OrderItemIn

_HANGUL = re.compile("[\uac00-\ud7a3]")


@dataclass(frozen=True)
class SenderCheck:
    authority: Authority | None
    contact: AuthorityContact | None
    authenticated: bool
    reason: str
    details: dict[str, Any]


KeySource = Literal["pinned-then-dns", "pinned-only", "dns-only"]


def dkim_keys(*, session: Session, at: datetime, source: KeySource, dns: DnsFunc | None) -> DnsFunc:
    """Where DKIM verification finds ``<selector>._domainkey.<domain>``: keys an admin pinned for an authority's
    domain in the registry (rotation with overlap; see docs/hotline.md), public DNS (``dns``, or the resolver when
    None), or pinned keys first and DNS for selectors never pinned. A pinned selector whose keys are all replaced
    (past their overlap) or revoked has no key: DNS still publishing one does not bring it back."""
    ask_dns = dns or public_dns_txt

    def lookup(name: bytes) -> bytes | None:
        label = name.decode("ascii", "replace").rstrip(".").lower()
        selector, sep, domain = label.partition("._domainkey.")
        if source != "dns-only" and sep and selector and domain:
            records = authorities.pinned_dkim_records(session=session, domain=domain, selector=selector, at=at)
            if records:
                return records[0].encode("ascii")
            if authorities.dkim_selector_pinned(session=session, domain=domain, selector=selector):
                return None
        return None if source == "pinned-only" else ask_dns(name)

    return lookup


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


@dataclass(frozen=True)
class Threaded:
    order: Order
    # An answer to one of the platform's internal alerts (a liaison officer replying to "New message on order …"):
    # staff writing, never the authority, so it stays out of the authority's thread.
    internal: bool = False


def thread_order(session: Session, parsed: ParsedMail) -> Threaded | None:
    ids = [i for i in [parsed.in_reply_to, *parsed.references] if i]
    if ids:
        found = session.execute(select(OrderMessage.order_id, OrderMessage.internal)
                                .where(OrderMessage.mail_message_id.in_(ids))
                                .order_by(OrderMessage.id.desc())).all()
        if any(internal for _, internal in found):
            # The tracking id in the alert's subject must not thread it into the authority's conversation.
            order = session.get(Order, next(order_id for order_id, internal in found if internal))
            return Threaded(order, internal=True) if order is not None else None
        order_id = found[0][0] if found else session.scalar(
            select(Order.id).where(Order.source_message_id.in_(ids)).limit(1))
        if order_id is not None:
            order = session.get(Order, order_id)
            return Threaded(order) if order is not None else None
    if parsed.tracking_id:
        order = session.scalar(select(Order).where(Order.tracking_id == parsed.tracking_id.upper()))
        return Threaded(order) if order is not None else None
    return None


def guess_language(parsed: ParsedMail) -> str | None:
    """The language to answer a sender the registry does not know yet: Korean for a mail written in Hangul."""
    sample = f"{parsed.subject or ''} {parsed.text[:4000]}"
    return "ko" if _HANGUL.search(sample) else None


def verification_queue(*, session: Session) -> list[Order]:
    return list(session.scalars(select(Order).where(Order.status == OrderStatus.RECEIVED).order_by(Order.received_at)))


