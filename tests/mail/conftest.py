"""Fixtures for the mail tests: listeners on free loopback ports, a self-signed certificate, keys and images."""

from __future__ import annotations

import io
import ipaddress
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from PIL import Image

from firebreak.mail.smtp import InboundMail, ListenerConfig, SmtpListener

HOTLINE = "takedown@firebreak.invalid"


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A self-signed certificate for localhost and 127.0.0.1."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory = tmp_path_factory.mktemp("tls")
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return TlsFiles(cert_path, key_path)


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


StartListener = Callable[..., SmtpListener]


@pytest.fixture
def start_listener() -> Iterator[StartListener]:
    """Start hotline listeners on free ports; all are stopped after the test."""
    started: list[SmtpListener] = []

    def start(on_message: Callable[[InboundMail], None], **config: Any) -> SmtpListener:
        config.setdefault("port", 0)
        config.setdefault("hotline_addresses", frozenset({HOTLINE}))
        clock = config.pop("clock", None)
        listener = SmtpListener(ListenerConfig(**config), on_message, **({"clock": clock} if clock else {}))
        listener.start()
        started.append(listener)
        return listener

    yield start
    for listener in started:
        listener.stop()


def image_bytes(color: tuple[int, int, int], fmt: str = "PNG", size: tuple[int, int] = (64, 48)) -> bytes:
    """A synthetic image: a solid colour with a horizontal gradient, never real imagery."""
    width, height = size
    row = bytes(min(255, channel + x * 2) for x in range(width) for channel in color)
    image = Image.frombytes("RGB", size, row * height)
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()
