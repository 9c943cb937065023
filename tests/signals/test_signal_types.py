"""Each built-in signal type against the contract, plus what is particular to it."""

from __future__ import annotations

import json
import random
from typing import ClassVar

import numpy as np
import pdqhash
import pytest

from firebreak.signals import vpdq
from firebreak.signals.base import SignalType
from firebreak.signals.exact import Md5Signal, Sha256Signal, exact_hashes
from firebreak.signals.pdq import PdqSignal, hamming_distance, pdq_from_bytes, pdq_from_luma, pdq_to_bytes
from firebreak.signals.vpdq import (
    VpdqFrame,
    VpdqMatchRule,
    VpdqSignal,
    frames_to_value,
    match_frames,
    value_to_frames,
)
from tests.signals.contract import SignalTypeContract
from tests.signals.samples import photo


def flip_bits(value: str, count: int, *, seed: int = 0) -> str:
    number = int(value, 16)
    for bit in random.Random(seed).sample(range(256), count):
        number ^= 1 << bit
    return f"{number:064x}"


class TestSha256(SignalTypeContract):
    signal_type: ClassVar[type[SignalType]] = Sha256Signal
    invalid_values = ("a" * 63, "a" * 65, "g" * 64)

    def spellings(self, value: str) -> list[str]:
        return [value.upper(), f"  {value}\n"]

    def test_known_vector(self) -> None:
        assert Sha256Signal.hash_bytes(b"abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

    def test_different_values_do_not_match(self) -> None:
        a, b = Sha256Signal.examples()[:2]
        assert not Sha256Signal.compare(a, b).match


class TestMd5(SignalTypeContract):
    signal_type: ClassVar[type[SignalType]] = Md5Signal
    invalid_values = ("a" * 31, "a" * 64, "x" * 32)

    def spellings(self, value: str) -> list[str]:
        return [value.upper(), f"\t{value} "]

    def test_known_vector(self) -> None:
        assert Md5Signal.hash_bytes(b"abc") == "900150983cd24fb0d6963f7d28e17f72"

    def test_exact_hashes_gives_both(self) -> None:
        both = exact_hashes(b"abc")
        assert both.md5 == "900150983cd24fb0d6963f7d28e17f72"
        assert both.sha256.startswith("ba7816bf")


class TestPdq(SignalTypeContract):
    signal_type: ClassVar[type[SignalType]] = PdqSignal
    invalid_values = ("a" * 63, "a" * 65, "a" * 63 + "g", "a" * 32)

    def spellings(self, value: str) -> list[str]:
        return [value.upper(), f" {value} "]

    def test_distance_decides_the_match_at_31_bits(self) -> None:
        base = PdqSignal.examples()[0]
        assert PdqSignal.compare(base, flip_bits(base, 31)).match
        assert PdqSignal.compare(base, flip_bits(base, 31)).distance == 31
        far = PdqSignal.compare(base, flip_bits(base, 32))
        assert not far.match
        assert far.distance == 32

    def test_threshold_is_configurable(self) -> None:
        base = PdqSignal.examples()[0]
        assert PdqSignal.compare(base, flip_bits(base, 40), max_distance=40).match
        assert not PdqSignal.compare(base, flip_bits(base, 10), max_distance=9).match
        with pytest.raises(ValueError, match="max_distance"):
            PdqSignal.compare(base, base, max_distance=300)

    def test_bytes_round_trip(self) -> None:
        value = PdqSignal.examples()[0]
        raw = pdq_to_bytes(value.upper())
        assert len(raw) == 32
        assert pdq_from_bytes(raw) == value
        with pytest.raises(ValueError, match="32 bytes"):
            pdq_from_bytes(raw[:31])

    def test_hex_layout_is_the_reference_one(self) -> None:
        # python-threatexchange writes the bit vector as one binary number; HMA and StopNCII share those.
        luma = np.asarray(photo("coffee")[:, :, 1])
        ours = pdq_from_luma(luma)
        bits, quality = pdqhash.compute(np.stack([luma] * 3, axis=2))
        reference = f"{int(''.join(str(int(b)) for b in bits), 2):064x}"
        assert ours.value == reference
        assert ours.quality == quality

    def test_hamming_distance_counts_bits(self) -> None:
        assert hamming_distance("0" * 64, "f" * 64) == 256
        assert hamming_distance("0" * 63 + "3", "0" * 64) == 2


def frames(*hashes: str, quality: int = 100) -> list[VpdqFrame]:
    return [VpdqFrame(i, float(i), h, quality) for i, h in enumerate(hashes)]


def random_hashes(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [f"{rng.getrandbits(256):064x}" for _ in range(count)]


class TestVpdq(SignalTypeContract):
    signal_type: ClassVar[type[SignalType]] = VpdqSignal
    invalid_values = (
        json.dumps(["a" * 64 + ",100"]),
        json.dumps(["a" * 63 + ",100,0.0"]),
        json.dumps(["a" * 64 + ",101,0.0"]),
        json.dumps(["a" * 64 + ",100,-1"]),
        json.dumps(["a" * 64 + ",100,nan"]),
        json.dumps(["a" * 64 + ",x,0"]),
        json.dumps(["a" * 64 + ",100,2.0", "b" * 64 + ",100,1.0"]),
        json.dumps([["a" * 64, 100, 0.0]]),
    )

    def spellings(self, value: str) -> list[str]:
        pretty = json.dumps(json.loads(value), indent=2)
        upper = json.dumps([item.upper() for item in json.loads(value)])
        return [pretty, upper]

    def test_reads_the_python_threatexchange_format(self) -> None:
        # vpdq_to_json writes timestamps with three significant digits; both spellings must parse.
        value = json.dumps(["f" * 64 + ",100,0.0", "0" * 64 + ",49,1.0", "a" * 64 + ",87,1.23e+02"])
        parsed = value_to_frames(value)
        assert [(f.timestamp, f.quality) for f in parsed] == [(0.0, 100), (1.0, 49), (123.0, 87)]
        assert [f.matchable for f in parsed] == [True, False, True]
        assert value_to_frames(frames_to_value(parsed)) == parsed

    def test_identical_videos_match_fully(self) -> None:
        video = frames(*random_hashes(10, seed=1))
        result = match_frames(video, video)
        assert (result.query_percent, result.target_percent, result.match) == (100.0, 100.0, True)

    def test_a_clip_covers_the_query_side_only(self) -> None:
        full = frames(*random_hashes(10, seed=2))
        clip = full[:4]
        result = match_frames(clip, full)
        assert result.query_percent == 100.0
        assert result.target_percent == 40.0
        assert not result.match
        assert match_frames(clip, full, VpdqMatchRule(target_percent=40.0)).match
        assert VpdqSignal.compare(frames_to_value(clip), frames_to_value(full)).distance == 60

    def test_frame_pairs_match_up_to_31_bits(self) -> None:
        hashes = random_hashes(5, seed=3)
        near = frames(*(flip_bits(h, 31, seed=i) for i, h in enumerate(hashes)))
        too_far = frames(*(flip_bits(h, 32, seed=i) for i, h in enumerate(hashes)))
        assert match_frames(frames(*hashes), near).match
        assert match_frames(frames(*hashes), too_far).query_percent == 0.0

    def test_low_quality_frames_take_no_part(self) -> None:
        hashes = random_hashes(4, seed=4)
        good = frames(*hashes)
        weak = frames(*hashes, quality=49)
        assert match_frames(good, weak) == match_frames(good, [])
        assert not match_frames(weak, weak).match
        mixed = good[:2] + weak[2:]
        assert match_frames(mixed, good).query_percent == 100.0
        assert match_frames(mixed, good).target_percent == 50.0

    def test_repeated_frames_count_once(self) -> None:
        still, other = random_hashes(2, seed=5)
        query = frames(*([still] * 9 + [other]))
        target = frames(still)
        result = match_frames(query, target)
        assert result.query_percent == 50.0
        assert result.target_percent == 100.0

    def test_blockwise_matching_agrees_with_pairwise_comparison(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # Small blocks, so the frame matrix is computed in many pieces as it would be for long videos.
        monkeypatch.setattr(vpdq, "_BLOCK_PAIRS", 2_000)
        rng = random.Random(6)
        target_hashes = random_hashes(300, seed=7)
        query_hashes = [flip_bits(rng.choice(target_hashes), rng.choice([5, 30, 32, 60]), seed=n) for n in range(150)]
        query_hashes += random_hashes(50, seed=8)
        result = match_frames(frames(*query_hashes), frames(*target_hashes))
        query_set, target_set = list(dict.fromkeys(query_hashes)), list(dict.fromkeys(target_hashes))
        query_hits = sum(any(hamming_distance(q, t) <= 31 for t in target_set) for q in query_set)
        target_hits = sum(any(hamming_distance(q, t) <= 31 for q in query_set) for t in target_set)
        assert result.query_percent == pytest.approx(100.0 * query_hits / len(query_set))
        assert result.target_percent == pytest.approx(100.0 * target_hits / len(target_set))
        assert 0 < query_hits < len(query_set)

    def test_rule_is_checked(self) -> None:
        with pytest.raises(ValueError, match="query_percent"):
            VpdqMatchRule(query_percent=120)
        with pytest.raises(ValueError, match="min_quality"):
            VpdqMatchRule(min_quality=-1)

    def test_configurable_percentages(self) -> None:
        full = frames(*random_hashes(10, seed=9))
        half = full[:5] + frames(*random_hashes(5, seed=10))
        assert not match_frames(half, full).match
        assert match_frames(half, full, VpdqMatchRule(query_percent=50, target_percent=50)).match
