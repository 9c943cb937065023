"""Takedown orders: intake, item resolution, the one state machine, confirmation into the order bank, outcomes.

Services never commit; the request or job owns the transaction. Platform-facing work (banking,
removal of every copy) goes through the banks and enforcement services, so an order's items are
removed with every copy, and re-uploads are refused, by the same engine as everything else.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from firebreak.audit import service as audit
from firebreak.authorities import service as authorities_service
from firebreak.authorities.models import Authority, AuthorityContact
from firebreak.banks import service as banks
from firebreak.banks.models import BankEntry, MatchAction, Provenance
from firebreak.core.blobs import BlobStore
from firebreak.core.clock import Clock
from firebreak.core.jobs import outbox as jobs
from firebreak.enforcement import service as enforcement
from firebreak.enforcement.models import Action, ActionKind, ActionStatus
from firebreak.enforcement.service import RUN_ACTIONS_JOB
from firebreak.evidence.service import RetentionPolicy
from firebreak.matching.models import Match
from firebreak.media.models import Media, MediaKind, Placement, PlacementStatus
from firebreak.media.service import ingest_bytes
from firebreak.orders import preservation
from firebreak.orders.models import (
    Channel,
    ItemKind,
    ItemOutcome,
    ItemResolution,
    MessageDirection,
    Order,
    OrderItem,
    OrderMessage,
    OrderStatus,
)
from firebreak.orders.schemas import OrderCreate
from firebreak.platform.adapters import LinkTarget
from firebreak.platform.models import Chat, PlatformAccount
from firebreak.review import service as review
from firebreak.signals.decode import DecodeLimits
from firebreak.signals.registry import SignalTypeError, get_signal_type

FOLLOW_JOB = "orders.follow"
SLA_JOB = "orders.sla"
REVIEW_KIND = "order"  # review items for orders a person must verify or confirm (orders.review)
_TRACKING_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U

TRANSITIONS: dict[OrderStatus, set[OrderStatus]] = {
    OrderStatus.RECEIVED: {OrderStatus.VERIFIED, OrderStatus.REJECTED, OrderStatus.WITHDRAWN},
    OrderStatus.VERIFIED: {OrderStatus.IN_PROGRESS, OrderStatus.REJECTED, OrderStatus.WITHDRAWN},
    OrderStatus.IN_PROGRESS: {OrderStatus.COMPLETED, OrderStatus.PARTIALLY_COMPLETED, OrderStatus.WITHDRAWN},
}
OPEN = (OrderStatus.RECEIVED, OrderStatus.VERIFIED, OrderStatus.IN_PROGRESS)
DONE_OUTCOMES = {ItemOutcome.REMOVED, ItemOutcome.ALREADY_REMOVED, ItemOutcome.GEO_RESTRICTED, ItemOutcome.NOT_FOUND,
                 ItemOutcome.PRESERVED}


class OrderError(Exception):
    """An order operation that cannot be done; the message says why."""


class IllegalTransition(OrderError):
    pass


class MediaTooLarge(OrderError):
    """An order's media item is a file over the upload limit (``FIREBREAK_MAX_UPLOAD_BYTES``)."""

    def __init__(self, position: int, size: int, limit: int) -> None:
        super().__init__(f"item {position} is a file of {size:,} bytes; files are limited to {limit:,} bytes. Send "
                         "its hash instead (sha256:..., pdq:...), or a link to the message that holds it.")
        self.position, self.size, self.limit = position, size, limit


def base64_size(text: str) -> int:
    """How many bytes a base64 text decodes to (exact for valid base64), without decoding it."""
    text = text.strip()
    return len(text) * 3 // 4 - text[-2:].count("=")


def check_media_sizes(data: OrderCreate, limit: int) -> None:
    """Refuse an order whose media item is larger than ``limit`` bytes, naming the first such item."""
    for position, item in enumerate(data.items, start=1):
        if item.media_base64 and (size := base64_size(item.media_base64)) > limit:
            raise MediaTooLarge(position, size, limit)


