"""On-disk format of the Hamming range index: one compacted segment, versioned, checksummed, no pickle.

Layout (all integers little-endian; the spec is repeated in docs/matching.md):

    header, 128 bytes
      0  magic         8s   b"FBHAMIDX"
      8  version       u32  1
     12  header_size   u32  128
     16  code_bytes    u32  32
     20  n_sub         u16  16 substrings ...
     22  sub_bits      u16  ... of 16 bits
     24  id_kind       u32  1 = int64 ids, 2 = uint32 offsets from id_base
     28  flags         u32  0
     32  count         u64  rows
     40  id_base       i64
     48  payload_size  u64  bytes after the header (file size - 128)
     56  sha256       32s   of the payload
     88  reserved     36s   zero
    124  header_crc32  u32  of bytes 0..123
    payload: four sections, each starting at a multiple of 64 bytes from the start of the file
      codes      count x 32 bytes, rows sorted by substring 0 (bytes 0..1 of the code)
      ids        count x int64, or count x uint32 (id - id_base)
      offsets    16 x 65537 x uint32, CSR bucket offsets of each substring table
      positions  15 x count x uint32, rows of substrings 1..15 sorted by substring value

A reader refuses any other magic or version, a header whose CRC fails, a file whose size disagrees with the
header, and (unless told to trust the file) a payload whose SHA-256 differs.
"""

from __future__ import annotations

import hashlib
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

MAGIC = b"FBHAMIDX"
VERSION = 1
HEADER = struct.Struct("<8sIIIHHIIQqQ32s36sI")
HEADER_SIZE = HEADER.size  # 128
ALIGN = 64
N_SUB = 16
N_KEYS = 1 << 16
ID_INT64 = 1
ID_UINT32 = 2
_CHUNK = 1 << 24


class IndexFormatError(ValueError):
    """A persisted index file is not one this build can read, or it is damaged."""


@dataclass(frozen=True, slots=True)
class SegmentArrays:
    codes: npt.NDArray[np.uint64]  # (count, 4)
    ids: npt.NDArray[np.uint32] | npt.NDArray[np.int64]
    id_base: int
    offsets: npt.NDArray[np.uint32]  # (16, 65537)
    positions: npt.NDArray[np.uint32]  # (15, count)


def _aligned(offset: int) -> int:
    return (offset + ALIGN - 1) // ALIGN * ALIGN


def _section_layout(count: int, id_kind: int) -> list[tuple[int, int]]:
    """(start, length) in bytes of each section, in file order."""
    sizes = [count * 32, count * (8 if id_kind == ID_INT64 else 4), N_SUB * (N_KEYS + 1) * 4, (N_SUB - 1) * count * 4]
    layout = []
    at = HEADER_SIZE
    for size in sizes:
        at = _aligned(at)
        layout.append((at, size))
        at += size
    return layout


def write_segment(path: Path, seg: SegmentArrays) -> None:
    """Write atomically: a temporary file in the same folder, fsync, then rename over ``path``."""
    count = seg.codes.shape[0]
    id_kind = ID_INT64 if seg.ids.dtype == np.int64 else ID_UINT32
    arrays = [seg.codes, seg.ids, seg.offsets, seg.positions]
    layout = _section_layout(count, id_kind)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    digest = hashlib.sha256()
    try:
        with open(tmp, "wb") as f:
            f.write(bytes(HEADER_SIZE))
            at = HEADER_SIZE
            for (start, size), arr in zip(layout, arrays, strict=True):
                pad = bytes(start - at)
                f.write(pad)
                digest.update(pad)
                little = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))
                data = little.reshape(-1).view(np.uint8).data
                if len(data) != size:
                    raise ValueError(f"section of {len(data)} bytes where the layout expects {size}")
                for i in range(0, size, _CHUNK):
                    chunk = data[i : i + _CHUNK]
                    digest.update(chunk)
                    f.write(chunk)
                at = start + size
            fields = (MAGIC, VERSION, HEADER_SIZE, 32, N_SUB, 16, id_kind, 0, count, seg.id_base, at - HEADER_SIZE)
            head = HEADER.pack(*fields, digest.digest(), bytes(36), 0)
            head = head[:-4] + struct.pack("<I", zlib.crc32(head[:-4]))
            f.seek(0)
            f.write(head)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_segment(path: Path, *, mmap: bool, verify: bool) -> SegmentArrays:
    size = path.stat().st_size
    if size < HEADER_SIZE:
        raise IndexFormatError(f"{path}: truncated: {size} bytes, shorter than the {HEADER_SIZE}-byte header")
    with open(path, "rb") as f:
        head = f.read(HEADER_SIZE)
    (magic, version, header_size, code_bytes, n_sub, sub_bits, id_kind, _flags, count, id_base, payload_size,
     sha, _reserved, crc) = HEADER.unpack(head)  # fmt: skip
    if magic != MAGIC:
        raise IndexFormatError(f"{path}: not a Firebreak Hamming index (bad magic {magic!r}, expected {MAGIC!r})")
    if version != VERSION:
        raise IndexFormatError(f"{path}: unsupported format version {version}; this build reads version {VERSION}")
    if zlib.crc32(head[:-4]) != crc:
        raise IndexFormatError(f"{path}: header checksum mismatch (the header is damaged)")
    if (header_size, code_bytes, n_sub, sub_bits) != (HEADER_SIZE, 32, N_SUB, 16) or id_kind not in (
        ID_INT64,
        ID_UINT32,
    ):
        raise IndexFormatError(f"{path}: unsupported layout in header")
    layout = _section_layout(count, id_kind)
    end = layout[-1][0] + layout[-1][1]
    if payload_size != end - HEADER_SIZE or size != end:
        raise IndexFormatError(
            f"{path}: truncated or padded: file has {size} bytes, header describes {end} ({count} codes)"
        )
    raw: npt.NDArray[np.uint8]
    if mmap:
        # Copy-on-write mapping: pages are shared with the page cache (and other processes) and never written.
        raw = np.asarray(np.memmap(path, dtype=np.uint8, mode="c"))
    else:
        raw = np.fromfile(path, dtype=np.uint8)
    if raw.shape[0] != size:
        raise IndexFormatError(f"{path}: file changed while reading")
    if verify and hashlib.sha256(raw[HEADER_SIZE:].data).digest() != sha:
        raise IndexFormatError(f"{path}: payload checksum mismatch (the file is damaged)")

    def section(i: int, dtype: str) -> npt.NDArray[np.generic]:
        start, length = layout[i]
        return raw[start : start + length].view(dtype)

    codes = section(0, "<u8").reshape(count, 4).view(np.uint64)
    ids = section(1, "<i8").view(np.int64) if id_kind == ID_INT64 else section(1, "<u4").view(np.uint32)
    offsets = section(2, "<u4").reshape(N_SUB, N_KEYS + 1).view(np.uint32)
    positions = section(3, "<u4").reshape(N_SUB - 1, count).view(np.uint32)
    if np.any(offsets[:, 0] != 0) or np.any(offsets[:, -1] != count) or np.any(offsets[:, 1:] < offsets[:, :-1]):
        raise IndexFormatError(f"{path}: bucket offsets are inconsistent with {count} codes")
    return SegmentArrays(codes=codes, ids=ids, id_base=int(id_base), offsets=offsets, positions=positions)
