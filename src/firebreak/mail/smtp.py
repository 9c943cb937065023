"""The hotline's SMTP listener.

Authorities' mail servers deliver takedown orders here. The listener accepts mail only for the hotline
addresses, refuses oversized mail before storing a byte, offers STARTTLS when a certificate is configured, and
hands each message to `on_message` *before* answering 250: if the callback raises (the database is down, the
disk is full), the sender's server gets a 451 and retries later, so an order is never acknowledged and lost.

The callback runs in a small thread pool, never on the event loop, so it may block on a database. It may run
concurrently for different messages, and, because a connection can drop between our commit and our 250, the
same message may be delivered twice: deduplicate on Message-ID plus a hash of the raw bytes.

Memory is bounded whatever the senders do (docs/mail.md, "Limits"): at most `max_sessions` sessions at once; the
DATA of each is held in memory up to `spool_threshold_bytes` and beyond that streamed to an unlinked temporary
file, encrypted with a key that lives only in this process; and the raw bytes handed to `on_message` at once are
at most `delivery_memory_bytes` (a message larger than that is handed over alone). Lines may end in CRLF or in a
bare LF; a line longer than LINE_LENGTH_LIMIT is refused, and the message ends only at CRLF "." CRLF.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import io
import logging
import os
import ssl
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, AnyStr

from aiosmtpd.smtp import SMTP, Envelope, Session
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

from firebreak.core.config import Settings

log = logging.getLogger(__name__)

DEFAULT_MAX_MESSAGE_BYTES = 50 * 1024 * 1024
DEFAULT_MAX_SESSIONS = 20
DEFAULT_SPOOL_THRESHOLD_BYTES = 1024 * 1024
DEFAULT_DELIVERY_MEMORY_BYTES = 64 * 1024 * 1024
# Over-long lines break RFC 5321 (1000 bytes) but are common; refusing them would bounce an order back to the
# authority. This also bounds the line buffer of each session.
LINE_LENGTH_LIMIT = 128 * 1024
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
    idle_timeout_seconds: float = 300.0  # with no command, or no byte of DATA, for this long the session is closed
    max_recipients: int = 50
    callback_threads: int = 4
    max_sessions: int = DEFAULT_MAX_SESSIONS  # open sessions at once; more get 421 and are closed
    spool_threshold_bytes: int = DEFAULT_SPOOL_THRESHOLD_BYTES  # DATA kept in memory up to this, then on disk
    spool_dir: Path | None = None  # where the encrypted spool files go; None: the system's temporary directory
    delivery_memory_bytes: int = DEFAULT_DELIVERY_MEMORY_BYTES  # raw bytes being handed to on_message at once

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
        if self.max_sessions < 1:
            raise ValueError("max_sessions must be at least 1")
        if self.spool_threshold_bytes < 0:
            raise ValueError("spool_threshold_bytes must not be negative")
        if self.delivery_memory_bytes < 1024 * 1024:
            raise ValueError("delivery_memory_bytes must be at least 1 MiB")
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
            "max_message_bytes": settings.smtp_max_message_bytes,
            "max_sessions": settings.smtp_max_sessions,
            "spool_dir": settings.data_dir / "smtp-spool",
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


_LINE_TOO_LONG = (
    f"500 5.5.2 Line too long: lines of a message must be shorter than {LINE_LENGTH_LIMIT} bytes (RFC 5321 4.5.3.1.6)"
)
_SPOOL_FAILED = "451 4.3.0 Temporary failure storing the message, please try again later"
_TOO_MANY_SESSIONS = b"421 4.7.0 Too many connections, please try again later\r\n"
_SPOOL_CHUNK = 256 * 1024  # bytes written to the spool file at once
_PROGRESS_SECONDS = 1.0  # how often receiving DATA pushes the idle timeout back


class _Spool:
    """The DATA of one message as it arrives: in memory up to `threshold` bytes, then in a temporary file.

    The file is unlinked from the start (nothing is left behind by a crash) and encrypted with AES-CTR under a
    random key held only by this object: the mail may carry evidence of abuse, and plaintext must not outlive
    the process on the disk. Written from the event loop; read once, from the callback's thread, after the end
    of DATA.
    """

    def __init__(self, threshold: int, directory: Path | None) -> None:
        self._threshold = threshold
        self._directory = directory
        self._memory = bytearray()
        self._file: IO[bytes] | None = None
        self._key = b""
        self._nonce = b""
        self._encryptor: CipherContext | None = None
        self.size = 0

    @property
    def on_disk(self) -> bool:
        return self._file is not None

    def write(self, data: bytes | memoryview) -> None:
        self.size += len(data)
        self._memory += data
        if self._file is None:
            if len(self._memory) > self._threshold:
                self._spill()
        elif len(self._memory) >= _SPOOL_CHUNK:
            self._flush()

    def _cipher(self) -> Cipher[modes.CTR]:
        return Cipher(algorithms.AES(self._key), modes.CTR(self._nonce))

    def _spill(self) -> None:
        self._key, self._nonce = os.urandom(32), os.urandom(16)
        self._encryptor = self._cipher().encryptor()
        if self._directory is not None:
            Path(self._directory).mkdir(parents=True, exist_ok=True)
        self._file = tempfile.TemporaryFile(prefix="firebreak-smtp-", dir=self._directory)
        self._flush()

    def _flush(self) -> None:
        if self._file is None or self._encryptor is None:
            return
        self._file.write(self._encryptor.update(self._memory))
        self._memory = bytearray()

    def read(self) -> bytes:
        """The whole message. Its bytes are built in place, so a message of N bytes needs about N of memory."""
        if self._file is None:
            return bytes(self._memory)
        self._flush()
        self._file.flush()
        self._file.seek(0)
        decryptor = self._cipher().decryptor()
        out = io.BytesIO()  # grows in place, and getvalue() hands over its buffer without a copy
        while chunk := self._file.read(1024 * 1024):
            out.write(decryptor.update(chunk))
        out.write(decryptor.finalize())
        return out.getvalue()

    def close(self) -> None:
        self._memory = bytearray()
        self._key = self._nonce = b""
        self._encryptor = None
        if self._file is not None:
            try:
                self._file.close()
            except OSError:  # a full disk can fail the last flush; the file is unlinked either way
                log.warning("closing an SMTP spool file failed", exc_info=True)
            self._file = None


class _MemoryBudget:
    """Bytes of raw mail being handed to the callback at once, first come first served, on the event loop.

    One request larger than the whole budget is let through alone, so a message under the size limit is never
    refused for its size here, only delayed.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.used = 0
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    def _fits(self, amount: int) -> bool:
        return self.used == 0 or self.used + amount <= self.capacity

    async def acquire(self, amount: int) -> None:
        if not self._waiters and self._fits(amount):
            self.used += amount
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (amount, waiter)
        self._waiters.append(entry)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release(amount)  # granted just as it was cancelled
            else:
                self._waiters.remove(entry)
                self._wake()
            raise

    def release(self, amount: int) -> None:
        self.used -= amount
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self._fits(self._waiters[0][0]):
            amount, waiter = self._waiters.popleft()
            if not waiter.done():
                self.used += amount
                waiter.set_result(None)


