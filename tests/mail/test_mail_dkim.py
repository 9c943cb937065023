"""DKIM verification with an injected DNS, signing, and sender alignment."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from firebreak.mail.dkim import dkim_txt_record, domains_align, sender_matches, sign_dkim, verify_dkim
from tests.mail.conftest import private_pem

MAIL = (
    b"From: Officer Kim <kim@police.example>\r\n"
    b"To: takedown@firebreak.invalid\r\n"
    b"Subject: Removal order\r\n"
    b"Message-ID: <order-1@police.example>\r\n"
    b"Date: Mon, 02 Mar 2026 09:00:00 +0900\r\n"
    b"\r\n"
    b"Please remove https://t.me/c/100/1 under Article 9 DSA.\r\n"
)


class FakeDns:
    """TXT records published for the test; lookups are recorded."""

    def __init__(self) -> None:
        self.records: dict[bytes, bytes] = {}
        self.asked: list[bytes] = []

    def publish(self, selector: str, domain: str, record: bytes) -> None:
        self.records[f"{selector}._domainkey.{domain}".encode()] = record

    def __call__(self, name: bytes) -> bytes | None:
        self.asked.append(name)
        return self.records.get(name)


@pytest.fixture
def dns(rsa_key: rsa.RSAPrivateKey) -> FakeDns:
    dns = FakeDns()
    dns.publish("hotline", "police.example", dkim_txt_record(rsa_key.public_key()))
    return dns


def test_signed_mail_verifies(rsa_key: rsa.RSAPrivateKey, dns: FakeDns) -> None:
    signed = sign_dkim(MAIL, "hotline", "police.example", private_pem(rsa_key))
    result = verify_dkim(signed, dnsfunc=dns)
    assert result.valid, result.reason
    assert (result.domain, result.selector) == ("police.example", "hotline")
    assert dns.asked == [b"hotline._domainkey.police.example"]
    assert result.as_dict()["valid"] is True


def test_tampered_body_fails(rsa_key: rsa.RSAPrivateKey, dns: FakeDns) -> None:
    signed = sign_dkim(MAIL, "hotline", "police.example", private_pem(rsa_key))
    tampered = signed.replace(b"https://t.me/c/100/1", b"https://t.me/c/100/2")
    result = verify_dkim(tampered, dnsfunc=dns)
    assert not result.valid
    assert "body hash mismatch" in result.reason
    assert result.domain == "police.example"


def test_tampered_signed_header_fails(rsa_key: rsa.RSAPrivateKey, dns: FakeDns) -> None:
    signed = sign_dkim(MAIL, "hotline", "police.example", private_pem(rsa_key))
    result = verify_dkim(signed.replace(b"Subject: Removal order", b"Subject: Removal orders"), dnsfunc=dns)
    assert not result.valid
    assert "does not match" in result.reason


def test_wrong_key_fails(dns: FakeDns) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signed = sign_dkim(MAIL, "hotline", "police.example", private_pem(other))
    result = verify_dkim(signed, dnsfunc=dns)
    assert not result.valid
    assert result.selector == "hotline"


def test_unpublished_selector_fails_with_reason(rsa_key: rsa.RSAPrivateKey, dns: FakeDns) -> None:
    signed = sign_dkim(MAIL, "old", "police.example", private_pem(rsa_key))
    result = verify_dkim(signed, dnsfunc=dns)
    assert not result.valid
    assert result.reason == "no DKIM key published for this selector"


def test_missing_signature_fails_with_reason(dns: FakeDns) -> None:
    result = verify_dkim(MAIL, dnsfunc=dns)
    assert not result.valid
    assert result.reason == "no DKIM-Signature header"
    assert result.domain is None
    assert dns.asked == []


def test_body_length_signatures_are_refused(rsa_key: rsa.RSAPrivateKey, dns: FakeDns) -> None:
    import dkim

    header = dkim.sign(
        MAIL, b"hotline", b"police.example", private_pem_pkcs1(rsa_key), length=True, include_headers=[b"from"]
    )
    appended = header + MAIL + b"Also remove https://evil.example/x\r\n"
    result = verify_dkim(appended, dnsfunc=dns)
    assert not result.valid
    assert "l= tag" in result.reason


def private_pem_pkcs1(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )


def test_aligned_signature_is_preferred_over_a_relay_signature(rsa_key: rsa.RSAPrivateKey, dns: FakeDns) -> None:
    relay_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    dns.publish("relay", "mailrelay.example", dkim_txt_record(relay_key.public_key()))
    signed = sign_dkim(MAIL, "hotline", "police.example", private_pem(rsa_key))
    double = sign_dkim(signed, "relay", "mailrelay.example", private_pem(relay_key))
    result = verify_dkim(double, dnsfunc=dns)
    assert result.valid
    assert result.domain == "police.example"
    assert [s.domain for s in result.signatures] == ["mailrelay.example", "police.example"]


def test_ed25519_signatures() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    dns = FakeDns()
    dns.publish("ed", "police.example", dkim_txt_record(key.public_key()))
    assert verify_dkim(sign_dkim(MAIL, "ed", "police.example", pem), dnsfunc=dns).valid


def test_dns_failure_is_a_reason_not_an_exception(rsa_key: rsa.RSAPrivateKey) -> None:
    def broken_dns(name: bytes) -> bytes | None:
        raise TimeoutError("resolver unreachable")

    signed = sign_dkim(MAIL, "hotline", "police.example", private_pem(rsa_key))
    result = verify_dkim(signed, dnsfunc=broken_dns)
    assert not result.valid
    assert "TimeoutError" in result.reason


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_garbage_never_raises(raw: bytes) -> None:
    result = verify_dkim(raw, dnsfunc=lambda name: None)
    assert result.valid is False
    assert result.reason


@given(st.binary(max_size=300))
@settings(max_examples=100, deadline=None)
def test_garbage_signature_header_never_raises(junk: bytes) -> None:
    raw = b"DKIM-Signature: " + junk.replace(b"\r", b"").replace(b"\n", b" ") + b"\r\n" + MAIL
    assert verify_dkim(raw, dnsfunc=lambda name: b"v=DKIM1; p=" + junk[:50]).valid is False


def test_domain_alignment() -> None:
    assert domains_align("police.example", "police.example")
    assert domains_align("mail.police.example", "police.example")
    assert domains_align("police.example", "mx.police.example")
    assert not domains_align("police.example", "notpolice.example")
    assert not domains_align("police.example", "attacker.example")
    # A registry-level parent must never vouch for its registrants.
    assert not domains_align("police.co.uk", "co.uk")
    assert not domains_align("knpa.go.kr", "go.kr")
    assert not domains_align("police.example", "example")
    assert domains_align("KNPA.GO.KR.", "knpa.go.kr")


def test_sender_matches() -> None:
    addresses = ["officer.kim@knpa.go.kr"]
    domains = ["ofcom.org.uk"]
    assert sender_matches("officer.kim@knpa.go.kr", "knpa.go.kr", addresses, domains)
    assert sender_matches("Officer.Kim@KNPA.go.kr", "mail.knpa.go.kr", addresses, domains)
    assert not sender_matches("other@knpa.go.kr", "knpa.go.kr", addresses, domains)  # not registered
    assert sender_matches("anyone@ofcom.org.uk", "ofcom.org.uk", addresses, domains)
    assert sender_matches("anyone@online.ofcom.org.uk", "ofcom.org.uk", addresses, domains)
    assert not sender_matches("anyone@ofcom.org.uk", "gmail.com", addresses, domains)  # not aligned
    assert not sender_matches("anyone@ofcom.org.uk", "org.uk", addresses, domains)
    assert not sender_matches(None, "ofcom.org.uk", addresses, domains)
    assert not sender_matches("anyone@ofcom.org.uk", None, addresses, domains)
    assert not sender_matches("@ofcom.org.uk", "ofcom.org.uk", addresses, domains)
