"""Pictures cut short (issue #8, point 2): a banked JPEG or PNG with its end cut off must still be recognised, or
be refused; it must never come out as an ordinary, unflagged hash that matches nothing.

Each file is cut at every 1% from 1% to 99% of its bytes removed. A cut either
- matches: it is hashed as a browser shows it (the rest grey), flagged `truncated`, within 31 bits of the
  whole file's PDQ, so a bank holding the original catches it;
- is flagged: hashed and flagged `truncated`, but further than 31 bits (the scan treats a truncated file that
  matches nothing as it treats an unhashable one: the allow/review/refuse setting, default review);
- or is refused as unhashable (more than a quarter of the picture missing, or nothing to show).
The floors asserted are what these files achieve today (docs/signals.md, "Files cut short"), a little lower.
"""

from __future__ import annotations

import struct
import zlib
from functools import cache

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from firebreak.signals.errors import UnhashableMedia, UnhashableReason
from firebreak.signals.hashing import CUT_SHARES, MediaHashes, cut_short_variants, hash_bytes
from firebreak.signals.pdq import PDQ_MATCH_DISTANCE, hamming_distance
from tests.signals.samples import encode, photo

FILES = {
    "jpeg": lambda: encode(photo("astronaut"), "JPEG", quality=90),
    "png": lambda: encode(photo("astronaut"), "PNG"),
    "jpeg_progressive": lambda: encode(photo("chelsea"), "JPEG", quality=85, progressive=True),
}


@cache
def outcomes(name: str) -> str:
    """One letter per cut, 1% to 99% removed: M (matches), F (flagged, further than 31 bits), R (refused)."""
    data = FILES[name]()
    whole = hash_bytes(data)
    assert not whole.truncated
    letters = []
    for percent in range(1, 100):
        cut = data[: len(data) * (100 - percent) // 100]
        try:
            hashes: MediaHashes = hash_bytes(cut)
        except UnhashableMedia as exc:
            assert exc.reason in (UnhashableReason.TRUNCATED, UnhashableReason.CORRUPT), exc
            letters.append("R")
            continue
        assert hashes.truncated, percent  # never an ordinary hash
        assert (hashes.width, hashes.height) == (whole.width, whole.height)
        near = hamming_distance(hashes.pdq.value, whole.pdq.value) <= PDQ_MATCH_DISTANCE
        letters.append("M" if near else "F")
    return "".join(letters)


# (file, cuts counted, at least this many match): measured 10/10, 15/50 | 10/10, 15/50 | 50/50, 92/99.
FLOORS = [
    ("jpeg", 10, 9),
    ("jpeg", 50, 13),
    ("png", 10, 9),
    ("png", 50, 13),
    ("jpeg_progressive", 50, 48),
    ("jpeg_progressive", 99, 85),
]


@pytest.mark.parametrize(("name", "first", "floor"), FLOORS)
def test_cut_pictures_still_match_their_original(name: str, first: int, floor: int) -> None:
    seen = outcomes(name)
    assert seen[:first].count("M") >= floor, seen


@pytest.mark.parametrize("name", sorted(FILES))
def test_a_picture_mostly_missing_is_refused(name: str) -> None:
    seen = outcomes(name)
    assert set(seen[60:]) <= {"R"} or name == "jpeg_progressive", seen
    assert seen.count("R") + seen.count("M") + seen.count("F") == 99


def test_progressive_jpeg_shows_the_whole_picture_from_its_first_scans() -> None:
    data = FILES["jpeg_progressive"]()
    whole = hash_bytes(data)
    half = hash_bytes(data[: len(data) // 2])  # the refinement scans are missing, not the picture
    assert half.truncated and hamming_distance(half.pdq.value, whole.pdq.value) <= 8


def test_only_the_end_marker_missing_hashes_identically() -> None:
    for name in ("jpeg", "png"):
        data = FILES[name]()
        cut = hash_bytes(data[:-2])
        assert cut.truncated and cut.pdq == hash_bytes(data).pdq, name


def interlaced_png(grey: npt.NDArray[np.uint8]) -> bytes:
    """An Adam7-interlaced 8-bit grey PNG (Pillow reads them but does not write them)."""
    height, width = grey.shape
    raw = bytearray()
    for step_x, step_y, first_x, first_y in ((8, 8, 0, 0), (8, 8, 4, 0), (4, 8, 0, 4), (4, 4, 2, 0), (2, 4, 0, 2),
                                             (2, 2, 1, 0), (1, 2, 0, 1)):
        part = grey[first_y::step_y, first_x::step_x]
        if part.shape[1]:
            for row in part:
                raw += b"\x00" + row.tobytes()

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 1)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(raw)))
            + chunk(b"IEND", b""))


def test_interlaced_palette_and_bilevel_pngs_cut_short_are_shown() -> None:
    picture = Image.fromarray(photo("coffee"))
    grey = np.asarray(picture.convert("L"))
    interlaced = interlaced_png(grey)
    assert hash_bytes(interlaced).pdq == hash_bytes(encode(grey, "PNG")).pdq  # the helper writes a true PNG
    for data in (interlaced, encode(picture.quantize(64), "PNG"), encode(picture.convert("1"), "PNG")):
        whole = hash_bytes(data)
        cut = hash_bytes(data[: len(data) * 98 // 100])
        assert cut.truncated and hamming_distance(cut.pdq.value, whole.pdq.value) <= PDQ_MATCH_DISTANCE


def test_a_png_whose_data_is_damaged_not_cut_is_refused_as_corrupt() -> None:
    data = bytearray(FILES["png"]())
    start = data.find(b"IDAT") + 4
    data[start + 200 : start + 260] = bytes(60)  # wrecks the deflate stream inside the file
    cut = bytes(data[: len(data) * 9 // 10])
    with pytest.raises(UnhashableMedia) as info:
        hash_bytes(cut)
    assert info.value.reason in (UnhashableReason.CORRUPT, UnhashableReason.TRUNCATED)


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_other_formats_cut_short_are_still_refused(fmt: str) -> None:
    data = encode(photo("astronaut"), fmt)
    with pytest.raises(UnhashableMedia) as info:
        hash_bytes(data[: len(data) * 95 // 100])
    assert info.value.reason is UnhashableReason.TRUNCATED


def test_banking_the_cut_short_variants_catches_cuts_the_whole_hash_misses() -> None:
    """coffee's grey band moves its PDQ past 31 bits from a 4% cut on; banked with the hashes of the picture
    with its bottom rows grey (cut_short_variants), cuts up to a quarter of the picture are caught."""
    data = encode(photo("coffee"), "JPEG", quality=85)
    whole = hash_bytes(data).pdq.value
    variants = cut_short_variants(data)
    assert len(variants) == len(CUT_SHARES)
    plain = banked = 0
    for percent in range(1, 26):
        cut = hash_bytes(data[: len(data) * (100 - percent) // 100])
        plain += hamming_distance(cut.pdq.value, whole) <= PDQ_MATCH_DISTANCE
        banked += min(hamming_distance(cut.pdq.value, v) for v in (whole, *variants)) <= PDQ_MATCH_DISTANCE
    assert plain <= 5 and banked >= 22, (plain, banked)
