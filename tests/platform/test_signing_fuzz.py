"""The signature header parser is total: whatever a caller sends, the answer is a SignatureError (a 401 with a
`webhook.rejected` audit event over HTTP), never another exception (a 500 with no trace in the audit log)."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from firebreak.audit.models import AuditEvent
from firebreak.bootstrap.http import create_app
from firebreak.bootstrap.system import System
from firebreak.platform import signing
from firebreak.platform.models import PlatformIntegration

NOW = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
SECRET = b"s3cret"
BODY = b'{"event_id": "evt-1"}'


def checked(header: str | bytes | None, *, body: bytes = BODY, now: datetime = NOW) -> signing.SignatureError | None:
    """verify()'s refusal, or None when it accepted; any other exception fails the test."""
    try:
        signing.parse_header(header)
    except signing.SignatureError:
        pass
    try:
        signing.verify(SECRET, body, header, now)
    except signing.SignatureError as exc:
        assert isinstance(exc.reason, signing.Reason)
        assert str(exc)
        return exc
    return None


def mac(t: str, nonce: str | None, body: bytes = BODY, secret: bytes = SECRET) -> str:
    prefix = f"{t}.{nonce}." if nonce is not None else f"{t}."
    return hmac.new(secret, prefix.encode() + body, hashlib.sha256).hexdigest()


# -- arbitrary input ------------------------------------------------------------------------------------------------

@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=2000))
@example("t=1e400,v1=" + "0" * 64)
@example("t=nan,n=abc,v1=" + "0" * 64)
@example("t=" + "9" * 400 + ",v1=" + "0" * 64)
@example("t=1767258000,v1=" + "é" * 64)
@example("t=١٧٦٧٢٥٨٠٠٠,v1=" + "0" * 64)
def test_any_text_is_refused_with_a_signature_error(header: str) -> None:
    assert checked(header) is not None


@settings(max_examples=1500)
@given(st.binary(max_size=2000))
def test_any_bytes_are_refused_with_a_signature_error(raw: bytes) -> None:
    # As an HTTP server hands over header bytes (latin-1), and as bytes.
    assert checked(raw.decode("latin-1")) is not None
    assert checked(raw) is not None


_NUMBERS = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    # past a float's range (309 digits), past int()'s digit limit (4300)
    st.text(alphabet="0123456789", min_size=300, max_size=5000).map(lambda digits: "1" + digits),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["nan", "NaN", "inf", "-inf", "1e400", "1_767_258_000", "0x10", " 1767258000", "+1767258000",
                     "01767258000", "1767258000.0", "", "١٧٦٧٢٥٨٠٠٠", "１７６７２５８０００"]),
)
_VALUES = st.one_of(_NUMBERS, st.text(max_size=80), st.text(alphabet="0123456789abcdefABCDEF", max_size=130),
                    st.binary(max_size=80).map(lambda b: b.decode("latin-1")))
_KEYS = st.sampled_from(["t", "n", "v1", "v0", "T", " t", "t ", "", "x", "é"])


@settings(max_examples=3000)
@given(st.lists(st.tuples(_KEYS, _VALUES), max_size=6), st.sampled_from([",", ", ", ";", ",,"]))
def test_header_like_input_is_refused_with_a_signature_error(parts: list[tuple[str, str]], separator: str) -> None:
    header = separator.join(f"{k}={v}" for k, v in parts)
    assert checked(header) is not None


@settings(max_examples=500)
@given(t=st.integers(min_value=-(10**40), max_value=10**40), nonce=st.text(max_size=70) | st.none())
def test_any_timestamp_and_nonce_with_their_true_mac_is_accepted_only_when_well_formed_and_recent(
        t: int, nonce: str | None) -> None:
    """Even with a correct MAC, only a sane t within the window and an ASCII alphanumeric nonce pass."""
    n_part = f"n={nonce}," if nonce is not None else ""
    try:
        true_mac = mac(str(t), nonce)
    except UnicodeEncodeError:  # a lone surrogate cannot be signed at all; send any MAC
        true_mac = "0" * 64
    refused = checked(f"t={t},{n_part}v1={true_mac}")
    sane_nonce = nonce is None or (nonce.isascii() and nonce.isalnum() and 0 < len(nonce) <= 64)
    if abs(t - NOW.timestamp()) <= signing.DEFAULT_WINDOW_SECONDS and sane_nonce:
        assert refused is None
    else:
        assert refused is not None


# -- valid headers round-trip ------------------------------------------------------------------------------------

