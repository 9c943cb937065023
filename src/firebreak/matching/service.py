"""Matching media against banks, and finding existing copies of a bank entry.

Two Hamming indexes per process, one engine (:class:`HammingIndex`): the bank index (PDQ of active bank entries,
by entry id) and the platform media index (PDQ of every matchable media item, by media id), plus the exact-hash
filter. The indexes only propose candidates; every hit is checked against the database (entry active, bank
enabled, within the bank's distance, in scope), so a withdrawn entry stops matching the moment its row changes,
whatever the index holds.

Every process follows the index change log (``matching.changes``): each change names a bank entry or media item,
and the process reads that row's current state. A process starts from its host's snapshot files (memory-mapped,
shared by every process on the host, ``matching.snapshots``) and catches up from the log after the snapshot's
position; without a usable snapshot it builds from the database. Followers read the log every FOLLOW_INTERVAL
(``matching.flows.IndexKeeper``), so a change reaches every process within a second.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Select, and_, bindparam, func, literal, or_, select
from sqlalchemy.orm import Session

from firebreak.banks.models import Bank, BankEntry, EntryStatus, MatchAction
from firebreak.banks.service import value_digest
from firebreak.matching.changes import BANK, MEDIA, TRIMMED, BankWrites
from firebreak.matching.index import HammingIndex, IndexFormatError
from firebreak.matching.models import IndexChange
from firebreak.matching.snapshots import Snapshot, SnapshotStore
from firebreak.media.models import HashStatus, Media, MediaKind
from firebreak.signals.pdq import PDQ_MIN_QUALITY, PDQ_TURNED_MATCH_DISTANCE, hamming_distance

log = logging.getLogger(__name__)

SYNC_INTERVAL = 0.75  # a lookup whose indexes followed the log longer ago than this follows it first
MAX_QUERY_RADIUS = 64
CHANGE_BATCH = 50_000
BUILD_BATCH = 200_000
GAP_SECONDS = 600.0
MAX_GAPS = 10_000
# A process that builds from the database also reads the log this far back, for transactions that were still open.
START_MARGIN = 10_000
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

    Every entry ever seen is kept, whatever its status or bank: a value that is not here is certainly not banked
    (as of the last sync), one that is here is looked up in the database, which decides. Lookups take no lock: a
    sorted array plus a small set of recent additions, each swapped whole.
    """

    def __init__(self, keys: npt.NDArray[np.uint64] | None = None) -> None:
        self._main: npt.NDArray[np.uint64] = np.empty(0, dtype=np.uint64) if keys is None else keys
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

    def keys(self) -> npt.NDArray[np.uint64]:
        """Every key, sorted (what a snapshot stores)."""
        return np.union1d(self._main, np.fromiter(self._recent, dtype=np.uint64))


class _ChangeFeed:
    """Reads the change log by ascending seq from a high-water mark, and reads again the seqs it skipped.

    On PostgreSQL, transactions commit out of seq order: a change with a lower seq can appear after a higher one
    was read. Skipped seqs are asked for again on every sync for GAP_SECONDS; those still missing then were
    rolled back and are forgotten.
    """

    def __init__(self, last: int = 0, gaps: dict[int, float] | None = None) -> None:
        self.last = last
        self.gaps: dict[int, float] = dict(gaps or {})

    def copy(self, last: int | None = None) -> _ChangeFeed:
        return _ChangeFeed(self.last if last is None else last, self.gaps)

    def pending(self, now: float) -> list[int]:
        self.gaps = {i: t for i, t in self.gaps.items() if now - t < GAP_SECONDS}
        return sorted(self.gaps)

    def found(self, seqs: Iterable[int]) -> None:
        for i in seqs:
            self.gaps.pop(i, None)

    def advance(self, seqs: list[int], now: float) -> None:
        """``seqs``: one page read above the mark, ascending."""
        previous = self.last
        for i in seqs:
            for missing in range(previous + 1, min(i, previous + 1 + MAX_GAPS - len(self.gaps))):
                self.gaps[missing] = now
            previous = i
        if seqs:
            self.last = seqs[-1]

    @property
    def safe_position(self) -> int:
        """Every change at or below this has been read (a snapshot stores it: loaders replay what follows)."""
        return min(self.gaps) - 1 if self.gaps else self.last


@dataclass
class _Indexes:
    bank: HammingIndex
    media: HammingIndex
    media_upscaled: HammingIndex
    exact: ExactFilter


