"""Events from the platform become placements; uploads are checked against the banks."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.audit import service as audit
from firebreak.banks.models import Bank, BankEntry, MatchAction
from firebreak.banks.service import count_blocked_uploads
from firebreak.core.blobs import BlobStore
from firebreak.core.clock import Clock
from firebreak.core.jobs.outbox import defer
from firebreak.enforcement import due_process
from firebreak.enforcement.due_process import DueProcess
from firebreak.enforcement.service import act_on_placement, record_match, removals_pending
from firebreak.matching.copies import COPY_CHECK_JOB, checkable
from firebreak.matching.models import MatchSource
from firebreak.matching.service import Hit, IndexSet, match_signals
from firebreak.media.models import HashStatus, Media, Placement, PlacementStatus
from firebreak.media.service import ingest_bytes
from firebreak.platform.models import Chat, ChatKind, PlatformAccount, PlatformIntegration
from firebreak.platform.schemas import ChatIn, EventKind, PlatformEvent, ScanMatch, SenderIn, Verdict
from firebreak.signals.decode import DecodeLimits
from firebreak.signals.hashing import MediaHashes


class EventError(Exception):
    """An event that cannot be used; the message names the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass
class EventResult:
    placements: list[Placement] = field(default_factory=list)
    actions_queued: int = 0
    hits: list[Hit] = field(default_factory=list)
    pending_fetch: list[str] = field(default_factory=list)  # media URLs left to a fetch job


def verdict_for(hits: list[Hit]) -> Verdict:
    actions = {h.action for h in hits}
    if MatchAction.BLOCK in actions:
        return Verdict.BLOCK
    if actions:
        return Verdict.REVIEW
    return Verdict.ALLOW


def scan_matches(hits: list[Hit]) -> list[ScanMatch]:
    return [ScanMatch(bank=h.bank_name, action=h.action.value, signal_type=h.signal_type, distance=h.distance,
                      entry_id=h.entry_id) for h in hits]


def hits_for_media(*, session: Session, indexes: IndexSet, media: Media, hashes: MediaHashes | None,
                   jurisdiction: str | None = None) -> list[Hit]:
    pdq_queries: tuple[str, ...] = ()
    turned: frozenset[str] = frozenset()
    if hashes is not None:
        pdq_queries = hashes.query_hashes if hashes.kind.value == "image" else ()
        turned = hashes.turned_hashes if hashes.kind.value == "image" else frozenset()
    elif media.pdq and media.hash_status == HashStatus.HASHED and (media.pdq_quality or 0) >= 50 \
            and media.kind.value == "image":
        pdq_queries = (media.pdq,)
    return match_signals(session=session, indexes=indexes, sha256=media.sha256, md5=media.md5,
                         pdq_queries=pdq_queries, turned=turned, jurisdiction=jurisdiction)


def _account(session: Session, integration: PlatformIntegration, clock: Clock, sender: SenderIn) -> PlatformAccount:
    account = session.scalar(select(PlatformAccount).where(
        PlatformAccount.integration_id == integration.id, PlatformAccount.external_id == sender.id))
    if account is None:
        account = PlatformAccount(integration_id=integration.id, external_id=sender.id,
                                  display_name=sender.display_name, language=sender.language, created_at=clock.now())
        session.add(account)
        session.flush()
    else:
        if sender.display_name and account.display_name != sender.display_name:
            account.display_name = sender.display_name
        if sender.language and account.language != sender.language:
            account.language = sender.language
    return account


def _chat(session: Session, integration: PlatformIntegration, clock: Clock, info: ChatIn) -> Chat:
    chat = session.scalar(select(Chat).where(Chat.integration_id == integration.id, Chat.external_id == info.id))
    if chat is None:
        chat = Chat(integration_id=integration.id, external_id=info.id, created_at=clock.now())
        session.add(chat)
    chat.kind, chat.is_public, chat.title = ChatKind(info.kind), info.is_public, info.title or chat.title
    if info.member_count is not None:
        chat.member_count = info.member_count
    if info.admins is not None and list(info.admins) != list(chat.admins or []):
        chat.admins = list(info.admins)
    session.flush()
    return chat


def refuse(*, session: Session, clock: Clock, due: DueProcess, integration: PlatformIntegration, entry_id: int,
           sha256: str | None, media_kind: str, uploader: SenderIn | None, chat: ChatIn | None,
           at: datetime | None = None) -> bool:
    """Record an upload refused (verdict block) because of the entry ``entry_id``, at ``at``: its statement of
    reasons and, when the platform named the uploader, their notice and record. True when a notice was queued."""
    entry = session.get(BankEntry, entry_id)
    if entry is None:
        return False
    account = _account(session, integration, clock, uploader) if uploader is not None else None
    chat_row = _chat(session, integration, clock, chat) if chat is not None else None
    due_process.refuse_upload(session=session, clock=clock, due=due, integration_id=integration.id, entry=entry,
                              sha256=sha256, media_kind=media_kind,
                              uploader=due_process.Uploader(account=account, chat=chat_row), at=at)
    return account is not None


