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
from firebreak.matching import service as matching
from firebreak.matching.service import ExactFilter
from firebreak.platform.gateway import scan_signals, scan_signals_in_memory
from firebreak.platform.schemas import ScanSignalsRequest, Verdict
from firebreak.runtime import Runtime

BANKED_SHA = hashlib.sha256(b"banked").hexdigest()
OTHER_SHA = hashlib.sha256(b"not banked").hexdigest()
BANKED_PDQ = "f" * 32 + "0" * 32


def _request(**signals: str) -> ScanSignalsRequest:
    return ScanSignalsRequest(signals=[{"signal_type": k, "value": v, "quality": 90} if k == "pdq"
                                       else {"signal_type": k, "value": v} for k, v in signals.items()])


@pytest.fixture
def bank_id(runtime: Runtime) -> int:
    with runtime.transaction() as session:
        return banks.create_bank(session=session, clock=runtime.clock, actor="test",
                                 data=BankCreate(name="known", action=MatchAction.BLOCK)).id


def _bank(runtime: Runtime, bank_id: int, signal_type: str, value: str) -> int:
    with runtime.transaction() as session:
        bank = session.get(banks.Bank, bank_id)
        assert bank is not None
        entries, _ = banks.add_entries(session=session, clock=runtime.clock, actor="test", bank=bank,
                                       entries=[banks.EntryInput(signal_type, value)], provenance=Provenance.IMPORT)
        return entries[0].id


def _set_status(runtime: Runtime, entry_id: int, status: EntryStatus) -> None:
    with runtime.transaction() as session:
        entry = session.get(BankEntry, entry_id)
        assert entry is not None
        banks.set_entry_status(session=session, clock=runtime.clock, actor="test", entry=entry, status=status)


@contextmanager
def _without_database(runtime: Runtime) -> Iterator[None]:
    """Opening a session fails inside: what runs there needs no database."""

    def refuse(*_: Any, **__: Any) -> Any:
        raise AssertionError("the database was used")

    sessions = runtime.sessions
    runtime.sessions = refuse  # type: ignore[assignment]
    try:
        yield
    finally:
        runtime.sessions = sessions


def test_withdrawn_exact_entry_stops_matching_at_once(runtime: Runtime, bank_id: int) -> None:
    entry_id = _bank(runtime, bank_id, "sha256", BANKED_SHA)
    assert scan_signals(runtime, _request(sha256=BANKED_SHA)).verdict == Verdict.BLOCK
    _set_status(runtime, entry_id, EntryStatus.WITHDRAWN)
    # The filter still holds the value: the answer comes from the database, which says it is withdrawn.
    assert scan_signals_in_memory(runtime, _request(sha256=BANKED_SHA)) is None
    assert scan_signals(runtime, _request(sha256=BANKED_SHA)).verdict == Verdict.ALLOW
    _set_status(runtime, entry_id, EntryStatus.ACTIVE)
    assert scan_signals(runtime, _request(sha256=BANKED_SHA)).verdict == Verdict.BLOCK


def test_a_miss_is_answered_without_the_database(runtime: Runtime, bank_id: int) -> None:
    _bank(runtime, bank_id, "sha256", BANKED_SHA)
    _bank(runtime, bank_id, "pdq", BANKED_PDQ)
    assert scan_signals(runtime, _request(sha256=OTHER_SHA)).verdict == Verdict.ALLOW  # syncs the indexes
    miss = _request(sha256=OTHER_SHA, md5="0" * 32, pdq="0" * 64)
    with _without_database(runtime):
        answer = scan_signals_in_memory(runtime, miss)
        near = scan_signals_in_memory(runtime, _request(pdq="f" * 31 + "e" + "0" * 32))
        banked = scan_signals_in_memory(runtime, _request(sha256=BANKED_SHA))
    assert answer is not None and answer.verdict == Verdict.ALLOW and answer.matches == []
    assert near is None and banked is None  # candidates: the database decides
    assert scan_signals(runtime, miss).verdict == Verdict.ALLOW


def test_entry_banked_in_this_process_matches_at_once(runtime: Runtime, bank_id: int,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(matching, "SYNC_INTERVAL", 3600.0)  # only this process's commit can prompt the sync
    assert scan_signals(runtime, _request(md5="1" * 32)).verdict == Verdict.ALLOW  # the indexes are now fresh
    _bank(runtime, bank_id, "md5", "1" * 32)
    _bank(runtime, bank_id, "pdq", BANKED_PDQ)
    assert scan_signals_in_memory(runtime, _request(md5="1" * 32)) is None
    assert scan_signals(runtime, _request(md5="1" * 32)).verdict == Verdict.BLOCK
    assert scan_signals(runtime, _request(pdq=BANKED_PDQ)).verdict == Verdict.BLOCK


def test_entry_disabled_when_first_seen_matches_once_enabled(runtime: Runtime, bank_id: int) -> None:
    pdq_id = _bank(runtime, bank_id, "pdq", BANKED_PDQ)
    sha_id = _bank(runtime, bank_id, "sha256", BANKED_SHA)
    _set_status(runtime, pdq_id, EntryStatus.DISABLED)
    _set_status(runtime, sha_id, EntryStatus.DISABLED)
    assert scan_signals(runtime, _request(pdq=BANKED_PDQ, sha256=BANKED_SHA)).verdict == Verdict.ALLOW
    _set_status(runtime, pdq_id, EntryStatus.ACTIVE)
    assert scan_signals(runtime, _request(pdq=BANKED_PDQ)).verdict == Verdict.BLOCK
    _set_status(runtime, sha_id, EntryStatus.ACTIVE)
    assert scan_signals(runtime, _request(sha256=BANKED_SHA)).verdict == Verdict.BLOCK


def test_entries_committed_out_of_id_order_are_found(runtime: Runtime, bank_id: int,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """On PostgreSQL a transaction can commit a lower id after a higher one was read; the next sync finds it."""
    monkeypatch.setattr(matching, "SYNC_INTERVAL", 3600.0)
    with runtime.transaction() as session:
        base = int(session.scalar(select(func.max(BankEntry.id))) or 0) + 1000

    def insert(entry_id: int, value: str) -> None:
        with runtime.transaction() as session:
            session.add(BankEntry(id=entry_id, bank_id=bank_id, signal_type="sha256", value=value,
                                  value_digest=banks.value_digest(value), status=EntryStatus.ACTIVE,
                                  provenance=Provenance.IMPORT, extra={}, created_at=runtime.clock.now()))

    insert(base + 20, BANKED_SHA)
    assert scan_signals(runtime, _request(sha256=BANKED_SHA)).verdict == Verdict.BLOCK
    insert(base + 10, OTHER_SHA)
    assert scan_signals(runtime, _request(sha256=OTHER_SHA)).verdict == Verdict.BLOCK


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
