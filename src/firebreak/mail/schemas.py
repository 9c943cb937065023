"""The values the mail layer hands to the orders service.

Plain frozen dataclasses rather than pydantic models: they are built by the parser from bytes it has already
checked, carry raw attachment bytes, and are never validated from untrusted JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

Category = Literal["ncii", "sexual_deepfake", "csam", "terrorist_content", "hate_speech", "other"]
HashKind = Literal["sha256", "md5", "pdq", "sha256_or_pdq"]

MB = 1024 * 1024


class MailParseError(Exception):
    """The input cannot be read as a mail at all (for example, it is empty)."""


@dataclass(frozen=True, slots=True)
class MailLimits:
    """Bounds on the work and memory one mail may cost. The defaults suit the hotline."""

    max_message_bytes: int = 50 * MB  # a longer input is cut here (the listener refuses it before)
    max_text_chars: int = 2_000_000  # body text kept in ParsedMail.text
    max_html_chars: int = 2_000_000  # HTML read per mail, body and attachments together
    max_scan_chars: int = 200_000  # subject and text searched for legal basis, category, reference and tracking ID
    max_links: int = 2000
    max_url_chars: int = 2048
    max_hashes: int = 2000
    max_mime_parts: int = 500
    max_mime_depth: int = 20
    max_attachments: int = 500  # attachments kept, including zip members
    max_attachment_bytes: int = 50 * MB  # one decoded attachment or zip member
    zip_max_entries: int = 1000
    zip_max_total_bytes: int = 200 * MB  # uncompressed, over every zip in the mail
    zip_max_ratio: float = 100.0  # uncompressed / compressed, per member
    zip_ratio_min_bytes: int = 1 * MB  # small members may compress well without being a bomb
    csv_max_bytes: int = 10 * MB  # CSV and text attachments read per mail, together
    csv_max_rows: int = 50_000


@dataclass(frozen=True, slots=True)
class ExtractedHash:
    """A hex digest named in the mail. `sha256_or_pdq` when 64 hex digits came without a label."""

    kind: HashKind
    value: str  # lowercase hex


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file from the mail or from a zip in it.

    `skipped_reason` is None for images and videos (the media the order is about); any other file keeps its bytes
    as evidence and says why it is not treated as media.
    """

    filename: str
    content_type: str
    data: bytes = field(repr=False)
    skipped_reason: str | None = None
    source: str | None = None  # the archive it was expanded from
    inline: bool = False  # shown in the body (a signature logo, or a pasted screenshot)

    @property
    def is_media(self) -> bool:
        return self.skipped_reason is None

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True, slots=True)
class ParsedMail:
    """What an order mail says, as far as a machine can tell. `warnings` lists everything that was skipped."""

    from_address: str | None  # lowercased addr-spec
    from_name: str | None
    reply_to: str | None
    to: list[str]
    cc: list[str]
    subject: str
    message_id: str | None  # with angle brackets, as in the header
    in_reply_to: str | None
    references: list[str]
    date: datetime | None  # aware
    text: str
    links: list[str]
    hashes: list[ExtractedHash]
    attachments: list[Attachment]
    legal_basis: str | None
    legal_instruments: list[str]
    category: Category
    authority_reference: str | None
    tracking_id: str | None
    is_automatic: bool  # an auto-reply, bounce or list mail: never answer it automatically
    warnings: list[str]

    requested_action: str = "remove"  # "preserve" for a preservation request (nothing removed)
    @property
    def media(self) -> list[Attachment]:
        return [a for a in self.attachments if a.is_media]
