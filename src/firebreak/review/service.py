"""The review queue: items in, claims, decisions (with a second moderator where required), reveals, appeals.

Services take a session and never commit. Every refusal is a :class:`ReviewError` whose message a moderator (or,
for appeals, the user) can act on; nothing is ever applied twice: a decision needs the item's current ``version``
(so a page opened before a change cannot decide), a live claim of the one deciding, and an open item.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from firebreak.audit import service as audit
from firebreak.auth.models import Role, StaffUser
from firebreak.core.clock import Clock
from firebreak.review.models import (
    Appeal,
    AppealChannel,
    AppealStatus,
    Decision,
    DecisionStatus,
    ItemStatus,
    Reveal,
    ReviewItem,
)
from firebreak.review.registry import Applied, DecisionRefused, ReviewKinds
from firebreak.transparency.models import StatementKind, StatementOfReasons
from firebreak.transparency.policy import Policy, PolicyError

APPEAL_KIND = "appeal"  # the kind of appeal items; its handler is registered by whoever can reverse decisions
APPEAL_DEADLINE = timedelta(days=7)  # our own target for answering an appeal
_REF_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class ReviewError(Exception):
    """A review action that cannot be done. ``status`` is the HTTP status that fits it."""

    status = 409


class Conflict(ReviewError):
    status = 409


class NotAllowed(ReviewError):
    status = 403


class Invalid(ReviewError):
    status = 422


class AppealRefused(ReviewError):
    status = 409


@dataclass(frozen=True)
class QueueFilter:
    kind: str | None = None
    source: str | None = None
    category: str | None = None
    jurisdiction: str | None = None
    status: str = "open"  # open (open and awaiting a second moderator), decided, mine
    kinds: tuple[str, ...] | None = None  # only these kinds (those the viewer's role decides)
    limit: int = 200


def _staff_name(session: Session, staff_id: int | None) -> str:
    user = session.get(StaffUser, staff_id) if staff_id else None
    return user.display_name if user is not None else "another moderator"


def _touch(item: ReviewItem, now: datetime) -> None:
    item.version += 1
    item.status_changed_at = now


def _time(when: datetime) -> str:
    return when.strftime("%H:%M UTC")


# -- into the queue ---------------------------------------------------------------------------------------------

def enqueue(*, session: Session, clock: Clock, kind: str, source: str, subject_type: str, subject_id: int,
            title: str, open_key: str, severity: int = 50, deadline_at: datetime | None = None, spread: int = 0,
            spread_per_hour: float = 0.0, category: str | None = None, jurisdiction: str | None = None,
            facts: Mapping[str, object] | None = None, excluded_staff_id: int | None = None,
            actor: str = "system:review") -> ReviewItem:
    """Put an item in the queue, or update the open item with the same ``open_key`` (never two open at once)."""
    now = clock.now()
    item = session.scalar(select(ReviewItem).where(ReviewItem.open_key == open_key))
    if item is not None:
        changed = False
        if severity > item.severity:
            item.severity, changed = severity, True
        if deadline_at is not None and (item.deadline_at is None or deadline_at < item.deadline_at):
            item.deadline_at, changed = deadline_at, True
        if spread != item.spread or spread_per_hour != item.spread_per_hour:
            item.spread, item.spread_per_hour, changed = spread, spread_per_hour, True
        if facts:
            merged = {**item.facts, **facts}
            if merged != item.facts:
                item.facts, changed = merged, True
        if title != item.title:
            item.title, changed = title[:300], True
        if changed:
            item.version += 1
        return item
    item = ReviewItem(kind=kind, source=source, subject_type=subject_type, subject_id=subject_id, open_key=open_key,
                      title=title[:300], severity=max(0, min(100, severity)), deadline_at=deadline_at, spread=spread,
                      spread_per_hour=spread_per_hour, category=category,
                      jurisdiction=jurisdiction.upper() if jurisdiction else None, facts=dict(facts or {}),
                      status=ItemStatus.OPEN, status_changed_at=now, excluded_staff_id=excluded_staff_id,
                      version=1, created_at=now)
    session.add(item)
    session.flush()
    audit.record(session=session, clock=clock, actor=actor, action="review.queued", object_type="review_item",
                 object_id=item.id, data={"kind": kind, "source": source, "subject": f"{subject_type}:{subject_id}",
                                          "severity": item.severity})
    return item


def open_item(*, session: Session, open_key: str) -> ReviewItem | None:
    return session.scalar(select(ReviewItem).where(ReviewItem.open_key == open_key))


def withdraw(*, session: Session, clock: Clock, open_key: str, reason: str, actor: str) -> ReviewItem | None:
    """Take an open item out of the queue (decided elsewhere, or nothing left to decide)."""
    item = open_item(session=session, open_key=open_key)
    if item is None:
        return None
    now = clock.now()
    item.status, item.open_key = ItemStatus.WITHDRAWN, None
    item.claimed_by_id = item.claim_expires_at = None
    _touch(item, now)
    audit.record(session=session, clock=clock, actor=actor, action="review.withdrawn", object_type="review_item",
                 object_id=item.id, data={"reason": reason})
    return item


# -- reading the queue ------------------------------------------------------------------------------------------

def queue(*, session: Session, staff_id: int, flt: QueueFilter, now: datetime) -> list[ReviewItem]:
    """Items in the order they should be worked: severity, then time left, then how fast they spread. "mine" is what
    the viewer holds ``now``: a claim that ran out is back in the queue, no longer anyone's."""
    stmt = select(ReviewItem)
    if flt.status == "decided":
        stmt = stmt.where(ReviewItem.status.in_((ItemStatus.DECIDED, ItemStatus.WITHDRAWN)))
        stmt = stmt.order_by(ReviewItem.status_changed_at.desc(), ReviewItem.id.desc())
    else:
        stmt = stmt.where(ReviewItem.status.in_((ItemStatus.OPEN, ItemStatus.AWAITING_SECOND)))
        if flt.status == "mine":
            stmt = stmt.where(ReviewItem.claimed_by_id == staff_id, ReviewItem.claim_expires_at > now)
        stmt = stmt.order_by(ReviewItem.severity.desc(), ReviewItem.deadline_at.is_(None), ReviewItem.deadline_at,
                             ReviewItem.spread_per_hour.desc(), ReviewItem.id)
    if flt.kinds is not None:
        stmt = stmt.where(ReviewItem.kind.in_(flt.kinds))
    for column, value in ((ReviewItem.kind, flt.kind), (ReviewItem.source, flt.source),
                          (ReviewItem.category, flt.category), (ReviewItem.jurisdiction, flt.jurisdiction)):
        if value:
            stmt = stmt.where(column == value)
    return list(session.scalars(stmt.limit(flt.limit)))