class _DataState(enum.Enum):
    NOMINAL = enum.auto()
    TOO_LONG = enum.auto()
    TOO_MUCH = enum.auto()
    SPOOL_FAILED = enum.auto()


class _HotlineSMTP(SMTP):
    """aiosmtpd's SMTP with DATA streamed to a spool, bare-LF lines, a session limit and our wording."""

    line_length_limit = LINE_LENGTH_LIMIT

    def __init__(self, handler: _Handler, listener: SmtpListener, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._listener = listener
        self.delivering = False  # between the end of DATA and our answer to it
        self._turned_away = False  # refused at connection for too many sessions; aiosmtpd never saw it

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
        listener = self._listener
        # connection_made runs again after STARTTLS, for a session already counted.
        if self not in listener._connections and len(listener._connections) >= listener.config.max_sessions:
            self._turned_away = True
            peer = transport.get_extra_info("peername")
            log.warning("refused an SMTP connection from %s: %d sessions open", peer, len(listener._connections))
            if isinstance(transport, asyncio.WriteTransport):
                transport.write(_TOO_MANY_SESSIONS)
            transport.close()
            return
        listener._connections.add(self)
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self._turned_away:
            return
        try:
            super().connection_lost(error)
        finally:
            self._listener._connections.discard(self)

    def eof_received(self) -> bool | None:
        if self._turned_away:
            return False
        result: bool | None = super().eof_received()
        return result

    async def smtp_DATA(self, arg: str) -> None:
        """DATA, streamed into a `_Spool` and handed to the listener; replaces aiosmtpd's, which holds it all."""
        if await self.check_helo_needed():
            return
        if await self.check_auth_needed("DATA"):
            return
        envelope = self.envelope
        assert envelope is not None  # noqa: S101 - aiosmtpd sets it at connection
        if not envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        config = self._listener.config
        spool = _Spool(config.spool_threshold_bytes, config.spool_dir)
        try:
            state = await self._receive(spool)
        except BaseException:
            spool.close()
            raise
        if state is _DataState.NOMINAL:
            self.delivering = True
            status = await self._listener._deliver(self, spool)  # closes the spool
        else:
            spool.close()
            status = {
                _DataState.TOO_LONG: _LINE_TOO_LONG,
                _DataState.TOO_MUCH: _too_big(config.max_message_bytes),
                _DataState.SPOOL_FAILED: _SPOOL_FAILED,
            }[state]
        self.envelope = self._create_envelope()  # what aiosmtpd's _set_post_data_state does
        await self.push(status)

    async def _receive(self, spool: _Spool) -> _DataState:
        """Read DATA up to CRLF "." CRLF into the spool, undoing dot-stuffing; never hold more than a line.

        A line ends at LF, with or without CR, so a client that sends bare LF is accepted with lines of normal
        length. The end of the data is recognised only as CRLF "." CRLF (RFC 5321 4.1.1.4): reading "\\n.\\r\\n"
        or "\\r\\n.\\n" as the end would let a sender smuggle a second message past an MTA that reads it
        differently, so such a line is kept as data.

        Whatever goes wrong (too big, a line too long, a full disk), the rest of the DATA is read and dropped,
        and the answer comes after it: an answer sent mid-DATA would be read as the reply to something else.
        """
        limit = self._listener.config.max_message_bytes
        reader = self._reader
        loop = asyncio.get_running_loop()
        last_progress = loop.time()
        state = _DataState.NOMINAL
        received = 0
        line_start = True  # the next byte read begins a line
        after_crlf = True  # the previous line ended with CRLF (DATA's own line did)
        fragment_cr = False  # the piece of an over-long line read last ended with CR (its LF comes next)
        # Push the idle timeout back while bytes arrive, often enough that a steady sender never meets it.
        progress_interval = min(_PROGRESS_SECONDS, self._timeout_duration / 4)
        while True:
            try:
                line = await reader.readuntil(b"\n")
            except asyncio.LimitOverrunError as overrun:
                # No LF within line_length_limit: drop what there is and read on to the end of the line.
                line = await reader.read(overrun.consumed)
                received += len(line)
                line_start = False
                fragment_cr = line.endswith(b"\r")
                if state is _DataState.NOMINAL:
                    state = _DataState.TOO_LONG
                    spool.close()
                continue
            except asyncio.IncompleteReadError:
                raise ConnectionResetError("the client went away during DATA") from None
            now = loop.time()
            if now - last_progress >= progress_interval:  # idle means no bytes, not a long transfer
                self._reset_timeout()
                last_progress = now
            at_start, line_start = line_start, True
            if at_start and after_crlf and line == b".\r\n":
                return state
            after_crlf = line.endswith(b"\r\n") or (line == b"\n" and fragment_cr)
            fragment_cr = False
            received += len(line)
            if state is not _DataState.NOMINAL:
                continue
            if received > limit:
                state = _DataState.TOO_MUCH
                spool.close()
                continue
            try:
                if at_start and line[:1] == b"." and line not in (b".\r\n", b".\n"):
                    spool.write(memoryview(line)[1:])  # RFC 5321 4.5.2: the sender doubled a leading dot
                else:
                    spool.write(line)
            except OSError:
                peer = self.session.peer if self.session is not None else None
                log.exception("could not spool a message from %s; it will be answered 451", peer)
                state = _DataState.SPOOL_FAILED
                spool.close()


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
        self._budget = _MemoryBudget(config.delivery_memory_bytes)

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

    async def _deliver(self, server: _HotlineSMTP, spool: _Spool) -> str:
        """Hand a received message to `on_message` in the thread pool and answer for it. Owns (closes) the spool."""
        session = server.session
        envelope = server.envelope
        try:
            assert session is not None and envelope is not None  # noqa: S101 - set by aiosmtpd at connection
            peer = session.peer
            host, port = (peer[0], peer[1]) if isinstance(peer, tuple) and len(peer) >= 2 else (str(peer), None)
            mail_from = envelope.mail_from or ""
            received_at = self.clock()
            if received_at.tzinfo is None:
                raise ValueError("the clock returned a naive datetime")
            fields: dict[str, Any] = {
                "envelope_from": mail_from if mail_from != "<>" else "",
                "envelope_to": tuple(envelope.rcpt_tos),
                "peer": str(host),
                "peer_port": int(port) if port is not None else None,
                "received_at": received_at.astimezone(UTC),
                "tls": session.ssl is not None,
                "helo": session.host_name,
            }
        except Exception:
            spool.close()
            log.exception("could not record an incoming message")
            return "451 4.3.0 Temporary failure, please try again later"
        loop = asyncio.get_running_loop()
        size = spool.size
        try:
            await self._budget.acquire(size)
        except BaseException:
            spool.close()
            raise
        if self._executor is None:  # pragma: no cover - only while stopping
            self._budget.release(size)
            spool.close()
            return "421 4.3.2 Service shutting down, please try again later"
        future: asyncio.Future[None] = loop.run_in_executor(self._executor, self._hand_over, spool, fields)
        self._in_flight.add(future)
        future.add_done_callback(self._in_flight.discard)
        future.add_done_callback(lambda _: self._budget.release(size))
        try:
            # Shielded: a dropped connection must not abandon a callback that is writing to the database.
            await asyncio.shield(future)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the hotline could not store a message from %s; answered 451", fields["peer"])
            return "451 4.3.0 Temporary failure storing the message, please try again later"
        return "250 2.0.0 OK: message accepted"

    def _hand_over(self, spool: _Spool, fields: dict[str, Any]) -> None:
        """In the thread pool: read the spool (in memory only now, under the budget) and call on_message."""
        try:
            raw = spool.read()
        finally:
            spool.close()
        self.on_message(InboundMail(raw=raw, **fields))
