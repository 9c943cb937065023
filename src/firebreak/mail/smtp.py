"""The hotline's SMTP listener.

Authorities' mail servers deliver takedown orders here. The listener accepts mail only for the hotline
addresses, refuses oversized mail before storing a byte, offers STARTTLS when a certificate is configured, and
hands each message to `on_message` *before* answering 250: if the callback raises (the database is down, the
disk is full), the sender's server gets a 451 and retries later, so an order is never acknowledged and lost.

The callback runs in a small thread pool, never on the event loop, so it may block on a database. It may run
concurrently for different messages, and, because a connection can drop between our commit and our 250, the
same message may be delivered twice: deduplicate on Message-ID plus a hash of the raw bytes.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, AnyStr

from aiosmtpd.smtp import SMTP, Envelope, Session

if TYPE_CHECKING:
    from firebreak.core.config import Settings

log = logging.getLogger(__name__)

DEFAULT_MAX_MESSAGE_BYTES = 50 * 1024 * 1024
Clock = Callable[[], datetime]
OnMessage = Callable[["InboundMail"], None]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class InboundMail:
    """One accepted message, exactly as it arrived."""

    envelope_from: str  # MAIL FROM; "" for bounces
    envelope_to: tuple[str, ...]  # the accepted RCPT TO addresses, lowercased
    peer: str  # the sending server's IP address
    peer_port: int | None
    received_at: datetime  # aware UTC, from the injected clock
    raw: bytes = field(repr=False)  # the DATA as received, never rewritten (DKIM is checked on these bytes)
    tls: bool = False  # whether the session used STARTTLS
    helo: str | None = None  # the name the sending server gave in EHLO/HELO

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the raw bytes: with the Message-ID, the key that recognises a redelivered message."""
        return hashlib.sha256(self.raw).hexdigest()


@dataclass(frozen=True, slots=True)
class ListenerConfig:
    host: str = "127.0.0.1"
    port: int = 2525  # 0 picks a free port (see SmtpListener.port)
    hotline_addresses: frozenset[str] = frozenset()  # accepted recipients; anything else gets 550
    accept_any_recipient: bool = False  # only for sinks in tests and demos
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    tls_cert: Path | None = None
    tls_key: Path | None = None
    require_starttls: bool = False  # refuse MAIL before STARTTLS (530)
    server_name: str = ""  # the name in our greeting; defaults to the first hotline address's domain
    idle_timeout_seconds: float = 300.0
    max_recipients: int = 50
    callback_threads: int = 4

    def __post_init__(self) -> None:
        addresses = frozenset(a.strip().lower() for a in self.hotline_addresses if a.strip())
        object.__setattr__(self, "hotline_addresses", addresses)
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key must be set together")
        if self.require_starttls and self.tls_cert is None:
            raise ValueError("require_starttls needs tls_cert and tls_key")
        if not addresses and not self.accept_any_recipient:
            raise ValueError("hotline_addresses is empty: the listener would refuse every message")
        if self.max_message_bytes < 1024:
            raise ValueError("max_message_bytes must be at least 1024")
        if not self.server_name:
            domain = sorted(addresses)[0].rpartition("@")[2] if addresses else "localhost"
            object.__setattr__(self, "server_name", domain or "localhost")

    @classmethod
    def from_settings(
        cls, settings: Settings, *, extra_addresses: Iterable[str] = (), **overrides: Any
    ) -> ListenerConfig:
        values: dict[str, Any] = {
            "host": settings.smtp_listen_host,
            "port": settings.smtp_listen_port,
            "hotline_addresses": frozenset([settings.hotline_address, *extra_addresses]),
            "tls_cert": settings.smtp_tls_cert,
            "tls_key": settings.smtp_tls_key,
        }
        values.update(overrides)
        return cls(**values)

    def tls_context(self) -> ssl.SSLContext | None:
        if self.tls_cert is None or self.tls_key is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(self.tls_cert), str(self.tls_key))
        return context


def _too_big(limit: int) -> str:
    return (
        f"552 5.3.4 Message too big: this hotline accepts messages of at most {limit // (1024 * 1024)} MB"
        f" ({limit} bytes). Please send links or a smaller set of files per message."
    )


