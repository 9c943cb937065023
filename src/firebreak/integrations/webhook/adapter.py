"""The generic HTTP integration: Firebreak POSTs signed actions to the platform's action endpoint.

Request: ``POST <action_url>`` with JSON ``{"action": "remove_message", "target": {"chat_id", "message_id",
"media_id", "account_id", "reason"}, "params": {...}}`` and the headers ``Firebreak-Signature`` (see
:mod:`firebreak.platform.signing`) and ``Idempotency-Key`` (``<action>:<chat_id>:<message_id>:<media_id>:
<account_id>``, the same on every retry of one action). The platform answers 200/201/202/204 (done),
404/410 (not found), 409 (already done: counts as done), 429/5xx or no answer (retried with backoff), any
other status (failed, not retried; the start of the answer's body is kept as the reason). docs/webhook.md
is the platform engineer's guide. Media URLs in events are fetched with a signed GET to the URL itself.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar
from urllib.parse import urlparse

import httpx

from firebreak.platform import signing
from firebreak.platform.adapters import ActionResult, ActionTarget, FetchedMedia, FetchError, LinkTarget
from firebreak.platform.models import PlatformIntegration
from firebreak.platform.registry import AdapterContext


class WebhookAdapter:
    name: ClassVar[str] = "webhook"

    def __init__(self, *, action_url: str, secret: bytes, clock: Any, link_prefixes: list[str] | None = None,
                 timeout: float = 10.0, transport: httpx.BaseTransport | None = None,
                 max_media_bytes: int = 200 * 1024 * 1024) -> None:
        self.action_url = action_url
        self._secret = secret
        self._clock = clock
        self._prefixes = link_prefixes or []
        self._client = httpx.Client(timeout=timeout, transport=transport)
        self._max_media = max_media_bytes

    @classmethod
    def from_integration(cls, integration: PlatformIntegration, context: AdapterContext) -> WebhookAdapter:
        config = integration.config
        if not config.get("action_url"):
            raise ValueError(f"integration {integration.name!r}: config.action_url is not set")
        prefixes = config.get("link_prefixes") or []
        if isinstance(prefixes, str):  # one string, as `--set link_prefixes=a,b` is before the CLI splits it
            prefixes = [p.strip() for p in prefixes.split(",") if p.strip()]
        return cls(action_url=str(config["action_url"]), secret=context.secrets.secret_of(integration),
                   clock=context.clock, link_prefixes=[str(p) for p in prefixes],
                   max_media_bytes=context.settings.max_upload_bytes)

    def _post(self, action: str, target: ActionTarget) -> ActionResult:
        body = json.dumps({"action": action, "target": {
            "chat_id": target.chat_id, "message_id": target.message_id, "media_id": target.media_id,
            "account_id": target.account_id, "reason": target.reason}, "params": target.params},
            sort_keys=True).encode()
        key = f"{action}:{target.chat_id}:{target.message_id}:{target.media_id}:{target.account_id}"
        headers = {"Content-Type": "application/json", "Idempotency-Key": key,
                   signing.HEADER: signing.sign(self._secret, body, self._clock.now())}
        try:
            response = self._client.post(self.action_url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return ActionResult.retry(f"platform unreachable: {type(exc).__name__}: {exc}")
        code = response.status_code
        if code in (200, 201, 202, 204, 409):
            return ActionResult.done(f"HTTP {code}")
        if code in (404, 410):
            return ActionResult.not_found(f"HTTP {code}")
        if code == 429 or code >= 500:
            return ActionResult.retry(f"HTTP {code}: {response.text[:200]}")
        return ActionResult.failed(f"HTTP {code}: {response.text[:200]}")

    def remove_message(self, target: ActionTarget) -> ActionResult:
        return self._post("remove_message", target)

    def quarantine_media(self, target: ActionTarget) -> ActionResult:
        return self._post("quarantine_media", target)

    def restrict_account(self, target: ActionTarget) -> ActionResult:
        return self._post("restrict_account", target)

    def suspend_account(self, target: ActionTarget) -> ActionResult:
        return self._post("suspend_account", target)

    def suspend_chat(self, target: ActionTarget) -> ActionResult:
        return self._post("suspend_chat", target)

    def notify_user(self, target: ActionTarget) -> ActionResult:
        return self._post("notify_user", target)

    def restore_message(self, target: ActionTarget) -> ActionResult:
        return self._post("restore_message", target)

    def fetch_media(self, url: str) -> FetchedMedia:
        if urlparse(url).scheme not in ("http", "https"):
            raise FetchError(f"cannot fetch {url[:100]!r}: only http(s) URLs", retryable=False)
        headers = {signing.HEADER: signing.sign(self._secret, url.encode(), self._clock.now())}
        try:
            with self._client.stream("GET", url, headers=headers) as response:
                if response.status_code in (404, 410):
                    raise FetchError(f"media gone: HTTP {response.status_code}", retryable=False)
                if response.status_code >= 400:
                    raise FetchError(f"HTTP {response.status_code}", retryable=response.status_code >= 500)
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > self._max_media:
                        raise FetchError(f"media larger than {self._max_media} bytes", retryable=False)
                    chunks.append(chunk)
                return FetchedMedia(b"".join(chunks), response.headers.get("content-type"))
        except httpx.HTTPError as exc:
            raise FetchError(f"platform unreachable: {type(exc).__name__}", retryable=True) from None

    def message_link(self, chat_id: str, message_id: str) -> str | None:
        """``<first link prefix>/<chat>/<message>``, the form :meth:`parse_link` reads."""
        return f"{self._prefixes[0].rstrip('/')}/{chat_id}/{message_id}" if self._prefixes else None

    def parse_link(self, url: str) -> LinkTarget | None:
        """Links ``<prefix>/<chat_id>/<message_id>`` for each configured prefix."""
        for prefix in self._prefixes:
            if url.startswith(prefix.rstrip("/") + "/"):
                parts = url[len(prefix.rstrip("/")) + 1:].split("?")[0].strip("/").split("/")
                if len(parts) == 1 and parts[0]:
                    return LinkTarget(parts[0])
                if len(parts) == 2 and all(parts):
                    return LinkTarget(parts[0], parts[1])
        return None


def create(integration: PlatformIntegration, context: AdapterContext) -> WebhookAdapter:
    """The ``webhook`` entry point of ``firebreak.platform_adapters``."""
    return WebhookAdapter.from_integration(integration, context)
