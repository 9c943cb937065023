"""Chat-level action is never automatic: enforcement proposes it to the review queue, with the evidence.

A chat where an item an authority ordered removed was posted is proposed at once and first (it is where the spread
began); a chat where ``threshold`` removed copies landed is proposed with a lower severity. A moderator sees how
many ordered or banked items were removed there, who posted them and who administers the chat, and decides.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from firebreak.core.clock import Clock
from firebreak.enforcement.models import Action, ActionKind, ActionStatus
from firebreak.media.models import Placement
from firebreak.platform.models import Chat, PlatformAccount, StandingStatus
from firebreak.review import service as review

CHAT_KIND = "chat_action"
ORDERED_BONUS = 10  # a chat where ordered items were posted comes before chats that only received copies


def open_key(chat_id: int) -> str:
    return f"chat_action:{chat_id}"


@dataclass(frozen=True)
class Evidence:
    removed: int  # messages removed in the chat
    ordered: int  # of which items an authority named
    copies: int  # of which copies found through banks
    posters: list[tuple[str, str | None, int]]  # (account id on the platform, display name, messages removed)
    admins: list[str]
    first_removed_posted_at: str | None


def evidence(*, session: Session, chat: Chat) -> Evidence:
    rows = session.execute(
        select(Action.order_item_id, Placement.sender_id, Placement.posted_at)
        .join(Placement, Placement.id == Action.placement_id)
        .where(Placement.chat_id == chat.id, Action.kind == ActionKind.REMOVE_MESSAGE,
               Action.status == ActionStatus.DONE)
        .order_by(Placement.posted_at)).all()
    by_sender = Counter(r[1] for r in rows if r[1] is not None)
    accounts = {a.id: a for a in session.scalars(select(PlatformAccount).where(
        PlatformAccount.id.in_(list(by_sender))))} if by_sender else {}
    posters = [(accounts[i].external_id, accounts[i].display_name, n) for i, n in by_sender.most_common()
               if i in accounts]
    ordered = sum(1 for r in rows if r[0] is not None)
    return Evidence(removed=len(rows), ordered=ordered, copies=len(rows) - ordered, posters=posters,
                    admins=list(chat.admins or []),
                    first_removed_posted_at=rows[0][2].strftime("%Y-%m-%d %H:%M UTC") if rows else None)


def consider(*, session: Session, clock: Clock, chat_id: int | None, ordered: bool, threshold: int, severity: int,
             category: str | None, integration_id: int) -> None:
    """After a removal in a chat: propose chat-level action when the chat warrants a person's look."""
    if chat_id is None:
        return
    chat = session.get(Chat, chat_id)
    if chat is None or chat.status == StandingStatus.SUSPENDED:
        return
    removed = int(session.scalar(
        select(func.count()).select_from(Action).join(Placement, Placement.id == Action.placement_id)
        .where(Placement.chat_id == chat_id, Action.kind == ActionKind.REMOVE_MESSAGE,
               Action.status == ActionStatus.DONE)) or 0)
    existing = review.open_item(session=session, open_key=open_key(chat_id))
    has_ordered = ordered or bool(existing and existing.facts.get("ordered"))
    if not has_ordered and removed < threshold and existing is None:
        return
    first = session.scalar(select(func.min(Placement.posted_at)).where(Placement.chat_id == chat_id))
    hours = max((clock.now() - first).total_seconds() / 3600, 1.0) if first is not None else 1.0
    name = chat.title or chat.external_id
    title = (f"Chat where ordered items were posted: {removed} removed" if has_ordered
             else f"Chat with {removed} removed copies")
    review.enqueue(session=session, clock=clock, kind=CHAT_KIND, source="enforcement", subject_type="chat",
                   subject_id=chat_id, open_key=open_key(chat_id), title=title,
                   severity=min(100, severity + (ORDERED_BONUS if has_ordered else 0)) if has_ordered
                   else max(0, severity - 20), spread=removed, spread_per_hour=round(removed / hours, 2),
                   category=category, facts={"chat_id": chat_id, "ordered": has_ordered,
                                             "integration_id": integration_id, "chat": name[:80]},
                   deadline_at=clock.now() + timedelta(days=1) if has_ordered else None)
