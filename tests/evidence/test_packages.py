"""Signed evidence packages for an order or a case, and their offline check naming exactly what was tampered with."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from firebreak.audit import service as audit
from firebreak.authorities.models import Authority, TrustLevel
from firebreak.bootstrap.system import System
from firebreak.cases.models import Case
from firebreak.core.clock import FakeClock
from firebreak.evidence.package import verify_package
from firebreak.evidence.sealing import public_pem
from firebreak.evidence.service import EvidenceError, NotFound
from firebreak.orders.models import Channel, Order
from firebreak.orders.schemas import OrderCreate, OrderItemIn
from tests.evidence.conftest import post, records, settle
from tests.support import RecordingPlatform, copies_of, photo

LINK = "https://recording.test/c/{chat}/m/{message}"


def order_removing(system: System, platform: RecordingPlatform, clock: FakeClock) -> str:
    """An authority's order for one message; it and two copies elsewhere are removed (and preserved)."""
    copies = copies_of(photo("rocket"))
    post(system, platform, "chat-1", "original", copies["exact"], sender="poster")
    post(system, platform, "chat-2", "copy-1", copies["reencoded_q50"], sender="spreader", seconds=30)
    post(system, platform, "chat-3", "copy-2", copies["mirrored"], sender="spreader", seconds=60)
    with system.db.transaction() as session:
        authority = Authority(name="Korea Communications Standards Commission", country="KR",
                              jurisdiction="Republic of Korea", legal_bases=[], mail_domains=[], mail_addresses=[],
                              default_deadlines={}, trust_level=TrustLevel.TRUSTED, trusted_categories=["csam"],
                              language="ko", created_at=clock.now())
        session.add(authority)
        session.flush()
        order, _ = system.orders.submit(session=session, authority=authority, contact=None, channel=Channel.API,
                                        data=OrderCreate(category="csam", items=[OrderItemIn(
                                            kind="message_link", value=LINK.format(chat="chat-1",
                                                                                   message="original"))]),
                                        actor="test")
        tracking = order.tracking_id
    for _ in range(6):
        settle(system)
        clock.advance(timedelta(seconds=2))
    assert platform.removed() == {("chat-1", "original"), ("chat-2", "copy-1"), ("chat-3", "copy-2")}
    return tracking


@pytest.fixture
def packaged(system: System, platform: RecordingPlatform, clock: FakeClock, tmp_path: Path) -> tuple[Path, str]:
    tracking = order_removing(system, platform, clock)
    out = tmp_path / "package.zip"
    with out.open("wb") as fh:
        system.evidence.package(actor="staff:4", reason="Request 2026-114 from the Seoul police", order=tracking,
                                out=fh)
    return out, tracking


def test_a_package_for_an_order_holds_every_removed_copy_and_checks_clean(system: System,
                                                                          packaged: tuple[Path, str]) -> None:
    path, tracking = packaged
    report = verify_package(path)
    assert report.ok, [str(p) for p in report.problems]
    assert report.scope["kind"] == "order" and report.scope["reference"] == tracking
    assert report.reason == "Request 2026-114 from the Seoul police" and report.created_by == "staff:4"
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("manifest.json"))
        custody = json.loads(archive.read("custody.json"))
        media = [n for n in names if n.startswith("media/")]
        contexts = [json.loads(archive.read(n)) for n in names if n.startswith("context/")]
    assert len(contexts) == 3 and len(media) == 3  # the ordered message and both copies, each file once
    assert {c["placement"]["message"] for c in contexts} == {"original", "copy-1", "copy-2"}
    assert {c["category"] for c in contexts} == {"csam"}
    assert set(manifest["files"]) == names - {"manifest.json", "signature.ed25519"}
    # The chain of custody: preservation, the order, and this export, ending at the head the package names.
    actions = [e["action"] for e in custody["events"]]
    assert {"evidence.preserved", "order.received", "evidence.packaged", "evidence.package_exported"} <= set(actions)
    assert custody["events"][-1]["hash"] == manifest["audit_head"]["hash"]
    with system.db.sessions() as session:
        assert audit.verify(session=session, expected_head=manifest["audit_head"]["hash"]).ok
        assert session.scalar(select(Order.tracking_id)) == tracking
    with system.db.transaction() as session:  # the live system goes on: the package's head still checks later
        audit.record(session=session, clock=system.clock, actor="test", action="test.later", object_type="test",
                     object_id="1", data={})
    with system.db.sessions() as session:
        assert audit.head(session=session)[1] != manifest["audit_head"]["hash"]
        assert audit.verify(session=session, expected_head=manifest["audit_head"]["hash"]).ok


def rewrite(path: Path, change: Callable[[dict[str, bytes]], None]) -> None:
    with zipfile.ZipFile(path) as archive:
        files = {n: archive.read(n) for n in archive.namelist()}
    change(files)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)


def only_problem(path: Path, **kwargs: bytes) -> tuple[str, str]:
    report = verify_package(path, **kwargs)  # type: ignore[arg-type]
    assert len(report.problems) == 1, [str(p) for p in report.problems]
    return report.problems[0].kind, report.problems[0].path


