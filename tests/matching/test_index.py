"""The Hamming range index answers exactly what a brute-force scan answers, through adds, removes, merges,
saves and concurrent use."""

from __future__ import annotations

import shutil
import struct
import tempfile
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from firebreak.matching.index import (
    HammingIndex,
    IndexFormatError,
    Layout,
    _Segment,
    _State,
    as_codes,
    merge_results,
    pdq_bytes_to_hex,
    pdq_hex_to_bytes,
    read_info,
    shard_of,
)

Codes = npt.NDArray[np.uint8]
Hits = list[tuple[int, int]]

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def brute_force(ids: npt.NDArray[np.int64], codes: Codes, query: Codes, radius: int) -> Hits:
    """The reference: every stored code within ``radius`` bits, ordered by distance then id."""
    if not len(ids):
        return []
    distances = np.bitwise_count(codes ^ query).sum(axis=1, dtype=np.int64)
    hit = distances <= radius
    return sorted(zip(ids[hit].tolist(), distances[hit].tolist(), strict=True), key=lambda h: (h[1], h[0]))


def flip_bits(rng: np.random.Generator, code: Codes, flips: int) -> Codes:
    bits = np.unpackbits(code)
    where = rng.choice(256, size=flips, replace=False)
    bits[where] ^= 1
    return np.packbits(bits)


def clustered(rng: np.random.Generator, seeds: int, size: int, max_flips: int) -> Codes:
    """Near-duplicate families: every code is a seed with a few bits flipped (skewed buckets)."""
    roots = rng.integers(0, 256, size=(seeds, 32), dtype=np.uint8)
    members = [flip_bits(rng, roots[rng.integers(seeds)], int(rng.integers(0, max_flips + 1))) for _ in range(size)]
    return np.array(members, dtype=np.uint8).reshape(size, 32)


def queries_for(rng: np.random.Generator, codes: Codes, count: int) -> Codes:
    """Half near-duplicates of stored codes (0..40 bits away), half random codes."""
    out = rng.integers(0, 256, size=(count, 32), dtype=np.uint8)
    for i in range(0, count, 2):
        if len(codes):
            out[i] = flip_bits(rng, codes[rng.integers(len(codes))], int(rng.integers(0, 41)))
    return out


def unique_ids(rng: np.random.Generator, n: int) -> npt.NDArray[np.int64]:
    return rng.choice(np.int64(2) ** 62, size=n, replace=False).astype(np.int64) - 2**61


def assert_exact(index: HammingIndex, ids: npt.NDArray[np.int64], codes: Codes, queries: Codes, radius: int) -> None:
    got = index.range_search(queries, radius)
    assert len(got) == len(queries)
    for q, hits in zip(queries, got, strict=True):
        assert hits == brute_force(ids, codes, q, radius)


# -- exactness ---------------------------------------------------------------------------------------------------


