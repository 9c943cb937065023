"""Upload checks answered from memory: exact bank values (SHA-256, MD5) are kept beside the PDQ index, so a miss
needs no database, while every hit is still decided by the database (a withdrawn entry stops matching at once)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import func, select

from firebreak.banks import service as banks
from firebreak.banks.models import BankEntry, EntryStatus, MatchAction, Provenance
from firebreak.banks.schemas import BankCreate
from firebreak.bootstrap.system import System
from firebreak.matching import service as matching
from firebreak.matching.service import ExactFilter
from firebreak.platform.schemas import ScanSignalsRequest, Verdict

BANKED_SHA = hashlib.sha256(b"banked").hexdigest()
OTHER_SHA = hashlib.sha256(b"not banked").hexdigest()
BANKED_PDQ = "f" * 32 + "0" * 32


def _request(**signals: str) -> ScanSignalsRequest:
    return ScanSignalsRequest(signals=[{"signal_type": k, "value": v, "quality": 90} if k == "pdq"
                                       else {"signal_type": k, "value": v} for k, v in signals.items()])


@pytest.fixture
def bank_id(system: System) -> int:
    with system.db.transaction() as session:
        return banks.create_bank(session=session, clock=system.clock, actor="test",
                                 data=BankCreate(name="known", action=MatchAction.BLOCK)).id


def _bank(system: System, bank_id: int, signal_type: str, value: str) -> int:
    with system.db.transaction() as session:
        bank = session.get(banks.Bank, bank_id)
        assert bank is not None
        entries, _ = banks.add_entries(session=session, clock=system.clock, actor="test", bank=bank,
                                       entries=[banks.EntryInput(signal_type, value)], provenance=Provenance.IMPORT)
        return entries[0].id


def _set_status(system: System, entry_id: int, status: EntryStatus) -> None:
    with system.db.transaction() as session:
        entry = session.get(BankEntry, entry_id)
        assert entry is not None
        banks.set_entry_status(session=session, clock=system.clock, actor="test", entry=entry, status=status)


@contextmanager
def _without_database(system: System) -> Iterator[None]:
    """Opening a session fails inside: what runs there needs no database."""

    def refuse(*_: Any, **__: Any) -> Any:
        raise AssertionError("the database was used")

    sessions = system.db.sessions
    object.__setattr__(system.db, "sessions", refuse)  # the Database is frozen; this test swaps its factory
    try:
        yield
    finally:
        object.__setattr__(system.db, "sessions", sessions)


def test_withdrawn_exact_entry_stops_matching_at_once(system: System, bank_id: int) -> None:
    entry_id = _bank(system, bank_id, "sha256", BANKED_SHA)
    assert system.gateway.scan_signals(_request(sha256=BANKED_SHA)).verdict == Verdict.BLOCK
    _set_status(system, entry_id, EntryStatus.WITHDRAWN)
    # The filter still holds the value: the answer comes from the database, which says it is withdrawn.
    assert system.gateway.scan_signals_in_memory(_request(sha256=BANKED_SHA)) is None
    assert system.gateway.scan_signals(_request(sha256=BANKED_SHA)).verdict == Verdict.ALLOW
    _set_status(system, entry_id, EntryStatus.ACTIVE)
    assert system.gateway.scan_signals(_request(sha256=BANKED_SHA)).verdict == Verdict.BLOCK


def test_a_miss_is_answered_without_the_database(system: System, bank_id: int) -> None:
    _bank(system, bank_id, "sha256", BANKED_SHA)
    _bank(system, bank_id, "pdq", BANKED_PDQ)
    assert system.gateway.scan_signals(_request(sha256=OTHER_SHA)).verdict == Verdict.ALLOW  # syncs the indexes
    miss = _request(sha256=OTHER_SHA, md5="0" * 32, pdq="0" * 64)
    with _without_database(system):
        answer = system.gateway.scan_signals_in_memory(miss)
        near = system.gateway.scan_signals_in_memory(_request(pdq="f" * 31 + "e" + "0" * 32))
        banked = system.gateway.scan_signals_in_memory(_request(sha256=BANKED_SHA))
    assert answer is not None and answer.verdict == Verdict.ALLOW and answer.matches == []
    assert near is None and banked is None  # candidates: the database decides
    assert system.gateway.scan_signals(miss).verdict == Verdict.ALLOW


def test_entry_banked_in_this_process_matches_at_once(system: System, bank_id: int,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(matching, "SYNC_INTERVAL", 3600.0)  # only this process's commit can prompt the sync
    assert system.gateway.scan_signals(_request(md5="1" * 32)).verdict == Verdict.ALLOW  # the indexes are now fresh
    _bank(system, bank_id, "md5", "1" * 32)
    _bank(system, bank_id, "pdq", BANKED_PDQ)
    assert system.gateway.scan_signals_in_memory(_request(md5="1" * 32)) is None
    assert system.gateway.scan_signals(_request(md5="1" * 32)).verdict == Verdict.BLOCK
    assert system.gateway.scan_signals(_request(pdq=BANKED_PDQ)).verdict == Verdict.BLOCK


def test_entry_disabled_when_first_seen_matches_once_enabled(system: System, bank_id: int) -> None:
    pdq_id = _bank(system, bank_id, "pdq", BANKED_PDQ)
    sha_id = _bank(system, bank_id, "sha256", BANKED_SHA)
    _set_status(system, pdq_id, EntryStatus.DISABLED)
    _set_status(system, sha_id, EntryStatus.DISABLED)
    assert system.gateway.scan_signals(_request(pdq=BANKED_PDQ, sha256=BANKED_SHA)).verdict == Verdict.ALLOW
    _set_status(system, pdq_id, EntryStatus.ACTIVE)
    assert system.gateway.scan_signals(_request(pdq=BANKED_PDQ)).verdict == Verdict.BLOCK
    _set_status(system, sha_id, EntryStatus.ACTIVE)
    assert system.gateway.scan_signals(_request(sha256=BANKED_SHA)).verdict == Verdict.BLOCK


def test_entries_committed_out_of_id_order_are_found(system: System, bank_id: int,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """On PostgreSQL a transaction can commit a lower id after a higher one was read; the next sync finds it."""
    monkeypatch.setattr(matching, "SYNC_INTERVAL", 3600.0)
    with system.db.transaction() as session:
        base = int(session.scalar(select(func.max(BankEntry.id))) or 0) + 1000

    def insert(entry_id: int, value: str) -> None:
        with system.db.transaction() as session:
            session.add(BankEntry(id=entry_id, bank_id=bank_id, signal_type="sha256", value=value,
                                  value_digest=banks.value_digest(value), status=EntryStatus.ACTIVE,
                                  provenance=Provenance.IMPORT, extra={}, created_at=system.clock.now()))

    insert(base + 20, BANKED_SHA)
    assert system.gateway.scan_signals(_request(sha256=BANKED_SHA)).verdict == Verdict.BLOCK
    insert(base + 10, OTHER_SHA)
    assert system.gateway.scan_signals(_request(sha256=OTHER_SHA)).verdict == Verdict.BLOCK


def test_exact_filter_holds_what_was_added() -> None:
    values = ExactFilter()
    digests = [banks.value_digest(hashlib.md5(str(i).encode(), usedforsecurity=False).hexdigest())
               for i in range(10_000)]
    values.add(digests[:10])
    assert digests[3] in values and digests[20] not in values
    values.add(digests[10:])  # past the small set: merged into the sorted array
    assert len(values) == 10_000
    assert all(d in values for d in digests[::97])
    assert banks.value_digest("0" * 32) not in values
