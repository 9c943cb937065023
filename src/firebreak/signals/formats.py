"""What a file really is, read from its first bytes, and what its header promises, read without decoding.

Everything here is plain byte arithmetic on at most a few header structures: it must be cheap and safe on
any input, because it runs before a decoder is allowed near the data. The file name is never consulted.
"""

from __future__ import annotations

import enum
import struct
import zlib
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


def check_structure(data: bytes, fmt: MediaFormat) -> bool:
    """Refuse files whose own length fields say they should be longer than they are, unless a viewer still
    shows a picture from what is there.

    Returns True for a JPEG or still PNG that is cut short after its picture data has begun: browsers show
    such a file (the part that arrived, the rest grey), so it is decoded the same way (`complete_cut_short`)
    and flagged, rather than refused and let through unhashed. Other formats cut short are refused: a
    decoder would hash half a video or half an animation as something it is not.
    """
    if fmt is MediaFormat.PNG:
        return _check_png_chunks(data)
    if fmt is MediaFormat.JPEG:
        return _check_jpeg_end(data)
    if fmt is MediaFormat.WEBP:
        if len(data) < 12 or _u32le(data, 4) + 8 > len(data):
            raise _truncated("the WebP file is shorter than its RIFF header says")
    elif fmt in (MediaFormat.MP4, MediaFormat.MOV, MediaFormat.HEIC, MediaFormat.AVIF):
        _check_isobmff_boxes(data)
    elif fmt in (MediaFormat.WEBM, MediaFormat.MKV):
        _check_matroska_segment(data)
    elif fmt is MediaFormat.GIF:
        _check_gif_blocks(data)
    return False


def complete_cut_short(data: bytes, fmt: MediaFormat) -> tuple[bytes, float | None]:
    """A complete file that shows what a browser shows for a JPEG or PNG cut short, and the share of the
    picture's rows that had to be filled (None when only decoding can tell, as for JPEG).

    JPEG: the data up to the last complete marker segment, then an end-of-image marker; libjpeg then treats
    the missing blocks as empty, which is mid grey, as in browsers. PNG: the rows that decompress from the
    IDAT data present, the missing rows mid grey, in a rebuilt file.
    """
    if fmt is MediaFormat.JPEG:
        return _complete_jpeg(data), None
    if fmt is MediaFormat.PNG:
        return _complete_png(data)
    raise ValueError(f"{fmt.value} files cut short are not completed")


def _check_jpeg_end(data: bytes) -> bool:
    """A JPEG ends its image data with an EOI marker (FF D9) after the start of scan (FF DA).

    Checked here because Pillow's truncated-image leniency is a process-wide switch that other libraries turn on
    (Synapse sets ``ImageFile.LOAD_TRUNCATED_IMAGES = True`` when imported): Firebreak completes a cut-short
    file itself instead, per call.
    """
    scan = data.find(b"\xff\xda", 2)
    if scan < 0:
        raise _truncated("the JPEG file ends before its image data")
    return data.find(b"\xff\xd9", scan + 2) < 0


# Markers that stand alone (no length field): TEM, RST0-7, SOI, EOI.
_STANDALONE_MARKERS = {0x01, *range(0xD0, 0xD8), 0xD8, 0xD9}


def _complete_jpeg(data: bytes) -> bytes:
    end = len(data)
    # Drop a marker segment (e.g. the Huffman tables before a progressive scan) that the cut left incomplete:
    # libjpeg would read the end-of-image marker as part of it. Within entropy-coded data FF is followed by
    # 00 (a stuffed byte) or a restart marker, so the last other FF xx is the last marker.
    at = data.rfind(b"\xff", 2)
    while at > 0:
        marker = data[at + 1] if at + 1 < end else None
        if marker is None or (marker not in _STANDALONE_MARKERS and marker not in (0x00, 0xFF)):
            break
        at = data.rfind(b"\xff", 2, at)
    if at > 0:
        if at + 4 > end or at + 2 + int(struct.unpack_from(">H", data, at + 2)[0]) > end:
            end = at
    return data[:end] + b"\xff\xd9"


def _check_png_chunks(data: bytes) -> bool:
    offset = 8
    seen: set[bytes] = set()
    while offset + 8 <= len(data):
        length = _u32be(data, offset)
        kind = data[offset + 4 : offset + 8]
        end = offset + 12 + length
        if end > len(data):
            if b"acTL" not in seen and (b"IDAT" in seen or (kind == b"IDAT" and offset + 8 < len(data))):
                return True  # cut inside or after the picture data of a still PNG
            raise _truncated(f"the PNG's {kind.decode('latin-1')!r} chunk runs past the end of the file")
        seen.add(kind)
        if kind == b"IEND":
            return False
        offset = end
    if b"IDAT" in seen and b"acTL" not in seen:
        return True  # all picture data that arrived is in whole chunks; what follows it is missing
    raise _truncated("the PNG ends before its IEND chunk")


