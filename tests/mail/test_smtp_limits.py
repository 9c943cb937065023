"""The SMTP listener under hostile or careless senders: bounded memory, a session limit, sizes refused with 552,
bare-LF line endings accepted, over-long lines and smuggled message ends refused. Real clients over loopback."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import smtplib
import socket
import subprocess
import sys
import threading
import time
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest

from firebreak.mail.parse import parse_order_mail
from firebreak.mail.smtp import LINE_LENGTH_LIMIT, InboundMail, _Spool
from tests.mail.conftest import HOTLINE, StartListener, image_bytes

pytestmark = pytest.mark.timeout(120)


def client(port: int) -> smtplib.SMTP:
    return smtplib.SMTP("127.0.0.1", port, local_hostname="mx.police.example", timeout=30)


class RawClient:
    """A line-level SMTP client for what smtplib will not send (it fixes dot-stuffing and line ends itself)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.file = self.sock.makefile("rb")
        assert self.reply().startswith(b"220")

    def reply(self) -> bytes:
        lines = [self.file.readline()]
        while lines[-1][3:4] == b"-":
            lines.append(self.file.readline())
        return b"".join(lines)

    def command(self, line: bytes) -> bytes:
        self.sock.sendall(line + b"\r\n")
        return self.reply()

    def envelope(self) -> None:
        assert self.command(b"EHLO mx.police.example").startswith(b"250")
        assert self.command(b"MAIL FROM:<a@police.example>").startswith(b"250")
        assert self.command(f"RCPT TO:<{HOTLINE}>".encode()).startswith(b"250")
        assert self.command(b"DATA").startswith(b"354")

    def close(self) -> None:
        self.file.close()
        self.sock.close()


# -- memory ------------------------------------------------------------------------------------------------------

SERVER = r"""
import hashlib, json, sys, threading
from pathlib import Path
from firebreak.mail.smtp import ListenerConfig, SmtpListener

def status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024

received, lock = [], threading.Lock()
options = json.loads(sys.argv[1])
blobs, blob_dir = None, Path(options.pop("blob_dir"))
if options.pop("callback") == "blob-store":  # what the hotline's intake does: an encrypted copy on disk
    from firebreak.core.blobs import LocalBlobStore
    from firebreak.core.keys import KeyRing
    blobs = LocalBlobStore(blob_dir, KeyRing(b"k" * 32))

def on_message(mail):
    if blobs is not None:
        blobs.put(mail.raw)
    digest = hashlib.sha256(mail.raw).hexdigest()
    with lock:
        received.append(digest)

listener = SmtpListener(ListenerConfig(port=0, hotline_addresses=frozenset({sys.argv[2]}),
                                       spool_dir=Path(options.pop("spool_dir")), **options), on_message)
listener.start()
try:  # start the peak (VmHWM) afresh from here, where the kernel allows it
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
except OSError:
    pass
print(json.dumps({"port": listener.port, "rss": status("VmRSS")}), flush=True)
sys.stdin.readline()
listener.stop()
print(json.dumps({"peak": status("VmHWM"), "received": received}), flush=True)
"""


