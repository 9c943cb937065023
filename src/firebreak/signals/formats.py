"""What a file really is, read from its first bytes, and what its header promises, read without decoding.

Everything here is plain byte arithmetic on at most a few header structures: it must be cheap and safe on
any input, because it runs before a decoder is allowed near the data. The file name is never consulted.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from firebreak.signals.base import ContentKind
from firebreak.signals.errors import UnhashableMedia, UnhashableReason


@dataclass(frozen=True, slots=True)
class _FormatInfo:
    mime_type: str
    kind: ContentKind
    pillow: str | None  # Pillow plugin name for image formats


class MediaFormat(enum.StrEnum):
    JPEG = "jpeg"
    PNG = "png"
    GIF = "gif"
    WEBP = "webp"
    BMP = "bmp"
    TIFF = "tiff"
    HEIC = "heic"
    AVIF = "avif"
    MP4 = "mp4"
    MOV = "mov"
    WEBM = "webm"
    MKV = "mkv"

    @property
    def mime_type(self) -> str:
        return _INFO[self].mime_type

    @property
    def container_kind(self) -> ContentKind:
        """Image or video by container; an animated GIF, WebP or PNG is still an image *format*."""
        return _INFO[self].kind

    @property
    def pillow_plugin(self) -> str | None:
        return _INFO[self].pillow


_I, _V = ContentKind.IMAGE, ContentKind.VIDEO
_INFO = {
    MediaFormat.JPEG: _FormatInfo("image/jpeg", _I, "JPEG"),
    MediaFormat.PNG: _FormatInfo("image/png", _I, "PNG"),
    MediaFormat.GIF: _FormatInfo("image/gif", _I, "GIF"),
    MediaFormat.WEBP: _FormatInfo("image/webp", _I, "WEBP"),
    MediaFormat.BMP: _FormatInfo("image/bmp", _I, "BMP"),
    MediaFormat.TIFF: _FormatInfo("image/tiff", _I, "TIFF"),
    MediaFormat.HEIC: _FormatInfo("image/heic", _I, "HEIF"),
    MediaFormat.AVIF: _FormatInfo("image/avif", _I, "AVIF"),
    MediaFormat.MP4: _FormatInfo("video/mp4", _V, None),
    MediaFormat.MOV: _FormatInfo("video/quicktime", _V, None),
    MediaFormat.WEBM: _FormatInfo("video/webm", _V, None),
    MediaFormat.MKV: _FormatInfo("video/x-matroska", _V, None),
}

_HEIC_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"}
_AVIF_BRANDS = {b"avif", b"avis"}
_AUDIO_BRANDS = {b"M4A ", b"M4B ", b"M4P "}
# QuickTime files from before `ftyp` start with one of these atoms.
_OLD_QUICKTIME_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}
# Formats people send that we do not decode, named so the refusal says what the file was.
_KNOWN_OTHERS = (
    (b"PK\x03\x04", "a ZIP archive"),
    (b"%PDF", "a PDF document"),
    (b"\x1f\x8b", "gzip data"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
    (b"ID3", "MP3 audio"),
    (b"OggS", "an Ogg stream"),
    (b"\x00\x00\x01\x00", "an ICO icon"),
    (b"8BPS", "a Photoshop document"),
    (b"\xff\x0a", "a JPEG XL image"),
    (b"\x00\x00\x00\x0cJXL ", "a JPEG XL image"),
    (b"II+\x00", "a BigTIFF image"),
    (b"MM\x00+", "a BigTIFF image"),
    (b"\x00\x00\x00\x0cjP  ", "a JPEG 2000 image"),
)


def _unsupported(what: str) -> UnhashableMedia:
    return UnhashableMedia(UnhashableReason.UNSUPPORTED_FORMAT, f"not a supported image or video: {what}")


def _describe_unknown(head: bytes) -> str:
    for magic, name in _KNOWN_OTHERS:
        if head.startswith(magic):
            return name
    if head[4:12] in (b"ftypM4A ", b"ftypM4B "):
        return "MP4 audio"
    sample = head[:512]
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError:
        return f"unknown content starting {head[:8].hex(' ')}"
    if text.lstrip().startswith("<") and "svg" in text.lower():
        return "an SVG drawing"
    if all(ch.isprintable() or ch in "\r\n\t" for ch in text):
        return "text"
    return f"unknown content starting {head[:8].hex(' ')}"


def sniff_format(data: bytes) -> MediaFormat:
    """The format the bytes are in. Raises UnhashableMedia (empty / unsupported_format) otherwise."""
    if not data:
        raise UnhashableMedia(UnhashableReason.EMPTY, "the file is empty")
    if data.startswith(b"\xff\xd8\xff"):
        return MediaFormat.JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return MediaFormat.PNG
    if data.startswith((b"GIF87a", b"GIF89a")):
        return MediaFormat.GIF
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return MediaFormat.WEBP
    if data.startswith(b"RIFF") and data[8:12] == b"AVI ":
        raise _unsupported("an AVI video")
    if data.startswith(b"BM") and len(data) >= 18 and _u32le(data, 14) in (12, 40, 52, 56, 64, 108, 124):
        return MediaFormat.BMP
    if data.startswith((b"II*\x00", b"MM\x00*")):
        return MediaFormat.TIFF
    if data.startswith(b"\x1a\x45\xdf\xa3"):
        return MediaFormat.WEBM if b"webm" in data[:64] else MediaFormat.MKV
    if data[4:8] == b"ftyp":
        return _sniff_ftyp(data)
    if data[4:8] in _OLD_QUICKTIME_ATOMS:
        return MediaFormat.MOV
    raise _unsupported(_describe_unknown(data[:512]))


def _sniff_ftyp(data: bytes) -> MediaFormat:
    size = _u32be(data, 0)
    major = data[8:12]
    compatible = {data[i : i + 4] for i in range(16, min(size, len(data), 256) - 3, 4)}
    if major in _HEIC_BRANDS:
        return MediaFormat.HEIC
    if major in _AVIF_BRANDS:
        return MediaFormat.AVIF
    if major in (b"mif1", b"msf1"):
        if compatible & _AVIF_BRANDS:
            return MediaFormat.AVIF
        return MediaFormat.HEIC
    if major in _AUDIO_BRANDS:
        raise _unsupported("MP4 audio")
    if major == b"qt  ":
        return MediaFormat.MOV
    return MediaFormat.MP4


# ---------------------------------------------------------------- integrity: does the file end too early?


def _truncated(what: str) -> UnhashableMedia:
    return UnhashableMedia(UnhashableReason.TRUNCATED, what)


def check_structure(data: bytes, fmt: MediaFormat) -> None:
    """Refuse files whose own length fields say they should be longer than they are.

    Decoders are forgiving about a missing tail and would hash half a picture or half a video; a file cut
    short in transit should be fetched again rather than banked or matched as something it is not.
    """
    if fmt is MediaFormat.PNG:
        _check_png_chunks(data)
    elif fmt is MediaFormat.WEBP:
        if len(data) < 12 or _u32le(data, 4) + 8 > len(data):
            raise _truncated("the WebP file is shorter than its RIFF header says")
    elif fmt in (MediaFormat.MP4, MediaFormat.MOV, MediaFormat.HEIC, MediaFormat.AVIF):
        _check_isobmff_boxes(data)
    elif fmt in (MediaFormat.WEBM, MediaFormat.MKV):
        _check_matroska_segment(data)
    elif fmt is MediaFormat.GIF:
        _check_gif_blocks(data)
    elif fmt is MediaFormat.JPEG:
        _check_jpeg_end(data)


def _check_jpeg_end(data: bytes) -> None:
    """A JPEG ends its image data with an EOI marker (FF D9) after the start of scan (FF DA).

    Checked here because Pillow's truncated-image leniency is a process-wide switch that other libraries turn on
    (Synapse sets ``ImageFile.LOAD_TRUNCATED_IMAGES = True`` when imported).
    """
    scan = data.find(b"\xff\xda", 2)
    if scan < 0 or data.find(b"\xff\xd9", scan + 2) < 0:
        raise _truncated("the JPEG file ends before its end-of-image marker")


def _check_png_chunks(data: bytes) -> None:
    offset = 8
    while offset + 8 <= len(data):
        length = _u32be(data, offset)
        kind = data[offset + 4 : offset + 8]
        end = offset + 12 + length
        if end > len(data):
            raise _truncated(f"the PNG's {kind.decode('latin-1')!r} chunk runs past the end of the file")
        if kind == b"IEND":
            return
        offset = end
    raise _truncated("the PNG ends before its IEND chunk")


def _check_gif_blocks(data: bytes) -> None:
    """Walk the GIF's blocks to its trailer. Bytes after the trailer are ignored, as browsers do."""
    end = len(data)

    def skip_sub_blocks(offset: int) -> int:
        while offset < end and data[offset]:
            offset += data[offset] + 1
        return offset + 1  # the zero-length terminator

    offset = 13
    if end < offset:
        raise _truncated("the GIF ends inside its header")
    if data[10] & 0x80:  # global colour table
        offset += 3 << ((data[10] & 7) + 1)
    while offset < end:
        introducer = data[offset]
        if introducer == 0x3B:  # trailer
            return
        if introducer == 0x21:  # extension: label, then sub-blocks
            offset = skip_sub_blocks(offset + 2)
        elif introducer == 0x2C:  # image: descriptor, local colour table, LZW code size, sub-blocks
            if offset + 10 > end:
                break
            flags = data[offset + 9]
            offset += 10 + ((3 << ((flags & 7) + 1)) if flags & 0x80 else 0)
            offset = skip_sub_blocks(offset + 1)
        else:
            raise UnhashableMedia(UnhashableReason.CORRUPT, f"unexpected GIF block 0x{introducer:02x}")
    raise _truncated("the GIF ends before its trailer")