_CHANGES = (
    select(IndexChange.seq, IndexChange.kind, IndexChange.item_id, BankEntry.signal_type, BankEntry.value,
           BankEntry.value_digest, BankEntry.status, BankEntry.quality, Media.pdq, Media.kind, Media.pdq_quality,
           Media.hash_status, Media.pdq_upscaled)
    .outerjoin(BankEntry, and_(IndexChange.kind == literal(BANK), BankEntry.id == IndexChange.item_id))
    .outerjoin(Media, and_(IndexChange.kind == literal(MEDIA), Media.id == IndexChange.item_id))
)


def _entry_in_index(signal_type: str | None, status: EntryStatus | None, quality: int | None) -> bool:
    return (signal_type == "pdq" and status == EntryStatus.ACTIVE
            and (quality is None or quality >= PDQ_MIN_QUALITY))  # fmt: skip


def _media_in_index(pdq: str | None, kind: MediaKind | None, quality: int | None, status: HashStatus | None) -> bool:
    return (pdq is not None and kind == MediaKind.IMAGE and quality is not None and quality >= PDQ_MIN_QUALITY
            and status == HashStatus.HASHED)  # fmt: skip


def _pages(session: Session, query: Select[*tuple[Any, ...]], key: Any) -> Iterator[Sequence[Any]]:
    """The rows of ``query`` in pages of BUILD_BATCH, by ascending ``key`` (its first column)."""
    last = -1
    while True:
        page = session.execute(query.where(key > last).order_by(key).limit(BUILD_BATCH)).all()
        if page:
            yield page
            last = page[-1][0]
        if len(page) < BUILD_BATCH:
            return


