"""The hotline listener over real SMTP on loopback."""

from __future__ import annotations

import smtplib
import ssl
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from firebreak.core.clock import FakeClock
from firebreak.core.config import load_settings
from firebreak.mail import parse_order_mail, sender_matches, sign_dkim, verify_dkim
from firebreak.mail.dkim import dkim_txt_record
from firebreak.mail.smtp import InboundMail, ListenerConfig, SmtpListener
from tests.mail.conftest import HOTLINE, StartListener, TlsFiles, private_pem

pytestmark = pytest.mark.timeout(30)

ORDER = (
    "From: Officer Kim <kim@police.example>\r\n"
    "To: takedown@firebreak.invalid\r\n"
    "Subject: Removal order\r\n"
    "Message-ID: <order-1@police.example>\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    "삭제 요청: https://t.me/c/100/1\r\n"
    ".a line that starts with a dot survives dot-stuffing\r\n" + "x" * 5000 + "\r\n"
).encode()


def client(port: int) -> smtplib.SMTP:
    return smtplib.SMTP("127.0.0.1", port, local_hostname="mx.police.example", timeout=10)


def test_accepted_mail_reaches_the_callback_with_its_bytes_intact(start_listener: StartListener) -> None:
    received: list[InboundMail] = []
    clock = FakeClock(datetime(2026, 3, 1, 8, 30, tzinfo=UTC))
    listener = start_listener(received.append, clock=clock.now)

    with client(listener.port) as smtp:
        refused = smtp.sendmail("bounces@police.example", [HOTLINE.upper()], ORDER)

    assert refused == {}
    [mail] = received
    assert mail.raw == ORDER
    assert mail.envelope_from == "bounces@police.example"
    assert mail.envelope_to == (HOTLINE,)
    assert mail.peer == "127.0.0.1"
    assert mail.received_at == datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
    assert mail.helo == "mx.police.example"
    assert mail.tls is False


def test_unknown_recipient_is_refused_with_550(start_listener: StartListener) -> None:
    received: list[InboundMail] = []
    listener = start_listener(received.append)

    with client(listener.port) as smtp:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            smtp.sendmail("a@police.example", ["ceo@firebreak.invalid"], ORDER)
        code, text = refused.value.recipients["ceo@firebreak.invalid"]
        assert code == 550
        assert b"no such mailbox" in text

        # With one good and one unknown recipient the mail is taken for the good one only.
        partial = smtp.sendmail("a@police.example", [HOTLINE, "ceo@firebreak.invalid"], ORDER)

    assert partial["ceo@firebreak.invalid"][0] == 550
    [mail] = received
    assert mail.envelope_to == (HOTLINE,)


def test_oversized_mail_is_refused_with_552_and_not_delivered(start_listener: StartListener) -> None:
    received: list[InboundMail] = []
    listener = start_listener(received.append, max_message_bytes=64 * 1024)
    big = ORDER + b"y" * 100 * 1024 + b"\r\n"

    with client(listener.port) as smtp:
        # A client that declares SIZE is refused at MAIL FROM ...
        with pytest.raises(smtplib.SMTPSenderRefused) as declared:
            smtp.sendmail("a@police.example", [HOTLINE], big)
        assert declared.value.smtp_code == 552
        assert b"at most" in declared.value.smtp_error
        smtp.rset()
        # ... and one that does not is refused after DATA, having sent everything.
        assert smtp.mail("a@police.example")[0] == 250
        assert smtp.rcpt(HOTLINE)[0] == 250
        code, text = smtp.data(big)
        assert code == 552
        assert b"Message too big" in text and b"65536 bytes" in text

    assert received == []


def test_callback_failure_answers_451_and_the_retry_is_stored(start_listener: StartListener) -> None:
    stored: list[bytes] = []
    failures = iter([RuntimeError("database is down")])

    def persist(mail: InboundMail) -> None:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        stored.append(mail.raw)

    listener = start_listener(persist)
    with client(listener.port) as smtp:
        with pytest.raises(smtplib.SMTPDataError) as temporary:
            smtp.sendmail("a@police.example", [HOTLINE], ORDER)
        assert temporary.value.smtp_code == 451
        assert stored == []  # not acknowledged, so the sender still holds it
        smtp.rset()
        smtp.sendmail("a@police.example", [HOTLINE], ORDER)  # the sending server's retry

    assert stored == [ORDER]


