"""Actions on a Synapse homeserver through its client and admin APIs, as a :class:`PlatformAdapter`.

Every call uses one server-admin access token (``admin_token``). Which API each action uses, and why:

- ``remove_message``: redacts the event. Firebreak first checks the event (``GET /_synapse/admin/v1/fetch_event``)
  and whether it is already redacted (``GET /_synapse/admin/v1/rooms/<room>/context/<event>``). A local sender's
  event is redacted *as the sender* with a short-lived puppet token (``POST /_synapse/admin/v1/users/<user>/login``),
  which needs no change to the room; when that is impossible (remote sender, the sender left or was banned,
  deactivated, shadow-banned) the admin redacts it itself, after ``make_room_admin`` and a join if it lacks power.
  The redaction is then checked, so ``done`` means the content is gone.
- ``quarantine_media``: ``POST /_synapse/admin/v1/media/quarantine/<server>/<media_id>`` (local and cached remote
  media), checked with ``GET /_synapse/admin/v1/media/<server>/<media_id>``.
- ``suspend_account``: ``PUT /_synapse/admin/v1/suspend/<user>`` (MSC3823 suspension: the account can read and
  redact its own messages but not send, join or invite; reversible).
- ``restrict_account``: by ``restrict_mode`` or ``target.params["mode"]``: ``media`` (default; Firebreak's meaning of
  restricted: may post text, not media) through the Firebreak Synapse module's
  ``PUT /_synapse/client/firebreak/v1/restrictions``; ``shadow_ban``
  (``POST /_synapse/admin/v1/users/<user>/shadow_ban``: nothing they send reaches anyone); or ``rate_limit``
  (``POST /_synapse/admin/v1/users/<user>/override_ratelimit``; Synapse's floor is one message a second).
- ``suspend_chat``: blocks the room (``PUT /_synapse/admin/v1/rooms/<room>/block``): nobody on this homeserver can
  join it any more; members already in it stay.
- ``notify_user``: a server notice (``PUT /_synapse/admin/v1/send_server_notice/<txn>``; needs ``server_notices``
  in homeserver.yaml).
- ``restore_message``: impossible in Matrix (a redaction strips the content on every server): ``failed``.
- ``fetch_media``: ``GET /_matrix/client/v1/media/download/<server>/<media_id>`` (authenticated media).
- ``parse_link``: ``https://matrix.to/#/<room>/<event>``, ``matrix:roomid/...`` and ``matrix:r/...`` URIs, and web
  client permalinks ``<client>/#/room/<room>/<event>`` for each of ``link_prefixes``; room aliases are resolved
  to room ids (``GET /_matrix/client/v3/directory/room/<alias>``).
"""

from __future__ import annotations

import functools
import hashlib
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar
from urllib.parse import quote, unquote, urlsplit

import httpx

from firebreak.integrations.matrix.events import parse_mxc
from firebreak.platform.adapters import ActionResult, ActionTarget, FetchedMedia, FetchError, LinkTarget
from firebreak.platform.models import PlatformIntegration
from firebreak.platform.registry import AdapterContext

RESTRICT_MODES = ("media", "shadow_ban", "rate_limit")
RESTRICTIONS_PATH = "/_synapse/client/firebreak/v1/restrictions"  # served by the Firebreak Synapse module
_REASON_MAX = 500


class _Transient(Exception):
    """A transport error, timeout, 429 or 5xx: worth trying again later."""


class _Refused(Exception):
    """The homeserver will not do it as configured (e.g. the admin token is not valid): retrying will not help."""


def _q(value: str) -> str:
    return quote(value, safe="")


