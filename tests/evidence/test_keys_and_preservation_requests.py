"""Key rotation re-wraps every data key and loses nothing; a preservation request holds and preserves an order's
items without removing them."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from sqlalchemy import Connection, select

from firebreak.authorities.models import Authority, TrustLevel
from firebreak.bootstrap.system import System, build_system
from firebreak.core.clock import FakeClock
from firebreak.core.config import ConfigError, Settings
from firebreak.evidence.models import EvidenceMedia, EvidenceRecord, HoldScope, RecordStatus, Trigger
from firebreak.evidence.package import verify_package
from firebreak.evidence.sealing import EvidenceKeyError
from firebreak.orders import preservation
from firebreak.orders.models import Channel, Order
from firebreak.orders.schemas import OrderCreate, OrderItemIn
from tests.evidence.conftest import bank_and_remove, days, post, records
from tests.support import RecordingPlatform, jpeg, scene


def key(byte: int) -> str:
    return base64.b64encode(bytes([byte]) * 32).decode()


def rebuilt(system: System, connection: Connection, clock: FakeClock, evidence_keys: str) -> System:
    """The same Firebreak restarted with other evidence keys configured."""
    settings = Settings.model_validate(system.settings.model_dump() | {"evidence_keys": evidence_keys})
    return build_system(settings, clock=clock, engine=connection.engine, bind=connection)


def kek_ids(system: System) -> set[str]:
    with system.db.sessions() as session:
        return {k for k in session.scalars(select(EvidenceRecord.kek_id))} | {
            k for k in session.scalars(select(EvidenceMedia.kek_id))}


def test_rotation_rewraps_every_data_key_and_everything_still_opens(system: System, platform: RecordingPlatform,
                                                                    connection: Connection, clock: FakeClock) -> None:
    files = [jpeg(scene(200 + i)) for i in range(3)]
    for i, data in enumerate(files):
        post(system, platform, f"c{i}", f"m{i}", data, sender=f"s{i}")
        bank_and_remove(system, data)
    assert kek_ids(system) == {"instance-1"}  # none configured: the key derived from the instance key

    rotated = rebuilt(system, connection, clock, f"k2:{key(2)}")
    run = rotated.evidence.rotate_keys(actor="cli:ops", batch=2)  # several batches
    assert (run.current, run.rewrapped_records, run.rewrapped_media, run.left) == ("k2", 3, 3, {})
    assert kek_ids(rotated) == {"k2"}
    opened = {rotated.evidence.open(actor="cli:ops", uid=r.uid, reason="check after rotation").media
              for r in records(rotated)}
    assert opened == set(files)


def test_a_rotation_with_a_wrong_key_changes_nothing(system: System, platform: RecordingPlatform,
                                                     connection: Connection, clock: FakeClock) -> None:
    data = jpeg(scene(210))
    post(system, platform, "c", "m", data)
    bank_and_remove(system, data)
    first = rebuilt(system, connection, clock, f"k2:{key(2)}")
    first.evidence.rotate_keys(actor="ops")
    # Someone configures k2 with other bytes: nothing unwraps, nothing is re-wrapped, nothing is lost.
    wrong = rebuilt(system, connection, clock, f"k3:{key(3)},k2:{key(9)}")
    with pytest.raises(EvidenceKeyError, match="does not unwrap under key-encryption key 'k2'"):
        wrong.evidence.rotate_keys(actor="ops")
    assert kek_ids(wrong) == {"k2"}
    right = rebuilt(system, connection, clock, f"k3:{key(3)},k2:{key(2)}")
    assert right.evidence.rotate_keys(actor="ops").left == {}
    assert right.evidence.open(actor="ops", uid=records(right)[0].uid, reason="check").media == data


def test_a_rotation_that_stops_resumes(system: System, platform: RecordingPlatform, connection: Connection,
                                       clock: FakeClock) -> None:
    for i in range(3):
        data = jpeg(scene(220 + i))
        post(system, platform, f"c{i}", f"m{i}", data)
        bank_and_remove(system, data)
    rotating = rebuilt(system, connection, clock, f"k2:{key(2)}")

    class Stop(Exception):
        pass

    def stop(step: object) -> None:
        raise Stop

    with pytest.raises(Stop):
        rotating.evidence.rotate_keys(actor="ops", batch=2, on_batch=stop)
    assert kek_ids(rotating) == {"instance-1", "k2"}  # the first batch is kept, the rest still opens as it was
    assert rotating.evidence.rotate_keys(actor="ops").left == {}


def test_a_malformed_key_setting_is_named(tmp_path: Path) -> None:
    from firebreak.core.config import load_settings

    for value, words in (("just-a-key", "id:base64"), ("k1:not base64!", "not valid base64"),
                         (f"k1:{base64.b64encode(b'short').decode()}", "5 bytes")):
        settings = load_settings(environ={}, data_dir=tmp_path / "var", queue_url="memory://", evidence_keys=value)
        with pytest.raises(ConfigError, match=f"FIREBREAK_EVIDENCE_KEYS: .*{words}"):
            build_system(settings)


def test_a_preservation_request_holds_and_preserves_without_removing(system: System, platform: RecordingPlatform,
                                                                     clock: FakeClock) -> None:
    start = clock.now()
    data = jpeg(scene(230))
    post(system, platform, "chat-9", "evidence", data, sender="suspect")
    with system.db.transaction() as session:
        authority = Authority(name="Seoul Metropolitan Police Agency", country="KR", jurisdiction="Seoul",
                              legal_bases=[], mail_domains=[], mail_addresses=[], default_deadlines={},
                              trust_level=TrustLevel.STANDARD, trusted_categories=[], created_at=clock.now())
        session.add(authority)
        session.flush()
        order, _ = system.orders.submit(session=session, authority=authority, contact=None, channel=Channel.API,
                                        data=OrderCreate(category="sexual_deepfake", items=[OrderItemIn(
                                            kind="message_link", value="https://recording.test/c/chat-9/m/evidence")]),
                                        actor="test")
        order.requested_action = preservation.PRESERVE
        hold = preservation.request_preservation(session=session, clock=clock, actor="authority:1", order=order,
                                                 retention=system.evidence.deps.retention)
        tracking = order.tracking_id
    system.runner.reconcile()
    assert platform.removed() == set()  # preserved, not removed
    kept = records(system)
    assert [(r.trigger, r.status, r.category) for r in kept] == [
        (Trigger.PRESERVATION_REQUEST, RecordStatus.SEALED, "sexual_deepfake")]
    assert system.evidence.open(actor="staff:1", uid=kept[0].uid, reason="check").media == data
    assert hold.scope == HoldScope.ORDER and hold.source == "preservation_request"

    clock.set(start + days(85))
    system.evidence.extend_hold(actor="staff:1", hold_id=hold.id, reason="The police asked for 90 more days")
    clock.set(start + days(120))
    system.evidence.purge()
    assert [r.status for r in records(system)] == [RecordStatus.SEALED]  # held past its 90 days of retention
    out = io.BytesIO()
    system.evidence.package(actor="staff:1", reason="Handing over under warrant 2026-55", order=tracking, out=out)
    assert verify_package(io.BytesIO(out.getvalue())).ok
    with system.db.sessions() as session:
        assert session.scalar(select(Order.requested_action)) == "preserve"