# (columns step, rows step, first column, first row) of the seven Adam7 passes.
_ADAM7 = ((8, 8, 0, 0), (8, 8, 4, 0), (4, 8, 0, 4), (4, 4, 2, 0), (2, 4, 0, 2), (2, 2, 1, 0), (1, 2, 0, 1))
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _grey_byte(colour_type: int, depth: int, palette: bytes) -> bytes:
    """One pixel of mid grey (opaque where there is alpha) in the PNG's own sample layout."""
    if colour_type == 3:
        entries = [palette[i : i + 3] for i in range(0, len(palette) - 2, 3)]
        if not entries:
            raise UnhashableMedia(UnhashableReason.CORRUPT, "the palette PNG has no palette")
        index = min(range(len(entries)), key=lambda i: sum((c - 128) ** 2 for c in entries[i]))
        samples = [index]
    else:
        grey = 1 << (depth - 1)
        top = (1 << depth) - 1
        samples = {0: [grey], 2: [grey] * 3, 4: [grey, top], 6: [grey] * 3 + [top]}[colour_type]
    bits = "".join(format(sample, f"0{depth}b") for sample in samples)
    if len(bits) < 8:  # sub-byte pixels: repeat the pixel across the byte
        bits = bits * (8 // len(bits))
    return int(bits, 2).to_bytes(len(bits) // 8, "big")


def _complete_png(data: bytes) -> tuple[bytes, float]:
    head = data[8:33]
    if len(head) < 25 or head[4:8] != b"IHDR":
        raise _truncated("the PNG ends inside its header")
    width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", head[8:21])
    if colour_type not in _PNG_CHANNELS or depth not in (1, 2, 4, 8, 16):
        raise UnhashableMedia(UnhashableReason.CORRUPT, "the PNG header is invalid")
    kept: list[bytes] = []
    palette = b""
    idat = bytearray()
    offset = 8
    while offset + 8 <= len(data):
        length = _u32be(data, offset)
        kind = data[offset + 4 : offset + 8]
        payload = data[offset + 8 : offset + 8 + length]
        whole = offset + 12 + length <= len(data)
        if whole and zlib.crc32(kind + payload) != _u32be(data, offset + 8 + length):
            # Damage inside the file is not a cut: refuse it as Pillow would refuse the whole file.
            raise UnhashableMedia(UnhashableReason.CORRUPT, f"the PNG's {kind.decode('latin-1')!r} chunk is damaged")
        if kind == b"IDAT":
            idat += payload  # the last one may be cut short: its bytes still decompress
        elif not idat and whole and kind != b"IHDR":
            kept.append(data[offset : offset + 12 + length])  # PLTE, tRNS, gAMA, eXIf...: before the data
            if kind == b"PLTE":
                palette = payload
        elif idat:
            break
        offset += 12 + length
    # The rows of each pass, as (count, bytes including the filter byte).
    channels = _PNG_CHANNELS[colour_type]
    passes = _ADAM7 if interlace else ((1, 1, 0, 0),)
    rows: list[int] = []
    for step_x, step_y, first_x, first_y in passes:
        pass_width = (width - first_x + step_x - 1) // step_x
        pass_height = (height - first_y + step_y - 1) // step_y
        if pass_width > 0:
            rows.extend([1 + (pass_width * channels * depth + 7) // 8] * pass_height)
    expected = sum(rows)
    try:
        raw = zlib.decompressobj().decompress(bytes(idat), expected)
    except zlib.error:
        raise UnhashableMedia(UnhashableReason.CORRUPT, "the PNG's picture data does not decompress") from None
    complete, used = 0, 0
    while complete < len(rows) and used + rows[complete] <= len(raw):
        used += rows[complete]
        complete += 1
    if complete == 0:
        raise _truncated("the PNG ends before its first row of pixels")
    grey = _grey_byte(colour_type, depth, palette)
    filled = bytearray(raw[:used])
    for size in rows[complete:]:
        pixels = size - 1
        filled += b"\x00" + (grey * (pixels // len(grey) + 1))[:pixels]
    rebuilt = (
        data[:8]
        + _png_chunk(b"IHDR", head[8:21])
        + b"".join(kept)
        + _png_chunk(b"IDAT", zlib.compress(bytes(filled), 1))
        + _png_chunk(b"IEND", b"")
    )
    return rebuilt, 1.0 - used / expected


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
