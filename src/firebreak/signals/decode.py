"""Safe decoding of untrusted images and videos into small luma planes ready for PDQ.

The order of checks is the point: size of the input, then the format from magic bytes, then the file's own
length fields, then the dimensions its header declares, and only then a decoder. Decoding runs against a
deadline checked between frames and packets. Whatever goes wrong comes out as `UnhashableMedia`.

Use:

    with open_media(data, limits) as media:
        for frame in media.frames(side=320, interval=1.0):
            ...  # frame.luma is a 320 x 320 uint8 luma plane

No global state is touched: Pillow's MAX_IMAGE_PIXELS and LOAD_TRUNCATED_IMAGES stay as they are, and our
own limits are checked before Pillow's. Registering the HEIF opener with Pillow is the one exception, and
it only adds a format.
"""

from __future__ import annotations

import io
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, cast

import av
import numpy as np
import numpy.typing as npt
from PIL import Image

from firebreak.signals.base import ContentKind
from firebreak.signals.errors import UnhashableMedia, UnhashableReason
from firebreak.signals.formats import MediaFormat, check_structure, header_dimensions, sniff_format

__all__ = [
    "DEFAULT_LIMITS",
    "Clock",
    "DecodeLimits",
    "Frame",
    "MediaFormat",
    "OpenedMedia",
    "UnhashableMedia",
    "UnhashableReason",
    "open_media",
]

Clock = Callable[[], float]
Luma = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    """How much work one file may cost. The defaults suit phone photos and messenger-sized videos."""

    max_bytes: int = 256 * 1024 * 1024
    max_pixels: int = 50_000_000  # per picture or video frame; a 48 MP phone photo fits
    max_frames: int = 100_000  # frames decoded from one video or animation (55 min at 30 fps)
    max_seconds: float = 120.0  # wall-clock decode time for one file

    def __post_init__(self) -> None:
        for field in ("max_bytes", "max_pixels", "max_frames", "max_seconds"):
            value = getattr(self, field)
            if not value > 0:
                raise ValueError(f"DecodeLimits.{field} must be positive, got {value!r}")


DEFAULT_LIMITS = DecodeLimits()


@dataclass(frozen=True, slots=True)
class Frame:
    number: int  # position of the frame in decode order (0 for a still image)
    timestamp: float  # seconds from the start
    luma: Luma  # 2-D uint8 luma (ITU-R 601: 0.299 R + 0.587 G + 0.114 B), as displayed


class _Deadline:
    def __init__(self, seconds: float, clock: Clock) -> None:
        self._clock = clock
        self._seconds = seconds
        self._end = clock() + seconds

    def check(self) -> None:
        if self._clock() > self._end:
            raise UnhashableMedia(UnhashableReason.TIMEOUT, f"decoding took longer than {self._seconds:g} s")


def _check_pixels(width: int, height: int, limits: DecodeLimits) -> None:
    if width <= 0 or height <= 0:
        raise UnhashableMedia(UnhashableReason.CORRUPT, f"impossible dimensions {width}x{height}")
    if width * height > limits.max_pixels:
        raise UnhashableMedia(
            UnhashableReason.TOO_MANY_PIXELS,
            f"{width}x{height} is {width * height:,} pixels, over the limit of {limits.max_pixels:,}",
        )


@contextmanager
def _decoder_errors() -> Iterator[None]:
    """Turn anything a decoder raises into UnhashableMedia: corrupt input can make libraries raise anything."""
    try:
        yield
    except UnhashableMedia:
        raise
    except Image.DecompressionBombError as exc:
        raise UnhashableMedia(UnhashableReason.TOO_MANY_PIXELS, str(exc)) from None
    except MemoryError:
        raise UnhashableMedia(UnhashableReason.TOO_MANY_PIXELS, "decoding needed more memory than there is") from None
    except EOFError as exc:
        raise UnhashableMedia(UnhashableReason.TRUNCATED, f"the data ends early ({exc or 'end of file'})") from None
    except Exception as exc:  # the boundary: nothing else may escape
        text = str(exc) or type(exc).__name__
        reason = UnhashableReason.TRUNCATED if "truncated" in text.lower() else UnhashableReason.CORRUPT
        raise UnhashableMedia(reason, f"{type(exc).__name__}: {text}"[:500]) from None


