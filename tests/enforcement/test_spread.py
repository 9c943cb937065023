"""The spread of an item, as a moderator reads it: who posted it first, where it went, and what is left of it."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from firebreak.auth import service as auth_service
from firebreak.auth.models import CredentialScope, Role
from firebreak.authorities.models import Authority, TrustLevel
from firebreak.banks import service as banks
from firebreak.banks.models import BankEntry, MatchAction, Provenance
from firebreak.banks.schemas import BankCreate
from firebreak.bootstrap.http import create_app
from firebreak.bootstrap.system import System
from firebreak.media.models import Media, Placement
from firebreak.signals.hashing import hash_bytes
from tests.support import RecordingPlatform, copies_of, jpeg, media_event, photo

MINUTE = 60
_USERS = itertools.count(1)


@pytest.fixture
def platform(system: System) -> RecordingPlatform:
    system.gateway.ensure_integration(name="test", adapter="webhook")
    recording = RecordingPlatform()
    system.adapters.override("test", recording)
    return recording


@pytest.fixture
def client(system: System) -> Iterator[TestClient]:
    with TestClient(create_app(system), raise_server_exceptions=False) as c:
        yield c


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def staff(system: System, role: Role) -> dict[str, str]:
    with system.db.transaction() as session:
        user = auth_service.create_staff_user(session=session, clock=system.clock, actor="test", role=role,
                                              username=f"{role.value}-{next(_USERS)}", password="a long password!")
        return _bearer(auth_service.issue_token(session=session, clock=system.clock, actor="test", name="t",
                                                scope=CredentialScope.STAFF, staff_user_id=user.id).token)


def authority(system: System) -> dict[str, str]:
    with system.db.transaction() as session:
        body = Authority(name="Regulator", country="FR", jurisdiction="France", legal_bases=[], mail_domains=[],
                         mail_addresses=[], default_deadlines={}, trust_level=TrustLevel.TRUSTED,
                         trusted_categories=[], language="fr", created_at=system.clock.now())
        session.add(body)
        session.flush()
        return _bearer(auth_service.issue_token(session=session, clock=system.clock, actor="test", name="api",
                                                scope=CredentialScope.AUTHORITY, authority_id=body.id).token)


def post(system: System, platform: RecordingPlatform, chat: str, message: str, data: bytes, *, sender: str,
         after: int, forwarded_from: tuple[str, str] | None = None, members: int = 20) -> None:
    """An event ``after`` seconds past the start of the test."""
    platform.add_message(chat, message)
    start = system.clock.now()
    system.gateway.record_event("test", media_event(chat, message, data, sender=sender, when=start + timedelta(
        seconds=after), forwarded_from=forwarded_from, members=members))


def media_id(system: System, data: bytes) -> int:
    with system.db.sessions() as session:
        found = session.scalar(select(Media.id).where(Media.sha256 == hash_bytes(data).sha256))
        assert found is not None
        return found


@pytest.fixture
def spread_story(system: System, platform: RecordingPlatform) -> dict[str, bytes]:
    """u1 posts a picture in A at 09:00; it is forwarded to B and C; a re-encoded copy turns up in D at 11:05."""
    original = photo("astronaut")
    posted, reencoded = jpeg(original), copies_of(original)["half_size"]
    post(system, platform, "A", "m1", posted, sender="u1", after=0, members=100)
    post(system, platform, "B", "m2", posted, sender="u2", after=10 * MINUTE, forwarded_from=("A", "m1"), members=30)
    post(system, platform, "C", "m3", posted, sender="u3", after=25 * MINUTE, forwarded_from=("A", "m1"), members=5)
    post(system, platform, "D", "m4", reencoded, sender="u4", after=125 * MINUTE, members=1000)
    post(system, platform, "A", "other", jpeg(photo("coffee")), sender="u1", after=30 * MINUTE,
         members=100)  # not a copy
    return {"posted": posted, "reencoded": reencoded}


def spread(client: TestClient, who: dict[str, str], path: str) -> dict[str, Any]:
    r = client.get(path, headers=who)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_spread_shows_first_poster_chats_forwards_and_timeline(
        system: System, client: TestClient, spread_story: dict[str, bytes]) -> None:
    moderator = staff(system, Role.MODERATOR)
    original_id = media_id(system, spread_story["posted"])
    copy_id = media_id(system, spread_story["reencoded"])
    s = spread(client, moderator, f"/v1/media/{original_id}/spread?copies=true")

    assert s["media_ids"] == sorted([original_id, copy_id])
    assert s["first"]["chat_id"] == "A" and s["first"]["sender_id"] == "u1" and s["first"]["message_id"] == "m1"
    assert s["first"]["posted_at"].startswith("2026-01-01T09:00:00")
    assert (s["total_placements"], s["chats_reached"], s["senders"]) == (4, 4, 4)
    assert s["estimated_reach"] == 100 + 30 + 5 + 1000
    assert [c["chat_id"] for c in s["chats"]] == ["A", "B", "C", "D"]  # in the order the item reached them
    assert s["chats"][0]["title"] == "Chat A" and s["chats"][3]["member_count"] == 1000
    assert sorted((f["from_chat"], f["to_chat"]) for f in s["forwards"]) == [("A", "B"), ("A", "C")]
    by_message = {p["message_id"]: p["placement_id"] for p in s["placements"]}
    assert {(f["from_placement_id"], f["to_placement_id"]) for f in s["forwards"]} == {
        (by_message["m1"], by_message["m2"]), (by_message["m1"], by_message["m3"])}
    assert s["longest_forward_chain"] == 1
    assert s["bucket"] == "hour"
    assert [(b["start"][:19], b["placements"]) for b in s["timeline"]] == [
        ("2026-01-01T09:00:00", 3), ("2026-01-01T11:00:00", 1)]
    assert (s["live"], s["removed"], s["deleted"]) == (4, 0, 0)

    exact = spread(client, moderator, f"/v1/media/{original_id}/spread?copies=false")
    assert exact["media_ids"] == [original_id]
    assert (exact["total_placements"], exact["chats_reached"]) == (3, 3)
    # Asked about the copy, the view is the same story.
    from_copy = spread(client, moderator, f"/v1/media/{copy_id}/spread")
    assert from_copy["first"]["chat_id"] == "A" and from_copy["chats_reached"] == 4


def test_counts_follow_removals_by_a_bank(system: System, client: TestClient, platform: RecordingPlatform,
                                          spread_story: dict[str, bytes]) -> None:
    moderator = staff(system, Role.MODERATOR)
    original_id = media_id(system, spread_story["posted"])
    with system.db.transaction() as session:
        bank = banks.create_bank(session=session, clock=system.clock, actor="test",
                                 data=BankCreate(name="confirmed", action=MatchAction.REMOVE))
        banks.add_entries(session=session, clock=system.clock, actor="test", bank=bank,
                          entries=banks.entries_for_hashes(hash_bytes(spread_story["posted"])),
                          provenance=Provenance.DECISION)
    system.runner.reconcile()
    assert platform.removed() == {("A", "m1"), ("B", "m2"), ("C", "m3"), ("D", "m4")}

    s = spread(client, moderator, f"/v1/media/{original_id}/spread")
    assert (s["live"], s["removed"], s["deleted"], s["total_placements"]) == (0, 4, 0, 4)
    assert [c["live"] for c in s["chats"]] == [0, 0, 0, 0]
    assert {p["status"] for p in s["placements"]} == {"removed"}

    with system.db.sessions() as session:
        entries = {e.signal_type: e.id for e in session.scalars(select(BankEntry))}
    by_pdq = spread(client, moderator, f"/v1/bank-entries/{entries['pdq']}/spread")
    assert (by_pdq["chats_reached"], by_pdq["removed"]) == (4, 4)  # the entry caught every copy
    by_sha = spread(client, moderator, f"/v1/bank-entries/{entries['sha256']}/spread")
    assert (by_sha["chats_reached"], by_sha["removed"]) == (3, 3)  # the exact file only
    assert by_sha["first"]["chat_id"] == "A"


def test_deleted_by_the_user_is_counted_apart(system: System, client: TestClient, platform: RecordingPlatform,
                                              spread_story: dict[str, bytes]) -> None:
    from firebreak.platform.schemas import ChatIn, EventKind, PlatformEvent

    system.gateway.record_event("test", PlatformEvent(event_id="del-B", kind=EventKind.MESSAGE_DELETED,
                                                chat=ChatIn(id="B"), message_id="m2", sent_at=system.clock.now()))
    s = spread(client, staff(system, Role.AUDITOR), f"/v1/media/{media_id(system, spread_story['posted'])}/spread")
    assert (s["live"], s["removed"], s["deleted"]) == (3, 0, 1)
    assert [c["live"] for c in s["chats"]] == [1, 0, 1, 1]


def test_forward_chains_and_day_buckets(system: System, client: TestClient, platform: RecordingPlatform) -> None:
    data = jpeg(photo("chelsea"))
    post(system, platform, "A", "1", data, sender="u1", after=0)
    post(system, platform, "B", "2", data, sender="u2", after=MINUTE, forwarded_from=("A", "1"))
    post(system, platform, "C", "3", data, sender="u3", after=2 * MINUTE, forwarded_from=("B", "2"))
    post(system, platform, "D", "4", data, sender="u3", after=3 * MINUTE, forwarded_from=("C", "3"))
    post(system, platform, "E", "5", data, sender="u5", after=4 * 86400, forwarded_from=("A", "1"))
    s = spread(client, staff(system, Role.LIAISON), f"/v1/media/{media_id(system, data)}/spread")
    assert s["longest_forward_chain"] == 3  # A -> B -> C -> D
    assert sorted((f["from_chat"], f["to_chat"]) for f in s["forwards"]) == [
        ("A", "B"), ("A", "E"), ("B", "C"), ("C", "D")]
    assert s["senders"] == 4
    assert s["bucket"] == "day"  # more than three days: one bucket a day
    assert [(b["start"][:10], b["placements"]) for b in s["timeline"]] == [("2026-01-01", 4), ("2026-01-05", 1)]


def test_who_may_read_a_spread(system: System, client: TestClient, spread_story: dict[str, bytes]) -> None:
    original_id = media_id(system, spread_story["posted"])
    with system.db.sessions() as session:
        placement_count = len(session.scalars(select(Placement)).all())
    assert placement_count == 5
    paths = [f"/v1/media/{original_id}/spread"]
    for role in (Role.MODERATOR, Role.ADMIN, Role.LIAISON, Role.AUDITOR):
        who = staff(system, role)
        for path in paths:
            assert client.get(path, headers=who).status_code == 200, (role, path)
    regulator = authority(system)
    for path in paths + ["/v1/bank-entries/1/spread"]:
        r = client.get(path, headers=regulator)
        assert r.status_code == 403, r.text
        assert "chat_id" not in r.text and "u1" not in r.text
        assert client.get(path).status_code == 401
    moderator = staff(system, Role.MODERATOR)
    assert client.get("/v1/media/999999/spread", headers=moderator).status_code == 404
    assert client.get("/v1/bank-entries/999999/spread", headers=moderator).status_code == 404


def test_forwarded_album_keeps_an_edge_for_every_picture(system: System, client: TestClient,
                                                        platform: RecordingPlatform) -> None:
    """A message with two pictures forwarded whole: each picture's spread shows its own forward."""
    from firebreak.platform.schemas import ChatIn, EventKind, ForwardedFrom, MediaIn, PlatformEvent, SenderIn

    first, second = jpeg(photo("rocket")), jpeg(photo("camera"))

    def album(chat: str, forwarded: bool, after: int) -> PlatformEvent:
        platform.add_message(chat, "album")
        return PlatformEvent(
            event_id=f"{chat}/album", kind=EventKind.MEDIA_FORWARDED if forwarded else EventKind.MEDIA_POSTED,
            chat=ChatIn(id=chat), message_id="album", sender=SenderIn(id="u1"),
            sent_at=system.clock.now() + timedelta(seconds=after),
            forwarded_from=ForwardedFrom(chat_id="A", message_id="album") if forwarded else None,
            media=[MediaIn(media_id=f"{chat}-{i}", data_base64=__import__("base64").b64encode(d).decode())
                   for i, d in enumerate((first, second))])

    system.gateway.record_event("test", album("A", False, 0))
    system.gateway.record_event("test", album("B", True, 60))
    moderator = staff(system, Role.MODERATOR)
    for data in (first, second):
        s = spread(client, moderator, f"/v1/media/{media_id(system, data)}/spread?copies=false")
        assert [(f["from_chat"], f["to_chat"]) for f in s["forwards"]] == [("A", "B")], data[:0]
        assert s["longest_forward_chain"] == 1


def test_forward_recorded_before_its_original_still_shows(system: System, client: TestClient,
                                                         platform: RecordingPlatform) -> None:
    """Events can arrive out of order (a platform's retry): the forward is linked once the original is known."""
    data = jpeg(photo("coffee"))
    post(system, platform, "B", "2", data, sender="u2", after=60, forwarded_from=("A", "1"))
    post(system, platform, "A", "1", data, sender="u1", after=0)
    s = spread(client, staff(system, Role.MODERATOR), f"/v1/media/{media_id(system, data)}/spread")
    assert s["first"]["chat_id"] == "A"
    assert [(f["from_chat"], f["to_chat"]) for f in s["forwards"]] == [("A", "B")]
    assert s["longest_forward_chain"] == 1
