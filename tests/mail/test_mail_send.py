"""Sending replies to the SMTP sink: threading headers, DKIM, STARTTLS, and typed errors."""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from firebreak.core.clock import FakeClock
from firebreak.mail import (
    DkimSigner,
    Mailer,
    MailSendError,
    OutgoingAttachment,
    OutgoingMail,
    parse_order_mail,
    reply_subject,
    sender_matches,
    verify_dkim,
)
from firebreak.mail.dkim import dkim_txt_record
from firebreak.mail.smtp import InboundMail
from tests.mail.conftest import HOTLINE, StartListener, TlsFiles, private_pem
from tests.mail.sink import SmtpSink

pytestmark = pytest.mark.timeout(30)

TRACKING = "FB-2026-7K3Q9X"
AUTHORITY_MAIL = (
    b"From: Officer Kim <kim@police.example>\r\n"
    b"To: takedown@firebreak.invalid\r\n"
    b"Subject: Removal order 2026/42\r\n"
    b"Message-ID: <order-42@police.example>\r\n"
    b"References: <earlier-1@police.example>\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
    b"Please remove https://t.me/c/1/1\r\n"
)


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 2, 1, 0, 5, tzinfo=UTC))


def mailer_for(sink: SmtpSink, clock: FakeClock, **options: object) -> Mailer:
    return Mailer(sink.host, sink.port, "takedown@firebreak.invalid", clock=clock.now, **options)  # type: ignore[arg-type]


def test_reply_is_threaded_onto_the_authority_mail(sink: SmtpSink, clock: FakeClock) -> None:
    order = parse_order_mail(AUTHORITY_MAIL)
    receipt = json.dumps({"tracking_id": TRACKING, "items": [{"link": "https://t.me/c/1/1", "status": "received"}]})
    reply = OutgoingMail.reply_to_parsed(
        order,
        text=f"We received your order. Tracking ID: {TRACKING}",
        html=f"<p>We received your order. Tracking ID: <b>{TRACKING}</b></p>",
        tracking_id=TRACKING,
        attachments=[OutgoingAttachment("receipt.json", "application/json", receipt.encode())],
        automatic=True,
    )
    message_id = mailer_for(sink, clock, from_name="Firebreak Hotline").send(reply)

    got = sink.wait_for(lambda m: m.message_id == message_id)
    assert got.envelope_to == ("kim@police.example",)
    assert got.envelope_from == "takedown@firebreak.invalid"
    assert got.header("In-Reply-To") == "<order-42@police.example>"
    assert got.header("References") == "<earlier-1@police.example> <order-42@police.example>"
    assert got.subject == f"Re: Removal order 2026/42 [{TRACKING}]"
    assert got.header("From") == "Firebreak Hotline <takedown@firebreak.invalid>"
    assert got.header("Auto-Submitted") == "auto-replied"
    assert got.header("X-Firebreak-Tracking-ID") == TRACKING
    assert message_id.endswith("@firebreak.invalid>") and TRACKING in message_id
    date = got.header("Date")
    assert date is not None and parsedate_to_datetime(date) == clock.now()
    assert got.text().strip() == f"We received your order. Tracking ID: {TRACKING}"
    assert got.html() is not None and "<b>" in (got.html() or "")
    [attachment] = list(got.message.iter_attachments())
    assert attachment.get_filename() == "receipt.json"
    assert json.loads(attachment.get_content()) == json.loads(receipt)

    # When the authority answers our reply, the answer threads back onto the order by its tracking ID.
    answer = (
        f"From: kim@police.example\r\nSubject: Re: Removal order 2026/42\r\nIn-Reply-To: {message_id}\r\n"
        "\r\nOne more: https://t.me/c/1/2\r\n"
    ).encode()
    assert parse_order_mail(answer).tracking_id == TRACKING


def test_subjects_are_not_doubled() -> None:
    assert reply_subject("Re: Removal order [FB-2026-7K3Q9X]", TRACKING) == "Re: Removal order [FB-2026-7K3Q9X]"
    assert reply_subject("AW: Löschanordnung", TRACKING) == f"AW: Löschanordnung [{TRACKING}]"
    assert reply_subject("", None) == "Re:"
    assert reply_subject("Removal\r\n order", None) == "Re: Removal order"