def transition(*, session: Session, clock: Clock, actor: str, order: Order, new: OrderStatus,
               reason: str | None = None) -> None:
    """The only way an order changes status: checks the move, stamps the time, writes the audit event."""
    old = order.status
    if new not in TRANSITIONS.get(old, set()):
        raise IllegalTransition(f"order {order.tracking_id} cannot go from {old.value} to {new.value}")
    now = clock.now()
    order.status = new
    if reason:
        order.status_reason = reason
    if new == OrderStatus.VERIFIED:
        order.verified_at = now
    if new in (OrderStatus.COMPLETED, OrderStatus.PARTIALLY_COMPLETED, OrderStatus.REJECTED, OrderStatus.WITHDRAWN):
        order.closed_at = now
        for mark in ("50", "90", "overdue"):
            jobs.cancel(session=session, dedupe_key=f"order-sla:{order.id}:{mark}")
    audit.record(session=session, clock=clock, actor=actor, action=f"order.{new.value}", object_type="order",
                 object_id=order.tracking_id, data={"from": old.value, "to": new.value, "reason": reason})
    if new not in (OrderStatus.RECEIVED, OrderStatus.VERIFIED):  # decided, here or in the review queue
        review.withdraw(session=session, clock=clock, open_key=review_key(order), actor=actor,
                        reason=f"the order went to {new.value}")


def review_key(order: Order) -> str:
    return f"order:{order.id}"


def queue_review(*, session: Session, clock: Clock, order: Order, severity: int = 80) -> None:
    """An order a person must look at: its sender is not verified, or its authority is not trusted for it."""
    unverified = order.status == OrderStatus.RECEIVED
    review.enqueue(session=session, clock=clock, kind=REVIEW_KIND, source="authority", subject_type="order",
                   subject_id=order.id, open_key=review_key(order),
                   title=(f"Order {order.tracking_id} from an unverified sender" if unverified
                          else f"Order {order.tracking_id} to confirm"),
                   severity=severity, deadline_at=order.deadline_at, spread=len(order.items),
                   category=order.category,
                   jurisdiction=(order.territorial_scope[0] if len(order.territorial_scope or []) == 1 else None),
                   facts={"tracking_id": order.tracking_id, "unverified": unverified})


def new_tracking_id(clock: Clock) -> str:
    return f"FB-{clock.now().year}-" + "".join(secrets.choice(_TRACKING_ALPHABET) for _ in range(6))


LinkParser = Callable[[str], tuple[int, LinkTarget] | None]


@dataclass
class IntakeContext:
    """What intake needs from the running system, passed in so the service stays testable."""

    clock: Clock
    blobs: BlobStore | None
    limits: DecodeLimits
    parse_link: LinkParser
    platform_name: str
    retention: RetentionPolicy | None = None  # for preservation requests; None: preservation is not offered


def deadline_at(authority: Authority | None, category: str, received_at: datetime,
                requested: datetime | None = None) -> datetime:
    """When an order received at ``received_at`` must be done: the authority's time for the category, or less if it
    asked for less (never silently more)."""
    deadline = received_at + authorities_service.time_allowed(authority, category)
    return min(deadline, requested) if requested is not None else deadline


