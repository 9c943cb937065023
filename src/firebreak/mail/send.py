"""Sending mail to authorities: acknowledgements, receipts and questions, threaded onto their order mail.

A reply carries In-Reply-To and References built from the authority's Message-ID, a "Re:" subject with the
tracking ID, and a Message-ID that embeds the tracking ID, so whichever header the authority's client keeps, its
answer threads back onto the order. `Mailer.render` produces the exact bytes and Message-ID before anything is
sent: a job can store them first and resend the same bytes on retry, so the authority never gets two different
copies of one receipt.
"""

from __future__ import annotations

import logging
import re
import secrets
import smtplib
import ssl
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, formataddr
from typing import Protocol

from firebreak.mail.dkim import sign_dkim
from firebreak.mail.schemas import ParsedMail

log = logging.getLogger(__name__)

# CRLF line ends and 7-bit transfer encodings: what every relay passes unchanged, so DKIM signatures survive.
_POLICY = SMTP_POLICY.clone(cte_type="7bit")
_REPLY_PREFIX = re.compile(r"^\s*(?:re|aw|sv|antw|odp|rif|vs|답장|회신|回复|答复|返信)\s*(?:\[\d+\])?\s*[:：]", re.I)
MAX_REFERENCES = 20


class MailSendError(Exception):
    """Sending failed. `retryable` is True for temporary failures (network, 4xx) and False for permanent ones."""

    def __init__(self, message: str, *, retryable: bool, code: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.code = code


@dataclass(frozen=True, slots=True)
class OutgoingAttachment:
    filename: str
    content_type: str  # e.g. application/json for a receipt
    data: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class DkimSigner:
    selector: str
    domain: str
    private_key_pem: bytes = field(repr=False)


def new_message_id(domain: str, tracking_id: str | None = None) -> str:
    """A unique Message-ID that names the order (<FB-2026-7K3Q9X.1f2e...@domain>), short enough not to be folded."""
    prefix = f"{tracking_id}." if tracking_id else ""
    return f"<{prefix}{secrets.token_hex(12)}@{domain}>"


def reply_subject(subject: str, tracking_id: str | None) -> str:
    """'Re: <their subject> [FB-2026-7K3Q9X]', without doubling either part."""
    subject = " ".join(subject.split())
    if not _REPLY_PREFIX.match(subject):
        subject = f"Re: {subject}".rstrip()
    return subject_with_tracking(subject, tracking_id)


def subject_with_tracking(subject: str, tracking_id: str | None) -> str:
    subject = " ".join(subject.split())
    if tracking_id and tracking_id.upper() not in subject.upper():
        subject = f"{subject} [{tracking_id}]".lstrip()
    return subject


def thread_references(references: Iterable[str], parent_message_id: str | None) -> list[str]:
    """References for a reply: the parent's References plus its Message-ID, trimmed as RFC 5322 3.6.4 allows
    (the first, which names the thread's start, and the most recent)."""
    refs = list(dict.fromkeys(r for r in references if r))
    if parent_message_id and parent_message_id not in refs:
        refs.append(parent_message_id)
    if len(refs) > MAX_REFERENCES:
        refs = [refs[0], *refs[-(MAX_REFERENCES - 1) :]]
    return refs


@dataclass(frozen=True, slots=True)
class OutgoingMail:
    to: Sequence[str]
    subject: str
    text: str
    html: str | None = None
    cc: Sequence[str] = ()
    in_reply_to: str | None = None
    references: Sequence[str] = ()
    tracking_id: str | None = None
    attachments: Sequence[OutgoingAttachment] = ()
    automatic: bool = False  # sent without a person (acknowledgement, receipt): marked Auto-Submitted (RFC 3834)
    reply_to: str | None = None

    @classmethod
    def reply(
        cls,
        *,
        to: Sequence[str],
        subject: str,
        in_reply_to: str | None,
        references: Iterable[str] = (),
        text: str,
        tracking_id: str | None = None,
        html: str | None = None,
        attachments: Sequence[OutgoingAttachment] = (),
        automatic: bool = False,
    ) -> OutgoingMail:
        """A reply in the thread of a stored message (its Message-ID and References from the order's thread)."""
        return cls(
            to=tuple(to),
            subject=reply_subject(subject, tracking_id),
            text=text,
            html=html,
            in_reply_to=in_reply_to,
            references=tuple(thread_references(references, in_reply_to)),
            tracking_id=tracking_id,
            attachments=tuple(attachments),
            automatic=automatic,
        )

    @classmethod
    def reply_to_parsed(
        cls,
        parsed: ParsedMail,
        *,
        text: str,
        tracking_id: str | None = None,
        html: str | None = None,
        attachments: Sequence[OutgoingAttachment] = (),
        automatic: bool = False,
    ) -> OutgoingMail:
        """A reply to the sender of `parsed` (its From address, never the unauthenticated Reply-To)."""
        if not parsed.from_address:
            raise ValueError("the mail has no From address to reply to")
        return cls.reply(
            to=[parsed.from_address],
            subject=parsed.subject,
            in_reply_to=parsed.message_id,
            references=parsed.references,
            text=text,
            tracking_id=tracking_id,
            html=html,
            attachments=attachments,
            automatic=automatic,
        )


@dataclass(frozen=True, slots=True)
class RenderedMail:
    """The exact bytes to send, with their Message-ID and envelope."""

    message_id: str
    envelope_from: str
    recipients: tuple[str, ...]
    raw: bytes = field(repr=False)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class MailTransport(Protocol):
    """Sends one mail and returns its Message-ID; raises MailSendError. :class:`Mailer` speaks SMTP."""

    def send(self, mail: OutgoingMail) -> str: ...


class Mailer:
    def __init__(
        self,
        host: str,
        port: int,
        from_address: str,
        starttls: bool = False,
        dkim: DkimSigner | None = None,
        *,
        from_name: str | None = None,
        message_id_domain: str | None = None,
        helo_name: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        if "@" not in from_address:
            raise ValueError(f"from_address {from_address!r} is not an address")
        self.host = host
        self.port = port
        self.from_address = from_address
        self.from_name = from_name
        self.starttls = starttls
        self.dkim = dkim
        self.domain = message_id_domain or from_address.rpartition("@")[2]
        self.helo_name = helo_name or self.domain
        self.ssl_context = ssl_context
        self.username = username
        self.password = password
        self.timeout = timeout
        self.clock = clock

    def send(self, mail: OutgoingMail) -> str:
        """Render and send `mail`; returns its Message-ID. Raises `MailSendError`."""
        return self.send_rendered(self.render(mail))

    def render(self, mail: OutgoingMail) -> RenderedMail:
        try:
            message = self._build(mail)
            raw = message.as_bytes(policy=_POLICY)
            if self.dkim is not None:
                raw = sign_dkim(raw, self.dkim.selector, self.dkim.domain, self.dkim.private_key_pem)
        except (ValueError, TypeError, UnicodeError) as exc:
            raise MailSendError(f"the message could not be built: {exc}", retryable=False) from exc
        except Exception as exc:  # dkimpy's own errors: a signing key or configuration problem
            raise MailSendError(f"the message could not be signed: {exc}", retryable=False) from exc
        recipients = tuple(dict.fromkeys([*mail.to, *mail.cc]))
        return RenderedMail(str(message["Message-ID"]), self.from_address, recipients, raw)

    def _build(self, mail: OutgoingMail) -> EmailMessage:
        if not mail.to:
            raise ValueError("no recipients")
        now = self.clock()
        if now.tzinfo is None:
            raise ValueError("the clock returned a naive datetime")
        message = EmailMessage(policy=_POLICY)
        message["From"] = formataddr((self.from_name, self.from_address)) if self.from_name else self.from_address
        message["To"] = ", ".join(mail.to)
        if mail.cc:
            message["Cc"] = ", ".join(mail.cc)
        if mail.reply_to:
            message["Reply-To"] = mail.reply_to
        message["Subject"] = subject_with_tracking(mail.subject, mail.tracking_id)
        message["Date"] = format_datetime(now.astimezone(UTC))
        message["Message-ID"] = new_message_id(self.domain, mail.tracking_id)
        if mail.in_reply_to:
            message["In-Reply-To"] = mail.in_reply_to
        references = thread_references(mail.references, mail.in_reply_to)
        if references:
            message["References"] = " ".join(references)
        if mail.automatic:
            message["Auto-Submitted"] = "auto-replied" if mail.in_reply_to else "auto-generated"
        if mail.tracking_id:
            message["X-Firebreak-Tracking-ID"] = mail.tracking_id
        message.set_content(mail.text)
        if mail.html is not None:
            message.add_alternative(mail.html, subtype="html")
        for attachment in mail.attachments:
            maintype, _, subtype = attachment.content_type.partition("/")
            message.add_attachment(
                attachment.data,
                maintype=maintype or "application",
                subtype=subtype or "octet-stream",
                filename=attachment.filename,
            )
        return message

    def send_rendered(self, rendered: RenderedMail) -> str:
        """Send bytes from `render` (again, after a failure: the Message-ID stays the same)."""
        try:
            with smtplib.SMTP(self.host, self.port, local_hostname=self.helo_name, timeout=self.timeout) as smtp:
                smtp.ehlo()
                if self.starttls:
                    smtp.starttls(context=self.ssl_context or ssl.create_default_context())
                    smtp.ehlo()
                if self.username is not None:
                    smtp.login(self.username, self.password or "")
                refused = smtp.sendmail(rendered.envelope_from, list(rendered.recipients), rendered.raw)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            retryable = any(400 <= code < 500 for code in codes)
            raise MailSendError(f"all recipients refused: {exc.recipients}", retryable=retryable) from exc
        except smtplib.SMTPResponseException as exc:
            message = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
            raise MailSendError(
                f"the mail server answered {exc.smtp_code} {message}",
                retryable=400 <= exc.smtp_code < 500,
                code=exc.smtp_code,
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise MailSendError(f"the mail server does not support this: {exc}", retryable=False) from exc
        except ssl.SSLCertVerificationError as exc:
            raise MailSendError(f"the mail server's certificate is not trusted: {exc}", retryable=False) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise MailSendError(f"could not deliver to {self.host}:{self.port}: {exc}", retryable=True) from exc
        if refused:
            log.warning("mail %s not accepted for %s", rendered.message_id, ", ".join(sorted(refused)))
        return rendered.message_id
