"""Exact Hamming range search over 256-bit codes (PDQ hashes), for bank and platform media lookups.

One engine serves both questions Firebreak asks: "is this upload a known item?" (the bank index) and "which
media we have already seen are copies of this new bank entry?" (the platform media index). See
docs/matching.md for the design, the measurements behind it, the file format and the sharding plan.

The answer of :meth:`HammingIndex.range_search` is exactly what a brute-force scan returns, for any radius.

Concurrency: readers take no lock. The index publishes an immutable snapshot (main segment, delta rows
visible, tombstones) and every write builds a new snapshot and swaps one reference, so a search sees the
index wholly before or wholly after any write. Writers serialise on a lock; the expensive merge of the delta
into the main segment runs outside it (and outside the GIL) and is reconciled with the writes made meanwhile.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np
import numpy.typing as npt

from firebreak.matching import _hamming
from firebreak.matching._hamming_format import (
    MAX_BITS,
    MIN_BITS,
    FileInfo,
    IndexFormatError,
    SegmentArrays,
    read_info,
    read_segment,
    write_segment,
)

__all__ = [
    "CODE_BYTES",
    "FileInfo",
    "HammingIndex",
    "IndexFormatError",
    "IndexStats",
    "Layout",
    "RangeResult",
    "as_codes",
    "merge_results",
    "pdq_bytes_to_hex",
    "pdq_hex_to_bytes",
    "read_info",
    "shard_of",
    "warm_up",
]

log = logging.getLogger(__name__)

CODE_BYTES = 32
MAX_RADIUS = 256
DEFAULT_RADIUS = 31

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
CodesLike = Union[str, bytes, npt.NDArray[np.uint8], Sequence[str | bytes]]  # noqa: UP007
IdsLike = Union[int, Sequence[int], npt.NDArray[np.integer]]  # noqa: UP007


def pdq_hex_to_bytes(hex_hash: str) -> bytes:
    """64 hex digits (the usual PDQ text form) to the 32 bytes the index stores."""
    if len(hex_hash) != 2 * CODE_BYTES:
        raise ValueError(f"a PDQ hash is {2 * CODE_BYTES} hex digits, got {len(hex_hash)}")
    return bytes.fromhex(hex_hash)


def pdq_bytes_to_hex(code: bytes) -> str:
    if len(code) != CODE_BYTES:
        raise ValueError(f"a PDQ hash is {CODE_BYTES} bytes, got {len(code)}")
    return code.hex()


def as_codes(codes: CodesLike) -> npt.NDArray[np.uint8]:
    """Normalise one code or many (hex strings, 32-byte strings, uint8 arrays) to a ``(n, 32)`` uint8 array."""
    if isinstance(codes, str):
        return np.frombuffer(pdq_hex_to_bytes(codes), dtype=np.uint8).reshape(1, CODE_BYTES)
    if isinstance(codes, bytes | bytearray | memoryview):
        raw = bytes(codes)
        if len(raw) != CODE_BYTES:
            raise ValueError(f"a code is {CODE_BYTES} bytes, got {len(raw)}")
        return np.frombuffer(raw, dtype=np.uint8).reshape(1, CODE_BYTES)
    if isinstance(codes, np.ndarray):
        if codes.dtype != np.uint8:
            raise ValueError(f"code arrays must be uint8, got {codes.dtype}")
        arr = codes.reshape(1, -1) if codes.ndim == 1 else codes
        if arr.ndim != 2 or arr.shape[1] != CODE_BYTES:
            raise ValueError(f"code arrays must have shape (n, {CODE_BYTES}), got {codes.shape}")
        return np.ascontiguousarray(arr)
    items = list(codes)
    out = np.empty((len(items), CODE_BYTES), dtype=np.uint8)
    for i, item in enumerate(items):
        raw = pdq_hex_to_bytes(item) if isinstance(item, str) else bytes(item)
        if len(raw) != CODE_BYTES:
            raise ValueError(f"code {i} is {len(raw)} bytes, expected {CODE_BYTES}")
        out[i] = np.frombuffer(raw, dtype=np.uint8)
    return out


def _words(codes: CodesLike) -> U64:
    """Codes as ``(n, 4)`` uint64 words, the kernels' view (any fixed bit order keeps Hamming distances)."""
    return np.ascontiguousarray(as_codes(codes)).view("<u8").astype(np.uint64, copy=False)