def create_order(
    *, session: Session, ctx: IntakeContext, actor: str, authority: Authority | None,
    contact: AuthorityContact | None, channel: Channel, data: OrderCreate, received_at: datetime,
    verified: bool, sender_address: str | None = None, source_message_id: str | None = None,
    sender_authentication: dict[str, Any] | None = None,
) -> Order:
    """Record an order and resolve its items. A verified order gets its deadline and SLA clock at once;
    a trusted authority's order in one of its trusted categories is confirmed (acted on) at once."""
    clock = ctx.clock
    order = Order(
        tracking_id=new_tracking_id(clock), authority_id=authority.id if authority else None,
        submitted_by_contact_id=contact.id if contact else None, channel=channel,
        authority_reference=data.authority_reference, legal_basis=data.legal_basis, category=data.category,
        requested_action=data.requested_action, territorial_scope=list(data.territorial_scope),
        free_text=data.free_text, status=OrderStatus.RECEIVED, received_at=received_at, created_at=clock.now(),
        sender_address=sender_address, source_message_id=source_message_id,
        sender_authentication=sender_authentication or {},
    )
    session.add(order)
    session.flush()
    for position, item in enumerate(data.items, start=1):
        row = OrderItem(order_id=order.id, position=position, kind=item.kind, value=item.value,
                        signal_type=item.signal_type.lower() if item.signal_type else None, created_at=clock.now())
        session.add(row)
        session.flush()
        _resolve(session, ctx, row, media_base64=item.media_base64)
    audit.record(session=session, clock=clock, actor=actor, action="order.received", object_type="order",
                 object_id=order.tracking_id,
                 data={"channel": channel.value, "authority_id": order.authority_id, "items": len(data.items),
                       "category": data.category, "verified": verified, "sender": sender_address})
    if verified and authority is not None:
        verify(session=session, clock=clock, actor=actor, order=order, authority=authority,
               requested_deadline=data.deadline)
        if authorities_service.is_trusted_for(authority, order.category):
            confirm(session=session, ctx=ctx, actor="system:trusted-authority", order=order)
    if order.status in (OrderStatus.RECEIVED, OrderStatus.VERIFIED):
        queue_review(session=session, clock=clock, order=order)
    order.acknowledged_at = clock.now()
    return order


def verify(*, session: Session, clock: Clock, actor: str, order: Order, authority: Authority,
           requested_deadline: datetime | None = None) -> None:
    """The sender is authenticated: the SLA clock runs from the authenticated receipt time."""
    order.authority_id = authority.id
    transition(session=session, clock=clock, actor=actor, order=order, new=OrderStatus.VERIFIED)
    order.deadline_at = deadline_at(authority, order.category, order.received_at, requested_deadline)
    schedule_sla(session=session, order=order)


def schedule_sla(*, session: Session, order: Order) -> None:
    if order.deadline_at is None:
        return
    span = order.deadline_at - order.received_at
    for mark, fraction in (("50", 0.5), ("90", 0.9), ("overdue", 1.0)):
        jobs.schedule(session=session, job=SLA_JOB, due_at=order.received_at + span * fraction,
                      payload={"order_id": order.id, "mark": mark}, dedupe_key=f"order-sla:{order.id}:{mark}")