@settings(max_examples=500)
@given(secret=st.binary(min_size=1, max_size=64), body=st.binary(max_size=4096),
       skew=st.integers(min_value=-signing.DEFAULT_WINDOW_SECONDS, max_value=signing.DEFAULT_WINDOW_SECONDS),
       nonce=st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1,
                     max_size=64))
def test_a_valid_header_round_trips(secret: bytes, body: bytes, skew: int, nonce: str) -> None:
    when = NOW + timedelta(seconds=skew)
    header = signing.sign(secret, body, when, nonce=nonce)
    parsed = signing.parse_header(header)
    assert (parsed.t, parsed.nonce) == (int(when.timestamp()), nonce)
    assert parsed.render() == header
    assert signing.verify(secret, body, header, NOW) == (parsed.t, parsed.mac)
    assert signing.verify(secret, body, header.encode(), NOW) == (parsed.t, parsed.mac)
    # Upper-case hex is the same signature, and is reported as the same one for the replay table.
    upper = header.replace(parsed.mac, parsed.mac.upper())
    assert signing.verify(secret, body, upper, NOW) == (parsed.t, parsed.mac)
    with pytest.raises(signing.SignatureError) as refused:
        signing.verify(secret, body + b".", header, NOW)
    assert refused.value.reason is signing.Reason.MISMATCH


# -- each refusal says why -----------------------------------------------------------------------------------------

T = int(NOW.timestamp())
GOOD = mac(str(T), "abc")


@pytest.mark.parametrize(("header", "reason", "words"), [
    (None, signing.Reason.MISSING, "missing"),
    ("", signing.Reason.MISSING, "missing"),
    (b"", signing.Reason.MISSING, "missing"),
    (f"t={T},n=abc,v1={GOOD}", None, ""),
    (f"t={T}, n=abc, v1={GOOD}", None, ""),  # spaces after the commas
    (f"t={T},n=abc,v1={GOOD},", None, ""),  # a trailing comma
    (f"t={T},n=abc,v1={GOOD},v2=future", None, ""),  # unknown keys are room for later schemes
    (f"t=1e400,n=abc,v1={GOOD}", signing.Reason.MALFORMED, "t must be Unix seconds"),
    (f"t=nan,n=abc,v1={GOOD}", signing.Reason.MALFORMED, "t must be Unix seconds"),
    (f"t=inf,n=abc,v1={GOOD}", signing.Reason.MALFORMED, "t must be Unix seconds"),
    (f"t=-{T},n=abc,v1={GOOD}", signing.Reason.MALFORMED, "t must be Unix seconds"),
    (f"t=0{T},n=abc,v1={GOOD}", signing.Reason.MALFORMED, "t must be Unix seconds"),
    (f"t=99999999999999999999999,n=abc,v1={GOOD}", signing.Reason.MALFORMED, "t must be Unix seconds"),
    (f"t={'9' * 400},n=abc,v1={GOOD}", signing.Reason.MALFORMED, "t must be Unix seconds"),
    (f"t=١٧٦٧٢٥٨٠٠٠,n=abc,v1={GOOD}", signing.Reason.MALFORMED, "ASCII"),
    (f"t={T},n=abc,v1={'é' * 64}", signing.Reason.MALFORMED, "ASCII"),
    (f"t={T},n=abc,v1={GOOD}".encode() + b"\xff", signing.Reason.MALFORMED, "ASCII"),
    (f"t={T},n=ab-c,v1={GOOD}", signing.Reason.MALFORMED, "nonce"),
    (f"t={T},n={'a' * 65},v1={GOOD}", signing.Reason.MALFORMED, "nonce"),
    (f"t={T},n=,v1={GOOD}", signing.Reason.MALFORMED, "nonce"),
    (f"t={T},n=abc,v1={GOOD[:-1]}", signing.Reason.MISMATCH, "does not match"),  # truncated
    (f"t={T},n=abc,v1={GOOD}0", signing.Reason.MISMATCH, "does not match"),
    (f"t={T},n=abc,v1={GOOD[:-1]}g", signing.Reason.MALFORMED, "hex digits"),
    (f"t={T},n=abc,v1=", signing.Reason.MALFORMED, "hex digits"),
    (f"t={T},n=abc,v1={GOOD * 3}", signing.Reason.MALFORMED, "hex digits"),
    (f"t={T},t={T},n=abc,v1={GOOD}", signing.Reason.MALFORMED, "appears twice"),
    (f"t={T},n=abc,v1={GOOD},v1={'0' * 64}", signing.Reason.MALFORMED, "appears twice"),
    (f"n=abc,v1={GOOD}", signing.Reason.MALFORMED, "expected t="),
    (f"t={T},n=abc", signing.Reason.MALFORMED, "expected t="),
    (f"t={T},n=abc,{GOOD}", signing.Reason.MALFORMED, "not key=value"),
    (f"t={T},n=abc,v1={GOOD}," + " " * 2000, signing.Reason.MALFORMED, "longer than"),
    (f"t={T - 301},n=abc,v1={mac(str(T - 301), 'abc')}", signing.Reason.EXPIRED, "replay window"),
    (f"t={T},n=abd,v1={GOOD}", signing.Reason.MISMATCH, "does not match"),
    (f"t={T},v1={GOOD}", signing.Reason.MISMATCH, "does not match"),  # the nonce is part of the MAC
])
def test_each_refusal_has_a_reason(header: str | bytes | None, reason: signing.Reason | None, words: str) -> None:
    refused = checked(header)
    if reason is None:
        assert refused is None
    else:
        assert refused is not None and refused.reason is reason and words in str(refused), refused