def _check_isobmff_boxes(data: bytes) -> None:
    offset = 0
    while len(data) - offset >= 8:
        size = _u32be(data, offset)
        kind = data[offset + 4 : offset + 8]
        if size == 0:  # the last box runs to the end of the file
            return
        if size == 1:
            if len(data) - offset < 16:
                raise _truncated("the file ends inside a box header")
            size = struct.unpack_from(">Q", data, offset + 8)[0]
            if size < 16:
                raise UnhashableMedia(UnhashableReason.CORRUPT, f"box {kind!r} has an impossible size")
        elif size < 8:
            raise UnhashableMedia(UnhashableReason.CORRUPT, f"box {kind!r} has an impossible size {size}")
        if offset + size > len(data):
            raise _truncated(f"the {kind.decode('latin-1')!r} box runs past the end of the file")
        offset += size


def _read_vint(data: bytes, offset: int) -> tuple[int, int, bool]:
    """An EBML variable-length integer: (value, length in bytes, all value bits set = 'unknown')."""
    if offset >= len(data):
        raise _truncated("the file ends inside its EBML header")
    first = data[offset]
    length = 9 - first.bit_length() if first else 9
    if length > 8:
        raise UnhashableMedia(UnhashableReason.CORRUPT, "invalid EBML length")
    if offset + length > len(data):
        raise _truncated("the file ends inside its EBML header")
    value = first & (0xFF >> length)
    for byte in data[offset + 1 : offset + length]:
        value = (value << 8) | byte
    return value, length, value == (1 << (7 * length)) - 1