def test_non_ascii_mail_round_trips(sink: SmtpSink, clock: FakeClock) -> None:
    mail = OutgoingMail(
        to=["kim@police.go.kr"],
        subject="삭제 요청 접수",
        text="접수되었습니다. https://t.me/c/1/1",
        tracking_id=TRACKING,
    )
    message_id = mailer_for(sink, clock).send(mail)
    got = sink.wait_for(lambda m: m.message_id == message_id)
    assert got.raw.isascii()  # 7-bit on the wire: nothing for a relay to re-encode and break the signature
    parsed = parse_order_mail(got.raw)
    assert parsed.subject == f"삭제 요청 접수 [{TRACKING}]"
    assert parsed.text.strip() == "접수되었습니다. https://t.me/c/1/1"
    assert parsed.tracking_id == TRACKING


def test_dkim_signed_mail_verifies_at_the_receiver(
    sink: SmtpSink, clock: FakeClock, rsa_key: rsa.RSAPrivateKey
) -> None:
    signer = DkimSigner("fb1", "firebreak.invalid", private_pem(rsa_key))
    message_id = mailer_for(sink, clock, dkim=signer).send(
        OutgoingMail(to=["kim@police.example"], subject="x", text="y")
    )
    got = sink.wait_for(lambda m: m.message_id == message_id)
    records = {b"fb1._domainkey.firebreak.invalid": dkim_txt_record(rsa_key.public_key())}
    result = verify_dkim(got.raw, dnsfunc=records.get)
    assert result.valid, result.reason
    assert sender_matches("takedown@firebreak.invalid", result.domain, [], ["firebreak.invalid"])


def test_rendered_mail_is_resent_with_the_same_message_id(sink: SmtpSink, clock: FakeClock) -> None:
    mailer = mailer_for(sink, clock)
    rendered = mailer.render(
        OutgoingMail(to=["kim@police.example"], subject="Receipt", text="ok", tracking_id=TRACKING)
    )
    assert mailer.send_rendered(rendered) == mailer.send_rendered(rendered) == rendered.message_id
    copies = [m for m in sink.messages if m.message_id == rendered.message_id]
    assert len(copies) == 2 and copies[0].raw == copies[1].raw == rendered.raw


def test_starttls_to_a_trusted_server(tls_files: TlsFiles, clock: FakeClock) -> None:
    context = ssl.create_default_context(cafile=str(tls_files.cert))
    with SmtpSink(tls_cert=tls_files.cert, tls_key=tls_files.key) as sink:
        mailer = Mailer(
            "localhost", sink.port, "takedown@firebreak.invalid", starttls=True, ssl_context=context, clock=clock.now
        )
        message_id = mailer.send(OutgoingMail(to=["kim@police.example"], subject="tls", text="secret"))
        assert sink.wait_for(lambda m: m.message_id == message_id).tls
        untrusted = Mailer("localhost", sink.port, "takedown@firebreak.invalid", starttls=True, clock=clock.now)
        with pytest.raises(MailSendError) as error:
            untrusted.send(OutgoingMail(to=["kim@police.example"], subject="tls", text="secret"))
        assert error.value.retryable is False


def test_errors_are_typed_and_say_whether_to_retry(start_listener: StartListener, clock: FakeClock) -> None:
    mail = OutgoingMail(to=["someone@firebreak.invalid"], subject="s", text="t")

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    with pytest.raises(MailSendError) as unreachable:
        Mailer("127.0.0.1", closed_port, "takedown@firebreak.invalid", timeout=5).send(mail)
    assert unreachable.value.retryable is True

    listener = start_listener(lambda _: None)
    mailer = Mailer("127.0.0.1", listener.port, "takedown@firebreak.invalid", clock=clock.now)
    with pytest.raises(MailSendError) as refused:
        mailer.send(mail)  # 550: no such mailbox
    assert refused.value.retryable is False

    def failing(_: InboundMail) -> None:
        raise OSError("disk full")

    busy = start_listener(failing)
    with pytest.raises(MailSendError) as temporary:
        Mailer("127.0.0.1", busy.port, "takedown@firebreak.invalid", clock=clock.now).send(
            OutgoingMail(to=[HOTLINE], subject="s", text="t")
        )
    assert temporary.value.retryable is True
    assert temporary.value.code == 451

    no_tls = Mailer("127.0.0.1", listener.port, "takedown@firebreak.invalid", starttls=True, clock=clock.now)
    with pytest.raises(MailSendError) as unsupported:
        no_tls.send(OutgoingMail(to=[HOTLINE], subject="s", text="t"))
    assert unsupported.value.retryable is False

    with pytest.raises(MailSendError) as injection:
        mailer.render(OutgoingMail(to=["a@b.example\r\nBcc: x@evil.example"], subject="s", text="t"))
    assert injection.value.retryable is False
    with pytest.raises(MailSendError):
        mailer.render(OutgoingMail(to=[], subject="s", text="t"))