class OpenedMedia(ABC):
    """A decodable file, with what its headers say. Iterate `frames()` once; close when done."""

    format: MediaFormat
    kind: ContentKind
    width: int  # as displayed
    height: int
    # Known from the header for videos; for animations only once frames() has run to the end.
    duration_seconds: float | None

    @abstractmethod
    def frames(self, *, side: int | None = 320, interval: float = 1.0) -> Iterator[Frame]:
        """A still image's one frame, or one frame per `interval` seconds of a video or animation.

        Each frame is scaled to `side` x `side`, whatever its shape (None: as decoded). The aspect ratio
        is not kept because PDQ maps every picture onto a 64 x 64 grid regardless; see docs/signals.md.
        """

    def close(self) -> None:  # noqa: B027 - only some kinds hold resources
        pass

    def __enter__(self) -> OpenedMedia:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def open_media(data: bytes, limits: DecodeLimits = DEFAULT_LIMITS, *, clock: Clock = time.monotonic) -> OpenedMedia:
    """Check and open `data`. Raises UnhashableMedia; never decodes pixels before the limits are checked."""
    if len(data) > limits.max_bytes:
        raise UnhashableMedia(
            UnhashableReason.TOO_LARGE, f"{len(data):,} bytes is over the limit of {limits.max_bytes:,}"
        )
    fmt = sniff_format(data)
    if fmt.container_kind is not ContentKind.VIDEO:
        # A decompression bomb is named as such, even when its file is also cut short.
        declared = header_dimensions(data, fmt)
        if declared is not None:
            _check_pixels(*declared, limits)
    check_structure(data, fmt)
    deadline = _Deadline(limits.max_seconds, clock)
    if fmt.container_kind is ContentKind.VIDEO:
        return _Video(data, fmt, limits, deadline)
    return _Picture(data, fmt, limits, deadline)


# ---------------------------------------------------------------- pictures (Pillow)

_heif_registered = False


def _register_heif() -> None:
    global _heif_registered
    if not _heif_registered:
        import pillow_heif  # type: ignore[import-untyped,unused-ignore]

        pillow_heif.register_heif_opener()
        _heif_registered = True


# EXIF orientation -> the transpose that shows the picture upright (as ImageOps.exif_transpose does).
_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_QUARTER_TURNS = {
    Image.Transpose.TRANSPOSE,
    Image.Transpose.TRANSVERSE,
    Image.Transpose.ROTATE_90,
    Image.Transpose.ROTATE_270,
}
_ANIMATED_FORMATS = {MediaFormat.GIF, MediaFormat.WEBP, MediaFormat.PNG}
_WIDE_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I", "F"}


def _orientation(image: Image.Image) -> Image.Transpose | None:
    try:
        value = image.getexif().get(0x0112)
    except Exception:  # broken EXIF does not make the picture unhashable; show it as stored
        return None
    return _ORIENTATION.get(value) if isinstance(value, int) else None


def to_luma(image: Image.Image) -> Image.Image:
    """A mode-"L" copy: transparency composited on white, palettes, CMYK and 16-bit data converted properly."""
    mode = image.mode
    if mode == "L":
        return image
    if mode in _WIDE_MODES:
        return _wide_to_luma(image)
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode == "PA":
        image = image.convert("RGBA")
    if image.mode in ("LA", "La", "RGBA", "RGBa"):
        # Transparent pixels keep whatever colour the encoder left there; viewers show a background.
        # White is what most messengers show, and compositing keeps hidden colours out of the hash.
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        white.alpha_composite(image.convert("RGBA"))
        image = white
    if image.mode not in ("L", "RGB", "1"):
        image = image.convert("RGB")  # CMYK, YCbCr, LAB, HSV
    return image.convert("L")


