"""Integration secrets: kept encrypted under the instance's ``integration-secrets`` key, shown once when made.

Stored as ``v2:`` + base64(nonce + AES-GCM sealed secret), the integration's name bound as associated data. A value
without the prefix was sealed under the key derivation used before HKDF and still opens.
"""

from __future__ import annotations

import base64
import secrets

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from firebreak.core.keys import KeyRing
from firebreak.platform.models import PlatformIntegration

PURPOSE = "integration-secrets"
VERSION = "v2:"


class IntegrationSecrets:
    """Seals and opens the shared secrets platforms sign their calls with."""

    def __init__(self, keys: KeyRing) -> None:
        self._aead = AESGCM(keys.derive(PURPOSE))
        self._legacy = AESGCM(keys.legacy(PURPOSE))

    def new_secret(self, integration: PlatformIntegration) -> str:
        """Make a new shared secret for the integration; returns it (base64url) for the platform's engineers."""
        secret = secrets.token_urlsafe(32)
        nonce = secrets.token_bytes(12)
        sealed = self._aead.encrypt(nonce, secret.encode(), integration.name.encode())
        integration.secret_encrypted = VERSION + base64.b64encode(nonce + sealed).decode()
        return secret

    def secret_of(self, integration: PlatformIntegration) -> bytes:
        stored = integration.secret_encrypted
        if not stored:
            raise ValueError(f"integration {integration.name!r} has no secret")
        aead = self._aead if stored.startswith(VERSION) else self._legacy
        raw = base64.b64decode(stored.removeprefix(VERSION))
        return aead.decrypt(raw[:12], raw[12:], integration.name.encode())
