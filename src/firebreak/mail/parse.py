"""Parsing an authority's order mail into a `ParsedMail`.

The parser is built for hostile and broken input: it reads headers itself from the raw bytes (the stdlib's
modern header parser can raise on crafted values), decodes every charset leniently, bounds the MIME walk in
depth and parts, and turns everything it had to skip into a warning. It raises only `MailParseError`, and only
when there is nothing to read: the raw bytes have been stored before parsing, so such a mail goes to a person.
"""

from __future__ import annotations

import mimetypes
import re
from datetime import UTC, datetime
from email.errors import MessageDefect
from email.message import Message
from email.parser import BytesHeaderParser, BytesParser
from email.policy import compat32
from email.utils import getaddresses, parsedate_to_datetime

from firebreak.mail import extract
from firebreak.mail.attachments import AttachmentReader
from firebreak.mail.schemas import MailLimits, MailParseError, ParsedMail
from firebreak.mail.text import decode_bytes, decode_header_value, html_to_text

MAX_MESSAGE_ID_CHARS = 500
MAX_REFERENCES = 100
_MSG_ID = re.compile(r"<[^<>\s]{1,498}>")
_ADDR_SPEC = re.compile(r"[^\s<>()\[\]\\,;:\"@]{1,64}@[A-Za-z0-9\u0080-\uffff.\-]{1,255}")
_AUTOMATIC_PRECEDENCE = frozenset({"bulk", "junk", "list", "auto_reply"})


def parse_order_mail(raw: bytes, limits: MailLimits | None = None) -> ParsedMail:
    """Read an order mail. Never raises on malformed input except `MailParseError` when nothing is readable."""
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise MailParseError(f"expected the raw message as bytes, got {type(raw).__name__}")
    raw = bytes(raw)
    if not raw.strip():
        raise MailParseError("the message is empty")
    limits = limits or MailLimits()
    warnings: list[str] = []
    if len(raw) > limits.max_message_bytes:
        warnings.append(f"message cut at {limits.max_message_bytes} bytes of {len(raw)}")
        raw = raw[: limits.max_message_bytes]
    try:
        return _Parser(limits, warnings).parse(raw)
    except MailParseError:
        raise
    except Exception as exc:  # an input nobody foresaw must not take down the intake
        raise MailParseError(f"the message could not be parsed ({type(exc).__name__}: {exc})") from exc


def _unescape(value: str) -> str:
    """Undo the surrogate escapes that stand for raw 8-bit header bytes, and unfold."""
    if any("\udc80" <= ch <= "\udcff" for ch in value):
        value = decode_bytes(value.encode("ascii", errors="surrogateescape"), None)[0]
    return re.sub(r"\r?\n[ \t]*", " ", value).strip()


def _addresses(value: str | None) -> list[tuple[str, str]]:
    """(display name, lowercased addr-spec) pairs; unparseable values fall back to anything that looks like one."""
    if not value:
        return []
    value = _unescape(value)
    found: list[tuple[str, str]] = []
    try:
        pairs = getaddresses([value])
    except Exception:  # the regex fallback below handles what getaddresses cannot
        pairs = []
    for name, addr in pairs:
        addr = addr.strip().lower()
        if "@" in addr and " " not in addr:
            found.append((decode_header_value(name), addr))
    if not found:
        found = [("", match.group(0).lower()) for match in _ADDR_SPEC.finditer(decode_header_value(value))]
    return found


def _msg_ids(value: str | None) -> list[str]:
    if not value:
        return []
    value = _unescape(value)
    ids = _MSG_ID.findall(value)
    if not ids and value and " " not in value and len(value) < MAX_MESSAGE_ID_CHARS - 2:
        ids = [f"<{value.strip('<>')}>"]
    return ids


def _date(value: str | None, warnings: list[str]) -> datetime | None:
    if not value:
        return None
    try:
        when = parsedate_to_datetime(_unescape(value))
    except (TypeError, ValueError, IndexError, OverflowError):
        warnings.append(f"Date header {value[:60]!r} could not be read")
        return None
    if when.tzinfo is None:  # "-0000": the time is UTC, the sender's zone unknown (RFC 5322 3.3)
        when = when.replace(tzinfo=UTC)
    return when


def _content_type(part: Message) -> str:
    try:
        return part.get_content_type().lower()
    except Exception:
        return "application/octet-stream"