def _check_matroska_segment(data: bytes) -> None:
    size, width, _ = _read_vint(data, 4)  # EBML header element (its 4-byte id is the magic number)
    offset = 4 + width + size
    if data[offset : offset + 4] != b"\x18\x53\x80\x67":
        if offset + 4 > len(data):
            raise _truncated("the file ends before its Segment")
        raise UnhashableMedia(UnhashableReason.CORRUPT, "no Matroska Segment after the EBML header")
    size, width, unknown = _read_vint(data, offset + 4)
    if not unknown and offset + 4 + width + size > len(data):
        raise _truncated("the Matroska Segment runs past the end of the file")


# ---------------------------------------------------------------- dimensions from headers, before decoding


def header_dimensions(data: bytes, fmt: MediaFormat) -> tuple[int, int] | None:
    """(width, height) as an image header declares them, or None where only the decoder can tell (video).

    Raises UnhashableMedia when the header itself is cut off or impossible.
    """
    try:
        return _PARSERS[fmt](data) if fmt in _PARSERS else None
    except (struct.error, IndexError):
        raise _truncated(f"the {fmt.value.upper()} header is incomplete") from None


def _u32be(data: bytes, offset: int) -> int:
    return int(struct.unpack_from(">I", data, offset)[0])


def _u32le(data: bytes, offset: int) -> int:
    return int(struct.unpack_from("<I", data, offset)[0])