class IndexSet:
    """This process's bank and media indexes, following the database's index change log.

    ``snapshots``: the host's snapshot files to start from (and, for the host's writer, to write); None builds
    from the database at start and keeps everything in this process's memory.
    """

    def __init__(self, *, snapshots: SnapshotStore | None = None, merge_threshold: int = 65_536) -> None:
        self.snapshots = snapshots
        self.merge_threshold = merge_threshold
        self.bank = HammingIndex(merge_threshold=merge_threshold)
        self.media = HammingIndex(merge_threshold=merge_threshold)
        # Media.pdq_upscaled of pictures under 512 px (their reference PDQ scaled up), by media id
        self.media_upscaled = HammingIndex(merge_threshold=merge_threshold)
        self.exact = ExactFilter()
        self._lock = threading.Lock()
        self._feed = _ChangeFeed()
        self._started = False
        self._last_sync = 0.0
        self._synced_writes = -1
        self._radius = 31
        self.loaded: Snapshot | None = None  # the snapshot this process's indexes came from, if any
        self.source = "none"  # where the indexes came from: "snapshot", "database"
        self.changes_applied = 0

    @property
    def radius(self) -> int:
        return self._radius

    @property
    def position(self) -> int:
        """The last change-log position read."""
        return self._feed.last

    @property
    def safe_position(self) -> int:
        return self._feed.safe_position

    @property
    def started(self) -> bool:
        return self._started

    def lag_seconds(self) -> float:
        """How long ago this process last followed the log (infinite before the first time)."""
        return time.monotonic() - self._last_sync if self._last_sync else float("inf")

    def _fresh(self) -> bool:
        return BankWrites.commits == self._synced_writes and time.monotonic() - self._last_sync < SYNC_INTERVAL

    @property
    def fresh(self) -> bool:
        """A lookup now would not follow the change log first (no database work beyond the lookup itself)."""
        return self._fresh()

    def sync(self, session: Session, *, force: bool = False) -> None:
        """Follow the change log (cheap when nothing is new); the first call loads the snapshot or builds.

        Runs at most every SYNC_INTERVAL, and before the next lookup after this process committed a bank entry.
        """
        if not force and self._fresh():
            return
        # Begin the caller's transaction before taking the lock: on SQLite a transaction's session takes the
        # database's write lock here, and every thread must take the two in this order (a job holding the write lock
        # may sync too). A reader's session (`Database.read`) takes no database lock at all.
        session.connection()
        with self._lock:
            if not force and self._fresh():
                return  # another thread has just synced
            writes, now = BankWrites.commits, time.monotonic()
            if not self._started:
                self._start(session, now)
            self.changes_applied += self._follow(session, now, self._feed, self._current())
            self._radius = min(MAX_QUERY_RADIUS, int(session.scalar(select(func.max(Bank.pdq_distance))) or 31))
            self._last_sync, self._synced_writes = time.monotonic(), writes

    def _current(self) -> _Indexes:
        return _Indexes(self.bank, self.media, self.media_upscaled, self.exact)

    def _install(self, found: _Indexes) -> None:
        self.bank, self.media, self.media_upscaled, self.exact = (found.bank, found.media, found.media_upscaled,
                                                                  found.exact)

    # -- starting ---------------------------------------------------------------------------------------------

    def _start(self, session: Session, now: float) -> None:
        newest = int(session.scalar(select(func.max(IndexChange.seq))) or 0)
        trimmed = int(session.scalar(select(func.max(IndexChange.item_id)).where(IndexChange.kind == TRIMMED)) or 0)
        snapshot = self._usable_snapshot(newest, trimmed)
        if snapshot is not None:
            self._install(self._from_snapshot(snapshot))
            self._feed = _ChangeFeed(snapshot.position)
            self.loaded, self.source = snapshot, "snapshot"
            log.info("indexes loaded from the snapshot at log position %d (%d bank entries, %d media); catching up "
                     "to %d", snapshot.position, len(snapshot.bank), len(snapshot.media), newest)
        else:
            self._install(self._build(session))
            self._feed = _ChangeFeed(max(0, newest - START_MARGIN))
            self.source = "database"
            log.info("indexes built from the database at log position %d (%d bank entries, %d media)", newest,
                     len(self.bank), len(self.media))
        self._started = True

    def _usable_snapshot(self, newest: int, trimmed: int) -> Snapshot | None:
        """The host's snapshot if the log still holds every change after it (none below ``trimmed`` is kept)."""
        if self.snapshots is None:
            return None
        try:
            snapshot = self.snapshots.load()
        except (IndexFormatError, OSError) as exc:
            log.warning("not using the index snapshot in %s: %s; building from the database",
                        self.snapshots.folder, exc)
            return None
        if snapshot is None:
            return None
        if snapshot.position > newest:
            log.warning("the index snapshot is ahead of this database's change log (%d > %d): another database's? "
                        "building from the database", snapshot.position, newest)
            return None
        if snapshot.position < trimmed - 1:
            log.warning("the index snapshot (log position %d) is older than the change log kept (from %d): "
                        "building from the database", snapshot.position, trimmed)
            return None
        return snapshot

    def _from_snapshot(self, snapshot: Snapshot) -> _Indexes:
        return _Indexes(snapshot.bank, snapshot.media, snapshot.media_upscaled, ExactFilter(snapshot.exact))

    def _build(self, session: Session) -> _Indexes:
        """Every active PDQ entry, matchable media item and exact value, read from the tables by id in large pages
        (no server-side cursor: the caller's session may have no transaction)."""
        pdq: list[tuple[int, str]] = []
        exact: list[int] = []
        entries = select(BankEntry.id, BankEntry.signal_type, BankEntry.value, BankEntry.value_digest,
                         BankEntry.status, BankEntry.quality).where(BankEntry.signal_type.in_(("pdq", *EXACT_TYPES)))
        for page in _pages(session, entries, BankEntry.id):
            for entry_id, signal_type, value, digest, status, quality in page:
                if signal_type in EXACT_TYPES:
                    exact.append(ExactFilter.key(digest))
                elif _entry_in_index(signal_type, status, quality):
                    pdq.append((entry_id, value))
        media = select(Media.id, Media.pdq, Media.pdq_upscaled).where(
            Media.pdq.is_not(None), Media.kind == MediaKind.IMAGE, Media.pdq_quality >= PDQ_MIN_QUALITY,
            Media.hash_status == HashStatus.HASHED)
        found: list[tuple[int, str]] = []
        small: list[tuple[int, str]] = []
        for page in _pages(session, media, Media.id):
            for media_id, code, upscaled in page:
                found.append((media_id, code))
                if upscaled is not None:
                    small.append((media_id, upscaled))
        options = {"merge_threshold": self.merge_threshold, "chunk_size": BUILD_BATCH}
        return _Indexes(
            bank=HammingIndex.from_iter(pdq, **options),  # type: ignore[arg-type]
            media=HammingIndex.from_iter(found, **options),  # type: ignore[arg-type]
            media_upscaled=HammingIndex.from_iter(small, **options),  # type: ignore[arg-type]
            exact=ExactFilter(np.unique(np.array(exact, dtype=np.uint64))),
        )

    # -- following the log ------------------------------------------------------------------------------------

    def _follow(self, session: Session, now: float, feed: _ChangeFeed, into: _Indexes) -> int:
        """Read the log after ``feed`` (and its gaps) and apply each named row's current state to ``into``."""
        applied = 0
        gaps = feed.pending(now)
        for start in range(0, len(gaps), 500):
            rows = session.execute(_CHANGES.where(IndexChange.seq.in_(gaps[start:start + 500]))).all()
            self._apply(rows, into)
            feed.found(r[0] for r in rows)
            applied += len(rows)
        while True:
            rows = session.execute(_CHANGES.where(IndexChange.seq > feed.last).order_by(IndexChange.seq)
                                   .limit(CHANGE_BATCH)).all()
            self._apply(rows, into)
            feed.advance([r[0] for r in rows], now)
            applied += len(rows)
            if len(rows) < CHANGE_BATCH:
                return applied

    @staticmethod
    def _apply(rows: Sequence[Any], into: _Indexes) -> None:
        """Rows of _CHANGES: (seq, kind, item id, the entry's columns, the media item's columns)."""
        bank: dict[int, str | None] = {}
        media: dict[int, str | None] = {}
        small: dict[int, str | None] = {}
        exact: list[str] = []
        for (_seq, kind, item_id, signal_type, value, digest, status, quality, pdq, media_kind, pdq_quality,
             hash_status, upscaled) in rows:  # fmt: skip
            if kind == BANK:
                if signal_type in EXACT_TYPES:
                    exact.append(str(digest))
                keep = _entry_in_index(signal_type, status, quality)
                bank[int(item_id)] = str(value) if keep else None
            elif kind == MEDIA:
                keep = _media_in_index(pdq, media_kind, pdq_quality, hash_status)
                media[int(item_id)] = str(pdq) if keep else None
                small[int(item_id)] = str(upscaled) if keep and upscaled is not None else None
        for index, latest in ((into.bank, bank), (into.media, media), (into.media_upscaled, small)):
            put = {i: v for i, v in latest.items() if v is not None}
            gone = [i for i, v in latest.items() if v is None]
            if put:
                index.put(list(put), list(put.values()))
            if gone:
                index.remove(gone)
        if exact:
            into.exact.add(exact)

    # -- snapshots --------------------------------------------------------------------------------------------

    def reload_if_newer(self, session: Session) -> bool:
        """Switch to the host's snapshot files if a writer has replaced them since this process loaded, catching
        up from their position first (searches go on against the current indexes meanwhile). True if switched."""
        store = self.snapshots
        if store is None or not self._started:
            return False
        identity = store.identity()
        if identity is None or (self.loaded is not None and identity == self.loaded.identity):
            return False
        try:
            snapshot = store.load()
        except (IndexFormatError, OSError) as exc:
            log.warning("could not load the new index snapshot in %s: %s", store.folder, exc)
            return False
        if snapshot is None or snapshot.position > self._feed.last:
            return False
        fresh = self._from_snapshot(snapshot)
        session.connection()
        with self._lock:
            now = time.monotonic()
            feed = self._feed.copy(last=snapshot.position)
            self._follow(session, now, feed, fresh)
            self._install(fresh)
            self._feed = feed
            self.loaded, self.source = snapshot, "snapshot"
            self._last_sync = time.monotonic()
        log.info("indexes switched to the snapshot at log position %d", snapshot.position)
        return True

    def frozen(self) -> tuple[dict[str, HammingIndex], npt.NDArray[np.uint64], int]:
        """The indexes as they are now (by snapshot name) and the log position they reflect, for a snapshot writer."""
        with self._lock:
            indexes = {"bank": self.bank.frozen(), "media": self.media.frozen(),
                       "media_upscaled": self.media_upscaled.frozen()}
            return indexes, self.exact.keys(), self._feed.safe_position

    def pending_rows(self) -> int:
        """Rows held outside the snapshot (delta rows and tombstones of both indexes): what a new snapshot folds in."""
        total = 0
        for index in (self.bank, self.media, self.media_upscaled):
            stats = index.stats()
            total += stats.delta_rows + stats.dead_rows
        return total

    # -- lookups ----------------------------------------------------------------------------------------------

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

    def search_media(self, queries: Sequence[str], radius: int, *, turned: Collection[str] = ()) -> dict[int, int]:
        """Media ids within ``radius`` of any query, with the best distance: as they are, or scaled up if small.
        A query in ``turned`` (a rotation or mirror) counts only within PDQ_TURNED_MATCH_DISTANCE."""
        best: dict[int, int] = {}
        for index in (self.media, self.media_upscaled):
            for query, hits in zip(queries, index.range_search(list(queries), radius), strict=True):
                limit = min(radius, PDQ_TURNED_MATCH_DISTANCE) if query in turned else radius
                for media_id, distance in hits:
                    if distance <= limit:
                        best[media_id] = min(distance, best.get(media_id, 1 << 30))
        return best


