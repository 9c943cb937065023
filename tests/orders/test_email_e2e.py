"""The 2024 case, end to end over real SMTP: a regulator e-mails 25 message links; it gets an acknowledgement with a
tracking ID within 5 seconds; the 25 items and every copy disappear from the sandbox messenger; a receipt e-mail lists
25 outcomes with copy counts."""

from __future__ import annotations

import re
import smtplib
import time
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from PIL import ImageOps
from sqlalchemy import select

from firebreak.authorities import service as authorities
from firebreak.authorities.models import TrustLevel
from firebreak.authorities.schemas import AuthorityCreate
from firebreak.integrations.sandbox import service as sandbox
from firebreak.integrations.sandbox.models import MessageStatus, SandboxMessage
from firebreak.mail.dkim import dkim_txt_record, sign_dkim
from firebreak.signals.hashing import hash_bytes
from tests.conftest import DatabaseFactory
from tests.live import LiveFirebreak
from tests.support import FakeDns, jpeg, scene

DOMAIN = "kcsc.example"
SELECTOR = "hotline2026"


@pytest.fixture
def live(tmp_path: Path, backend: str, databases: DatabaseFactory) -> Iterator[LiveFirebreak]:
    with LiveFirebreak(tmp_path, databases.new_url(backend), smtp=True, dkim_dns=FakeDns()) as server:
        yield server


def _key() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return pem, dkim_txt_record(key.public_key())


def _seed(live: LiveFirebreak) -> tuple[list[str], set[str], set[str]]:
    """25 stand-in 'deepfakes' posted in group chats, each copied (re-encoded, resized, mirrored, forwarded);
    returns the 25 links, the ids of every message that must go, and of those that must stay."""
    rt = live.system
    with rt.db.transaction() as session:
        users = [sandbox.create_user(session=session, clock=rt.clock, handle=f"student{i}") for i in range(6)]
        handles = [u.handle for u in users]
        chats = [sandbox.create_chat(session=session, clock=rt.clock, creator=users[0], title=f"Class {c}",
                                     members=handles[1:]).external_id for c in range(5)]
    links, doomed, kept = [], set(), set()
    for i in range(25):
        img = scene(i)
        assert hash_bytes(jpeg(img, 92)).pdq.matchable  # a stand-in PDQ can match (PDQ quality >= 50)
        original = rt.sandbox.post(chat_ref=chats[i % 5], sender_handle=handles[i % 6], text=None,
                              upload=sandbox.Upload(jpeg(img, 92), "img.jpg"))
        links.append(f"{live.url}{original.path}")
        doomed.add(original.id)
        copies = [jpeg(img, 55), jpeg(img.resize((img.width // 2, img.height // 2))), jpeg(ImageOps.mirror(img))]
        for k, data in enumerate(copies[: 1 + i % 3]):
            copy = rt.sandbox.post(chat_ref=chats[(i + k + 1) % 5], sender_handle=handles[(i + k + 1) % 6],
                              text=None, upload=sandbox.Upload(data, "copy.jpg"))
            doomed.add(copy.id)
        forwarded = rt.sandbox.forward(message_ref=original.id, to_chat_ref=chats[(i + 2) % 5],
                                  by_handle=handles[(i + 3) % 6])
        doomed.add(forwarded.id)
    for j in range(10):
        kept.add(rt.sandbox.post(chat_ref=chats[j % 5], sender_handle=handles[j % 6], text="holiday photo",
                            upload=sandbox.Upload(jpeg(scene(1000 + j)), "x.jpg")).id)
    return links, doomed, kept


def _mail(links: list[str], pem: bytes) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Officer Kim <kim@kcsc.example>"
    msg["To"] = "takedown@platform.test"
    msg["Subject"] = "Takedown request: sexual deepfakes of students (our ref KCSC-2026-117)"
    msg["Message-ID"] = make_msgid(domain=DOMAIN)
    msg["Date"] = "Fri, 27 Nov 2026 09:00:00 +0900"
    msg.set_content(
        "Dear platform,\n\nThe following messages contain sexual deepfake images of students and teachers.\n"
        "Legal basis: Act on Promotion of Information and Communications Network Utilization, Art. 44-7\n"
        "Our ref: KCSC-2026-117\n\nPlease remove them and every copy:\n\n" + "\n".join(links) +
        "\n\nKorea Communications Standards Commission\n")
    raw = msg.as_bytes()
    return sign_dkim(raw, SELECTOR, DOMAIN, pem)


def test_25_items_by_email_all_copies_removed_receipt_by_email(live: LiveFirebreak) -> None:
    rt = live.system
    pem, txt = _key()
    assert isinstance(rt.orders.deps.dkim_dns, FakeDns)
    rt.orders.deps.dkim_dns.records[f"{SELECTOR}._domainkey.{DOMAIN}"] = txt
    with rt.db.transaction() as session:
        authorities.create_authority(session=session, clock=rt.clock, actor="test", data=AuthorityCreate(
            name="Korea Communications Standards Commission", country="KR", jurisdiction="Republic of Korea",
            mail_domains=[DOMAIN], trust_level=TrustLevel.TRUSTED, trusted_categories=["sexual_deepfake"]))
    links, doomed, kept = _seed(live)
    assert len(links) == 25 and len(doomed) > 25

    sent_at = time.monotonic()
    with smtplib.SMTP("127.0.0.1", live.settings.smtp_listen_port, timeout=30) as smtp:
        smtp.sendmail("kim@kcsc.example", ["takedown@platform.test"], _mail(links, pem))

    ack = live.outbox.wait_for(lambda m: "received your order" in m.text(), timeout=5.0)
    ack_seconds = time.monotonic() - sent_at
    tracking = re.search(r"FB-\d{4}-[0-9A-Z]{6}", ack.subject)
    assert tracking is not None and ack_seconds <= 5.0
    # In the regulator's own thread: its subject, with its case number, and our tracking ID (docs/mail.md).
    assert ack.subject == f"Re: Takedown request: sexual deepfakes of students (our ref KCSC-2026-117) " \
                          f"[{tracking.group(0)}]"
    assert "25 items, 25 recognised" in ack.text()
    assert ack.header("In-Reply-To") is not None  # in the same thread as the regulator's mail

    receipt = live.outbox.wait_for(lambda m: "Receipt for order" in m.text(), timeout=90.0)
    assert receipt.subject == ack.subject
    lines = [line for line in receipt.text().splitlines() if re.match(r"^\s+\d+\. ", line)]
    assert len(lines) == 25
    assert all(line.split(". ", 1)[1].startswith("removed") for line in lines), lines
    copies = [int(m) for m in re.findall(r"copies removed: (\d+)", receipt.text())]
    assert len(copies) == 25 and all(c >= 2 for c in copies)  # each original took its copies and forward with it

    with rt.db.sessions() as session:
        status = {f"m{m.id}": m.status for m in session.scalars(select(SandboxMessage))}
    assert {m for m in doomed if status[m] != MessageStatus.REMOVED} == set()
    assert {m for m in kept if status[m] != MessageStatus.LIVE} == set()
    print(f"acknowledgement after {ack_seconds:.2f} s")
