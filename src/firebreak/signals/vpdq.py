"""vPDQ: a video as the PDQ hashes of one frame per second, and the rule for when two videos match.

Serialised value (the one python-threatexchange and HMA exchange): a JSON array of strings
`"<64 hex pdq>,<quality>,<timestamp seconds>"`, in frame order. Storage of a media item's own frames uses one
`media_signals` row per frame instead (value = the frame's PDQ hex), which is what a frame index needs.

Match rule (Meta's vPDQ): keep only frames with quality >= 50 and drop repeated hashes on each side. A frame
pair matches when its Hamming distance is <= 31. Video A matches video B when at least `query_percent` of
A's frames match some frame of B, and at least `target_percent` of B's frames match some frame of A.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from firebreak.signals.base import Comparison, ContentKind, SignalType, check_hex
from firebreak.signals.pdq import PDQ_HEX_LENGTH, PDQ_MATCH_DISTANCE, PDQ_MIN_QUALITY, PdqSignal, is_matchable


@dataclass(frozen=True, slots=True)
class VpdqFrame:
    frame_number: int  # index of the frame in decode order
    timestamp: float  # seconds from the start of the video
    pdq: str
    quality: int

    @property
    def matchable(self) -> bool:
        return is_matchable(self.quality)


@dataclass(frozen=True, slots=True)
class VpdqMatchRule:
    max_distance: int = PDQ_MATCH_DISTANCE
    min_quality: int = PDQ_MIN_QUALITY
    query_percent: float = 80.0
    target_percent: float = 80.0

    def __post_init__(self) -> None:
        if not 0 <= self.max_distance <= 256:
            raise ValueError(f"max_distance must be between 0 and 256 bits, got {self.max_distance}")
        if not 0 <= self.min_quality <= 100:
            raise ValueError(f"min_quality must be between 0 and 100, got {self.min_quality}")
        for field in ("query_percent", "target_percent"):
            percent = getattr(self, field)
            if not 0 <= percent <= 100:
                raise ValueError(f"{field} must be between 0 and 100, got {percent}")


DEFAULT_VPDQ_RULE = VpdqMatchRule()


@dataclass(frozen=True, slots=True)
class VpdqMatch:
    query_percent: float  # share of the query's usable frames that found a partner
    target_percent: float  # share of the target's usable frames that found a partner
    match: bool


def usable_frames(frames: Iterable[VpdqFrame], min_quality: int = PDQ_MIN_QUALITY) -> list[str]:
    """The hashes that take part in matching: good enough quality, each distinct hash once, in order."""
    seen: dict[str, None] = {}
    for frame in frames:
        if frame.quality >= min_quality:
            seen.setdefault(frame.pdq, None)
    return list(seen)


def _as_words(hashes: Sequence[str]) -> npt.NDArray[np.uint64]:
    raw = b"".join(bytes.fromhex(h) for h in hashes)
    return np.frombuffer(raw, dtype=">u8").astype(np.uint64).reshape(len(hashes), 4)


# Pairs compared at once: keeps the (rows x targets x 4 words) intermediate near 32 MB for hour-long videos.
_BLOCK_PAIRS = 1_000_000


def _matched(query: npt.NDArray[np.uint64], target: npt.NDArray[np.uint64], max_distance: int) -> tuple[int, int]:
    """How many query rows have a target row within max_distance, and vice versa."""
    query_hit = np.zeros(len(query), dtype=bool)
    target_hit = np.zeros(len(target), dtype=bool)
    block = max(1, _BLOCK_PAIRS // max(1, len(target)))
    for start in range(0, len(query), block):
        part = query[start : start + block]
        distances = np.bitwise_count(part[:, np.newaxis, :] ^ target[np.newaxis, :, :]).sum(axis=2)
        close = distances <= max_distance
        query_hit[start : start + block] = close.any(axis=1)
        target_hit |= close.any(axis=0)
    return int(query_hit.sum()), int(target_hit.sum())


def match_frames(
    query: Iterable[VpdqFrame], target: Iterable[VpdqFrame], rule: VpdqMatchRule = DEFAULT_VPDQ_RULE
) -> VpdqMatch:
    """Apply the vPDQ rule to two videos' frames. A side with no usable frames matches nothing."""
    query_hashes = usable_frames(query, rule.min_quality)
    target_hashes = usable_frames(target, rule.min_quality)
    if not query_hashes or not target_hashes:
        return VpdqMatch(query_percent=0.0, target_percent=0.0, match=False)
    query_hits, target_hits = _matched(_as_words(query_hashes), _as_words(target_hashes), rule.max_distance)
    query_percent = 100.0 * query_hits / len(query_hashes)
    target_percent = 100.0 * target_hits / len(target_hashes)
    return VpdqMatch(
        query_percent=query_percent,
        target_percent=target_percent,
        match=query_percent >= rule.query_percent and target_percent >= rule.target_percent,
    )


