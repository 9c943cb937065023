"""The index change log: every process's indexes follow it, start from the host's snapshot and catch up, and pick up
withdrawals, re-enabled entries and rehashed media that an id-ordered read would never see again."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from firebreak.banks import service as banks
from firebreak.banks.models import Bank, BankEntry, EntryStatus, MatchAction, Provenance
from firebreak.banks.schemas import BankCreate
from firebreak.bootstrap.system import System, build_system
from firebreak.core.config import load_settings
from firebreak.matching.flows import IndexKeeper, IndexKeeperDeps
from firebreak.matching.index import HammingIndex
from firebreak.matching.models import IndexChange
from firebreak.matching.service import IndexSet
from firebreak.matching.snapshots import BANK_FILE, SnapshotStore
from firebreak.media.models import HashStatus, Media, MediaKind
from firebreak.platform.schemas import ScanSignalsRequest, Verdict
from firebreak.schema.migrate import upgrade
from tests.conftest import DatabaseFactory

PDQ_A = "f" * 32 + "0" * 32
PDQ_B = "0" * 32 + "f" * 32
PDQ_C = "a5" * 32


def _bank(system: System) -> int:
    with system.db.transaction() as session:
        return banks.create_bank(session=session, clock=system.clock, actor="test",
                                 data=BankCreate(name="known", action=MatchAction.BLOCK)).id


def _entry(system: System, bank_id: int, signal_type: str, value: str) -> int:
    with system.db.transaction() as session:
        bank = session.get(Bank, bank_id)
        assert bank is not None
        entries, _ = banks.add_entries(session=session, clock=system.clock, actor="test", bank=bank,
                                       entries=[banks.EntryInput(signal_type, value, quality=90)],
                                       provenance=Provenance.IMPORT)
        return entries[0].id


def _status(system: System, entry_id: int, status: EntryStatus) -> None:
    with system.db.transaction() as session:
        entry = session.get(BankEntry, entry_id)
        assert entry is not None
        banks.set_entry_status(session=session, clock=system.clock, actor="test", entry=entry, status=status)


def _media(system: System, pdq: str, *, seed: int) -> int:
    with system.db.transaction() as session:
        media = Media(sha256=hashlib.sha256(str(seed).encode()).hexdigest(), kind=MediaKind.IMAGE, pdq=pdq,
                      pdq_quality=90, hash_status=HashStatus.HASHED, created_at=system.clock.now())
        session.add(media)
        session.flush()
        return media.id


def _follow(system: System, indexes: IndexSet) -> None:
    with system.db.sessions() as session:
        indexes.sync(session, force=True)


def _bank_hits(indexes: IndexSet, pdq: str) -> list[int]:
    return [i for i, _ in indexes.bank.range_search(pdq, 0)[0]]


def _media_hits(indexes: IndexSet, pdq: str) -> list[int]:
    return [i for i, _ in indexes.media.range_search(pdq, 0)[0]]


def _another_process(tmp_path: Path | None = None) -> IndexSet:
    """What another process has: indexes of its own (optionally on a host's snapshot folder), nothing shared."""
    return IndexSet(snapshots=SnapshotStore(tmp_path, verify=True) if tmp_path else None)


def test_withdrawn_and_re_enabled_entries_reach_another_process(system: System) -> None:
    bank_id = _bank(system)
    other = _another_process()
    entry = _entry(system, bank_id, "pdq", PDQ_A)
    _follow(system, other)
    assert _bank_hits(other, PDQ_A) == [entry]
    _status(system, entry, EntryStatus.WITHDRAWN)
    _follow(system, other)
    assert _bank_hits(other, PDQ_A) == []  # gone from the index, not only refused by the database
    _status(system, entry, EntryStatus.ACTIVE)
    _follow(system, other)
    assert _bank_hits(other, PDQ_A) == [entry]


def test_a_rehashed_media_item_is_found_by_its_new_value(system: System) -> None:
    other = _another_process()
    media_id = _media(system, PDQ_A, seed=1)
    _follow(system, other)
    assert _media_hits(other, PDQ_A) == [media_id]
    with system.db.transaction() as session:  # what `firebreak banks rehash` does to a stored value
        media = session.get(Media, media_id)
        assert media is not None
        media.pdq = PDQ_B
    _follow(system, other)
    assert _media_hits(other, PDQ_A) == [] and _media_hits(other, PDQ_B) == [media_id]


def test_changes_to_fields_no_index_reads_are_not_logged(system: System) -> None:
    bank_id = _bank(system)
    entry = _entry(system, bank_id, "pdq", PDQ_A)
    with system.db.sessions() as session:
        before = session.scalar(select(func.count()).select_from(IndexChange))
    with system.db.transaction() as session:
        row = session.get(BankEntry, entry)
        assert row is not None
        row.note, row.blocked_uploads = "seen in a report", 3
    with system.db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(IndexChange)) == before