# -- over HTTP: 401 and an audit event, never a 500 ----------------------------------------------------------------

INTEGRATION = "shop"
HOSTILE: list[bytes] = [
    b"t=1e400,n=abc,v1=" + b"0" * 64,
    b"t=nan,n=abc,v1=" + b"0" * 64,
    b"t=99999999999999999999999,n=abc,v1=" + b"0" * 64,
    b"t=" + b"9" * 400 + b",n=abc,v1=" + b"0" * 64,
    b"t=%d,n=abc,v1=" % T + "é".encode() * 32,  # non-ASCII signature bytes (UTF-8)
    b"t=%d,n=abc,v1=" % T + b"\xe9" * 64,  # non-ASCII signature bytes (latin-1)
]


@pytest.fixture
def secret(system: System) -> str:
    with system.db.transaction() as session:
        integration = PlatformIntegration(name=INTEGRATION, adapter="webhook", created_at=system.clock.now(),
                                          config={"action_url": "http://127.0.0.1:9/actions",
                                                  "link_prefixes": ["https://chat.example/c"]})
        session.add(integration)
        session.flush()
        return system.secrets.new_secret(integration)


@pytest.fixture
def client(system: System) -> Iterator[TestClient]:
    with TestClient(create_app(system), raise_server_exceptions=False) as c:
        yield c


def rejections(system: System) -> list[dict[str, Any]]:
    with system.db.sessions() as session:
        rows = session.scalars(select(AuditEvent).where(AuditEvent.action == "webhook.rejected")
                               .order_by(AuditEvent.seq)).all()
        return [{"actor": r.actor, "path": r.object_id, **json.loads(r.data)} for r in rows]


@pytest.mark.parametrize(("path", "content_type"), [("/v1/events", "application/json"),
                                                    ("/v1/scan", "application/octet-stream")])
def test_hostile_signatures_are_401_and_audited(system: System, client: TestClient, secret: str, path: str,
                                                content_type: str) -> None:
    body = BODY if content_type == "application/json" else b"\xff\xd8 not really a jpeg"
    for number, header in enumerate(HOSTILE, start=1):
        r = client.post(path, content=body, headers={"Firebreak-Integration": INTEGRATION,
                                                     "Firebreak-Signature": header, "Content-Type": content_type})
        assert r.status_code == 401, (header, r.status_code, r.text)
        assert r.headers["www-authenticate"] == "Firebreak-Signature"
        assert "malformed Firebreak-Signature header" in r.json()["detail"]
        found = rejections(system)
        assert len(found) == number, header
        assert found[-1]["path"] == path
        assert "malformed" in found[-1]["reason"]
        assert found[-1]["actor"].startswith("integration:") and found[-1]["actor"] != "integration:unknown"
    # The integration still works: a proper signature after all that is accepted.
    t = int(system.clock.now().timestamp())
    good = f"t={t},n=fine,v1=" + hmac.new(secret.encode(), f"{t}.fine.".encode() + body, hashlib.sha256).hexdigest()
    r = client.post(path, content=body, headers={"Firebreak-Integration": INTEGRATION, "Firebreak-Signature": good,
                                                 "Content-Type": content_type})
    assert r.status_code != 401, r.text
    assert len(rejections(system)) == len(HOSTILE)
