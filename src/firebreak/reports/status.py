"""What happened to a report: outcomes from what the platform did, the copies found and removed, re-uploads
refused, the search for copies kept as evidence, and the timeline the person's status link shows.

The timeline holds dates and counts only: nothing about the content (no links, no category), so a status page left
open on a shared screen says nothing about what it concerns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from firebreak.audit import service as audit
from firebreak.banks import service as banks_service
from firebreak.banks.models import Bank
from firebreak.core.clock import Clock
from firebreak.enforcement.models import Action, ActionKind, ActionStatus, Propagation, PropagationStatus
from firebreak.enforcement.service import removal_key
from firebreak.matching.models import Match
from firebreak.media.models import Placement, PlacementStatus
from firebreak.reports.models import ItemKind, ItemOutcome, ReportKind, ReportStatus, VictimReport
from firebreak.reports.schemas import StatusOut, StatusStep
from firebreak.reports.service import report_entries


@dataclass(frozen=True)
class Counts:
    removed: int  # reported messages removed (or found already gone)
    removed_at: datetime | None
    copies_removed: int  # other messages carrying an identical or near copy, removed
    copies_removed_at: datetime | None
    copies_pending: int
    reuploads_blocked: int
    blocking_since: datetime | None  # when the bank entries became active
    matches: int  # hash-only: copies found and sent to review
    search_done: bool


def counts(session: Session, report: VictimReport) -> Counts:
    entries = report_entries(session, report)
    entry_ids = [e.id for e in entries]
    named = {i.placement_id for i in report.items if i.placement_id is not None}
    removed_items = [i for i in report.items if i.outcome in (ItemOutcome.REMOVED, ItemOutcome.ALREADY_REMOVED)]
    copies: dict[int, datetime | None] = {}
    pending = 0
    matches = 0
    if entry_ids:
        # A re-upload removed as it was posted is a re-upload blocked, not also a copy that was on the platform.
        reuploads = banks_service.refused_placements(session=session, entry_ids=entry_ids)
        rows = session.execute(
            select(Action.placement_id, Action.status, Action.completed_at).join(Match, Match.id == Action.match_id)
            .where(Match.bank_entry_id.in_(entry_ids), Action.kind == ActionKind.REMOVE_MESSAGE)).all()
        for placement_id, status, completed_at in rows:
            if placement_id in named or placement_id in reuploads:
                continue
            if status == ActionStatus.DONE and placement_id is not None:
                copies[placement_id] = completed_at
            elif status == ActionStatus.PENDING:
                pending += 1
        matches = int(session.scalar(select(func.count(func.distinct(Match.media_id))).where(
            Match.bank_entry_id.in_(entry_ids))) or 0)
    done_propagations = int(session.scalar(select(func.count()).select_from(Propagation).where(
        Propagation.bank_entry_id.in_(entry_ids), Propagation.status == PropagationStatus.DONE)) or 0) \
        if entry_ids else 0
    return Counts(
        removed=len(removed_items),
        removed_at=max((i.actioned_at for i in removed_items if i.actioned_at), default=None),
        copies_removed=len(copies), copies_removed_at=max((t for t in copies.values() if t), default=None),
        copies_pending=pending, reuploads_blocked=banks_service.refused_uploads(session=session, entry_ids=entry_ids),
        blocking_since=min((e.created_at for e in entries), default=None), matches=matches,
        search_done=done_propagations >= len(entry_ids))


def refresh(*, session: Session, clock: Clock, report: VictimReport) -> bool:
    """Update item outcomes from what the platform did. True when every removal is final and every copy searched."""
    if report.status != ReportStatus.ACTIONED:
        return True
    final = True
    for item in report.items:
        if item.kind != ItemKind.MESSAGE_LINK or item.outcome != ItemOutcome.PENDING:
            continue
        action = session.scalar(select(Action).where(Action.idempotency_key == removal_key(item.placement_id or 0)))
        if action is None:
            placement = session.get(Placement, item.placement_id) if item.placement_id else None
            if placement is not None and placement.status != PlacementStatus.LIVE:
                item.outcome, item.actioned_at = ItemOutcome.ALREADY_REMOVED, placement.status_changed_at
            else:
                final = False
            continue
        if action.status == ActionStatus.PENDING:
            final = False
            continue
        item.outcome = {ActionStatus.DONE: ItemOutcome.REMOVED, ActionStatus.NOT_FOUND: ItemOutcome.ALREADY_REMOVED,
                        ActionStatus.FAILED: ItemOutcome.FAILED}[action.status]
        item.actioned_at = action.completed_at
        if item.outcome == ItemOutcome.REMOVED and (report.actioned_at is None or (
                action.completed_at is not None and action.completed_at < report.actioned_at)):
            report.actioned_at = action.completed_at
    now = counts(session, report)
    return final and now.search_done and now.copies_pending == 0


def copy_search_record(session: Session, report: VictimReport, when: datetime) -> dict[str, Any]:
    """What was searched for and found, entry by entry, with times: the evidence of the effort to find every copy."""
    entries = report_entries(session, report)
    banks = {b.id: b.name for b in session.scalars(select(Bank).where(Bank.id.in_({e.bank_id for e in entries})))}
    props = {p.bank_entry_id: p for p in session.scalars(select(Propagation).where(
        Propagation.bank_entry_id.in_([e.id for e in entries])))}
    found = counts(session, report)
    rows = []
    for entry in entries:
        prop = props.get(entry.id)
        rows.append({"entry_id": entry.id, "bank": banks.get(entry.bank_id), "signal_type": entry.signal_type,
                     "value_sha256": entry.value_digest,
                     "media_found": prop.media_found if prop else 0,
                     "placements_actioned": prop.placements_actioned if prop else 0,
                     "started_at": prop.started_at.isoformat() if prop and prop.started_at else None,
                     "finished_at": prop.finished_at.isoformat() if prop and prop.finished_at else None})
    return {"recorded_at": when.isoformat(), "entries": rows, "reported_removed": found.removed,
            "copies_removed": found.copies_removed, "reuploads_blocked": found.reuploads_blocked}


def close(*, session: Session, clock: Clock, report: VictimReport) -> dict[str, Any]:
    """Every removal is final: keep the search for copies with the report and in the audit chain."""
    record = copy_search_record(session, report, clock.now())
    report.copy_search, report.closed_at = record, clock.now()
    if report.actioned_at is None:
        report.actioned_at = max((i.actioned_at for i in report.items if i.actioned_at), default=None)
    audit.record(session=session, clock=clock, actor="system:reports", action="report.copy_search",
                 object_type="victim_report", object_id=report.reference, data=record)
    return record


def view(session: Session, report: VictimReport) -> StatusOut:
    """The status link's content: the case number, the steps with their dates and counts."""
    steps = [StatusStep(key="received", done=True, at=report.received_at)]
    if report.status == ReportStatus.WITHDRAWN:
        steps.append(StatusStep(key="withdrawn", done=True, at=report.withdrawn_at))
        return StatusOut(case_number=report.reference, kind=report.kind, status=report.status,
                         received_at=report.received_at, deadline_at=None, steps=steps)
    found = counts(session, report)
    if report.kind == ReportKind.HASHES:
        files = sum(1 for i in report.items if i.kind == ItemKind.FILE_HASHES)
        steps += [StatusStep(key="hashes_active", done=True, at=found.blocking_since, count=files),
                  StatusStep(key="matches", done=found.matches > 0, count=found.matches)]
    else:
        steps.append(StatusStep(key="in_review", done=report.queued_at is not None, at=report.queued_at))
        if report.status == ReportStatus.DECLINED:
            steps.append(StatusStep(key="declined", done=True, at=report.reviewed_at))
        else:
            acted = report.status == ReportStatus.ACTIONED
            steps += [
                StatusStep(key="removed", done=acted and found.removed > 0, at=found.removed_at,
                           count=found.removed if acted else None),
                StatusStep(key="copies_removed", done=acted and report.closed_at is not None,
                           at=found.copies_removed_at or report.closed_at,
                           count=found.copies_removed if acted else None),
                StatusStep(key="reuploads_blocked", done=acted and found.blocking_since is not None,
                           at=found.blocking_since, count=found.reuploads_blocked if acted else None),
            ]
    return StatusOut(case_number=report.reference, kind=report.kind, status=report.status,
                     received_at=report.received_at,
                     deadline_at=report.deadline_at if report.status == ReportStatus.IN_REVIEW else None,
                     decline_reason=report.decline_reason, steps=steps)


__all__ = ["Counts", "close", "copy_search_record", "counts", "refresh", "view"]
