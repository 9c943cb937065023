"""The near-duplicate video index: clips and re-encodes of a banked video are found, other footage is not.

Videos are drawn by bench/_copy_eval.py (a camera panning across drawn scenes) and encoded with PyAV.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from firebreak.matching.video import VideoIndex, VideoPolicy, decide, sample_frames
from firebreak.signals.hashing import hash_bytes
from firebreak.signals.vpdq import VpdqFrame

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import _copy_eval as ev  # noqa: E402

FPS = ev.VIDEO_FPS
SECONDS = 90


@pytest.fixture(scope="module")
def footage() -> list[np.ndarray]:
    return ev.pan_frames(3, SECONDS)


@pytest.fixture(scope="module")
def index(footage: list[np.ndarray]) -> VideoIndex:
    videos = VideoIndex()
    videos.add(1, sample_frames(ev.encode_video(footage)))
    return videos


def upload_frames(frames: list[np.ndarray], **encoding: object) -> list[VpdqFrame]:
    """What an upload's hash path gives: one vPDQ frame a second."""
    return list(hash_bytes(ev.encode_video(frames, **encoding)).vpdq)  # type: ignore[arg-type]


def test_banked_videos_are_sampled_four_times_a_second(footage: list[np.ndarray]) -> None:
    frames = sample_frames(ev.encode_video(footage[: 10 * FPS]))
    assert [f.timestamp for f in frames[:5]] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert len(frames) == 40


@pytest.mark.parametrize("start_seconds", [3.25, 31.5, 57.75])
def test_a_clip_cut_from_a_banked_video_is_refused(
    start_seconds: float, footage: list[np.ndarray], index: VideoIndex
) -> None:
    start = int(start_seconds * FPS)
    clip = footage[start : start + 20 * FPS]
    decision = decide(index.search(upload_frames(clip, size=(256, 192), crf=30)))
    assert decision.auto_items == [1]
    (match,) = decision.matches
    assert match.contained == "query"
    assert abs(match.offset_seconds - start_seconds) <= 1.0
    assert start_seconds - 1 <= match.start_seconds and match.end_seconds <= start_seconds + 21


def test_a_re_encoded_copy_is_refused(footage: list[np.ndarray], index: VideoIndex) -> None:
    decision = decide(index.search(upload_frames(footage, size=(192, 144), crf=34)))
    assert decision.auto_items == [1]


def test_other_footage_of_the_same_places_is_not_a_copy(index: VideoIndex) -> None:
    """The same drawn scenes, filmed along other camera paths: no automatic action."""
    other = ev.pan_frames(3, SECONDS, path_seed=999)
    for start in (0, 30, 60):
        decision = decide(index.search(upload_frames(other[start * FPS : (start + 20) * FPS])))
        assert decision.kind != "auto"


def test_shuffled_seconds_do_not_line_up(footage: list[np.ndarray], index: VideoIndex) -> None:
    """The same frames out of order (a recut, or chance matches) are not a clip: time order is required."""
    seconds = [footage[s * FPS : (s + 1) * FPS] for s in range(10, 40)]
    order = np.random.default_rng(5).permutation(len(seconds))
    shuffled = [frame for i in order for frame in seconds[i]]
    decision = decide(index.search(upload_frames(shuffled)))
    assert decision.kind != "auto"


def test_retroactive_search_finds_posted_clips(footage: list[np.ndarray]) -> None:
    """A newly banked video finds the clips already posted, in the same index type."""
    posted = VideoIndex()
    posted.add(500, upload_frames(footage[20 * FPS : 45 * FPS], size=(256, 192)))
    posted.add(501, upload_frames(ev.pan_frames(8, 25)))
    found = decide(posted.search(sample_frames(ev.encode_video(footage))))
    assert found.auto_items == [500]
    (match,) = found.matches
    assert match.contained == "indexed"
    assert abs(match.offset_seconds + 20) <= 1.0  # the posted clip's second 0 is the banked video's 20


def test_removing_a_video_stops_it_matching(footage: list[np.ndarray]) -> None:
    videos = VideoIndex()
    videos.add(9, upload_frames(footage[: 30 * FPS]))
    clip = upload_frames(footage[5 * FPS : 25 * FPS])
    assert decide(videos.search(clip)).auto_items == [9]
    assert videos.remove(9) and not videos.remove(9)
    assert decide(videos.search(clip)).kind == "none"
    assert len(videos) == 0 and videos.frame_count == 0


def test_black_frames_alone_match_nothing() -> None:
    black = [np.zeros((240, 320, 3), np.uint8)] * (20 * FPS)
    videos = VideoIndex()
    videos.add(1, sample_frames(ev.encode_video(black)))
    assert videos.search(upload_frames(black)) == []