def _charset(part: Message) -> str | None:
    try:
        charset = part.get_content_charset()
    except Exception:
        return None
    return charset if isinstance(charset, str) else None


def _disposition(part: Message) -> str | None:
    try:
        value = part.get("Content-Disposition")
    except Exception:
        return None
    if not value:
        return None
    return str(value).split(";", 1)[0].strip().lower() or None


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename() or part.get_param("name")
    except Exception:
        return None
    if isinstance(name, tuple):  # an undecodable RFC 2231 value
        name = name[2]
    if not isinstance(name, str):
        return None
    name = decode_header_value(_unescape(name))
    name = re.sub(r"[\x00-\x1f\x7f]", "", name).replace("\\", "/").rsplit("/", 1)[-1].strip()
    return name[:255] or None


class _Parser:
    def __init__(self, limits: MailLimits, warnings: list[str]) -> None:
        self.limits = limits
        self.warnings = warnings
        self.plain: list[str] = []
        self.html: list[tuple[str, str]] = []  # (text, link stream)
        self.files: list[tuple[str, str, bytes, bool]] = []
        self.parts = 0
        self.defects: set[str] = set()
        self._depth_warned = False
        self.html_budget = limits.max_html_chars

    def parse(self, raw: bytes) -> ParsedMail:
        message = self._message(raw)
        headers: dict[str, list[str]] = {}
        for name, value in message.raw_items():
            headers.setdefault(name.lower(), []).append(value)

        def first(name: str) -> str | None:
            values = headers.get(name)
            return values[0] if values else None

        if len(headers.get("from", [])) > 1:
            self.warnings.append("several From headers; the first is used")
        sender = _addresses(first("from"))
        if not sender:
            self.warnings.append("no readable From address")
        reply_to = _addresses(first("reply-to"))
        subject = decode_header_value(_unescape(first("subject") or ""))
        message_ids = _msg_ids(first("message-id"))
        in_reply_to = _msg_ids(first("in-reply-to"))
        references = list(dict.fromkeys(ref for value in headers.get("references", []) for ref in _msg_ids(value)))

        self._walk(message, 0)
        self._note_defects(message)
        limits = self.limits
        links = extract.LinkCollector(limits.max_links, limits.max_url_chars)
        hashes = extract.HashCollector(limits.max_hashes)
        for text in self.plain:
            links.add_text(text[: limits.max_text_chars])
        for _, stream in self.html:
            links.add_text(stream[: limits.max_text_chars])
        plain = "\n\n".join(t.strip("\n") for t in self.plain if t.strip())
        text = plain if plain else "\n\n".join(t for t, _ in self.html if t)
        if len(text) > limits.max_text_chars:
            self.warnings.append(f"body text cut at {limits.max_text_chars} characters of {len(text)}")
            text = text[: limits.max_text_chars]
        hashes.add_text(text)
        if plain:
            for html_text, _ in self.html:
                hashes.add_text(html_text[: limits.max_text_chars])

        reader = AttachmentReader(limits, links, hashes, html_budget=self.html_budget)
        for name, content_type, data, inline in self.files:
            reader.add(name, content_type, data, inline=inline)
        self.warnings.extend(reader.finish())
        self.warnings.extend(links.warnings())
        self.warnings.extend(hashes.warnings())

        # Orders state their basis, category and reference up front; scanning megabytes for them costs seconds.
        head = text[: limits.max_scan_chars]
        about = f"{subject}\n{head}"
        legal_basis, instruments = extract.legal_basis(about)
        thread_headers = " ".join([*in_reply_to, *references])
        return ParsedMail(
            from_address=sender[0][1] if sender else None,
            from_name=(sender[0][0] or None) if sender else None,
            reply_to=reply_to[0][1] if reply_to else None,
            to=[addr for _, addr in _addresses(", ".join(headers.get("to", [])))],
            cc=[addr for _, addr in _addresses(", ".join(headers.get("cc", [])))],
            subject=subject,
            message_id=message_ids[0] if message_ids else None,
            in_reply_to=in_reply_to[0] if in_reply_to else None,
            references=references[-MAX_REFERENCES:],
            date=_date(first("date"), self.warnings),
            text=text,
            links=links.links,
            hashes=hashes.hashes,
            attachments=reader.attachments,
            legal_basis=legal_basis,
            legal_instruments=instruments,
            category=extract.category(about),
            requested_action=extract.requested_action(about),
            authority_reference=extract.authority_reference(subject, head),
            tracking_id=extract.tracking_id(subject, thread_headers, head),
            is_automatic=self._is_automatic(headers, message, sender[0][1] if sender else ""),
            warnings=self.warnings,
        )

    def _message(self, raw: bytes) -> Message:
        try:
            return BytesParser(policy=compat32).parsebytes(raw)
        except RecursionError:
            self.warnings.append("MIME structure nested too deeply to parse; the body is read as plain text")
        except Exception as exc:
            self.warnings.append(f"MIME structure could not be parsed ({type(exc).__name__}); body read as text")
        return BytesHeaderParser(policy=compat32).parsebytes(raw)

    def _walk(self, part: Message, depth: int) -> None:
        self.parts += 1
        if self.parts > self.limits.max_mime_parts:
            if self.parts == self.limits.max_mime_parts + 1:
                self.warnings.append(f"only the first {self.limits.max_mime_parts} MIME parts are read")
            return
        if depth > self.limits.max_mime_depth:
            if not self._depth_warned:
                self.warnings.append(f"MIME parts nested deeper than {self.limits.max_mime_depth} levels skipped")
                self._depth_warned = True
            return
        self._note_defects(part)
        content_type = _content_type(part)
        payload = part.get_payload()
        if isinstance(payload, list):
            for sub in payload:
                if isinstance(sub, Message):
                    self._walk(sub, depth + 1)
            return
        data = self._payload_bytes(part)
        if data is None:
            return
        filename = _filename(part)
        disposition = _disposition(part)
        if content_type.startswith("multipart/") or content_type == "message/rfc822":
            self.warnings.append(f"{content_type} part without a readable structure; read as text")
            content_type = "text/plain"
        if content_type in ("text/plain", "text/html") and disposition != "attachment" and not filename:
            text, warning = decode_bytes(data, _charset(part))
            if warning:
                self.warnings.append(warning)
            if content_type == "text/html":
                if len(text) > self.html_budget:
                    self.warnings.append(f"HTML beyond {self.limits.max_html_chars} characters per mail not read")
                    text = text[: self.html_budget]
                self.html_budget -= len(text)
                if text:
                    self.html.append(html_to_text(text))
            else:
                self.plain.append(text.replace("\r\n", "\n"))
            return
        if filename is None:
            extension = mimetypes.guess_extension(content_type, strict=False) or ".bin"
            filename = f"part-{self.parts}{extension}"
        inline = disposition == "inline" or (disposition is None and part.get("Content-ID") is not None)
        self.files.append((filename, content_type, data, inline))

    def _payload_bytes(self, part: Message) -> bytes | None:
        before = len(part.defects)
        try:
            data = part.get_payload(decode=True)
        except Exception as exc:
            self.warnings.append(f"a MIME part could not be decoded ({type(exc).__name__}); skipped")
            return None
        if any("Base64" in type(d).__name__ for d in part.defects[before:]):
            self.warnings.append("damaged base64 in a MIME part; decoded what could be read")
        if isinstance(data, bytes):
            return data
        raw_payload = part.get_payload()
        if isinstance(raw_payload, str):
            return raw_payload.encode("utf-8", errors="surrogateescape")
        return None

    def _note_defects(self, part: Message) -> None:
        fresh = {type(d).__name__ for d in part.defects if isinstance(d, MessageDefect)} - self.defects
        ignored = {"InvalidBase64PaddingDefect", "InvalidBase64CharactersDefect", "InvalidBase64LengthDefect"}
        for name in sorted(fresh - ignored):
            self.warnings.append(f"malformed MIME: {name}")
        self.defects |= fresh

    @staticmethod
    def _is_automatic(headers: dict[str, list[str]], message: Message, sender: str) -> bool:
        auto = (headers.get("auto-submitted") or ["no"])[0].strip().lower()
        precedence = (headers.get("precedence") or [""])[0].strip().lower()
        return (
            not auto.startswith("no")
            or precedence in _AUTOMATIC_PRECEDENCE
            or any(name in headers for name in ("x-autoreply", "x-autorespond", "list-id"))
            or _content_type(message) == "multipart/report"
            or sender.startswith(("mailer-daemon@", "postmaster@"))
        )
