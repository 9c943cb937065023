"""The secrets of a victim's report: sealed contact details, the status token, the PIN, keyed client addresses.

- Contact details, the typed signature and the person's own words are sealed together with AES-GCM under the
  instance key's "victim-contacts" derivation, bound to the case number (associated data), so a sealed value copied
  onto another case does not open. The database and its backups hold no readable personal data of the reporter.
- The status link's token is 256 random bits, stored as its SHA-256 (as API tokens are): nothing to guess from.
- The PIN is 8 digits, stored as HMAC-SHA256 under the "victim-pin" key with the case number: a stolen database does
  not give the PINs without the instance key, and guesses are limited per case (``reports.limits``).
- Client addresses are never stored: rate limits count them under an HMAC with the "victim-rate-limit" key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from firebreak.core.keys import KeyRing

SEALED_PREFIX = "v1:"
TOKEN_BYTES = 32
PIN_DIGITS = 8


class SealError(Exception):
    """A sealed value that does not open (another instance key, another case, or altered)."""


@dataclass(frozen=True)
class ReportSecrets:
    """Keys for one instance, derived once (purposes are storage keys: never rename one)."""

    contacts_key: bytes
    pin_key: bytes
    address_key: bytes

    @classmethod
    def from_keys(cls, keys: KeyRing) -> ReportSecrets:
        return cls(keys.derive("victim-contacts"), keys.derive("victim-pin"), keys.derive("victim-rate-limit"))

    # -- sealing ---------------------------------------------------------------------------------------------------

    def seal(self, data: dict[str, Any], *, case: str) -> str:
        nonce = secrets.token_bytes(12)
        plain = json.dumps(data, separators=(",", ":"), ensure_ascii=False, sort_keys=True).encode()
        sealed = AESGCM(self.contacts_key).encrypt(nonce, plain, case.encode())
        return SEALED_PREFIX + base64.b64encode(nonce + sealed).decode("ascii")

    def open(self, sealed: str, *, case: str) -> dict[str, Any]:
        if not sealed.startswith(SEALED_PREFIX):
            raise SealError("not a sealed value")
        try:
            raw = base64.b64decode(sealed[len(SEALED_PREFIX):], validate=True)
            plain = AESGCM(self.contacts_key).decrypt(raw[:12], raw[12:], case.encode())
        except (InvalidTag, ValueError) as exc:
            raise SealError("the sealed value does not open with this instance's key for this case") from exc
        data: dict[str, Any] = json.loads(plain)
        return data

    # -- the status token and the PIN ------------------------------------------------------------------------------

    @staticmethod
    def new_token() -> str:
        return secrets.token_urlsafe(TOKEN_BYTES)

    @staticmethod
    def token_hash(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    @staticmethod
    def new_pin() -> str:
        return "".join(secrets.choice("0123456789") for _ in range(PIN_DIGITS))

    def pin_hash(self, case: str, pin: str) -> str:
        return hmac.new(self.pin_key, f"{case}:{normal_pin(pin)}".encode(), hashlib.sha256).hexdigest()

    def pin_matches(self, case: str, pin: str, stored: str) -> bool:
        return hmac.compare_digest(self.pin_hash(case, pin), stored)

    def address_key_of(self, address: str | None) -> str:
        digest = hmac.new(self.address_key, (address or "unknown").encode(), hashlib.sha256).hexdigest()
        return f"addr:{digest[:40]}"


def normal_pin(pin: str) -> str:
    """The digits of a PIN as typed: "1234 5678" and "1234-5678" are "12345678"."""
    return "".join(c for c in pin if c.isdigit())


def shown_pin(pin: str) -> str:
    return f"{pin[:4]}-{pin[4:]}"


__all__ = ["PIN_DIGITS", "ReportSecrets", "SealError", "normal_pin", "shown_pin"]
