"""The spread of an item: first poster, every chat it reached, forward chains, counts over time."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.media.models import Placement, PlacementStatus
from firebreak.platform.models import Chat, PlatformAccount


class SpreadPlacement(BaseModel):
    placement_id: int
    media_id: int
    chat_id: str
    message_id: str
    sender_id: str | None
    posted_at: datetime
    status: PlacementStatus
    forwarded_from_placement_id: int | None


class SpreadChat(BaseModel):
    chat_id: str
    title: str | None
    kind: str | None
    is_public: bool | None
    member_count: int | None
    placements: int
    live: int
    first_seen: datetime
    last_seen: datetime


class ForwardEdge(BaseModel):
    from_placement_id: int
    to_placement_id: int
    from_chat: str
    to_chat: str


class TimeBucket(BaseModel):
    start: datetime
    placements: int


class Spread(BaseModel):
    media_ids: list[int]
    total_placements: int
    live: int
    removed: int
    deleted: int
    chats_reached: int
    senders: int
    estimated_reach: int  # sum of member counts of the chats reached (where known)
    first: SpreadPlacement | None
    chats: list[SpreadChat]
    forwards: list[ForwardEdge]
    longest_forward_chain: int
    bucket: str
    timeline: list[TimeBucket]
    placements: list[SpreadPlacement]


def _forward_sources(rows: list[Placement]) -> dict[int, int]:
    """The placement each forward came from, among ``rows``: placement id -> source placement id.

    The source is found by the forwarded-from chat and message, preferring the same media: the id
    stored when the forward was recorded names only the first media of the source message, and is
    missing when the forward arrived before its original.
    """
    first_by_message: dict[tuple[int, str, str], Placement] = {}
    first_by_media: dict[tuple[int, str, str, int], Placement] = {}
    for p in rows:  # ordered by time, then id: the first seen is the earliest
        first_by_message.setdefault((p.integration_id, p.chat_external_id, p.message_external_id), p)
        first_by_media.setdefault((p.integration_id, p.chat_external_id, p.message_external_id, p.media_id), p)
    by_id = {p.id: p for p in rows}
    sources: dict[int, int] = {}
    for p in rows:
        source: Placement | None = None
        if p.forwarded_from_chat is not None and p.forwarded_from_message is not None:
            key = (p.integration_id, p.forwarded_from_chat, p.forwarded_from_message)
            source = first_by_media.get((*key, p.media_id)) or first_by_message.get(key)
        if source is None and p.forwarded_from_placement_id is not None:
            source = by_id.get(p.forwarded_from_placement_id)
        if source is not None and source.id != p.id:
            sources[p.id] = source.id
    return sources


def _chain_lengths(sources: dict[int, int]) -> dict[int, int]:
    """How many forwards led to each forwarded placement (a loop in bad data is cut where it closes)."""
    lengths: dict[int, int] = {}
    for start in sources:
        path: list[int] = []
        on_path: set[int] = set()
        node: int | None = start
        while node is not None and node not in lengths and node not in on_path:
            path.append(node)
            on_path.add(node)
            node = sources.get(node)
        known = lengths.get(node, 0) if node is not None else 0
        for step in reversed(path):
            known = known + 1 if step in sources else 0
            lengths[step] = known
    return lengths


def spread_of(*, session: Session, media_ids: list[int], max_placements: int = 5000) -> Spread:
    rows = list(session.scalars(select(Placement).where(Placement.media_id.in_(media_ids))
                                .order_by(Placement.posted_at, Placement.id).limit(max_placements)))
    accounts = {a.id: a.external_id for a in session.scalars(
        select(PlatformAccount).where(PlatformAccount.id.in_({p.sender_id for p in rows if p.sender_id})))}
    chats = {c.id: c for c in session.scalars(select(Chat).where(Chat.id.in_({p.chat_id for p in rows if p.chat_id})))}
    items = [SpreadPlacement(placement_id=p.id, media_id=p.media_id, chat_id=p.chat_external_id,
                             message_id=p.message_external_id, sender_id=accounts.get(p.sender_id or 0),
                             posted_at=p.posted_at, status=p.status,
                             forwarded_from_placement_id=p.forwarded_from_placement_id) for p in rows]
    by_chat: dict[str, list[Placement]] = defaultdict(list)
    for p in rows:
        by_chat[p.chat_external_id].append(p)
    chat_rows = []
    for chat_key, group in by_chat.items():
        info = chats.get(group[0].chat_id or 0)
        chat_rows.append(SpreadChat(
            chat_id=chat_key, title=info.title if info else None, kind=info.kind.value if info else None,
            is_public=info.is_public if info else None, member_count=info.member_count if info else None,
            placements=len(group), live=sum(p.status == PlacementStatus.LIVE for p in group),
            first_seen=group[0].posted_at, last_seen=group[-1].posted_at))
    chat_rows.sort(key=lambda c: c.first_seen)
    parents = _forward_sources(rows)
    by_id = {p.id: p for p in rows}
    edges = [ForwardEdge(from_placement_id=parent, to_placement_id=p.id, from_chat=by_id[parent].chat_external_id,
                         to_chat=p.chat_external_id) for p in rows if (parent := parents.get(p.id)) is not None]
    depth = _chain_lengths(parents)
    span = (rows[-1].posted_at - rows[0].posted_at) if rows else timedelta(0)
    bucket = timedelta(hours=1) if span <= timedelta(days=3) else timedelta(days=1)
    counts: Counter[datetime] = Counter()
    for p in rows:
        t = p.posted_at
        start = t.replace(minute=0, second=0, microsecond=0)
        if bucket == timedelta(days=1):
            start = start.replace(hour=0)
        counts[start] += 1
    status_counts = Counter(p.status for p in rows)
    return Spread(
        media_ids=media_ids, total_placements=len(rows), live=status_counts[PlacementStatus.LIVE],
        removed=status_counts[PlacementStatus.REMOVED], deleted=status_counts[PlacementStatus.DELETED],
        chats_reached=len(by_chat), senders=len({p.sender_id for p in rows if p.sender_id}),
        estimated_reach=sum(c.member_count or 0 for c in chat_rows), first=items[0] if items else None,
        chats=chat_rows, forwards=edges, longest_forward_chain=max(depth.values(), default=0),
        bucket="hour" if bucket == timedelta(hours=1) else "day",
        timeline=[TimeBucket(start=k, placements=v) for k, v in sorted(counts.items())], placements=items)