def _errcode(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return str(body.get("errcode")) if isinstance(body, dict) and body.get("errcode") else None


def _describe(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and ("errcode" in body or "error" in body):
        return f"HTTP {response.status_code} {body.get('errcode', '')}: {body.get('error', '')}".strip()
    return f"HTTP {response.status_code}"


def _action(fn: Callable[[MatrixAdapter, ActionTarget], ActionResult]
            ) -> Callable[[MatrixAdapter, ActionTarget], ActionResult]:
    @functools.wraps(fn)
    def run(self: MatrixAdapter, target: ActionTarget) -> ActionResult:
        try:
            return fn(self, target)
        except _Transient as e:
            return ActionResult.retry(str(e))
        except _Refused as e:
            return ActionResult.failed(str(e))

    return run


class MatrixAdapter:
    """A Synapse homeserver. Config keys:

    - ``homeserver_url`` (required): the client-server API base URL, e.g. ``https://matrix.example.org``;
    - ``admin_token`` or ``admin_token_file`` (one required): an access token of a Synapse server admin, or a file
      holding it (so the token need not be stored in Firebreak's database);
    - ``link_prefixes``: web client URLs whose permalinks ``<prefix>/#/room/...`` are this platform's
      (default ``["https://app.element.io"]``; matrix.to links are always recognised);
    - ``timeout`` (seconds, default 10);
    - ``restrict_mode``: ``media`` (default: no photos, videos or files; needs the Firebreak Synapse module),
      ``shadow_ban`` or ``rate_limit``;
    - ``restrict_messages_per_second`` (whole number >= 1, default 1) and ``restrict_burst_count`` (default 1) for
      ``rate_limit``;
    - ``max_media_bytes`` (default 200 MiB) for ``fetch_media``;
    - ``puppet_token_seconds`` (default 120): lifetime of the token used to redact as the sender.
    """

    name: ClassVar[str] = "matrix"
    # A redaction strips the content on every server: an appeal that succeeds cannot bring a message back.
    restores_messages: ClassVar[bool] = False

    def __init__(self, config: Mapping[str, Any], *, transport: httpx.BaseTransport | None = None) -> None:
        url = config.get("homeserver_url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValueError(f"matrix adapter: 'homeserver_url' must be an http(s) URL, got {url!r}")
        token = config.get("admin_token")
        token_file = config.get("admin_token_file")
        if token_file and not token:
            try:
                token = Path(str(token_file)).read_text().strip()
            except OSError as e:
                raise ValueError(f"matrix adapter: cannot read 'admin_token_file' {token_file}: {e}") from None
        if not isinstance(token, str) or not token:
            raise ValueError("matrix adapter: 'admin_token' or 'admin_token_file' (a Synapse server admin's access "
                             "token) is required")
        prefixes = config.get("link_prefixes", ["https://app.element.io"])
        if not isinstance(prefixes, list) or not all(isinstance(p, str) for p in prefixes):
            raise ValueError("matrix adapter: 'link_prefixes' must be a list of URLs")
        self.link_prefixes = [p.rstrip("/") for p in prefixes]
        self.restrict_mode = str(config.get("restrict_mode", "media"))
        if self.restrict_mode not in RESTRICT_MODES:
            raise ValueError(f"matrix adapter: 'restrict_mode' must be one of {RESTRICT_MODES}, "
                             f"got {self.restrict_mode!r}")
        self.homeserver_url = url.rstrip("/")
        # Synapse takes whole numbers only, and 0 means "no limit at all"
        self.restrict_messages_per_second = max(1, int(config.get("restrict_messages_per_second", 1)))
        self.restrict_burst_count = max(1, int(config.get("restrict_burst_count", 1)))
        self.max_media_bytes = int(config.get("max_media_bytes", 200 * 1024 * 1024))
        self.puppet_token_seconds = int(config.get("puppet_token_seconds", 120))
        self._token = token
        self._http = httpx.Client(base_url=self.homeserver_url, timeout=float(config.get("timeout", 10.0)),
                                  transport=transport, follow_redirects=False)
        self._admin_user_id: str | None = None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> MatrixAdapter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- plumbing ---------------------------------------------------------------------------------------------

    def _call(self, method: str, path: str, *, token: str | None = None, json: Any = None,
              params: Mapping[str, Any] | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token or self._token}"}
        try:
            response = self._http.request(method, path, headers=headers, json=json, params=params)
        except httpx.TransportError as e:
            raise _Transient(f"{method} {path.split('?')[0]}: {type(e).__name__}: {e}") from e
        if response.status_code >= 500 or response.status_code == 429:
            raise _Transient(f"{method} {path}: {_describe(response)}")
        return response

    @property
    def admin_user_id(self) -> str:
        if self._admin_user_id is None:
            response = self._call("GET", "/_matrix/client/v3/account/whoami")
            if response.status_code != 200:
                raise _Refused(f"the admin token does not work: {_describe(response)}")
            self._admin_user_id = str(response.json()["user_id"])
        return self._admin_user_id

    def _is_local(self, user_id: str) -> bool:
        return user_id.partition(":")[2] == self.admin_user_id.partition(":")[2]

    # -- messages ---------------------------------------------------------------------------------------------

    def _is_redacted(self, room_id: str, event_id: str) -> bool:
        response = self._call("GET", f"/_synapse/admin/v1/rooms/{_q(room_id)}/context/{_q(event_id)}",
                              params={"limit": 0})
        if response.status_code != 200:
            return False
        event = response.json().get("event", {})
        unsigned = event.get("unsigned") or {}
        return bool(event.get("redacted_because") or unsigned.get("redacted_because"))

    def _redact(self, room_id: str, event_id: str, reason: str, token: str | None) -> httpx.Response:
        body = {"reason": reason[:_REASON_MAX]} if reason else {}
        path = f"/_matrix/client/v3/rooms/{_q(room_id)}/redact/{_q(event_id)}/fbk-{uuid.uuid4().hex}"
        return self._call("PUT", path, token=token, json=body)

    def _redact_as_sender(self, sender: str, room_id: str, event_id: str, reason: str) -> str | None:
        """Redact with a short-lived token of the sender; returns what went wrong, or None."""
        valid_until = int(time.time() * 1000) + self.puppet_token_seconds * 1000
        login = self._call("POST", f"/_synapse/admin/v1/users/{_q(sender)}/login",
                           json={"valid_until_ms": valid_until})
        if login.status_code != 200:
            return f"cannot act as {sender}: {_describe(login)}"
        puppet = str(login.json()["access_token"])
        try:
            response = self._redact(room_id, event_id, reason, puppet)
            return None if response.status_code == 200 else f"as {sender}: {_describe(response)}"
        finally:
            try:
                self._call("POST", "/_matrix/client/v3/logout", token=puppet, json={})
            except _Transient:
                pass  # the token expires on its own within puppet_token_seconds

    def _redact_as_admin(self, room_id: str, event_id: str, reason: str) -> str | None:
        response = self._redact(room_id, event_id, reason, None)
        if response.status_code == 200:
            return None
        if response.status_code != 403:
            return f"as admin: {_describe(response)}"
        # Not in the room, or not enough power: borrow it from a local room admin, then join.
        grant = self._call("POST", f"/_synapse/admin/v1/rooms/{_q(room_id)}/make_room_admin", json={})
        if grant.status_code != 200:
            return f"as admin: cannot get power in the room: {_describe(grant)}"
        join = self._call("POST", f"/_matrix/client/v3/join/{_q(room_id)}", json={})
        if join.status_code != 200:
            return f"as admin: cannot join the room: {_describe(join)}"
        response = self._redact(room_id, event_id, reason, None)
        return None if response.status_code == 200 else f"as admin: {_describe(response)}"

    @_action
    def remove_message(self, target: ActionTarget) -> ActionResult:
        event_id = target.message_id
        if not event_id:
            return ActionResult.failed("remove_message needs the event id as message_id")
        found = self._call("GET", f"/_synapse/admin/v1/fetch_event/{_q(event_id)}")
        if found.status_code == 404:
            return ActionResult.not_found(f"no event {event_id} on this homeserver")
        if found.status_code != 200:
            return ActionResult.failed(f"cannot look up {event_id}: {_describe(found)}")
        event = found.json()["event"]
        room_id, sender = str(event["room_id"]), str(event["sender"])
        if target.chat_id and target.chat_id != room_id:
            return ActionResult.not_found(f"event {event_id} is in {room_id}, not in {target.chat_id}")
        if self._is_redacted(room_id, event_id):
            return ActionResult.done("already redacted")

        problems: list[str] = []
        if self._is_local(sender) and sender != self.admin_user_id:
            problem = self._redact_as_sender(sender, room_id, event_id, target.reason)
            if problem is None and self._is_redacted(room_id, event_id):
                return ActionResult.done(f"redacted as its sender {sender}")
            problems.append(problem or f"the redaction as {sender} did not take effect")
        problem = self._redact_as_admin(room_id, event_id, target.reason)
        if problem is None and self._is_redacted(room_id, event_id):
            return ActionResult.done("redacted by the server admin")
        problems.append(problem or "the admin's redaction did not take effect")
        return ActionResult.failed("; ".join(problems))

    def restore_message(self, target: ActionTarget) -> ActionResult:
        return ActionResult.failed(
            "Matrix cannot undo a redaction: the content is stripped on every homeserver in the room. "
            "Tell the sender they may post it again."
        )

    # -- media ------------------------------------------------------------------------------------------------

    @staticmethod
    def _media_ref(media_id: str | None) -> tuple[str, str] | None:
        if not media_id:
            return None
        try:
            return parse_mxc(media_id if media_id.startswith("mxc://") else f"mxc://{media_id}")
        except ValueError:
            return None

    @_action
    def quarantine_media(self, target: ActionTarget) -> ActionResult:
        ref = self._media_ref(target.media_id)
        if ref is None:
            return ActionResult.failed(f"quarantine_media needs an mxc:// URI as media_id, got {target.media_id!r}")
        server, media_id = ref
        info_path = f"/_synapse/admin/v1/media/{_q(server)}/{_q(media_id)}"
        info = self._call("GET", info_path)
        if info.status_code == 404:
            return ActionResult.not_found(f"this homeserver has no copy of mxc://{server}/{media_id}")
        if info.status_code != 200:
            return ActionResult.failed(f"cannot look up mxc://{server}/{media_id}: {_describe(info)}")
        media = info.json().get("media_info", {})
        if media.get("quarantined_by"):
            return ActionResult.done(f"already quarantined by {media['quarantined_by']}")
        if media.get("safe_from_quarantine"):
            return ActionResult.failed(f"mxc://{server}/{media_id} is protected from quarantine by a homeserver "
                                       "admin (POST /_synapse/admin/v1/media/unprotect/<media_id> to allow it)")
        response = self._call("POST", f"/_synapse/admin/v1/media/quarantine/{_q(server)}/{_q(media_id)}", json={})
        if response.status_code != 200:
            return ActionResult.failed(f"quarantine refused: {_describe(response)}")
        check = self._call("GET", info_path)
        if check.status_code == 200 and check.json().get("media_info", {}).get("quarantined_by"):
            return ActionResult.done("quarantined")
        return ActionResult.failed(f"the quarantine of mxc://{server}/{media_id} did not take effect")

    def fetch_media(self, url: str) -> FetchedMedia:
        ref = self._media_ref(url)
        if ref is None:
            raise FetchError(f"not an mxc:// URI: {url!r}", retryable=False)
        server, media_id = ref
        path = f"/_matrix/client/v1/media/download/{_q(server)}/{_q(media_id)}"
        try:
            with self._http.stream("GET", path, headers={"Authorization": f"Bearer {self._token}"}) as response:
                if response.status_code != 200:
                    response.read()
                    retryable = response.status_code >= 500 or response.status_code == 429
                    raise FetchError(f"GET {url}: {_describe(response)}", retryable=retryable)
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > self.max_media_bytes:
                        raise FetchError(f"{url} is larger than {self.max_media_bytes} bytes", retryable=False)
                    chunks.append(chunk)
                mime = response.headers.get("content-type")
        except httpx.TransportError as e:
            raise FetchError(f"GET {url}: {type(e).__name__}: {e}", retryable=True) from e
        return FetchedMedia(b"".join(chunks), mime.split(";")[0].strip() if mime else None)

    # -- accounts and rooms -----------------------------------------------------------------------------------

    @_action
    def suspend_account(self, target: ActionTarget) -> ActionResult:
        user_id = target.account_id
        if not user_id:
            return ActionResult.failed("suspend_account needs the Matrix user id as account_id")
        user = self._call("GET", f"/_synapse/admin/v2/users/{_q(user_id)}")
        if user.status_code == 404:
            return ActionResult.not_found(f"no account {user_id} on this homeserver")
        if user.status_code != 200:
            return ActionResult.failed(f"cannot look up {user_id}: {_describe(user)}")
        if user.json().get("suspended"):
            return ActionResult.done("already suspended")
        response = self._call("PUT", f"/_synapse/admin/v1/suspend/{_q(user_id)}", json={"suspend": True})
        if response.status_code == 404:
            return ActionResult.not_found(f"no account {user_id} on this homeserver")
        if response.status_code != 200:
            return ActionResult.failed(f"suspension refused: {_describe(response)}")
        return ActionResult.done("suspended")

    @_action
    def restrict_account(self, target: ActionTarget) -> ActionResult:
        user_id = target.account_id
        if not user_id:
            return ActionResult.failed("restrict_account needs the Matrix user id as account_id")
        mode = str(target.params.get("mode", self.restrict_mode))
        if mode == "media":
            response = self._call("PUT", RESTRICTIONS_PATH,
                                  json={"user_id": user_id, "restricted": True, "reason": target.reason})
            if response.status_code == 404 and _errcode(response) == "M_UNRECOGNIZED":
                return ActionResult.failed("the Firebreak Synapse module (with restrictions enabled) is not installed "
                                           "on this homeserver; install it or set restrict_mode")
            changed = response.status_code == 200 and response.json().get("changed")
            done = "restricted: may post text, not media" if changed else "already restricted"
        elif mode == "shadow_ban":
            response = self._call("POST", f"/_synapse/admin/v1/users/{_q(user_id)}/shadow_ban", json={})
            done = "shadow-banned: nothing they send reaches anyone"
        elif mode == "rate_limit":
            limits = {"messages_per_second": max(1, int(target.params.get("messages_per_second",
                                                                          self.restrict_messages_per_second))),
                      "burst_count": max(1, int(target.params.get("burst_count", self.restrict_burst_count)))}
            response = self._call("POST", f"/_synapse/admin/v1/users/{_q(user_id)}/override_ratelimit",
                                  json=limits)
            done = f"rate-limited to {limits['messages_per_second']} message(s)/s, burst {limits['burst_count']}"
        else:
            return ActionResult.failed(f"unknown restrict mode {mode!r}; use one of {RESTRICT_MODES}")
        if response.status_code == 404:
            return ActionResult.not_found(f"no account {user_id} on this homeserver")
        if response.status_code != 200:
            return ActionResult.failed(f"restriction refused: {_describe(response)}")
        return ActionResult.done(done)

    @_action
    def suspend_chat(self, target: ActionTarget) -> ActionResult:
        room_id = target.chat_id
        if not room_id:
            return ActionResult.failed("suspend_chat needs the room id as chat_id")
        room = self._call("GET", f"/_synapse/admin/v1/rooms/{_q(room_id)}")
        if room.status_code in (400, 404):
            return ActionResult.not_found(f"no room {room_id} on this homeserver")
        if room.status_code != 200:
            return ActionResult.failed(f"cannot look up {room_id}: {_describe(room)}")
        block_path = f"/_synapse/admin/v1/rooms/{_q(room_id)}/block"
        status = self._call("GET", block_path)
        if status.status_code == 200 and status.json().get("block"):
            return ActionResult.done("already blocked")
        response = self._call("PUT", block_path, json={"block": True})
        if response.status_code != 200:
            return ActionResult.failed(f"block refused: {_describe(response)}")
        return ActionResult.done("blocked: nobody on this homeserver can join it")

    @_action
    def lift_restriction(self, target: ActionTarget) -> ActionResult:
        """Lift what Firebreak put on an account (its suspension, and its restriction in the configured mode) or, with
        ``chat_id`` alone, on a room (its block): an appeal succeeded, or the period it was set for ended. Firebreak
        keeps one standing per account, so an account active again has both lifted."""
        if not target.account_id:
            return self._unblock_room(target.chat_id or "")
        user_id = target.account_id
        user = self._call("GET", f"/_synapse/admin/v2/users/{_q(user_id)}")
        if user.status_code == 404:
            return ActionResult.not_found(f"no account {user_id} on this homeserver")
        if user.status_code != 200:
            return ActionResult.failed(f"cannot look up {user_id}: {_describe(user)}")
        lifted = []
        if user.json().get("suspended"):
            response = self._call("PUT", f"/_synapse/admin/v1/suspend/{_q(user_id)}", json={"suspend": False})
            if response.status_code != 200:
                return ActionResult.failed(f"lifting the suspension refused: {_describe(response)}")
            lifted.append("suspension lifted")
        mode = str(target.params.get("mode", self.restrict_mode))
        if mode == "media":
            response = self._call("PUT", RESTRICTIONS_PATH,
                                  json={"user_id": user_id, "restricted": False, "reason": target.reason})
            # Without the module nothing was restricted through it; any other refusal is an error.
            if response.status_code == 200 and response.json().get("changed"):
                lifted.append("may post media again")
            elif response.status_code != 200 and _errcode(response) != "M_UNRECOGNIZED":
                return ActionResult.failed(f"lifting the restriction refused: {_describe(response)}")
        elif mode == "shadow_ban" and user.json().get("shadow_banned"):
            response = self._call("DELETE", f"/_synapse/admin/v1/users/{_q(user_id)}/shadow_ban")
            if response.status_code != 200:
                return ActionResult.failed(f"lifting the shadow ban refused: {_describe(response)}")
            lifted.append("shadow ban lifted")
        elif mode == "rate_limit":
            path = f"/_synapse/admin/v1/users/{_q(user_id)}/override_ratelimit"
            current = self._call("GET", path)
            ours = {"messages_per_second": max(1, int(target.params.get("messages_per_second",
                                                                        self.restrict_messages_per_second))),
                    "burst_count": max(1, int(target.params.get("burst_count", self.restrict_burst_count)))}
            # Only the override Firebreak set: a homeserver admin's own (a bot's) is theirs to keep.
            if current.status_code == 200 and current.json() == ours:
                response = self._call("DELETE", path)
                if response.status_code != 200:
                    return ActionResult.failed(f"lifting the rate limit refused: {_describe(response)}")
                lifted.append("rate limit lifted")
        return ActionResult.done("active again: " + ", ".join(lifted) if lifted else "was active")

    def _unblock_room(self, room_id: str) -> ActionResult:
        if not room_id:
            return ActionResult.failed("lift_restriction needs the Matrix user id as account_id, or a room id")
        block_path = f"/_synapse/admin/v1/rooms/{_q(room_id)}/block"
        status = self._call("GET", block_path)
        if status.status_code in (400, 404):
            return ActionResult.not_found(f"no room {room_id} on this homeserver")
        if status.status_code != 200:
            return ActionResult.failed(f"cannot look up {room_id}: {_describe(status)}")
        if not status.json().get("block"):
            return ActionResult.done("was not blocked")
        response = self._call("PUT", block_path, json={"block": False})
        if response.status_code != 200:
            return ActionResult.failed(f"unblocking refused: {_describe(response)}")
        return ActionResult.done("unblocked: people can join it again")

    @_action
    def notify_user(self, target: ActionTarget) -> ActionResult:
        user_id = target.account_id
        if not user_id:
            return ActionResult.failed("notify_user needs the Matrix user id as account_id")
        message = str(target.params.get("message") or target.reason).strip()
        if not message:
            return ActionResult.failed("notify_user needs a message (params['message'] or reason)")
        # The same notice for the same decision is sent once: Synapse de-duplicates a transaction id per token.
        key = f"{user_id}\n{message}\n{target.params.get('notice_key', '')}"
        txn = "fbk-" + hashlib.sha256(key.encode()).hexdigest()[:32]
        response = self._call("PUT", f"/_synapse/admin/v1/send_server_notice/{txn}",
                              json={"user_id": user_id, "content": {"msgtype": "m.text", "body": message}})
        if response.status_code == 404:
            return ActionResult.not_found(f"no account {user_id} on this homeserver")
        if response.status_code != 200:
            return ActionResult.failed(f"server notice refused: {_describe(response)}")
        return ActionResult.done(f"server notice {response.json().get('event_id', '')}".strip())

    # -- links -----------------------------------------------------------------------------------------------

    def message_link(self, chat_id: str, message_id: str) -> str:
        """A matrix.to permalink, which every Matrix client opens."""
        return f"https://matrix.to/#/{quote(chat_id, safe='!')}/{quote(message_id, safe='$')}"

    def parse_link(self, url: str) -> LinkTarget | None:
        """The room (and event) a Matrix link points at; None for links that are not Matrix links."""
        found = _link_parts(url.strip(), self.link_prefixes)
        if found is None:
            return None
        room, event = found
        if room.startswith("#"):
            room = self._resolve_alias(room)
        return LinkTarget(chat_id=room, message_id=event)

    def _resolve_alias(self, alias: str) -> str:
        """The room id behind an alias; the alias itself when it cannot be resolved now (it then finds nothing)."""
        try:
            response = self._call("GET", f"/_matrix/client/v3/directory/room/{_q(alias)}")
        except _Transient:
            return alias
        if response.status_code != 200:
            return alias
        room_id = response.json().get("room_id")
        return room_id if isinstance(room_id, str) and room_id.startswith("!") else alias


_SIGILS = {"roomid": "!", "r": "#", "e": "$"}


def _link_parts(url: str, prefixes: list[str]) -> tuple[str, str | None] | None:
    """``(room id or alias, event id or None)`` from a matrix.to link, a ``matrix:`` URI or a client permalink."""
    segments: list[str]
    if url.lower().startswith("matrix:"):
        # MSC2312 / spec URI: matrix:roomid/<id>[/e/<event>] or matrix:r/<alias>[/e/<event>]
        parts = [unquote(p) for p in url[len("matrix:"):].split("?")[0].split("#")[0].split("/")]
        if len(parts) not in (2, 4) or parts[0] not in ("roomid", "r") or not parts[1]:
            return None
        if len(parts) == 4 and (parts[2] != "e" or not parts[3]):
            return None
        room = _SIGILS[parts[0]] + parts[1]
        return room, ("$" + parts[3]) if len(parts) == 4 else None
    split = urlsplit(url)
    if split.scheme not in ("http", "https"):
        return None
    base = f"{split.scheme}://{split.netloc}{split.path}".rstrip("/").lower()
    fragment = split.fragment.split("?")[0]
    if split.netloc.lower() == "matrix.to" and fragment.startswith("/"):
        segments = fragment[1:].split("/")
    elif base in [p.lower() for p in prefixes] and fragment.startswith("/room/"):
        segments = fragment[len("/room/"):].split("/")
    else:
        return None
    segments = [unquote(s) for s in segments if s]
    if not segments or len(segments) > 2 or segments[0][:1] not in ("!", "#"):
        return None
    if len(segments) == 2 and not segments[1].startswith("$"):
        return None
    return segments[0], segments[1] if len(segments) == 2 else None


def create(integration: PlatformIntegration, context: AdapterContext) -> MatrixAdapter:
    """The ``matrix`` entry point of ``firebreak.platform_adapters``."""
    return MatrixAdapter(integration.config)
