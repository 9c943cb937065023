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


def test_policy_checks_its_numbers() -> None:
    with pytest.raises(ValueError):
        VideoPolicy(auto_share=0)
    with pytest.raises(ValueError):
        VideoPolicy(aligned_distance=400)
    with pytest.raises(ValueError):
        VideoIndex().add(-1, [])
