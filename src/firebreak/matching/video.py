"""Near-duplicate video search over vPDQ frame hashes: re-encoded copies and clips cut from a video.

Meta's vPDQ rule (`signals.vpdq.match_frames`) compares two whole videos by the share of frames each has in
the other, so a 30-second clip of a 5-minute video matches at most 10% of it and is never found. Here a video
is found when *enough of the shorter one's frames* match frames of the longer one **at one time offset**:
the clip's second 0 is the source's second 73, its second 1 is 74, and so on. Frames that match out of order
(a still that recurs, a black frame) do not add up, so a shared intro or a slideshow of common pictures does
not make two different videos one.

    index = VideoIndex()
    index.add(video_id, sample_frames(data))  # a banked video: four frames a second
    index.add(media_id, hashes.vpdq)       # a posted one: MediaHashes.vpdq, one a second
    index.search(upload_frames)            # indexed videos the upload is a copy or clip of (or that it holds)
    decide(index.search(frames))           # VideoDecision(kind="auto" | "review" | "none", matches)

The same index type serves both directions, as `CopyIndex` does for pictures: bank videos searched by an
upload, and posted videos searched by a newly banked one (retroactive search). Whichever of the two videos
is shorter must lie (nearly) wholly inside the other.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from firebreak.matching.index import HammingIndex
from firebreak.signals.decode import DEFAULT_LIMITS, DecodeLimits
from firebreak.signals.hashing import DENSE_INTERVAL_SECONDS, video_frames
from firebreak.signals.pdq import PDQ_MATCH_DISTANCE, PDQ_MIN_QUALITY
from firebreak.signals.vpdq import VpdqFrame

__all__ = [
    "DEFAULT_VIDEO_POLICY",
    "VideoDecision",
    "VideoIndex",
    "VideoMatch",
    "VideoPolicy",
    "BANK_INTERVAL_SECONDS",
    "decide",
    "sample_frames",
]

# Banked videos are sampled four times a second (uploads keep vPDQ's one a second): signals.hashing explains why.
BANK_INTERVAL_SECONDS = DENSE_INTERVAL_SECONDS

# Row ids in the frame index: video id in the high bits, frame position in the low ones.
_FRAME_BITS = 20  # up to 1,048,575 frames per video (vPDQ takes one a second: 12 days)


@dataclass(frozen=True, slots=True)
class VideoPolicy:
    """When a video is a copy. Defaults: docs/copy-detection.md (video)."""

    max_distance: int = PDQ_MATCH_DISTANCE  # a frame pair matches within this many bits (finds the offset)
    # Once frames line up at one offset, a frame counts as matched within this many bits of a frame at the
    # same time: a clip's seconds fall between the source's, and the time alignment itself is evidence.
    aligned_distance: int = 48
    min_quality: int = PDQ_MIN_QUALITY  # frames at least this good match at the distances above
    # Frames of lower quality (dim, low-detail shots) still take part, but match only this close: a run of
    # them lined up in time is evidence, one alone is not. Below the floor (black, flat, fades) never.
    low_quality_distance: int = 20
    low_quality_floor: int = 20
    # ... and once the offset is found, a low-quality frame counts within this many bits of the frame at the same
    # moment. Dim frames of a re-encoded clip sit 14 bits (median) from theirs, 40 at the 99th percentile, while
    # low-quality frames of other footage held at one offset were never closer than 102 (docs/copy-detection.md,
    # "Videos"): the alignment carries the evidence the quality cannot.
    aligned_low_quality_distance: int = 40
    # Frames are one a second, but a clip's seconds fall between the source's: allow this much drift.
    offset_tolerance: float = 1.5
    auto_share: float = 0.8  # share of the shorter video's usable frames aligned at one offset: automatic
    auto_frames: int = 8  # ... and at least this many frames (seconds) aligned
    review_share: float = 0.5
    review_frames: int = 4
    # A video holding this many seconds of another in line (distinct seconds, whatever the sampling), whatever
    # their share of it, goes to review: a long video with a banked clip inside it (or an opening in common) is
    # for a person to judge, never acted on alone.
    review_part_seconds: int = 8

    def __post_init__(self) -> None:
        for name in ("max_distance", "aligned_distance", "low_quality_distance", "aligned_low_quality_distance"):
            if not 0 <= getattr(self, name) <= 256:
                raise ValueError(f"{name} must be between 0 and 256 bits, got {getattr(self, name)}")
        for name in ("auto_share", "review_share"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {getattr(self, name)}")
        for name in ("auto_frames", "review_frames", "review_part_seconds"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.offset_tolerance < 0:
            raise ValueError("offset_tolerance must be >= 0")


DEFAULT_VIDEO_POLICY = VideoPolicy()


@dataclass(frozen=True, slots=True)
class VideoMatch:
    """One indexed video and how the searched video lines up with it."""

    video_id: int
    action: Literal["auto", "review"]
    contained: Literal["query", "indexed"]  # the shorter video, the one found inside the other
    aligned_frames: int  # frames of the contained video that match at the best offset
    usable_frames: int  # frames of the contained video that could match (quality high enough)
    share: float  # aligned / usable
    aligned_seconds: int  # distinct seconds of the contained video among the aligned frames
    usable_seconds: int  # ... and among its usable frames (a banked video has four frames a second)
    offset_seconds: float  # time in the indexed video minus time in the query
    start_seconds: float  # where the contained video's aligned frames sit, in the other video's seconds
    end_seconds: float


@dataclass(frozen=True, slots=True)
class VideoDecision:
    kind: Literal["auto", "review", "none"]
    matches: tuple[VideoMatch, ...] = ()

    @property
    def auto_items(self) -> list[int]:
        return sorted(m.video_id for m in self.matches if m.action == "auto")

    @property
    def review_items(self) -> list[int]:
        return sorted(m.video_id for m in self.matches if m.action == "review")


def decide(matches: Sequence[VideoMatch]) -> VideoDecision:
    """An upload's decision from `search`: automatic on any automatic match, else review, else none."""
    if any(m.action == "auto" for m in matches):
        return VideoDecision("auto", tuple(matches))
    return VideoDecision("review", tuple(matches)) if matches else VideoDecision("none")


