"""Where platforms come in: record an event, check an upload. Used by the HTTP routes and in-process.

:class:`Gateway` owns the transactions of these use cases; the decisions are in ``gateway.service``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from firebreak.audit import service as audit
from firebreak.banks.models import Bank, BankEntry, MatchAction
from firebreak.banks.service import count_blocked_uploads
from firebreak.core.blobs import BlobStore
from firebreak.core.clock import Clock
from firebreak.core.db.session import Database
from firebreak.core.jobs.outbox import defer
from firebreak.enforcement import user_reports
from firebreak.enforcement.due_process import DueProcess
from firebreak.enforcement.service import RUN_ACTIONS_JOB, copy_entry
from firebreak.gateway.service import EventResult, get_integration, handle_event, refuse, scan_matches, verdict_for
from firebreak.matching.copies import COPY_SIGNAL, CopyLine, describe_still, found_in, found_in_videos
from firebreak.matching.service import Hit, IndexSet, match_signals
from firebreak.media.service import find_by_sha256
from firebreak.platform.adapters import AdapterProvider, FetchError
from firebreak.platform.models import PlatformIntegration
from firebreak.platform.schemas import ChatIn, PlatformEvent, ScanResult, ScanSignalsRequest, SenderIn, Verdict
from firebreak.signals.decode import DecodeLimits
from firebreak.signals.errors import UnhashableMedia
from firebreak.signals.hashing import StillPlanes, hash_bytes, hash_with_planes
from firebreak.signals.registry import SignalTypeError, get_signal_type
from firebreak.signals.vpdq import VpdqFrame

FETCH_JOB = "platform.fetch_event_media"
REFUSAL_JOB = "gateway.refusal_follow_up"


class UnknownIntegration(Exception):
    pass


class BadSignal(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class GatewayDeps:
    db: Database
    clock: Clock
    blobs: BlobStore | None
    limits: DecodeLimits
    indexes: IndexSet
    adapters: AdapterProvider
    due: DueProcess
    pdq_min_quality: int
    unchecked_verdict: Verdict = Verdict.REVIEW  # an upload that matched nothing but could not be fully checked
    copies: CopyLine | None = None  # the second line of matching, after the hashes; None: hashes only


class Gateway:
    def __init__(self, deps: GatewayDeps) -> None:
        self.deps = deps

    def record_event(self, integration_name: str, event: PlatformEvent, *, fetch: bool = False) -> EventResult:
        """Record one event. Media by URL is fetched now when ``fetch`` is set, else by a retrying job.

        Fetching happens outside the transaction (the platform may be slow, or be this very process).
        Raises FetchError when fetching was asked for and failed.
        """
        d = self.deps
        with d.db.transaction() as session:
            integration = get_integration(session=session, name=integration_name)
            if integration is None:
                raise UnknownIntegration(f"no active integration named {integration_name!r}")
            session.expunge(integration)
        fetched: dict[str, bytes] = {}
        gone: dict[str, str] = {}
        if fetch:
            adapter = d.adapters.for_integration(integration)
            for item in event.media:
                if item.url and item.data_base64 is None:
                    try:
                        fetched[item.url] = adapter.fetch_media(item.url).data
                    except FetchError as exc:
                        if exc.retryable:
                            raise
                        gone[item.url] = str(exc)  # this file is lost; the event's other media still count
            if gone:
                event = event.model_copy(update={"media": [m for m in event.media if m.url not in gone]})
        with d.db.transaction() as session:
            integration = session.merge(integration)
            for url, reason in gone.items():
                audit.record(session=session, clock=d.clock, actor=f"integration:{integration.id}",
                             action="media.unfetchable", object_type="event", object_id=event.event_id[:80],
                             data={"url": url[:500], "reason": reason[:500]})
            result = handle_event(session=session, clock=d.clock, integration=integration, event=event,
                                  blobs=d.blobs, limits=d.limits, indexes=d.indexes, due=d.due,
                                  fetched=fetched)
            if result.pending_fetch:
                defer(session=session, now=d.clock.now(), job=FETCH_JOB,
                      payload={"integration": integration_name, "event": event.model_dump(mode="json")})
            if result.actions_queued:
                defer(session=session, now=d.clock.now(), job=RUN_ACTIONS_JOB, payload={})
        return result

    def _refuse(self, integration: str | None, hits: list[Hit], *, sha256: str | None, media_kind: str,
                uploader: SenderIn | None, chat: ChatIn | None) -> None:
        """A refused upload: counted once on its entries (the re-uploads an authority's receipt shows), and, with the
        caller's ``integration``, its statement of reasons, and the uploader's notice and record when named.

        Refusals are rare, so the check itself stays a read and only a refusal writes, at once: a count kept in
        memory to be written later would be lost with its process, and receipts must be exact."""
        d = self.deps
        now = d.clock.now()
        blocking = [h.entry_id for h in hits if h.action == MatchAction.BLOCK]
        with d.db.transaction() as session:
            count_blocked_uploads(session=session, now=now, source="scan", sha256=sha256, entry_ids=blocking)
            if integration is not None and blocking:
                # The statement of reasons, the uploader's record and notice follow in a job (as a removal's do):
                # the check answers without them, and the job row, written with the count, cannot be lost.
                defer(session=session, now=now, job=REFUSAL_JOB, payload={
                    "integration": integration, "entry_id": blocking[0], "sha256": sha256, "media_kind": media_kind,
                    "at": now.isoformat(), "uploader": uploader.model_dump(mode="json") if uploader else None,
                    "chat": chat.model_dump(mode="json") if chat else None})

    def follow_up_refusal(self, payload: dict[str, Any]) -> None:
        """The REFUSAL_JOB: a refused upload's statement of reasons, and the uploader's record and notice when the
        platform named them, dated when the upload was refused."""
        d = self.deps
        uploader = SenderIn.model_validate(payload["uploader"]) if payload.get("uploader") else None
        chat = ChatIn.model_validate(payload["chat"]) if payload.get("chat") else None
        with d.db.transaction() as session:
            row = get_integration(session=session, name=str(payload["integration"]))
            if row is None:
                return  # the integration was removed since: nobody to tell
            if refuse(session=session, clock=d.clock, due=d.due, integration=row, entry_id=int(payload["entry_id"]),
                      sha256=payload.get("sha256"), media_kind=str(payload.get("media_kind") or "image"),
                      uploader=uploader, chat=chat, at=datetime.fromisoformat(str(payload["at"]))):
                defer(session=session, now=d.clock.now(), job=RUN_ACTIONS_JOB, payload={})

    def scan_bytes(self, data: bytes, *, jurisdiction: str | None = None, integration: str | None = None,
                   uploader: SenderIn | None = None, chat: ChatIn | None = None) -> ScanResult:
        """Upload check on the file itself: exact hashes and PDQ with its rotations and mirrors.

        With ``integration`` (the caller's), a refusal is recorded with its statement of reasons; with ``uploader``
        (and ``chat``) too, the uploader gets a notice and the refusal counts on their record.
        """
        d = self.deps
        sha256 = hashlib.sha256(data).hexdigest()
        media_kind = "image"
        # Decoding and hashing take milliseconds: done before the transaction, which on SQLite holds the write lock.
        unchecked: str | None = None
        still: StillPlanes | None = None  # a picture's decoded planes, kept for the second line
        try:
            # With copy detection on, the hashes keep their decoded planes for the second line (one decode).
            if d.copies is not None and d.copies.enabled:
                hashes, still = hash_with_planes(data, d.limits)
            else:
                hashes = hash_bytes(data, d.limits)
            md5, pdq_queries, turned = hashes.md5, hashes.query_hashes, hashes.turned_hashes
            media_kind = hashes.kind.value
            frames = list(hashes.vpdq)
            if hashes.truncated:
                unchecked = "truncated"
        except UnhashableMedia as exc:
            md5, pdq_queries, turned = hashlib.md5(data, usedforsecurity=False).hexdigest(), (), frozenset()
            frames = []
            unchecked = f"unhashable: {exc.reason.value}"
        # The hash path answers first: most uploads match nothing, which the in-memory indexes say without a query.
        hashes_clear = bool(pdq_queries) and unchecked is None and not d.indexes.could_match(
            exact=[sha256, md5], pdq_queries=pdq_queries)
        if hashes_clear and media_kind not in ("image", "video"):
            # Pictures and videos still go to the second line below (a clip's first frame is seldom a banked one).
            return ScanResult(verdict=Verdict.ALLOW, matches=[], sha256=sha256, checked_at=d.clock.now())

        def lookup(session: Session) -> list[Hit]:
            queries = pdq_queries
            if not queries:  # a file we could not hash ourselves may be known from a platform's event
                known = find_by_sha256(session=session, sha256=sha256)
                if known is not None and known.pdq:
                    queries = (known.pdq,)
            return match_signals(session=session, indexes=d.indexes, sha256=sha256, md5=md5, pdq_queries=queries,
                                 turned=turned, jurisdiction=jurisdiction)

        hits = [] if hashes_clear else d.db.read(lookup)  # read-only: no write lock on SQLite
        if not hits and unchecked is None and still is not None:
            # The hashes answered first and found nothing: now the second line (crops, captions, recolouring), on
            # the planes the hashes were computed on.
            hits = self._copy_hits(still, jurisdiction)
        elif not hits and unchecked is None and media_kind == "video" and frames:
            hits = self._video_hits(frames, jurisdiction)  # clips cut from a banked video, re-encoded copies
        if verdict_for(hits) == Verdict.BLOCK:
            self._refuse(integration, hits, sha256=sha256, media_kind=media_kind, uploader=uploader, chat=chat)
        verdict = verdict_for(hits)
        if verdict == Verdict.ALLOW and unchecked is not None:
            # Nothing matched, but Firebreak did not see the whole picture: a two-byte cut must not be a way past.
            verdict = d.unchecked_verdict
        return ScanResult(verdict=verdict, matches=scan_matches(hits), sha256=sha256, checked_at=d.clock.now(),
                          unchecked=unchecked)

    def _copy_hits(self, still: StillPlanes, jurisdiction: str | None) -> list[Hit]:
        """An upload the hashes let through, against the banked pictures: a verified copy counts as a match of
        its bank (refused when the bank blocks), a weaker one as a match for review (never refused on its own)."""
        d = self.deps
        copies = d.copies
        if copies is None or not d.db.read(copies.has_references):
            return []
        description = describe_still(still)
        found = found_in(d.db.read(lambda session: copies.search_bank(session, description, refresh=False)),
                         copies.policy)

        def entries(session: Session) -> list[Hit]:
            hits = []
            for each in found:
                for entry, bank in copy_entry(session, each.item_id):
                    if bank.jurisdictions and jurisdiction is not None and jurisdiction not in bank.jurisdictions:
                        continue
                    action = bank.action if each.action == "auto" else MatchAction.REVIEW
                    hits.append(Hit(entry_id=entry.id, bank_id=bank.id, bank_name=bank.name, action=action,
                                    signal_type=COPY_SIGNAL, distance=each.distance))
            return hits

        return d.db.read(entries) if found else []

    def _video_hits(self, frames: list[VpdqFrame], jurisdiction: str | None) -> list[Hit]:
        """A video the hashes let through, against the banked videos (vPDQ entries): a clip or copy that lines up
        in time counts as a match of its bank; a weaker one as a match for review."""
        d = self.deps
        copies = d.copies
        if copies is None or not d.db.read(copies.has_videos):
            return []
        found = found_in_videos(d.db.read(lambda session: copies.search_bank_videos(session, frames,
                                                                                      refresh=False)))

        def entries(session: Session) -> list[Hit]:
            hits = []
            for each in found:
                entry = session.get(BankEntry, each.item_id)
                bank = session.get(Bank, entry.bank_id) if entry is not None else None
                if entry is None or bank is None or (
                        bank.jurisdictions and jurisdiction is not None and jurisdiction not in bank.jurisdictions):
                    continue
                hits.append(Hit(entry_id=entry.id, bank_id=bank.id, bank_name=bank.name,
                                action=bank.action if each.action == "auto" else MatchAction.REVIEW,
                                signal_type=COPY_SIGNAL, distance=0))
            return hits

        return d.db.read(entries) if found else []

    def _signal_values(self, request: ScanSignalsRequest) -> dict[str, list[str]]:
        """Canonical values by signal type, PDQ below the minimum quality left out. Raises BadSignal."""
        values: dict[str, list[str]] = {}
        for i, signal in enumerate(request.signals):
            try:
                kind = get_signal_type(signal.signal_type.lower())
                canonical = kind.validate(signal.value)
            except SignalTypeError as exc:
                raise BadSignal(f"signals.{i}.signal_type", str(exc)) from None
            except ValueError as exc:
                raise BadSignal(f"signals.{i}.value", str(exc)) from None
            if kind.name == "pdq" and signal.quality is not None and signal.quality < self.deps.pdq_min_quality:
                continue
            values.setdefault(kind.name, []).append(canonical)
        return values

    def scan_signals_in_memory(self, request: ScanSignalsRequest) -> ScanResult | None:
        """scan_signals' answer when it is "allow" and this process knows so without the database; else None.

        That is when its indexes are up to date (see IndexSet.could_match) and hold no candidate for any of the
        signals: most upload checks. A candidate, or indexes due for a sync, need scan_signals. Raises BadSignal.
        """
        values = self._signal_values(request)
        if self.deps.indexes.could_match(exact=[*values.get("sha256", []), *values.get("md5", [])],
                                         pdq_queries=values.get("pdq", [])):
            return None
        return ScanResult(verdict=Verdict.ALLOW, matches=[], checked_at=self.deps.clock.now())

    def scan_signals(self, request: ScanSignalsRequest, *, integration: str | None = None,
                     record: bool = True) -> ScanResult:
        """Upload check on hashes the platform computed itself (no bytes leave the platform). A refusal is
        recorded as in scan_bytes, for ``request.uploader`` when given; with ``record=False`` nothing is written
        (the caller hands a refusal to a path that records it)."""
        d = self.deps
        values = self._signal_values(request)
        shas: list[str | None] = list(values.get("sha256", [])) or [None]
        md5s: list[str | None] = list(values.get("md5", [])) or [None]

        def lookup(session: Session) -> list[Hit]:
            found: list[Hit] = []
            for sha in shas:
                for md5 in md5s:
                    found.extend(match_signals(session=session, indexes=d.indexes, sha256=sha, md5=md5,
                                               pdq_queries=values.get("pdq", []), jurisdiction=request.jurisdiction))
            return found

        hits = d.db.read(lookup)
        unique = {h.entry_id: h for h in sorted(hits, key=lambda h: -h.distance)}
        ordered = sorted(unique.values(), key=lambda h: (h.distance, h.entry_id))
        if record and verdict_for(ordered) == Verdict.BLOCK:
            self._refuse(integration, ordered, sha256=shas[0] if len(shas) == 1 else None, media_kind="image",
                         uploader=request.uploader, chat=request.chat)
        return ScanResult(verdict=verdict_for(ordered), matches=scan_matches(ordered), checked_at=d.clock.now())

    def report(self, integration_name: str, *, chat_id: str, message_id: str, report_id: str,
               reporter: str | None, reason: str, category: str | None) -> int | None:
        """A user's report the platform forwards: to the review queue. The item's id; None for a message
        Firebreak does not know (it sees only messages with media)."""
        d = self.deps
        with d.db.transaction() as session:
            integration = get_integration(session=session, name=integration_name)
            if integration is None:
                raise UnknownIntegration(f"no active integration named {integration_name!r}")
            item = user_reports.file_user_report(
                session=session, clock=d.clock, due=d.due, integration_id=integration.id, chat_id=chat_id,
                message_id=message_id, report_id=report_id, reporter=reporter, reason=reason, category=category)
            return item.id if item is not None else None

    def ensure_integration(self, *, name: str, adapter: str) -> PlatformIntegration:
        """The integration named ``name``, created if missing (the sandbox's on start-up)."""
        d = self.deps
        with d.db.transaction() as session:
            integration = get_integration(session=session, name=name)
            if integration is None:
                integration = PlatformIntegration(name=name, adapter=adapter, config={}, created_at=d.clock.now())
                session.add(integration)
                session.flush()
                audit.record(session=session, clock=d.clock, actor="system", action="integration.created",
                             object_type="integration", object_id=integration.id,
                             data={"name": name, "adapter": adapter})
            session.expunge(integration)
        return integration


class InProcessLink:
    """:class:`firebreak.platform.link.FirebreakLink` for a platform living in this process (the sandbox).

    Call it outside any open transaction of the caller: on SQLite, one writer at a time.
    """

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    def scan_upload(self, integration: str, data: bytes, *, uploader: SenderIn | None = None,
                    chat: ChatIn | None = None) -> ScanResult:
        return self._gateway.scan_bytes(data, integration=integration, uploader=uploader, chat=chat)

    def submit_event(self, integration: str, event: PlatformEvent) -> None:
        try:
            self._gateway.record_event(integration, event, fetch=True)
        except FetchError:
            self._gateway.record_event(integration, event, fetch=False)


__all__ = ["BadSignal", "Gateway", "GatewayDeps", "InProcessLink", "UnknownIntegration", "Verdict"]
