"""A host's snapshot of the indexes: files every process on the host memory-maps, so N processes share one copy.

The folder (``<local_dir>/index``) holds ``bank.fbh``, ``media.fbh`` and ``media_upscaled.fbh`` (the Hamming index
format of ``_hamming_format``: versioned, checksummed, with the change-log position each copy reflects), ``exact.npy``
(the exact-hash filter: sorted uint64 keys, numpy's documented array format, read without pickle) and
``writer.lock``. One process on the host at a time holds the lock (``flock``) and writes new snapshots; each file
is written to a temporary name and renamed over the old one, so readers see the old file or the new one, never
half of one. Files are written exact first, then the indexes, and read the indexes, then exact: a reader that gets
a bank file of position P also gets an exact filter at least as new. A reader catches up from the lowest position of
the files it read.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from firebreak.matching.index import HammingIndex, IndexFormatError, read_info

BANK_FILE = "bank.fbh"
MEDIA_FILE = "media.fbh"
EXACT_FILE = "exact.npy"
LOCK_FILE = "writer.lock"
INDEX_FILES = {"bank": BANK_FILE, "media": MEDIA_FILE, "media_upscaled": "media_upscaled.fbh"}

Identity = tuple[int, ...]  # (inode, mtime in ns) of each index file


@dataclass(frozen=True)
class Snapshot:
    """The indexes as loaded from the files, and the change-log position from which to catch up."""

    bank: HammingIndex
    media: HammingIndex
    media_upscaled: HammingIndex
    exact: npt.NDArray[np.uint64]
    position: int
    written_at: int
    identity: Identity


class SnapshotStore:
    def __init__(self, folder: Path, *, verify: bool = True, merge_threshold: int = 65_536) -> None:
        self.folder = folder
        self.verify = verify
        self.merge_threshold = merge_threshold
        self._lock_fd: int | None = None

    def _path(self, name: str) -> Path:
        return self.folder / name

    def identity(self) -> Identity | None:
        """Which files are there now (changes whenever a writer replaces them); None if there are none."""
        found: list[int] = []
        try:
            for name in INDEX_FILES.values():
                stat = self._path(name).stat()
                found += [stat.st_ino, stat.st_mtime_ns]
        except FileNotFoundError:
            return None
        return tuple(found)

    def position(self) -> int | None:
        """The change-log position of the files there now, from their headers alone."""
        try:
            return min(read_info(self._path(name)).log_seq for name in INDEX_FILES.values())
        except (FileNotFoundError, IndexFormatError):
            return None

    def load(self) -> Snapshot | None:
        """Map the files (None if there are none). Raises IndexFormatError for a damaged or foreign file."""
        identity = self.identity()
        if identity is None:
            return None
        options = {"mmap": True, "verify": self.verify, "merge_threshold": self.merge_threshold}
        try:
            loaded = {key: HammingIndex.load(self._path(name), **options)  # type: ignore[arg-type]
                      for key, name in INDEX_FILES.items()}
            exact = np.load(self._path(EXACT_FILE), allow_pickle=False)
        except FileNotFoundError:
            return None
        except ValueError as exc:  # numpy's refusal of a damaged or pickled array
            raise IndexFormatError(f"{self._path(EXACT_FILE)}: {exc}") from None
        if exact.dtype != np.uint64 or exact.ndim != 1:
            raise IndexFormatError(f"{self._path(EXACT_FILE)}: expected a 1-D uint64 array, got {exact.dtype}")
        infos = [index.file_info for index in loaded.values() if index.file_info is not None]
        position = min(info.log_seq for info in infos)
        written = min(info.written_at for info in infos)
        return Snapshot(loaded["bank"], loaded["media"], loaded["media_upscaled"], exact.astype(np.uint64), position,
                        written, identity)

    def try_lock(self) -> bool:
        """Become this host's snapshot writer, if no other process is (held until this process exits)."""
        if self._lock_fd is not None:
            return True
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path(LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._lock_fd = fd
        return True

    @property
    def is_writer(self) -> bool:
        return self._lock_fd is not None

    def release(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = None

    def write(self, *, indexes: dict[str, HammingIndex], exact: npt.NDArray[np.uint64], position: int) -> None:
        """Write the files (the caller holds the writer lock): ``indexes`` by name (bank, media, media_upscaled),
        frozen views of the process's indexes."""
        if not self.is_writer:
            raise RuntimeError("only the host's snapshot writer writes snapshots (try_lock first)")
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self._path(EXACT_FILE)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as f:
                np.save(f, np.ascontiguousarray(exact, dtype=np.uint64), allow_pickle=False)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        for key, name in INDEX_FILES.items():
            indexes[key].save(self._path(name), log_seq=position)


__all__ = ["Snapshot", "SnapshotStore"]
