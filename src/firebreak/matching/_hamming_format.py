"""On-disk format of the Hamming range index: one compacted segment, versioned, checksummed, no pickle.

Layout (all integers little-endian; the spec is repeated in docs/matching.md):

    header, 128 bytes
      0  magic         8s   b"FBHAMIDX"
      8  version       u32  2 (1: the same, with m = 16, b = 16 and bytes 88..123 zero)
     12  header_size   u32  128
     16  code_bytes    u32  32
     20  n_sub         u16  m substrings ...
     22  sub_bits      u16  ... of b bits (m * b <= 256)
     24  id_kind       u32  1 = int64 ids, 2 = uint32 offsets from id_base
     28  flags         u32  0
     32  count         u64  rows
     40  id_base       i64
     48  payload_size  u64  bytes after the header (file size - 128)
     56  sha256       32s   of the payload
     88  log_seq       i64  the writer's position in its change log that this copy reflects (0: none)
     96  written_at    i64  when it was written, Unix seconds
    104  reserved     20s   zero
    124  header_crc32  u32  of bytes 0..123
    payload: four sections, each starting at a multiple of 64 bytes from the start of the file
      codes      count x 32 bytes, rows sorted by substring 0 (bits 0..b-1 of the code)
      ids        count x int64, or count x uint32 (id - id_base)
      offsets    m x (2^b + 1) x uint32, CSR bucket offsets of each substring table
      positions  (m - 1) x count x uint32, rows of substrings 1..m-1 sorted by substring value

A reader refuses any other magic or version, a header whose CRC fails, a file whose size disagrees with the
header, and (unless told to trust the file) a payload whose SHA-256 differs.
"""

from __future__ import annotations

import hashlib
import os
import struct
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

MAGIC = b"FBHAMIDX"
VERSION = 2
READABLE = (1, 2)
HEADER = struct.Struct("<8sIIIHHIIQqQ32sqq20sI")
HEADER_SIZE = HEADER.size  # 128
ALIGN = 64
MIN_BITS, MAX_BITS = 8, 26
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
    offsets: npt.NDArray[np.uint32]  # (m, 2^b + 1)
    positions: npt.NDArray[np.uint32]  # (m - 1, count)
    bits: int
    log_seq: int = 0
    written_at: int = 0


@dataclass(frozen=True, slots=True)
class FileInfo:
    """What a file's header says, read without loading it."""

    version: int
    count: int
    n_sub: int
    bits: int
    log_seq: int
    written_at: int
    size: int


def _aligned(offset: int) -> int:
    return (offset + ALIGN - 1) // ALIGN * ALIGN


def _section_layout(count: int, id_kind: int, n_sub: int, bits: int) -> list[tuple[int, int]]:
    """(start, length) in bytes of each section, in file order."""
    sizes = [count * 32, count * (8 if id_kind == ID_INT64 else 4), n_sub * ((1 << bits) + 1) * 4,
             (n_sub - 1) * count * 4]
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
    n_sub = seg.offsets.shape[0]
    id_kind = ID_INT64 if seg.ids.dtype == np.int64 else ID_UINT32
    arrays = [seg.codes, seg.ids, seg.offsets, seg.positions]
    layout = _section_layout(count, id_kind, n_sub, seg.bits)
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
            fields = (MAGIC, VERSION, HEADER_SIZE, 32, n_sub, seg.bits, id_kind, 0, count, seg.id_base,
                      at - HEADER_SIZE)
            written_at = seg.written_at or int(time.time())
            head = HEADER.pack(*fields, digest.digest(), seg.log_seq, written_at, bytes(20), 0)
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


@dataclass(frozen=True, slots=True)
class _Header:
    info: FileInfo
    id_kind: int
    id_base: int
    sha: bytes
    layout: list[tuple[int, int]]