def match_signals(
    *,
    session: Session,
    indexes: IndexSet,
    sha256: str | None = None,
    md5: str | None = None,
    pdq_queries: Sequence[str] = (),
    turned: Collection[str] = (),
    jurisdiction: str | None = None,
) -> list[Hit]:
    """Every active entry in an enabled, in-scope bank that these signals match, closest first.

    ``pdq_queries`` are the query's PDQ hashes: for an image its eight rotations and mirrors, so
    turned and mirrored copies match; those of them in ``turned`` (the rotations and mirrors, not the picture
    as it stands) count only within PDQ_TURNED_MATCH_DISTANCE. Low-quality PDQ must be left out by the caller.
    """
    exact = [value.lower() for value in (sha256, md5) if value]
    if exact or pdq_queries:
        indexes.sync(session)
    # A value the filter does not hold is not banked, and the PDQ index proposes the only candidates: no database
    # round trip for the usual upload, one query (always the same statement) for the rest.
    digests = [digest for value in exact if (digest := value_digest(value)) in indexes.exact]
    best: dict[int, int] = {}
    if pdq_queries:
        for query, hits in zip(pdq_queries, indexes.bank.range_search(list(pdq_queries), indexes.radius), strict=True):
            limit = PDQ_TURNED_MATCH_DISTANCE if query in turned else indexes.radius
            for entry_id, distance in hits:
                if distance <= limit and distance < best.get(entry_id, 1 << 30):
                    best[entry_id] = distance
    if not digests and not best:
        return []
    out: list[Hit] = []
    for row in session.execute(_CANDIDATES, {"digests": digests, "ids": list(best)}):
        (entry_id, signal_type, status, quality, bank_id, name, action, enabled, jurisdictions, max_distance) = row
        distance = best[entry_id] if signal_type == "pdq" else 0
        if status != EntryStatus.ACTIVE or not enabled:
            continue
        if jurisdictions and jurisdiction is not None and jurisdiction not in jurisdictions:
            continue
        if signal_type == "pdq" and (distance > max_distance or (quality is not None and quality < PDQ_MIN_QUALITY)):
            continue
        out.append(Hit(entry_id, bank_id, name, action, signal_type, distance))
    out.sort(key=lambda h: (h.distance, h.entry_id))
    return out