def sample_frames(
    data: bytes, limits: DecodeLimits = DEFAULT_LIMITS, *, interval: float = BANK_INTERVAL_SECONDS
) -> list[VpdqFrame]:
    """PDQ of one frame every `interval` seconds, decoded as `hash_bytes` decodes (for banking a video: the bank
    keeps these beside the vPDQ value, `signals.hashing.video_frames`). Raises UnhashableMedia like `hash_bytes`."""
    return list(video_frames(data, limits, interval=interval))


@dataclass(frozen=True, slots=True)
class _Usable:
    codes: list[str]
    times: npt.NDArray[np.float64]
    words: npt.NDArray[np.uint64]  # (n, 4)
    good: npt.NDArray[np.bool_]  # quality >= the policy's min_quality


def _usable(frames: Sequence[VpdqFrame], policy: VideoPolicy) -> _Usable:
    kept = [f for f in frames if f.quality >= policy.low_quality_floor]
    raw = b"".join(bytes.fromhex(f.pdq) for f in kept)
    return _Usable(
        codes=[f.pdq for f in kept],
        times=np.array([f.timestamp for f in kept], dtype=np.float64),
        words=np.frombuffer(raw, dtype=np.uint64).reshape(len(kept), 4).copy(),
        good=np.array([f.quality >= policy.min_quality for f in kept], dtype=bool),
    )