def facets(*, session: Session, kinds: tuple[str, ...] | None = None) -> dict[str, list[str]]:
    """The values the queue's filters offer (of open items of these kinds)."""
    where = [ReviewItem.status.in_((ItemStatus.OPEN, ItemStatus.AWAITING_SECOND))]
    if kinds is not None:
        where.append(ReviewItem.kind.in_(kinds))
    found: dict[str, list[str]] = {}
    for name, column in (("kind", ReviewItem.kind), ("source", ReviewItem.source),
                         ("category", ReviewItem.category), ("jurisdiction", ReviewItem.jurisdiction)):
        found[name] = sorted(v for v in session.scalars(select(column).where(*where).distinct()) if v)
    return found


def get_item(*, session: Session, item_id: int) -> ReviewItem | None:
    return session.get(ReviewItem, item_id)


def decisions_of(*, session: Session, item: ReviewItem) -> list[Decision]:
    return list(session.scalars(select(Decision).where(Decision.review_item_id == item.id).order_by(Decision.id)))


def earlier_decisions(*, session: Session, item: ReviewItem, limit: int = 20) -> list[tuple[ReviewItem, Decision]]:
    """Decisions on other items about the same subject (the same match, order, chat)."""
    rows = session.execute(select(ReviewItem, Decision).join(Decision, Decision.review_item_id == ReviewItem.id)
                           .where(ReviewItem.subject_type == item.subject_type,
                                  ReviewItem.subject_id == item.subject_id, ReviewItem.id != item.id)
                           .order_by(Decision.id.desc()).limit(limit)).all()
    return [(r[0], r[1]) for r in rows]


