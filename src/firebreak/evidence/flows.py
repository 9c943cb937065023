"""Evidence's use cases: seal what was asked for, purge what is due, place holds, open evidence with a reason, export
signed packages, rotate key-encryption keys. Each owns its transactions."""

from __future__ import annotations

import logging
import mimetypes
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.audit import service as audit
from firebreak.cases.models import Case
from firebreak.core.clock import Clock
from firebreak.core.db.session import Database
from firebreak.core.jobs.models import ScheduledTask, TaskStatus
from firebreak.evidence import context as gathering
from firebreak.evidence import service
from firebreak.evidence.models import EvidenceMedia, EvidenceRecord, HoldScope, LegalHold, RecordStatus
from firebreak.evidence.package import WrittenPackage, iso, sha256_hex, write_package
from firebreak.evidence.schemas import OrderDirectory, Purpose
from firebreak.evidence.sealing import load_signing_key
from firebreak.evidence.service import EvidenceError, NotFound, OpenedRecord, RetentionPolicy, Vault

log = logging.getLogger(__name__)
PRESERVE_BATCH = 20
PRESERVE_BUDGET_SECONDS = 10.0


@dataclass(frozen=True)
class EvidenceDeps:
    db: Database
    clock: Clock
    vault: Vault
    retention: RetentionPolicy
    signing_key_path: Path
    orders: OrderDirectory
    purge_batch: int = 200


@dataclass(frozen=True)
class PurgeRun:
    purged: int
    kept_by_hold: int


@dataclass(frozen=True)
class RotationRun:
    current: str
    rewrapped_records: int
    rewrapped_media: int
    left: dict[str, int]


def _extension(mime: str | None) -> str:
    return {"image/jpeg": ".jpg"}.get(mime or "", mimetypes.guess_extension(mime or "") or ".bin")