@PROPERTY
@given(
    codes=arrays(np.uint8, st.tuples(st.integers(0, 400), st.just(32))),
    radius=st.integers(0, 64),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_codes_match_brute_force(codes: Codes, radius: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    ids = unique_ids(rng, len(codes))
    index = HammingIndex.from_arrays(ids, codes, auto_merge=False)
    assert_exact(index, ids, codes, queries_for(rng, codes, 8), radius)


@PROPERTY
@given(
    seeds=st.integers(1, 30),
    size=st.integers(1, 3000),
    max_flips=st.integers(0, 24),
    radius=st.integers(0, 64),
    seed=st.integers(0, 2**32 - 1),
)
def test_clustered_codes_match_brute_force(seeds: int, size: int, max_flips: int, radius: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    codes = clustered(rng, seeds, size, max_flips)
    ids = unique_ids(rng, size)
    index = HammingIndex.from_arrays(ids, codes, auto_merge=False)
    assert_exact(index, ids, codes, queries_for(rng, codes, 6), radius)


@pytest.mark.parametrize("layout", [Layout(16, 16), Layout(12, 21), Layout(11, 23), Layout(21, 12)],
                         ids=lambda lay: f"{lay.n_sub}x{lay.bits}")
def test_large_index_uses_multi_index_probing_and_stays_exact(layout: Layout) -> None:
    """At 30k codes the planner probes substring tables rather than scanning, in every layout (substrings that
    straddle 64-bit words included); answers are still exact."""
    rng = np.random.default_rng(7)
    codes = np.concatenate([rng.integers(0, 256, size=(20_000, 32), dtype=np.uint8), clustered(rng, 50, 10_000, 6)])
    ids = np.arange(len(codes), dtype=np.int64) * 3 + 10**15
    index = HammingIndex.from_arrays(ids, codes, auto_merge=False, layout=layout)
    queries = queries_for(rng, codes, 40)
    words = queries.view("<u8")
    main = index._state.main
    assert main.layout == layout
    for radius in (0, 1, 15, 16, 31, 32, 47, 64):
        _, _, _, scanned = main.probe(words, radius)
        if radius <= 15 or (radius <= 31 and layout.bits <= 16):
            # Random queries (odd rows) probe; a near-duplicate of a big family may rightly prefer a scan.
            assert not scanned[1::2].any()
        assert_exact(index, ids, codes, queries, radius)


def test_the_layout_grows_with_the_index_within_100_bytes_per_code() -> None:
    assert Layout.for_size(1_000) == Layout(16, 16)
    assert Layout.for_size(1_000_000) == Layout(16, 16)
    big = Layout.for_size(10_000_000)
    assert big.bits > 16 and big.bytes_per_code(10_000_000) <= 100
    assert big.estimated_cost(10_000_000) < Layout(16, 16).estimated_cost(10_000_000) / 3
    huge = Layout.for_size(100_000_000)
    assert huge.bytes_per_code(100_000_000) <= 100 and huge.bits > big.bits
    with pytest.raises(ValueError, match="layout"):
        Layout(16, 17)


@PROPERTY
@given(n=st.integers(0, 300), n_sub=st.integers(2, 32), bits=st.integers(8, 20), radius=st.integers(0, 64),
       seed=st.integers(0, 2**32 - 1))
def test_every_layout_is_exact(n: int, n_sub: int, bits: int, radius: int, seed: int) -> None:
    n_sub = min(n_sub, 256 // bits)
    rng = np.random.default_rng(seed)
    codes = clustered(rng, 5, n, 8) if n else np.empty((0, 32), dtype=np.uint8)
    ids = np.arange(n, dtype=np.int64)
    index = HammingIndex.from_arrays(ids, codes, auto_merge=False, layout=Layout(n_sub, bits))
    assert_exact(index, ids, codes, queries_for(rng, codes, 4), radius)


def test_identical_codes_are_all_returned() -> None:
    code = np.full((1, 32), 0xAB, dtype=np.uint8)
    codes = np.repeat(code, 500, axis=0)
    index = HammingIndex.from_arrays(np.arange(500), codes)
    hits = index.range_search(code, 0)[0]
    assert hits == [(i, 0) for i in range(500)]


def test_empty_index_and_empty_query_batch() -> None:
    index = HammingIndex()
    assert len(index) == 0
    assert index.range_search(np.zeros((3, 32), dtype=np.uint8)) == [[], [], []]
    assert index.range_search(np.zeros((0, 32), dtype=np.uint8)) == []


def test_radius_is_validated() -> None:
    index = HammingIndex()
    with pytest.raises(ValueError, match="radius"):
        index.range_search(np.zeros(32, dtype=np.uint8), -1)
    with pytest.raises(ValueError, match="radius"):
        index.range_search(np.zeros(32, dtype=np.uint8), 257)


def test_hex_and_bytes_round_trip() -> None:
    hex_hash = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
    raw = pdq_hex_to_bytes(hex_hash)
    assert pdq_bytes_to_hex(raw) == hex_hash
    assert as_codes(hex_hash).tobytes() == raw
    assert as_codes([hex_hash, raw]).shape == (2, 32)
    index = HammingIndex.from_arrays([42], [hex_hash])
    assert index.range_search(hex_hash) == [[(42, 0)]]
    with pytest.raises(ValueError, match="64 hex digits"):
        pdq_hex_to_bytes("abc")
    with pytest.raises(ValueError, match="32 bytes"):
        as_codes(b"short")


def test_from_iter_builds_the_same_index_as_from_arrays() -> None:
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 256, size=(1000, 32), dtype=np.uint8)
    ids = unique_ids(rng, 1000)
    rows = ((int(i), c.tobytes().hex() if i % 2 else c.tobytes()) for i, c in zip(ids, codes, strict=True))
    streamed = HammingIndex.from_iter(rows, chunk_size=64)
    queries = queries_for(rng, codes, 20)
    assert streamed.range_search(queries, 40) == HammingIndex.from_arrays(ids, codes).range_search(queries, 40)


def test_duplicate_ids_are_refused() -> None:
    codes = np.zeros((2, 32), dtype=np.uint8)
    with pytest.raises(ValueError, match="unique"):
        HammingIndex.from_arrays([1, 1], codes)
    with pytest.raises(ValueError, match="unique"):
        HammingIndex().add([5, 5], codes)


# -- writes ------------------------------------------------------------------------------------------------------


class IndexAgainstModel(RuleBasedStateMachine):
    """Random adds, replacements, removes, merges and reloads; every search equals brute force on a dict."""

    def __init__(self) -> None:
        super().__init__()
        self.rng = np.random.default_rng(0)
        self.model: dict[int, bytes] = {}
        self.index = HammingIndex(merge_threshold=16, auto_merge=False)
        self.next_id = -50
        self.folder = Path(tempfile.mkdtemp(prefix="hamming-index-"))

    def teardown(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    @initialize(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 600), clusters=st.booleans())
    def start(self, seed: int, n: int, clusters: bool) -> None:
        self.rng = np.random.default_rng(seed)
        codes = clustered(self.rng, 5, n, 8) if clusters and n else self.rng.integers(0, 256, (n, 32), dtype=np.uint8)
        ids = np.arange(n, dtype=np.int64) * 7 + 1000
        self.index = HammingIndex.from_arrays(ids, codes, merge_threshold=16, auto_merge=False)
        self.model = {int(i): c.tobytes() for i, c in zip(ids, codes, strict=True)}

    def _arrays(self) -> tuple[npt.NDArray[np.int64], Codes]:
        ids = np.array(list(self.model), dtype=np.int64)
        codes = np.frombuffer(b"".join(self.model.values()), dtype=np.uint8).reshape(len(ids), 32)
        return ids, codes

    @rule(k=st.integers(1, 12), near=st.booleans())
    def add(self, k: int, near: bool) -> None:
        _, stored = self._arrays()
        if near and len(stored):
            codes = np.array([flip_bits(self.rng, stored[self.rng.integers(len(stored))], 3) for _ in range(k)])
        else:
            codes = self.rng.integers(0, 256, (k, 32), dtype=np.uint8)
        ids = list(range(self.next_id, self.next_id + k))
        self.next_id += k
        self.index.add(ids, codes)
        self.model.update({i: c.tobytes() for i, c in zip(ids, codes, strict=True)})

    @rule(k=st.integers(1, 5))
    def replace(self, k: int) -> None:
        if not self.model:
            return
        ids = self.rng.choice(np.array(list(self.model)), size=min(k, len(self.model)), replace=False)
        codes = self.rng.integers(0, 256, (len(ids), 32), dtype=np.uint8)
        self.index.add(ids, codes)
        self.model.update({int(i): c.tobytes() for i, c in zip(ids, codes, strict=True)})

    @rule(k=st.integers(1, 8), unknown=st.booleans())
    def remove(self, k: int, unknown: bool) -> None:
        present = np.array(list(self.model), dtype=np.int64)
        chosen = self.rng.choice(present, size=min(k, len(present)), replace=False) if len(present) else present
        wanted = np.concatenate([chosen, [10**17]]) if unknown else chosen
        assert self.index.remove(wanted) == len(chosen)
        for i in chosen.tolist():
            del self.model[i]

    @rule()
    def merge(self) -> None:
        self.index.merge()
        assert self.index.stats().delta_rows == 0

    @rule(data=st.data())
    def save_and_load(self, data: st.DataObject) -> None:
        path = self.folder / "index.fbh"
        self.index.save(path)
        self.index = HammingIndex.load(path, mmap=data.draw(st.booleans()), merge_threshold=16, auto_merge=False)

    @invariant()
    def searches_are_exact(self) -> None:
        ids, codes = self._arrays()
        assert len(self.index) == len(ids)
        radius = int(self.rng.integers(0, 65))
        assert_exact(self.index, ids, codes, queries_for(self.rng, codes, 4), radius)


TestIndexAgainstModel = IndexAgainstModel.TestCase
TestIndexAgainstModel.settings = settings(
    max_examples=25, stateful_step_count=20, deadline=None, suppress_health_check=list(HealthCheck)
)


def test_withdrawn_entry_stops_matching_immediately() -> None:
    rng = np.random.default_rng(11)
    codes = rng.integers(0, 256, (5000, 32), dtype=np.uint8)
    index = HammingIndex.from_arrays(np.arange(5000), codes)
    assert index.range_search(codes[123], 0) == [[(123, 0)]]
    assert index.remove([123]) == 1
    assert index.range_search(codes[123], 0) == [[]]
    assert index.remove([123]) == 0
    index.add([123], codes[123])
    assert index.range_search(codes[123], 0) == [[(123, 0)]]


def test_auto_merge_folds_the_delta_in_the_background() -> None:
    rng = np.random.default_rng(5)
    codes = rng.integers(0, 256, (300, 32), dtype=np.uint8)
    index = HammingIndex(merge_threshold=50, auto_merge=True)
    for start in range(0, 300, 25):
        index.add(np.arange(start, start + 25), codes[start : start + 25])
    index.wait_for_merge()
    index.merge()
    stats = index.stats()
    assert (stats.live, stats.main_rows, stats.delta_rows, stats.dead_rows) == (300, 300, 0, 0)
    assert_exact(index, np.arange(300), codes, queries_for(rng, codes, 10), 40)


def test_writes_made_during_a_merge_are_kept() -> None:
    """Adds, replacements and removes that land while the merge builds its segment survive the swap."""
    rng = np.random.default_rng(9)
    codes = rng.integers(0, 256, (400, 32), dtype=np.uint8)
    late = rng.integers(0, 256, (4, 32), dtype=np.uint8)

    class WritesMidMerge(HammingIndex):
        def _compacted(self, s: _State) -> _Segment:
            segment = super()._compacted(s)
            self.remove([0, 350])  # one folded from main, one from the delta
            self.add([1, 900, 901], late[:3])  # a replacement of a folded entry, two new ones
            self.remove([900])  # removed again before the swap
            return segment

    index = WritesMidMerge.from_arrays(np.arange(300), codes[:300], auto_merge=False)
    index.add(np.arange(300, 400), codes[300:])
    index.merge()
    model = {i: codes[i] for i in range(400) if i not in (0, 1, 350)} | {1: late[0], 901: late[2]}
    ids = np.array(list(model), dtype=np.int64)
    stored = np.array(list(model.values()), dtype=np.uint8)
    assert len(index) == len(model)
    assert_exact(index, ids, stored, np.concatenate([queries_for(rng, stored, 10), codes[[0, 1, 350]], late]), 31)


# -- persistence -------------------------------------------------------------------------------------------------


@PROPERTY
@given(n=st.integers(0, 500), wide_ids=st.booleans(), seed=st.integers(0, 2**32 - 1), mmap=st.booleans())
def test_save_and_load_round_trip(tmp_path_factory: pytest.TempPathFactory, n: int, wide_ids: bool, seed: int,
                                  mmap: bool) -> None:  # fmt: skip
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    ids = unique_ids(rng, n) if wide_ids else np.arange(n, dtype=np.int64) + 2**40
    index = HammingIndex.from_arrays(ids, codes, auto_merge=False)
    extra = rng.integers(0, 256, (5, 32), dtype=np.uint8)
    index.add(np.arange(5) - 10, extra)  # a delta and a tombstone are compacted into the file
    index.remove(ids[:1])
    path = tmp_path_factory.mktemp("idx") / "index.fbh"
    index.save(path)
    loaded = HammingIndex.load(path, mmap=mmap)
    assert len(loaded) == len(index)
    queries = queries_for(rng, np.concatenate([codes, extra]), 10)
    for radius in (0, 31, 64):
        assert loaded.range_search(queries, radius) == index.range_search(queries, radius)
    loaded.add([10**18], extra[:1])  # a loaded (even memory-mapped) index takes writes
    assert (10**18, 0) in loaded.range_search(extra[0], 0)[0]


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    rng = np.random.default_rng(2)
    path = tmp_path / "index.fbh"
    HammingIndex.from_arrays(np.arange(200), rng.integers(0, 256, (200, 32), dtype=np.uint8)).save(path)
    return path


def _patch(path: Path, offset: int, data: bytes, *, fix_crc: bool = False) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset : offset + len(data)] = data
    if fix_crc:
        raw[124:128] = struct.pack("<I", zlib.crc32(bytes(raw[:124])))
    path.write_bytes(bytes(raw))


def test_a_wide_layout_and_the_log_position_survive_saving(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    codes = rng.integers(0, 256, (3000, 32), dtype=np.uint8)
    ids = np.arange(3000, dtype=np.int64) + 7
    index = HammingIndex.from_arrays(ids, codes, auto_merge=False, layout=Layout(11, 23))
    path = tmp_path / "wide.fbh"
    index.save(path, log_seq=123_456)
    info = read_info(path)
    assert (info.version, info.count, info.n_sub, info.bits, info.log_seq) == (2, 3000, 11, 23, 123_456)
    assert abs(info.written_at - time.time()) < 60
    loaded = HammingIndex.load(path, mmap=True)
    assert loaded.file_info == info and loaded._state.main.layout == Layout(11, 23)
    queries = queries_for(rng, codes, 20)
    assert loaded.range_search(queries, 31) == index.range_search(queries, 31)


def test_files_of_format_version_1_still_load(saved: Path) -> None:
    """Version 1 is version 2 with 16 substrings of 16 bits and no log position."""
    before = HammingIndex.load(saved)
    _patch(saved, 8, struct.pack("<I", 1))
    _patch(saved, 88, bytes(36), fix_crc=True)
    info = read_info(saved)
    assert (info.version, info.log_seq, info.written_at) == (1, 0, 0)
    queries = np.random.default_rng(3).integers(0, 256, (10, 32), dtype=np.uint8)
    assert HammingIndex.load(saved).range_search(queries, 64) == before.range_search(queries, 64)


def test_bad_magic_is_reported(saved: Path) -> None:
    _patch(saved, 0, b"PK\x03\x04abcd")
    with pytest.raises(IndexFormatError, match="bad magic"):
        HammingIndex.load(saved)


def test_unknown_version_is_reported(saved: Path) -> None:
    _patch(saved, 8, struct.pack("<I", 3), fix_crc=True)
    with pytest.raises(IndexFormatError, match="unsupported format version 3"):
        HammingIndex.load(saved)


def test_damaged_header_is_reported(saved: Path) -> None:
    _patch(saved, 32, struct.pack("<Q", 199))  # the row count, without fixing the header CRC
    with pytest.raises(IndexFormatError, match="header checksum"):
        HammingIndex.load(saved)


@pytest.mark.parametrize("keep", [0, 100, 128, 5000, -1])
def test_truncated_file_is_reported(saved: Path, keep: int) -> None:
    raw = saved.read_bytes()
    saved.write_bytes(raw[:keep])
    with pytest.raises(IndexFormatError, match="truncated"):
        HammingIndex.load(saved)


@pytest.mark.parametrize("mmap", [False, True])
def test_damaged_payload_fails_the_checksum(saved: Path, mmap: bool) -> None:
    raw = bytearray(saved.read_bytes())
    raw[200] ^= 0x10  # one bit of one stored code
    saved.write_bytes(bytes(raw))
    with pytest.raises(IndexFormatError, match="checksum mismatch"):
        HammingIndex.load(saved, mmap=mmap)


# -- concurrency -------------------------------------------------------------------------------------------------


def test_concurrent_readers_see_the_index_before_or_after_each_write() -> None:
    rng = np.random.default_rng(4)
    codes = rng.integers(0, 256, (4000, 32), dtype=np.uint8)
    query = codes[17]
    family = np.array([flip_bits(rng, query, int(f)) for f in rng.integers(0, 20, size=30)])
    family_ids = np.arange(30) + 10**9
    # A small threshold so background merges run during the reads and writes.
    index = HammingIndex.from_arrays(np.arange(4000), codes, merge_threshold=60, auto_merge=True)
    without = index.range_search(query, 31)[0]
    with_family = sorted(without + brute_force(family_ids, family, query, 31), key=lambda h: (h[1], h[0]))
    allowed = {tuple(without), tuple(with_family)}

    done = threading.Event()
    seen: set[tuple[tuple[int, int], ...]] = set()
    errors: list[BaseException] = []
    searches = [0]

    def read() -> None:
        try:
            while not done.is_set():
                seen.add(tuple(index.range_search(query, 31)[0]))
                searches[0] += 1
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(3)]
    for t in readers:
        t.start()
    for _ in range(60):
        index.add(family_ids, family)  # the whole family appears in one write ...
        time.sleep(0.002)
        index.remove(family_ids)  # ... and disappears in one write
        time.sleep(0.002)
    done.set()
    for t in readers:
        t.join()
    index.wait_for_merge()

    assert not errors
    assert searches[0] > 0
    assert seen <= allowed
    assert seen == allowed
    assert index.range_search(query, 31)[0] == without


# -- sharding ----------------------------------------------------------------------------------------------------


def test_sharded_indexes_answer_like_one_index() -> None:
    rng = np.random.default_rng(8)
    codes = clustered(rng, 20, 3000, 10)
    ids = unique_ids(rng, 3000)
    shard = shard_of(ids, 3)
    assert set(shard.tolist()) == {0, 1, 2}
    assert np.array_equal(shard_of(ids, 3), shard)  # stable
    parts = [HammingIndex.from_arrays(ids[shard == s], codes[shard == s]) for s in range(3)]
    queries = queries_for(rng, codes, 12)
    merged = merge_results([p.search(queries, 31) for p in parts])
    assert merged.to_lists() == HammingIndex.from_arrays(ids, codes).range_search(queries, 31)
