"""The Firebreak module for Synapse.

Load it in ``homeserver.yaml``::

    modules:
      - module: firebreak.integrations.matrix.synapse_module.FirebreakModule
        config:
          firebreak_url: https://firebreak.example.org
          integration: matrix-main
          secret_path: /etc/synapse/firebreak.secret   # or secret: "..."
          fail_open: true
          timeout: 5

Three things happen (see docs/matrix.md):

- **Upload check** (``check_media_file_for_spam``): every uploaded file, and every remote file this homeserver
  downloads over federation, is posted as raw bytes to Firebreak's ``/v1/scan``. ``block`` refuses it (the client
  gets ``400 Bad content``; Synapse deletes the file). ``allow`` and ``review`` accept it. When Firebreak cannot be
  asked (down, slow, misconfigured) ``fail_open`` decides: accept (the default, so a Firebreak outage does not stop
  all uploads) or refuse. Thumbnails are not sent: they are derived from an original that was checked.
- **Placements** (``on_new_event``): media messages, stickers, media edits and redactions are posted as signed
  ``PlatformEvent`` JSON to ``/v1/events`` in a background process, retried with backoff, so Firebreak knows where
  each file was posted and can remove every copy later. Nothing here can block or fail event sending.
- **Restricted accounts** (``check_event_for_spam``, ``get_media_upload_limits_for_user``, and an admin-only
  endpoint): see :mod:`firebreak.integrations.matrix.restrictions`.

This module imports only Synapse, Twisted, the standard library and Firebreak's stdlib-only helpers
(:mod:`firebreak.platform.signing`, :mod:`firebreak.integrations.matrix.events`); it never blocks the reactor.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import Any, Literal, cast

from synapse.module_api import NOT_SPAM, MediaUploadLimit, ModuleApi, make_deferred_yieldable, run_in_background
from synapse.module_api.errors import Codes, ConfigError
from twisted.web.client import readBody
from twisted.web.http_headers import Headers

from firebreak.integrations.matrix.events import is_reported, media_message, members, platform_event
from firebreak.integrations.matrix.restrictions import PATH as RESTRICTIONS_PATH
from firebreak.integrations.matrix.restrictions import Restrictions, RestrictionsResource
from firebreak.platform import signing

logger = logging.getLogger(__name__)

INTEGRATION_HEADER = "Firebreak-Integration"
_SIGN_IN_THREAD_BYTES = 1 << 20  # hashing a large upload would stall the reactor for tens of milliseconds
_MAX_RETRY_DELAY = 60.0


@dataclass(frozen=True)
class ModuleConfig:
    firebreak_url: str
    integration: str
    secret: bytes
    fail_open: bool = True
    timeout: float = 5.0
    scan_media: bool = True
    report_events: bool = True
    restrictions: bool = True
    restriction_info_uri: str | None = None
    event_attempts: int = 6
    event_retry_delay: float = 1.0


def _bool(config: Mapping[str, Any], key: str, default: bool) -> bool:
    value = config.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"'{key}' must be true or false, got {value!r}", ("config", key))
    return value


def _number(config: Mapping[str, Any], key: str, default: float, minimum: float) -> float:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise ConfigError(f"'{key}' must be a number >= {minimum}, got {value!r}", ("config", key))
    return float(value)


def _optional_url(config: Mapping[str, Any], key: str) -> str | None:
    value = config.get(key)
    if value is not None and (not isinstance(value, str) or not value.startswith(("http://", "https://"))):
        raise ConfigError(f"'{key}' must be an http(s) URL, got {value!r}", ("config", key))
    return value


def parse_module_config(config: Mapping[str, Any]) -> ModuleConfig:
    """Check the ``config:`` block; errors name the key (Synapse prints them with the module's path)."""
    if not isinstance(config, Mapping):
        raise ConfigError("the Firebreak module needs a config mapping")
    known = set(ModuleConfig.__dataclass_fields__) | {"secret_path"}
    unknown = sorted(set(config) - known)
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}", ("config",))

    url = config.get("firebreak_url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ConfigError(f"'firebreak_url' must be an http(s) URL, got {url!r}", ("config", "firebreak_url"))
    integration = config.get("integration")
    if not isinstance(integration, str) or not integration.strip():
        raise ConfigError("'integration' must name this integration as registered in Firebreak",
                          ("config", "integration"))

    secret_value = config.get("secret")
    secret_path = config.get("secret_path")
    if (secret_value is None) == (secret_path is None):
        raise ConfigError("give exactly one of 'secret' and 'secret_path'", ("config", "secret"))
    if secret_path is not None:
        try:
            secret_value = Path(str(secret_path)).read_text().strip()
        except OSError as e:
            raise ConfigError(f"cannot read 'secret_path' {secret_path}: {e}", ("config", "secret_path")) from None
    if not isinstance(secret_value, str) or not secret_value:
        raise ConfigError("the shared secret must be a non-empty string", ("config", "secret"))

    attempts = _number(config, "event_attempts", 6, 1)
    if attempts != int(attempts):
        raise ConfigError("'event_attempts' must be a whole number", ("config", "event_attempts"))
    return ModuleConfig(
        firebreak_url=url.rstrip("/"),
        integration=integration.strip(),
        secret=secret_value.encode(),
        fail_open=_bool(config, "fail_open", True),
        timeout=_number(config, "timeout", 5.0, 0.1),
        scan_media=_bool(config, "scan_media", True),
        report_events=_bool(config, "report_events", True),
        restrictions=_bool(config, "restrictions", True),
        restriction_info_uri=_optional_url(config, "restriction_info_uri"),
        event_attempts=int(attempts),
        # at least a second apart: a retry signed in the same second as the try before would carry the same
        # signature, which Firebreak refuses as a replay
        event_retry_delay=_number(config, "event_retry_delay", 1.0, 1.0),
    )


class _Signer:
    """Signs request bodies, never giving the same body the same signature twice.

    Firebreak refuses a signature it has already seen (replay protection), and a signature depends only on the body
    and the second it was made. Two uploads of the same file within one second would collide, and the second would
    be refused (then fail open). So a repeated body gets the next unused second; Firebreak accepts timestamps within
    its replay window either side of its clock.
    """

    def __init__(self, secret: bytes) -> None:
        self._secret = secret
        self._last: dict[bytes, int] = {}
        self._lock = threading.Lock()

    def sign(self, body: bytes) -> str:
        digest = hashlib.sha256(body).digest()
        with self._lock:
            now = int(time.time())
            last = self._last.get(digest)
            t = now if last is None or last < now else last + 1
            self._last[digest] = t
            if len(self._last) > 4096:
                self._last = {k: v for k, v in self._last.items() if v >= now}
        return signing.sign(self._secret, body, datetime.fromtimestamp(t, UTC))


class FirebreakUnavailable(Exception):
    """Firebreak could not be asked or did not answer sensibly."""


class FirebreakModule:
    """Synapse module: upload checks against Firebreak, and placements reported to it."""

    def __init__(self, config: ModuleConfig, api: ModuleApi) -> None:
        self._config = config
        self._api = api
        self._signer = _Signer(config.secret)
        self.restrictions = Restrictions(api)
        if config.scan_media:
            api.register_spam_checker_callbacks(check_media_file_for_spam=self.check_media_file_for_spam)
        if config.report_events:
            api.register_third_party_rules_callbacks(on_new_event=self.on_new_event)
        if config.restrictions:
            api.register_spam_checker_callbacks(check_event_for_spam=self.check_event_for_spam)
            try:
                api.register_media_repository_callbacks(get_media_upload_limits_for_user=self.media_upload_limits)
            except (AttributeError, TypeError):
                logger.warning("Firebreak: this Synapse has no get_media_upload_limits_for_user callback; restricted "
                               "accounts can still upload files (their media messages are refused)")
            api.register_web_resource(RESTRICTIONS_PATH, RestrictionsResource(api, self.restrictions))
        logger.info("Firebreak module: integration %r at %s (scan_media=%s, report_events=%s, restrictions=%s, "
                    "fail_open=%s)", config.integration, config.firebreak_url, config.scan_media,
                    config.report_events, config.restrictions, config.fail_open)

    @staticmethod
    def parse_config(config: dict[str, Any]) -> ModuleConfig:
        return parse_module_config(config)

    # -- talking to Firebreak -----------------------------------------------------------------------------------

    async def _post(self, path: str, body: bytes, content_type: str) -> tuple[int, bytes]:
        """POST a signed body; returns (status, response body). Raises on transport errors and the timeout."""
        from twisted.internet import reactor  # Synapse has installed its reactor by the time a request runs

        if len(body) > _SIGN_IN_THREAD_BYTES:
            signature = await self._api.defer_to_thread(self._signer.sign, body)
        else:
            signature = self._signer.sign(body)
        headers = Headers({
            b"Content-Type": [content_type.encode()],
            b"Accept": [b"application/json"],
            INTEGRATION_HEADER.encode(): [self._config.integration.encode()],
            signing.HEADER.encode(): [signature.encode()],
        })
        exchange = run_in_background(self._exchange, self._config.firebreak_url + path, body, headers)
        timed_out = False

        def give_up() -> None:
            nonlocal timed_out
            timed_out = True
            exchange.cancel()

        # Our own timer rather than Deferred.addTimeout: a cancelled Synapse request can fail with something other
        # than CancelledError, and the log should say plainly that Firebreak was too slow.
        timer = cast(Any, reactor).callLater(self._config.timeout, give_up)
        try:
            return await make_deferred_yieldable(exchange)
        except Exception:
            if timed_out:
                raise TimeoutError(f"no answer within {self._config.timeout:g} s") from None
            raise
        finally:
            if timer.active():
                timer.cancel()

    async def _exchange(self, url: str, body: bytes, headers: Headers) -> tuple[int, bytes]:
        response = await self._api.http_client.request("POST", url, data=body, headers=headers)
        content: bytes = await make_deferred_yieldable(readBody(response))
        return int(response.code), content

    async def scan(self, data: bytes) -> str:
        """Firebreak's verdict on these bytes: ``allow``, ``block`` or ``review``. Raises FirebreakUnavailable."""
        try:
            status, content = await self._post("/v1/scan", data, "application/octet-stream")
        except Exception as e:
            raise FirebreakUnavailable(f"{type(e).__name__}: {e}") from e
        if status != 200:
            raise FirebreakUnavailable(f"HTTP {status}: {content[:300]!r}")
        try:
            verdict = json.loads(content)["verdict"]
        except (ValueError, KeyError, TypeError):
            raise FirebreakUnavailable(f"unexpected answer: {content[:300]!r}") from None
        if verdict not in ("allow", "block", "review"):
            raise FirebreakUnavailable(f"unknown verdict {verdict!r}")
        return str(verdict)

    # -- upload check -------------------------------------------------------------------------------------------

    async def check_media_file_for_spam(
        self, file_wrapper: Any, file_info: Any
    ) -> Literal["NOT_SPAM"] | tuple[Codes, dict[str, Any]]:
        if getattr(file_info, "thumbnail", None) is not None:
            return NOT_SPAM
        buffer = BytesIO()
        await file_wrapper.write_chunks_to(buffer.write)
        data = buffer.getvalue()
        where = f"{getattr(file_info, 'server_name', None) or 'local'}/{getattr(file_info, 'file_id', '?')}"
        try:
            verdict = await self.scan(data)
        except FirebreakUnavailable as e:
            if self._config.fail_open:
                logger.error("Firebreak unavailable, accepting media %s unchecked (fail_open): %s", where, e)
                return NOT_SPAM
            logger.error("Firebreak unavailable, refusing media %s (fail_open is false): %s", where, e)
            return Codes.UNKNOWN, {"error": "The content check is unavailable; try again later."}
        if verdict == "block":
            logger.info("Firebreak blocked media %s (sha256 %s)", where, hashlib.sha256(data).hexdigest())
            return Codes.FORBIDDEN, {"error": "This file cannot be shared here."}
        return NOT_SPAM

    # -- restricted accounts: text yes, media no -------------------------------------------------------------------

    async def media_upload_limits(self, user_id: str) -> list[Any] | None:
        """A zero upload allowance for restricted accounts; None leaves everyone else to the configured limits."""
        if not await self.restrictions.is_restricted(user_id):
            return None
        return [MediaUploadLimit(max_bytes=0, time_period_ms=60_000, info_uri=self._config.restriction_info_uri)]

    async def check_event_for_spam(self, event: Any) -> Literal["NOT_SPAM"] | tuple[Codes, dict[str, Any]]:
        """Refuse media messages (also re-posts of media uploaded earlier) from restricted accounts."""
        if media_message(event) is None or not self._api.is_mine(event.sender):
            return NOT_SPAM
        if await self.restrictions.is_restricted(event.sender):
            return Codes.FORBIDDEN, {"error": "Your account is restricted: you cannot post photos, videos or files."}
        return NOT_SPAM

    # -- placements ---------------------------------------------------------------------------------------------

    async def on_new_event(self, event: Any, state: Mapping[tuple[str, str], Any]) -> None:
        try:
            if not is_reported(event):
                return
            payload = platform_event(event, state, direct_hint=await self._listed_as_direct(event.room_id, state))
        except Exception:
            logger.exception("Firebreak: could not describe event %s", getattr(event, "event_id", "?"))
            return
        if payload is None:
            return
        # Fire and forget: on_new_event runs before clients are told of the event, so it must return at once.
        self._api.run_as_background_process("firebreak_report_event", self.deliver, payload)

    async def _listed_as_direct(self, room_id: str, state: Mapping[tuple[str, str], Any]) -> bool:
        """Whether a local member of a room of at most two keeps it in their ``m.direct`` account data.

        That is where Matrix clients mark direct chats; the room state only shows it in the first invite."""
        people = members(state)
        if len(people) > 2:
            return False
        for user_id in people:
            if not self._api.is_mine(user_id):
                continue
            direct = await self._api.account_data_manager.get_global(user_id, "m.direct")
            if direct and any(room_id in (rooms or ()) for rooms in direct.values()):
                return True
        return False

    async def deliver(self, payload: Mapping[str, Any]) -> bool:
        """POST one PlatformEvent, retrying transport errors, timeouts, 408, 429 and 5xx with backoff."""
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        delay = self._config.event_retry_delay
        attempts = self._config.event_attempts
        for attempt in range(1, attempts + 1):
            try:
                status, content = await self._post("/v1/events", body, "application/json")
            except Exception as e:
                problem, retryable = f"{type(e).__name__}: {e}", True
            else:
                if 200 <= status < 300:
                    logger.debug("Firebreak accepted %s %s", payload.get("kind"), payload.get("event_id"))
                    return True
                problem, retryable = f"HTTP {status}: {content[:300]!r}", status >= 500 or status in (408, 429)
            if not retryable or attempt == attempts:
                logger.error("Firebreak did not take %s %s after %d attempt(s), dropping it: %s",
                             payload.get("kind"), payload.get("event_id"), attempt, problem)
                return False
            logger.warning("Firebreak did not take %s %s (attempt %d/%d), retrying in %.0f s: %s",
                           payload.get("kind"), payload.get("event_id"), attempt, attempts, delay, problem)
            await self._api.sleep(delay)
            delay = min(delay * 2, _MAX_RETRY_DELAY)
        return False
