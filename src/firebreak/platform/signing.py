"""HMAC-SHA256 request signing for the webhook integration, in both directions.

Header: ``Firebreak-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``.
A request is accepted when the signature matches, ``t`` is within the replay window of the
receiver's clock, and the same signature was not seen before within that window.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

HEADER = "Firebreak-Signature"
DEFAULT_WINDOW_SECONDS = 300


class SignatureError(Exception):
    pass


def sign(secret: bytes, body: bytes, when: datetime) -> str:
    t = int(when.timestamp())
    mac = hmac.new(secret, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(secret: bytes, body: bytes, header: str | None, now: datetime,
           window_seconds: int = DEFAULT_WINDOW_SECONDS) -> tuple[int, str]:
    """Check a signature header. Returns (timestamp, signature) for replay bookkeeping; raises SignatureError."""
    if not header:
        raise SignatureError(f"missing {HEADER} header")
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        t = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        raise SignatureError(f"malformed {HEADER} header: expected t=<unix>,v1=<hex>") from None
    if abs(now.timestamp() - t) > window_seconds:
        raise SignatureError(f"timestamp outside the {window_seconds} s replay window")
    expected = hmac.new(secret, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, given):
        raise SignatureError("signature does not match")
    return t, given
