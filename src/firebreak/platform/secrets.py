"""Integration secrets: kept encrypted with the instance key, shown once when made."""

from __future__ import annotations

import base64
import secrets
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from firebreak.media.blobs import derive_key, instance_key
from firebreak.platform.models import PlatformIntegration

if TYPE_CHECKING:
    from firebreak.runtime import Runtime


def _aead(runtime: Runtime) -> AESGCM:
    return AESGCM(derive_key(instance_key(runtime.settings), "integration-secrets"))


def new_secret(runtime: Runtime, integration: PlatformIntegration) -> str:
    """Make a new shared secret for the integration; returns it (base64url) for the platform's engineers."""
    secret = secrets.token_urlsafe(32)
    nonce = secrets.token_bytes(12)
    sealed = _aead(runtime).encrypt(nonce, secret.encode(), integration.name.encode())
    integration.secret_encrypted = base64.b64encode(nonce + sealed).decode()
    return secret


def integration_secret(runtime: Runtime, integration: PlatformIntegration) -> bytes:
    if not integration.secret_encrypted:
        raise ValueError(f"integration {integration.name!r} has no secret")
    raw = base64.b64decode(integration.secret_encrypted)
    return _aead(runtime).decrypt(raw[:12], raw[12:], integration.name.encode())