def claim_holder(item: ReviewItem, now: datetime) -> int | None:
    """Who holds a live claim on the item (None when nobody, or the claim ran out)."""
    if item.claimed_by_id is not None and item.claim_expires_at is not None and item.claim_expires_at > now:
        return item.claimed_by_id
    return None


# -- claims -----------------------------------------------------------------------------------------------------

def _lock(session: Session, item: ReviewItem) -> ReviewItem:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(ReviewItem.id).where(ReviewItem.id == item.id).with_for_update())
        session.refresh(item)
    return item


def _check_version(item: ReviewItem, version: int | None) -> None:
    if version is not None and version != item.version:
        raise Conflict("This item changed after you opened it (someone claimed, decided or updated it). Reload the "
                       "page to see it as it is now; nothing was applied.")


def _check_open(session: Session, item: ReviewItem) -> None:
    if item.status == ItemStatus.DECIDED:
        last = session.scalar(select(Decision).where(Decision.review_item_id == item.id,
                                                     Decision.status == DecisionStatus.FINAL)
                              .order_by(Decision.id.desc()).limit(1))
        who = _staff_name(session, last.decided_by_id) if last else "someone"
        when = f" at {last.decided_at:%Y-%m-%d %H:%M} UTC" if last else ""
        raise Conflict(f"This item was already decided by {who}{when}. Nothing was applied twice.")
    if item.status == ItemStatus.WITHDRAWN:
        raise Conflict("This item left the queue: there is nothing left to decide (it was decided elsewhere, or "
                       "the content is gone). Nothing was applied.")


def _check_role(kinds: ReviewKinds, item: ReviewItem, role: Role | None) -> None:
    kind = kinds.get(item.kind)
    if role not in kind.deciders:
        allowed = ", ".join(r.value for r in kind.deciders)
        raise NotAllowed(f"Items of this kind ({kind.label}) are decided by: {allowed}.")


def excluded_staff(item: ReviewItem) -> frozenset[int]:
    """Who may not decide this item: for an appeal, whoever took the decision appealed, the second moderator of a
    two-moderator decision included."""
    more = item.facts.get("excluded_staff", []) if isinstance(item.facts, dict) else []
    return frozenset(i for i in (item.excluded_staff_id, *more) if isinstance(i, int))


def _check_not_excluded(item: ReviewItem, staff_id: int) -> None:
    if staff_id in excluded_staff(item):
        raise NotAllowed("You took the decision this appeal is about. Another moderator must decide it.")


def claim(*, session: Session, clock: Clock, kinds: ReviewKinds, item: ReviewItem, staff_id: int,
          role: Role | None, minutes: int, version: int | None = None) -> ReviewItem:
    """Hold the item for ``minutes`` so no one else works on it (renewed when the holder claims again)."""
    _lock(session, item)
    _check_open(session, item)
    _check_version(item, version)
    _check_role(kinds, item, role)
    _check_not_excluded(item, staff_id)
    now = clock.now()
    holder = claim_holder(item, now)
    if holder is not None and holder != staff_id:
        raise Conflict(f"{_staff_name(session, holder)} is working on this item (claimed until "
                       f"{_time(item.claim_expires_at or now)}). Pick another one.")
    item.claimed_by_id, item.claim_expires_at = staff_id, now + timedelta(minutes=minutes)
    _touch(item, now)
    if holder is None:
        audit.record(session=session, clock=clock, actor=f"staff:{staff_id}", action="review.claimed",
                     object_type="review_item", object_id=item.id, data={"until": item.claim_expires_at})
    return item