class _HotlineSMTP(SMTP):
    """aiosmtpd's SMTP with our wording for oversized mail and a record of open connections for shutdown."""

    # Over-long lines break RFC 5321 but are common; refusing them would bounce an order back to the authority.
    line_length_limit = 128 * 1024

    def __init__(self, handler: _Handler, listener: SmtpListener, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._listener = listener
        self.delivering = False  # between the end of DATA and our answer to it

    async def push(self, status: AnyStr) -> None:
        text = status.decode("utf-8", "replace") if isinstance(status, bytes) else str(status)
        try:
            if text.startswith("552 Error"):
                await super().push(_too_big(self._listener.config.max_message_bytes))
            else:
                await super().push(status)
        finally:
            self.delivering = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._listener._connections.add(self)
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        try:
            super().connection_lost(error)
        finally:
            self._listener._connections.discard(self)


class _Handler:
    def __init__(self, listener: SmtpListener) -> None:
        self._listener = listener

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        config = self._listener.config
        if len(envelope.rcpt_tos) >= config.max_recipients:
            return "452 4.5.3 Too many recipients"
        normalised = address.strip().lower()
        if not config.accept_any_recipient and normalised not in config.hotline_addresses:
            return f"550 5.1.1 <{address}>: no such mailbox here"
        envelope.rcpt_tos.append(normalised)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        listener = self._listener
        if isinstance(server, _HotlineSMTP):
            server.delivering = True
        peer = session.peer
        host, port = (peer[0], peer[1]) if isinstance(peer, tuple) and len(peer) >= 2 else (str(peer), None)
        raw = envelope.original_content or b""
        mail_from = envelope.mail_from or ""
        try:
            received_at = listener.clock()
            if received_at.tzinfo is None:
                raise ValueError("the clock returned a naive datetime")
            inbound = InboundMail(
                envelope_from=mail_from if mail_from != "<>" else "",
                envelope_to=tuple(envelope.rcpt_tos),
                peer=str(host),
                peer_port=int(port) if port is not None else None,
                received_at=received_at.astimezone(UTC),
                raw=bytes(raw),
                tls=session.ssl is not None,
                helo=session.host_name,
            )
        except Exception:
            log.exception("could not record an incoming message")
            return "451 4.3.0 Temporary failure, please try again later"
        return await listener._deliver(inbound)


class SmtpListener:
    """An SMTP server on its own thread and event loop. `start()` returns once it accepts connections."""

    def __init__(self, config: ListenerConfig, on_message: OnMessage, *, clock: Clock = _utc_now) -> None:
        self.config = config
        self.on_message = on_message
        self.clock = clock
        self._connections: set[_HotlineSMTP] = set()
        self._in_flight: set[asyncio.Future[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._bound: tuple[str, int] | None = None
        self._startup_error: BaseException | None = None

    # ---- life cycle ------------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._bound is None:
            raise RuntimeError("the listener is not running")
        return self._bound[1]

    @property
    def host(self) -> str:
        return self._bound[0] if self._bound else self.config.host

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self, timeout: float = 10.0) -> None:
        if self._thread is not None:
            raise RuntimeError("the listener is already running")
        tls = self.config.tls_context()  # a bad certificate fails here, on the caller's thread
        self._startup_error = None
        self._loop = asyncio.new_event_loop()
        self._executor = ThreadPoolExecutor(self.config.callback_threads, thread_name_prefix="firebreak-smtp-cb")
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(self._loop, tls, ready), name="firebreak-smtp", daemon=True
        )
        self._thread.start()
        if not ready.wait(timeout) or self._startup_error is not None:
            error = self._startup_error
            self._thread.join(timeout)
            self._executor.shutdown(wait=False)
            self._thread = self._loop = self._executor = None
            if error is not None:
                raise error
            raise TimeoutError("the SMTP listener did not start in time")
        log.info("SMTP listener on %s:%s", self.host, self.port)

    def stop(self, grace_seconds: float = 5.0) -> None:
        """Stop accepting mail, let messages being handed over finish (up to `grace_seconds`), close sessions."""
        loop, thread, executor = self._loop, self._thread, self._executor
        if loop is None or thread is None or executor is None:
            return
        try:
            future = asyncio.run_coroutine_threadsafe(self._shutdown(grace_seconds), loop)
            future.result(grace_seconds + 10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            executor.shutdown(wait=True)
            self._thread = self._loop = self._executor = None
            self._server = None
            self._bound = None

    def __enter__(self) -> SmtpListener:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self, loop: asyncio.AbstractEventLoop, tls: ssl.SSLContext | None, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        try:
            config = self.config
            handler = _Handler(self)

            def factory() -> _HotlineSMTP:
                return _HotlineSMTP(
                    handler,
                    self,
                    data_size_limit=config.max_message_bytes,
                    enable_SMTPUTF8=True,
                    hostname=config.server_name,
                    ident="Firebreak hotline",
                    tls_context=tls,
                    require_starttls=config.require_starttls,
                    timeout=config.idle_timeout_seconds,
                    loop=loop,
                )

            server = loop.run_until_complete(loop.create_server(factory, host=config.host, port=config.port))
            sockname = server.sockets[0].getsockname()
            self._server = server
            self._bound = (str(sockname[0]), int(sockname[1]))
        except BaseException as exc:
            self._startup_error = exc
            loop.close()
            ready.set()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _shutdown(self, grace_seconds: float) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        # Messages being handed over get their answer (250 or 451) before their session is closed.
        deadline = time.monotonic() + grace_seconds
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=grace_seconds)
        while any(c.delivering for c in self._connections) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        for connection in list(self._connections):
            transport = connection.transport
            if isinstance(transport, asyncio.WriteTransport) and not transport.is_closing():
                try:
                    transport.write(b"421 4.3.2 Service shutting down, please try again later\r\n")
                    transport.close()
                except Exception:  # a half-closed TLS session; aborted below
                    log.debug("closing an SMTP session failed", exc_info=True)
        deadline = time.monotonic() + 2.0
        while self._connections and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        for connection in list(self._connections):
            for leftover in (connection.transport, connection._original_transport):
                if isinstance(leftover, asyncio.Transport):
                    try:
                        leftover.abort()
                    except Exception:
                        log.debug("aborting an SMTP session failed", exc_info=True)
        current = asyncio.current_task()
        tasks = [task for task in asyncio.all_tasks() if task is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(0)

    # ---- delivery --------------------------------------------------------------------------------------------

    async def _deliver(self, inbound: InboundMail) -> str:
        loop = asyncio.get_running_loop()
        if self._executor is None:  # pragma: no cover - only while stopping
            return "421 4.3.2 Service shutting down, please try again later"
        future: asyncio.Future[None] = loop.run_in_executor(self._executor, self.on_message, inbound)
        self._in_flight.add(future)
        future.add_done_callback(self._in_flight.discard)
        try:
            # Shielded: a dropped connection must not abandon a callback that is writing to the database.
            await asyncio.shield(future)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the hotline could not store a message from %s; answered 451", inbound.peer)
            return "451 4.3.0 Temporary failure storing the message, please try again later"
        return "250 2.0.0 OK: message accepted"
