"""E-mail intake with bad or doubtful input: nothing accepted is lost, every sender gets a clear answer."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

from firebreak.audit.models import AuditEvent
from firebreak.authorities import service as authorities
from firebreak.authorities.models import TrustLevel
from firebreak.authorities.schemas import AuthorityCreate
from firebreak.bootstrap.system import System
from firebreak.core.jobs.models import ScheduledTask
from firebreak.mail.dkim import dkim_txt_record, sign_dkim
from firebreak.mail.smtp import InboundMail
from firebreak.orders.models import Order, OrderStatus
from tests.support import FakeDns

DOMAIN = "police.example"


def _authority(system: System, dns: FakeDns) -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    dns.records[f"s1._domainkey.{DOMAIN}"] = dkim_txt_record(key.public_key())
    with system.db.transaction() as session:
        authorities.create_authority(session=session, clock=system.clock, actor="test", data=AuthorityCreate(
            name="Cyber Police", country="DE", jurisdiction="Germany", mail_domains=[DOMAIN],
            trust_level=TrustLevel.TRUSTED, trusted_categories=["ncii"]))
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _mail(body: str, *, sender: str = f"officer@{DOMAIN}", subject: str = "Removal order", key: bytes | None = None,
          domain: str = DOMAIN) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "takedown@firebreak.invalid"
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain=domain)
    msg.set_content(body)
    raw = msg.as_bytes()
    return sign_dkim(raw, "s1", domain, key) if key else raw


def _deliver(system: System, raw: bytes, envelope_from: str = f"officer@{DOMAIN}") -> None:
    system.orders.receive_mail(InboundMail(envelope_from=envelope_from, envelope_to=("takedown@firebreak.invalid",),
                                      peer="127.0.0.1", peer_port=40000, received_at=datetime.now(UTC), raw=raw))
    # Process the stored mail as a worker would; outgoing mail stays queued (no SMTP server in this test).
    for _ in range(2):
        system.runner.reconcile()


def _outbox(system: System) -> list[dict[str, Any]]:
    with system.db.sessions() as session:
        return [t.payload for t in session.scalars(select(ScheduledTask).where(ScheduledTask.job == "mail.send")
                                                   .order_by(ScheduledTask.id))]


def _orders(system: System) -> list[Order]:
    with system.db.sessions() as session:
        orders = list(session.scalars(select(Order).order_by(Order.id)))
        for o in orders:
            session.expunge(o)
        return orders


def test_signed_mail_from_registered_authority_is_verified(system: System, dns: FakeDns) -> None:
    key = _authority(system, dns)
    _deliver(system, _mail("Legal basis: NetzDG\nNon-consensual intimate images shared without consent.\n"
                            "Please remove pdq:" + "ab" * 32 + "\n", key=key))
    (order,) = _orders(system)
    assert order.status in (OrderStatus.IN_PROGRESS, OrderStatus.COMPLETED) and order.deadline_at is not None
    assert order.sender_authentication["valid"] is True
    (ack,) = [m for m in _outbox(system) if "received your order" in m["text"]]
    # Threaded under the authority's own mail, with its subject (docs/mail.md): "Re: Removal order [FB-...]".
    assert ack["to"] == [f"officer@{DOMAIN}"] and ack["subject"] == "Removal order" and ack["in_reply_to"]


def test_spoofed_sender_waits_for_verification_and_gets_a_polite_reply(system: System, dns: FakeDns) -> None:
    _authority(system, dns)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    # Signed with a key that is not the domain's: the DKIM check fails.
    _deliver(system, _mail("https://chat.example/c/1/m/2\n", key=other))
    (order,) = _orders(system)
    assert order.status == OrderStatus.RECEIVED and order.deadline_at is None
    assert order.sender_authentication["registered_sender"] is False
    (reply,) = _outbox(system)
    assert "could not yet confirm" in reply["text"] and order.tracking_id in reply["text"]
    with system.db.sessions() as session:
        assert session.scalar(select(AuditEvent).where(AuditEvent.action == "mail.received")) is not None


def test_unknown_sender_is_kept_and_answered(system: System, dns: FakeDns) -> None:
    _authority(system, dns)
    _deliver(system, _mail("please remove https://chat.example/c/1/m/2", sender="someone@gmail.example",
                            domain="gmail.example"), envelope_from="someone@gmail.example")
    (order,) = _orders(system)
    assert order.status == OrderStatus.RECEIVED
    assert "not registered" in order.sender_authentication["verdict"]
    assert _outbox(system)[0]["to"] == ["someone@gmail.example"]


def test_mail_with_nothing_to_act_on_gets_an_explanation(system: System, dns: FakeDns) -> None:
    key = _authority(system, dns)
    _deliver(system, _mail("Hello, can we talk on the phone?", key=key))
    assert _orders(system) == []
    (reply,) = _outbox(system)
    assert "no message link, hash or image" in reply["text"]
    with system.db.sessions() as session:
        kept = session.scalar(select(AuditEvent).where(AuditEvent.action == "mail.not_an_order"))
    assert kept is not None and "blob" in kept.data  # the mail itself is kept (encrypted) for staff


def test_garbage_and_duplicates(system: System, dns: FakeDns) -> None:
    key = _authority(system, dns)
    _deliver(system, b"\x00\xff not a mail at all \r\n\r\n\x00")
    raw = _mail("pdq:" + "cd" * 32, key=key)
    _deliver(system, raw)
    _deliver(system, raw)  # the sending server retried after a dropped connection
    assert len(_orders(system)) == 1
    with system.db.sessions() as session:
        actions = set(session.scalars(select(AuditEvent.action)))
    assert "mail.duplicate" in actions
