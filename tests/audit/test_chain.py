"""The audit chain detects changes made behind the application's back, on both databases."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from firebreak.audit import service as audit
from firebreak.core.clock import FakeClock


def _write_events(session: Session, clock: FakeClock, n: int = 5) -> None:
    for i in range(n):
        clock.advance(timedelta(seconds=1))
        audit.record(session=session, clock=clock, actor="staff:1", action="order.created", object_type="order",
                     object_id=i, data={"i": i, "note": "zwölf €", "nested": {"b": 2, "a": [1, 2]}})
    session.flush()


def test_intact_chain_verifies(session: Session, clock: FakeClock) -> None:
    _write_events(session, clock)
    result = audit.verify(session=session)
    assert result.ok, result.problem
    assert result.events_checked == 5
    seq, head = audit.head(session=session)
    assert seq == 5 and head == result.head_hash


def test_events_chain_to_each_other(session: Session, clock: FakeClock) -> None:
    _write_events(session, clock, 3)
    rows = session.execute(text("SELECT seq, prev_hash, hash FROM audit_events ORDER BY seq")).all()
    assert rows[0].prev_hash == audit.GENESIS_HASH
    assert rows[1].prev_hash == rows[0].hash and rows[2].prev_hash == rows[1].hash


def test_update_behind_our_back_is_named(session: Session, clock: FakeClock) -> None:
    _write_events(session, clock)
    session.execute(text("UPDATE audit_events SET data = :d WHERE seq = 3"), {"d": '{"i":99}'})
    result = audit.verify(session=session)
    assert not result.ok
    assert result.first_bad_seq == 3
    assert "altered" in (result.problem or "")
    assert result.events_checked == 2


def test_update_of_actor_is_detected(session: Session, clock: FakeClock) -> None:
    _write_events(session, clock)
    session.execute(text("UPDATE audit_events SET actor = 'staff:2' WHERE seq = 4"))
    assert audit.verify(session=session).first_bad_seq == 4


def test_delete_behind_our_back_is_named(session: Session, clock: FakeClock) -> None:
    _write_events(session, clock)
    session.execute(text("DELETE FROM audit_events WHERE seq = 2"))
    result = audit.verify(session=session)
    assert not result.ok
    assert result.first_bad_seq == 3
    assert "missing" in (result.problem or "") and "#2" in (result.problem or "")


def test_inserted_row_is_named(session: Session, clock: FakeClock) -> None:
    _write_events(session, clock)
    # A forged event appended with raw SQL, claiming to follow event 5 but with a made-up hash.
    session.execute(text(
        "INSERT INTO audit_events (seq, occurred_at, actor, action, object_type, object_id, data, prev_hash, hash) "
        "VALUES (6, :t, 'system', 'order.deleted', 'order', '1', '{}', :p, :h)"),
        {"t": clock.now().replace(tzinfo=None), "p": "f" * 64, "h": "e" * 64})
    result = audit.verify(session=session)
    assert not result.ok and result.first_bad_seq == 6


def test_inserted_row_with_recomputed_hash_but_wrong_link_is_named(session: Session, clock: FakeClock) -> None:
    _write_events(session, clock)
    # Delete event 3 and put a forged event 3 in, hashed correctly but linked to a made-up predecessor.
    session.execute(text("DELETE FROM audit_events WHERE seq = 3"))
    when = clock.now()
    forged = audit.event_hash(seq=3, occurred_at=when, actor="system", action="x", object_type="order",
                              object_id="1", data="{}", prev_hash="a" * 64)
    session.execute(text(
        "INSERT INTO audit_events (seq, occurred_at, actor, action, object_type, object_id, data, prev_hash, hash) "
        "VALUES (3, :t, 'system', 'x', 'order', '1', '{}', :p, :h)"),
        {"t": when.replace(tzinfo=None), "p": "a" * 64, "h": forged})
    result = audit.verify(session=session)
    assert not result.ok
    # The forged row sits at the end in storage order; event 4 no longer follows event 2.
    assert result.first_bad_seq == 4


def test_truncated_tail_is_caught_by_anchored_head(session: Session, clock: FakeClock) -> None:
    _write_events(session, clock)
    _, anchored = audit.head(session=session)
    session.execute(text("DELETE FROM audit_events WHERE seq = 5"))
    assert audit.verify(session=session).ok  # the chain alone cannot see a cut tail...
    result = audit.verify(session=session, expected_head=anchored)
    assert not result.ok and "anchored head" in (result.problem or "")  # ...the anchored head can


def test_an_anchored_head_still_verifies_after_more_events(session: Session, clock: FakeClock) -> None:
    # An evidence package carries the head of its export; the live chain goes on growing after it.
    _write_events(session, clock, 3)
    _, anchored = audit.head(session=session)
    _write_events(session, clock, 4)
    assert audit.verify(session=session, expected_head=anchored).ok
    assert not audit.verify(session=session, expected_head="f" * 64).ok  # a head this chain never had
    session.execute(text("UPDATE audit_events SET data = '{}' WHERE seq = 2"))
    assert not audit.verify(session=session, expected_head=anchored).ok  # rewritten before the anchor


def test_record_many_chains_like_record(session: Session, clock: FakeClock) -> None:
    _write_events(session, clock, 2)
    audit.record_many(session=session, clock=clock, events=[
        audit.PendingEvent("system", "action.done", "action", i, {"i": i}) for i in range(5)])
    _write_events(session, clock, 1)
    result = audit.verify(session=session)
    assert result.ok and result.events_checked == 8
    session.execute(text("UPDATE audit_events SET data = '{}' WHERE seq = 5"))
    assert audit.verify(session=session).first_bad_seq == 5