class Evidence:
    """Use cases on evidence. Those a route calls take the request's ``session`` (the request owns the transaction;
    on SQLite a second transaction would wait for the first); without one, each opens its own."""

    def __init__(self, deps: EvidenceDeps) -> None:
        self.deps = deps

    @contextmanager
    def _work(self, session: Session | None) -> Iterator[Session]:
        if session is not None:
            yield session
            return
        with self.deps.db.transaction() as own:
            yield own

    # -- background work --------------------------------------------------------------------------------------------

    def preserve_pending(self, *, budget_seconds: float = PRESERVE_BUDGET_SECONDS) -> int:
        """Seal pending records, a few per transaction, for about ``budget_seconds``; what is left is carried on by
        the job again at once (a run stays short, so a worker asked to stop is not held up). Returns how many were
        sealed."""
        d = self.deps
        sealed = 0
        started = time.monotonic()
        while True:
            with d.db.transaction() as session:
                batch = service.pending_records(session, PRESERVE_BATCH)
                rows = gathering.Rows(session)
                for record in batch:
                    service.seal_record(session=session, clock=d.clock, vault=d.vault, retention=d.retention,
                                        record=record, rows=rows)
            sealed += len(batch)
            if len(batch) < PRESERVE_BATCH:
                return sealed
            if time.monotonic() - started > budget_seconds:
                with d.db.transaction() as session:
                    service.wake_preserver(session, d.clock.now())
                return sealed

    def purge(self) -> PurgeRun:
        """Purge every record whose retention ran out and that no hold keeps; then schedule tomorrow's run."""
        d = self.deps
        purged = kept = cursor = 0
        while True:
            with d.db.transaction() as session:
                step = service.purge_due(session=session, clock=d.clock, blobs=d.vault.blobs, after_id=cursor,
                                         limit=d.purge_batch)
            purged, kept, cursor = purged + step.purged, kept + step.kept_by_hold, step.cursor
            if step.done:
                break
        with d.db.transaction() as session:
            service.schedule_daily_purge(session=session, now=d.clock.now())
        if purged or kept:
            log.info("evidence purge: %d records purged, %d kept by a legal hold", purged, kept)
        return PurgeRun(purged, kept)

    def ensure_scheduled(self) -> None:
        """At start-up: the daily purge has a job row, and records left pending by a crash get sealed."""
        d = self.deps
        with d.db.transaction() as session:
            task = session.scalar(select(ScheduledTask).where(ScheduledTask.dedupe_key == service.PURGE_KEY))
            if task is None or task.status not in (TaskStatus.PENDING, TaskStatus.RUNNING):
                service.schedule_daily_purge(session=session, now=d.clock.now())
            if service.pending_records(session, 1):
                service.wake_preserver(session, d.clock.now())

    # -- holds ------------------------------------------------------------------------------------------------------

    def place_hold(self, *, actor: str, scope: HoldScope, subject: str, reason: str, days: int | None = None,
                   session: Session | None = None) -> LegalHold:
        d = self.deps
        with self._work(session) as session:
            if scope == HoldScope.ORDER:
                order = d.orders.find(session, subject.strip())
                if order is None:
                    raise NotFound(f"There is no order {subject.strip()!r}.")
                return service.place_hold_for_order(session=session, clock=d.clock, actor=actor, scope=order,
                                                    reason=reason, retention=d.retention, days=days, source="staff")
            subject_id, label = service.resolve_subject(session, scope, subject)
            return service.place_hold(session=session, clock=d.clock, actor=actor, scope=scope,
                                      subject_id=subject_id, label=label, reason=reason, retention=d.retention,
                                      days=days)

    def extend_hold(self, *, actor: str, hold_id: int, reason: str, days: int | None = None,
                    session: Session | None = None) -> LegalHold:
        d = self.deps
        with self._work(session) as session:
            return service.extend_hold(session=session, clock=d.clock, actor=actor, hold_id=hold_id, reason=reason,
                                       retention=d.retention, days=days)

    def release_hold(self, *, actor: str, hold_id: int, reason: str, session: Session | None = None) -> LegalHold:
        d = self.deps
        with self._work(session) as session:
            return service.release_hold(session=session, clock=d.clock, actor=actor, hold_id=hold_id, reason=reason)

    def holds(self, *, session: Session | None = None) -> list[tuple[LegalHold, bool]]:
        d = self.deps
        with self._work(session) as session:
            now = d.clock.now()
            return [(h, service.is_active(h, now)) for h in service.list_holds(session)]

    # -- looking and opening ----------------------------------------------------------------------------------------

    def records(self, *, order: str | None = None, case: str | None = None,
                session: Session | None = None) -> list[dict[str, Any]]:
        """Metadata of the records about an order or a case (no content: opening needs a reason)."""
        d = self.deps
        with self._work(session) as session:
            found, _ = self._scope(session, order=order, case=case)
            holds = service.holds_in_force(session, d.clock.now())
            media = {m.id: m.sha256 for m in session.scalars(select(EvidenceMedia).where(
                EvidenceMedia.id.in_([r.evidence_media_id for r in found if r.evidence_media_id])))}
            return [service.describe(r, holds, media.get(r.evidence_media_id or 0)) for r in found]

    def open(self, *, actor: str, uid: str, reason: str, purpose: Purpose = "view",
             session: Session | None = None) -> OpenedRecord:
        """A record's context and media, decrypted; the access is audited with who and why."""
        reason = service.check_reason(reason)
        d = self.deps
        with self._work(session) as session:
            record = service.get_record(session, uid)
            opened = service.open_record(session=session, vault=d.vault, record=record)
            service.audit_access(session=session, clock=d.clock, actor=actor, records=[record], reason=reason,
                                 purpose="viewed" if purpose == "view" else "exported")
            return opened

    def _scope(self, session: Session, *, order: str | None, case: str | None
               ) -> tuple[list[EvidenceRecord], dict[str, Any]]:
        d = self.deps
        if (order is None) == (case is None):
            raise EvidenceError("Name an order (its tracking id) or a case (its reference), one of the two.")
        if order is not None:
            scope = d.orders.find(session, order.strip())
            if scope is None:
                raise NotFound(f"There is no order {order.strip()!r}.")
            return service.records_for(session, order=scope), {
                "kind": "order", "reference": scope.tracking_id, "authority": scope.authority,
                "category": scope.category, "order_id": scope.order_id}
        reference = (case or "").strip()
        row = session.scalar(select(Case).where(Case.reference == reference))
        if row is None:
            raise NotFound(f"There is no case {reference!r}.")
        return service.records_for(session, case_id=row.id, case_media_id=row.media_id,
                                   orders_of_case=d.orders.of_case(session, row.id)), {
            "kind": "case", "reference": row.reference, "case_id": row.id, "category": row.category}

    def package(self, *, actor: str, reason: str, out: BinaryIO, order: str | None = None, case: str | None = None,
                name: str = "package.zip", session: Session | None = None) -> WrittenPackage:
        """Write a signed evidence package for an order or a case to ``out`` (write to a temporary file and rename
        it when this returns: the export is audited in the same transaction)."""
        reason = service.check_reason(reason)
        d = self.deps
        signing_key = load_signing_key(d.signing_key_path)
        with self._work(session) as session:
            records, scope = self._scope(session, order=order, case=case)
            sealed = [r for r in records if r.status == RecordStatus.SEALED]
            if not sealed:
                pending = sum(1 for r in records if r.status in (RecordStatus.PENDING, RecordStatus.AWAITING))
                purged = sum(1 for r in records if r.status == RecordStatus.PURGED)
                raise EvidenceError(f"No preserved evidence to package for {scope['kind']} {scope['reference']} "
                                    f"({pending} still being preserved, {purged} purged after retention).")
            opened = [service.open_record(session=session, vault=d.vault, record=r) for r in sealed]
            files: dict[str, bytes] = {}
            listing = []
            for item in opened:
                context_path = f"context/{item.record.uid}.json"
                files[context_path] = item.context_bytes
                media_path = None
                if item.media is not None and item.media_sha256:
                    media_path = f"media/{item.media_sha256}{_extension(item.media_type)}"
                    files.setdefault(media_path, item.media)
                listing.append({
                    "uid": item.record.uid, "trigger": item.record.trigger.value, "category": item.record.category,
                    "preserved_at": iso(item.record.preserved_at) if item.record.preserved_at else None,
                    "retain_until": iso(item.record.retain_until) if item.record.retain_until else None,
                    "placement_id": item.record.placement_id, "context": context_path, "media": media_path,
                    "media_sha256": item.media_sha256, "context_sha256": item.record.context_sha256})
            package_id = uuid.uuid4().hex
            service.audit_access(session=session, clock=d.clock, actor=actor, records=sealed, reason=reason,
                                 purpose="packaged", package_id=package_id)
            audit.record(session=session, clock=d.clock, actor=actor, action="evidence.package_exported",
                         object_type="evidence_package", object_id=package_id,
                         data={"scope": scope, "reason": reason, "records": [r.uid for r in sealed],
                               "files": {p: sha256_hex(b) for p, b in sorted(files.items())}})
            head = audit.head(session=session)
            holds = [str(h.id) for h in session.scalars(select(LegalHold)) if self._hold_covers(h, scope, sealed)]
            extra = {"evidence_package": [package_id], "legal_hold": holds}
            if scope["kind"] == "order":
                extra["order"] = [scope["reference"]]
            custody = service.custody_events(session, records=sealed, extra=extra)
            now = d.clock.now()
            return write_package(out, package_id=package_id, created_at=now, created_by=actor, reason=reason,
                                 scope=scope, records=listing, files=sorted(files.items()), custody=custody,
                                 audit_head=head, signing_key=signing_key, name=name)

    @staticmethod
    def _hold_covers(hold: LegalHold, scope: dict[str, Any], records: list[EvidenceRecord]) -> bool:
        if hold.scope == HoldScope.ORDER:
            return scope.get("order_id") == hold.subject_id or any(r.order_id == hold.subject_id for r in records)
        if hold.scope == HoldScope.CASE:
            return scope.get("case_id") == hold.subject_id
        attribute = {HoldScope.ITEM: "placement_id", HoldScope.ACCOUNT: "account_id", HoldScope.CHAT: "chat_id"}
        return any(getattr(r, attribute[hold.scope]) == hold.subject_id for r in records)

    def public_key_pem(self) -> bytes:
        from firebreak.evidence.sealing import fingerprint, public_pem

        key = load_signing_key(self.deps.signing_key_path).public_key()
        return public_pem(key) + f"# SHA-256 fingerprint: {fingerprint(key)}\n".encode()

    # -- purges and keys ---------------------------------------------------------------------------------------------

    def purges(self, *, since: datetime | None = None, until: datetime | None = None,
               session: Session | None = None) -> list[service.PurgeCheck]:
        d = self.deps
        with self._work(session) as session:
            return service.check_purges(session=session, blobs=d.vault.blobs, since=since, until=until)

    def rotate_keys(self, *, actor: str, batch: int = 200,
                    on_batch: Callable[[service.RotationStep], None] | None = None) -> RotationRun:
        """Re-wrap every data key under the current key-encryption key, a batch per transaction (resumable: a run
        that stops leaves the rest under their old key, still readable, for the next run)."""
        d = self.deps
        current = d.vault.keks.current_id
        records = media = 0
        while True:
            with d.db.transaction() as session:
                step = service.rotate_keys_batch(session=session, vault=d.vault, limit=batch)
                if step.rewrapped_records or step.rewrapped_media:
                    audit.record(session=session, clock=d.clock, actor=actor, action="evidence.keys_rewrapped",
                                 object_type="evidence_keys", object_id=current,
                                 data={"records": step.rewrapped_records, "media": step.rewrapped_media})
            records, media = records + step.rewrapped_records, media + step.rewrapped_media
            if on_batch is not None:
                on_batch(step)
            if step.done:
                break
        with d.db.transaction() as session:
            left = {k: n for k, n in service.keys_in_use(session).items() if k != current}
        return RotationRun(current, records, media, left)
