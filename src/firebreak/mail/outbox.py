"""The development outbox: outgoing mail kept on disk instead of sent, for a Firebreak without a mail server.

With no outgoing SMTP host configured (the default of ``make run``), acknowledgements, receipts and thread mails are
rendered exactly as they would be sent (threading headers, DKIM signature when a key is configured) and written as
``.eml`` files to a folder; the console shows them at ``/console/outbox``. Nothing is retried against a mail server
that is not there. Not for production: the files are plain text on disk.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from firebreak.mail.send import Mailer, MailSendError, OutgoingMail

MAX_LISTED = 200


@dataclass(frozen=True)
class OutboxMail:
    """One kept mail, as the console lists it."""

    name: str
    saved_at: datetime
    message: EmailMessage
    raw: bytes

    @property
    def subject(self) -> str:
        return str(self.message.get("Subject", ""))

    @property
    def to(self) -> str:
        return str(self.message.get("To", ""))

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        return part.get_content() if isinstance(part, EmailMessage) else ""

    @property
    def attachments(self) -> list[tuple[str, int]]:
        return [(a.get_filename() or "attachment", len(a.get_payload(decode=True) or b""))
                for a in self.message.iter_attachments()]

    @property
    def signed(self) -> bool:
        return "DKIM-Signature" in self.message


class FileOutbox:
    """A :class:`~firebreak.mail.send.MailTransport` that writes each mail to ``directory`` instead of sending it."""

    def __init__(self, directory: Path, renderer: Mailer) -> None:
        self.directory = directory
        self.renderer = renderer

    def send(self, mail: OutgoingMail) -> str:
        rendered = self.renderer.render(mail)
        stamp = self.renderer.clock().astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            final = self.directory / f"{stamp}-{secrets.token_hex(4)}.eml"
            partial = final.with_suffix(".part")
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(rendered.raw)
            partial.replace(final)  # a reader never sees half a mail
        except OSError as exc:
            raise MailSendError(f"could not keep the mail in the outbox {self.directory}: {exc}",
                                retryable=True) from exc
        return rendered.message_id

    def list(self, limit: int = MAX_LISTED) -> list[OutboxMail]:
        """The newest mails first."""
        return read_outbox(self.directory, limit)


def read_outbox(directory: Path, limit: int = MAX_LISTED) -> list[OutboxMail]:
    """The mails kept in an outbox folder, newest first (the console's page; tests)."""
    if not directory.is_dir():
        return []
    found: list[OutboxMail] = []
    for path in sorted(directory.glob("*.eml"), reverse=True)[:limit]:
        try:
            raw = path.read_bytes()
        except OSError:
            continue
        message = BytesParser(policy=policy.default).parsebytes(raw)
        if not isinstance(message, EmailMessage):
            continue
        saved = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        found.append(OutboxMail(path.stem, saved, message, raw))
    return found
