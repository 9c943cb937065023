"""Due process around every restrictive action: its statement of reasons, the account's record, the user's notice.

When the platform confirms a restrictive action (a message removed, an account restricted or suspended, a chat
suspended), :func:`after_done` stores its statement of reasons (``transparency.service.record``), puts the removal
on the sender's record (``conduct``), proposes chat-level action where content keeps landing (``chats``) and queues
a ``notify_user`` action with the notice in plain words and a signed appeal link. A refused upload gets the same
(:func:`refuse_upload`). Facts an order gives (its category, legal basis, authority) travel in ``Action.params`` and
a bank entry's ``extra["order"]``, so nothing here reads another domain's tables above it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.audit import service as audit
from firebreak.banks.models import Bank, BankEntry, Provenance
from firebreak.core.clock import Clock
from firebreak.enforcement import chats, conduct
from firebreak.enforcement.models import (
    Action,
    ActionKind,
    ActionStatus,
    ConductCause,
    RefusedUpload,
)
from firebreak.matching.models import Match
from firebreak.media.models import Media, MediaKind, Placement
from firebreak.platform.models import Chat, PlatformAccount, StandingStatus
from firebreak.review import service as review
from firebreak.review.models import Appeal, AppealChannel, Decision
from firebreak.transparency import dsa
from firebreak.transparency import service as statements
from firebreak.transparency.models import StatementOfReasons
from firebreak.transparency.notices import Notice, NoticeKind, Standing, Translations, english_only, notice_text
from firebreak.transparency.policy import Ground, Policy

log = logging.getLogger(__name__)

RESTRICTIVE: dict[ActionKind, dsa.ActionKind] = {
    ActionKind.REMOVE_MESSAGE: dsa.ActionKind.REMOVE_CONTENT,
    ActionKind.RESTRICT_ACCOUNT: dsa.ActionKind.RESTRICT_ACCOUNT,
    ActionKind.SUSPEND_ACCOUNT: dsa.ActionKind.SUSPEND_ACCOUNT,
    ActionKind.SUSPEND_CHAT: dsa.ActionKind.SUSPEND_CHAT,
}
_NOTICE_KINDS = {ActionKind.REMOVE_MESSAGE: NoticeKind.CONTENT_REMOVED,
                 ActionKind.RESTRICT_ACCOUNT: NoticeKind.ACCOUNT_RESTRICTED,
                 ActionKind.SUSPEND_ACCOUNT: NoticeKind.ACCOUNT_SUSPENDED,
                 ActionKind.SUSPEND_CHAT: NoticeKind.CHAT_SUSPENDED}
_STANDINGS = {ActionKind.RESTRICT_ACCOUNT: Standing.RESTRICTED, ActionKind.SUSPEND_ACCOUNT: Standing.SUSPENDED}
_HELD = {ActionKind.RESTRICT_ACCOUNT: StandingStatus.RESTRICTED, ActionKind.SUSPEND_ACCOUNT: StandingStatus.SUSPENDED}
_PROVENANCE_SOURCES = {Provenance.ORDER: dsa.SourceKind.AUTHORITY, Provenance.REPORT: dsa.SourceKind.NOTICE,
                       Provenance.DECISION: dsa.SourceKind.OWN_INITIATIVE,
                       Provenance.IMPORT: dsa.SourceKind.OWN_INITIATIVE}


@dataclass(frozen=True)
class DueProcess:
    """What due process needs, built once in the composition root from the settings and the key ring."""

    policy: Policy
    conduct: conduct.ConductPolicy = field(default_factory=conduct.ConductPolicy)
    puid_key: bytes = b""
    appeal_key: bytes = b""
    public_url: str = ""
    platform_name: str = "the platform"
    appeal_window_days: int = 183
    chat_review_after: int = 3
    translations: Translations = english_only


# -- appeal links -----------------------------------------------------------------------------------------------

def appeal_token(key: bytes, statement_id: int) -> str:
    mac = hmac.new(key, f"firebreak-appeal-v1:{statement_id}".encode(), hashlib.sha256).digest()[:18]
    return f"{statement_id}-{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"


def statement_of_token(key: bytes, token: str) -> int | None:
    """The statement a signed appeal link is for, or None when the link is not one of ours."""
    head, sep, _ = token.partition("-")
    if not sep or not head.isdigit() or len(head) > 18 or len(token) > 100:
        return None
    return int(head) if hmac.compare_digest(appeal_token(key, int(head)), token) else None


def appeal_url(due: DueProcess, statement: StatementOfReasons) -> str | None:
    base = due.public_url.rstrip("/")
    return f"{base}/appeals/{appeal_token(due.appeal_key, statement.id)}" if base else None


# -- why an action was taken ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Cause:
    ground: Ground
    source: dsa.SourceKind
    automated_detection: bool
    automated_decision: dsa.AutomatedDecision
    legal_ground: str | None = None  # an order's own legal basis
    source_name: str | None = None  # an authority
    territorial_scope: tuple[str, ...] | None = None
    ordered_item: bool = False
    banned_since: datetime | None = None  # content posted before this was not yet banned: a warning at most
    decision_id: int | None = None
    decided_by_id: int | None = None


def _scope(codes: Any) -> tuple[str, ...] | None:
    if not isinstance(codes, list | tuple):
        return None
    kept = tuple(sorted({str(c).strip().upper() for c in codes} & (dsa.EEA_COUNTRIES | {"EL"})))
    return kept or None


def _order_cause(due: DueProcess, order: dict[str, Any]) -> Cause:
    return Cause(ground=due.policy.for_category(order.get("category")), source=dsa.SourceKind.AUTHORITY,
                 automated_detection=False, automated_decision=dsa.AutomatedDecision.NOT_AUTOMATED,
                 legal_ground=order.get("legal_basis") or None, source_name=order.get("authority") or None,
                 territorial_scope=_scope(order.get("territorial_scope")), ordered_item=True)


def _entry_cause(session: Session, due: DueProcess, entry: BankEntry) -> Cause:
    bank = session.get(Bank, entry.bank_id)
    order = entry.extra.get("order") if isinstance(entry.extra.get("order"), dict) else {}
    assert order is not None  # noqa: S101 - narrowed above
    ground = due.policy.for_category(order.get("category") or (bank.policy_category if bank else None))
    source = _PROVENANCE_SOURCES.get(entry.provenance, dsa.SourceKind.OWN_INITIATIVE)
    return Cause(ground=ground, source=source, automated_detection=True,
                 automated_decision=dsa.AutomatedDecision.FULLY, legal_ground=order.get("legal_basis") or None,
                 source_name=order.get("authority") if source == dsa.SourceKind.AUTHORITY else None,
                 territorial_scope=_scope(order.get("territorial_scope") or (bank.jurisdictions if bank else None)),
                 banned_since=entry.status_changed_at or entry.created_at)


def _decision_cause(due: DueProcess, decision: Decision, *, detected: bool) -> Cause:
    ground = due.policy.get(decision.ground) if decision.ground else due.policy.for_category(
        decision.policy_category)
    return Cause(ground=ground, source=dsa.SourceKind.OWN_INITIATIVE, automated_detection=detected,
                 automated_decision=dsa.AutomatedDecision.PARTIALLY if detected
                 else dsa.AutomatedDecision.NOT_AUTOMATED, decision_id=decision.id,
                 decided_by_id=decision.decided_by_id)


def cause_of(session: Session, due: DueProcess, action: Action) -> Cause:
    params = action.params or {}
    if isinstance(params.get("order"), dict):
        return _order_cause(due, params["order"])
    if action.decision_id is not None:
        decision = session.get(Decision, action.decision_id)
        if decision is not None:
            cause = _decision_cause(due, decision, detected=decision.match_id is not None)
            if params.get("source") == "notice":  # a user's report the platform forwarded (Art. 16)
                cause = replace(cause, source=dsa.SourceKind.NOTICE)
            return cause
    if action.match_id is not None:
        match = session.get(Match, action.match_id)
        entry = session.get(BankEntry, match.bank_entry_id) if match else None
        if entry is not None:
            return _entry_cause(session, due, entry)
    ground = due.policy.get(params["ground"]) if params.get("ground") in due.policy.grounds else \
        due.policy.for_category(params.get("category"))
    if params.get("source") == "notice":  # a notice (a victim's report) a person reviewed and confirmed
        reviewer = params.get("reviewed_by")
        return Cause(ground=ground, source=dsa.SourceKind.NOTICE, automated_detection=False,
                     automated_decision=dsa.AutomatedDecision.NOT_AUTOMATED,
                     decided_by_id=reviewer if isinstance(reviewer, int) else None)
    return Cause(ground=ground, source=dsa.SourceKind.OWN_INITIATIVE, automated_detection=True,
                 automated_decision=dsa.AutomatedDecision.FULLY)


def _medium(media: Media | None) -> tuple[dsa.Medium, str]:
    if media is not None and media.kind == MediaKind.VIDEO:
        return dsa.Medium.VIDEO, "video"
    if media is not None and media.kind == MediaKind.OTHER:
        if (media.mime_type or "").startswith("audio/"):
            return dsa.Medium.AUDIO, "file"
        return dsa.Medium.IMAGE, "file"
    return dsa.Medium.IMAGE, "picture"


def removal_reason(due: DueProcess, ground: Ground) -> str:
    """What the platform may show where removed content was (its placeholder): the ground in plain words."""
    return ground.summary[:1].upper() + ground.summary[1:]


# -- after an action is done ------------------------------------------------------------------------------------

@dataclass
class ChatHint:
    """Removals in a chat within one batch: the chat is considered once for the whole batch."""

    ordered: bool
    severity: int
    category: str
    integration_id: int


def after_done(*, session: Session, clock: Clock, due: DueProcess, action: Action,
               audits: list[audit.PendingEvent] | None = None,
               chat_hints: dict[int, ChatHint] | None = None) -> StatementOfReasons | None:
    """The statement, the record, chat proposals and the notice for a restrictive action the platform carried out.

    Batches pass ``audits`` (events to write together) and ``chat_hints`` (chats to consider once, at the end).
    """
    kind = RESTRICTIVE.get(action.kind)
    if kind is None or action.status != ActionStatus.DONE:
        return None
    cause = cause_of(session, due, action)
    placement = session.get(Placement, action.placement_id) if action.placement_id else None
    media = session.get(Media, placement.media_id) if placement else None
    account = session.get(PlatformAccount, action.account_id) if action.account_id else (
        session.get(PlatformAccount, placement.sender_id) if placement and placement.sender_id else None)
    chat = session.get(Chat, action.chat_id) if action.chat_id else (
        session.get(Chat, placement.chat_id) if placement and placement.chat_id else None)
    decided_at = action.completed_at or clock.now()
    posted_at = _posted_at(action, placement, chat, decided_at)
    medium, medium_word = _medium(media)
    until = conduct.standing_until(action)  # a restriction or suspension for repeated violations: its period
    if until is not None and until <= decided_at:
        until = None  # carried out after its period (the platform was down): the end job lifts it in a moment
    over = _lifted_already(session, action, account)
    lift: Action | None = None
    if over is not None:  # the statement records the restriction as it was: put on, and lifted by now
        until = max(over, decided_at)
        lift = _lift_now(session, clock, action)
    personal = tuple(p for p in (account.display_name if account else None, account.external_id if account else None,
                                 chat.title if chat else None, chat.external_id if chat else None,
                                 placement.message_external_id if placement else None) if p)
    facts = dsa.StatementFacts(
        puid=statements.puid_for(due.puid_key, "action", action.id), action=kind,
        ground=cause.ground.statement_ground(cause.legal_ground), category=cause.ground.category,
        media=(medium,), content_posted_at=posted_at, decided_at=decided_at, source=cause.source,
        automated_detection=cause.automated_detection, automated_decision=cause.automated_decision,
        source_name=cause.source_name, territorial_scope=cause.territorial_scope,
        keywords=tuple(dsa.Keyword(k) for k in cause.ground.keywords), personal=personal,
        account_type=dsa.AccountType.PRIVATE if account is not None and kind in (
            dsa.ActionKind.RESTRICT_ACCOUNT, dsa.ActionKind.SUSPEND_ACCOUNT) else None,
        restriction_ends=until)
    statement = statements.record(session=session, clock=clock, facts=facts, audits=audits,
                                  links=statements.StatementLinks(
        ground=cause.ground.name, action_id=action.id, order_item_id=action.order_item_id,
        placement_id=action.placement_id, decision_id=cause.decision_id, account_id=account.id if account else None,
        chat_id=chat.id if chat else None, decided_by_id=cause.decided_by_id))
    notice = Notice(kind=_NOTICE_KINDS[action.kind], platform=due.platform_name, reference=statement.puid,
                    summary=cause.ground.summary, basis=cause.ground.basis,
                    legal_ground=cause.legal_ground or cause.ground.legal_ground, source=cause.source,
                    ordered_item=cause.ordered_item, automated_detection=cause.automated_detection,
                    automated_decision=cause.automated_decision, medium=medium_word,
                    posted_at=placement.posted_at if placement else None, chat_title=chat.title if chat else None,
                    standing=_STANDINGS.get(action.kind, Standing.NONE), window_days=due.conduct.window.days,
                    restrict_at=due.conduct.restrict_at, suspend_at=due.conduct.suspend_at,
                    standing_until=until, standing_over=over is not None,
                    restored=(lift is not None) if over is not None else None)
    if over is not None:
        event = audit.PendingEvent(actor="system:enforcement", action="due_process.standing_already_lifted",
                                   object_type="action", object_id=action.id,
                                   data={"lifted_at": over.isoformat(), "statement": statement.puid})
        if audits is not None:
            audits.append(event)
        else:
            audit.record_many(session=session, clock=clock, events=[event])
    if action.kind == ActionKind.REMOVE_MESSAGE and placement is not None:
        if account is not None:
            recorded = conduct.record(
                session=session, clock=clock, policy=due.conduct, account=account, cause=ConductCause.REMOVED,
                occurred_at=placement.posted_at, banned_since=cause.banned_since, ground=cause.ground.name,
                integration_id=action.integration_id, action_id=action.id, statement_id=statement.id,
                audits=audits)
            notice = _with_standing(notice, recorded)
            _notify(session, clock, due, statement, notice, account=account, action=action)
        if chat_hints is not None and placement.chat_id is not None:
            hint = chat_hints.get(placement.chat_id)
            chat_hints[placement.chat_id] = ChatHint(
                ordered=cause.ordered_item or (hint.ordered if hint else False),
                severity=max(cause.ground.severity, hint.severity if hint else 0),
                category=hint.category if hint and hint.severity >= cause.ground.severity else cause.ground.category,
                integration_id=action.integration_id)
        else:
            chats.consider(session=session, clock=clock, chat_id=placement.chat_id, ordered=cause.ordered_item,
                           threshold=due.chat_review_after, severity=cause.ground.severity,
                           category=cause.ground.category, integration_id=action.integration_id)
    elif action.kind == ActionKind.SUSPEND_CHAT and chat is not None:
        for admin in chat.admins or []:
            _notify(session, clock, due, statement, notice, account=None, action=action, external_account=admin)
    elif account is not None:
        _notify(session, clock, due, statement, notice, account=account, action=action)
    return statement


def _lifted_already(session: Session, action: Action, account: PlatformAccount | None) -> datetime | None:
    """When the restriction or suspension ``action`` put on an account was lifted before its statement and notice
    went out, else None. An appeal that takes away its basis lifts it at once, even while a worker is carrying it out
    (``standing.relieve``), and a period's end can come first where the platform carried it out late. The person
    must not then read that the account *is* restricted: their notice says it was, and has been lifted. None while
    it stands, or when a later restriction or suspension replaced it (that one's notice tells of it)."""
    held = _HELD.get(action.kind)
    if held is None or account is None or account.status == held:
        return None
    latest = latest_standing_action(session, account.id)
    return account.status_changed_at if latest is not None and latest.id == action.id else None


def latest_standing_action(session: Session, account_id: int) -> Action | None:
    """The account's newest restriction or suspension, whatever its status."""
    return session.scalars(select(Action).where(Action.account_id == account_id, Action.kind.in_(list(_HELD)))
                           .order_by(Action.id.desc()).limit(1)).first()


def lift_key(action_id: int) -> str:
    """The idempotency key of the ``lift_restriction`` action that lifts the standing ``action_id`` put on."""
    return f"standing_ended:{action_id}"


def _lift_now(session: Session, clock: Clock, action: Action) -> Action | None:
    """The platform's lift of ``action``'s standing (None where its adapter cannot lift), due now: it waited for
    the worker carrying ``action`` out, which is done, so the lift goes before the notice that says it is lifted."""
    lift = session.scalar(select(Action).where(Action.idempotency_key == lift_key(action.id)))
    now = clock.now()
    if lift is not None and lift.status == ActionStatus.PENDING and lift.attempts == 0 and (
            lift.next_attempt_at is None or lift.next_attempt_at > now):
        lift.next_attempt_at = now
    return lift


def _posted_at(action: Action, placement: Placement | None, chat: Chat | None, decided_at: datetime) -> datetime:
    if placement is not None:
        return min(placement.posted_at, decided_at)
    raw = (action.params or {}).get("content_posted_at")
    if isinstance(raw, str):
        try:
            return min(datetime.fromisoformat(raw), decided_at)
        except ValueError:
            pass
    if chat is not None and chat.created_at is not None:
        return min(chat.created_at, decided_at)
    return decided_at


def _with_standing(notice: Notice, recorded: conduct.Recorded) -> Notice:
    if recorded.conduct.kind.value == "warning":
        return replace(notice, standing=Standing.WARNING)
    return replace(notice, standing=Standing.VIOLATION, violations=recorded.violations)


def _notify(session: Session, clock: Clock, due: DueProcess, statement: StatementOfReasons, notice: Notice, *,
            account: PlatformAccount | None, action: Action | None = None, external_account: str | None = None,
            integration_id: int | None = None) -> Action | None:
    recipient = account.external_id if account is not None else external_account
    if recipient is None:
        return None
    until = (statement.decided_at or clock.now()) + timedelta(days=due.appeal_window_days)
    notice = replace(notice, appeal_url=appeal_url(due, statement), appeal_until=until.date())
    language = account.language if account is not None else None
    text = notice_text(notice, due.translations(language))
    return queue_notice(session=session, clock=clock, key=f"notice:{statement.id}:{recipient}", text=text,
                        integration_id=integration_id or (action.integration_id if action else 0),
                        account_id=account.id if account else None, external_account=external_account,
                        placement_id=action.placement_id if action else None,
                        params={"statement": statement.puid, "kind": notice.kind.value,
                                "appeal_url": notice.appeal_url, "appeal_until": until.date().isoformat(),
                                "language": language})


def queue_notice(*, session: Session, clock: Clock, key: str, text: str, integration_id: int,
                 account_id: int | None = None, external_account: str | None = None,
                 placement_id: int | None = None, params: dict[str, Any] | None = None) -> Action | None:
    """A ``notify_user`` action (once per key): the platform shows ``text`` to the user."""
    with session.no_autoflush:
        if session.scalar(select(Action.id).where(Action.idempotency_key == key)) is not None:
            return None
    now = clock.now()
    action = Action(idempotency_key=key, kind=ActionKind.NOTIFY_USER, integration_id=integration_id,
                    account_id=account_id, placement_id=placement_id, created_at=now, next_attempt_at=now,
                    params={**(params or {}), "reason": text, "idempotency_key": key, "notice_key": key,
                            **({"account": external_account} if external_account else {})})
    session.add(action)
    return action


# -- refused uploads --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Uploader:
    account: PlatformAccount | None
    chat: Chat | None


def refuse_upload(*, session: Session, clock: Clock, due: DueProcess, integration_id: int, entry: BankEntry,
                  sha256: str | None, media_kind: str, uploader: Uploader, at: datetime | None = None
                  ) -> RefusedUpload:
    """An upload refused (at ``at``, default now) because it matched ``entry``: its statement, and the uploader's
    record and notice."""
    now = at or clock.now()
    account, chat = uploader.account, uploader.chat
    refusal = RefusedUpload(integration_id=integration_id, account_id=account.id if account else None,
                            chat_id=chat.id if chat else None, bank_entry_id=entry.id, sha256=sha256,
                            medium=media_kind, refused_at=now, created_at=now)
    session.add(refusal)
    session.flush()
    cause = _entry_cause(session, due, entry)
    medium = dsa.Medium.VIDEO if media_kind == "video" else dsa.Medium.IMAGE
    personal = tuple(p for p in (account.display_name if account else None, account.external_id if account else None,
                                 chat.title if chat else None, chat.external_id if chat else None) if p)
    statement = statements.record(session=session, clock=clock, facts=dsa.StatementFacts(
        puid=statements.puid_for(due.puid_key, "refusal", refusal.id), action=dsa.ActionKind.REFUSE_UPLOAD,
        ground=cause.ground.statement_ground(cause.legal_ground), category=cause.ground.category, media=(medium,),
        content_posted_at=now, decided_at=now, source=cause.source, automated_detection=True,
        automated_decision=dsa.AutomatedDecision.FULLY, source_name=cause.source_name,
        territorial_scope=cause.territorial_scope, keywords=tuple(dsa.Keyword(k) for k in cause.ground.keywords),
        personal=personal), links=statements.StatementLinks(
        ground=cause.ground.name, refused_upload_id=refusal.id, account_id=account.id if account else None,
        chat_id=chat.id if chat else None))
    if account is not None:
        recorded = conduct.record(session=session, clock=clock, policy=due.conduct, account=account,
                                  cause=ConductCause.UPLOAD_REFUSED, occurred_at=now,
                                  banned_since=cause.banned_since, ground=cause.ground.name,
                                  integration_id=integration_id, refused_upload_id=refusal.id,
                                  statement_id=statement.id)
        notice = _with_standing(Notice(
            kind=NoticeKind.UPLOAD_REFUSED, platform=due.platform_name, reference=statement.puid,
            summary=cause.ground.summary, basis=cause.ground.basis,
            legal_ground=cause.legal_ground or cause.ground.legal_ground, source=cause.source,
            automated_detection=True, automated_decision=dsa.AutomatedDecision.FULLY,
            medium="video" if media_kind == "video" else "picture", chat_title=chat.title if chat else None,
            window_days=due.conduct.window.days, restrict_at=due.conduct.restrict_at,
            suspend_at=due.conduct.suspend_at), recorded)
        _notify(session, clock, due, statement, notice, account=account, integration_id=integration_id)
    return refusal


# -- appeals ----------------------------------------------------------------------------------------------------

_APPEAL_TITLES = {ActionKind.REMOVE_MESSAGE: "removal of a message", ActionKind.RESTRICT_ACCOUNT:
                  "restriction of an account", ActionKind.SUSPEND_ACCOUNT: "suspension of an account",
                  ActionKind.SUSPEND_CHAT: "suspension of a chat"}


def file_appeal(*, session: Session, clock: Clock, due: DueProcess, statement: StatementOfReasons,
                account_id: int | None, text: str, channel: AppealChannel, actor: str) -> Appeal:
    """An appeal against one restriction (DSA Art. 20): to the queue, for another moderator. Raises
    ``review.service.ReviewError`` (window passed, appealed before, not this user's decision, no text)."""
    ground = due.policy.grounds.get(statement.ground or "")
    action = session.get(Action, statement.action_id) if statement.action_id else None
    what = _APPEAL_TITLES.get(action.kind, "decision") if action else "refused upload"
    title = f"Appeal against the {what}" + (f" ({ground.label.lower()})" if ground else "")
    return review.file_appeal(session=session, clock=clock, statement=statement, account_id=account_id, text=text,
                              channel=channel, window_days=due.appeal_window_days, title=title,
                              severity=ground.severity if ground else 50, actor=actor)