def frames_to_value(frames: Iterable[VpdqFrame]) -> str:
    """Serialise frames to the exchange format (see the module docstring)."""
    return json.dumps([f"{f.pdq},{f.quality},{f.timestamp:.3f}" for f in frames], separators=(",", ":"))


def value_to_frames(value: str) -> list[VpdqFrame]:
    """Parse the exchange format; frame numbers become positions. Raises ValueError naming the bad entry."""
    try:
        items = json.loads(value)
    except (TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"vpdq value is not JSON: {exc}") from None
    if not isinstance(items, list):
        raise ValueError("vpdq value must be a JSON array of 'hash,quality,timestamp' strings")
    frames = []
    previous = -1.0
    for position, item in enumerate(items):
        where = f"vpdq frame {position}"
        if not isinstance(item, str) or item.count(",") != 2:
            raise ValueError(f"{where} must be a 'hash,quality,timestamp' string, got {item!r:.80}")
        pdq_text, quality_text, time_text = item.split(",")
        pdq = check_hex(pdq_text, name=where, length=PDQ_HEX_LENGTH)
        try:
            quality = int(quality_text)
            timestamp = float(time_text)
        except ValueError:
            raise ValueError(f"{where} has a bad quality or timestamp: {item!r:.80}") from None
        if not 0 <= quality <= 100:
            raise ValueError(f"{where} quality must be between 0 and 100, got {quality}")
        if not timestamp >= 0 or timestamp == float("inf"):
            raise ValueError(f"{where} timestamp must be a finite number of seconds >= 0, got {time_text}")
        if timestamp < previous:
            raise ValueError(f"{where} goes back in time ({timestamp} after {previous})")
        previous = timestamp
        frames.append(VpdqFrame(frame_number=position, timestamp=round(timestamp, 3), pdq=pdq, quality=quality))
    return frames


class VpdqSignal(SignalType):
    name: ClassVar[str] = "vpdq"
    description: ClassVar[str] = "vPDQ video hash: PDQ of one frame per second, matched by share of frames."
    kinds: ClassVar[frozenset[ContentKind]] = frozenset({ContentKind.VIDEO})

    @classmethod
    def validate(cls, value: str) -> str:
        frames = value_to_frames(value)
        if not frames:
            raise ValueError("vpdq value has no frames")
        return frames_to_value(frames)

    @classmethod
    def compare(cls, a: str, b: str, *, rule: VpdqMatchRule = DEFAULT_VPDQ_RULE) -> Comparison:
        result = match_frames(value_to_frames(a), value_to_frames(b), rule)
        missed = 100.0 - min(result.query_percent, result.target_percent)
        return Comparison(match=result.match, distance=round(missed))

    @classmethod
    def examples(cls) -> Sequence[str]:
        pdqs = PdqSignal.examples()
        one = [VpdqFrame(i, float(i), pdq, 100) for i, pdq in enumerate(pdqs)]
        other = [VpdqFrame(i, float(i), pdq, 90) for i, pdq in enumerate(reversed(pdqs))]
        lone = [VpdqFrame(0, 0.0, "5" * 64, 100)]
        return [frames_to_value(one), frames_to_value(other), frames_to_value(lone)]