class VideoIndex:
    """vPDQ frames of many videos, searched for time-aligned runs of matching frames. Thread-safe."""

    def __init__(self, policy: VideoPolicy = DEFAULT_VIDEO_POLICY) -> None:
        self.policy = policy
        self._lock = threading.Lock()
        self._frames = HammingIndex(merge_threshold=65_536)
        self._videos: dict[int, _Usable] = {}  # video id -> its usable frames

    def __len__(self) -> int:
        return len(self._videos)

    def __contains__(self, video_id: object) -> bool:
        return video_id in self._videos

    def item_ids(self) -> list[int]:
        """The videos held now."""
        with self._lock:
            return list(self._videos)

    @property
    def frame_count(self) -> int:
        return len(self._frames)

    def add(self, video_id: int, frames: Sequence[VpdqFrame]) -> None:
        """Add (or replace) a video by its vPDQ frames. Only frames of usable quality are kept."""
        if not 0 <= video_id < 1 << (63 - _FRAME_BITS):
            raise ValueError(f"video ids must be in 0..2**{63 - _FRAME_BITS}, got {video_id}")
        usable = _usable(frames, self.policy)
        if len(usable.codes) >= 1 << _FRAME_BITS:
            raise ValueError(f"a video may have at most {(1 << _FRAME_BITS) - 1} frames")
        with self._lock:
            self._remove_locked(video_id)
            if usable.codes:
                ids = (video_id << _FRAME_BITS) + np.arange(len(usable.codes), dtype=np.int64)
                self._frames.add(ids, usable.codes)
            self._videos[video_id] = usable

    def remove(self, video_id: int) -> bool:
        with self._lock:
            return self._remove_locked(video_id)

    def _remove_locked(self, video_id: int) -> bool:
        video = self._videos.pop(video_id, None)
        if video is None:
            return False
        if video.codes:
            self._frames.remove((video_id << _FRAME_BITS) + np.arange(len(video.codes), dtype=np.int64))
        return True

    def search(self, frames: Sequence[VpdqFrame]) -> list[VideoMatch]:
        """Indexed videos that hold the searched video or are held in it, automatic matches first.

        An upload that is a clip of a banked video, a re-encoded copy of one, or a longer video with a banked
        clip inside; for a newly banked video, the posted clips and copies of it (retroactive search).
        """
        policy = self.policy
        query = _usable(frames, policy)
        if not query.codes or not len(self._frames):
            return []
        result = self._frames.search(query.codes, max(policy.max_distance, policy.low_quality_distance))
        owner = np.repeat(np.arange(len(query.codes), dtype=np.int64), np.diff(result.lims))
        videos = result.ids >> _FRAME_BITS
        positions = result.ids & ((1 << _FRAME_BITS) - 1)
        # A pair with a low-quality frame on either side counts only within low_quality_distance.
        indexed_good = np.array(
            [
                bool(self._videos[int(v)].good[int(p)]) if int(v) in self._videos else False
                for v, p in zip(videos, positions, strict=True)
            ],
            dtype=bool,
        )
        both_good = query.good[owner] & indexed_good
        keep = np.where(
            both_good, result.distances <= policy.max_distance, result.distances <= policy.low_quality_distance
        )
        owner, videos, positions = owner[keep], videos[keep], positions[keep]
        out = []
        for video_id in np.unique(videos).tolist():
            video = self._videos.get(video_id)
            if video is None:  # removed while we searched
                continue
            mine = videos == video_id
            match = self._align(video_id, query, video, owner[mine], positions[mine])
            if match is not None:
                out.append(match)
        return sorted(out, key=lambda m: (m.action != "auto", -m.share, m.video_id))

    def _align(
        self,
        video_id: int,
        query: _Usable,
        indexed: _Usable,
        query_rows: npt.NDArray[np.int64],
        indexed_rows: npt.NDArray[np.int64],
    ) -> VideoMatch | None:
        """The time offset at which most frames match, and what share of the shorter video lines up there."""
        policy = self.policy
        offsets = indexed.times[indexed_rows] - query.times[query_rows]  # indexed time - query time
        # The shorter video is the one that must be (nearly) wholly inside the other.
        query_inside = len(query.codes) <= len(indexed.codes)
        counted = query_rows if query_inside else indexed_rows
        best_count, best_offset = 0, 0.0
        for centre in np.unique(np.round(offsets * 2) / 2).tolist():
            near = np.abs(offsets - centre) <= policy.offset_tolerance
            count = int(np.unique(counted[near]).size)
            if count > best_count:
                best_count, best_offset = count, float(np.median(offsets[near]))
        if best_count < policy.review_frames:
            return None
        # Second look, at the offset found: each frame of the shorter video against the other's frames
        # within the tolerance of the same moment, at the looser aligned distance.
        inner, outer, shift = (query, indexed, best_offset) if query_inside else (indexed, query, -best_offset)
        expected = inner.times + shift
        close_in_time = np.abs(outer.times[np.newaxis, :] - expected[:, np.newaxis]) <= policy.offset_tolerance
        bits = np.bitwise_count(inner.words[:, np.newaxis, :] ^ outer.words[np.newaxis, :, :]).sum(axis=2)
        good = inner.good[:, np.newaxis] & outer.good[np.newaxis, :]
        close = np.where(good, bits <= policy.aligned_distance, bits <= policy.aligned_low_quality_distance)
        aligned = (close_in_time & close).any(axis=1)
        count = int(aligned.sum())
        usable = len(inner.codes)
        share = count / usable if usable else 0.0
        seconds = int(np.unique(np.floor(inner.times[aligned])).size)  # a banked video has four frames a second
        if count >= policy.auto_frames and share >= policy.auto_share:
            action: Literal["auto", "review"] = "auto"
        elif count >= policy.review_frames and share >= policy.review_share:
            action = "review"
        elif seconds >= policy.review_part_seconds:
            action = "review"
        else:
            return None
        inside = expected[aligned]
        return VideoMatch(
            video_id=video_id,
            action=action,
            contained="query" if query_inside else "indexed",
            aligned_frames=count,
            usable_frames=usable,
            share=round(share, 4),
            aligned_seconds=seconds,
            usable_seconds=int(np.unique(np.floor(inner.times)).size),
            offset_seconds=round(best_offset, 3),
            start_seconds=round(float(inside.min()), 3),
            end_seconds=round(float(inside.max()), 3),
        )
