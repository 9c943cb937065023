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

import numpy as np
import numpy.typing as npt
from sqlalchemy import Row, Select, and_, case, event, func, or_, select
from sqlalchemy.orm import Session

from firebreak.banks.models import Bank, BankEntry, EntryStatus, MatchAction
from firebreak.banks.service import value_digest
from firebreak.matching.index import HammingIndex
from firebreak.media.models import HashStatus, Media, MediaKind
from firebreak.signals.pdq import PDQ_MIN_QUALITY, hamming_distance

SYNC_INTERVAL = 0.5
MAX_QUERY_RADIUS = 64
SYNC_BATCH = 50_000
GAP_SECONDS = 600.0
MAX_GAPS = 10_000
EXACT_TYPES = ("sha256", "md5")


@dataclass(frozen=True)
class Hit:
    """One bank entry that a piece of media matches."""

    entry_id: int
    bank_id: int
    bank_name: str
    action: MatchAction
    signal_type: str
    distance: int


class ExactFilter:
    """The exact-hash (SHA-256, MD5) bank values this process has seen, as 64-bit prefixes of their value digests.

    Every entry is kept, whatever its status or bank: a value that is not here is certainly not banked (as of
    the last sync), one that is here is looked up in the database, which decides. Lookups take no lock: a sorted
    array plus a small set of recent additions, each swapped whole.
    """

    def __init__(self) -> None:
        self._main: npt.NDArray[np.uint64] = np.empty(0, dtype=np.uint64)
        self._recent: frozenset[int] = frozenset()

    @staticmethod
    def key(digest: str) -> int:
        return int(digest[:16], 16)

    def __len__(self) -> int:
        return int(self._main.shape[0]) + len(self._recent)

    def __contains__(self, digest: str) -> bool:
        key = self.key(digest)
        if key in self._recent:
            return True
        main = self._main
        at = int(np.searchsorted(main, np.uint64(key)))
        return at < main.shape[0] and int(main[at]) == key

    def add(self, digests: Iterable[str]) -> None:
        """Add values (callers serialise writes)."""
        keys = {self.key(d) for d in digests}
        if len(self._recent) + len(keys) < 4096:
            self._recent = self._recent | keys
            return
        added = np.fromiter(self._recent | keys, dtype=np.uint64)
        self._main = np.union1d(self._main, added)
        self._recent = frozenset()


class _IdFeed:
    """Reads a table by ascending id from a high-water mark, and reads again the ids it skipped.

    On PostgreSQL, transactions commit out of id order: a row with a lower id can appear after a higher one
    was read. Skipped ids are asked for again on every sync for GAP_SECONDS; those still missing then were
    rolled back and are forgotten.
    """

    def __init__(self) -> None:
        self.last = 0
        self.gaps: dict[int, float] = {}

    def pending(self, now: float) -> list[int]:
        self.gaps = {i: t for i, t in self.gaps.items() if now - t < GAP_SECONDS}
        return sorted(self.gaps)

    def found(self, ids: Iterable[int]) -> None:
        for i in ids:
            self.gaps.pop(i, None)

    def advance(self, ids: list[int], now: float) -> None:
        """``ids``: one page read above the mark, ascending."""
        previous = self.last
        for i in ids:
            for missing in range(previous + 1, min(i, previous + 1 + MAX_GAPS - len(self.gaps))):
                self.gaps[missing] = now
            previous = i
        if ids:
            self.last = ids[-1]