def _resolve(session: Session, ctx: IntakeContext, item: OrderItem, *, media_base64: str | None = None,
             raw: bytes | None = None) -> None:
    """Find what an item points at on the platform: found, already removed, not found, or not resolvable."""
    kind = item.kind
    if kind in (ItemKind.MESSAGE_LINK, ItemKind.CHAT_LINK):
        parsed = ctx.parse_link(item.value)
        if parsed is None:
            _set(item, ItemResolution.NOT_RESOLVABLE, f"not a link to a message or chat on {ctx.platform_name}")
            return
        integration_id, target = parsed
        if kind == ItemKind.CHAT_LINK or target.message_id is None:
            item.kind = ItemKind.CHAT_LINK
            chat = session.scalar(select(Chat).where(Chat.integration_id == integration_id,
                                                     Chat.external_id == target.chat_id))
            if chat is None:
                _set(item, ItemResolution.NOT_FOUND, f"no chat {target.chat_id} is known")
            else:
                _set(item, ItemResolution.FOUND, None)
            return
        placements = list(session.scalars(select(Placement).where(
            Placement.integration_id == integration_id, Placement.chat_external_id == target.chat_id,
            Placement.message_external_id == target.message_id).order_by(Placement.id)))
        if not placements:
            _set(item, ItemResolution.NOT_FOUND, f"no message {target.message_id} with media in chat {target.chat_id}")
            return
        live = [p for p in placements if p.status == PlacementStatus.LIVE]
        chosen = live[0] if live else placements[0]
        item.placement_id, item.media_id = chosen.id, chosen.media_id
        if live:
            _set(item, ItemResolution.FOUND, None)
        else:
            _set(item, ItemResolution.ALREADY_REMOVED, f"the message was already {chosen.status.value}")
        return
    if kind == ItemKind.HASH:
        try:
            signal = get_signal_type(item.signal_type or "")
            item.value = signal.validate(item.value)
        except SignalTypeError as exc:
            _set(item, ItemResolution.NOT_RESOLVABLE, str(exc))
            return
        except ValueError as exc:
            _set(item, ItemResolution.NOT_RESOLVABLE, f"{item.signal_type}: {exc}")
            return
        _set(item, ItemResolution.FOUND, None)  # banked whether or not a copy exists today
        return
    if raw is None:
        try:
            raw = base64.b64decode(media_base64 or "", validate=True)
        except (binascii.Error, ValueError):
            _set(item, ItemResolution.NOT_RESOLVABLE, "media_base64 is not valid base64")
            return
    if not raw:
        _set(item, ItemResolution.NOT_RESOLVABLE, "the attached file is empty")
        return
    if len(raw) > ctx.limits.max_bytes:  # neither stored nor hashed (mail; the API and portal refuse it first)
        _set(item, ItemResolution.NOT_RESOLVABLE,
             f"the file is {len(raw):,} bytes; files are limited to {ctx.limits.max_bytes:,} bytes")
        return
    ingested = ingest_bytes(session=session, clock=ctx.clock, blobs=ctx.blobs, limits=ctx.limits, data=raw)
    item.media_id = ingested.media.id
    if ingested.media.hash_error:
        # Still banked by its exact hashes: an identical re-upload is caught.
        _set(item, ItemResolution.FOUND, f"banked by exact hash only ({ingested.media.hash_error})")
    else:
        _set(item, ItemResolution.FOUND, None)


def _set(item: OrderItem, resolution: ItemResolution, reason: str | None) -> None:
    item.resolution, item.resolution_reason = resolution, reason


# -- confirmation: into the order bank, and act ---------------------------------------------------------------

def order_bank_name(category: str) -> str:
    return f"orders-{category}"


def _entries_for(session: Session, ctx: IntakeContext, item: OrderItem) -> list[banks.EntryInput]:
    note = f"order item {item.id}"
    if item.kind == ItemKind.HASH and item.signal_type:
        return [banks.EntryInput(item.signal_type, item.value, note=note)]
    media = session.get(Media, item.media_id) if item.media_id else None
    if media is None:
        return []
    return banks.entries_for_media(media=media, blobs=ctx.blobs, limits=ctx.limits, note=note)


def confirm(*, session: Session, ctx: IntakeContext, actor: str, order: Order,
            declined: dict[int, str] | None = None) -> None:
    """Act on the order: bank every item (so every copy goes and re-uploads are refused) and remove it; for a
    preservation request, hold and preserve every item instead, removing nothing."""
    declined = declined or {}
    clock = ctx.clock
    if order.requested_action == preservation.PRESERVE:
        _preserve(session=session, ctx=ctx, actor=actor, order=order, declined=declined)
        return
    bank = banks.ensure_bank(session=session, clock=clock, actor=actor, name=order_bank_name(order.category),
                             action=MatchAction.BLOCK, policy_category=order.category,
                             description=f"Items confirmed from authority orders, category {order.category}")
    facts = order_facts(session, order)
    for item in order.items:
        if item.position in declined:
            _outcome(item, ItemOutcome.DECLINED, declined[item.position], clock.now())
            continue
        if item.resolution == ItemResolution.NOT_RESOLVABLE or (
                item.resolution == ItemResolution.NOT_FOUND and item.kind != ItemKind.HASH):
            _outcome(item, ItemOutcome.NOT_FOUND, item.resolution_reason, None)
            continue
        if item.kind == ItemKind.CHAT_LINK:
            _queue_chat_suspension(session, ctx, order, item, facts)
            continue
        entries = [e if e.extra and "order" in e.extra else banks.EntryInput(
            e.signal_type, e.value, quality=e.quality, external_id=e.external_id, note=e.note, media_id=e.media_id,
            extra={**(e.extra or {}), "order": facts}) for e in _entries_for(session, ctx, item)]
        if entries:
            added, _ = banks.add_entries(session=session, clock=clock, actor=actor, bank=bank, entries=entries,
                                         provenance=Provenance.ORDER, source_ref=f"order_item:{item.id}")
            item.bank_entry_id = added[-1].id
            for entry in added:
                if entry.source_ref is None:
                    entry.source_ref = f"order_item:{item.id}"
        if item.placement_id is not None:
            placement = session.get(Placement, item.placement_id)
            if placement is not None and placement.status == PlacementStatus.LIVE:
                enforcement.queue_removal(session=session, clock=clock, placement=placement, order_item_id=item.id,
                                          params={"reason": removal_reason(order), "category": order.category,
                                                  "order": facts})
            elif item.resolution == ItemResolution.ALREADY_REMOVED:
                _outcome(item, ItemOutcome.ALREADY_REMOVED, item.resolution_reason, clock.now())
    transition(session=session, clock=clock, actor=actor, order=order, new=OrderStatus.IN_PROGRESS)
    jobs.defer(session=session, now=clock.now(), job=RUN_ACTIONS_JOB, payload={})
    follow(session=session, clock=clock, order=order)


