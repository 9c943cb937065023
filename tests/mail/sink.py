"""An SMTP sink: a real SMTP server on loopback that keeps every message it receives.

Tests and the demo point the `Mailer` at it to see what an authority would receive. It is the hotline listener
with every recipient accepted and a list as the store, so it speaks the same SMTP (including STARTTLS).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from firebreak.mail.smtp import DEFAULT_MAX_MESSAGE_BYTES, InboundMail, ListenerConfig, SmtpListener


@dataclass(frozen=True, slots=True)
class SinkMessage:
    envelope_from: str
    envelope_to: tuple[str, ...]
    received_at: datetime
    tls: bool
    raw: bytes = field(repr=False)
    message: EmailMessage = field(repr=False)

    def header(self, name: str) -> str | None:
        value = self.message.get(name)
        return None if value is None else " ".join(str(value).split())

    @property
    def subject(self) -> str:
        return self.header("Subject") or ""

    @property
    def message_id(self) -> str | None:
        return self.header("Message-ID")

    def text(self) -> str:
        """The text/plain body (the first one, for multipart mail)."""
        part = self.message.get_body(preferencelist=("plain",))
        return "" if part is None else str(part.get_content())

    def html(self) -> str | None:
        part = self.message.get_body(preferencelist=("html",))
        return None if part is None else str(part.get_content())


class SmtpSink:
    """Collects messages over real SMTP. Thread-safe; use `wait_for` to block until a message arrives."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        tls_cert: Path | None = None,
        tls_key: Path | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        config = ListenerConfig(
            host=host,
            port=port,
            accept_any_recipient=True,
            tls_cert=tls_cert,
            tls_key=tls_key,
            max_message_bytes=max_message_bytes,
            server_name="sink.invalid",
        )
        self._listener = SmtpListener(config, self._store)
        self._messages: list[SinkMessage] = []
        self._changed = threading.Condition()

    @property
    def host(self) -> str:
        return self._listener.host

    @property
    def port(self) -> int:
        return self._listener.port

    def start(self) -> SmtpSink:
        self._listener.start()
        return self

    def stop(self) -> None:
        self._listener.stop()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def messages(self) -> list[SinkMessage]:
        with self._changed:
            return list(self._messages)

    def clear(self) -> None:
        with self._changed:
            self._messages.clear()

    def wait_for(self, predicate: Callable[[SinkMessage], bool] = lambda _: True, timeout: float = 5.0) -> SinkMessage:
        """The first message (received before or during the wait) for which `predicate` is true."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for message in self._messages:
                    if predicate(message):
                        return message
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no matching message within {timeout} s ({len(self._messages)} received)")
                self._changed.wait(remaining)

    def _store(self, inbound: InboundMail) -> None:
        parsed = BytesParser(EmailMessage, policy=policy.default).parsebytes(inbound.raw)
        message = SinkMessage(
            envelope_from=inbound.envelope_from,
            envelope_to=inbound.envelope_to,
            received_at=inbound.received_at,
            tls=inbound.tls,
            raw=inbound.raw,
            message=parsed,
        )
        with self._changed:
            self._messages.append(message)
            self._changed.notify_all()
