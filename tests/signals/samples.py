"""Test media built from scikit-image's bundled sample photos and from numpy: never real-world uploads."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Sequence
from functools import cache
from typing import Any

import av
import numpy as np
import numpy.typing as npt
from PIL import Image
from skimage import data as skdata

RGB = npt.NDArray[np.uint8]

PHOTOS = ("astronaut", "coffee", "chelsea", "camera", "rocket", "horse", "coins", "immunohistochemistry")


@cache
def photo(name: str) -> RGB:
    """A bundled scikit-image picture as HxWx3 uint8 (grey pictures get three equal channels)."""
    array = np.asarray(getattr(skdata, name)())
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=2)
    return np.ascontiguousarray(array[:, :, :3].astype(np.uint8))


def sized(array: RGB, width: int, height: int) -> RGB:
    return np.asarray(Image.fromarray(array).resize((width, height), Image.Resampling.LANCZOS))


def encode(picture: RGB | Image.Image, fmt: str, **params: Any) -> bytes:
    image = picture if isinstance(picture, Image.Image) else Image.fromarray(picture)
    if fmt == "HEIF":
        import pillow_heif

        pillow_heif.register_heif_opener()
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def animation(frames: Sequence[RGB], fmt: str, duration_ms: int | Sequence[int]) -> bytes:
    images = [Image.fromarray(f) for f in frames]
    out = io.BytesIO()
    images[0].save(out, fmt, save_all=True, append_images=images[1:], duration=duration_ms, loop=0)
    return out.getvalue()


def video(
    frames: Sequence[RGB],
    *,
    fps: int = 10,
    container: str = "mp4",
    codec: str = "libx264",
    rotation: int | None = None,
) -> bytes:
    """Encode frames (all the same even size) with PyAV."""
    height, width = frames[0].shape[:2]
    out = io.BytesIO()
    with av.open(out, "w", format=container) as output:
        stream = output.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if codec.startswith("libvpx"):
            stream.options = {"deadline": "realtime", "cpu-used": "8"}
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for array in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    return out.getvalue()


def audio_only_mp4() -> bytes:
    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as output:
        stream = output.add_stream("aac", rate=44100)
        for _ in range(10):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate = 44100
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    return out.getvalue()


def scene_frames(names: Sequence[str], *, seconds_each: int = 1, fps: int = 10, size: tuple[int, int] = (160, 120)):
    """One picture per second, gently panning, so each second has its own recognisable content."""
    frames: list[RGB] = []
    width, height = size
    for name in names:
        base = sized(photo(name), width + 40, height)
        for step in range(seconds_each * fps):
            frames.append(np.ascontiguousarray(base[:, step % 40 : step % 40 + width]))
    return frames


# ---------------------------------------------------------------- hand-made hostile files


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_with_header(width: int, height: int, *, idat: bytes = b"", color_type: int = 2) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def zero_deflate_bomb(uncompressed_bytes: int) -> bytes:
    """A zlib stream of `uncompressed_bytes` zeros (about 1/1000 of that in size), built without inflating it."""
    chunk = 1 << 20
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = compressor.compress(bytes(chunk)) + compressor.flush(zlib.Z_FULL_FLUSH)
    repeat = compressor.compress(bytes(chunk)) + compressor.flush(zlib.Z_FULL_FLUSH)
    # After a full flush the compressor's state repeats, so the same block stands for every further MiB.
    count = max(2, uncompressed_bytes // chunk)
    body = first + repeat * (count - 1) + compressor.flush()
    adler = ((count * chunk) % 65521) << 16 | 1  # adler32 of n zero bytes
    return b"\x78\xda" + body + struct.pack(">I", adler)


def gif_with_screen(width: int, height: int) -> bytes:
    return (
        b"GIF89a"
        + struct.pack("<HHBBB", width, height, 0, 0, 0)
        + b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
    )


def bmp_with_size(width: int, height: int) -> bytes:
    header = struct.pack("<2sIHHI", b"BM", 54 + 16, 0, 0, 54)
    dib = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 16, 2835, 2835, 0, 0)
    return header + dib + bytes(16)


def jpeg_with_size(width: int, height: int) -> bytes:
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return (
        b"\xff\xd8\xff\xe0"
        + struct.pack(">H", 16)
        + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
        + sof
        + b"\xff\xd9"
    )


def webp_with_size(width: int, height: int) -> bytes:
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little")
    vp8x += (height - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", 4 + len(vp8x)) + b"WEBP" + vp8x


def tiff_with_size(width: int, height: int) -> bytes:
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (262, 3, 1, 1), (273, 4, 1, 8)]
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", *e) for e in entries) + b"\x00" * 4
    return b"II*\x00" + struct.pack("<I", 8) + ifd


def with_ispe(heif: bytes, width: int, height: int) -> bytes:
    """A real HEIC/AVIF whose every `ispe` (declared size) property is overwritten."""
    out = bytearray(heif)
    start = 0
    while (found := out.find(b"ispe", start)) >= 0:
        out[found + 8 : found + 16] = struct.pack(">II", width, height)
        start = found + 4
    return bytes(out)