def test_one_changed_byte_is_named(packaged: tuple[Path, str]) -> None:
    path, _ = packaged
    with zipfile.ZipFile(path) as archive:
        target = sorted(n for n in archive.namelist() if n.startswith("media/"))[1]

    def flip(files: dict[str, bytes]) -> None:
        data = bytearray(files[target])
        data[len(data) // 2] ^= 0x01
        files[target] = bytes(data)

    rewrite(path, flip)
    assert only_problem(path) == ("altered", target)


def test_a_byte_flipped_inside_the_archive_itself_is_named(packaged: tuple[Path, str]) -> None:
    path, _ = packaged
    with zipfile.ZipFile(path) as archive:
        info = next(i for i in archive.infolist() if i.filename.startswith("context/"))
    raw = bytearray(path.read_bytes())
    # The member's data starts after its local header (30 bytes, the name and the extra field).
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    raw[start + info.compress_size // 2] ^= 0x40
    path.write_bytes(bytes(raw))
    assert only_problem(path) == ("altered", info.filename)


def test_a_removed_file_is_named(packaged: tuple[Path, str]) -> None:
    path, _ = packaged
    with zipfile.ZipFile(path) as archive:
        target = sorted(n for n in archive.namelist() if n.startswith("context/"))[0]
    rewrite(path, lambda files: files.pop(target))
    assert only_problem(path) == ("missing", target)


def test_an_added_file_is_named(packaged: tuple[Path, str]) -> None:
    path, _ = packaged
    rewrite(path, lambda files: files.update({"media/planted.jpg": b"\xff\xd8 not from the platform"}))
    assert only_problem(path) == ("added", "media/planted.jpg")


def test_a_wrong_signature_is_named(packaged: tuple[Path, str]) -> None:
    path, _ = packaged
    impostor = Ed25519PrivateKey.generate()

    def resign(files: dict[str, bytes]) -> None:  # a manifest signed by someone else, with the real key left in
        files["signature.ed25519"] = base64.b64encode(impostor.sign(files["manifest.json"])) + b"\n"

    rewrite(path, resign)
    assert only_problem(path) == ("signature", "signature.ed25519")


def test_a_changed_manifest_breaks_the_signature(packaged: tuple[Path, str]) -> None:
    path, _ = packaged

    def edit(files: dict[str, bytes]) -> None:
        manifest = json.loads(files["manifest.json"])
        manifest["reason"] = "Routine check"
        files["manifest.json"] = json.dumps(manifest, sort_keys=True, indent=2).encode()

    rewrite(path, edit)
    assert only_problem(path) == ("signature", "signature.ed25519")


def test_a_package_signed_by_another_key_than_the_published_one(system: System,
                                                                packaged: tuple[Path, str]) -> None:
    path, _ = packaged
    published = system.evidence.public_key_pem()
    assert verify_package(path, public_key_pem=published).ok
    other = public_pem(Ed25519PrivateKey.generate().public_key())
    report = verify_package(path, public_key_pem=other)
    assert {(p.kind, p.path) for p in report.problems} == {
        ("signature", "public_key.pem"), ("signature", "manifest.json"), ("signature", "signature.ed25519")}


def test_a_file_that_is_not_a_package(tmp_path: Path) -> None:
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"PK\x03\x04 not really")
    report = verify_package(junk)
    assert [p.kind for p in report.problems] == ["unreadable"]
    empty = io.BytesIO()
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("hello.txt", b"hi")
    report = verify_package(io.BytesIO(empty.getvalue()))
    assert [(p.kind, p.path) for p in report.problems] == [("missing", "manifest.json")]


def test_packaging_needs_a_reason_and_a_known_order(system: System, platform: RecordingPlatform,
                                                    clock: FakeClock) -> None:
    with pytest.raises(EvidenceError, match="A reason is required"):
        system.evidence.package(actor="staff:1", reason=" ", order="FB-2026-0000-NONE", out=io.BytesIO())
    with pytest.raises(NotFound, match="no order 'FB-2026-0000-NONE'"):
        system.evidence.package(actor="staff:1", reason="Police request", order="FB-2026-0000-NONE", out=io.BytesIO())
    with pytest.raises(EvidenceError, match="one of the two"):
        system.evidence.package(actor="staff:1", reason="Police request", out=io.BytesIO())


def test_a_package_for_a_case(system: System, platform: RecordingPlatform, clock: FakeClock) -> None:
    tracking = order_removing(system, platform, clock)
    with system.db.transaction() as session:
        case = Case(reference="CASE-7", title="Deepfakes spread in three chats", category="csam",
                    created_at=clock.now())
        session.add(case)
        session.flush()
        order = session.scalar(select(Order).where(Order.tracking_id == tracking))
        assert order is not None
        order.case_id = case.id
    out = io.BytesIO()
    written = system.evidence.package(actor="staff:4", reason="Prosecutor's file", case="CASE-7", out=out)
    report = verify_package(io.BytesIO(out.getvalue()))
    assert report.ok and report.scope["reference"] == "CASE-7"
    assert written.files == len(records(system)) * 2 + 5  # context and media each, custody, key, readme, manifest, sig
