"""Matching media against banks, and finding existing copies of a bank entry.

Two Hamming indexes per process, one engine (:class:`HammingIndex`): the bank index
(PDQ of active bank entries, by entry id) and the platform media index (PDQ of every
matchable media item, by media id). The indexes only propose candidates; every hit is
checked against the database (entry active, bank enabled, within the bank's distance,
in scope), so a withdrawn entry stops matching the moment its row changes, whatever the
index holds. New rows reach the index by incremental sync, at most ``SYNC_INTERVAL``
after they commit (the issue asks for one second).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from firebreak.banks.models import Bank, BankEntry, EntryStatus, MatchAction
from firebreak.banks.service import find_entries
from firebreak.matching.index import HammingIndex
from firebreak.media.models import HashStatus, Media, MediaKind
from firebreak.signals.pdq import PDQ_MIN_QUALITY, hamming_distance

SYNC_INTERVAL = 0.5
MAX_QUERY_RADIUS = 64
SYNC_BATCH = 50_000


@dataclass(frozen=True)
class Hit:
    """One bank entry that a piece of media matches."""

    entry_id: int
    bank_id: int
    bank_name: str
    action: MatchAction
    signal_type: str
    distance: int


class IndexSet:
    """This process's bank and media indexes, kept in step with the database."""

    def __init__(self) -> None:
        self.bank = HammingIndex()
        self.media = HammingIndex()
        self._lock = threading.Lock()
        self._last_entry_id = 0
        self._last_media_id = 0
        self._last_sync = 0.0
        self._radius = 31

    @property
    def radius(self) -> int:
        return self._radius

    def sync(self, session: Session, *, force: bool = False) -> None:
        """Add entries and media committed since the last sync (cheap when nothing is new)."""
        if not force and time.monotonic() - self._last_sync < SYNC_INTERVAL:
            return
        with self._lock:
            self._sync_entries(session)
            self._sync_media(session)
            self._radius = min(MAX_QUERY_RADIUS, int(session.scalar(select(func.max(Bank.pdq_distance))) or 31))
            self._last_sync = time.monotonic()

    def _sync_entries(self, session: Session) -> None:
        while True:
            rows = session.execute(
                select(BankEntry.id, BankEntry.value).where(
                    BankEntry.id > self._last_entry_id, BankEntry.signal_type == "pdq",
                    BankEntry.status == EntryStatus.ACTIVE)
                .order_by(BankEntry.id).limit(SYNC_BATCH)).all()
            top = session.scalar(select(func.max(BankEntry.id))) or 0
            if rows:
                self.bank.add([r.id for r in rows], [r.value for r in rows])
            if len(rows) < SYNC_BATCH:
                self._last_entry_id = max(self._last_entry_id, top)
                return
            self._last_entry_id = rows[-1].id

    def _sync_media(self, session: Session) -> None:
        while True:
            rows = session.execute(
                select(Media.id, Media.pdq).where(
                    Media.id > self._last_media_id, Media.pdq.is_not(None), Media.kind == MediaKind.IMAGE,
                    Media.pdq_quality >= PDQ_MIN_QUALITY, Media.hash_status == HashStatus.HASHED)
                .order_by(Media.id).limit(SYNC_BATCH)).all()
            if rows:
                self.media.add([r.id for r in rows], [r.pdq for r in rows])
            if len(rows) < SYNC_BATCH:
                if rows:
                    self._last_media_id = rows[-1].id
                return
            self._last_media_id = rows[-1].id

    def note_entry(self, entry_id: int, pdq: str) -> None:
        """Make a just-written entry searchable at once in this process."""
        self.bank.add([entry_id], [pdq])

    def note_media(self, media_id: int, pdq: str) -> None:
        self.media.add([media_id], [pdq])


def _in_scope(bank: Bank, jurisdiction: str | None) -> bool:
    return not bank.jurisdictions or jurisdiction is None or jurisdiction in bank.jurisdictions


def match_signals(
    *,
    session: Session,
    indexes: IndexSet,
    sha256: str | None = None,
    md5: str | None = None,
    pdq_queries: Sequence[str] = (),
    jurisdiction: str | None = None,
) -> list[Hit]:
    """Every active entry in an enabled, in-scope bank that these signals match, closest first.

    ``pdq_queries`` are the query's PDQ hashes: for an image its eight rotations and mirrors, so
    turned and mirrored copies match. Low-quality PDQ must be left out by the caller.
    """
    found: dict[int, tuple[BankEntry, str, int]] = {}
    for signal_type, value in (("sha256", sha256), ("md5", md5)):
        if value:
            for entry in find_entries(session=session, signal_type=signal_type, values=[value.lower()]):
                found[entry.id] = (entry, signal_type, 0)
    if pdq_queries:
        indexes.sync(session)
        best: dict[int, int] = {}
        for hits in indexes.bank.range_search(list(pdq_queries), indexes.radius):
            for entry_id, distance in hits:
                if distance < best.get(entry_id, 1 << 30):
                    best[entry_id] = distance
        if best:
            for entry in session.scalars(select(BankEntry).where(BankEntry.id.in_(list(best)))):
                if entry.id not in found:
                    found[entry.id] = (entry, "pdq", best[entry.id])
    return _checked(session, found.values(), jurisdiction)


def _checked(session: Session, candidates: Iterable[tuple[BankEntry, str, int]], jurisdiction: str | None
             ) -> list[Hit]:
    out: list[Hit] = []
    banks: dict[int, Bank] = {}
    for entry, signal_type, distance in candidates:
        if entry.status != EntryStatus.ACTIVE:
            continue
        bank = banks.get(entry.bank_id) or session.get(Bank, entry.bank_id)
        if bank is None:
            continue
        banks[bank.id] = bank
        if not bank.enabled or not _in_scope(bank, jurisdiction):
            continue
        if signal_type == "pdq":
            if distance > bank.pdq_distance:
                continue
            if entry.quality is not None and entry.quality < PDQ_MIN_QUALITY:
                continue
        out.append(Hit(entry.id, bank.id, bank.name, bank.action, signal_type, distance))
    out.sort(key=lambda h: (h.distance, h.entry_id))
    return out


def media_matching_entry(
    *, session: Session, indexes: IndexSet, entry: BankEntry, radius: int
) -> list[tuple[int, int]]:
    """(media id, distance) of every media item already seen that this entry matches, by media id."""
    if entry.signal_type == "sha256":
        ids = session.scalars(select(Media.id).where(Media.sha256 == entry.value)).all()
        return [(i, 0) for i in ids]
    if entry.signal_type == "md5":
        ids = session.scalars(select(Media.id).where(Media.md5 == entry.value)).all()
        return sorted((i, 0) for i in ids)
    if entry.signal_type == "pdq":
        if entry.quality is not None and entry.quality < PDQ_MIN_QUALITY:
            return []
        indexes.sync(session, force=True)
        queries = [entry.value, *[q for q in entry.extra.get("dihedral", []) if isinstance(q, str)]]
        best: dict[int, int] = {}
        for hits in indexes.media.range_search(queries, radius):
            for media_id, distance in hits:
                best[media_id] = min(distance, best.get(media_id, 1 << 30))
        return sorted(best.items())
    return []


def pdq_distance(a: str, b: str) -> int:
    return hamming_distance(a, b)