def _frames(words: np.ndarray, qualities: list[int], interval: float) -> list[VpdqFrame]:
    pairs = enumerate(zip(words, qualities, strict=True))
    return [VpdqFrame(n, n * interval, bytes(w).hex(), q) for n, (w, q) in pairs]


def _flipped(words: np.ndarray, bits: int, rng: np.random.Generator) -> np.ndarray:
    out = words.copy()
    for row in out:
        for bit in rng.choice(256, bits, replace=False):
            row[bit // 8] ^= 1 << (bit % 8)
    return out


def test_dim_seconds_of_a_clip_count_when_they_line_up_with_the_banked_ones() -> None:
    """A clip whose shots are dim (PDQ quality under 50) keeps a few good seconds that fix the offset; its dim
    seconds then count within `aligned_low_quality_distance` of the banked frame at the same moment (re-encoded
    dim frames sit 14 bits from theirs, median, and up to 40), where alone they would need 20."""
    rng = np.random.default_rng(11)
    banked_words = rng.integers(0, 256, (4 * 60, 32), dtype=np.uint8)  # 60 s, four frames a second
    banked = _frames(banked_words, [90 if n % 40 < 8 else 35 for n in range(len(banked_words))], 0.25)
    start = 20  # the clip is seconds 20-49 of the banked video
    seconds = banked_words[4 * start : 4 * (start + 30) : 4]
    qualities = [f.quality for f in banked[4 * start : 4 * (start + 30) : 4]]
    clip = _frames(_flipped(seconds, 30, rng), qualities, 1.0)
    assert sum(q < 50 for q in qualities) > len(qualities) // 2  # mostly dim

    index = VideoIndex()
    index.add(1, banked)
    (match,) = index.search(clip)
    assert (match.action, match.aligned_frames, match.offset_seconds) == ("auto", 30, 20.0)
    # The same clip judged as before (dim seconds only within 20 bits): not refused.
    strict = VideoIndex(VideoPolicy(aligned_low_quality_distance=20))
    strict.add(1, banked)
    assert decide(strict.search(clip)).kind != "auto"


def test_a_shared_opening_does_not_make_the_rest_of_a_video_a_copy() -> None:
    """Eight seconds in common (an intro, a logo sting, a banked clip inside a longer video) fix an offset; the dim
    seconds after them are other footage, far from the banked frames at that moment, and do not count however
    loose the dim distance is. The eight seconds alone send it to a person."""
    rng = np.random.default_rng(12)
    banked_words = rng.integers(0, 256, (4 * 60, 32), dtype=np.uint8)
    banked = _frames(banked_words, [80] * len(banked_words), 0.25)
    opening = _flipped(banked_words[: 4 * 8 : 4], 6, rng)
    rest = rng.integers(0, 256, (22, 32), dtype=np.uint8)
    other = _frames(np.vstack([opening, rest]), [80] * 8 + [35] * 22, 1.0)
    index = VideoIndex()
    index.add(1, banked)
    (match,) = index.search(other)
    assert (match.action, match.aligned_frames) == ("review", 8)


@pytest.mark.parametrize(("shared_seconds", "expected"), [(3, []), (10, ["review"])])
def test_seconds_in_common_are_counted_as_seconds_when_the_banked_video_is_the_shorter(
    shared_seconds: int, expected: list[str]
) -> None:
    """A 20 s banked video (four frames a second) and a 2-minute upload that opens with some of its seconds: a
    3 s sting in common is twelve banked frames but three seconds, and sends nothing to review; ten seconds do."""
    rng = np.random.default_rng(13)
    banked_words = rng.integers(0, 256, (4 * 20, 32), dtype=np.uint8)
    banked = _frames(banked_words, [80] * len(banked_words), 0.25)
    shared = _flipped(banked_words[: 4 * shared_seconds : 4], 6, rng)
    rest = rng.integers(0, 256, (120 - shared_seconds, 32), dtype=np.uint8)
    upload = _frames(np.vstack([shared, rest]), [80] * 120, 1.0)
    index = VideoIndex()
    index.add(1, banked)
    matches = index.search(upload)
    assert [m.action for m in matches] == expected
    assert all(m.contained == "indexed" for m in matches)
    # The other direction (the banked video searching posted ones) decides the same.
    posted = VideoIndex()
    posted.add(2, upload)
    assert [m.action for m in posted.search(banked)] == expected


def test_policy_checks_its_numbers() -> None:
    with pytest.raises(ValueError):
        VideoPolicy(auto_share=0)
    with pytest.raises(ValueError):
        VideoPolicy(aligned_distance=400)
    with pytest.raises(ValueError, match="review_part_seconds"):
        VideoPolicy(review_part_seconds=0)
    with pytest.raises(ValueError):
        VideoIndex().add(-1, [])
