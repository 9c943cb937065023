"""Enforcement: act on every placement of matched media, propagate new bank entries, run actions.

Acting is split in two so that nothing is lost and nothing is done twice: deciding writes
``Action`` rows (unique by idempotency key) in the same transaction as the match; a worker
then carries each action out through the platform adapter, recording the outcome.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from firebreak.audit import service as audit
from firebreak.banks.models import Bank, BankEntry, EntryStatus, MatchAction
from firebreak.core.clock import Clock
from firebreak.core.jobs.outbox import defer
from firebreak.core.retry import DEFAULT_RETRY, RetryPolicy
from firebreak.enforcement import chats, due_process
from firebreak.enforcement.cancel import CANCELLED, is_cancelled
from firebreak.enforcement.due_process import DueProcess
from firebreak.enforcement.models import Action, ActionKind, ActionStatus, Propagation, PropagationStatus
from firebreak.evidence import service as evidence
from firebreak.matching.copies import COPY_SIGNAL
from firebreak.matching.models import Match, MatchReview, MatchSource
from firebreak.media.models import Media, MediaKind, Placement, PlacementStatus
from firebreak.platform.adapters import ActionResult, ActionTarget, LiftsRestrictions, Outcome, PlatformAdapter
from firebreak.platform.models import Chat, PlatformAccount, StandingStatus
from firebreak.review import service as review

log = logging.getLogger(__name__)

RUN_ACTIONS_JOB = "enforcement.run_actions"
FOLLOW_UP_JOB = "enforcement.follow_up"  # due process after restrictive actions are done
FOLLOW_UP_BATCH = 100
PROPAGATION_BATCH = 500
_IN_CHUNK = 500  # ids per IN (...) list: well under SQLite's and PostgreSQL's parameter limits

# Audit events collected while a batch is worked out, written after one flush in the order they happened
# (keyword arguments of audit.record). Writing them one by one as they happen costs a flush each.
Audits = list[dict[str, Any]]
Row = TypeVar("Row", Action, Bank, BankEntry, Chat, Match, Media, Placement, PlatformAccount)
MATCH_KIND = "match"  # review items for matches in banks whose action is review


def _write_audits(session: Session, clock: Clock, audits: Audits) -> None:
    session.flush()
    audit.record_many(session=session, clock=clock, events=[audit.PendingEvent(**event) for event in audits])
    audits.clear()


def _chunks(ids: Iterable[int | None]) -> Iterator[list[int]]:
    wanted = sorted({i for i in ids if i is not None})
    for start in range(0, len(wanted), _IN_CHUNK):
        yield wanted[start:start + _IN_CHUNK]


def _load(session: Session, model: type[Row], ids: Iterable[int | None]) -> list[Row]:
    """Rows by id in a few queries. Keep the list: while it lives, session.get() of these ids costs no SQL."""
    return [row for chunk in _chunks(ids) for row in session.scalars(select(model).where(model.id.in_(chunk)))]


def _existing_keys(session: Session, keys: Iterable[str]) -> set[str]:
    wanted = sorted(set(keys))
    found: set[str] = set()
    for start in range(0, len(wanted), _IN_CHUNK):
        found.update(session.scalars(select(Action.idempotency_key).where(
            Action.idempotency_key.in_(wanted[start:start + _IN_CHUNK]))))
    return found


def _add_action(session: Session, clock: Clock, *, key: str, kind: ActionKind, integration_id: int,
                known_keys: set[str] | None = None, **fields: object) -> Action | None:
    """Create an action unless one with this key exists. Returns the new action, or None.

    ``known_keys``: every existing key among those the caller may add, loaded beforehand (batches); else one
    query per call.
    """
    if known_keys is not None:
        if key in known_keys:
            return None
        known_keys.add(key)
    elif session.scalar(select(Action.id).where(Action.idempotency_key == key)) is not None:
        return None
    action = Action(idempotency_key=key, kind=kind, integration_id=integration_id, status=ActionStatus.PENDING,
                    created_at=clock.now(), next_attempt_at=clock.now(), **fields)
    session.add(action)
    return action


def _match_event(match: Match, *, media_id: int, entry: BankEntry, bank: Bank) -> dict[str, Any]:
    return dict(actor="system:matcher", action="match.found", object_type="match", object_id=match.id,
                data={"media_id": media_id, "bank": bank.name, "entry_id": entry.id, "signal_type": match.signal_type,
                      "distance": match.distance, "source": match.source.value, "review": match.review.value})


def _new_match(session: Session, clock: Clock, *, media_id: int, entry: BankEntry, bank: Bank, signal_type: str,
               distance: int, source: MatchSource) -> Match:
    needs = MatchReview.PENDING if bank.action == MatchAction.REVIEW else MatchReview.NOT_NEEDED
    match = Match(media_id=media_id, bank_entry_id=entry.id, signal_type=signal_type, distance=distance,
                  source=source, review=needs, created_at=clock.now())
    session.add(match)
    return match


def with_article(noun: str) -> str:
    return f"an {noun}" if noun[:1] in "aeiou" else f"a {noun}"


def queue_match_review(session: Session, clock: Clock, *, match: Match, bank: Bank, due: DueProcess) -> None:
    """A match in a review bank waits for a moderator: one queue item per media and bank (its exact and PDQ
    entries all match the same picture: one decision)."""
    if match.review != MatchReview.PENDING:
        return
    ground = due.policy.for_category(bank.policy_category)
    live = int(session.scalar(select(func.count()).select_from(Placement).where(
        Placement.media_id == match.media_id, Placement.status == PlacementStatus.LIVE)) or 0)
    first = session.scalar(select(func.min(Placement.posted_at)).where(Placement.media_id == match.media_id))
    hours = max((clock.now() - first).total_seconds() / 3600, 1.0) if first is not None else 1.0
    media = session.get(Media, match.media_id)
    if match.signal_type == COPY_SIGNAL and media is not None and media.kind == MediaKind.VIDEO:
        title = f"Possible {ground.label.lower()}: a video that may be a copy of, or a clip cut from, an entry " \
                f"of “{bank.name}”"
    elif match.signal_type == COPY_SIGNAL:
        title = f"Possible {ground.label.lower()}: {with_article(media.kind.value if media else 'file')} that may " \
                f"be an edited copy (cropped, captioned, recoloured) of an entry of “{bank.name}”"
    else:
        title = f"Possible {ground.label.lower()}: {with_article(media.kind.value if media else 'file')} matching " \
                f"“{bank.name}”" + (f" at distance {match.distance}" if match.distance else "")
    review.enqueue(session=session, clock=clock, kind=MATCH_KIND, source="bank", subject_type="match",
                   subject_id=match.id, open_key=f"match:{bank.id}:{match.media_id}", title=title,
                   severity=ground.severity, spread=live,
                   spread_per_hour=round(live / hours, 2), category=bank.policy_category,
                   jurisdiction=bank.jurisdictions[0] if len(bank.jurisdictions or []) == 1 else None,
                   facts={"match_id": match.id, "media_id": match.media_id})


def record_match(session: Session, clock: Clock, *, media_id: int, entry: BankEntry, bank: Bank, signal_type: str,
                 distance: int, source: MatchSource, due: DueProcess | None = None) -> tuple[Match, bool]:
    match = session.scalar(select(Match).where(Match.media_id == media_id, Match.bank_entry_id == entry.id))
    if match is not None:
        return match, False
    match = _new_match(session, clock, media_id=media_id, entry=entry, bank=bank, signal_type=signal_type,
                       distance=distance, source=source)
    session.flush()
    audit.record(session=session, clock=clock, **_match_event(match, media_id=media_id, entry=entry, bank=bank))
    if due is not None:
        queue_match_review(session, clock, match=match, bank=bank, due=due)
    return match, True


def copy_entry(session: Session, media_id: int) -> list[tuple[BankEntry, Bank]]:
    """The active entries made from a banked picture, one per enabled bank (its PDQ entry first, then SHA-256):
    the entry a copy of that picture is matched to."""
    rows = session.execute(select(BankEntry, Bank).join(Bank, Bank.id == BankEntry.bank_id).where(
        BankEntry.media_id == media_id, BankEntry.status == EntryStatus.ACTIVE, Bank.enabled.is_(True))).all()
    preference = {"pdq": 0, "sha256": 1, "md5": 2}
    chosen: dict[int, tuple[BankEntry, Bank]] = {}
    for entry, bank in sorted(rows, key=lambda r: (preference.get(r[0].signal_type, 9), r[0].id)):
        chosen.setdefault(bank.id, (entry, bank))
    return list(chosen.values())


def propagated(session: Session, entry_id: int) -> bool:
    """Whether an entry's propagation to the copies already posted has run (so a later post is for others to
    catch: its own check)."""
    return session.scalar(select(Propagation.id).where(Propagation.bank_entry_id == entry_id,
                                                       Propagation.status == PropagationStatus.DONE)) is not None


def record_copy(session: Session, clock: Clock, *, media_id: int, entry: BankEntry, bank: Bank, action: str,
                distance: int, evidence: dict[str, Any], source: MatchSource,
                due: DueProcess) -> tuple[Match | None, Queued]:
    """A copy the second line of matching found (``matching.copies``): its match, with the evidence, and either the
    bank's action on its placements (``action="auto"``: an exact variant, or a geometric match verified by its
    points or settled by its outlines, docs/copy-detection.md, *The rule for acting*; live ones removed, and the
    file quarantined even where the message is gone, see ``act_on_placement``) or a review item
    (anything weaker, or a bank whose matches a person decides). Returns (the new match or None when the picture
    already matched this bank, what was queued).
    """
    if session.scalar(select(Match.id).join(BankEntry, BankEntry.id == Match.bank_entry_id).where(
            Match.media_id == media_id, BankEntry.bank_id == bank.id).limit(1)) is not None:
        return None, Queued()  # the hashes (or an earlier copy check) found it: one decision per picture and bank
    review_needed = bank.action == MatchAction.REVIEW or action != "auto"
    match = Match(media_id=media_id, bank_entry_id=entry.id, signal_type=COPY_SIGNAL, distance=distance,
                  source=source, review=MatchReview.PENDING if review_needed else MatchReview.NOT_NEEDED,
                  evidence=evidence, created_at=clock.now())
    session.add(match)
    session.flush()
    audit.record(session=session, clock=clock, **_match_event(match, media_id=media_id, entry=entry, bank=bank))
    if review_needed:
        queue_match_review(session, clock, match=match, bank=bank, due=due)
        return match, Queued()
    queued = Queued()
    for placement in session.scalars(select(Placement).where(Placement.media_id == media_id,
                                                             Placement.status.in_(QUARANTINED_WHEN))):
        queued += act_on_placement(session, clock, placement=placement, match=match, bank=bank, due=due)
    return match, queued


# The placements whose file a blocking match quarantines: a live one (its message is removed too) and one whose
# message is already gone. Not a geo-restricted one: an order chose a regional measure, and a quarantine is global.
QUARANTINED_WHEN = frozenset({PlacementStatus.LIVE, PlacementStatus.REMOVED, PlacementStatus.DELETED})


@dataclass(frozen=True, slots=True)
class Queued:
    """What a match queued for one placement, or for several added up: its message's removal and its file's
    quarantine. Only a removal counts as a post caught (a re-upload blocked, a placement actioned); a quarantine of
    a message already gone removes nothing anyone sees."""

    removals: int = 0
    quarantines: int = 0

    @property
    def total(self) -> int:
        return self.removals + self.quarantines

    def __add__(self, other: Queued) -> Queued:
        return Queued(self.removals + other.removals, self.quarantines + other.quarantines)


def act_on_placement(session: Session, clock: Clock, *, placement: Placement, match: Match, bank: Bank,
                     due: DueProcess, known_keys: set[str] | None = None) -> Queued:
    """Queue the bank's action for one placement. Returns what was queued.

    Batches pass ``known_keys`` (see _add_action). The sender's record, the statement of reasons and the notice
    follow when the platform has carried the removal out (``due_process.after_done``).

    A message already gone (removed for an order or a report before the match was recorded, or deleted by its
    sender) still has its file on the platform's storage, which anyone holding its address can fetch: the file is
    quarantined all the same (see QUARANTINED_WHEN).
    """
    if bank.action == MatchAction.REVIEW or placement.status not in QUARANTINED_WHEN:
        return Queued()
    removals = quarantines = 0
    ground = due.policy.for_category(bank.policy_category)
    if placement.status == PlacementStatus.LIVE and _add_action(
            session, clock, key=removal_key(placement.id), kind=ActionKind.REMOVE_MESSAGE,
            integration_id=placement.integration_id, known_keys=known_keys, placement_id=placement.id,
            media_id=placement.media_id, match_id=match.id,
            params={"reason": due_process.removal_reason(due, ground), "category": ground.category,
                    "ground": ground.name}) is not None:
        removals += 1
    if placement.media_external_id and _add_action(
            session, clock, key=f"quarantine_media:{placement.integration_id}:{placement.media_external_id}",
            kind=ActionKind.QUARANTINE_MEDIA, integration_id=placement.integration_id, known_keys=known_keys,
            placement_id=placement.id, media_id=placement.media_id, match_id=match.id, params={}) is not None:
        quarantines += 1
    return Queued(removals, quarantines)


def removal_key(placement_id: int) -> str:
    return f"remove_message:{placement_id}"


def removals_pending(session: Session, placement_ids: Iterable[int]) -> set[int]:
    """Those of the placements whose removal Firebreak has queued and not yet seen carried out.

    A platform tells Firebreak of every deletion, its own removals included (a Matrix redaction comes back as
    ``message_deleted``): for these the removal's outcome, not that event, says what became of the message.
    """
    ids = list(placement_ids)
    if not ids:
        return set()
    return set(session.scalars(select(Action.placement_id).where(
        Action.placement_id.in_(ids), Action.kind == ActionKind.REMOVE_MESSAGE,
        Action.status == ActionStatus.PENDING)))


def chat_suspension_key(chat_id: int) -> str:
    return f"suspend_chat:{chat_id}"


def queue_removal(*, session: Session, clock: Clock, placement: Placement, order_item_id: int | None = None,
                  params: dict[str, Any] | None = None) -> Action | None:
    """Remove one placement because of an order item (or another named cause). The action, new or existing.

    An existing removal of the same placement (a copy found earlier) is kept and tagged with the order item, so the
    placement is removed once and the order still knows it was its item.
    """
    if placement.status != PlacementStatus.LIVE:
        return None
    key = removal_key(placement.id)
    action = session.scalar(select(Action).where(Action.idempotency_key == key))
    if action is None:
        action = _add_action(session, clock, key=key, kind=ActionKind.REMOVE_MESSAGE,
                             integration_id=placement.integration_id, placement_id=placement.id,
                             media_id=placement.media_id, order_item_id=order_item_id, params=dict(params or {}))
    elif order_item_id is not None and action.order_item_id is None:
        # A copy found earlier is the ordered item itself: it is removed once, for the order's reasons.
        action.order_item_id = order_item_id
        action.params = {**action.params, **(params or {})}
    return action


def queue_chat_suspension(*, session: Session, clock: Clock, chat: Chat, order_item_id: int | None = None,
                          decision_id: int | None = None, params: dict[str, Any] | None = None) -> Action | None:
    """Suspend a chat: an order named it, or a moderator decided so. None when its suspension is already queued.
    Chats are never suspended by counting (see ``chats``)."""
    if chat.status == StandingStatus.SUSPENDED:
        return None
    # A chat suspended, opened again on appeal and suspended again is a new action: the first generation keeps the
    # key it always had.
    earlier = int(session.scalar(select(func.count()).select_from(Action).where(
        Action.kind == ActionKind.SUSPEND_CHAT, Action.chat_id == chat.id)) or 0)
    key = chat_suspension_key(chat.id) + (f":{earlier + 1}" if earlier else "")
    action = _add_action(session, clock, key=key, kind=ActionKind.SUSPEND_CHAT,
                         integration_id=chat.integration_id, chat_id=chat.id, order_item_id=order_item_id,
                         decision_id=decision_id, params=dict(params or {}))
    if action is not None:
        chat.status, chat.status_changed_at = StandingStatus.SUSPENDED, clock.now()
    return action


def retry_action(*, session: Session, clock: Clock, action: Action, actor: str) -> bool:
    """Try a failed action again from the start (after the platform was fixed). False unless it had failed; never
    one that was cancelled because its cause went away (its period ended, its entry was withdrawn)."""
    if action.status != ActionStatus.FAILED or is_cancelled(action):
        return False
    now = clock.now()
    action.status, action.attempts, action.next_attempt_at, action.completed_at = ActionStatus.PENDING, 0, now, None
    audit.record(session=session, clock=clock, actor=actor, action="action.retried", object_type="action",
                 object_id=action.id, data={"kind": action.kind.value, "last_error": (action.last_error or "")[:500]})
    defer(session=session, now=now, job=RUN_ACTIONS_JOB, payload={})
    return True


def _action_keys(placements: Iterable[Placement]) -> Iterator[str]:
    """Every key act_on_placement may add for these placements (see _add_action's ``known_keys``)."""
    for p in placements:
        yield removal_key(p.id)
        if p.media_external_id:
            yield f"quarantine_media:{p.integration_id}:{p.media_external_id}"


# -- propagation ------------------------------------------------------------------------------------------------

MediaFinder = Callable[[Session, BankEntry, int], list[tuple[int, int]]]


@dataclass(frozen=True)
class PropagationStep:
    propagation: Propagation
    done: bool


def propagate_batch(
    *, session: Session, clock: Clock, entry_id: int, find_media: MediaFinder, due: DueProcess,
    batch: int = PROPAGATION_BATCH,
) -> PropagationStep | None:
    """One step of finding every media item already seen that matches the entry, and acting on its placements
    (each live one removed; the file quarantined even where the message is gone: ``act_on_placement``).

    Resumable: the caller commits each step with its cursor, and actions are unique by key, so a worker killed
    half-way leaves the rest for the next run and nothing is done twice. None when the entry is gone.
    """
    entry = session.get(BankEntry, entry_id)
    if entry is None:
        return None
    bank = session.get(Bank, entry.bank_id)
    assert bank is not None  # noqa: S101 - a foreign key guarantees it
    prop = session.scalar(select(Propagation).where(Propagation.bank_entry_id == entry_id))
    if prop is None:
        prop = Propagation(bank_entry_id=entry_id, status=PropagationStatus.PENDING, created_at=clock.now())
        session.add(prop)
        session.flush()
    if entry.status != EntryStatus.ACTIVE or not bank.enabled:
        prop.status, prop.finished_at = PropagationStatus.DONE, clock.now()
        return PropagationStep(prop, True)
    if prop.status == PropagationStatus.DONE and prop.finished_at is not None \
            and entry.status_changed_at is not None and entry.status_changed_at <= prop.finished_at:
        return PropagationStep(prop, True)
    if prop.status != PropagationStatus.RUNNING:
        prop.status, prop.started_at, prop.cursor_media_id = PropagationStatus.RUNNING, clock.now(), 0
        prop.media_found = prop.media_done = prop.placements_actioned = 0
    found = [(m, d) for m, d in find_media(session, entry, bank.pdq_distance)]
    prop.media_found = len(found)
    todo = [(m, d) for m, d in found if m > prop.cursor_media_id][:batch]
    prop.placements_actioned += _act_on_batch(session, clock, entry=entry, bank=bank, todo=todo, due=due)
    if todo:
        prop.media_done += len(todo)
        prop.cursor_media_id = todo[-1][0]
    done = len(todo) < batch or not [m for m, _ in found if m > prop.cursor_media_id]
    if done:
        prop.status, prop.finished_at = PropagationStatus.DONE, clock.now()
        audit.record(session=session, clock=clock, actor="system:enforcement", action="propagation.done",
                     object_type="bank_entry", object_id=entry_id,
                     data={"media_found": prop.media_found, "placements_actioned": prop.placements_actioned})
    if todo:
        defer(session=session, now=clock.now(), job=RUN_ACTIONS_JOB, payload={})
    return PropagationStep(prop, done)


def _act_on_batch(session: Session, clock: Clock, *, entry: BankEntry, bank: Bank, todo: list[tuple[int, int]],
                  due: DueProcess) -> int:
    """Record the matches of a batch of media and act on their live placements. Returns placements actioned.

    The same rows and audit events, in the same order, as record_match and act_on_placement media by media;
    but read with a few queries per batch, and written with one flush before the audit events.
    """
    media_ids = [m for m, _ in todo]
    matches = {m.media_id: m for chunk in _chunks(media_ids) for m in session.scalars(
        select(Match).where(Match.bank_entry_id == entry.id, Match.media_id.in_(chunk)))}
    placed: dict[int, list[Placement]] = {}
    for chunk in _chunks(media_ids):
        for placement in session.scalars(select(Placement).where(
                Placement.media_id.in_(chunk), Placement.status.in_(QUARANTINED_WHEN)).order_by(Placement.id)):
            placed.setdefault(placement.media_id, []).append(placement)
    placements = [p for group in placed.values() for p in group]
    known_keys = _existing_keys(session, _action_keys(placements))
    fresh: set[int] = set()
    for media_id, distance in todo:
        if media_id not in matches:
            matches[media_id] = _new_match(session, clock, media_id=media_id, entry=entry, bank=bank,
                                           signal_type=entry.signal_type, distance=distance,
                                           source=MatchSource.PROPAGATION)
            fresh.add(media_id)
    session.flush()  # match ids, for the actions and audit events
    audits: Audits = []
    actioned = 0
    with session.no_autoflush:
        for media_id, _ in todo:
            match = matches[media_id]
            if media_id in fresh:
                audits.append(_match_event(match, media_id=media_id, entry=entry, bank=bank))
            for placement in placed.get(media_id, []):
                # A placement already gone gets only its file quarantined: it is not counted as one actioned.
                if act_on_placement(session, clock, placement=placement, match=match, bank=bank, due=due,
                                    known_keys=known_keys).removals:
                    actioned += 1
    _write_audits(session, clock, audits)
    for media_id in fresh:
        queue_match_review(session, clock, match=matches[media_id], bank=bank, due=due)
    return actioned


# -- carrying actions out ---------------------------------------------------------------------------------------

def _target(session: Session, action: Action) -> ActionTarget:
    placement = session.get(Placement, action.placement_id) if action.placement_id else None
    account = session.get(PlatformAccount, action.account_id) if action.account_id else None
    chat = session.get(Chat, action.chat_id) if action.chat_id else None
    sender = session.get(PlatformAccount, placement.sender_id) if placement and placement.sender_id else None
    return ActionTarget(
        chat_id=chat.external_id if chat else (placement.chat_external_id if placement else None),
        message_id=placement.message_external_id if placement else None,
        media_id=placement.media_external_id if placement else None,
        account_id=account.external_id if account else (
            str(action.params["account"]) if action.params.get("account") else (
                sender.external_id if sender else None)),
        reason=str(action.params.get("reason") or ""),
        # An account's or chat's standing changes back and forth (restricted, lifted when its period ends, restricted
        # again): each change is its own action, and a platform that carries out each key once must see a new one.
        params={**action.params, "idempotency_key": action.idempotency_key} if action.kind in _STANDING_KINDS
        else dict(action.params),
    )


_STANDING_KINDS = frozenset({ActionKind.RESTRICT_ACCOUNT, ActionKind.SUSPEND_ACCOUNT, ActionKind.SUSPEND_CHAT,
                             ActionKind.LIFT_RESTRICTION})


def _call(adapter: PlatformAdapter, kind: ActionKind, target: ActionTarget) -> ActionResult:
    if kind == ActionKind.LIFT_RESTRICTION:
        if not isinstance(adapter, LiftsRestrictions):
            return ActionResult.failed(f"the {adapter.name} platform cannot lift restrictions through Firebreak")
        try:
            return adapter.lift_restriction(target)
        except Exception as exc:  # as below: retry, then fail with the reason
            log.exception("adapter %s failed on %s", adapter.name, kind.value)
            return ActionResult.retry(f"{type(exc).__name__}: {exc}")
    method = {
        ActionKind.REMOVE_MESSAGE: adapter.remove_message, ActionKind.QUARANTINE_MEDIA: adapter.quarantine_media,
        ActionKind.RESTRICT_ACCOUNT: adapter.restrict_account, ActionKind.SUSPEND_ACCOUNT: adapter.suspend_account,
        ActionKind.SUSPEND_CHAT: adapter.suspend_chat, ActionKind.NOTIFY_USER: adapter.notify_user,
        ActionKind.RESTORE_MESSAGE: adapter.restore_message,
    }[kind]
    try:
        return method(target)
    except Exception as exc:  # an adapter bug must not stop the queue: retry, then fail with the reason
        log.exception("adapter %s failed on %s", adapter.name, kind.value)
        return ActionResult.retry(f"{type(exc).__name__}: {exc}")


@dataclass(frozen=True)
class ClaimedAction:
    id: int
    kind: ActionKind
    integration_id: int
    target: ActionTarget


def claim_actions(*, session: Session, clock: Clock, limit: int, lease: timedelta, owner: str | None = None
                  ) -> list[ClaimedAction]:
    """Claim due actions for ``lease``: other workers skip them; after a crash they fall due again (at once when the
    owner's death is noticed, see ``release_leases``)."""
    now = clock.now()
    stmt = (select(Action).where(Action.status == ActionStatus.PENDING, Action.next_attempt_at <= now)
            .order_by(Action.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    actions = list(session.scalars(stmt))
    placements = _load(session, Placement, (a.placement_id for a in actions))
    loaded = (placements, _load(session, Chat, (a.chat_id for a in actions)), _load(
        session, PlatformAccount, [a.account_id for a in actions] + [p.sender_id for p in placements]))
    claimed = []
    for action in actions:
        stale = _stale_standing(session, action)
        if stale:  # the standing it would set is no longer Firebreak's record of the account or chat: not carried out
            action.status, action.completed_at, action.lease_owner = ActionStatus.FAILED, now, None
            action.last_error, action.followed_up_at = f"{CANCELLED}{stale}", now
            audit.record(session=session, clock=clock, actor="system:enforcement", action="action.cancelled",
                         object_type="action", object_id=action.id, data={"kind": action.kind.value, "reason": stale})
            continue
        action.next_attempt_at = now + lease
        action.lease_owner = owner
        claimed.append(ClaimedAction(action.id, action.kind, action.integration_id, _target(session, action)))
    del loaded
    return claimed


def _stale_standing(session: Session, action: Action) -> str | None:
    """Why a restriction, suspension or lift must not be carried out any more, or None. Firebreak's record of the
    account (or chat) says what should hold: a restriction whose account is active again (its period ended, an appeal
    took its basis away) would restrict nobody who should be; a lift whose account was restricted again since
    would undo the later restriction."""
    if action.kind not in _STANDING_KINDS:
        return None
    if action.account_id is not None:
        account = session.get(PlatformAccount, action.account_id)
        status = account.status if account is not None else None
    elif action.chat_id is not None:
        chat = session.get(Chat, action.chat_id)
        status = chat.status if chat is not None else None
    else:
        return None
    if status is None:
        return None
    if action.kind == ActionKind.LIFT_RESTRICTION:
        return None if status == StandingStatus.ACTIVE else f"a later restriction holds ({status.value})"
    return "the account or chat is active again" if status == StandingStatus.ACTIVE else None


def release_leases(session: Session, owner: str, now: datetime) -> int:
    """The pending actions a worker held fall due now (it died, or stopped cleanly); a run is queued for them."""
    released = int(session.execute(update(Action).where(
        Action.lease_owner == owner, Action.status == ActionStatus.PENDING,
    ).values(next_attempt_at=now, lease_owner=None)).rowcount)  # type: ignore[attr-defined]
    if released:
        defer(session=session, now=now, job=RUN_ACTIONS_JOB, payload={})
    return released


def carry_out(adapter: PlatformAdapter, claimed: ClaimedAction) -> ActionResult:
    """Call the platform. Runs outside any transaction: the platform may be slow, or be this process."""
    return _call(adapter, claimed.kind, claimed.target)


def record_outcome(*, session: Session, clock: Clock, action_id: int, result: ActionResult,
                   retry: RetryPolicy = DEFAULT_RETRY) -> Action | None:
    """Record what the platform answered (in the caller's transaction)."""
    return record_outcomes(session=session, clock=clock, results=[(action_id, result)], retry=retry)[0]


def record_outcomes(*, session: Session, clock: Clock, results: list[tuple[int, ActionResult]],
                    retry: RetryPolicy = DEFAULT_RETRY) -> list[Action | None]:
    """Record what the platform answered for each action, in order (in the caller's transaction).

    None for an action that is gone or no longer pending. The rows are read in a few queries and written with
    one flush, then the audit events in order. A restrictive action done is followed up by a job (FOLLOW_UP_JOB:
    its statement of reasons, the sender's record, the notice), so recording outcomes stays as fast as removing.
    """
    actions = _load(session, Action, (action_id for action_id, _ in results))
    loaded = (actions, _load(session, Placement, (a.placement_id for a in actions
                                                  if a.kind == ActionKind.REMOVE_MESSAGE)))
    audits: Audits = []
    recorded: list[Action | None] = []
    with session.no_autoflush:
        for action_id, result in results:
            recorded.append(_apply_outcome(session, clock, action_id, result, audits, retry))
    _write_audits(session, clock, audits)
    if any(a is not None and a.status == ActionStatus.DONE and a.kind in due_process.RESTRICTIVE for a in recorded):
        defer(session=session, now=clock.now(), job=FOLLOW_UP_JOB, payload={})
    del loaded
    return recorded


def restrictions_in_flight(*, session: Session, now: datetime) -> bool:
    """Whether restrictive actions wait to be carried out (never tried yet, or due again): removing comes first."""
    return session.scalar(select(Action.id).where(
        Action.status == ActionStatus.PENDING, Action.kind.in_(list(due_process.RESTRICTIVE)),
        (Action.attempts == 0) | (Action.next_attempt_at <= now)).limit(1)) is not None


def follow_up(*, session: Session, clock: Clock, due: DueProcess, limit: int = FOLLOW_UP_BATCH) -> int:
    """Due process for a batch of restrictive actions done: statement, record, chat proposal, notice
    (``due_process.after_done``). Each in a savepoint: a fault in one is audited (``due_process.failed``) and
    does not hold up the others. Returns how many were followed up; 0 when none is left."""
    stmt = select(Action).where(Action.status == ActionStatus.DONE, Action.followed_up_at.is_(None),
                                Action.kind.in_(list(due_process.RESTRICTIVE))).order_by(Action.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":  # two workers follow up different actions
        stmt = stmt.with_for_update(skip_locked=True)
    actions = list(session.scalars(stmt))
    # What after_done reads, in a few IN queries; kept referenced so its session.get() calls cost no SQL.
    placements = _load(session, Placement, (a.placement_id for a in actions))
    matches = _load(session, Match, (a.match_id for a in actions))
    entries = _load(session, BankEntry, (m.bank_entry_id for m in matches))
    loaded = (placements, matches, entries, _load(session, Bank, (e.bank_id for e in entries)),
              _load(session, Media, (p.media_id for p in placements)),
              _load(session, PlatformAccount, [a.account_id for a in actions] + [p.sender_id for p in placements]),
              _load(session, Chat, [a.chat_id for a in actions] + [p.chat_id for p in placements]))
    now = clock.now()
    events: list[audit.PendingEvent] = []
    hints: dict[int, due_process.ChatHint] = {}
    for action in actions:
        mine: list[audit.PendingEvent] = []
        try:
            with session.begin_nested():
                due_process.after_done(session=session, clock=clock, due=due, action=action, audits=mine,
                                       chat_hints=hints)
            events += mine
        except Exception as exc:
            log.exception("due process failed for action %s", action.id)
            events.append(audit.PendingEvent(actor="system:enforcement", action="due_process.failed",
                                              object_type="action", object_id=action.id,
                                              data={"error": f"{type(exc).__name__}: {exc}"[:500]}))
        action.followed_up_at = now
    session.flush()
    # Removed messages' evidence is sealed after their statements and notices, so its context holds them.
    evidence.removals_followed_up(session=session, now=now, action_ids=[a.id for a in actions])
    audit.record_many(session=session, clock=clock, events=events)
    for chat_id, hint in hints.items():
        chats.consider(session=session, clock=clock, chat_id=chat_id, ordered=hint.ordered,
                       threshold=due.chat_review_after, severity=hint.severity, category=hint.category,
                       integration_id=hint.integration_id)
    if actions:
        defer(session=session, now=now, job=RUN_ACTIONS_JOB, payload={})
    del loaded
    return len(actions)


def _apply_outcome(session: Session, clock: Clock, action_id: int, result: ActionResult, audits: Audits,
                   retry: RetryPolicy) -> Action | None:
    action = session.get(Action, action_id)
    if action is None or action.status != ActionStatus.PENDING:
        return None
    now = clock.now()
    action.attempts += 1
    action.lease_owner = None
    if result.outcome == Outcome.FAILED and result.retryable and not retry.gives_up(action.attempts):
        action.last_error = result.detail[:2000]
        action.next_attempt_at = now + retry.delay(action.attempts)
        return action
    action.status = {Outcome.DONE: ActionStatus.DONE, Outcome.NOT_FOUND: ActionStatus.NOT_FOUND,
                     Outcome.FAILED: ActionStatus.FAILED}[result.outcome]
    action.completed_at = now
    action.last_error = result.detail[:2000] if result.outcome == Outcome.FAILED else None
    if action.placement_id and action.kind == ActionKind.REMOVE_MESSAGE:
        placement = session.get(Placement, action.placement_id)
        if placement is not None and placement.status == PlacementStatus.LIVE:
            placement.status = (PlacementStatus.REMOVED if result.outcome == Outcome.DONE
                                else PlacementStatus.DELETED if result.outcome == Outcome.NOT_FOUND
                                else placement.status)
            placement.status_changed_at = now
    elif action.placement_id and action.kind == ActionKind.RESTORE_MESSAGE and result.outcome == Outcome.DONE:
        placement = session.get(Placement, action.placement_id)
        if placement is not None and placement.status == PlacementStatus.REMOVED:
            placement.status, placement.status_changed_at = PlacementStatus.LIVE, now
    evidence.preserve_removed(session=session, now=now, action=action)  # a removed message is kept as evidence
    audits.append(dict(actor="system:enforcement", action=f"action.{action.status.value}", object_type="action",
                       object_id=action.id, data={"kind": action.kind.value, "placement_id": action.placement_id,
                                                  "attempts": action.attempts, "detail": result.detail[:500]}))
    return action
