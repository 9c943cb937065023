"""Hostile and broken input: cut short, random behind a magic number, bytes flipped. Nothing may escape
`UnhashableMedia`, and nothing may hang (each test has a hard timeout). A JPEG or still PNG cut short is
hashed as a browser shows it and flagged `truncated` (test_truncated_pictures.py measures how well that
matches); every other format cut short is refused."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firebreak.signals.decode import DecodeLimits
from firebreak.signals.errors import UnhashableMedia, UnhashableReason
from firebreak.signals.hashing import MediaHashes, hash_bytes
from tests.signals.samples import animation, encode, photo, scene_frames, sized, video

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
# Small limits keep a lucky decode cheap; they are not what is being tested.
LIMITS = DecodeLimits(max_pixels=4_000_000, max_frames=2_000, max_seconds=5)

SAMPLE_NAMES = (
    "jpeg",
    "jpeg_progressive",
    "png",
    "gif",
    "gif_animated",
    "webp",
    "webp_animated",
    "png_animated",
    "bmp",
    "tiff",
    "heic",
    "avif",
    "mp4",
    "mov",
    "webm",
    "mkv",
)


@cache
def sample(name: str) -> bytes:
    still = sized(photo("chelsea"), 64, 48)
    frames = [np.roll(still, 8 * i, axis=1) for i in range(4)]
    clip = scene_frames(["coffee", "rocket"], fps=4, size=(64, 48))
    makers = {
        "jpeg": lambda: encode(still, "JPEG", quality=80),
        "jpeg_progressive": lambda: encode(still, "JPEG", progressive=True),
        "png": lambda: encode(still, "PNG"),
        "gif": lambda: encode(still, "GIF"),
        "gif_animated": lambda: animation(frames, "GIF", 300),
        "webp": lambda: encode(still, "WEBP"),
        "webp_animated": lambda: animation(frames, "WEBP", 300),
        "png_animated": lambda: animation(frames, "PNG", 300),
        "bmp": lambda: encode(still, "BMP"),
        "tiff": lambda: encode(still, "TIFF"),
        "heic": lambda: encode(still, "HEIF"),
        "avif": lambda: encode(still, "AVIF"),
        "mp4": lambda: video(clip, fps=4),
        "mov": lambda: video(clip, fps=4, container="mov", codec="mpeg4"),
        "webm": lambda: video(clip, fps=4, container="webm", codec="libvpx-vp9"),
        "mkv": lambda: video(clip, fps=4, container="matroska"),
    }
    return makers[name]()


def outcome(data: bytes) -> MediaHashes | UnhashableMedia:
    try:
        return hash_bytes(data, LIMITS)
    except UnhashableMedia as exc:
        return exc


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_every_sample_hashes_whole(name: str) -> None:
    hashes = hash_bytes(sample(name), LIMITS)
    assert hashes.pdq.matchable


# Shown as browsers show them when cut short (the rest grey), and flagged.
SHOWN_WHEN_CUT = {"jpeg", "jpeg_progressive", "png"}


@pytest.mark.timeout(10)
@pytest.mark.parametrize("name", SAMPLE_NAMES)
@FUZZ
@given(fraction=st.floats(min_value=0.0, max_value=1.0, exclude_max=True))
def test_a_file_cut_short_is_refused_or_flagged(name: str, fraction: float) -> None:
    data = sample(name)
    cut = data[: int(len(data) * fraction)]
    result = outcome(cut)
    if isinstance(result, MediaHashes):
        assert name in SHOWN_WHEN_CUT and result.truncated
        return
    expected = {UnhashableReason.TRUNCATED, UnhashableReason.CORRUPT, UnhashableReason.EMPTY}
    if len(cut) < 16:  # too short to carry its own magic number
        expected.add(UnhashableReason.UNSUPPORTED_FORMAT)
    assert result.reason in expected


@pytest.mark.timeout(10)
@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_the_last_byte_matters(name: str) -> None:
    whole = hash_bytes(sample(name), LIMITS)
    result = outcome(sample(name)[:-1])
    if name in SHOWN_WHEN_CUT:
        # Only the end marker is missing: every pixel arrived, so the picture hashes the same, flagged.
        assert isinstance(result, MediaHashes) and result.truncated
        assert result.pdq == whole.pdq and result.sha256 != whole.sha256
        return
    assert isinstance(result, UnhashableMedia)
    assert result.reason in {UnhashableReason.TRUNCATED, UnhashableReason.CORRUPT}


MAGIC_NUMBERS = {
    "jpeg": b"\xff\xd8\xff",
    "png": b"\x89PNG\r\n\x1a\n",
    "gif": b"GIF89a",
    "webp": b"RIFF\x00\x10\x00\x00WEBPVP8 ",
    "bmp": b"BM\x00\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00\x28\x00\x00\x00",
    "tiff_le": b"II*\x00",
    "tiff_be": b"MM\x00*",
    "heic": b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic",
    "avif": b"\x00\x00\x00\x18ftypavif\x00\x00\x00\x00mif1avif",
    "mp4": b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2",
    "mov": b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00qt  ",
    "webm": b"\x1aE\xdf\xa3\x9fB\x86\x81\x01B\xf7\x81\x01B\xf2\x81\x04B\xf3\x81\x08B\x82\x84webm",
}


@pytest.mark.timeout(10)
@pytest.mark.parametrize("name", sorted(MAGIC_NUMBERS))
@FUZZ
@given(tail=st.binary(min_size=0, max_size=4096))
def test_random_bytes_behind_a_magic_number_are_refused(name: str, tail: bytes) -> None:
    result = outcome(MAGIC_NUMBERS[name] + tail)
    assert isinstance(result, UnhashableMedia)


@pytest.mark.timeout(10)
@pytest.mark.parametrize("name", SAMPLE_NAMES)
@FUZZ
@given(tail=st.binary(min_size=1, max_size=4096), keep=st.integers(min_value=16, max_value=400))
def test_a_real_header_followed_by_random_bytes_is_refused(name: str, tail: bytes, keep: int) -> None:
    data = sample(name)
    result = outcome(data[: min(keep, len(data) - 1)] + tail)
    # Random bytes can, very rarely, still form a picture; what matters is that nothing else comes out.
    assert isinstance(result, UnhashableMedia | MediaHashes)


@pytest.mark.timeout(10)
@pytest.mark.parametrize("name", SAMPLE_NAMES)
@FUZZ
@given(data=st.data())
def test_flipped_bytes_never_escape_or_hang(name: str, data: st.DataObject) -> None:
    original = bytearray(sample(name))
    for _ in range(data.draw(st.integers(min_value=1, max_value=12))):
        position = data.draw(st.integers(min_value=0, max_value=len(original) - 1))
        original[position] = data.draw(st.integers(min_value=0, max_value=255))
    result = outcome(bytes(original))
    assert isinstance(result, UnhashableMedia | MediaHashes)