def _ids(ids: IdsLike) -> I64:
    arr = np.atleast_1d(np.asarray(ids))
    if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
        raise ValueError("ids must be integers")
    return arr.astype(np.int64)


def shard_of(ids: IdsLike, shards: int) -> I64:
    """Stable shard number of each id (splitmix64 finaliser, then modulo): the same on every machine."""
    if shards < 1:
        raise ValueError("shards must be at least 1")
    x = _ids(ids).view(np.uint64).copy()
    with np.errstate(over="ignore"):
        x += np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return (x % np.uint64(shards)).astype(np.int64)


@dataclass(frozen=True, slots=True)
class RangeResult:
    """Hits of a batch of queries in CSR form: query ``i`` matched ``ids[lims[i]:lims[i + 1]]``.

    Within a query, hits are ordered by distance, then id.
    """

    lims: I64
    ids: I64
    distances: I32

    def __len__(self) -> int:
        return int(self.lims.shape[0] - 1)

    def hits(self, query: int) -> list[tuple[int, int]]:
        a, b = int(self.lims[query]), int(self.lims[query + 1])
        return list(zip(self.ids[a:b].tolist(), self.distances[a:b].tolist(), strict=True))

    def to_lists(self) -> list[list[tuple[int, int]]]:
        return [self.hits(i) for i in range(len(self))]


def _sorted_result(n_queries: int, query: I64, ids: I64, distances: I32) -> RangeResult:
    order = np.lexsort((ids, distances, query))
    counts = np.bincount(query, minlength=n_queries)
    lims = np.zeros(n_queries + 1, dtype=np.int64)
    np.cumsum(counts, out=lims[1:])
    return RangeResult(lims=lims, ids=ids[order], distances=distances[order].astype(np.int32))


def merge_results(parts: Sequence[RangeResult]) -> RangeResult:
    """Combine the answers of several shards to the same batch of queries (ids are disjoint across shards)."""
    if not parts:
        raise ValueError("nothing to merge")
    n = len(parts[0])
    if any(len(p) != n for p in parts):
        raise ValueError("all parts must answer the same queries")
    query = np.concatenate([np.repeat(np.arange(n, dtype=np.int64), np.diff(p.lims)) for p in parts])
    ids = np.concatenate([p.ids for p in parts])
    distances = np.concatenate([p.distances for p in parts]).astype(np.int32)
    return _sorted_result(n, query, ids, distances)