def release(*, session: Session, clock: Clock, item: ReviewItem, staff_id: int) -> ReviewItem:
    _lock(session, item)
    now = clock.now()
    holder = claim_holder(item, now)
    if holder is None:
        return item
    if holder != staff_id:
        raise Conflict(f"{_staff_name(session, holder)} holds this item; only they can release it (or wait until "
                       f"{_time(item.claim_expires_at or now)}).")
    item.claimed_by_id = item.claim_expires_at = None
    _touch(item, now)
    audit.record(session=session, clock=clock, actor=f"staff:{staff_id}", action="review.released",
                 object_type="review_item", object_id=item.id, data={})
    return item


# -- decisions --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DecisionRequest:
    choice: str
    ground: str | None = None
    note: str = ""
    inputs: Mapping[str, str] | None = None
    version: int | None = None


def decide(*, session: Session, clock: Clock, kinds: ReviewKinds, policy: Policy, item: ReviewItem, staff_id: int,
           role: Role | None, request: DecisionRequest, second_for: Sequence[str] = ()) -> Decision:
    """Decide an item the caller has claimed. A high-impact choice listed in ``second_for`` is only proposed: a
    second moderator approves it (``second``). Raises ReviewError (nothing applied) or returns the decision."""
    _lock(session, item)
    _check_open(session, item)
    if item.status == ItemStatus.AWAITING_SECOND:
        raise Conflict("A decision on this item is waiting for a second moderator. Approve or refuse it instead.")
    _check_version(item, request.version)
    _check_role(kinds, item, role)
    _check_not_excluded(item, staff_id)
    now = clock.now()
    holder = claim_holder(item, now)
    if holder is None:
        raise Conflict("Claim this item before deciding it (your claim may have run out): then nobody else works "
                       "on it at the same time. Nothing was applied.")
    if holder != staff_id:
        raise Conflict(f"{_staff_name(session, holder)} is working on this item; you cannot decide it for them. "
                       "Nothing was applied.")
    kind = kinds.get(item.kind)
    choices = {c.key: c for c in kind.choices(session, item)}
    choice = choices.get(request.choice)
    if choice is None:
        raise Invalid(f"{request.choice!r} is not a decision for this item; choose one of: "
                      f"{', '.join(choices) or 'none'}.")
    ground = None
    if choice.restrictive:
        name = request.ground or kind.describe(session, item).ground
        if not name:
            raise Invalid("Choose the policy ground this decision relies on.")
        try:
            ground = policy.get(name)
        except PolicyError as exc:
            raise Invalid(str(exc)) from None
    inputs = dict(request.inputs or {})
    note = request.note.strip()[:5000]
    decision = Decision(
        review_item_id=item.id, choice=choice.key, outcome=choice.outcome,
        policy_ground=("illegal_content" if ground.illegal else "incompatible_content") if ground else "none",
        policy_category=(ground.category if ground else item.category) or "other", ground=ground.name if ground
        else None, legal_reference=ground.legal_ground if ground else None, explanation=note or None,
        automated=False, decided_by_id=staff_id, decided_at=now, inputs=inputs, created_at=now,
        status=DecisionStatus.FINAL)
    if choice.impact is not None and choice.impact in second_for:
        decision.status = DecisionStatus.PROPOSED
        session.add(decision)
        item.status = ItemStatus.AWAITING_SECOND
        item.claimed_by_id = item.claim_expires_at = None
        _touch(item, now)
        session.flush()
        audit.record(session=session, clock=clock, actor=f"staff:{staff_id}", action="review.proposed",
                     object_type="review_item", object_id=item.id,
                     data={"decision_id": decision.id, "choice": choice.key, "ground": decision.ground})
        return decision
    return _apply(session, clock, kinds, item, decision, Applied(
        decision=decision, choice=choice, ground=ground, note=note, inputs=inputs, staff_id=staff_id,
        actor=f"staff:{staff_id}"))


