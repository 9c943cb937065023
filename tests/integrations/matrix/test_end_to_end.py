"""Firebreak and a real Synapse homeserver, end to end, through the Firebreak module and the admin API.

A banked image is refused at upload; a new image posted to a room is recorded as a placement; an order
for it banks it, and the existing event is redacted and its media quarantined.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from firebreak.auth import service as auth_service
from firebreak.auth.models import CredentialScope
from firebreak.authorities.models import Authority, TrustLevel
from firebreak.banks import service as banks
from firebreak.banks.models import BankEntry, MatchAction, Provenance
from firebreak.banks.schemas import BankCreate
from firebreak.bootstrap.system import System
from firebreak.media.models import Placement
from firebreak.platform.models import PlatformIntegration
from firebreak.signals.hashing import hash_bytes
from tests.conftest import DatabaseFactory
from tests.integrations.matrix.harness import MatrixRequestError, SynapseServer, start_synapse
from tests.live import LiveFirebreak, wait_for
from tests.support import jpeg, photo, png


@pytest.fixture
def live(tmp_path: Path, backend: str, databases: DatabaseFactory) -> Iterator[LiveFirebreak]:
    with LiveFirebreak(tmp_path, databases.new_url(backend)) as server:
        yield server


@pytest.fixture
def synapse(tmp_path: Path, live: LiveFirebreak) -> Iterator[SynapseServer]:
    rt = live.system
    with rt.db.transaction() as session:
        integration = PlatformIntegration(name="matrix", adapter="matrix", config={}, created_at=rt.clock.now())
        session.add(integration)
        session.flush()
        secret = rt.secrets.new_secret(integration)
    server = start_synapse(tmp_path / "synapse", live.url, "matrix", secret, fail_open=False, timeout=10.0,
                           event_retry_delay=1.0)
    with rt.db.transaction() as session:
        row = session.scalar(select(PlatformIntegration).where(PlatformIntegration.name == "matrix"))
        assert row is not None
        row.config = server.adapter_config(link_prefixes=[])
    yield server
    server.close()


def _blocked_uploads(rt: System) -> int:
    with rt.db.sessions() as session:
        return sum(e.blocked_uploads for e in session.scalars(select(BankEntry)))


def test_upload_refused_then_order_redacts_and_quarantines(live: LiveFirebreak, synapse: SynapseServer) -> None:
    rt = live.system
    known, fresh = photo("astronaut"), photo("chelsea")
    with rt.db.transaction() as session:
        bank = banks.create_bank(session=session, clock=rt.clock, actor="test",
                                 data=BankCreate(name="known-ncii", action=MatchAction.BLOCK))
        banks.add_entries(session=session, clock=rt.clock, actor="test", bank=bank,
                          entries=banks.entries_for_hashes(hash_bytes(jpeg(known))), provenance=Provenance.IMPORT)
        authority = Authority(name="KCSC", country="KR", jurisdiction="KR", legal_bases=[], mail_domains=[],
                              mail_addresses=[], default_deadlines={}, trust_level=TrustLevel.TRUSTED,
                              trusted_categories=["sexual_deepfake"], language="en", created_at=rt.clock.now())
        session.add(authority)
        session.flush()
        token = auth_service.issue_token(session=session, clock=rt.clock, actor="test", name="api",
                                         scope=CredentialScope.AUTHORITY, authority_id=authority.id).token

    alice = synapse.register_user("alice")
    bob = synapse.register_user("bob")
    room = synapse.create_room(alice, invite=[bob], name="class chat")
    synapse.join(bob, room)

    # 1. A re-encoded copy of a banked image is refused at upload time.
    with pytest.raises(MatrixRequestError) as refused:
        synapse.upload(alice, jpeg(known, 60), content_type="image/jpeg", filename="copy.jpg")
    # Synapse answers every upload its spam checker refuses with this, whatever the module says (docs/matrix.md)...
    assert (refused.value.status, refused.value.errcode, refused.value.error) == (400, "M_UNKNOWN", "Bad content")
    # ...so that it was Firebreak's verdict, not an outage (the module fails closed here), shows on Firebreak's side
    # (a serving process writes its counts once a second).
    assert wait_for(lambda: _blocked_uploads(rt) == 1, timeout=5)

    # 2. A new image is accepted, posted, and recorded by Firebreak as a placement.
    data = png(fresh)
    mxc = synapse.upload(alice, data, content_type="image/png", filename="new.png")
    event_id = synapse.send_image(alice, room, mxc, mimetype="image/png")

    def recorded() -> bool:
        with rt.db.sessions() as session:
            return bool(session.scalar(select(func.count()).select_from(Placement).where(
                Placement.message_external_id == event_id)))

    assert wait_for(recorded, 30), "the module did not report the posted image"
    assert synapse.download(bob, mxc).status_code == 200

    # 3. An authority orders it removed: the event is redacted and the media quarantined.
    r = httpx.post(f"{live.url}/v1/orders", headers={"Authorization": f"Bearer {token}"}, json={
        "category": "sexual_deepfake", "items": [{"kind": "message_link",
                                                  "value": f"https://matrix.to/#/{room}/{event_id}"}]}, timeout=30)
    assert r.status_code == 201, r.text
    assert r.json()["items"][0]["recognised"] is True

    def redacted() -> bool:
        event = synapse.get_event(bob, room, event_id)
        return not event.get("content")

    assert wait_for(redacted, 30), "the event was not redacted"
    assert wait_for(lambda: synapse.download(bob, mxc).status_code == 404, 30), "the media was not quarantined"
    tracking = r.json()["tracking_id"]

    def reported() -> bool:
        receipt = httpx.get(f"{live.url}/v1/orders/{tracking}/receipt",
                            headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
        return receipt["status"] == "completed" and receipt["items"][0]["outcome"] == "removed"

    assert wait_for(reported, 30)
    # 4. And the same image cannot come back.
    with pytest.raises(MatrixRequestError) as again:
        synapse.upload(bob, data, content_type="image/png", filename="again.png")
    assert (again.value.status, again.value.errcode, again.value.error) == (400, "M_UNKNOWN", "Bad content")