class IndexSet:
    """This process's bank and media indexes, kept in step with the database."""

    def __init__(self) -> None:
        self.bank = HammingIndex()
        self.media = HammingIndex()
        self.media_upscaled = HammingIndex()  # Media.pdq_upscaled of pictures under 512 px, by media id
        self.exact = ExactFilter()
        self._lock = threading.Lock()
        self._entries = _IdFeed()
        self._media = _IdFeed()
        self._last_sync = 0.0
        self._synced_writes = -1
        self._radius = 31

    @property
    def radius(self) -> int:
        return self._radius

    def _fresh(self) -> bool:
        return _BankWrites.commits == self._synced_writes and time.monotonic() - self._last_sync < SYNC_INTERVAL

    def sync(self, session: Session, *, force: bool = False) -> None:
        """Add entries and media committed since the last sync (cheap when nothing is new).

        Runs at most every SYNC_INTERVAL, and before the next lookup after this process committed a bank entry.
        """
        if not force and self._fresh():
            return
        # Begin the caller's transaction before taking the lock: on SQLite that takes the database's write lock,
        # and every thread must take the two in this order (a job holding the write lock may sync too).
        session.connection()
        with self._lock:
            if not force and self._fresh():
                return  # another thread has just synced
            writes, now = _BankWrites.commits, time.monotonic()
            self._sync_entries(session, now)
            self._sync_media(session, now)
            self._radius = min(MAX_QUERY_RADIUS, int(session.scalar(select(func.max(Bank.pdq_distance))) or 31))
            self._last_sync, self._synced_writes = time.monotonic(), writes

    def _take_entries(self, rows: Sequence[Row[int, str, str | None, str]]) -> None:
        # Entries of every status: hits are checked against the database, and an entry disabled now and
        # enabled later must be found then.
        pdq = [(r[0], r[2]) for r in rows if r[2] is not None]
        if pdq:
            self.bank.add([i for i, _ in pdq], [v for _, v in pdq])
        self.exact.add(r[3] for r in rows if r[1] in EXACT_TYPES)

    def _sync_entries(self, session: Session, now: float) -> None:
        columns = select(BankEntry.id, BankEntry.signal_type,
                         case((BankEntry.signal_type == "pdq", BankEntry.value), else_=None), BankEntry.value_digest)
        gaps = self._entries.pending(now)
        for start in range(0, len(gaps), 500):
            rows = session.execute(columns.where(BankEntry.id.in_(gaps[start:start + 500]))).all()
            self._take_entries(rows)
            self._entries.found(r[0] for r in rows)
        while True:
            rows = session.execute(columns.where(BankEntry.id > self._entries.last)
                                   .order_by(BankEntry.id).limit(SYNC_BATCH)).all()
            self._take_entries(rows)
            self._entries.advance([r[0] for r in rows], now)
            if len(rows) < SYNC_BATCH:
                return

    def _sync_media(self, session: Session, now: float) -> None:
        matchable = and_(Media.pdq.is_not(None), Media.kind == MediaKind.IMAGE, Media.pdq_quality >= PDQ_MIN_QUALITY,
                         Media.hash_status == HashStatus.HASHED)
        columns = select(Media.id, case((matchable, Media.pdq), else_=None),
                         case((matchable, Media.pdq_upscaled), else_=None))

        def take(rows: Sequence[Row[int, str | None, str | None]]) -> None:
            found = [(r[0], r[1]) for r in rows if r[1] is not None]
            if found:
                self.media.add([i for i, _ in found], [p for _, p in found])
            small = [(r[0], r[2]) for r in rows if r[2] is not None]  # pictures under 512 px, scaled up
            if small:
                self.media_upscaled.add([i for i, _ in small], [p for _, p in small])

        gaps = self._media.pending(now)
        for start in range(0, len(gaps), 500):
            rows = session.execute(columns.where(Media.id.in_(gaps[start:start + 500]))).all()
            take(rows)
            self._media.found(r[0] for r in rows)
        while True:
            rows = session.execute(columns.where(Media.id > self._media.last).order_by(Media.id)
                                   .limit(SYNC_BATCH)).all()
            take(rows)
            self._media.advance([r[0] for r in rows], now)
            if len(rows) < SYNC_BATCH:
                return

    def could_match(self, *, exact: Iterable[str], pdq_queries: Sequence[str]) -> bool:
        """False only when these signals certainly match no bank entry, as far as the database held at the last
        sync and that sync is recent enough that match_signals would not sync again: the database need not be
        asked. True means: ask match_signals."""
        if not self._fresh():
            return True
        if any(value_digest(value.lower()) in self.exact for value in exact):
            return True
        return bool(pdq_queries) and self.bank.search(list(pdq_queries), self._radius).ids.shape[0] > 0

    def note_entry(self, entry_id: int, pdq: str) -> None:
        """Make a just-written entry searchable at once in this process."""
        self.bank.add([entry_id], [pdq])

    def note_media(self, media_id: int, pdq: str, upscaled: str | None = None) -> None:
        self.media.add([media_id], [pdq])
        if upscaled is not None:
            self.media_upscaled.add([media_id], [upscaled])

    def search_media(self, queries: Sequence[str], radius: int) -> dict[int, int]:
        """Media ids within ``radius`` of any query, with the best distance: as they are, or scaled up if small."""
        best: dict[int, int] = {}
        for index in (self.media, self.media_upscaled):
            for hits in index.range_search(list(queries), radius):
                for media_id, distance in hits:
                    best[media_id] = min(distance, best.get(media_id, 1 << 30))
        return best


