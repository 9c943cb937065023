"""Safe decoding of untrusted images and videos into luma planes ready for PDQ.

The order of checks is the point: size of the input, then the format from magic bytes, then the file's own
length fields, then the dimensions its header declares, and only then a decoder. Decoding runs against a
deadline checked between frames and packets. Whatever goes wrong comes out as `UnhashableMedia`.

Use:

    with open_media(data, limits) as media:
        if media.kind is ContentKind.IMAGE:
            picture = media.picture()  # full-size float luma, as the PDQ reference computes it
        else:
            for frame in media.frames(side=320, interval=1.0):
                ...  # frame.luma is a 320 x 320 uint8 luma plane

A JPEG or still PNG cut short is decoded as a browser shows it (what arrived, the rest mid grey) and flagged
`truncated`; it is refused when more than MAX_MISSING_SHARE of the picture is missing.

No global state is touched: Pillow's MAX_IMAGE_PIXELS and LOAD_TRUNCATED_IMAGES stay as they are, and our
own limits are checked before Pillow's. A cut-short file is completed per call (formats.complete_cut_short),
never by Pillow's process-wide switch. Registering the HEIF opener with Pillow is the one exception, and it
only adds a format.
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
from PIL import Image, ImageChops

from firebreak.signals.base import ContentKind
from firebreak.signals.errors import UnhashableMedia, UnhashableReason
from firebreak.signals.formats import (
    MediaFormat,
    check_structure,
    complete_cut_short,
    header_dimensions,
    sniff_format,
)

__all__ = [
    "DEFAULT_LIMITS",
    "Clock",
    "DecodeLimits",
    "Frame",
    "MediaFormat",
    "OpenedMedia",
    "Picture",
    "UnhashableMedia",
    "UnhashableReason",
    "open_media",
]

Clock = Callable[[], float]
Luma = npt.NDArray[np.uint8]
FloatLuma = npt.NDArray[np.float32]

# A picture cut short is hashed as shown only while most of it is there; beyond this share of missing rows it
# is refused as truncated (docs/signals.md, "Files cut short", has the measurements).
MAX_MISSING_SHARE = 0.25


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
    # 2-D luma (0.299 R + 0.587 G + 0.114 B) as displayed: uint8 and side x side when frames() was given a
    # side; float32 at full size, computed as the PDQ reference computes it, when side is None.
    luma: Luma | FloatLuma


@dataclass(frozen=True, slots=True)
class Picture:
    """A still picture at full size as float32 luma (0.299 R + 0.587 G + 0.114 B, computed as the PDQ reference
    computes it), as displayed: EXIF orientation applied, transparency composited on white."""

    luma: FloatLuma
    # Pictures with transparency only: the colour channels as stored, alpha ignored. This is what
    # python-threatexchange and HMA hand to pdqhash for such a file.
    luma_ignoring_alpha: FloatLuma | None = None


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
def _decoder_errors(*, truncated: bool = False) -> Iterator[None]:
    """Turn anything a decoder raises into UnhashableMedia: corrupt input can make libraries raise anything.

    For a file that was cut short (and completed), a decoder error is reported as truncation: the cut is the
    likeliest reason the rest does not decode."""
    try:
        yield
    except UnhashableMedia:
        raise
    except Exception as exc:  # the boundary: nothing else may escape
        if not truncated or isinstance(exc, (Image.DecompressionBombError, MemoryError)):
            raise _as_unhashable(exc) from None
        text = str(exc) or type(exc).__name__
        raise UnhashableMedia(UnhashableReason.TRUNCATED, f"the file is cut short and the rest does not decode "
                              f"({type(exc).__name__}: {text})"[:500]) from None


def _as_unhashable(exc: Exception) -> UnhashableMedia:
    if isinstance(exc, Image.DecompressionBombError):
        return UnhashableMedia(UnhashableReason.TOO_MANY_PIXELS, str(exc))
    if isinstance(exc, MemoryError):
        return UnhashableMedia(UnhashableReason.TOO_MANY_PIXELS, "decoding needed more memory than there is")
    if isinstance(exc, EOFError):
        return UnhashableMedia(UnhashableReason.TRUNCATED, f"the data ends early ({exc or 'end of file'})")
    text = str(exc) or type(exc).__name__
    reason = UnhashableReason.TRUNCATED if "truncated" in text.lower() else UnhashableReason.CORRUPT
    return UnhashableMedia(reason, f"{type(exc).__name__}: {text}"[:500])


class OpenedMedia(ABC):
    """A decodable file, with what its headers say. Iterate `frames()` once; close when done."""

    format: MediaFormat
    kind: ContentKind
    width: int  # as displayed
    height: int
    # Known from the header for videos; for animations only once frames() has run to the end.
    duration_seconds: float | None
    # The file was cut short and is decoded as a browser shows it (only JPEG and still PNG; others are refused).
    truncated: bool = False

    @abstractmethod
    def frames(self, *, side: int | None = 320, interval: float = 1.0) -> Iterator[Frame]:
        """A still image's one frame, or one frame per `interval` seconds of a video or animation.

        Each frame is scaled to `side` x `side` grey, whatever its shape; or with side=None, kept at full size
        as float luma, which is what the PDQ reference hashes (and vPDQ, which hashes frames with it).
        """

    def picture(self) -> Picture:
        """A still image at full size, as the PDQ reference sees it (see Picture)."""
        raise TypeError(f"a {self.kind.value} has frames, not one picture")

    def brightest(self) -> Luma | None:
        """A still colour image's brightest channel, max(R, G, B), at full size as displayed (uint8); None for a
        grey picture. A hue change keeps it where it changes luma (copy detection, signals/variants.py)."""
        raise TypeError(f"a {self.kind.value} has frames, not one picture")

    def close(self) -> None:  # noqa: B027 - only some kinds hold resources
        pass

    def __enter__(self) -> OpenedMedia:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def luma_8bit(luma: Luma | FloatLuma) -> Luma:
    """A luma plane in 8 bits: full-size float luma (as PDQ hashes it) rounded, an 8-bit one as it is."""
    if luma.dtype == np.uint8:
        return cast(Luma, luma)
    return np.clip(np.rint(luma), 0, 255).astype(np.uint8)


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
    truncated = check_structure(data, fmt)
    missing: float | None = None
    if truncated:
        data, missing = complete_cut_short(data, fmt)
        _check_missing(missing)
    deadline = _Deadline(limits.max_seconds, clock)
    if fmt.container_kind is ContentKind.VIDEO:
        return _Video(data, fmt, limits, deadline)
    return _Picture(data, fmt, limits, deadline, truncated=truncated, missing=missing)


def _check_missing(share: float | None) -> None:
    if share is not None and share > MAX_MISSING_SHARE:
        raise UnhashableMedia(
            UnhashableReason.TRUNCATED, f"the file ends before {share:.0%} of the picture (more than "
            f"{MAX_MISSING_SHARE:.0%} missing)"
        )


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


def to_shown(image: Image.Image) -> Image.Image:
    """The picture as displayed, in mode "RGB" or "L": what PDQ's reference luma is computed from.

    As `to_luma` (transparency on white, palettes, CMYK, 16-bit grey scaled), but colour stays colour, because
    the reference takes luma from 8-bit RGB with its own float weights.
    """
    mode = image.mode
    if mode in ("L", "RGB"):
        return image
    if mode in _WIDE_MODES:
        return _wide_to_luma(image)
    if mode == "1":
        return image.convert("L")
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode == "PA":
        image = image.convert("RGBA")
    if image.mode in ("LA", "La", "RGBA", "RGBa"):
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        white.alpha_composite(image.convert("RGBA"))
        return white.convert("RGB")
    return image if image.mode in ("L", "RGB") else image.convert("RGB")


def has_transparency(image: Image.Image) -> bool:
    return image.mode in ("LA", "La", "RGBA", "RGBa", "PA") or (image.mode == "P" and "transparency" in image.info)


_STRIP_ROWS = 256


def float_luma(image: Image.Image) -> FloatLuma:
    """Float32 luma of an "L" or "RGB" picture: Pillow's "F" conversion computes 0.299 R + 0.587 G + 0.114 B
    with the same float arithmetic as pdqhash (bit for bit; tests check it). Done in strips of rows so that
    a large picture needs one float plane, not three."""
    width, height = image.size
    out = np.empty((height, width), dtype=np.float32)
    for top in range(0, height, _STRIP_ROWS):
        rows = min(_STRIP_ROWS, height - top)
        strip = image.crop((0, top, width, top + rows)).convert("F")
        out[top : top + rows] = np.frombuffer(strip.tobytes(), dtype=np.float32).reshape(rows, width)
    return out


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


# numpy equivalents of EXIF orientation transposes, for the float plane.
_ORIENT_ARRAY: dict[Image.Transpose, Callable[[FloatLuma], FloatLuma]] = {
    Image.Transpose.FLIP_LEFT_RIGHT: lambda a: a[:, ::-1],
    Image.Transpose.ROTATE_180: lambda a: a[::-1, ::-1],
    Image.Transpose.FLIP_TOP_BOTTOM: lambda a: a[::-1],
    Image.Transpose.TRANSPOSE: lambda a: a.T,
    Image.Transpose.TRANSVERSE: lambda a: a[::-1, ::-1].T,
    Image.Transpose.ROTATE_90: lambda a: np.rot90(a, 1),
    Image.Transpose.ROTATE_270: lambda a: np.rot90(a, 3),
}


def _grey_tail_share(image: Image.Image) -> float:
    """Share of the picture that libjpeg filled because the data ended: the exact mid-grey pixels at the end
    in raster order (missing blocks decode to 128 in every channel). Slightly low when the cut falls inside a
    row of blocks, whose decoded left part ends the run."""
    array = np.asarray(image)
    grey = (array == 128) if array.ndim == 2 else (array == 128).all(axis=2)
    flat = grey.reshape(-1)
    last_other = np.flatnonzero(~flat)
    run = flat.size if last_other.size == 0 else flat.size - 1 - int(last_other[-1])
    return float(run) / float(flat.size)


class _Picture(OpenedMedia):
    def __init__(
        self, data: bytes, fmt: MediaFormat, limits: DecodeLimits, deadline: _Deadline, *,
        truncated: bool = False, missing: float | None = None,
    ) -> None:  # fmt: skip
        self.format = fmt
        self._limits = limits
        self._deadline = deadline
        self.duration_seconds = None
        self.truncated = truncated
        self._missing = missing
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

    def picture(self) -> Picture:
        if self.kind is not ContentKind.IMAGE:
            return super().picture()
        image = self._image
        with _decoder_errors(truncated=self.truncated):
            image.load()
            self._deadline.check()
            self._check_cut()
            luma = float_luma(to_shown(image))
            without_alpha = float_luma(image.convert("RGB")) if has_transparency(image) else None
        orient = _ORIENT_ARRAY.get(self._transpose) if self._transpose is not None else None
        if orient is not None:
            luma = np.ascontiguousarray(orient(luma))
            without_alpha = None if without_alpha is None else np.ascontiguousarray(orient(without_alpha))
        return Picture(luma, without_alpha)

    def brightest(self) -> Luma | None:
        if self.kind is not ContentKind.IMAGE:
            return super().brightest()
        image = self._image
        with _decoder_errors(truncated=self.truncated):
            image.load()
            self._deadline.check()
            self._check_cut()
            shown = to_shown(image)
            if shown.mode != "RGB":
                return None
            red, green, blue = shown.split()
            plane = np.asarray(ImageChops.lighter(ImageChops.lighter(red, green), blue))
        orient = _ORIENT_ARRAY.get(self._transpose) if self._transpose is not None else None
        if orient is not None:
            plane = orient(plane)
        return np.ascontiguousarray(plane)

    def _check_cut(self) -> None:
        if self.truncated and self._missing is None:  # a JPEG: only its decoded pixels tell
            self._missing = _grey_tail_share(self._image)
            _check_missing(self._missing)

    def _still(self, side: int | None) -> Frame:
        image = self._image
        with _decoder_errors(truncated=self.truncated):
            if self.format is MediaFormat.JPEG and side is not None:
                # Let libjpeg scale by 1/2, 1/4 or 1/8 while decoding (never below side x side) and hand
                # over its Y channel: several times less work than decoding RGB at full size.
                image.draft("L", (side, side))
            image.load()
            self._deadline.check()
            self._check_cut()
            if side is None:
                return Frame(number=0, timestamp=0.0, luma=self.picture().luma)
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
                    plane: Luma | FloatLuma
                    if side is None:
                        plane = float_luma(to_shown(image))
                    else:
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
                    plane: Luma | FloatLuma
                    if side is None:
                        # As the vPDQ reference does: the frame in 8-bit RGB (swscale), then the PDQ luma.
                        plane = float_luma(frame.to_image())
                    else:
                        scaled = frame.reformat(width=side, height=side, format="gray", interpolation="AREA")
                        plane = scaled.to_ndarray()
                    turns = round((frame.rotation or 0) / 90) % 4
                    if turns:
                        # The display matrix rotates counter-clockwise, as np.rot90 does.
                        plane = cast(Luma | FloatLuma, np.ascontiguousarray(np.rot90(plane, turns)))
                        if turns % 2 and decoded == 1:
                            self.width, self.height = self.height, self.width
                    yield Frame(number=decoded - 1, timestamp=round(timestamp, 3), luma=plane)
                    next_sample = (math.floor(timestamp / interval + 1e-6) + 1) * interval
        if decoded == 0:
            raise UnhashableMedia(UnhashableReason.CORRUPT, "no video frame could be decoded")
        if self.duration_seconds is None:
            self.duration_seconds = round(last_time + 1 / self._rate, 3)
