"""Attachments of an order mail: media kept as files, zips expanded with bomb guards, CSV lists read.

A zip from an authority is opened only within `MailLimits`: a bounded number of entries, a bounded total of
uncompressed bytes (counted while decompressing, not trusted from the headers), a bounded compression ratio, no
absolute or `..` paths, no symlinks, no encrypted members, and no zip inside a zip. Anything refused is named
in a warning; the original archive is always kept as evidence.
"""

from __future__ import annotations

import csv
import io
import mimetypes
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from firebreak.mail.extract import HashCollector, LinkCollector, hash_label
from firebreak.mail.schemas import Attachment, MailLimits
from firebreak.mail.text import decode_bytes, html_to_text

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".heic", ".heif", ".avif"}
)
VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi", ".3gp", ".3g2", ".mpeg", ".mpg", ".wmv", ".flv", ".ts", ".ogv"}
)
ARCHIVE_EXTENSIONS = frozenset({".zip", ".7z", ".rar", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".zst"})
_EXTRA_TYPES = {
    ".heic": "image/heic", ".heif": "image/heif", ".avif": "image/avif", ".webp": "image/webp",
    ".webm": "video/webm", ".mkv": "video/x-matroska", ".m4v": "video/x-m4v", ".csv": "text/csv",
}  # fmt: skip
_MAX_BOMB_MEMBERS = 3  # members over the ratio limit before the rest of the archive is left alone
_GENERIC_TYPES = frozenset({"application/octet-stream", "application/x-download", "binary/octet-stream", ""})


def sniff_media_type(data: bytes) -> str | None:
    """The media type named by the file's first bytes, for images and videos only."""
    head = data[:32]
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video/x-msvideo"
    if head[:2] == b"BM" and len(data) > 26:
        return "image/bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "video/webm"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"heic", b"heix", b"mif1", b"msf1", b"hevc", b"heim", b"heis"):
            return "image/heic"
        if brand in (b"avif", b"avis"):
            return "image/avif"
        if brand.startswith(b"qt"):
            return "video/quicktime"
        return "video/mp4"
    return None


def _type_from_name(filename: str) -> str | None:
    suffix = PurePosixPath(filename.lower()).suffix
    return _EXTRA_TYPES.get(suffix) or mimetypes.guess_type(f"x{suffix}", strict=False)[0]


def media_type(filename: str, declared: str, data: bytes) -> str | None:
    """The image/video type of a file, or None when it is not media. The bytes win over the name and label."""
    sniffed = sniff_media_type(data)
    if sniffed:
        return sniffed
    suffix = PurePosixPath(filename.lower()).suffix
    if declared.startswith(("image/", "video/")) or suffix in IMAGE_EXTENSIONS | VIDEO_EXTENSIONS:
        # Unknown magic but labelled as media (a format we do not sniff): let media decoding decide.
        if declared.startswith(("image/", "video/")):
            return declared
        return _type_from_name(filename) or "application/octet-stream"
    return None


def effective_type(filename: str, declared: str) -> str:
    declared = declared.lower()
    if declared in _GENERIC_TYPES:
        return _type_from_name(filename) or "application/octet-stream"
    return declared


def _is_zip(filename: str, content_type: str, data: bytes) -> bool:
    return (
        filename.lower().endswith(".zip")
        or content_type in ("application/zip", "application/x-zip-compressed", "application/x-zip")
    ) and data[:4] in (b"PK\x03\x04", b"PK\x05\x06")


def _is_csv(filename: str, content_type: str) -> bool:
    return filename.lower().endswith(".csv") or content_type in ("text/csv", "application/csv", "text/x-csv")