@dataclass(frozen=True, slots=True)
class Layout:
    """How the main segment cuts codes for its tables: ``n_sub`` substrings of ``bits`` bits each.

    Longer substrings mean fewer codes per bucket (fewer candidates to check) but more buckets to probe and
    bigger tables (``n_sub * 2**bits`` offsets of 4 bytes); :meth:`for_size` picks the cheapest layout for a
    number of codes within a memory budget (docs/matching.md).
    """

    n_sub: int
    bits: int

    def __post_init__(self) -> None:
        if not MIN_BITS <= self.bits <= MAX_BITS or not 2 <= self.n_sub <= 256 // self.bits:
            raise ValueError(f"a layout is 2..256/bits substrings of {MIN_BITS}..{MAX_BITS} bits, "
                             f"got {self.n_sub} of {self.bits}")

    def bytes_per_code(self, n: int) -> float:
        """Array bytes per code at ``n`` codes (uint32 ids)."""
        return 36 + 4 * (self.n_sub - 1) + 4 * self.n_sub * ((1 << self.bits) + 1) / max(n, 1)

    def estimated_cost(self, n: int, radius: int = DEFAULT_RADIUS) -> float:
        """Work per query on uniform codes, in random-read units: candidates plus bucket probes (the even split)."""
        need = radius + 1
        per, extra = divmod(need, self.n_sub)
        units = [per + 1] * extra + [per] * (self.n_sub - extra)
        if max(units) > _hamming.T_CAP + 1:
            return float("inf")
        _, cum = _hamming.masks_by_weight(self.bits)
        probes = sum(int(cum[u]) for u in units)
        return probes * (n / (1 << self.bits) + _hamming.bucket_cost(self.bits))

    @classmethod
    def for_size(cls, n: int, *, radius: int = DEFAULT_RADIUS, max_bytes_per_code: float = 100.0) -> Layout:
        """The layout with the least estimated work per query for ``n`` codes within the memory budget.

        16 substrings of 16 bits (the smallest tables, 4.2 MB) is always allowed.
        """
        best, best_cost = cls(16, 16), cls(16, 16).estimated_cost(n, radius)
        for bits in range(17, 26):
            layout = cls(min(16, 256 // bits), bits)
            if layout.bytes_per_code(n) > max_bytes_per_code:
                continue
            cost = layout.estimated_cost(n, radius)
            if cost < best_cost:
                best, best_cost = layout, cost
        return best


@dataclass(frozen=True, slots=True)
class _Segment:
    """The immutable main segment: codes sorted by substring 0, their ids, and one CSR table per substring."""

    codes: U64
    ids: npt.NDArray[np.uint32] | I64  # uint32 offsets from id_base when the id span allows: 4 bytes saved per code
    id_base: int
    offsets: npt.NDArray[np.uint32]  # (n_sub, 2**bits + 1)
    positions: npt.NDArray[np.uint32]  # (n_sub - 1, size)
    bits: int
    id_min: int
    id_max: int

    @classmethod
    def create(
        cls,
        codes: U64,
        ids: npt.NDArray[np.uint32] | I64,
        id_base: int,
        offsets: npt.NDArray[np.uint32],
        positions: npt.NDArray[np.uint32],
        bits: int,
    ) -> _Segment:
        lo = int(ids.min()) + id_base if ids.size else 0
        hi = int(ids.max()) + id_base if ids.size else -1
        return cls(codes, ids, id_base, offsets, positions, bits, lo, hi)

    @classmethod
    def build(cls, ids: I64, codes: U64, layout: Layout | None = None) -> _Segment:
        if ids.shape[0] >= 1 << 32:
            raise ValueError("a segment holds fewer than 2**32 codes; shard the index")
        layout = layout or Layout.for_size(int(ids.shape[0]))
        order = _hamming.order_by_key0(codes, layout.bits)
        sorted_codes = np.ascontiguousarray(codes[order])
        sorted_ids = ids[order]
        positions, offsets = _hamming.build_tables(sorted_codes, layout.n_sub, layout.bits)
        base = int(sorted_ids.min()) if sorted_ids.size else 0
        if sorted_ids.size and int(sorted_ids.max()) - base < 1 << 32:
            compact: npt.NDArray[np.uint32] | I64 = (sorted_ids - base).astype(np.uint32)
        else:
            compact, base = sorted_ids, 0
        return cls.create(sorted_codes, compact, base, offsets, positions, layout.bits)

    @property
    def layout(self) -> Layout:
        return Layout(int(self.offsets.shape[0]), self.bits)

    def probe(self, queries: U64, radius: int) -> tuple[I64, I64, I32, I64]:
        """The kernel's range search: (lims, rows, distances, scanned) in CSR form."""
        masks, cum = _hamming.masks_by_weight(self.bits)
        return _hamming.search(self.codes, self.positions, self.offsets, queries, radius, self.bits, masks, cum,
                               _hamming.exact_levels(self.bits), _hamming.bucket_cost(self.bits))

    @property
    def size(self) -> int:
        return int(self.codes.shape[0])

    @property
    def nbytes(self) -> int:
        return int(self.codes.nbytes + self.ids.nbytes + self.offsets.nbytes + self.positions.nbytes)

    def ids_at(self, rows: I64) -> I64:
        return self.ids[rows].astype(np.int64) + self.id_base

    def all_ids(self) -> I64:
        return self.ids.astype(np.int64) + self.id_base

    def rows_of(self, wanted: I64) -> I64:
        """Rows holding any of ``wanted`` (sorted, unique): one sequential pass over the ids."""
        # New database ids are usually above every stored one, so most adds skip the pass entirely.
        inside = wanted[(wanted >= self.id_min) & (wanted <= self.id_max)]
        if not inside.size:
            return np.empty(0, dtype=np.int64)
        if inside.size <= 4:  # a vectorised comparison per id beats one pass with a binary search per row
            kind = self.ids.dtype.type
            found = [np.flatnonzero(self.ids == kind(v - self.id_base)) for v in inside.tolist()]
            return np.concatenate(found).astype(np.int64)
        return _hamming.find_sorted(self.ids, inside - self.id_base)


@dataclass(frozen=True, slots=True)
class _State:
    """What a reader sees. Delta rows past ``delta_count`` may be written later and are never read."""

    main: _Segment
    delta_codes: U64
    delta_ids: I64
    delta_count: int
    dead: I64  # sorted "global rows" (main rows, then main.size + delta row) that are removed or replaced

    @property
    def live(self) -> int:
        return self.main.size + self.delta_count - int(self.dead.shape[0])


@dataclass(frozen=True, slots=True)
class IndexStats:
    live: int
    main_rows: int
    delta_rows: int
    dead_rows: int
    array_bytes: int


_EMPTY_I64 = np.empty(0, dtype=np.int64)


def _empty_segment() -> _Segment:
    return _Segment.build(np.empty(0, dtype=np.int64), np.empty((0, 4), dtype=np.uint64), Layout(16, 16))


def _contains_sorted(sorted_values: I64, x: I64) -> npt.NDArray[np.bool_]:
    if not sorted_values.size:
        return np.zeros(x.shape[0], dtype=np.bool_)
    at = np.minimum(np.searchsorted(sorted_values, x), sorted_values.shape[0] - 1)
    return np.asarray(sorted_values[at] == x)


def warm_up() -> None:
    """Compile (or load from numba's on-disk cache) every kernel, e.g. at deploy time or process start.

    The first compilation on a machine takes seconds; later processes load the cache in well under one.
    """
    rng = np.random.default_rng(0)
    index = HammingIndex.from_arrays(np.arange(64), rng.integers(0, 256, (64, 32), dtype=np.uint8), auto_merge=False)
    index.search(rng.integers(0, 256, (2, 32), dtype=np.uint8))
    index.add([1 << 40], rng.integers(0, 256, (1, 32), dtype=np.uint8))
    index.remove([3, 1 << 40])
    index.merge()
    wide = HammingIndex.from_arrays([0, 1 << 40], rng.integers(0, 256, (2, 32), dtype=np.uint8), auto_merge=False)
    wide.remove([0])


class HammingIndex:
    """Exact range search over 256-bit codes with caller-chosen int64 ids.

    ``merge_threshold``: delta rows (brute-force scanned) that trigger folding them into the main segment.
    ``auto_merge``: run that merge on a background thread; otherwise call :meth:`merge` yourself.
    ``layout``: substring layout of every main segment built; by default chosen by size (:meth:`Layout.for_size`).
    """

    def __init__(self, *, merge_threshold: int = 65_536, auto_merge: bool = True,
                 layout: Layout | None = None) -> None:
        if merge_threshold < 1:
            raise ValueError("merge_threshold must be at least 1")
        self.merge_threshold = merge_threshold
        self.auto_merge = auto_merge
        self.layout = layout
        self.file_info: FileInfo | None = None  # the header of the file this index was loaded from
        self._write_lock = threading.Lock()
        self._merge_lock = threading.Lock()
        self._merge_thread: threading.Thread | None = None
        self._state = self._fresh_state(_empty_segment())

    # -- building ---------------------------------------------------------------------------------------------

    @classmethod
    def from_arrays(
        cls, ids: IdsLike, codes: CodesLike, *, merge_threshold: int = 65_536, auto_merge: bool = True,
        layout: Layout | None = None,
    ) -> HammingIndex:
        index = cls(merge_threshold=merge_threshold, auto_merge=auto_merge, layout=layout)
        id_arr, words = _ids(ids), _words(codes)
        if id_arr.shape[0] != words.shape[0]:
            raise ValueError(f"{id_arr.shape[0]} ids for {words.shape[0]} codes")
        ordered = np.sort(id_arr)
        if ordered.size and bool((ordered[1:] == ordered[:-1]).any()):
            raise ValueError("ids must be unique")
        index._state = index._fresh_state(_Segment.build(id_arr, words, layout))
        return index

    @classmethod
    def from_iter(
        cls,
        items: Iterable[tuple[int, bytes | str]],
        *,
        chunk_size: int = 65_536,
        merge_threshold: int = 65_536,
        auto_merge: bool = True,
        layout: Layout | None = None,
    ) -> HammingIndex:
        """Rebuild from ``(id, code)`` pairs, e.g. streamed from the database, in bounded memory per chunk."""
        id_chunks: list[I64] = []
        code_chunks: list[U64] = []
        batch_ids: list[int] = []
        batch_codes: list[bytes | str] = []
        for item_id, code in items:
            batch_ids.append(item_id)
            batch_codes.append(code)
            if len(batch_ids) >= chunk_size:
                id_chunks.append(_ids(batch_ids))
                code_chunks.append(_words(batch_codes))
                batch_ids, batch_codes = [], []
        if batch_ids:
            id_chunks.append(_ids(batch_ids))
            code_chunks.append(_words(batch_codes))
        ids = np.concatenate(id_chunks) if id_chunks else np.empty(0, dtype=np.int64)
        codes = np.concatenate(code_chunks) if code_chunks else np.empty((0, 4), dtype=np.uint64)
        return cls.from_arrays(ids, codes.view(np.uint8), merge_threshold=merge_threshold, auto_merge=auto_merge,
                               layout=layout)

    @staticmethod
    def _fresh_state(main: _Segment) -> _State:
        capacity = 1024  # the delta grows by doubling
        return _State(main, np.zeros((capacity, 4), dtype=np.uint64), np.zeros(capacity, dtype=np.int64), 0, _EMPTY_I64)

    # -- reading ----------------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._state.live

    def stats(self) -> IndexStats:
        s = self._state
        nbytes = s.main.nbytes + s.delta_codes.nbytes + s.delta_ids.nbytes + s.dead.nbytes
        return IndexStats(s.live, s.main.size, s.delta_count, int(s.dead.shape[0]), nbytes)

    def search(self, query_codes: CodesLike, radius: int = DEFAULT_RADIUS) -> RangeResult:
        """All live entries within ``radius`` bits of each query, as CSR arrays (the fast path for batches)."""
        if not isinstance(radius, int | np.integer) or not 0 <= radius <= MAX_RADIUS:
            raise ValueError(f"radius must be an integer in 0..{MAX_RADIUS}, got {radius!r}")
        queries = _words(query_codes)
        s = self._state  # one read: everything below uses this snapshot
        main = s.main
        lims, rows, distances, _ = main.probe(queries, int(radius))
        if s.delta_count or s.dead.size:
            lims, ids, distances = self._with_delta(s, queries, int(radius), lims, rows, distances)
        else:
            ids = main.ids_at(rows)
        _hamming.sort_hits(lims, ids, distances)
        return RangeResult(lims=lims, ids=ids, distances=distances)

    @staticmethod
    def _with_delta(s: _State, queries: U64, radius: int, lims: I64, rows: I64, distances: I32) -> tuple[I64, I64, I32]:
        """Add the delta's hits and drop tombstoned rows; hits stay grouped by query."""
        main = s.main
        lims_d, rows_d, dist_d = _hamming.scan(s.delta_codes, s.delta_count, queries, radius)
        n = queries.shape[0]
        which = np.arange(n, dtype=np.int64)
        query = np.concatenate([np.repeat(which, np.diff(lims)), np.repeat(which, np.diff(lims_d))])
        rows = np.concatenate([rows, rows_d + main.size])
        distances = np.concatenate([distances, dist_d])
        if s.dead.size:
            keep = ~_contains_sorted(s.dead, rows)
            query, rows, distances = query[keep], rows[keep], distances[keep]
        in_main = rows < main.size
        ids = np.empty(rows.shape[0], dtype=np.int64)
        ids[in_main] = main.ids_at(rows[in_main])
        ids[~in_main] = s.delta_ids[rows[~in_main] - main.size]
        order = np.argsort(query, kind="stable")
        out_lims = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(query, minlength=n), out=out_lims[1:])
        return out_lims, ids[order], distances[order]

    def range_search(self, query_codes: CodesLike, radius: int = DEFAULT_RADIUS) -> list[list[tuple[int, int]]]:
        """For each query, the ``(id, distance)`` of every live entry within ``radius`` bits."""
        return self.search(query_codes, radius).to_lists()

    # -- writing ----------------------------------------------------------------------------------------------

    def _live_rows_of(self, s: _State, wanted: I64) -> I64:
        """Global rows of the live entries with these ids (``wanted`` sorted, unique)."""
        rows_d = np.flatnonzero(np.isin(s.delta_ids[: s.delta_count], wanted)).astype(np.int64) + s.main.size
        rows = np.concatenate([s.main.rows_of(wanted), rows_d])
        if s.dead.size:
            rows = rows[~_contains_sorted(s.dead, rows)]
        return rows

    def add(self, ids: IdsLike, codes: CodesLike) -> None:
        """Add entries; an id that is already live has its code replaced. Visible to searches on return."""
        id_arr, words = self._checked_writes(ids, codes)
        if not id_arr.size:
            return
        with self._write_lock:
            s = self._state
            self._append(s, id_arr, words, self._live_rows_of(s, np.unique(id_arr)))

    def put(self, ids: IdsLike, codes: CodesLike) -> int:
        """Like :meth:`add`, but an entry already live with the same code is left as it is (no tombstone, no
        delta row): replaying changes that are already in the index costs nothing. Returns how many were written."""
        id_arr, words = self._checked_writes(ids, codes)
        if not id_arr.size:
            return 0
        with self._write_lock:
            s = self._state
            rows = self._live_rows_of(s, np.unique(id_arr))
            if rows.size:
                live = dict(zip(self._ids_at(s, rows).tolist(), self._codes_at(s, rows), strict=True))
                unchanged = np.array([i in live and bool((live[i] == w).all())
                                      for i, w in zip(id_arr.tolist(), words, strict=True)])
                if unchanged.all():
                    return 0
                id_arr, words = id_arr[~unchanged], words[~unchanged]
                rows = self._live_rows_of(s, np.unique(id_arr))
            self._append(s, id_arr, words, rows)
            return int(id_arr.shape[0])

    @staticmethod
    def _checked_writes(ids: IdsLike, codes: CodesLike) -> tuple[I64, U64]:
        id_arr, words = _ids(ids), _words(codes)
        if id_arr.shape[0] != words.shape[0]:
            raise ValueError(f"{id_arr.shape[0]} ids for {words.shape[0]} codes")
        if np.unique(id_arr).shape[0] != id_arr.shape[0]:
            raise ValueError("ids in one add must be unique")
        return id_arr, words

    @staticmethod
    def _ids_at(s: _State, rows: I64) -> I64:
        in_main = rows < s.main.size
        out = np.empty(rows.shape[0], dtype=np.int64)
        out[in_main] = s.main.ids_at(rows[in_main])
        out[~in_main] = s.delta_ids[rows[~in_main] - s.main.size]
        return out

    @staticmethod
    def _codes_at(s: _State, rows: I64) -> U64:
        in_main = rows < s.main.size
        out = np.empty((rows.shape[0], 4), dtype=np.uint64)
        out[in_main] = s.main.codes[rows[in_main]]
        out[~in_main] = s.delta_codes[rows[~in_main] - s.main.size]
        return out

    def _append(self, s: _State, id_arr: I64, words: U64, replaced: I64) -> None:
        """Write rows to the delta and tombstone ``replaced`` (the caller holds the write lock)."""
        k, m = s.delta_count, id_arr.shape[0]
        codes_buf, ids_buf = s.delta_codes, s.delta_ids
        if k + m > codes_buf.shape[0]:
            # Readers of older snapshots keep the old buffers; only rows they never read are written.
            capacity = max(2 * codes_buf.shape[0], k + m)
            codes_buf = np.zeros((capacity, 4), dtype=np.uint64)
            ids_buf = np.zeros(capacity, dtype=np.int64)
            codes_buf[:k] = s.delta_codes[:k]
            ids_buf[:k] = s.delta_ids[:k]
        codes_buf[k : k + m] = words
        ids_buf[k : k + m] = id_arr
        dead = np.union1d(s.dead, replaced) if replaced.size else s.dead
        self._state = _State(s.main, codes_buf, ids_buf, k + m, dead)
        self._maybe_schedule_merge()

    def frozen(self) -> HammingIndex:
        """A read-only view of the index as it is now (sharing its arrays), e.g. to save it while writes go on."""
        view = HammingIndex(merge_threshold=self.merge_threshold, auto_merge=False, layout=self.layout)
        view._state = self._state
        return view

    def remove(self, ids: IdsLike) -> int:
        """Withdraw entries by id; they stop matching on return. Returns how many were live."""
        wanted = np.unique(_ids(ids))
        if not wanted.size:
            return 0
        with self._write_lock:
            s = self._state
            rows = self._live_rows_of(s, wanted)
            if rows.size:
                self._state = _State(s.main, s.delta_codes, s.delta_ids, s.delta_count, np.union1d(s.dead, rows))
                self._maybe_schedule_merge()
            return int(rows.shape[0])

    # -- merging ----------------------------------------------------------------------------------------------

    def _maybe_schedule_merge(self) -> None:
        s = self._state
        due = s.delta_count >= self.merge_threshold or s.dead.shape[0] >= max(self.merge_threshold, s.main.size // 8)
        if not (due and self.auto_merge):
            return
        if self._merge_thread is not None and self._merge_thread.is_alive():
            return
        self._merge_thread = threading.Thread(target=self._merge_in_background, name="hamming-merge", daemon=True)
        self._merge_thread.start()

    def _merge_in_background(self) -> None:
        try:
            self.merge()
        except Exception:
            log.exception("merging the Hamming index delta failed; searches stay exact, the delta keeps growing")

    def wait_for_merge(self, timeout: float | None = None) -> None:
        thread = self._merge_thread
        if thread is not None:
            thread.join(timeout)

    def _compacted(self, s: _State) -> _Segment:
        """A new main segment holding every live entry of ``s``."""
        main = s.main
        keep_main = np.ones(main.size, dtype=np.bool_)
        keep_delta = np.ones(s.delta_count, dtype=np.bool_)
        keep_main[s.dead[s.dead < main.size]] = False
        keep_delta[s.dead[s.dead >= main.size] - main.size] = False
        ids = np.concatenate([main.all_ids()[keep_main], s.delta_ids[: s.delta_count][keep_delta]])
        codes = np.concatenate([main.codes[keep_main], s.delta_codes[: s.delta_count][keep_delta]])
        return _Segment.build(ids, codes, self.layout)

    def merge(self) -> None:
        """Fold the delta rows into the main segment and drop tombstones. Searches continue meanwhile."""
        with self._merge_lock:
            with self._write_lock:
                before = self._state
            if before.delta_count == 0 and before.dead.size == 0:
                return
            main = self._compacted(before)  # the slow part: no lock held, the kernels release the GIL
            with self._write_lock:
                now = self._state
                old_main, k = before.main.size, before.delta_count
                # Rows removed or replaced while merging: those already folded in are found again by id.
                gone = np.setdiff1d(now.dead, before.dead, assume_unique=True)
                folded = gone[gone < old_main + k]
                folded_ids = np.concatenate(
                    [
                        before.main.ids_at(folded[folded < old_main]),
                        before.delta_ids[folded[folded >= old_main] - old_main],
                    ]
                )
                dead_main = main.rows_of(np.unique(folded_ids))
                tail = now.delta_count - k
                capacity = max(1024, 2 * tail)
                codes_buf = np.zeros((capacity, 4), dtype=np.uint64)
                ids_buf = np.zeros(capacity, dtype=np.int64)
                codes_buf[:tail] = now.delta_codes[k : now.delta_count]
                ids_buf[:tail] = now.delta_ids[k : now.delta_count]
                dead_tail = gone[gone >= old_main + k] - (old_main + k) + main.size
                dead = np.union1d(dead_main, dead_tail).astype(np.int64)
                self._state = _State(main, codes_buf, ids_buf, tail, dead)

    # -- persistence ------------------------------------------------------------------------------------------

    def save(self, path: str | Path, *, log_seq: int = 0) -> None:
        """Write every live entry as one compacted segment (see docs/matching.md for the format), atomically.

        ``log_seq``: the caller's position in its change log that this copy reflects, kept in the header.
        """
        s = self._state
        main = s.main if s.delta_count == 0 and s.dead.size == 0 else self._compacted(s)
        write_segment(Path(path), SegmentArrays(main.codes, main.ids, main.id_base, main.offsets, main.positions,
                                                main.bits, log_seq=log_seq))

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        mmap: bool = False,
        verify: bool = True,
        merge_threshold: int = 65_536,
        auto_merge: bool = True,
        layout: Layout | None = None,
    ) -> HammingIndex:
        """Open a saved index. ``mmap`` maps the file instead of reading it (pages shared between processes);
        ``verify=False`` skips the payload checksum and trusts the file. Raises :class:`IndexFormatError`.
        """
        arrays, info = read_segment(Path(path), mmap=mmap, verify=verify)
        index = cls(merge_threshold=merge_threshold, auto_merge=auto_merge, layout=layout)
        main = _Segment.create(arrays.codes, arrays.ids, arrays.id_base, arrays.offsets, arrays.positions,
                               arrays.bits)
        index._state = index._fresh_state(main)
        index.file_info = info
        return index
