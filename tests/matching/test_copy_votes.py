"""The copy index's votes: the compiled exclusive vote gives what sorting every pair gives, and the vote for every
item weighs rare, close descriptors over common texture (`copydetect._votes`)."""

from __future__ import annotations

from unittest.mock import patch

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from firebreak.matching import copydetect
from firebreak.signals.keypoints import FeatureSet


def _reference(packed: copydetect._Packed, query: FeatureSet, max_distance: int) -> dict[int, int]:
    """Every (query keypoint, banked row) pair the keys meet, sorted by query and distance (stable): each keypoint
    votes for the item of its nearest row when it is <= 0.8 x the nearest row of any other item."""
    keys = copydetect._keys(query.descriptors)
    banked_keys = copydetect._keys(packed.codes)  # the rows' own keys: the reference reads no offsets
    pairs: list[tuple[int, int]] = []
    for table in range(copydetect._TABLES):
        in_order = banked_keys[packed.positions[table], table]  # each table's rows, sorted by key
        for i in range(len(query)):
            low = np.searchsorted(in_order, keys[i, table], side="left")
            high = np.searchsorted(in_order, keys[i, table], side="right")
            if high - low <= packed.bucket_cap:
                pairs += [(i, int(packed.positions[table, j])) for j in range(low, high)]
    votes: dict[int, int] = {}
    for i in range(len(query)):
        met = [(int(np.unpackbits(query.descriptors[i] ^ packed.codes[row]).sum()), int(packed.slot_of_row[row]))
               for q, row in pairs if q == i]
        met = sorted((d, n, slot) for n, (d, slot) in enumerate(met) if d <= max_distance)
        if not met:
            continue
        best, _, slot = met[0]
        runner = min((d for d, _, s in met if s != slot), default=256)
        if best <= copydetect._VOTE_RATIO * runner:
            votes[slot] = votes.get(slot, 0) + 1
    return votes


def _sets(seed: int, items: int, per_item: int, flips: int) -> tuple[dict[int, FeatureSet], FeatureSet]:
    """Items whose descriptors are noisy copies of a few shared prototypes (so keys collide, buckets hold several
    rows and distances tie), and a query made the same way."""
    rng = np.random.default_rng(seed)
    prototypes = rng.integers(0, 256, size=(6, 32), dtype=np.uint8)

    def noisy(count: int) -> npt.NDArray[np.uint8]:
        codes = prototypes[rng.integers(0, len(prototypes), count)].copy()
        bits = np.unpackbits(codes, axis=1)
        for row in bits:
            row[rng.choice(256, size=int(rng.integers(0, flips + 1)), replace=False)] ^= 1
        return np.packbits(bits, axis=1)

    def feature_set(count: int) -> FeatureSet:
        points = rng.uniform(0, 300, size=(count, 2)).astype(np.float32)
        return FeatureSet(300, 300, points, noisy(count))

    return {item * 7: feature_set(per_item) for item in range(items)}, feature_set(40)


@pytest.mark.parametrize("dense", [False, True], ids=["runs of keys", "dense offsets"])
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), items=st.integers(1, 6), flips=st.integers(0, 40),
       max_distance=st.sampled_from([0, 20, 56, 256]), cap=st.sampled_from([4, 16, 1000]))
@example(seed=1, items=4, flips=0, max_distance=0, cap=1000)  # exact copies in several items: ties at distance 0
@example(seed=2, items=5, flips=3, max_distance=56, cap=4)  # most buckets over the cap: skipped as stop words
def test_the_compiled_vote_is_the_sorted_one(dense: bool, seed: int, items: int, flips: int, max_distance: int,
                                             cap: int) -> None:
    features, query = _sets(seed, items, 30, flips)
    with patch.object(copydetect, "_DENSE_ROWS", 0 if dense else 1 << 30), \
            patch.object(copydetect, "_MIN_BUCKET_CAP", cap):
        packed = copydetect._pack(features)
    # Dense: one run per key. Otherwise about one run per keypoint: a run spans many keys, and the prototypes'
    # near copies share runs, so the search within a run is met (items x 30 rows: 2^4 to 2^7 runs).
    assert (packed.shift == 0) == dense and (packed.offsets.shape[1] == (copydetect._KEYS >> packed.shift) + 1)
    assert dense or packed.offsets.shape[1] <= len(packed.codes) + 1
    slots, counts = copydetect._votes(packed, query, max_distance, exclusive=True)
    assert dict(zip(slots.tolist(), counts.tolist(), strict=True)) == _reference(packed, query, max_distance)


_WIDTHS = {1, 2, 3, (1 << 18) - 1} | {rows for k in range(2, 18) for rows in (1 << k, (1 << k) + 1)}


