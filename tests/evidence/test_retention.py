"""Retention purges what is due and keeps what is held; every purge is recorded and can be checked afterwards."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select, update

from firebreak.audit import service as audit
from firebreak.audit.models import AuditEvent
from firebreak.bootstrap.system import System
from firebreak.core.clock import FakeClock
from firebreak.core.jobs.models import ScheduledTask
from firebreak.evidence.models import EvidencePurge, EvidenceRecord, HoldScope, RecordStatus, Trigger
from firebreak.evidence.service import PURGE_KEY, EvidenceError
from firebreak.media.models import Placement
from tests.evidence.conftest import bank_and_remove, days, post, records
from tests.support import RecordingPlatform, jpeg, scene


def placement_of(system: System, message: str) -> Placement:
    with system.db.sessions() as session:
        placement = session.scalar(select(Placement).where(Placement.message_external_id == message))
        assert placement is not None
        return placement


def status_by_message(system: System) -> dict[str, list[RecordStatus]]:
    with system.db.sessions() as session:
        rows = session.execute(select(Placement.message_external_id, EvidenceRecord.status)
                               .join(Placement, Placement.id == EvidenceRecord.placement_id)
                               .order_by(EvidenceRecord.id)).all()
    out: dict[str, list[RecordStatus]] = {}
    for message, status in rows:
        out.setdefault(message, []).append(status)
    return out


def run_daily_purge(system: System, clock: FakeClock, until: datetime) -> None:
    """Let time pass to ``until`` and run the purge job as the worker would (its job row, due daily)."""
    clock.set(until)
    system.runner.reconcile()


def test_retention_purges_what_is_due_and_keeps_what_is_held(system: System, platform: RecordingPlatform,
                                                              clock: FakeClock) -> None:
    start = clock.now()
    for n, (message, category) in enumerate((("a", None), ("b", "csam"), ("c", None), ("d", None), ("e", None))):
        data = jpeg(scene(100 + n))
        post(system, platform, f"chat-{message}", message, data, sender=f"sender-{message}")
        bank_and_remove(system, data, category=category)
    system.evidence.ensure_scheduled()  # what `serve` does at start: the daily purge gets its job row

    held_item = system.evidence.place_hold(actor="staff:1", scope=HoldScope.ITEM,
                                           subject=str(placement_of(system, "c").id),
                                           reason="Preservation letter from the Seoul cyber unit")
    held_account = system.evidence.place_hold(actor="staff:1", scope=HoldScope.ACCOUNT,
                                              subject=str(placement_of(system, "d").sender_id),
                                              reason="Account under investigation, case 77")
    held_chat = system.evidence.place_hold(actor="staff:1", scope=HoldScope.CHAT,
                                           subject=str(placement_of(system, "e").chat_id),
                                           reason="Group chat named in a police request")
    system.runner.reconcile()  # the holds' snapshots are preserved too
    assert status_by_message(system)["c"] == [RecordStatus.SEALED, RecordStatus.SEALED]  # removal + snapshot
    snapshot = [r for r in records(system) if r.trigger == Trigger.STAFF]
    # An item's snapshot names its message and sender, an account's its account, a chat's only the chat.
    assert {(r.placement_id is not None, r.account_id is not None) for r in snapshot} == {
        (True, True), (False, True), (False, False)}
    assert any(r.chat_id is not None and r.placement_id is None and r.account_id is None for r in snapshot)

    clock.set(start + days(80))  # before the holds run out, both are extended (90 more days)
    system.evidence.extend_hold(actor="staff:2", hold_id=held_item.id, reason="Renewed request")
    system.evidence.extend_hold(actor="staff:2", hold_id=held_account.id, reason="Renewed request")
    system.evidence.extend_hold(actor="staff:2", hold_id=held_chat.id, reason="Renewed request")

    run_daily_purge(system, clock, start + days(91))
    assert status_by_message(system) == {"a": [RecordStatus.PURGED], "b": [RecordStatus.SEALED],
                                         "c": [RecordStatus.SEALED, RecordStatus.SEALED],
                                         "d": [RecordStatus.SEALED], "e": [RecordStatus.SEALED]}
    purged = next(r for r in records(system) if r.status == RecordStatus.PURGED)
    assert purged.context_blob_key is None and purged.wrapped_key is None
    with pytest.raises(EvidenceError, match=r"was purged on .* \(default retention: 90 days\)"):
        system.evidence.open(actor="staff:1", uid=purged.uid, reason="too late")

    system.evidence.release_hold(actor="staff:1", hold_id=held_account.id, reason="Investigation closed")
    run_daily_purge(system, clock, start + days(101))
    assert status_by_message(system)["d"] == [RecordStatus.PURGED]
    assert status_by_message(system)["c"] == [RecordStatus.SEALED, RecordStatus.SEALED]

    run_daily_purge(system, clock, start + days(181))  # the item and chat holds ran out at day 170
    assert status_by_message(system)["c"] == [RecordStatus.PURGED, RecordStatus.PURGED]
    assert status_by_message(system)["e"] == [RecordStatus.PURGED]
    assert status_by_message(system)["b"] == [RecordStatus.SEALED]  # child sexual abuse material: a year

    run_daily_purge(system, clock, start + days(366))
    assert all(r.status == RecordStatus.PURGED for r in records(system))

    # Every purge is on record: what, when, under which rule; the audit chain still verifies.
    checks = system.evidence.purges()
    assert len(checks) == len(records(system)) and all(c.problem is None for c in checks)
    rules = {c.purge.record_uid: c.purge.rule for c in checks}
    csam = next(r for r in records(system) if r.category == "csam")
    assert rules[csam.uid] == "retention for csam: 365 days"
    with system.db.sessions() as session:
        assert audit.verify(session=session).ok
        purge_events = session.scalars(select(AuditEvent).where(AuditEvent.action == "evidence.purged")).all()
        assert sorted(e.object_id for e in purge_events) == sorted(rules)
        task = session.scalar(select(ScheduledTask).where(ScheduledTask.dedupe_key == PURGE_KEY))
        assert task is not None and task.due_at > clock.now()  # tomorrow's run is already a row


def test_a_file_shared_by_records_is_deleted_with_the_last(system: System, platform: RecordingPlatform,
                                                           clock: FakeClock) -> None:
    start = clock.now()
    data = jpeg(scene(120))
    post(system, platform, "c1", "m1", data, sender="s1")
    post(system, platform, "c2", "m2", data, sender="s2", seconds=5)
    bank_and_remove(system, data)
    clock.set(start + days(85))  # a hold placed late in the retention period runs 90 days from then
    system.evidence.place_hold(actor="staff:1", scope=HoldScope.ITEM, subject=str(placement_of(system, "m2").id),
                               reason="Kept for the prosecutor")
    system.runner.reconcile()
    clock.set(start + days(91))
    system.evidence.purge()
    assert status_by_message(system)["m1"] == [RecordStatus.PURGED]
    tombstone = system.evidence.purges()[0].purge
    assert tombstone.media_deleted is False and tombstone.media_sha256  # the held record still keeps the bytes
    held = [r for r in records(system) if r.status == RecordStatus.SEALED]
    assert len(held) == 2  # the removal of m2 and the hold's snapshot of it
    assert all(system.evidence.open(actor="staff:1", uid=r.uid, reason="Prosecutor's copy").media == data
               for r in held)


def test_a_purge_record_that_no_longer_matches_its_audit_event_is_named(system: System, platform: RecordingPlatform,
                                                                        clock: FakeClock) -> None:
    start = clock.now()
    data = jpeg(scene(130))
    post(system, platform, "c", "m", data)
    bank_and_remove(system, data)
    clock.set(start + days(95))
    system.evidence.purge()
    assert [c.problem for c in system.evidence.purges()] == [None]
    with system.db.transaction() as session:
        session.execute(update(EvidencePurge).values(rule="retention for csam: 365 days"))
    (check,) = system.evidence.purges()
    assert check.problem is not None and "different rule" in check.problem
    # Listing by period: the purge happened on day 95.
    assert system.evidence.purges(since=start + days(96)) == []