def _png_size(data: bytes) -> tuple[int, int]:
    if data[12:16] != b"IHDR":
        raise UnhashableMedia(UnhashableReason.CORRUPT, "the PNG does not start with an IHDR chunk")
    return _u32be(data, 16), _u32be(data, 20)


def _gif_size(data: bytes) -> tuple[int, int]:
    width, height = struct.unpack_from("<HH", data, 6)
    return int(width), int(height)


def _bmp_size(data: bytes) -> tuple[int, int]:
    if _u32le(data, 14) == 12:
        width, height = struct.unpack_from("<HH", data, 18)
    else:
        width, height = struct.unpack_from("<ii", data, 18)
    return abs(int(width)), abs(int(height))


_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_size(data: bytes) -> tuple[int, int]:
    offset = 2
    while True:
        if data[offset] != 0xFF:
            raise UnhashableMedia(UnhashableReason.CORRUPT, "JPEG marker expected")
        while data[offset] == 0xFF:  # fill bytes
            offset += 1
        marker = data[offset]
        offset += 1
        if marker in _JPEG_SOF:
            height, width = struct.unpack_from(">HH", data, offset + 3)
            return int(width), int(height)
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            continue
        if marker in (0xD9, 0xDA):
            raise UnhashableMedia(UnhashableReason.CORRUPT, "the JPEG has no frame header before its data")
        offset += int(struct.unpack_from(">H", data, offset)[0])


def _webp_size(data: bytes) -> tuple[int, int]:
    chunk = data[12:16]
    if chunk == b"VP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        if len(data) < 30:
            raise IndexError
        return width, height
    if chunk == b"VP8L":
        bits = _u32le(data, 21)
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 ":
        width, height = struct.unpack_from("<HH", data, 26)
        return int(width) & 0x3FFF, int(height) & 0x3FFF
    raise UnhashableMedia(UnhashableReason.CORRUPT, f"unknown WebP chunk {chunk!r}")


def _tiff_size(data: bytes) -> tuple[int, int]:
    order = "<" if data.startswith(b"II") else ">"
    (ifd,) = struct.unpack_from(order + "I", data, 4)
    (count,) = struct.unpack_from(order + "H", data, ifd)
    width = height = None
    for index in range(min(int(count), 4096)):
        tag, kind, _, value = struct.unpack_from(order + "HHI4s", data, ifd + 2 + 12 * index)
        if tag in (256, 257):
            number = struct.unpack_from(order + ("H" if kind == 3 else "I"), value)[0]
            if tag == 256:
                width = int(number)
            else:
                height = int(number)
    if width is None or height is None:
        raise UnhashableMedia(UnhashableReason.CORRUPT, "the TIFF's first image has no width or height")
    return width, height


def _heif_size(data: bytes) -> tuple[int, int] | None:
    """The largest `ispe` (image spatial extent) property in meta/iprp/ipco: a bound on every item."""
    largest: tuple[int, int] | None = None

    def walk(start: int, end: int, depth: int) -> None:
        nonlocal largest
        offset = start
        while offset + 8 <= end and depth < 4:
            size = _u32be(data, offset)
            kind = data[offset + 4 : offset + 8]
            box_end = end if size == 0 else offset + size
            if (size and size < 8) or box_end > end:
                return
            if kind == b"meta":
                walk(offset + 12, box_end, depth + 1)  # a FullBox: skip version and flags
            elif kind in (b"iprp", b"ipco"):
                walk(offset + 8, box_end, depth + 1)
            elif kind == b"ispe" and box_end - offset >= 20:
                size_here = (_u32be(data, offset + 12), _u32be(data, offset + 16))
                if largest is None or size_here[0] * size_here[1] > largest[0] * largest[1]:
                    largest = size_here
            offset = box_end

    walk(0, len(data), 0)
    return largest


_PARSERS = {
    MediaFormat.PNG: _png_size,
    MediaFormat.GIF: _gif_size,
    MediaFormat.BMP: _bmp_size,
    MediaFormat.JPEG: _jpeg_size,
    MediaFormat.WEBP: _webp_size,
    MediaFormat.TIFF: _tiff_size,
    MediaFormat.HEIC: _heif_size,
    MediaFormat.AVIF: _heif_size,
}