def _preserve(*, session: Session, ctx: IntakeContext, actor: str, order: Order, declined: dict[int, str]) -> None:
    if ctx.retention is None:
        raise OrderError("this Firebreak keeps no evidence, so it cannot take preservation requests")
    clock = ctx.clock
    for item in order.items:
        if item.position in declined:
            _outcome(item, ItemOutcome.DECLINED, declined[item.position], clock.now())
        elif item.resolution in (ItemResolution.NOT_RESOLVABLE, ItemResolution.NOT_FOUND) \
                and item.kind != ItemKind.HASH:
            _outcome(item, ItemOutcome.NOT_FOUND, item.resolution_reason, None)
        else:
            _outcome(item, ItemOutcome.PRESERVED, "held as evidence; nothing was removed", clock.now())
    preservation.request_preservation(session=session, clock=clock, actor=actor, order=order,
                                      retention=ctx.retention)
    transition(session=session, clock=clock, actor=actor, order=order, new=OrderStatus.IN_PROGRESS)
    follow(session=session, clock=clock, order=order)




def order_facts(session: Session, order: Order) -> dict[str, Any]:
    """What a statement of reasons needs to know of the order behind an action (nothing personal)."""
    authority = session.get(Authority, order.authority_id) if order.authority_id else None
    return {"category": order.category, "legal_basis": order.legal_basis,
            "authority": authority.name if authority else None,
            "territorial_scope": list(order.territorial_scope or [])}


def removal_reason(order: Order) -> str:
    """What the platform may show in place of removed content: never the order's number or an internal name."""
    return "Removed on the order of a competent authority"


def _queue_chat_suspension(session: Session, ctx: IntakeContext, order: Order, item: OrderItem,
                           facts: dict[str, Any]) -> None:
    parsed = ctx.parse_link(item.value)
    if parsed is None:
        _outcome(item, ItemOutcome.NOT_FOUND, "not a chat link", ctx.clock.now())
        return
    chat = session.scalar(select(Chat).where(Chat.integration_id == parsed[0], Chat.external_id == parsed[1].chat_id))
    if chat is None:
        _outcome(item, ItemOutcome.NOT_FOUND, item.resolution_reason, ctx.clock.now())
        return
    enforcement.queue_chat_suspension(session=session, clock=ctx.clock, chat=chat, order_item_id=item.id,
                                      params={"reason": "Suspended on the order of a competent authority",
                                              "category": order.category, "order": facts})


def _outcome(item: OrderItem, outcome: ItemOutcome, reason: str | None, when: datetime | None) -> None:
    item.outcome, item.outcome_reason, item.actioned_at = outcome, reason, when


