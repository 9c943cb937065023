"""Hashing videos and animations: one frame a second, and the vPDQ rule on real encodes."""

from __future__ import annotations

import numpy as np
import pytest

from firebreak.signals.base import ContentKind
from firebreak.signals.hashing import MediaHashes, hash_bytes
from firebreak.signals.pdq import hamming_distance
from firebreak.signals.vpdq import VpdqMatchRule, VpdqSignal, match_frames, value_to_frames
from tests.signals.samples import animation, encode, scene_frames, sized, video

SCENES = ("astronaut", "coffee", "chelsea", "rocket", "horse")
OTHER_SCENES = ("camera", "coins", "immunohistochemistry", "page", "hubble_deep_field")
FPS = 10


def clip(names: tuple[str, ...] = SCENES, **options: object) -> bytes:
    return video(scene_frames(names, fps=FPS), fps=FPS, **options)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def mp4() -> MediaHashes:
    return hash_bytes(clip())


@pytest.mark.parametrize(
    ("container", "codec", "mime"),
    [
        ("mp4", "libx264", "video/mp4"),
        ("mov", "mpeg4", "video/quicktime"),
        ("webm", "libvpx-vp9", "video/webm"),
        ("matroska", "libx264", "video/x-matroska"),
    ],
)
def test_one_frame_per_second(container: str, codec: str, mime: str) -> None:
    hashes = hash_bytes(clip(container=container, codec=codec))
    assert (hashes.kind, hashes.mime_type, hashes.width, hashes.height) == (ContentKind.VIDEO, mime, 160, 120)
    assert hashes.duration_seconds == pytest.approx(5.0, abs=0.11)
    assert [(f.frame_number, f.timestamp) for f in hashes.vpdq] == [(n * FPS, float(n)) for n in range(5)]
    assert all(f.matchable for f in hashes.vpdq)
    assert (hashes.pdq.value, hashes.pdq.quality) == (hashes.vpdq[0].pdq, hashes.vpdq[0].quality)
    assert hashes.dihedral == () and hashes.query_hashes == (hashes.pdq.value,)


def test_each_hashed_frame_shows_its_second(mp4: MediaHashes) -> None:
    for second, frame in enumerate(mp4.vpdq):
        # The first picture of each second, as a still, is what that vPDQ frame should have seen.
        still = scene_frames((SCENES[second],), fps=FPS)[0]
        expected = hash_bytes(encode(still, "PNG")).pdq.value
        assert hamming_distance(frame.pdq, expected) <= 20, second


def test_stored_signals_are_one_row_per_frame(mp4: MediaHashes) -> None:
    rows = mp4.signals()
    assert [r.signal_type for r in rows] == ["sha256", "md5"] + ["vpdq"] * 5
    assert [(r.frame_number, r.timestamp_seconds) for r in rows[2:]] == [(n * FPS, float(n)) for n in range(5)]
    value = mp4.vpdq_value()
    assert value is not None
    assert VpdqSignal.validate(value) == value
    assert [f.pdq for f in value_to_frames(value)] == [f.pdq for f in mp4.vpdq]


def test_the_same_video_reencoded_matches(mp4: MediaHashes) -> None:
    for copy in (clip(container="webm", codec="libvpx-vp9"), clip(container="mov", codec="mpeg4")):
        result = match_frames(hash_bytes(copy).vpdq, mp4.vpdq)
        assert result.match and result.query_percent == 100.0 and result.target_percent == 100.0
        assert VpdqSignal.compare(hash_bytes(copy).vpdq_value() or "", mp4.vpdq_value() or "").match
    # Frames are hashed at full size, as the vPDQ reference does. Under 128 pixels a side the reference samples
    # pixels without blurring them, so a 96 x 72 copy of this 160 x 120 clip moves 14-32 bits a frame (at
    # 640 x 480 -> 384 x 288: 6-10): it still matches by the rule, not frame for frame.
    small = [np.ascontiguousarray(sized(f, 96, 72)) for f in scene_frames(SCENES, fps=FPS)]
    result = match_frames(hash_bytes(video(small)).vpdq, mp4.vpdq)
    assert result.match and result.query_percent >= 80.0


def test_a_different_video_does_not_match(mp4: MediaHashes) -> None:
    other = hash_bytes(clip(OTHER_SCENES))
    result = match_frames(other.vpdq, mp4.vpdq)
    assert not result.match
    assert result.query_percent == 0.0


def test_a_clip_matches_only_when_the_target_share_allows(mp4: MediaHashes) -> None:
    excerpt = hash_bytes(clip(SCENES[:2]))
    result = match_frames(excerpt.vpdq, mp4.vpdq)
    assert (result.query_percent, result.target_percent, result.match) == (100.0, 40.0, False)
    assert match_frames(excerpt.vpdq, mp4.vpdq, VpdqMatchRule(target_percent=40.0)).match


def test_rotation_metadata_is_applied() -> None:
    # A phone video: pixels stored sideways plus a display matrix turning them upright.
    upright = scene_frames(SCENES[:3], fps=FPS)
    sideways = [np.ascontiguousarray(np.rot90(f, -1)) for f in upright]  # turned clockwise
    hashes = hash_bytes(video(sideways, fps=FPS, rotation=90))
    assert (hashes.width, hashes.height) == (160, 120)
    assert match_frames(hashes.vpdq, hash_bytes(video(upright, fps=FPS)).vpdq).match


def test_an_animated_gif_is_a_video() -> None:
    pictures = [sized(scene_frames((name,), fps=1)[0], 160, 120) for name in SCENES[:3]]
    # Three pictures, a second each, as two slightly different half-second frames (identical neighbours
    # would be merged by the encoder).
    gif = animation([np.roll(p, k, axis=1) for p in pictures for k in range(2)], "GIF", 500)
    hashes = hash_bytes(gif)
    assert (hashes.kind, hashes.mime_type, hashes.duration_seconds) == (ContentKind.VIDEO, "image/gif", 3.0)
    assert [(f.frame_number, f.timestamp) for f in hashes.vpdq] == [(0, 0.0), (2, 1.0), (4, 2.0)]
    assert hashes.pdq.value == hashes.vpdq[0].pdq
    as_mp4 = hash_bytes(video([p for p in pictures for _ in range(FPS)], fps=FPS))
    assert match_frames(hashes.vpdq, as_mp4.vpdq).match


def test_gif_frames_without_a_duration_last_a_tenth_of_a_second() -> None:
    pictures = [sized(scene_frames((name,), fps=1)[0], 80, 60) for name in SCENES[:2]]
    hashes = hash_bytes(animation([np.roll(p, k, axis=1) for p in pictures for k in range(10)], "GIF", 0))
    assert hashes.duration_seconds == 2.0
    assert [f.frame_number for f in hashes.vpdq] == [0, 10]


@pytest.mark.parametrize("fmt", ["WEBP", "PNG"])
def test_animated_webp_and_png_are_videos_too(fmt: str) -> None:
    pictures = [sized(scene_frames((name,), fps=1)[0], 80, 60) for name in SCENES[:3]]
    hashes = hash_bytes(animation(pictures, fmt, 1000))
    assert hashes.kind is ContentKind.VIDEO
    assert hashes.duration_seconds == 3.0
    assert [f.timestamp for f in hashes.vpdq] == [0.0, 1.0, 2.0]


def test_a_single_frame_gif_is_a_picture() -> None:
    hashes = hash_bytes(encode(scene_frames(("horse",), fps=1)[0], "GIF"))
    assert hashes.kind is ContentKind.IMAGE
    assert len(hashes.dihedral) == 8