def _apply(session: Session, clock: Clock, kinds: ReviewKinds, item: ReviewItem, decision: Decision,
           applied: Applied) -> Decision:
    now = clock.now()
    try:
        with session.begin_nested():  # a handler that refuses leaves nothing of the decision behind
            if decision.id is None:
                session.add(decision)
            key, item.open_key = item.open_key, None  # the subject's own withdraw() must not find it meanwhile
            session.flush()
            result = kinds.get(item.kind).apply(session, item, applied)
    except DecisionRefused as exc:
        item.open_key = key
        raise Conflict(str(exc)) from None
    decision.result = result[:5000]
    decision.status = DecisionStatus.FINAL
    item.status, item.open_key = ItemStatus.DECIDED, None
    item.claimed_by_id = item.claim_expires_at = None
    _touch(item, now)
    audit.record(session=session, clock=clock, actor=applied.actor, action="review.decided",
                 object_type="review_item", object_id=item.id,
                 data={"decision_id": decision.id, "choice": applied.choice.key, "ground": decision.ground,
                       "second": applied.second_staff_id, "result": decision.result[:500]})
    return decision


def proposal(*, session: Session, item: ReviewItem) -> Decision | None:
    return session.scalar(select(Decision).where(Decision.review_item_id == item.id,
                                                 Decision.status == DecisionStatus.PROPOSED)
                          .order_by(Decision.id.desc()).limit(1))


def second(*, session: Session, clock: Clock, kinds: ReviewKinds, policy: Policy, item: ReviewItem, staff_id: int,
           role: Role | None, approve: bool, version: int | None = None, note: str = "") -> Decision:
    """A second moderator approves (it is applied now) or refuses (back to the queue) a proposed decision."""
    _lock(session, item)
    _check_open(session, item)
    if item.status != ItemStatus.AWAITING_SECOND:
        raise Conflict("No decision on this item waits for a second moderator.")
    _check_version(item, version)
    _check_role(kinds, item, role)
    _check_not_excluded(item, staff_id)
    decision = proposal(session=session, item=item)
    if decision is None:  # a proposal always exists while awaiting; a broken row must not block the queue
        raise Conflict("The proposed decision is missing; reload the page.")
    if decision.decided_by_id == staff_id:
        raise NotAllowed("You proposed this decision. A second moderator, not you, must approve it.")
    now = clock.now()
    decision.second_by_id, decision.second_at = staff_id, now
    if not approve:
        decision.status = DecisionStatus.REFUSED
        decision.result = f"refused by the second moderator: {note.strip()[:2000]}" if note.strip() else \
            "refused by the second moderator"
        item.status = ItemStatus.OPEN
        _touch(item, now)
        audit.record(session=session, clock=clock, actor=f"staff:{staff_id}", action="review.second_refused",
                     object_type="review_item", object_id=item.id, data={"decision_id": decision.id})
        return decision
    kind = kinds.get(item.kind)
    choice = {c.key: c for c in kind.choices(session, item)}.get(decision.choice or "")
    if choice is None:
        raise Conflict("The proposed decision no longer applies to this item; refuse it and decide again.")
    ground = policy.get(decision.ground) if decision.ground else None
    return _apply(session, clock, kinds, item, decision, Applied(
        decision=decision, choice=choice, ground=ground, note=decision.explanation or "",
        inputs=dict(decision.inputs or {}), staff_id=decision.decided_by_id or 0, second_staff_id=staff_id,
        actor=f"staff:{staff_id}"))


# -- reveals ----------------------------------------------------------------------------------------------------

def reveal(*, session: Session, clock: Clock, item: ReviewItem, staff_id: int, media_id: int) -> int:
    """Record that the moderator chose to see a picture unblurred. Returns their reveals today."""
    now = clock.now()
    today = now.date()
    row = session.scalar(select(Reveal).where(Reveal.staff_id == staff_id, Reveal.review_item_id == item.id,
                                              Reveal.media_id == media_id, Reveal.day == today))
    if row is None:
        session.add(Reveal(staff_id=staff_id, review_item_id=item.id, media_id=media_id, day=today,
                           revealed_at=now))
        session.flush()
        audit.record(session=session, clock=clock, actor=f"staff:{staff_id}", action="review.revealed",
                     object_type="review_item", object_id=item.id, data={"media_id": media_id})
    else:
        row.revealed_at = now
    return reveals_on(session=session, staff_id=staff_id, day=today)


def reveals_on(*, session: Session, staff_id: int, day: date) -> int:
    return int(session.scalar(select(func.count()).select_from(Reveal).where(
        Reveal.staff_id == staff_id, Reveal.day == day)) or 0)