def test_a_process_starts_from_the_snapshot_and_catches_up_from_the_log(system: System, tmp_path: Path) -> None:
    bank_id = _bank(system)
    first = _entry(system, bank_id, "pdq", PDQ_A)
    exact = _entry(system, bank_id, "md5", "1" * 32)
    media_id = _media(system, PDQ_C, seed=2)
    writer = _another_process(tmp_path)
    _follow(system, writer)
    keeper = IndexKeeper(IndexKeeperDeps(db=system.db, indexes=writer))
    position = keeper.write_snapshot()
    assert writer.source == "snapshot" and writer.loaded is not None and writer.loaded.position == position
    # After the snapshot: a new entry, and the first one withdrawn.
    second = _entry(system, bank_id, "pdq", PDQ_B)
    _status(system, first, EntryStatus.WITHDRAWN)

    starting = _another_process(tmp_path)
    _follow(system, starting)
    assert starting.source == "snapshot"  # not rebuilt from the database
    assert starting.changes_applied >= 2  # caught up from the log
    assert _bank_hits(starting, PDQ_A) == [] and _bank_hits(starting, PDQ_B) == [second]
    assert _media_hits(starting, PDQ_C) == [media_id]
    assert banks.value_digest("1" * 32) in starting.exact and exact > first
    keeper.deps.indexes.snapshots.release()  # type: ignore[union-attr]


def test_a_new_snapshot_is_picked_up_by_the_other_processes_of_the_host(system: System, tmp_path: Path) -> None:
    bank_id = _bank(system)
    _entry(system, bank_id, "pdq", PDQ_A)
    writer, reader = _another_process(tmp_path), _another_process(tmp_path)
    _follow(system, writer)
    keeper = IndexKeeper(IndexKeeperDeps(db=system.db, indexes=writer, snapshot_rows=1))
    keeper.write_snapshot()
    _follow(system, reader)
    assert reader.source == "snapshot"
    later = _entry(system, bank_id, "pdq", PDQ_B)
    _follow(system, writer)
    _follow(system, reader)
    assert reader.bank.stats().delta_rows == 1  # the new entry sits in the reader's own delta
    keeper.maintain()  # the writer's timer: one row outside the snapshot is enough here
    assert keeper._writing is not None
    keeper._writing.join(30)
    assert keeper.snapshots_written == 2
    with system.db.sessions() as session:
        assert reader.reload_if_newer(session)
    assert reader.bank.stats().delta_rows == 0 and reader.bank.stats().main_rows == 2  # folded into the new file
    assert _bank_hits(reader, PDQ_B) == [later]
    assert not SnapshotStore(tmp_path).try_lock()  # the lock is the writer's while it lives
    writer.snapshots.release()  # type: ignore[union-attr]
    assert SnapshotStore(tmp_path).try_lock()


def test_a_snapshot_older_than_the_log_kept_is_not_used(system: System, tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    bank_id = _bank(system)
    first = _entry(system, bank_id, "pdq", PDQ_A)
    writer = _another_process(tmp_path)
    _follow(system, writer)
    keeper = IndexKeeper(IndexKeeperDeps(db=system.db, indexes=writer, log_keep=1))
    keeper.write_snapshot()
    writer.snapshots.release()  # type: ignore[union-attr]
    _status(system, first, EntryStatus.WITHDRAWN)
    _entry(system, bank_id, "pdq", PDQ_B)
    _entry(system, bank_id, "pdq", PDQ_C)
    assert keeper.trim_log() > 0  # the withdrawal's change is gone from the log
    starting = _another_process(tmp_path)
    with caplog.at_level(logging.WARNING):
        _follow(system, starting)
    assert starting.source == "database" and "older than the change log kept" in caplog.text
    assert _bank_hits(starting, PDQ_A) == []


def test_a_damaged_snapshot_is_not_used(system: System, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    bank_id = _bank(system)
    entry = _entry(system, bank_id, "pdq", PDQ_A)
    writer = _another_process(tmp_path)
    _follow(system, writer)
    IndexKeeper(IndexKeeperDeps(db=system.db, indexes=writer)).write_snapshot()
    writer.snapshots.release()  # type: ignore[union-attr]
    raw = bytearray((tmp_path / BANK_FILE).read_bytes())
    raw[300] ^= 0x01
    (tmp_path / BANK_FILE).write_bytes(bytes(raw))
    starting = _another_process(tmp_path)
    with caplog.at_level(logging.WARNING):
        _follow(system, starting)
    assert starting.source == "database" and "checksum mismatch" in caplog.text
    assert _bank_hits(starting, PDQ_A) == [entry]


def test_a_snapshot_ahead_of_the_database_belongs_to_another_one(system: System, tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    assert store.try_lock()
    store.write(indexes={"bank": HammingIndex.from_arrays([1], [PDQ_A]), "media": HammingIndex(),
                         "media_upscaled": HammingIndex()}, exact=np.empty(0, np.uint64), position=10**12)
    store.release()
    starting = _another_process(tmp_path)
    _follow(system, starting)
    assert starting.source == "database" and _bank_hits(starting, PDQ_A) == []


def test_the_first_upload_check_of_a_process_builds_its_indexes(tmp_path: Path, backend: str,
                                                                databases: DatabaseFactory) -> None:
    """Upload checks read without a transaction; a process whose first work is one still builds its indexes."""
    settings = load_settings(environ={}, data_dir=tmp_path / "var", queue_url="memory://",
                             database_url=databases.new_url(backend))
    setup = build_system(settings)
    upgrade(setup.db.engine)
    bank_id = _bank(setup)
    _entry(setup, bank_id, "pdq", PDQ_A)
    fresh = build_system(settings)
    try:
        request = ScanSignalsRequest(signals=[{"signal_type": "pdq", "value": PDQ_A, "quality": 90}])
        assert fresh.gateway.scan_signals(request).verdict == Verdict.BLOCK
        assert fresh.indexes.source == "database" and len(fresh.indexes.bank) == 1
    finally:
        fresh.close()
        setup.close()
