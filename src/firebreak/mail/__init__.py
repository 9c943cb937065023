"""The authority hotline's mail layer: receiving over SMTP, DKIM, parsing order mail, and threaded replies.

No database access here: the orders service calls these functions and owns storage and transactions.
See docs/mail.md.
"""

from __future__ import annotations

from firebreak.mail.dkim import DkimResult, DkimSignatureResult, domains_align, sender_matches, sign_dkim, verify_dkim
from firebreak.mail.parse import parse_order_mail
from firebreak.mail.schemas import Attachment, Category, ExtractedHash, MailLimits, MailParseError, ParsedMail
from firebreak.mail.send import (
    DkimSigner,
    Mailer,
    MailSendError,
    OutgoingAttachment,
    OutgoingMail,
    RenderedMail,
    reply_subject,
    thread_references,
)
from firebreak.mail.smtp import InboundMail, ListenerConfig, SmtpListener

__all__ = [
    "Attachment",
    "Category",
    "DkimResult",
    "DkimSignatureResult",
    "DkimSigner",
    "ExtractedHash",
    "InboundMail",
    "ListenerConfig",
    "MailLimits",
    "MailParseError",
    "MailSendError",
    "Mailer",
    "OutgoingAttachment",
    "OutgoingMail",
    "ParsedMail",
    "RenderedMail",
    "SmtpListener",
    "domains_align",
    "parse_order_mail",
    "reply_subject",
    "sender_matches",
    "sign_dkim",
    "thread_references",
    "verify_dkim",
]
