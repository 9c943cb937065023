"""HMAC-SHA256 request signing for the webhook integration, in both directions.

Header: ``Firebreak-Signature: t=<unix seconds>,n=<nonce>,v1=<hex HMAC-SHA256(secret, "<t>.<n>." + body)>``.
A request is accepted when the signature matches, ``t`` is within the replay window of the
receiver's clock, and the same signature was not seen before within that window. The nonce
makes two identical requests in the same second distinct; a header without ``n`` is also
accepted (the MAC is then over ``"<t>." + body``), so the same file sent twice in one second
by such a sender is refused as a replay.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

HEADER = "Firebreak-Signature"
DEFAULT_WINDOW_SECONDS = 300


class SignatureError(Exception):
    pass


def _mac(secret: bytes, t: int, nonce: str | None, body: bytes) -> str:
    prefix = f"{t}.{nonce}." if nonce is not None else f"{t}."
    return hmac.new(secret, prefix.encode() + body, hashlib.sha256).hexdigest()


def sign(secret: bytes, body: bytes, when: datetime, nonce: str | None = None) -> str:
    t = int(when.timestamp())
    nonce = nonce if nonce is not None else secrets.token_hex(8)
    return f"t={t},n={nonce},v1={_mac(secret, t, nonce, body)}"


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
        raise SignatureError(f"malformed {HEADER} header: expected t=<unix>,n=<nonce>,v1=<hex>") from None
    nonce = parts.get("n")
    if nonce is not None and not (0 < len(nonce) <= 64 and nonce.isalnum()):
        raise SignatureError(f"malformed {HEADER} header: the nonce must be 1-64 letters or digits")
    if abs(now.timestamp() - t) > window_seconds:
        raise SignatureError(f"timestamp outside the {window_seconds} s replay window")
    expected = _mac(secret, t, nonce, body)
    if not hmac.compare_digest(expected, given):
        raise SignatureError("signature does not match")
    return t, given