@dataclass
class AttachmentReader:
    """Turns the raw attachments of one mail into `Attachment`s, feeding links and hashes to the collectors."""

    limits: MailLimits
    links: LinkCollector
    hashes: HashCollector
    attachments: list[Attachment] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    html_budget: int = 0  # characters of HTML the body left unread
    _text_budget: int = -1  # bytes of CSV and text attachments still to read
    _expanded_bytes: int = 0
    _dropped: int = 0
    _bomb_members: int = 0

    def __post_init__(self) -> None:
        self._text_budget = self.limits.csv_max_bytes

    def _take(self, name: str, data: bytes, html: bool) -> bytes | None:
        """The part of `data` the per-mail reading budget allows (the work on hostile markup is bounded)."""
        budget = self.html_budget if html else self._text_budget
        if budget <= 0:
            self.warnings.append(f"{name!r} not read: the mail's budget for reading attachments is spent")
            return None
        if len(data) > budget:
            self.warnings.append(f"{name!r}: only the first {budget} bytes read")
            data = data[:budget]
        if html:
            self.html_budget -= len(data)
        else:
            self._text_budget -= len(data)
        return data

    def add(self, filename: str, declared_type: str, data: bytes, *, inline: bool = False) -> None:
        content_type = effective_type(filename, declared_type)
        if len(data) > self.limits.max_attachment_bytes:
            self.warnings.append(
                f"attachment {filename!r} ({len(data)} bytes) is larger than {self.limits.max_attachment_bytes}"
                " bytes; kept but not read"
            )
            self._keep(Attachment(filename, content_type, data, "too large to read", inline=inline))
            return
        media = media_type(filename, content_type, data)
        if media:
            self._keep(Attachment(filename, media, data, None, inline=inline))
        elif _is_zip(filename, content_type, data):
            count = self._expand_zip(filename, data)
            self._keep(Attachment(filename, "application/zip", data, f"archive: {count} media files taken out"))
        elif _is_csv(filename, content_type):
            self._read_csv(filename, data)
            self._keep(Attachment(filename, "text/csv", data, "list: read for links and hashes"))
        elif content_type in ("text/plain", "text/html"):
            self._read_text(filename, content_type, data)
            self._keep(Attachment(filename, content_type, data, "text: read for links and hashes", inline=inline))
        else:
            self._keep(Attachment(filename, content_type, data, "not an image, video, zip or CSV", inline=inline))

    def finish(self) -> list[str]:
        if self._dropped:
            self.warnings.append(
                f"{self._dropped} further attachments ignored: at most {self.limits.max_attachments} are kept"
            )
        return self.warnings

    def _keep(self, attachment: Attachment) -> None:
        if len(self.attachments) >= self.limits.max_attachments:
            self._dropped += 1
            return
        self.attachments.append(attachment)

    def _read_text(self, name: str, content_type: str, data: bytes) -> None:
        taken = self._take(name, data, content_type == "text/html")
        if taken is None:
            return
        text, _ = decode_bytes(taken, None)
        if content_type == "text/html":
            text, stream = html_to_text(text)
            self.links.add_text(stream)
        else:
            self.links.add_text(text)
        self.hashes.add_text(text)

    # ---- zip -----------------------------------------------------------------------------------------------

    def _expand_zip(self, name: str, data: bytes) -> int:
        limits = self.limits
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
            self.warnings.append(f"zip {name!r} could not be opened ({exc}); kept unexpanded")
            return 0
        with archive:
            infos = [i for i in archive.infolist() if not i.is_dir()]
            if len(infos) > limits.zip_max_entries:
                self.warnings.append(
                    f"zip {name!r} refused: {len(infos)} entries, at most {limits.zip_max_entries} are expanded"
                )
                return 0
            declared = sum(i.file_size for i in infos)
            budget = limits.zip_max_total_bytes - self._expanded_bytes
            if declared > budget:
                self.warnings.append(
                    f"zip {name!r} refused as a possible zip bomb: {declared} bytes uncompressed, more than the"
                    f" {budget} bytes left of the {limits.zip_max_total_bytes}-byte limit"
                )
                return 0
            count = 0
            for info in infos:
                if self._bomb_members >= _MAX_BOMB_MEMBERS:
                    self.warnings.append(
                        f"zip {name!r}: expansion stopped as a possible zip bomb after {self._bomb_members} members"
                        f" with a compression ratio over {limits.zip_max_ratio:.0f}"
                    )
                    break
                count += self._expand_member(name, archive, info)
            self._bomb_members = 0
            return count

    def _expand_member(self, name: str, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> int:
        limits = self.limits
        member = info.filename
        if not info.flag_bits & 0x800:  # names not flagged UTF-8 are cp437 unless they happen to be UTF-8
            try:
                member = member.encode("cp437").decode("utf-8")
            except (UnicodeEncodeError, UnicodeDecodeError):
                pass
        path = PurePosixPath(member.replace("\\", "/"))
        if path.is_absolute() or ".." in path.parts or (path.parts and path.parts[0].endswith(":")):
            self.warnings.append(f"zip {name!r}: member {member!r} skipped (unsafe path)")
            return 0
        basename = path.name
        if "__MACOSX" in path.parts or basename.startswith("._") or basename in (".DS_Store", "Thumbs.db"):
            return 0
        if (info.external_attr >> 16) & 0o170000 == 0o120000:
            self.warnings.append(f"zip {name!r}: member {member!r} skipped (symbolic link)")
            return 0
        if info.flag_bits & 0x1:
            self.warnings.append(f"zip {name!r}: member {member!r} skipped (encrypted)")
            return 0
        if path.suffix.lower() in ARCHIVE_EXTENSIONS:
            self.warnings.append(f"zip {name!r}: nested archive {member!r} not expanded")
            return 0
        ratio = info.file_size / max(1, info.compress_size)
        if info.file_size > limits.zip_ratio_min_bytes and ratio > limits.zip_max_ratio:
            self.warnings.append(
                f"zip {name!r}: member {member!r} skipped (compression ratio {ratio:.0f}; possible zip bomb)"
            )
            self._bomb_members += 1
            return 0
        cap = min(limits.max_attachment_bytes, limits.zip_max_total_bytes - self._expanded_bytes)
        data = self._read_member(name, archive, info, member, cap)
        if data is None:
            return 0
        media = media_type(basename, effective_type(basename, ""), data)
        if media:
            self._keep(Attachment(basename, media, data, None, source=name))
            return 1
        if _is_csv(basename, ""):
            self._read_csv(f"{name}/{member}", data)
            return 0
        if _is_zip(basename, "", data):
            self.warnings.append(f"zip {name!r}: nested archive {member!r} not expanded")
            return 0
        self.warnings.append(f"zip {name!r}: member {member!r} skipped (not an image, video or CSV)")
        return 0

    def _read_member(
        self, name: str, archive: zipfile.ZipFile, info: zipfile.ZipInfo, member: str, cap: int
    ) -> bytes | None:
        out = bytearray()
        try:
            with archive.open(info) as stream:
                while chunk := stream.read(1 << 16):
                    out += chunk
                    if len(out) > cap:
                        self.warnings.append(
                            f"zip {name!r}: member {member!r} skipped (expands beyond {cap} bytes; possible bomb)"
                        )
                        self._expanded_bytes += len(out)
                        return None
        except (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError, OSError, EOFError) as exc:
            self.warnings.append(f"zip {name!r}: member {member!r} could not be read ({exc})")
            return None
        self._expanded_bytes += len(out)
        return bytes(out)

    # ---- csv -----------------------------------------------------------------------------------------------

    def _read_csv(self, name: str, data: bytes) -> None:
        limits = self.limits
        taken = self._take(name, data, html=False)
        if taken is None:
            return
        data = taken
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        # Links and hashes are ASCII, so a mis-guessed charset only garbles the cells that do not matter.
        text = decode_bytes(data, None)[0].replace("\x00", "")
        try:
            dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|")
        except csv.Error:
            dialect = csv.excel
        reader = csv.reader(io.StringIO(text), dialect)
        link_columns: set[int] = set()
        hash_columns: dict[int, str | None] = {}
        try:
            for index, row in enumerate(reader):
                if index >= limits.csv_max_rows:
                    self.warnings.append(f"CSV {name!r}: only the first {limits.csv_max_rows} rows read")
                    break
                if index == 0 and self._csv_header(row, link_columns, hash_columns):
                    continue
                for column, cell in enumerate(row):
                    if column in hash_columns:
                        self.hashes.add_cell(cell, hash_columns[column])
                    else:
                        self.links.add_text(cell)
                        if column not in link_columns:
                            self.hashes.add_cell(cell, hash_label(row[column - 1]) if column else None)
        except csv.Error as exc:
            self.warnings.append(f"CSV {name!r}: stopped reading at a malformed row ({exc})")

    @staticmethod
    def _csv_header(row: list[str], link_columns: set[int], hash_columns: dict[int, str | None]) -> bool:
        for column, cell in enumerate(row):
            label = cell.strip().lower()
            if any(word in label for word in ("link", "url", "uri", "permalink")):
                link_columns.add(column)
            elif "hash" in label or hash_label(label):
                hash_columns[column] = hash_label(label)
        return bool(link_columns or hash_columns)