def follow(*, session: Session, clock: Clock, order: Order, after: timedelta = timedelta(seconds=1)) -> None:
    """Look at the order again soon (a row, so it survives restarts) until it is complete."""
    jobs.schedule(session=session, job=FOLLOW_JOB, due_at=clock.now() + after, payload={"order_id": order.id},
                  dedupe_key=f"order-follow:{order.id}")


# -- outcomes -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ItemCounts:
    copies_removed: int
    reuploads_blocked: int
    pending_actions: int


@dataclass(frozen=True)
class CopyRemoved:
    """One copy of an item that was removed with it: where it was, when it went, how it was recognised."""

    integration_id: int
    chat: str
    chat_title: str | None
    message: str
    removed_at: datetime | None
    signal_type: str
    distance: int
    sender_id: int | None
    chat_id: int | None
    video: bool = False

    @property
    def exact(self) -> bool:
        return self.signal_type in EXACT_SIGNALS

    @property
    def how(self) -> str:
        """exact, near (PDQ), edited (a picture's verified edited copy) or clip (a video's copy or clip)."""
        if self.exact:
            return "exact"
        if self.signal_type == "copy":
            return "clip" if self.video else "edited"
        return "near"


EXACT_SIGNALS = frozenset({"sha256", "md5"})


def item_entries(session: Session, item: OrderItem) -> list[BankEntry]:
    return list(session.scalars(select(BankEntry).where(BankEntry.source_ref == f"order_item:{item.id}")))


def item_counts(session: Session, item: OrderItem) -> ItemCounts:
    entries = item_entries(session, item)
    ids = [e.id for e in entries]
    if not ids:
        pending = session.scalar(select(func.count()).select_from(Action).where(
            Action.order_item_id == item.id, Action.status == ActionStatus.PENDING)) or 0
        return ItemCounts(0, 0, int(pending))
    rows = session.execute(
        select(Action.placement_id, Action.status).join(Match, Match.id == Action.match_id)
        .where(Match.bank_entry_id.in_(ids), Action.kind == ActionKind.REMOVE_MESSAGE)).all()
    reuploads = banks.refused_placements(session=session, entry_ids=ids)
    removed = {pid for pid, status in rows
               if status == ActionStatus.DONE and pid != item.placement_id and pid not in reuploads}
    pending = sum(1 for _, status in rows if status == ActionStatus.PENDING)
    pending += int(session.scalar(select(func.count()).select_from(Action).where(
        Action.order_item_id == item.id, Action.status == ActionStatus.PENDING)) or 0)
    # Uploads refused (or removed as posted) because of the item: each upload once, however many of the item's
    # entries (SHA-256, MD5, PDQ) caught it; counted live from the refusals, so closed orders keep counting.
    return ItemCounts(len(removed), banks.refused_uploads(session=session, entry_ids=ids), pending)


def item_copies(session: Session, item: OrderItem) -> list[CopyRemoved]:
    """The copies removed with the item (not the message the order named), each once, the closest match kept.
    Re-uploads removed as they were posted are not copies: they are counted as re-uploads blocked."""
    ids = [e.id for e in item_entries(session, item)]
    if not ids:
        return []
    reuploads = banks.refused_placements(session=session, entry_ids=ids)
    rows = session.execute(
        select(Placement, Action.completed_at, Match.signal_type, Match.distance, Chat.title, Media.kind)
        .join(Action, Action.placement_id == Placement.id).join(Match, Match.id == Action.match_id)
        .join(Media, Media.id == Placement.media_id)
        .outerjoin(Chat, Chat.id == Placement.chat_id)
        .where(Match.bank_entry_id.in_(ids), Action.kind == ActionKind.REMOVE_MESSAGE,
               Action.status == ActionStatus.DONE)
        .order_by(Action.completed_at, Placement.id)).all()
    best: dict[int, CopyRemoved] = {}
    for placement, completed_at, signal_type, distance, title, kind in rows:
        if placement.id == item.placement_id or placement.id in reuploads:
            continue
        copy = CopyRemoved(integration_id=placement.integration_id, chat=placement.chat_external_id,
                           chat_title=title, message=placement.message_external_id, removed_at=completed_at,
                           signal_type=signal_type, distance=int(distance), sender_id=placement.sender_id,
                           chat_id=placement.chat_id, video=kind == MediaKind.VIDEO)
        known = best.get(placement.id)
        if known is None or (not known.exact and (copy.exact or copy.distance < known.distance)):
            best[placement.id] = copy
    return list(best.values())