def big_mail(number: int, megabytes: int) -> bytes:
    """A mail of about `megabytes` MB: a base64 attachment in CRLF lines, with lines that need dot-stuffing."""
    payload = base64.encodebytes(os.urandom(megabytes * 1024 * 1024 * 3 // 4)).replace(b"\n", b"\r\n")
    head = (f"From: Officer Kim <kim@police.example>\r\nTo: {HOTLINE}\r\nSubject: evidence {number}\r\n"
            "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n").encode()
    return head + b".a line that starts with a dot\r\n" + payload + b"..two dots\r\n"


@pytest.mark.slow
@pytest.mark.parametrize(("callback", "bound_mb"), [("sha256", 100), ("blob-store", 160)])
def test_four_concurrent_40_mb_mails_leave_rss_growth_bounded(tmp_path: Path, callback: str, bound_mb: int) -> None:
    """Before the spool, four such mails raised the listener's peak RSS by about 410 MiB with a callback that only
    hashes, and about 490 MiB with one that stores an encrypted copy as the intake does (docs/mail.md). Now the
    mails are spooled and handed over one at a time: the growth is about one mail, times what the callback
    copies, and less than the four mails' 172 MB even with the blob store."""
    mails = [big_mail(number, 40) for number in range(4)]
    spool = tmp_path / "spool"
    spool.mkdir()
    options = {"spool_dir": str(spool), "max_message_bytes": 50 * 1024 * 1024, "callback": callback,
               "blob_dir": str(tmp_path / "blobs")}
    answers: list[dict[str, tuple[int, bytes]]] = []
    errors: list[BaseException] = []
    with subprocess.Popen([sys.executable, "-c", SERVER, json.dumps(options), HOTLINE],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as server:
        assert server.stdout is not None and server.stdin is not None
        try:
            started = json.loads(server.stdout.readline())

            def send(mail: bytes) -> None:
                try:
                    with smtplib.SMTP("127.0.0.1", started["port"], timeout=120) as smtp:
                        answers.append(smtp.sendmail("a@police.example", [HOTLINE], mail))
                except BaseException as exc:  # reported below, in the test's thread
                    errors.append(exc)

            senders = [threading.Thread(target=send, args=(mail,)) for mail in mails]
            for sender in senders:
                sender.start()
            for sender in senders:
                sender.join(110)
            server.stdin.write("\n")
            server.stdin.flush()
            finished = json.loads(server.stdout.readline())
        finally:
            server.stdin.close()  # the server stops at the end of its input, whatever happened here
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
    assert errors == [] and answers == [{}] * 4
    assert sorted(finished["received"]) == sorted(hashlib.sha256(mail).hexdigest() for mail in mails)
    growth = finished["peak"] - started["rss"]
    # The figure in docs/mail.md (pytest -s prints it).
    print(f"four 40 MB mails, {callback}: peak RSS growth {growth / 2**20:.0f} MiB")
    assert growth < bound_mb * 1024 * 1024, f"peak RSS grew by {growth / 2**20:.0f} MiB"
    assert list(spool.iterdir()) == []  # the spool files were unlinked from the start


def test_the_spool_on_disk_is_encrypted_and_reads_back_exactly(tmp_path: Path) -> None:
    spool = _Spool(threshold=64 * 1024, directory=tmp_path)
    secret_line = b"https://chat.example/c/100/1 evidence of abuse\r\n"
    try:
        for _ in range(20_000):  # about 1 MB
            spool.write(secret_line)
        assert spool.on_disk and spool.size == 20_000 * len(secret_line)
        raw = spool.read()
        assert raw == secret_line * 20_000
        on_disk = os.pread(spool._file.fileno(), spool.size + 1, 0)  # type: ignore[union-attr]
        assert len(on_disk) == spool.size
        assert b"evidence" not in on_disk and b"https://" not in on_disk
        assert list(tmp_path.iterdir()) == []
    finally:
        spool.close()
    small = _Spool(threshold=64 * 1024, directory=tmp_path)
    small.write(secret_line)
    assert not small.on_disk and small.read() == secret_line


def test_deliveries_wait_for_the_memory_budget(start_listener: StartListener) -> None:
    """Two 700 KB mails under a 1 MiB budget reach the callback one after the other; small ones at once."""
    inside: list[int] = []
    most_inside = 0
    lock = threading.Lock()
    release = threading.Event()
    entered = threading.Semaphore(0)
    received: list[bytes] = []

    def persist(mail: InboundMail) -> None:
        nonlocal most_inside
        with lock:
            inside.append(len(mail.raw))
            most_inside = max(most_inside, len(inside))
        entered.release()
        release.wait(20)
        with lock:
            inside.remove(len(mail.raw))
            received.append(mail.raw)

    listener = start_listener(persist, delivery_memory_bytes=1024 * 1024, spool_threshold_bytes=64 * 1024)

    def send(mail: bytes) -> None:
        with client(listener.port) as smtp:
            smtp.sendmail("a@police.example", [HOTLINE], mail)

    big = [big_mail(number, 1)[: 700 * 1024] + b"\r\n" for number in range(2)]
    senders = [threading.Thread(target=send, args=(mail,)) for mail in big]
    for sender in senders:
        sender.start()
    assert entered.acquire(timeout=20)
    assert not entered.acquire(timeout=1.0)  # the second waits for the first to be stored
    release.set()
    for sender in senders:
        sender.join(20)
    assert entered.acquire(timeout=5)  # the second one's entry
    assert sorted(received) == sorted(big) and most_inside == 1

    release.clear()
    received.clear()
    small = [b"Subject: small %d\r\n\r\nhttps://chat.example/c/1/%d\r\n" % (n, n) for n in range(3)]
    senders = [threading.Thread(target=send, args=(mail,)) for mail in small]
    for sender in senders:
        sender.start()
    for _ in small:
        assert entered.acquire(timeout=20)  # all three are inside the callback together
    release.set()
    for sender in senders:
        sender.join(20)
    assert sorted(received) == sorted(small) and most_inside == 3


# -- sizes and sessions ---------------------------------------------------------------------------------------------

def test_oversized_mail_without_size_is_refused_with_552_and_the_session_goes_on(
        start_listener: StartListener) -> None:
    received: list[InboundMail] = []
    listener = start_listener(received.append, max_message_bytes=1024 * 1024, spool_threshold_bytes=64 * 1024)
    with client(listener.port) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("size") and smtp.esmtp_features["size"] == str(1024 * 1024)
        assert smtp.mail("a@police.example")[0] == 250  # no SIZE declared
        assert smtp.rcpt(HOTLINE)[0] == 250
        code, text = smtp.data(big_mail(0, 3))
        assert code == 552 and b"at most 1 MB" in text
        small = b"Subject: still here\r\n\r\nhello\r\n"
        assert smtp.sendmail("a@police.example", [HOTLINE], small) == {}
    assert [mail.raw for mail in received] == [small]


def test_sessions_beyond_the_limit_get_421(start_listener: StartListener) -> None:
    listener = start_listener(lambda _: None, max_sessions=2)
    first, second = client(listener.port), client(listener.port)
    try:
        assert first.noop()[0] == 250 and second.noop()[0] == 250
        with pytest.raises(smtplib.SMTPConnectError) as refused:
            client(listener.port)
        assert refused.value.smtp_code == 421 and b"Too many connections" in refused.value.smtp_error
        first.quit()
        deadline = time.monotonic() + 5
        while True:  # the listener notices the closed session a moment later
            try:
                third = client(listener.port)
                break
            except smtplib.SMTPConnectError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        with third:
            assert third.sendmail("a@police.example", [HOTLINE], b"Subject: hi\r\n\r\nhi\r\n") == {}
    finally:
        second.close()
        first.close()


def test_idle_timeout_counts_silence_not_the_length_of_a_transfer(start_listener: StartListener) -> None:
    received: list[InboundMail] = []
    listener = start_listener(received.append, idle_timeout_seconds=2.0)
    slow = RawClient(listener.port)
    try:
        slow.envelope()
        for n in range(8):  # 3.2 s of DATA, never silent for 2 s
            slow.sock.sendall(b"line %d\r\n" % n)
            time.sleep(0.4)
        assert slow.command(b".").startswith(b"250")
    finally:
        slow.close()
    assert received[0].raw == b"".join(b"line %d\r\n" % n for n in range(8))
    stalled = RawClient(listener.port)
    try:
        stalled.envelope()
        stalled.sock.sendall(b"Subject: stalled\r\n")
        began = time.monotonic()
        assert stalled.file.readline() == b""  # closed by the listener, without an answer
        assert 1.0 < time.monotonic() - began < 5.0
    finally:
        stalled.close()
    assert len(received) == 1


# -- line endings ---------------------------------------------------------------------------------------------------

def bare_lf_order(megabytes: float) -> bytes:
    message = EmailMessage(policy=default.clone(linesep="\n"))
    message["From"] = "Officer Kim <kim@police.example>"
    message["To"] = HOTLINE
    message["Subject"] = "Removal order (sent with bare LF)"
    message["Message-ID"] = "<lf-1@police.example>"
    lines = ["Please remove https://chat.example/c/100/7 at once.", ".a line that starts with a dot"]
    filler = "Context: the same picture was forwarded into several groups."
    lines += [filler] * int(megabytes * 1024 * 1024 / (len(filler) + 1))
    message.set_content("\n".join(lines) + "\n")
    message.add_attachment(image_bytes((200, 30, 30)), maintype="image", subtype="png", filename="evidence.png")
    raw = message.as_bytes()
    assert b"\r\n" not in raw and len(raw) > megabytes * 1024 * 1024
    return raw


def test_a_1_mb_mail_with_bare_lf_lines_is_accepted_and_parsed(start_listener: StartListener) -> None:
    received: list[InboundMail] = []
    listener = start_listener(received.append, spool_threshold_bytes=256 * 1024)
    raw = bare_lf_order(1)
    with client(listener.port) as smtp:
        assert smtp.sendmail("a@police.example", [HOTLINE], raw) == {}  # was: 500 Line too long
    [mail] = received
    assert mail.raw == raw + b"\r\n"  # smtplib ends DATA with CRLF "." CRLF after the last bare LF
    parsed = parse_order_mail(mail.raw)
    assert parsed.from_address == "kim@police.example"
    assert parsed.message_id == "<lf-1@police.example>"
    assert "https://chat.example/c/100/7" in parsed.links
    assert "\n.a line that starts with a dot" in parsed.text  # dot-stuffing after a bare LF undone
    [image] = parsed.media
    assert image.filename == "evidence.png" and image.data == image_bytes((200, 30, 30))


def test_a_genuinely_over_long_line_is_still_refused(start_listener: StartListener) -> None:
    received: list[InboundMail] = []
    listener = start_listener(received.append)
    long_line = b"Subject: x\r\n\r\n" + b"y" * (LINE_LENGTH_LIMIT + 10) + b"\r\n"
    with client(listener.port) as smtp:
        smtp.ehlo()
        assert smtp.mail("a@police.example")[0] == 250 and smtp.rcpt(HOTLINE)[0] == 250
        code, text = smtp.data(long_line)
        assert code == 500 and b"Line too long" in text
        # A line just under the limit is fine, and the session is still in step.
        fine = b"Subject: x\r\n\r\n" + b"y" * (LINE_LENGTH_LIMIT - 100) + b"\n"
        assert smtp.sendmail("a@police.example", [HOTLINE], fine) == {}
    assert [mail.raw for mail in received] == [fine + b"\r\n"]


@pytest.mark.parametrize("false_end", [b"\n.\r\n", b"\r\n.\n", b"\n.\n"])
def test_only_crlf_dot_crlf_ends_the_data(start_listener: StartListener, false_end: bytes) -> None:
    """A message end that another MTA might read differently is data, so no second message can be smuggled."""
    received: list[InboundMail] = []
    listener = start_listener(received.append)
    smuggler = RawClient(listener.port)
    try:
        smuggler.envelope()
        body = (b"Subject: first\r\n\r\nhello" + false_end + b"MAIL FROM:<forged@police.example>\r\n"
                b"RCPT TO:<" + HOTLINE.encode() + b">\r\nDATA\r\nSubject: smuggled\r\n")
        smuggler.sock.sendall(body + b".\r\n")
        assert smuggler.reply().startswith(b"250")
        assert smuggler.command(b"QUIT").startswith(b"221")
    finally:
        smuggler.close()
    [mail] = received
    assert mail.raw == body and b"Subject: smuggled" in mail.raw


def test_a_spool_that_cannot_be_written_answers_451_and_small_mail_still_flows(
        start_listener: StartListener, tmp_path: Path) -> None:
    """A full or missing spool disk is a temporary failure: the sending server keeps the mail and retries."""
    received: list[InboundMail] = []
    (tmp_path / "a-file").write_bytes(b"")  # the spool directory cannot be made under a file
    listener = start_listener(received.append, spool_threshold_bytes=64 * 1024, spool_dir=tmp_path / "a-file" / "spool")
    small = b"Subject: small\r\n\r\nhttps://chat.example/c/1/2\r\n"
    with client(listener.port) as smtp:
        with pytest.raises(smtplib.SMTPDataError) as temporary:
            smtp.sendmail("a@police.example", [HOTLINE], big_mail(0, 1))
        assert temporary.value.smtp_code == 451
        smtp.rset()
        assert smtp.sendmail("a@police.example", [HOTLINE], small) == {}  # kept in memory, never spooled
    assert [mail.raw for mail in received] == [small]
