"""The mail components of a Firebreak: how outgoing mail leaves (SMTP or the development outbox, DKIM-signed when
a key is configured). Where authorities' DKIM keys come from (pinned keys, DNS) is decided in ``orders.intake``."""

from __future__ import annotations

import logging

from firebreak.core.config import ConfigError, Settings
from firebreak.mail.dkim import sign_dkim
from firebreak.mail.outbox import FileOutbox
from firebreak.mail.send import DkimSigner, Mailer, MailTransport

log = logging.getLogger(__name__)


def dkim_signer(settings: Settings) -> DkimSigner | None:
    """The platform's signing key, read once at start; a wrong file stops start-up naming the setting."""
    if settings.dkim_private_key_file is None:
        return None
    path = settings.dkim_private_key_file
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"FIREBREAK_DKIM_PRIVATE_KEY_FILE: cannot read {path}: {exc.strerror}") from None
    signer = DkimSigner(settings.dkim_selector, settings.dkim_signing_domain, pem)
    try:  # fail now, not on the first receipt
        sign_dkim(b"From: a@b.example\r\nSubject: t\r\n\r\nt\r\n", signer.selector, signer.domain, pem)
    except Exception as exc:
        raise ConfigError(f"FIREBREAK_DKIM_PRIVATE_KEY_FILE: {path} is not a usable RSA or Ed25519 private key "
                          f"({exc})") from None
    return signer


def smtp_mailer(settings: Settings) -> Mailer:
    return Mailer(settings.outgoing_smtp_host, settings.outgoing_smtp_port, settings.hotline_address,
                  starttls=settings.outgoing_smtp_starttls, dkim=dkim_signer(settings),
                  from_name=f"{settings.platform_name} takedown desk")


def mail_transport(settings: Settings) -> MailTransport:
    """SMTP when an outgoing host is configured; else the development outbox in the data directory."""
    mailer = smtp_mailer(settings)
    if settings.outgoing_smtp_host:
        return mailer
    return FileOutbox(settings.outbox_dir, mailer)


__all__ = ["dkim_signer", "mail_transport", "smtp_mailer"]
