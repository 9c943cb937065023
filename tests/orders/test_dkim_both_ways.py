"""DKIM both ways: Firebreak signs what it sends (a regulator's gateway verifies it from the published record), and an
authority's key can be pinned in the registry, so its orders verify with no DNS at all."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import Connection, select
from typer.testing import CliRunner

from firebreak.authorities import service as authorities
from firebreak.authorities.models import Authority, TrustLevel
from firebreak.authorities.schemas import AuthorityCreate, DkimKeyCreate
from firebreak.bootstrap.system import System, build_system
from firebreak.cli import app
from firebreak.core.clock import FakeClock
from firebreak.core.config import load_settings
from firebreak.mail.dkim import dkim_txt_record, verify_dkim
from firebreak.mail.outbox import read_outbox
from firebreak.orders.models import Order, OrderStatus
from tests.orders.test_email_intake import DOMAIN, _deliver, _mail
from tests.orders.test_orders_api import run_until_reported
from tests.support import FakeDns


def _key() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return pem, dkim_txt_record(key.public_key())


def _authority(system: System) -> None:
    with system.db.transaction() as session:
        authorities.create_authority(session=session, clock=system.clock, actor="test",
                                     data=AuthorityCreate(name="Cyber Police", country="KR", jurisdiction="Korea",
                                                          mail_domains=[DOMAIN], trust_level=TrustLevel.TRUSTED,
                                                          trusted_categories=["ncii"], language="ko"))


def test_firebreak_signs_its_mail_and_the_published_record_verifies_it(
        tmp_path: Path, connection: Connection, clock: FakeClock) -> None:
    env = {"FIREBREAK_DATA_DIR": str(tmp_path / "var"), "FIREBREAK_HOTLINE_ADDRESS": "takedown@hotline.example"}
    result = CliRunner().invoke(app, ["dkim", "keygen", "--selector", "fb2026"], env=env)
    assert result.exit_code == 0, result.output
    key_file = tmp_path / "var" / "dkim" / "fb2026.hotline.example.pem"
    assert key_file.stat().st_mode & 0o777 == 0o600
    name, record = re.search(r"^(\S+)\. IN TXT (.+)$", result.output, re.M).groups()  # type: ignore[union-attr]
    published = FakeDns()
    published.records[name] = "".join(re.findall(r'"([^"]*)"', record)).encode()

    settings = load_settings(environ={}, data_dir=tmp_path / "var", queue_url="memory://",
                             hotline_address="takedown@hotline.example", dkim_selector="fb2026",
                             dkim_private_key_file=key_file)
    authority_dns = FakeDns()
    system = build_system(settings, clock=clock, engine=connection.engine, bind=connection, dkim_dns=authority_dns)
    pem, txt = _key()
    authority_dns.records[f"s1._domainkey.{DOMAIN}"] = txt
    _authority(system)
    _deliver(system, _mail("Legal basis: 정보통신망법\nNon-consensual intimate images.\npdq:" + "ab" * 32, key=pem))
    system.runner.reconcile()  # the acknowledgement job: into the development outbox (no mail server is set)

    (ack,) = read_outbox(settings.outbox_dir)
    assert ack.signed and "추적 번호" in ack.text  # the authority reads Korean
    result_dkim = verify_dkim(ack.raw, dnsfunc=published)
    assert result_dkim.valid, result_dkim.reason
    assert (result_dkim.domain, result_dkim.selector) == ("hotline.example", "fb2026")
    tampered = ack.raw.replace(b"Subject: ", b"Subject: Fwd: ", 1)
    assert tampered != ack.raw and not verify_dkim(tampered, dnsfunc=published).valid


def test_a_pinned_key_verifies_an_order_with_no_dns(tmp_path: Path, connection: Connection, clock: FakeClock) -> None:
    def no_dns(name: bytes) -> bytes | None:
        raise AssertionError(f"DNS was asked for {name!r}")

    settings = load_settings(environ={}, data_dir=tmp_path / "var", queue_url="memory://",
                             dkim_key_source="pinned-only")
    system = build_system(settings, clock=clock, engine=connection.engine, bind=connection, dkim_dns=no_dns)
    _authority(system)
    old_pem, old_txt = _key()
    new_pem, new_txt = _key()
    forged_pem, _ = _key()
    with system.db.transaction() as session:
        authority = session.scalar(select(Authority))
        assert authority is not None
        old = authorities.add_dkim_key(session=session, clock=clock, actor="test", authority=authority,
                                       data=DkimKeyCreate(domain=DOMAIN, selector="s1", public_key=old_txt.decode()))
        # Rotation: the authority moves to selector s2; the old key stays valid for a day of overlap.
        authorities.add_dkim_key(session=session, clock=clock, actor="test", authority=authority,
                                 data=DkimKeyCreate(domain=DOMAIN, selector="s2", public_key=new_txt.decode(),
                                                    replaces=old.id, overlap_seconds=86400))
        old_id = old.id

    def order_status(body: str, pem: bytes, selector: str) -> OrderStatus:
        from firebreak.mail.dkim import sign_dkim
        raw = _mail(body)
        _deliver(system, sign_dkim(raw, selector, DOMAIN, pem))
        with system.db.sessions() as session:
            return session.scalars(select(Order).order_by(Order.id.desc())).first().status  # type: ignore[union-attr]

    assert order_status("pdq:" + "11" * 32, new_pem, "s2") != OrderStatus.RECEIVED  # the new key
    assert order_status("pdq:" + "22" * 32, old_pem, "s1") != OrderStatus.RECEIVED  # the old one, during overlap
    assert order_status("pdq:" + "33" * 32, forged_pem, "s2") == OrderStatus.RECEIVED  # a forger's key: no
    with system.db.transaction() as session:
        authority = session.scalar(select(Authority))
        assert authority is not None
        authorities.revoke_dkim_key(session=session, clock=clock, actor="test", authority=authority, key_id=old_id)
    assert order_status("pdq:" + "44" * 32, old_pem, "s1") == OrderStatus.RECEIVED  # revoked


def test_a_key_can_only_be_pinned_for_the_authoritys_own_domain(system: System) -> None:
    _authority(system)
    _, txt = _key()
    with system.db.transaction() as session:
        authority = session.scalar(select(Authority))
        with pytest.raises(authorities.AuthorityError, match="not a mail domain"):
            authorities.add_dkim_key(session=session, clock=system.clock, actor="test", authority=authority,
                                     data=DkimKeyCreate(domain="other.example", selector="s1",
                                                        public_key=txt.decode()))
        with pytest.raises(authorities.AuthorityError, match="not base64|not an RSA"):
            authorities.add_dkim_key(session=session, clock=system.clock, actor="test", authority=authority,
                                     data=DkimKeyCreate(domain=DOMAIN, selector="s1",
                                                        public_key="v=DKIM1; k=rsa; p=bm90IGEga2V5IGF0IGFsbA=="))


def test_the_receipt_mail_is_signed_too_and_verifies_with_its_attachment(
        tmp_path: Path, connection: Connection, clock: FakeClock) -> None:
    env = {"FIREBREAK_DATA_DIR": str(tmp_path / "var"), "FIREBREAK_HOTLINE_ADDRESS": "takedown@hotline.example"}
    result = CliRunner().invoke(app, ["dkim", "keygen", "--selector", "fb2026"], env=env)
    assert result.exit_code == 0, result.output
    name, record = re.search(r"^(\S+)\. IN TXT (.+)$", result.output, re.M).groups()  # type: ignore[union-attr]
    published = FakeDns()
    published.records[name] = "".join(re.findall(r'"([^"]*)"', record)).encode()
    settings = load_settings(environ={}, data_dir=tmp_path / "var", queue_url="memory://",
                             hotline_address="takedown@hotline.example", dkim_selector="fb2026",
                             dkim_private_key_file=tmp_path / "var" / "dkim" / "fb2026.hotline.example.pem")
    authority_dns = FakeDns()
    system = build_system(settings, clock=clock, engine=connection.engine, bind=connection, dkim_dns=authority_dns)
    pem, txt = _key()
    authority_dns.records[f"s1._domainkey.{DOMAIN}"] = txt
    _authority(system)
    _deliver(system, _mail("Legal basis: 정보통신망법\nNon-consensual intimate images.\npdq:" + "ab" * 32, key=pem))
    run_until_reported(system, clock)

    mails = read_outbox(settings.outbox_dir)
    receipts = [m for m in mails if m.attachments]
    assert len(mails) == 2 and len(receipts) == 1, [m.subject for m in mails]  # the acknowledgement, the receipt
    (receipt,) = receipts
    with system.db.sessions() as session:
        order = session.scalar(select(Order))
        assert order is not None and order.status == OrderStatus.COMPLETED
        tracking = order.tracking_id
    assert receipt.attachments[0][0] == f"receipt-{tracking}.json" and receipt.signed
    checked = verify_dkim(receipt.raw, dnsfunc=published)
    assert checked.valid, checked.reason
    assert (checked.domain, checked.selector) == ("hotline.example", "fb2026")
    # The signature covers the attached receipt: a changed figure in it no longer verifies.
    (attachment,) = [p for p in receipt.message.iter_attachments()]
    encoded = attachment.get_payload()
    assert isinstance(encoded, str) and encoded.strip()
    line = encoded.strip().splitlines()[0].encode()
    changed = line[:-4] + (b"AAAA" if line[-4:] != b"AAAA" else b"BBBB")
    tampered = receipt.raw.replace(line, changed, 1)
    assert tampered != receipt.raw
    assert not verify_dkim(tampered, dnsfunc=published).valid


@pytest.mark.parametrize("source", ["pinned-only", "pinned-then-dns"])
def test_a_replaced_key_is_refused_once_its_overlap_has_ended(
        tmp_path: Path, connection: Connection, clock: FakeClock, source: str) -> None:
    old_pem, old_txt = _key()
    new_pem, new_txt = _key()
    # Public DNS still publishes the old key (the authority has not cleaned up): the registry decides anyway.
    dns = FakeDns()
    dns.records[f"s1._domainkey.{DOMAIN}"] = old_txt
    settings = load_settings(environ={}, data_dir=tmp_path / "var", queue_url="memory://", dkim_key_source=source)
    system = build_system(settings, clock=clock, engine=connection.engine, bind=connection, dkim_dns=dns)
    _authority(system)
    with system.db.transaction() as session:
        authority = session.scalar(select(Authority))
        assert authority is not None
        old = authorities.add_dkim_key(session=session, clock=clock, actor="test", authority=authority,
                                       data=DkimKeyCreate(domain=DOMAIN, selector="s1", public_key=old_txt.decode()))
        clock.advance(timedelta(days=30))
        authorities.add_dkim_key(session=session, clock=clock, actor="test", authority=authority,
                                 data=DkimKeyCreate(domain=DOMAIN, selector="s2", public_key=new_txt.decode(),
                                                    replaces=old.id, overlap_seconds=2 * 86400))
    rotated_at = clock.now()

    def order(body: str, pem: bytes, selector: str) -> Order:
        from firebreak.mail.dkim import sign_dkim
        _deliver(system, sign_dkim(_mail(body), selector, DOMAIN, pem))
        with system.db.sessions() as session:
            found = session.scalars(select(Order).order_by(Order.id.desc())).first()
            assert found is not None
            session.expunge(found)
            return found

    clock.advance(timedelta(days=2) - timedelta(minutes=1))  # the last minute of the overlap
    assert order("pdq:" + "11" * 32, old_pem, "s1").status != OrderStatus.RECEIVED
    assert order("pdq:" + "22" * 32, new_pem, "s2").status != OrderStatus.RECEIVED
    clock.advance(timedelta(minutes=2))  # the overlap has ended
    assert clock.now() > rotated_at + timedelta(days=2)
    late = order("pdq:" + "33" * 32, old_pem, "s1")
    assert late.status == OrderStatus.RECEIVED  # waits for a person, like any unauthenticated mail
    assert late.sender_authentication["valid"] is False
    assert order("pdq:" + "44" * 32, new_pem, "s2").status != OrderStatus.RECEIVED  # the new key goes on