@dataclass(frozen=True)
class FollowUp:
    """An action on an account or a chat that followed the removals of an order (repeat offenders)."""

    kind: str
    target: str
    status: str
    at: datetime | None


def follow_up_actions(session: Session, order: Order) -> list[FollowUp]:
    """Restrictions and suspensions of the accounts and chats whose messages the order removed."""
    placement_ids = {i.placement_id for i in order.items if i.placement_id}
    accounts: set[int] = set()
    chats: set[int] = set()
    for item in order.items:
        for copy in item_copies(session, item):
            accounts.update([copy.sender_id] if copy.sender_id else [])
            chats.update([copy.chat_id] if copy.chat_id else [])
        # Re-uploads removed as they were posted: their senders too (a repeat offender's restriction follows).
        entry_ids = [e.id for e in item_entries(session, item)]
        placement_ids |= banks.refused_placements(session=session, entry_ids=entry_ids)
    for placement in session.scalars(select(Placement).where(Placement.id.in_(placement_ids))) if placement_ids \
            else []:
        accounts.update([placement.sender_id] if placement.sender_id else [])
        chats.update([placement.chat_id] if placement.chat_id else [])
    kinds = (ActionKind.RESTRICT_ACCOUNT, ActionKind.SUSPEND_ACCOUNT, ActionKind.SUSPEND_CHAT)
    item_ids = [i.id for i in order.items]
    clauses = [Action.order_item_id.in_(item_ids)] if item_ids else []
    if accounts:
        clauses.append(Action.account_id.in_(accounts))
    if chats:
        clauses.append(Action.chat_id.in_(chats))
    if not clauses:
        return []
    since = order.verified_at or order.received_at
    actions = session.scalars(select(Action).where(Action.kind.in_(kinds), or_(*clauses), Action.created_at >= since)
                              .order_by(Action.id)).all()
    out: list[FollowUp] = []
    for action in actions:
        if action.account_id is not None:
            account = session.get(PlatformAccount, action.account_id)
            target = account.display_name or account.external_id if account else str(action.account_id)
        else:
            chat = session.get(Chat, action.chat_id) if action.chat_id else None
            target = (chat.title or chat.external_id) if chat else "?"
        out.append(FollowUp(kind=action.kind.value, target=target, status=action.status.value,
                            at=action.completed_at or action.created_at))
    return out


def propagation_done(session: Session, item: OrderItem) -> bool:
    from firebreak.enforcement.models import Propagation, PropagationStatus

    ids = [e.id for e in item_entries(session, item)]
    if not ids:
        return True
    done = session.scalar(select(func.count()).select_from(Propagation).where(
        Propagation.bank_entry_id.in_(ids), Propagation.status == PropagationStatus.DONE)) or 0
    return int(done) >= len(ids)


