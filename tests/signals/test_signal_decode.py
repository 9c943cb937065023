"""Decoding refuses what it must, before doing the expensive part, with the right reason."""

from __future__ import annotations

import itertools
import resource

import pytest
from PIL import Image, ImageFile

from firebreak.signals.decode import DecodeLimits, MediaFormat, open_media
from firebreak.signals.errors import UnhashableMedia, UnhashableReason
from firebreak.signals.formats import sniff_format
from firebreak.signals.hashing import hash_bytes
from tests.signals.samples import (
    animation,
    audio_only_mp4,
    bmp_with_size,
    encode,
    gif_with_screen,
    jpeg_with_size,
    photo,
    png_with_header,
    scene_frames,
    sized,
    tiff_with_size,
    video,
    webp_with_size,
    with_ispe,
    zero_deflate_bomb,
)

SMALL = sized(photo("astronaut"), 96, 96)


def refused(data: bytes, reason: UnhashableReason, limits: DecodeLimits | None = None) -> UnhashableMedia:
    with pytest.raises(UnhashableMedia) as caught:
        hash_bytes(data, limits or DecodeLimits())
    assert caught.value.reason is reason, caught.value
    return caught.value


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (encode(SMALL, "JPEG"), MediaFormat.JPEG),
        (encode(SMALL, "PNG"), MediaFormat.PNG),
        (encode(SMALL, "GIF"), MediaFormat.GIF),
        (encode(SMALL, "WEBP"), MediaFormat.WEBP),
        (encode(SMALL, "BMP"), MediaFormat.BMP),
        (encode(SMALL, "TIFF"), MediaFormat.TIFF),
        (encode(SMALL, "TIFF", compression="tiff_lzw"), MediaFormat.TIFF),
        (encode(SMALL, "HEIF"), MediaFormat.HEIC),
        (encode(SMALL, "AVIF"), MediaFormat.AVIF),
        (video(scene_frames(["coffee"], fps=4)), MediaFormat.MP4),
        (video(scene_frames(["coffee"], fps=4), container="mov", codec="mpeg4"), MediaFormat.MOV),
        (video(scene_frames(["coffee"], fps=4), container="webm", codec="libvpx-vp9"), MediaFormat.WEBM),
        (video(scene_frames(["coffee"], fps=4), container="matroska"), MediaFormat.MKV),
        (video(scene_frames(["coffee"], fps=4), container="3gp", codec="mpeg4"), MediaFormat.MP4),
    ],
    ids=lambda value: value.value if isinstance(value, MediaFormat) else "",
)
def test_formats_are_told_apart_by_content(data: bytes, expected: MediaFormat) -> None:
    assert sniff_format(data) is expected
    hashes = hash_bytes(data)
    assert hashes.format is expected
    assert hashes.mime_type == expected.mime_type


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (b"Just some text, saved as holiday.jpg\n", "text"),
        (b"PK\x03\x04" + bytes(100), "ZIP archive"),
        (b"%PDF-1.7\n" + bytes(100), "PDF"),
        (b"<?xml version='1.0'?><svg xmlns='http://www.w3.org/2000/svg'/>", "SVG"),
        (b"RIFF\x00\x00\x00\x00AVI LIST", "AVI"),
        (bytes(range(256)), "unknown content"),
        (b"\x00\x00\x00\x18ftypM4A " + bytes(16), "MP4 audio"),
    ],
)
def test_other_content_is_unsupported_and_says_what_it_looks_like(data: bytes, what: str) -> None:
    error = refused(data, UnhashableReason.UNSUPPORTED_FORMAT)
    assert what in error.message


def test_empty_input() -> None:
    refused(b"", UnhashableReason.EMPTY)


def test_byte_limit_comes_first() -> None:
    data = encode(SMALL, "PNG")
    error = refused(data, UnhashableReason.TOO_LARGE, DecodeLimits(max_bytes=len(data) - 1))
    assert f"{len(data):,} bytes" in error.message
    assert hash_bytes(data, DecodeLimits(max_bytes=len(data))).width == 96


def test_an_mp4_without_video_is_unsupported() -> None:
    error = refused(audio_only_mp4(), UnhashableReason.UNSUPPORTED_FORMAT)
    assert "no video stream" in error.message


GIANT_HEADERS = {
    "png": png_with_header(50_000, 50_000),
    "gif": gif_with_screen(65_535, 65_535),
    "bmp": bmp_with_size(60_000, 60_000),
    "jpeg": jpeg_with_size(60_000, 60_000),
    "webp": webp_with_size(16_383, 16_383),
    "tiff": tiff_with_size(100_000, 100_000),
    "heic": with_ispe(encode(SMALL, "HEIF"), 40_000, 40_000),
    "avif": with_ispe(encode(SMALL, "AVIF"), 40_000, 40_000),
}