@pytest.mark.parametrize("rows", sorted(_WIDTHS))
def test_runs_of_keys_find_every_row_of_a_key(rows: int) -> None:
    """`_bucket` gives exactly the rows holding each key, at every run width a small index can have (from half the
    key space, one or two keypoints, to 8 key values, just under `_DENSE_ROWS`), for keys present, absent, below
    and above every stored one."""
    from firebreak.matching._hamming import _bucket

    rng = np.random.default_rng(rows)
    codes = rng.integers(0, 256, size=(rows, 32), dtype=np.uint8)
    codes[rows // 2:] = codes[: rows - rows // 2]  # repeated keys: buckets of two and more
    sets = {0: FeatureSet(64, 64, rng.uniform(0, 64, size=(rows, 2)).astype(np.float32), codes)}
    packed = copydetect._pack(sets)
    assert packed.shift == copydetect._KEY_BITS - max(1, rows.bit_length() - 1)
    keys = copydetect._keys(codes)
    probes = np.concatenate([keys[:, 0], rng.integers(0, copydetect._KEYS, 200), [0, copydetect._KEYS - 1]])
    in_order = keys[packed.positions[0], 0]
    for key in probes.tolist():
        low, high = _bucket(packed.offsets, packed.sorted_keys, packed.shift, 0, np.int64(key))
        assert (low, high) == (np.searchsorted(in_order, key, "left"), np.searchsorted(in_order, key, "right"))


def test_posts_are_taken_by_weighed_votes_where_rare_close_descriptors_outrank_common_texture() -> None:
    """Searching posts, each keypoint votes for every item holding a close descriptor: items full of a common texture
    collect many far votes. The copy, which holds a few of the query's descriptors nearly exactly, is taken first;
    a count alone would take it last."""
    rng = np.random.default_rng(3)
    query_codes = rng.integers(0, 256, size=(40, 32), dtype=np.uint8)

    def flipped(codes: npt.NDArray[np.uint8], bits: int) -> npt.NDArray[np.uint8]:
        unpacked = np.unpackbits(codes, axis=1)
        for row in unpacked:
            row[rng.choice(256, size=bits, replace=False)] ^= 1
        return np.packbits(unpacked, axis=1)

    def feature_set(codes: npt.NDArray[np.uint8]) -> FeatureSet:
        return FeatureSet(300, 300, rng.uniform(0, 300, size=(len(codes), 2)).astype(np.float32), codes)

    index = copydetect.CopyIndex(holds="media")
    # 60 posts of one texture: each holds the query's first 30 descriptors 30 bits off (within the 56-bit vote).
    for item in range(60):
        index.add_stored(100 + item, [], feature_set(flipped(query_codes[:30], 30)))
    index.add_stored(7, [], feature_set(flipped(query_codes[30:], 2)))  # the copy: its last 10, nearly exact
    query = feature_set(query_codes)
    votes = dict(index.candidates(query, exclusive=False, top=100))
    assert votes[7] == 10 and sum(count > 10 for count in votes.values()) >= 30, votes  # a count: 30 posts first
    assert index.candidates(query, exclusive=False, top=1) == [(7, 10)]
    # Nothing weighs the exclusive vote (the bank direction): there each keypoint already votes for one item.
    packed = index._packed_now()
    weighed: list[npt.NDArray[np.float64]] = []
    slots, counts = copydetect._votes(packed, query, 56, exclusive=True, scores=weighed)
    assert weighed == [] and len(slots) == len(counts)


@pytest.mark.parametrize(("held", "depth"), [(10, 500), (20_000, 500), (40_000, 1_000), (2_000_000, 20_000)])
def test_a_search_for_every_copy_verifies_a_share_of_the_posts_held_between_a_floor_and_a_cap(held: int,
                                                                                              depth: int) -> None:
    assert copydetect.DEFAULT_POLICY.every_depth(held) == depth


@pytest.mark.parametrize("wrong", [{"verify_share_every": 1.5}, {"verify_share_every": -0.1},
                                   {"verify_top_every": 600, "verify_most_every": 500}])
def test_a_depth_that_cannot_hold_is_refused(wrong: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="verify_"):
        copydetect.CopyPolicy(**wrong)  # type: ignore[arg-type]


def test_a_search_for_every_copy_says_how_far_it_looked_and_where_its_cap_stopped_it() -> None:
    """A newly banked picture among posts checks `every_depth` candidates a plane and reports it (`Reach`): the
    posts held, the candidates the vote reached, those checked, and whether the cap (not a depth under it) left any
    the vote reached unchecked. The propagation's audit record carries it."""
    rng = np.random.default_rng(4)
    codes = rng.integers(0, 256, size=(40, 32), dtype=np.uint8)

    def feature_set(rows: npt.NDArray[np.uint8]) -> FeatureSet:
        return FeatureSet(300, 300, rng.uniform(0, 300, size=(len(rows), 2)).astype(np.float32), rows)

    def description() -> copydetect.Description:
        return copydetect.Description(300, 300, (), feature_set(codes), (0, 0, 300, 300))

    for policy, checked, bounded in (
        (copydetect.CopyPolicy(verify_top_every=3, verify_share_every=0.25, verify_most_every=4), 4, True),  # the cap
        (copydetect.CopyPolicy(verify_top_every=3, verify_share_every=0.0, verify_most_every=4), 3, False),  # depth
        (copydetect.CopyPolicy(verify_top_every=12, verify_share_every=0.0, verify_most_every=12), 10, False),
    ):
        index = copydetect.CopyIndex(policy, holds="media")
        for item in range(10):  # ten posts holding the picture's descriptors: every one is voted for
            index.add_stored(item, [], feature_set(codes.copy()))
        for item in range(10, 16):  # six holding nothing of it
            index.add_stored(item, [], feature_set(rng.integers(0, 256, size=(40, 32), dtype=np.uint8)))
        reach = index.search(description(), every=True).reach
        assert reach == copydetect.Reach(held=16, voted=10, checked=checked, bounded=bounded)
        assert index.search(description()).reach is None  # an upload's search looks for one match, not every copy