def handle_event(
    *, session: Session, clock: Clock, integration: PlatformIntegration, event: PlatformEvent, blobs: BlobStore | None,
    limits: DecodeLimits, indexes: IndexSet, due: DueProcess, fetched: dict[str, bytes] | None = None,
) -> EventResult:
    """Record an event. Media posted after a matching bank entry exists is acted on at once.

    Media given by URL must be fetched by the caller first and passed in ``fetched``; URLs
    missing there are returned in ``pending_fetch`` for a retrying job.
    """
    result = EventResult()
    if event.kind == EventKind.MESSAGE_DELETED:
        live = list(session.scalars(select(Placement).where(
            Placement.integration_id == integration.id, Placement.chat_external_id == event.chat.id,
            Placement.message_external_id == event.message_id, Placement.status == PlacementStatus.LIVE)))
        # A deletion whose removal Firebreak has in flight is most likely that removal reported back: its outcome
        # records what became of the message (removed, with its statement of reasons), not this event.
        ours = removals_pending(session, (p.id for p in live))
        for gone in live:
            if gone.id in ours:
                # Kept on the record: if the removal were then to fail for good, the deletion is not lost.
                audit.record(session=session, clock=clock, actor=f"platform:{integration.name}",
                             action="placement.deletion_reported", object_type="placement", object_id=gone.id,
                             data={"removal_in_flight": True, "event_id": event.event_id})
                continue
            gone.status, gone.status_changed_at = PlacementStatus.DELETED, clock.now()
            result.placements.append(gone)
        return result
    chat = _chat(session, integration, clock, event.chat)
    sender = _account(session, integration, clock, event.sender) if event.sender else None
    # An edit replaces the message's media: what it no longer carries is gone, and what it still carries (the text
    # edited, the same file kept) stays live as it was.
    edited_away: dict[int, datetime | None] = {}
    if event.kind == EventKind.MESSAGE_EDITED:
        for previous in session.scalars(select(Placement).where(
                Placement.integration_id == integration.id, Placement.chat_external_id == event.chat.id,
                Placement.message_external_id == event.message_id, Placement.status == PlacementStatus.LIVE)):
            edited_away[previous.id] = previous.status_changed_at
            previous.status, previous.status_changed_at = PlacementStatus.DELETED, clock.now()
    forwarded_from_id = None
    if event.forwarded_from is not None:
        forwarded_from_id = session.scalar(select(Placement.id).where(
            Placement.integration_id == integration.id, Placement.chat_external_id == event.forwarded_from.chat_id,
            Placement.message_external_id == event.forwarded_from.message_id).order_by(Placement.id).limit(1))
    for index, item in enumerate(event.media):
        if item.data_base64 is not None:
            try:
                data = base64.b64decode(item.data_base64, validate=True)
            except (binascii.Error, ValueError):
                raise EventError(f"media.{index}.data_base64", "not valid base64") from None
        elif item.url is not None and fetched is not None and item.url in fetched:
            data = fetched[item.url]
        else:
            result.pending_fetch.append(item.url or "")
            continue
        if not data:
            raise EventError(f"media.{index}", "the media is empty")
        ingested = ingest_bytes(session=session, clock=clock, blobs=blobs, limits=limits, data=data,
                                source_url=item.url)
        media = ingested.media
        placement = session.scalar(select(Placement).where(
            Placement.integration_id == integration.id, Placement.chat_external_id == event.chat.id,
            Placement.message_external_id == event.message_id, Placement.media_id == media.id))
        if placement is None:
            placement = Placement(
                integration_id=integration.id, media_id=media.id, chat_id=chat.id,
                sender_id=sender.id if sender else None, chat_external_id=event.chat.id,
                message_external_id=event.message_id, media_external_id=item.media_id or item.url,
                posted_at=event.sent_at, forwarded_from_chat=event.forwarded_from.chat_id if event.forwarded_from
                else None, forwarded_from_message=event.forwarded_from.message_id if event.forwarded_from else None,
                forwarded_from_placement_id=forwarded_from_id, status=PlacementStatus.LIVE, created_at=clock.now())
            session.add(placement)
            session.flush()
        elif placement.id in edited_away:
            placement.status, placement.status_changed_at = PlacementStatus.LIVE, edited_away.pop(placement.id)
        result.placements.append(placement)
        if ingested.created and checkable(media):
            # The second line of matching checks each new picture or video once, off the request path.
            defer(session=session, now=clock.now(), job=COPY_CHECK_JOB, payload={"media_id": media.id})
        if ingested.created and ingested.hashes is not None and ingested.hashes.query_hashes:
            indexes.note_media(media.id, ingested.hashes.pdq.value,
                               ingested.hashes.upscaled_dihedral[0] if ingested.hashes.upscaled_dihedral else None)
        hits = hits_for_media(session=session, indexes=indexes, media=media, hashes=ingested.hashes)
        result.hits.extend(hits)
        caught: list[int] = []
        for hit in hits:
            entry = session.get(BankEntry, hit.entry_id)
            bank = session.get(Bank, hit.bank_id)
            if entry is None or bank is None:
                continue
            match, _ = record_match(session, clock, media_id=media.id, entry=entry, bank=bank,
                                    signal_type=hit.signal_type, distance=hit.distance, source=MatchSource.UPLOAD,
                                    due=due)
            queued = act_on_placement(session, clock, placement=placement, match=match, bank=bank, due=due)
            if queued.removals:  # a message removed as it was posted; not a file quarantined after it went
                caught.append(entry.id)
            result.actions_queued += queued.total
        # One upload removed as it was posted counts once, however many of an item's entries caught it.
        count_blocked_uploads(session=session, entry_ids=caught, now=clock.now(), source="post",
                              sha256=media.sha256, placement_id=placement.id)
    if result.actions_queued:
        audit.record(session=session, clock=clock, actor=f"integration:{integration.id}", action="event.matched",
                     object_type="event", object_id=event.event_id[:80],
                     data={"kind": event.kind.value, "chat": event.chat.id, "message": event.message_id,
                           "actions_queued": result.actions_queued})
    return result


def get_integration(*, session: Session, name: str) -> PlatformIntegration | None:
    return session.scalar(select(PlatformIntegration).where(PlatformIntegration.name == name,
                                                            PlatformIntegration.is_active.is_(True)))