def refresh(*, session: Session, clock: Clock, order: Order) -> bool:
    """Update item outcomes from what the platform did. Returns True when every item is final."""
    if order.status != OrderStatus.IN_PROGRESS:
        return order.status not in OPEN
    final = True
    for item in order.items:
        counts = item_counts(session, item)
        # Copies are counted once every entry of the item has finished looking for them.
        copies_settled = counts.pending_actions == 0 and propagation_done(session, item)
        if item.outcome != ItemOutcome.PENDING:
            final = final and copies_settled
            continue
        named = session.scalar(select(Action).where(Action.order_item_id == item.id).order_by(Action.id).limit(1))
        if named is not None:
            if named.status == ActionStatus.PENDING:
                final = False
                continue
            outcome = {ActionStatus.DONE: ItemOutcome.REMOVED, ActionStatus.NOT_FOUND: ItemOutcome.ALREADY_REMOVED,
                       ActionStatus.FAILED: ItemOutcome.DECLINED}[named.status]
            reason = None if named.status == ActionStatus.DONE else (
                "already gone from the platform" if named.status == ActionStatus.NOT_FOUND
                else f"the platform did not carry the removal out: {named.last_error}")
            _outcome(item, outcome, reason, named.completed_at)
        elif item.placement_id is not None:
            placement = session.get(Placement, item.placement_id)
            if placement is not None and placement.status == PlacementStatus.LIVE:
                final = False
                continue
            _outcome(item, ItemOutcome.ALREADY_REMOVED, "removed before the order was acted on",
                     placement.status_changed_at if placement else None)
        else:
            if not propagation_done(session, item) or counts.pending_actions:
                final = False
                continue
            if counts.copies_removed:
                _outcome(item, ItemOutcome.REMOVED, None, clock.now())
            else:
                _outcome(item, ItemOutcome.NOT_FOUND, "no copy on the platform; re-uploads are refused", None)
        if item.outcome != ItemOutcome.PENDING and order.actioned_at is None and item.actioned_at is not None:
            order.actioned_at = item.actioned_at
        final = final and copies_settled and item.outcome != ItemOutcome.PENDING
    return final


def close_if_final(*, session: Session, clock: Clock, order: Order) -> bool:
    if not refresh(session=session, clock=clock, order=order):
        return False
    if order.status != OrderStatus.IN_PROGRESS:
        return True
    outcomes = {i.outcome for i in order.items}
    new = OrderStatus.COMPLETED if outcomes <= DONE_OUTCOMES else OrderStatus.PARTIALLY_COMPLETED
    if order.actioned_at is None:
        order.actioned_at = clock.now()
    transition(session=session, clock=clock, actor="system:orders", order=order, new=new)
    return True


# -- thread --------------------------------------------------------------------------------------------------

def add_message(*, session: Session, clock: Clock, actor: str, order: Order, direction: MessageDirection,
                channel: Channel, author: str, body: str, subject: str | None = None,
                mail_message_id: str | None = None, internal: bool = False) -> OrderMessage:
    """Add to the order's thread. ``internal`` notes (alerts to the liaison team, SLA reminders) are for staff
    only: :func:`thread` leaves them out for the authority."""
    message = OrderMessage(order_id=order.id, direction=direction, channel=channel, author=author[:320],
                           subject=(subject or None) and subject[:500], body=body, mail_message_id=mail_message_id,
                           internal=internal, created_at=clock.now())
    session.add(message)
    session.flush()
    audit.record(session=session, clock=clock, actor=actor, action="order.message", object_type="order",
                 object_id=order.tracking_id, data={"direction": direction.value, "channel": channel.value,
                                                    "message_id": message.id, "length": len(body),
                                                    "internal": internal})
    return message


def thread(*, session: Session, order: Order, for_authority: bool) -> list[OrderMessage]:
    """The order's thread, oldest first. The authority sees what was sent to it and what it sent, never the
    platform's internal notes."""
    stmt = select(OrderMessage).where(OrderMessage.order_id == order.id)
    if for_authority:
        stmt = stmt.where(OrderMessage.internal.is_(False))
    return list(session.scalars(stmt.order_by(OrderMessage.id)))


def get_order(*, session: Session, tracking_id: str, authority_id: int | None = None) -> Order:
    """An order by tracking id; ``authority_id`` limits it to that authority's own orders."""
    stmt = select(Order).where(Order.tracking_id == tracking_id.strip().upper())
    if authority_id is not None:
        stmt = stmt.where(Order.authority_id == authority_id)
    order = session.scalar(stmt)
    if order is None:
        raise OrderError(f"no order {tracking_id}")
    return order


def open_orders(*, session: Session) -> Sequence[Order]:
    return session.scalars(select(Order).where(Order.status.in_(OPEN))
                           .order_by(Order.deadline_at.is_(None), Order.deadline_at, Order.received_at)).all()