@pytest.mark.timeout(10)
@pytest.mark.parametrize("name", sorted(GIANT_HEADERS))
def test_giant_declared_dimensions_are_refused_from_the_header(name: str) -> None:
    before = peak_rss_mb()
    error = refused(GIANT_HEADERS[name], UnhashableReason.TOO_MANY_PIXELS)
    assert "over the limit of 50,000,000" in error.message
    assert peak_rss_mb() - before < 100  # nothing the size of the picture was allocated


@pytest.mark.timeout(10)
def test_a_deflate_bomb_png_is_refused_before_inflating() -> None:
    # 20000 x 20000 RGB: 1.2 GB of pixels behind a 1.2 MB IDAT.
    bomb = png_with_header(20_000, 20_000, idat=zero_deflate_bomb(20_000 * (1 + 3 * 20_000)))
    assert len(bomb) < 2_000_000
    before = peak_rss_mb()
    refused(bomb, UnhashableReason.TOO_MANY_PIXELS)
    assert peak_rss_mb() - before < 100


@pytest.mark.timeout(10)
def test_a_deflate_bomb_within_the_pixel_limit_inflates_only_what_the_picture_needs() -> None:
    # 2000 x 2000 grey needs 4 MB; the IDAT would inflate to 2 GiB. The decoder stops when the picture is
    # full, so memory stays near the picture's size; an all-black picture is hashed but can never match.
    bomb = png_with_header(2000, 2000, idat=zero_deflate_bomb(2 << 30), color_type=0)
    before = peak_rss_mb()
    hashes = hash_bytes(bomb)
    assert peak_rss_mb() - before < 200
    assert (hashes.width, hashes.height) == (2000, 2000)
    assert not hashes.pdq.matchable
    assert hashes.query_hashes == ()
    refused(bomb, UnhashableReason.TOO_MANY_PIXELS, DecodeLimits(max_pixels=1_000_000))


def test_the_pixel_limit_applies_to_every_format_and_to_video_frames() -> None:
    limits = DecodeLimits(max_pixels=95 * 95)
    for fmt in ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "HEIF", "AVIF"):
        refused(encode(SMALL, fmt), UnhashableReason.TOO_MANY_PIXELS, limits)
    refused(video(scene_frames(["coffee"], fps=2)), UnhashableReason.TOO_MANY_PIXELS, DecodeLimits(max_pixels=1000))
    assert hash_bytes(encode(SMALL, "PNG"), DecodeLimits(max_pixels=96 * 96)).width == 96


def test_frame_limit_for_videos_and_animations() -> None:
    clip = video(scene_frames(["coffee", "chelsea"], fps=5), fps=5)  # 10 frames
    error = refused(clip, UnhashableReason.TOO_MANY_FRAMES, DecodeLimits(max_frames=9))
    assert "more than 9 frames" in error.message
    assert len(hash_bytes(clip, DecodeLimits(max_frames=10)).vpdq) == 2
    gif = animation([SMALL, SMALL[::-1], SMALL[:, ::-1]], "GIF", 500)
    refused(gif, UnhashableReason.TOO_MANY_FRAMES, DecodeLimits(max_frames=2))


class SteppingClock:
    """A clock that moves on by `step` seconds every time it is read."""

    def __init__(self, step: float) -> None:
        self._ticks = itertools.count()
        self._step = step

    def __call__(self) -> float:
        return next(self._ticks) * self._step


def test_decode_time_is_limited_for_videos() -> None:
    clip = video(scene_frames(["coffee", "chelsea", "rocket"], fps=5), fps=5)
    with pytest.raises(UnhashableMedia) as caught:
        hash_bytes(clip, DecodeLimits(max_seconds=10), clock=SteppingClock(1.0))
    assert caught.value.reason is UnhashableReason.TIMEOUT
    assert "longer than 10 s" in caught.value.message
    # The same file with time to spare.
    assert len(hash_bytes(clip, DecodeLimits(max_seconds=1000), clock=SteppingClock(1.0)).vpdq) == 3


def test_decode_time_is_limited_for_stills_and_animations() -> None:
    for data in (encode(SMALL, "PNG"), animation([SMALL, SMALL[::-1]] * 5, "GIF", 100)):
        with pytest.raises(UnhashableMedia) as caught:
            hash_bytes(data, DecodeLimits(max_seconds=1), clock=SteppingClock(5.0))
        assert caught.value.reason is UnhashableReason.TIMEOUT


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_pixels must be positive"):
        DecodeLimits(max_pixels=0)
    with pytest.raises(ValueError, match="max_seconds"):
        DecodeLimits(max_seconds=float("nan"))


def test_pillow_global_settings_are_left_alone() -> None:
    before = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)
    hash_bytes(encode(sized(photo("coffee"), 900, 600), "JPEG"))
    refused(encode(SMALL, "JPEG")[:500], UnhashableReason.TRUNCATED)
    assert (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES) == before


def test_open_media_reports_header_facts_before_decoding() -> None:
    with open_media(encode(sized(photo("coffee"), 900, 600), "JPEG")) as media:
        assert (media.format, media.width, media.height, media.duration_seconds) == (MediaFormat.JPEG, 900, 600, None)
        (frame,) = media.frames(side=320)
        assert frame.luma.shape == (320, 320)