def revealed(*, session: Session, item: ReviewItem, staff_id: int, since: datetime) -> set[int]:
    """Media of the item this moderator revealed since ``since`` (the clear picture is served only for these)."""
    return set(session.scalars(select(Reveal.media_id).where(
        Reveal.staff_id == staff_id, Reveal.review_item_id == item.id, Reveal.revealed_at >= since)))


# -- appeals ----------------------------------------------------------------------------------------------------

def appeal_deadline(statement: StatementOfReasons, window_days: int) -> date | None:
    decided = statement.decided_at or statement.created_at
    return (decided + timedelta(days=window_days)).date() if decided else None


def appeal_of(*, session: Session, statement_id: int) -> Appeal | None:
    return session.scalar(select(Appeal).where(Appeal.statement_id == statement_id))


def file_appeal(*, session: Session, clock: Clock, statement: StatementOfReasons, account_id: int | None, text: str,
                channel: AppealChannel, window_days: int, title: str, severity: int, actor: str) -> Appeal:
    """An appeal against one restriction, within the window and once. It goes to the queue for a moderator other
    than the one who decided and the one who approved it as second moderator (any moderator when the decision was
    automated). Raises AppealRefused."""
    now = clock.now()
    if statement.kind != StatementKind.RESTRICTION:
        raise AppealRefused("This is not a decision that can be appealed.")
    if (statement.account_id is None and statement.chat_id is None) or (
            account_id is not None and statement.account_id is not None and account_id != statement.account_id):
        raise AppealRefused("Only the person this decision was about can appeal it.")
    if statement.reversed_at is not None:
        raise AppealRefused(f"This decision was already reversed on {statement.reversed_at:%Y-%m-%d}.")
    previous = appeal_of(session=session, statement_id=statement.id)
    if previous is not None:
        raise AppealRefused(f"You already appealed this decision on {previous.created_at:%Y-%m-%d} (reference "
                            f"{previous.reference}). Each decision can be appealed once; the answer comes by the "
                            "same way as the notice.")
    until = appeal_deadline(statement, window_days)
    if until is None or now.date() > until:
        raise AppealRefused(f"Appeals are possible for {window_days} days after a decision, until "
                            f"{until.isoformat() if until else 'its deadline'}. This decision can no longer be "
                            "appealed here.")
    words = text.strip()
    if not words:
        raise Invalid("Please say in a few words why you think the decision is wrong.")
    reference = "AP-" + "".join(secrets.choice(_REF_ALPHABET) for _ in range(8))
    appeal = Appeal(reference=reference, statement_id=statement.id, decision_id=statement.decision_id,
                    appellant_account_id=statement.account_id or account_id, channel=channel, statement=words[:10000],
                    status=AppealStatus.OPEN, created_at=now)
    session.add(appeal)
    session.flush()
    decision = session.get(Decision, statement.decision_id) if statement.decision_id else None
    seconded = [decision.second_by_id] if decision is not None and decision.second_by_id is not None else []
    item = enqueue(session=session, clock=clock, kind=APPEAL_KIND, source="appeal", subject_type="appeal",
                   subject_id=appeal.id, title=title, open_key=f"appeal:{appeal.id}", severity=severity,
                   deadline_at=now + APPEAL_DEADLINE, category=None,
                   facts={"statement_id": statement.id, "excluded_staff": seconded},
                   excluded_staff_id=statement.decided_by_id, actor=actor)
    appeal.review_item_id = item.id
    audit.record(session=session, clock=clock, actor=actor, action="appeal.filed", object_type="appeal",
                 object_id=appeal.id, data={"statement": statement.puid, "channel": channel.value,
                                            "reference": reference})
    return appeal


def resolve_appeal(*, session: Session, clock: Clock, appeal: Appeal, status: AppealStatus, staff_id: int,
                   note: str) -> None:
    appeal.status, appeal.resolved_by_id, appeal.resolved_at = status, staff_id, clock.now()
    appeal.resolution_note = note[:5000] or None