def test_starttls_with_a_trusted_self_signed_certificate(start_listener: StartListener, tls_files: TlsFiles) -> None:
    received: list[InboundMail] = []
    listener = start_listener(received.append, tls_cert=tls_files.cert, tls_key=tls_files.key, require_starttls=True)
    context = ssl.create_default_context(cafile=str(tls_files.cert))

    with client(listener.port) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("starttls")
        with pytest.raises(smtplib.SMTPSenderRefused) as plain:
            smtp.sendmail("a@police.example", [HOTLINE], ORDER)
        assert plain.value.smtp_code == 530
    with client(listener.port) as smtp:
        smtp.starttls(context=context)
        smtp.ehlo()
        smtp.sendmail("a@police.example", [HOTLINE], ORDER)

    [mail] = received
    assert mail.tls is True
    assert mail.raw == ORDER


def test_starttls_client_refuses_an_untrusted_certificate(start_listener: StartListener, tls_files: TlsFiles) -> None:
    listener = start_listener(lambda _: None, tls_cert=tls_files.cert, tls_key=tls_files.key)
    with client(listener.port) as smtp, pytest.raises(ssl.SSLCertVerificationError):
        smtp.starttls(context=ssl.create_default_context())


def test_stop_waits_for_a_message_being_stored(start_listener: StartListener) -> None:
    entered, release = threading.Event(), threading.Event()
    stored: list[bytes] = []

    def slow_persist(mail: InboundMail) -> None:
        entered.set()
        release.wait(10)
        stored.append(mail.raw)

    listener = start_listener(slow_persist)
    port = listener.port
    replies: list[tuple[int, bytes]] = []

    def send() -> None:
        smtp = client(port)
        try:
            smtp.ehlo()
            smtp.mail("a@police.example")
            smtp.rcpt(HOTLINE)
            replies.append(smtp.data(ORDER))
        finally:
            smtp.close()  # no QUIT: the listener is shutting down and answers 421

    sender = threading.Thread(target=send)
    sender.start()
    assert entered.wait(10)
    stopper = threading.Thread(target=listener.stop)
    stopper.start()
    time.sleep(0.2)  # stop() is now waiting for the message being stored
    assert stopper.is_alive()
    release.set()
    stopper.join(20)
    sender.join(20)

    assert stored == [ORDER]
    assert replies and replies[0][0] == 250
    assert not listener.running
    with pytest.raises(OSError):
        smtplib.SMTP("127.0.0.1", port, local_hostname="x", timeout=2).close()


def test_listener_restarts_and_reports_port_in_use(start_listener: StartListener) -> None:
    first = start_listener(lambda _: None)
    second = SmtpListener(ListenerConfig(port=first.port, hotline_addresses=frozenset({HOTLINE})), lambda _: None)
    with pytest.raises(OSError):
        second.start()
    assert not second.running
    first.stop()
    first.start()
    with client(first.port) as smtp:
        assert smtp.noop()[0] == 250


def test_config_validation_and_settings(tmp_path: Path, tls_files: TlsFiles) -> None:
    with pytest.raises(ValueError, match="hotline_addresses"):
        ListenerConfig()
    with pytest.raises(ValueError, match="require_starttls"):
        ListenerConfig(hotline_addresses=frozenset({HOTLINE}), require_starttls=True)
    settings = load_settings(
        environ={}, data_dir=tmp_path, smtp_tls_cert=tls_files.cert, smtp_tls_key=tls_files.key, smtp_listen_port=2526
    )
    config = ListenerConfig.from_settings(settings, extra_addresses=["NCII@Firebreak.invalid"])
    assert config.port == 2526
    assert config.hotline_addresses == {HOTLINE, "ncii@firebreak.invalid"}
    assert config.server_name == "firebreak.invalid"
    assert config.tls_context() is not None


def test_dkim_verifies_on_the_bytes_the_listener_received(
    start_listener: StartListener, rsa_key: rsa.RSAPrivateKey
) -> None:
    received: list[InboundMail] = []
    listener = start_listener(received.append)
    signed = sign_dkim(ORDER, "hotline", "police.example", private_pem(rsa_key))
    with client(listener.port) as smtp:
        smtp.sendmail("bounces@police.example", [HOTLINE], signed)

    records = {b"hotline._domainkey.police.example": dkim_txt_record(rsa_key.public_key())}
    result = verify_dkim(received[0].raw, dnsfunc=records.get)
    assert result.valid, result.reason
    parsed = parse_order_mail(received[0].raw)
    assert sender_matches(parsed.from_address, result.domain, [], ["police.example"])