def _wide_to_luma(image: Image.Image) -> Image.Image:
    # Pillow clips 16-bit grey to 255 when converting to "L"; scale instead.
    values = np.asarray(image).astype(np.float64)
    if image.mode == "F":
        top = 1.0 if values.size and np.nanmax(values) <= 1.0 else 255.0
    else:
        top = 65535.0 if image.mode.startswith("I;16") or (values.size and values.max() > 255) else 255.0
    scaled = np.clip(np.nan_to_num(values) * (255.0 / top), 0, 255)
    return Image.fromarray(np.round(scaled).astype(np.uint8), mode="L")


def _square(luma: Image.Image, side: int | None) -> Image.Image:
    if side is None or luma.size == (side, side):
        return luma
    # BOX averages every source pixel (no aliasing) and is the fastest such filter; see docs/signals.md.
    return luma.resize((side, side), Image.Resampling.BOX)


class _Picture(OpenedMedia):
    def __init__(self, data: bytes, fmt: MediaFormat, limits: DecodeLimits, deadline: _Deadline) -> None:
        self.format = fmt
        self._limits = limits
        self._deadline = deadline
        self.duration_seconds = None
        plugin = cast(str, fmt.pillow_plugin)
        with _decoder_errors():
            if fmt is MediaFormat.HEIC:
                _register_heif()
            self._image = Image.open(io.BytesIO(data), formats=[plugin])
            try:
                width, height = self._image.size
                _check_pixels(width, height, limits)
                animated = fmt in _ANIMATED_FORMATS and bool(getattr(self._image, "is_animated", False))
            except BaseException:
                self._image.close()
                raise
        self.kind = ContentKind.VIDEO if animated else ContentKind.IMAGE
        self._transpose = None if animated else _orientation(self._image)
        swap = self._transpose in _QUARTER_TURNS
        self.width, self.height = (height, width) if swap else (width, height)

    def close(self) -> None:
        self._image.close()

    def frames(self, *, side: int | None = 320, interval: float = 1.0) -> Iterator[Frame]:
        if self.kind is ContentKind.IMAGE:
            yield self._still(side)
        else:
            yield from self._animation(side, interval)

    def _still(self, side: int | None) -> Frame:
        image = self._image
        with _decoder_errors():
            if self.format is MediaFormat.JPEG and side is not None:
                # Let libjpeg scale by 1/2, 1/4 or 1/8 while decoding (never below side x side) and hand
                # over its Y channel: several times less work than decoding RGB at full size.
                image.draft("L", (side, side))
            image.load()
            self._deadline.check()
            luma = _square(to_luma(image), side)
            if self._transpose is not None:
                luma = luma.transpose(self._transpose)
            plane = np.asarray(luma)
        return Frame(number=0, timestamp=0.0, luma=plane)

    def _animation(self, side: int | None, interval: float) -> Iterator[Frame]:
        image = self._image
        # Whole milliseconds, as the formats store them, so ten 100 ms frames make exactly one second.
        elapsed_ms = 0
        next_sample_ms = 0
        interval_ms = max(1, round(interval * 1000))
        number = 0
        with _decoder_errors():
            while True:
                self._deadline.check()
                try:
                    image.seek(number)
                except EOFError:
                    break
                if number >= self._limits.max_frames:
                    raise UnhashableMedia(
                        UnhashableReason.TOO_MANY_FRAMES, f"more than {self._limits.max_frames:,} frames"
                    )
                _check_pixels(*image.size, self._limits)
                image.load()  # also brings the frame's own duration into image.info
                if elapsed_ms >= next_sample_ms:
                    plane = np.asarray(_square(to_luma(image), side))
                    yield Frame(number=number, timestamp=elapsed_ms / 1000, luma=plane)
                    next_sample_ms = (elapsed_ms // interval_ms + 1) * interval_ms
                # Browsers show frames of 0 or 10 ms for 100 ms; so do we, or such GIFs would last no time.
                duration = image.info.get("duration") or 0
                elapsed_ms += round(duration) if duration > 10 else 100
                number += 1
        if number == 0:
            raise UnhashableMedia(UnhashableReason.CORRUPT, "the animation has no frames")
        self.duration_seconds = elapsed_ms / 1000


# ---------------------------------------------------------------- videos (PyAV / FFmpeg)

# Naming the demuxer skips FFmpeg's format probing: only the parser we expect ever sees the bytes.
_DEMUXERS = {MediaFormat.MP4: "mov", MediaFormat.MOV: "mov", MediaFormat.WEBM: "matroska", MediaFormat.MKV: "matroska"}


class _Video(OpenedMedia):
    def __init__(self, data: bytes, fmt: MediaFormat, limits: DecodeLimits, deadline: _Deadline) -> None:
        self.format = fmt
        self.kind = ContentKind.VIDEO
        self._limits = limits
        self._deadline = deadline
        with _decoder_errors():
            self._container: Any = av.open(io.BytesIO(data), mode="r", format=_DEMUXERS[fmt], metadata_errors="ignore")
            try:
                streams = self._container.streams.video
                if not streams:
                    raise UnhashableMedia(UnhashableReason.UNSUPPORTED_FORMAT, "the file has no video stream")
                self._stream = streams[0]
                context = self._stream.codec_context
                self.width, self.height = int(context.width), int(context.height)
                _check_pixels(self.width, self.height, limits)
                self.duration_seconds = self._duration()
                self._rate = float(self._stream.average_rate or self._stream.guessed_rate or 30)
            except BaseException:
                self._container.close()
                raise

    def _duration(self) -> float | None:
        stream = self._stream
        if stream.duration is not None and stream.time_base is not None:
            return round(float(stream.duration * stream.time_base), 3)
        if self._container.duration is not None:
            return round(float(self._container.duration) / av.time_base, 3)
        return None

    def close(self) -> None:
        self._container.close()

    def frames(self, *, side: int | None = 320, interval: float = 1.0) -> Iterator[Frame]:
        limits = self._limits
        decoded = 0
        first_time: float | None = None
        next_sample = 0.0
        last_time = 0.0
        with _decoder_errors():
            for packet in self._container.demux(self._stream):
                self._deadline.check()
                for frame in packet.decode():
                    decoded += 1
                    if decoded > limits.max_frames:
                        raise UnhashableMedia(
                            UnhashableReason.TOO_MANY_FRAMES, f"more than {limits.max_frames:,} frames"
                        )
                    seconds = frame.time if frame.time is not None else (decoded - 1) / self._rate
                    if first_time is None:
                        first_time = seconds
                    timestamp = max(0.0, seconds - first_time)
                    last_time = max(last_time, timestamp)
                    if timestamp + 1e-6 < next_sample:
                        continue
                    self._deadline.check()
                    _check_pixels(frame.width, frame.height, limits)
                    width, height = (side, side) if side is not None else (frame.width, frame.height)
                    plane = frame.reformat(width=width, height=height, format="gray", interpolation="AREA").to_ndarray()
                    turns = round((frame.rotation or 0) / 90) % 4
                    if turns:
                        # The display matrix rotates counter-clockwise, as np.rot90 does.
                        plane = np.ascontiguousarray(np.rot90(plane, turns))
                        if turns % 2 and decoded == 1:
                            self.width, self.height = self.height, self.width
                    yield Frame(number=decoded - 1, timestamp=round(timestamp, 3), luma=plane)
                    next_sample = (math.floor(timestamp / interval + 1e-6) + 1) * interval
        if decoded == 0:
            raise UnhashableMedia(UnhashableReason.CORRUPT, "no video frame could be decoded")
        if self.duration_seconds is None:
            self.duration_seconds = round(last_time + 1 / self._rate, 3)
