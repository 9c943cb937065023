"""The order review: orders a person must verify (unverified sender) or confirm (authority not trusted for it).

Registered as the review queue's "order" kind. The item page shows what the order would remove before anyone
approves it: each item as it is on the platform (its media, blurred until revealed, where and when it was posted)
and what the sender's DKIM signature does and does not cover, so a tampered mail that swapped links for innocent
messages is seen before one click removes them.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.auth.models import Role
from firebreak.authorities.models import Authority
from firebreak.media.models import Media, Placement
from firebreak.orders import service
from firebreak.orders.flows import OrderDesk
from firebreak.orders.models import ItemKind, Order, OrderStatus
from firebreak.platform.models import Chat, PlatformAccount
from firebreak.review.models import DecisionOutcome, ReviewItem
from firebreak.review.registry import Applied, Choice, DecisionRefused, Fact, Field, ItemView, Preview, Section
from firebreak.transparency.policy import Policy

# Header fields a reader relies on: a signature that leaves one out does not vouch for it.
READ_HEADERS = ("from", "subject", "date", "to", "reply-to", "message-id")
_WHEN = "%Y-%m-%d %H:%M UTC"


def _signature_facts(auth: dict[str, Any]) -> tuple[Fact, ...]:
    facts: list[Fact] = [Fact("Verdict", str(auth.get("verdict") or "—"), warn=not auth.get("registered_sender"))]
    signatures = auth.get("signatures") or []
    if not signatures:
        facts.append(Fact("DKIM", "The mail carries no DKIM signature: nothing in it is vouched for.", warn=True))
    for n, sig in enumerate(signatures, start=1):
        label = f"Signature {n}" + (f" ({sig.get('domain')}, selector {sig.get('selector')})" if sig.get("domain")
                                    else "")
        facts.append(Fact(label, "valid" if sig.get("valid") else f"not valid: {sig.get('reason')}",
                          warn=not sig.get("valid")))
        body = sig.get("body_hash_ok")
        facts.append(Fact("  Body", "as signed" if body is True else
                          "CHANGED after signing: the links and files below may not be what the authority sent"
                          if body is False else "not checked (the signature failed before)", warn=body is not True))
        if sig.get("body_length") is not None:
            facts.append(Fact("  Body covered", f"only the first {sig['body_length']} bytes (l= tag): anything "
                              "after them is not vouched for", warn=True))
        signed = [h for h in sig.get("headers") or []]
        if signed:
            missing = [h for h in READ_HEADERS if h not in signed]
            facts.append(Fact("  Headers signed", ", ".join(signed)))
            if missing:
                facts.append(Fact("  Not signed", ", ".join(missing), warn="from" in missing or "subject" in missing))
    for warning in (auth.get("warnings") or [])[:10]:
        facts.append(Fact("Reading the mail", str(warning), warn=True))
    return tuple(facts)


def _declined(text: str, positions: set[int]) -> dict[int, str]:
    """"3, 7: not the messages the authority meant" -> {3: "...", 7: "..."}; raises DecisionRefused."""
    if not text.strip():
        return {}
    numbers, _, reason = text.partition(":")
    found: dict[int, str] = {}
    for token in re.split(r"[\s,;]+", numbers.strip()):
        if not token:
            continue
        if not token.isdigit() or int(token) not in positions:
            raise DecisionRefused(f"“{token}” is not an item number of this order (items are numbered "
                                  f"1 to {max(positions)}). Write e.g. “3, 7: not the messages meant”.")
        found[int(token)] = reason.strip() or "declined after review"
    return found


class OrderReviewKind:
    name: ClassVar[str] = service.REVIEW_KIND
    label: ClassVar[str] = "Order"
    deciders: ClassVar[tuple[Role, ...]] = (Role.ADMIN, Role.LIAISON)

    def __init__(self, desk: OrderDesk, policy: Policy) -> None:
        self.desk = desk
        self.policy = policy

    def _order(self, session: Session, item: ReviewItem) -> Order:
        order = session.get(Order, item.subject_id)
        if order is None:
            raise DecisionRefused("The order behind this item no longer exists.")
        return order

    def choices(self, session: Session, item: ReviewItem) -> list[Choice]:
        order = self._order(session, item)
        unverified = order.status == OrderStatus.RECEIVED
        return [
            Choice("approve", "Verify and act" if unverified else "Confirm and act", DecisionOutcome.VIOLATING,
                   restrictive=True, impact="approve_unverified_order" if unverified else None,
                   hint="Banks every item not declined, removes it and every copy, and starts the deadline."),
            Choice("reject", "Reject the order", DecisionOutcome.NOT_VIOLATING,
                   hint="Nothing is removed; the sender is told through the order's thread."),
        ]

    def describe(self, session: Session, item: ReviewItem) -> ItemView:
        order = self._order(session, item)
        unverified = order.status == OrderStatus.RECEIVED
        auth = order.sender_authentication or {}
        authority = session.get(Authority, order.authority_id) if order.authority_id else None
        sections = [Section("The order", facts=(
            Fact("Tracking ID", order.tracking_id, href=f"/console/orders/{order.tracking_id}"),
            Fact("Status", order.status.value.replace("_", " ")),
            Fact("From", authority.name if authority else (order.sender_address or "unknown sender"),
                 warn=authority is None),
            Fact("Received", f"{order.received_at.strftime(_WHEN)} by {order.channel.value}"),
            Fact("Category", order.category), Fact("Legal basis", order.legal_basis or "—"),
            Fact("Deadline", order.deadline_at.strftime(_WHEN) if order.deadline_at else "set once verified"),
        ))]
        if order.channel.value == "email":
            sections.append(Section("What the sender's signature covers", facts=_signature_facts(auth),
                                    note="Only a valid DKIM signature of a registered authority's domain vouches "
                                         "for a mail. Check each item below against what the authority means."))
        for it in order.items:
            facts: list[Fact] = [Fact("Item", it.value[:300]), Fact("Found", it.resolution.value.replace("_", " ")
                                                                    + (f": {it.resolution_reason}"
                                                                       if it.resolution_reason else ""),
                                                                    warn=it.resolution.value != "found")]
            previews: tuple[Preview, ...] = ()
            placement = session.get(Placement, it.placement_id) if it.placement_id else None
            if placement is not None:
                chat = session.get(Chat, placement.chat_id) if placement.chat_id else None
                sender = session.get(PlatformAccount, placement.sender_id) if placement.sender_id else None
                media = session.get(Media, placement.media_id)
                facts += [Fact("Chat", f"{chat.title or chat.external_id} ({chat.kind.value}, "
                                       f"{chat.member_count or '?'} members)" if chat else placement.chat_external_id),
                          Fact("Posted", f"{placement.posted_at.strftime(_WHEN)} by "
                                         f"{sender.display_name or sender.external_id if sender else 'unknown'}"),
                          Fact("Now", placement.status.value)]
                previews = (Preview(placement.media_id, f"Item {it.position} as posted",
                                    media.kind.value if media else "image"),)
                copies = session.scalar(select(Placement.id).where(Placement.media_id == placement.media_id,
                                                                   Placement.id != placement.id).limit(1))
                if copies is not None:
                    facts.append(Fact("Copies", "the same file is in other messages too"))
            elif it.kind == ItemKind.MEDIA and it.media_id is not None:
                media = session.get(Media, it.media_id)
                previews = (Preview(it.media_id, f"Item {it.position}: the attached file",
                                    media.kind.value if media else "image"),)
            sections.append(Section(f"Item {it.position}: {it.kind.value.replace('_', ' ')}", facts=tuple(facts),
                                    previews=previews))
        fields = [Field("decline", "Items to decline, and why (e.g. “3, 7: not the messages meant”)",
                        for_choices=("approve",)),
                  Field("reason", "Reason for a rejection (the sender reads it)", for_choices=("reject",))]
        if unverified:
            options = tuple((str(a.id), a.name) for a in session.scalars(
                select(Authority).where(Authority.is_active.is_(True)).order_by(Authority.name)))
            candidate = auth.get("candidate_authority_id")
            fields.insert(0, Field("authority_id", "This order comes from", options=options,
                                   selected=str(candidate) if candidate else None, for_choices=("approve",)))
        summary = ("The sender of this order is not verified: nothing is removed until a person checks it. Look at "
                   "every item as it is on the platform and at what the signature covers." if unverified else
                   "This authority is not trusted for this category: confirm what the order asks.")
        return ItemView(summary=summary, sections=tuple(sections), fields=tuple(fields),
                        ground=self.policy.for_category(order.category).name)

    def apply(self, session: Session, item: ReviewItem, applied: Applied) -> str:
        order = self._order(session, item)
        if order.status not in (OrderStatus.RECEIVED, OrderStatus.VERIFIED):
            raise DecisionRefused(f"Order {order.tracking_id} is already {order.status.value.replace('_', ' ')}.")
        clock = self.desk.deps.clock
        if applied.choice.key == "reject":
            reason = applied.inputs.get("reason", "").strip() or applied.note or "rejected after review"
            service.transition(session=session, clock=clock, actor=applied.actor, order=order,
                               new=OrderStatus.REJECTED, reason=reason)
            return f"Order {order.tracking_id} rejected."
        declined = _declined(applied.inputs.get("decline", ""), {i.position for i in order.items})
        if order.status == OrderStatus.RECEIVED:
            raw = applied.inputs.get("authority_id", "")
            authority = session.get(Authority, int(raw)) if raw.isdigit() else None
            if authority is None or not authority.is_active:
                raise DecisionRefused("Choose the authority this order comes from.")
            service.verify(session=session, clock=clock, actor=applied.actor, order=order, authority=authority)
        if len(declined) == len(order.items):
            raise DecisionRefused("Every item is declined: reject the order instead.")
        self.desk.confirm(session=session, actor=applied.actor, order=order, declined=declined)
        return (f"Order {order.tracking_id} is being acted on: {len(order.items) - len(declined)} item(s), "
                f"{len(declined)} declined.")