def _read_header(path: Path, f: BinaryIO) -> _Header:
    size = os.fstat(f.fileno()).st_size
    if size < HEADER_SIZE:
        raise IndexFormatError(f"{path}: truncated: {size} bytes, shorter than the {HEADER_SIZE}-byte header")
    head = f.read(HEADER_SIZE)
    (magic, version, header_size, code_bytes, n_sub, sub_bits, id_kind, _flags, count, id_base, payload_size,
     sha, log_seq, written_at, _reserved, crc) = HEADER.unpack(head)  # fmt: skip
    if magic != MAGIC:
        raise IndexFormatError(f"{path}: not a Firebreak Hamming index (bad magic {magic!r}, expected {MAGIC!r})")
    if version not in READABLE:
        raise IndexFormatError(f"{path}: unsupported format version {version}; this build reads versions "
                               f"{', '.join(map(str, READABLE))}")
    if zlib.crc32(head[:-4]) != crc:
        raise IndexFormatError(f"{path}: header checksum mismatch (the header is damaged)")
    fits = MIN_BITS <= sub_bits <= MAX_BITS and 1 <= n_sub and n_sub * sub_bits <= 256
    if version == 1:
        fits = (n_sub, sub_bits) == (16, 16)
    if (header_size, code_bytes) != (HEADER_SIZE, 32) or not fits or id_kind not in (ID_INT64, ID_UINT32):
        raise IndexFormatError(f"{path}: unsupported layout in header ({n_sub} substrings of {sub_bits} bits)")
    layout = _section_layout(count, id_kind, n_sub, sub_bits)
    end = layout[-1][0] + layout[-1][1]
    if payload_size != end - HEADER_SIZE or size != end:
        raise IndexFormatError(
            f"{path}: truncated or padded: file has {size} bytes, header describes {end} ({count} codes)"
        )
    info = FileInfo(version, count, n_sub, sub_bits, log_seq if version > 1 else 0,
                    written_at if version > 1 else 0, size)
    return _Header(info, id_kind, id_base, sha, layout)


def read_info(path: Path) -> FileInfo:
    """The header of a saved index, checked (magic, version, CRC, size), without reading the payload."""
    with open(path, "rb") as f:
        return _read_header(path, f).info


def read_segment(path: Path, *, mmap: bool, verify: bool) -> tuple[SegmentArrays, FileInfo]:
    # One open file throughout: a writer renaming a new file over ``path`` meanwhile does not mix two files.
    with open(path, "rb") as f:
        header = _read_header(path, f)
        info, layout, size = header.info, header.layout, header.info.size
        raw: npt.NDArray[np.uint8]
        if mmap:
            # Copy-on-write mapping: pages are shared with the page cache (and other processes) and never written.
            raw = np.asarray(np.memmap(f, dtype=np.uint8, mode="c", shape=(size,)))
        else:
            f.seek(0)
            raw = np.fromfile(f, dtype=np.uint8)
    count, id_kind, n_sub, bits = info.count, header.id_kind, info.n_sub, info.bits
    if raw.shape[0] != size:
        raise IndexFormatError(f"{path}: file changed while reading")
    if verify and hashlib.sha256(raw[HEADER_SIZE:].data).digest() != header.sha:
        raise IndexFormatError(f"{path}: payload checksum mismatch (the file is damaged)")

    def section(i: int, dtype: str) -> npt.NDArray[np.generic]:
        start, length = layout[i]
        return raw[start : start + length].view(dtype)

    codes = section(0, "<u8").reshape(count, 4).view(np.uint64)
    ids = section(1, "<i8").view(np.int64) if id_kind == ID_INT64 else section(1, "<u4").view(np.uint32)
    offsets = section(2, "<u4").reshape(n_sub, (1 << bits) + 1).view(np.uint32)
    positions = section(3, "<u4").reshape(n_sub - 1, count).view(np.uint32)
    if np.any(offsets[:, 0] != 0) or np.any(offsets[:, -1] != count) or np.any(offsets[:, 1:] < offsets[:, :-1]):
        raise IndexFormatError(f"{path}: bucket offsets are inconsistent with {count} codes")
    arrays = SegmentArrays(codes=codes, ids=ids, id_base=int(header.id_base), offsets=offsets, positions=positions,
                           bits=bits, log_seq=info.log_seq, written_at=info.written_at)
    return arrays, info
