"""A real Synapse homeserver on loopback, for tests and demos.

``start_synapse(directory, firebreak_url, integration, secret)`` writes a complete homeserver config (SQLite, media
store and logs inside ``directory``, no federation, rate limits off, server notices on, the Firebreak module loaded
when ``firebreak_url`` is given), starts ``python -m synapse.app.homeserver`` as a subprocess and waits for
``/health``. The returned :class:`SynapseServer` speaks the client and admin APIs with plain httpx so a test reads
like what a user does: register, create a room, upload, send an image, look at the event, download.

Only the test suite and the demo import this module; it needs ``matrix-synapse`` installed in the running Python.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from firebreak.integrations.matrix.events import parse_mxc

SERVER_NAME = "localhost"
MODULE_PATH = "firebreak.integrations.matrix.synapse_module.FirebreakModule"
_UNLIMITED = {"per_second": 10_000, "burst_count": 10_000}


class MatrixRequestError(Exception):
    """A client or admin API call answered with an error."""

    def __init__(self, response: httpx.Response) -> None:
        try:
            body: Any = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        self.status = response.status_code
        self.errcode: str | None = body.get("errcode")
        self.error: str | None = body.get("error")
        super().__init__(
            f"{response.request.method} {response.request.url.path}: HTTP {self.status} {self.errcode} {self.error}"
        )


@dataclass(frozen=True)
class MatrixUser:
    user_id: str
    access_token: str


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def homeserver_config(
    directory: Path,
    port: int,
    *,
    firebreak_url: str | None = None,
    integration: str = "matrix",
    secret: str = "",
    fail_open: bool = True,
    timeout: float = 5.0,
    event_retry_delay: float = 1.0,
    module_config: Mapping[str, Any] | None = None,
    registration_shared_secret: str,
) -> dict[str, Any]:
    """The homeserver.yaml content (as a dict; written as JSON, which YAML reads) for a loopback test server."""
    config: dict[str, Any] = {
        "server_name": SERVER_NAME,
        "public_baseurl": f"http://127.0.0.1:{port}/",
        "pid_file": str(directory / "homeserver.pid"),
        "listeners": [
            {
                "port": port,
                "bind_addresses": ["127.0.0.1"],
                "type": "http",
                "tls": False,
                "x_forwarded": False,
                "resources": [{"names": ["client"], "compress": False}],
            }
        ],
        "database": {"name": "sqlite3", "args": {"database": str(directory / "homeserver.db")}},
        "log_config": str(directory / "log.config"),
        "media_store_path": str(directory / "media_store"),
        "signing_key_path": str(directory / "signing.key"),
        "registration_shared_secret": registration_shared_secret,
        "macaroon_secret_key": secrets.token_hex(32),
        "form_secret": secrets.token_hex(32),
        "report_stats": False,
        "bcrypt_rounds": 4,  # registering test users should not take a third of a second each
        "enable_metrics": False,
        "trusted_key_servers": [],
        "suppress_key_server_warning": True,
        "enable_registration": False,
        "url_preview_enabled": False,
        "presence": {"enabled": False},
        "server_notices": {
            "system_mxid_localpart": "notices",
            "system_mxid_display_name": "Safety notices",
            "room_name": "Safety notices",
        },
        "rc_message": _UNLIMITED,
        "rc_registration": _UNLIMITED,
        "rc_login": {"address": _UNLIMITED, "account": _UNLIMITED, "failed_attempts": _UNLIMITED},
        "rc_admin_redaction": _UNLIMITED,
        "rc_joins": {"local": _UNLIMITED, "remote": _UNLIMITED},
        "rc_joins_per_room": _UNLIMITED,
        "rc_invites": {"per_room": _UNLIMITED, "per_user": _UNLIMITED, "per_issuer": _UNLIMITED},
        "rc_media_create": _UNLIMITED,
        "rc_room_creation": _UNLIMITED,
        "rc_reports": _UNLIMITED,
    }
    if firebreak_url is not None:
        config["modules"] = [
            {
                "module": MODULE_PATH,
                "config": {
                    "firebreak_url": firebreak_url,
                    "integration": integration,
                    "secret": secret,
                    "fail_open": fail_open,
                    "timeout": timeout,
                    "event_retry_delay": event_retry_delay,
                    **(module_config or {}),
                },
            }
        ]
    return config


def _log_config(directory: Path) -> dict[str, Any]:
    return {
        "version": 1,
        "formatters": {"precise": {"format": "%(asctime)s - %(name)s - %(levelname)s - %(request)s - %(message)s"}},
        "handlers": {
            "file": {
                "class": "logging.FileHandler",
                "formatter": "precise",
                "filename": str(directory / "homeserver.log"),
                "encoding": "utf8",
            }
        },
        "loggers": {"synapse.storage.SQL": {"level": "INFO"}},
        "root": {"level": "INFO", "handlers": ["file"]},
        "disable_existing_loggers": False,
    }


def _signing_key() -> str:
    # Synapse's key file format: "<algorithm> <version> <unpadded base64 of the 32-byte ed25519 seed>".
    seed = base64.b64encode(os.urandom(32)).decode().rstrip("=")
    return f"ed25519 a_{secrets.token_hex(2)} {seed}\n"


class SynapseServer:
    """A running Synapse subprocess and the client calls tests need. Close it (or use ``with``) to stop it."""

    def __init__(self, directory: Path, *, python: str | None = None, startup_timeout: float = 60.0,
                 **config: Any) -> None:
        self.directory = directory
        self.server_name = SERVER_NAME
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.registration_shared_secret = secrets.token_hex(16)
        self._python = python or sys.executable
        self._startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        directory.mkdir(parents=True, exist_ok=True)
        self.config_path = directory / "homeserver.yaml"
        self.config_path.write_text(
            json.dumps(
                homeserver_config(
                    directory, self.port, registration_shared_secret=self.registration_shared_secret, **config
                ),
                indent=2,
            )
            + "\n"
        )
        (directory / "log.config").write_text(json.dumps(_log_config(directory), indent=2) + "\n")
        (directory / "signing.key").write_text(_signing_key())
        self.http = httpx.Client(base_url=self.base_url, timeout=30.0)
        self._admin: MatrixUser | None = None

    # -- lifecycle --------------------------------------------------------------------------------------------

    def start(self) -> None:
        if self._process is not None:
            raise RuntimeError("Synapse is already running")
        with open(self.directory / "synapse.out", "ab") as out:
            self._process = subprocess.Popen(  # noqa: S603 - a fixed argv, no shell
                [self._python, "-m", "synapse.app.homeserver", "--config-path", str(self.config_path)],
                cwd=self.directory,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + self._startup_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                code = self._process.returncode
                self._process = None
                raise RuntimeError(f"Synapse exited with {code} during start-up:\n{self.log_tail()}")
            try:
                if self.http.get("/health", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"Synapse did not answer /health within {self._startup_timeout} s:\n{self.log_tail()}")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def close(self) -> None:
        self.stop()
        self.http.close()

    def __enter__(self) -> SynapseServer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def log_tail(self, lines: int = 60) -> str:
        parts = []
        for name in ("synapse.out", "homeserver.log"):
            path = self.directory / name
            if path.exists():
                parts.append(f"--- {name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:]))
        return "\n".join(parts)

    def log_contains(self, text: str) -> bool:
        """Whether Synapse's log (where the Firebreak module logs too) has this text."""
        log = self.directory / "homeserver.log"
        return log.exists() and text in log.read_text(errors="replace")

    # -- raw calls --------------------------------------------------------------------------------------------

    def request(self, method: str, path: str, *, user: MatrixUser | None = None, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", None) or {})
        if user is not None:
            headers["Authorization"] = f"Bearer {user.access_token}"
        return self.http.request(method, path, headers=headers, **kwargs)

    def call(self, method: str, path: str, *, user: MatrixUser | None = None, **kwargs: Any) -> dict[str, Any]:
        response = self.request(method, path, user=user, **kwargs)
        if response.status_code >= 400:
            raise MatrixRequestError(response)
        body: dict[str, Any] = response.json()
        return body

    # -- users ------------------------------------------------------------------------------------------------

    def register_user(self, localpart: str, *, admin: bool = False, displayname: str | None = None) -> MatrixUser:
        """Register through the shared-secret admin API (``/_synapse/admin/v1/register``)."""
        nonce = self.call("GET", "/_synapse/admin/v1/register")["nonce"]
        password = secrets.token_urlsafe(16)
        mac = hmac.new(self.registration_shared_secret.encode(), digestmod=hashlib.sha1)
        mac.update(b"\x00".join([nonce.encode(), localpart.encode(), password.encode(),
                                 b"admin" if admin else b"notadmin"]))
        body: dict[str, Any] = {"nonce": nonce, "username": localpart, "password": password, "admin": admin,
                                "mac": mac.hexdigest()}
        if displayname is not None:
            body["displayname"] = displayname
        result = self.call("POST", "/_synapse/admin/v1/register", json=body)
        return MatrixUser(result["user_id"], result["access_token"])

    @property
    def admin(self) -> MatrixUser:
        """A server admin, registered on first use."""
        if self._admin is None:
            self._admin = self.register_user(f"firebreak-admin-{secrets.token_hex(3)}", admin=True)
        return self._admin

    def adapter_config(self, **extra: Any) -> dict[str, Any]:
        """The ``MatrixAdapter`` config for this homeserver, with the admin's token."""
        return {"homeserver_url": self.base_url, "admin_token": self.admin.access_token, **extra}

    # -- rooms and events -------------------------------------------------------------------------------------

    def create_room(self, creator: MatrixUser, *, invite: Iterable[MatrixUser] = (), is_direct: bool = False,
                    public: bool = False, name: str | None = None, alias: str | None = None,
                    extra: Mapping[str, Any] | None = None) -> str:
        """A room; ``alias`` is the localpart of a ``#alias:server`` to publish for it; ``extra`` goes into the
        ``createRoom`` body as it is (e.g. ``power_level_content_override``)."""
        body: dict[str, Any] = {
            "preset": "public_chat" if public else ("trusted_private_chat" if is_direct else "private_chat"),
            "visibility": "public" if public else "private",
            "invite": [u.user_id for u in invite],
            "is_direct": is_direct,
        }
        if name is not None:
            body["name"] = name
        if alias is not None:
            body["room_alias_name"] = alias
        body.update(extra or {})
        room_id: str = self.call("POST", "/_matrix/client/v3/createRoom", user=creator, json=body)["room_id"]
        return room_id

    def mark_direct(self, user: MatrixUser, other: MatrixUser, room_id: str) -> None:
        """What a client does for a direct chat: list the room under ``other`` in ``user``'s ``m.direct``."""
        path = f"/_matrix/client/v3/user/{quote(user.user_id, safe='')}/account_data/m.direct"
        response = self.request("GET", path, user=user)
        direct: dict[str, list[str]] = response.json() if response.status_code == 200 else {}
        direct.setdefault(other.user_id, []).append(room_id)
        self.call("PUT", path, user=user, json=direct)

    def join(self, user: MatrixUser, room_id: str) -> None:
        self.call("POST", f"/_matrix/client/v3/join/{quote(room_id, safe='')}", user=user, json={})

    def leave(self, user: MatrixUser, room_id: str) -> None:
        self.call("POST", f"/_matrix/client/v3/rooms/{quote(room_id, safe='')}/leave", user=user, json={})

    def upload(self, user: MatrixUser, data: bytes, *, content_type: str = "image/png",
               filename: str = "image.png") -> str:
        """Upload media; returns the ``mxc://`` URI. Raises MatrixRequestError when the homeserver refuses it."""
        response = self.request("POST", "/_matrix/media/v3/upload", user=user, params={"filename": filename},
                                content=data, headers={"Content-Type": content_type})
        if response.status_code >= 400:
            raise MatrixRequestError(response)
        uri: str = response.json()["content_uri"]
        return uri

    def send(self, user: MatrixUser, room_id: str, content: Mapping[str, Any],
             event_type: str = "m.room.message") -> str:
        txn = uuid.uuid4().hex
        path = f"/_matrix/client/v3/rooms/{quote(room_id, safe='')}/send/{quote(event_type, safe='')}/{txn}"
        event_id: str = self.call("PUT", path, user=user, json=dict(content))["event_id"]
        return event_id

    def send_image(self, user: MatrixUser, room_id: str, mxc: str, *, body: str = "image.png",
                   mimetype: str = "image/png", msgtype: str = "m.image", size: int | None = None) -> str:
        info: dict[str, Any] = {"mimetype": mimetype}
        if size is not None:
            info["size"] = size
        return self.send(user, room_id, {"msgtype": msgtype, "body": body, "url": mxc, "info": info})

    def send_text(self, user: MatrixUser, room_id: str, text: str) -> str:
        return self.send(user, room_id, {"msgtype": "m.text", "body": text})

    def redact(self, user: MatrixUser, room_id: str, event_id: str, reason: str | None = None) -> str:
        path = (f"/_matrix/client/v3/rooms/{quote(room_id, safe='')}/redact/{quote(event_id, safe='')}/"
                f"{uuid.uuid4().hex}")
        redaction_id: str = self.call("PUT", path, user=user, json={"reason": reason} if reason else {})["event_id"]
        return redaction_id

    def get_event(self, user: MatrixUser, room_id: str, event_id: str) -> dict[str, Any]:
        """The event as ``user`` sees it through the client API (a redacted event has empty content)."""
        return self.call("GET", f"/_matrix/client/v3/rooms/{quote(room_id, safe='')}/event/{quote(event_id, safe='')}",
                         user=user)

    def download(self, user: MatrixUser, mxc: str) -> httpx.Response:
        """Fetch media through the authenticated media API; the caller looks at the status."""
        server, media_id = parse_mxc(mxc)
        return self.request("GET", f"/_matrix/client/v1/media/download/{server}/{media_id}", user=user)


def start_synapse(directory: Path, firebreak_url: str | None = None, integration: str = "matrix",
                  secret: str = "", **options: Any) -> SynapseServer:
    """Start a homeserver in ``directory``; with ``firebreak_url`` the Firebreak module is loaded and calls it.

    ``options``: ``fail_open``, ``timeout``, ``event_retry_delay`` and ``module_config`` (more module config keys),
    ``python`` (an interpreter with Synapse and Firebreak installed; default this one), ``startup_timeout``.
    """
    server = SynapseServer(directory, firebreak_url=firebreak_url, integration=integration, secret=secret, **options)
    try:
        server.start()
    except BaseException:
        server.close()
        raise
    return server