# Exact entries by value digest (digests of SHA-256 and MD5 values cannot coincide: the values differ in length),
# PDQ entries by the ids the index proposed; each with what deciding a hit needs of its bank.
_CANDIDATES = (
    select(BankEntry.id, BankEntry.signal_type, BankEntry.status, BankEntry.quality, Bank.id, Bank.name, Bank.action,
           Bank.enabled, Bank.jurisdictions, Bank.pdq_distance)
    .join(Bank, Bank.id == BankEntry.bank_id)
    .where(or_(and_(BankEntry.signal_type.in_(EXACT_TYPES),
                    BankEntry.value_digest.in_(bindparam("digests", expanding=True))),
               and_(BankEntry.signal_type == "pdq", BankEntry.id.in_(bindparam("ids", expanding=True)))))
)


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
        dihedral = [q for q in entry.extra.get("dihedral", []) if isinstance(q, str)]
        upscaled = [q for q in entry.extra.get("upscaled", []) if isinstance(q, str)]
        queries = list(dict.fromkeys([entry.value, *dihedral, *upscaled]))
        # The entry's rotations and mirrors (and those of it scaled up) meet a posted picture only close: a
        # symmetric picture's mirror-image halves are not copies of each other (PDQ_TURNED_MATCH_DISTANCE).
        turned = {*dihedral, *upscaled[1:]} - {entry.value, *upscaled[:1]}
        return sorted(indexes.search_media(queries, radius, turned=turned).items())
    return []


def pdq_distance(a: str, b: str) -> int:
    return hamming_distance(a, b)