class _BankWrites:
    """Commits in this process that added bank entries. Every IndexSet here syncs before its next lookup after
    one, so an item banked by this process is matched at once here (other processes: within SYNC_INTERVAL).
    Changes to existing entries need no sync: the indexes hold entries of every status, and hits are checked
    against the database."""

    commits = 0


_WROTE_ENTRIES = "firebreak.matching.wrote_entries"


@event.listens_for(Session, "after_flush")
def _note_entry_writes(session: Session, _context: object) -> None:
    if not session.info.get(_WROTE_ENTRIES) and any(isinstance(obj, BankEntry) for obj in session.new):
        session.info[_WROTE_ENTRIES] = True


@event.listens_for(Session, "after_commit")
def _count_entry_writes(session: Session) -> None:
    if session.info.pop(_WROTE_ENTRIES, False):
        _BankWrites.commits += 1


@event.listens_for(Session, "after_soft_rollback")
def _forget_entry_writes(session: Session, _previous: object) -> None:
    session.info.pop(_WROTE_ENTRIES, None)


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
    found: dict[int, tuple[BankEntry, Bank, str, int]] = {}
    exact = [(signal_type, value.lower()) for signal_type, value in (("sha256", sha256), ("md5", md5)) if value]
    if exact or pdq_queries:
        indexes.sync(session)
    # A value the filter does not hold is not banked: no database round trip for the usual upload.
    digests = [(kind, digest) for kind, value in exact if (digest := value_digest(value)) in indexes.exact]
    if digests:  # what banks.find_entries finds, with each entry's bank in the same query
        for entry, bank in session.execute(_with_bank().where(
                or_(*(and_(BankEntry.signal_type == t, BankEntry.value_digest == d) for t, d in digests)),
                BankEntry.status == EntryStatus.ACTIVE, Bank.enabled.is_(True))):
            found[entry.id] = (entry, bank, entry.signal_type, 0)
    if pdq_queries:
        best: dict[int, int] = {}
        for hits in indexes.bank.range_search(list(pdq_queries), indexes.radius):
            for entry_id, distance in hits:
                if distance < best.get(entry_id, 1 << 30):
                    best[entry_id] = distance
        if best:
            for entry, bank in session.execute(_with_bank().where(BankEntry.id.in_(list(best)))):
                if entry.id not in found:
                    found[entry.id] = (entry, bank, "pdq", best[entry.id])
    return _checked(found.values(), jurisdiction)


def _with_bank() -> Select[BankEntry, Bank]:
    return select(BankEntry, Bank).join(Bank, Bank.id == BankEntry.bank_id)


def _checked(candidates: Iterable[tuple[BankEntry, Bank, str, int]], jurisdiction: str | None) -> list[Hit]:
    out: list[Hit] = []
    for entry, bank, signal_type, distance in candidates:
        if entry.status != EntryStatus.ACTIVE:
            continue
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
        queries = [entry.value, *[q for key in ("dihedral", "upscaled") for q in entry.extra.get(key, [])
                                  if isinstance(q, str)]]
        return sorted(indexes.search_media(queries, radius).items())
    return []


def pdq_distance(a: str, b: str) -> int:
    return hamming_distance(a, b)
