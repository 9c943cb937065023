"""HMAC-SHA256 request signing for the webhook integration, in both directions.

Header: ``Firebreak-Signature: t=<unix seconds>,n=<nonce>,v1=<hex HMAC-SHA256(secret, "<t>.<n>." + body)>``.
A request is accepted when the signature matches, ``t`` is within the replay window of the
receiver's clock, and the same signature was not seen before within that window. The nonce
makes two identical requests in the same second distinct; a header without ``n`` is also
accepted (the MAC is then over ``"<t>." + body``), so the same file sent twice in one second
by such a sender is refused as a replay.

The header comes from anyone on the network, so :func:`parse_header` is total: whatever it is given
(any text, any bytes, huge or negative numbers, ``nan``, repeated keys, non-ASCII) it either returns a
:class:`SignatureHeader` or raises :class:`SignatureError` with a :class:`Reason`, never anything else.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

HEADER = "Firebreak-Signature"
DEFAULT_WINDOW_SECONDS = 300

# A well-formed header is about 150 characters (t: 10 digits, n: up to 64, v1: 64); anything much longer is not
# one, and is refused before it is split.
MAX_HEADER_CHARS = 1024
# t is Unix seconds as 1 to 11 ASCII digits without leading zeros: 0 up to the year 5138. A wider range would
# only admit values the replay window refuses anyway, and bounding it keeps every comparison on small integers.
_TIMESTAMP = re.compile(r"0|[1-9][0-9]{0,10}")
_NONCE = re.compile(r"[A-Za-z0-9]{1,64}")
# A MAC of the wrong length is a signature that does not match (it is compared, and fails), not a malformed header.
_MAC = re.compile(r"[0-9a-fA-F]{1,128}")
_EXPECTED = "expected t=<unix seconds>,n=<nonce>,v1=<64 hex digits>"


class Reason(StrEnum):
    """Why a signature was refused: a stable code for logs and tests; the message says it in words."""

    MISSING = "missing"
    MALFORMED = "malformed"
    EXPIRED = "expired"
    MISMATCH = "mismatch"


class SignatureError(Exception):
    """A refused signature. ``str(exc)`` is the reason in words (it goes to the caller and the audit log)."""

    def __init__(self, message: str, reason: Reason = Reason.MALFORMED) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class SignatureHeader:
    t: int  # Unix seconds
    nonce: str | None  # ASCII letters and digits
    mac: str  # lower-case hex digits (64 when well made)

    def render(self) -> str:
        nonce = f"n={self.nonce}," if self.nonce is not None else ""
        return f"t={self.t},{nonce}v1={self.mac}"


def _malformed(why: str) -> SignatureError:
    return SignatureError(f"malformed {HEADER} header: {why}", Reason.MALFORMED)


def parse_header(header: str | bytes | None) -> SignatureHeader:
    """The parts of a signature header, checked for form only (not the MAC, not the time)."""
    if header is None or not header:
        raise SignatureError(f"missing {HEADER} header", Reason.MISSING)
    if not isinstance(header, str | bytes):
        raise _malformed("not text")
    if len(header) > MAX_HEADER_CHARS:
        raise _malformed(f"longer than {MAX_HEADER_CHARS} characters")
    if isinstance(header, bytes):
        header = header.decode("latin-1")  # as HTTP servers decode header bytes; non-ASCII is refused next
    if not header.isascii():
        raise _malformed("it must be ASCII")
    parts: dict[str, str] = {}
    for part in header.split(","):
        part = part.strip(" \t")
        if not part:
            continue  # a trailing comma, or ", ," between parts: harmless
        key, equals, value = part.partition("=")
        key, value = key.strip(" \t"), value.strip(" \t")
        if not equals:
            raise _malformed(f"{part[:20]!r} is not key=value; {_EXPECTED}")
        if key in parts:
            raise _malformed(f"{key[:20]!r} appears twice")
        parts[key] = value  # keys other than t, n, v1 are ignored: room for a later scheme beside v1
    if "t" not in parts or "v1" not in parts:
        raise _malformed(_EXPECTED)
    t, nonce, mac = parts["t"], parts.get("n"), parts["v1"]
    if not _TIMESTAMP.fullmatch(t):
        raise _malformed("t must be Unix seconds, 1 to 11 digits")
    if nonce is not None and not _NONCE.fullmatch(nonce):
        raise _malformed("the nonce must be 1-64 letters or digits")
    if not _MAC.fullmatch(mac):
        raise _malformed("v1 must be hex digits (64 for HMAC-SHA256)")
    return SignatureHeader(t=int(t), nonce=nonce, mac=mac.lower())


def _mac(secret: bytes, t: int, nonce: str | None, body: bytes) -> str:
    prefix = f"{t}.{nonce}." if nonce is not None else f"{t}."
    return hmac.new(secret, prefix.encode() + body, hashlib.sha256).hexdigest()


def sign(secret: bytes, body: bytes, when: datetime, nonce: str | None = None) -> str:
    t = int(when.timestamp())
    nonce = nonce if nonce is not None else secrets.token_hex(8)
    return f"t={t},n={nonce},v1={_mac(secret, t, nonce, body)}"


def verify(secret: bytes, body: bytes, header: str | bytes | None, now: datetime,
           window_seconds: int = DEFAULT_WINDOW_SECONDS) -> tuple[int, str]:
    """Check a signature header. Returns (timestamp, signature) for replay bookkeeping; raises SignatureError.

    The signature returned is the MAC in lower case, so a replay with the hex digits' case changed is still
    recognised as the same signature.
    """
    pending = begin_verify(secret, header, now, window_seconds)
    pending.update(body)
    return pending.finish()


class PendingSignature:
    """A signature whose header and time were checked, waiting for the body: feed it in pieces, then ``finish``.

    For large bodies read from the network: the body need not be in memory to be checked.
    """

    def __init__(self, secret: bytes, parsed: SignatureHeader) -> None:
        prefix = f"{parsed.t}.{parsed.nonce}." if parsed.nonce is not None else f"{parsed.t}."
        self._parsed = parsed
        self._mac = hmac.new(secret, prefix.encode(), hashlib.sha256)

    def update(self, chunk: bytes) -> None:
        self._mac.update(chunk)

    def finish(self) -> tuple[int, str]:
        """(timestamp, signature) as :func:`verify` gives them; raises SignatureError when the MAC differs."""
        if not hmac.compare_digest(self._mac.hexdigest().encode("ascii"), self._parsed.mac.encode("ascii")):
            raise SignatureError("signature does not match", Reason.MISMATCH)
        return self._parsed.t, self._parsed.mac


def begin_verify(secret: bytes, header: str | bytes | None, now: datetime,
                 window_seconds: int = DEFAULT_WINDOW_SECONDS) -> PendingSignature:
    """The checks of :func:`verify` that need no body (form, time window); raises SignatureError."""
    parsed = parse_header(header)
    # t is at most 11 digits, so the subtraction never overflows a float or meets a NaN.
    if abs(now.timestamp() - parsed.t) > window_seconds:
        raise SignatureError(f"timestamp outside the {window_seconds} s replay window", Reason.EXPIRED)
    return PendingSignature(secret, parsed)
