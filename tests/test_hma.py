"""The HMA 2.0-compatible routes, called as a tool written for Meta's Hasher-Matcher-Actioner would call them."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from firebreak.auth import service as auth_service
from firebreak.auth.models import CredentialScope, Role
from firebreak.authorities.models import Authority, TrustLevel
from firebreak.banks.models import BankEntry, EntryStatus
from firebreak.bootstrap.http import create_app
from firebreak.bootstrap.system import System
from firebreak.matching.service import SYNC_INTERVAL
from firebreak.platform.models import PlatformIntegration
from firebreak.signals.hashing import hash_bytes
from tests.support import RecordingPlatform, copies_of, jpeg, photo


@pytest.fixture
def client(system: System) -> Iterator[TestClient]:
    with TestClient(create_app(system), raise_server_exceptions=False) as c:
        yield c


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def staff(system: System, role: Role) -> dict[str, str]:
    with system.db.transaction() as session:
        user = auth_service.create_staff_user(session=session, clock=system.clock, actor="test",
                                              username=f"{role.value}-user", password="a long password!", role=role)
        return _bearer(auth_service.issue_token(session=session, clock=system.clock, actor="test", name="t",
                                                scope=CredentialScope.STAFF, staff_user_id=user.id).token)


def authority(system: System) -> dict[str, str]:
    with system.db.transaction() as session:
        body = Authority(name="Police", country="DE", jurisdiction="Germany", legal_bases=[], mail_domains=[],
                         mail_addresses=[], default_deadlines={}, trust_level=TrustLevel.STANDARD,
                         trusted_categories=[], language="en", created_at=system.clock.now())
        session.add(body)
        session.flush()
        return _bearer(auth_service.issue_token(session=session, clock=system.clock, actor="test", name="api",
                                                scope=CredentialScope.AUTHORITY, authority_id=body.id).token)


@pytest.fixture
def admin(system: System) -> dict[str, str]:
    return staff(system, Role.ADMIN)


@pytest.fixture
def moderator(system: System) -> dict[str, str]:
    return staff(system, Role.MODERATOR)


@pytest.fixture
def recording(system: System) -> RecordingPlatform:
    system.gateway.ensure_integration(name="chat", adapter="webhook")
    platform = RecordingPlatform()
    system.adapters.override("chat", platform)
    return platform


@pytest.fixture
def platform(system: System, recording: RecordingPlatform) -> dict[str, str]:
    with system.db.transaction() as session:
        integration = session.scalar(select(PlatformIntegration).where(PlatformIntegration.name == "chat"))
        assert integration is not None
        return _bearer(auth_service.issue_token(session=session, clock=system.clock, actor="test", name="hma",
                                                scope=CredentialScope.PLATFORM, integration_id=integration.id).token)


def settle() -> None:
    """New PDQ entries reach the matching index within SYNC_INTERVAL of their commit (the documented promise)."""
    time.sleep(SYNC_INTERVAL + 0.05)


def near(pdq: str, bits: int) -> str:
    """The hash with its lowest ``bits`` bits flipped: that many bits away."""
    return f"{int(pdq, 16) ^ ((1 << bits) - 1):064x}"


def upload(data: bytes, field: str = "photo") -> dict[str, tuple[str, bytes, str]]:
    return {field: ("picture.jpg", data, "image/jpeg")}


ROUTES = [
    ("GET", "/c/banks", {}), ("POST", "/c/banks", {"json": {"name": "X"}}),
    ("POST", "/c/bank/X/signal", {"json": {"pdq": "0" * 64}}),
    ("POST", "/c/bank/X/content", {"files": {"photo": ("a.jpg", b"x", "image/jpeg")}}),
    ("DELETE", "/c/bank/X/content/1", {}),
    ("GET", "/m/raw_lookup?signal_type=pdq&signal=" + "0" * 64, {}),
    ("GET", "/m/lookup?signal_type=pdq&signal=" + "0" * 64, {}),
    ("POST", "/m/lookup", {"files": {"photo": ("a.jpg", b"x", "image/jpeg")}}),
    ("POST", "/h/hash", {"files": {"photo": ("a.jpg", b"x", "image/jpeg")}}),
    ("GET", "/h/hash?url=https://chat.example/media/1", {}),
]


@pytest.mark.parametrize(("method", "path", "kwargs"), ROUTES, ids=[f"{m} {p.split('?')[0]}" for m, p, _ in ROUTES])
def test_every_route_needs_a_staff_or_platform_token(system: System, client: TestClient, method: str, path: str,
                                                     kwargs: dict[str, object]) -> None:
    r = client.request(method, path, **kwargs)  # type: ignore[arg-type]
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"] == "Bearer"
    r = client.request(method, path, headers=_bearer("fbk_not-a-token"), **kwargs)  # type: ignore[arg-type]
    assert r.status_code == 401
    # An authority's token is for its own orders: it may not look into the banks.
    r = client.request(method, path, headers=authority(system), **kwargs)  # type: ignore[arg-type]
    assert r.status_code == 403, r.text


def test_banks_are_listed_and_created_by_admins(client: TestClient, admin: dict[str, str],
                                                moderator: dict[str, str]) -> None:
    assert client.get("/c/banks", headers=moderator).json() == []
    r = client.post("/c/banks", json={"name": "HOTLINE_BANK"}, headers=admin)
    assert r.status_code == 201, r.text
    assert r.json() == {"name": "HOTLINE_BANK", "matching_enabled_ratio": 1.0}
    r = client.post("/c/banks", json={"name": "PAUSED", "enabled": False}, headers=admin)
    assert r.json() == {"name": "PAUSED", "matching_enabled_ratio": 0.0}
    r = client.post("/c/banks", json={"name": "SAMPLED", "enabled_ratio": 0.25}, headers=admin)
    assert r.json() == {"name": "SAMPLED", "matching_enabled_ratio": 1.0}  # no sampling: on or off
    r = client.post("/c/banks", json={"name": "OFF", "enabled_ratio": 0}, headers=admin)
    assert r.json() == {"name": "OFF", "matching_enabled_ratio": 0.0}
    assert client.get("/c/banks", headers=moderator).json() == [
        {"name": "HOTLINE_BANK", "matching_enabled_ratio": 1.0}, {"name": "OFF", "matching_enabled_ratio": 0.0},
        {"name": "PAUSED", "matching_enabled_ratio": 0.0}, {"name": "SAMPLED", "matching_enabled_ratio": 1.0}]
    # As in HMA: an existing name is 403.
    r = client.post("/c/banks", json={"name": "HOTLINE_BANK"}, headers=admin)
    assert r.status_code == 403 and "already exists" in r.json()["detail"]
    assert client.post("/c/banks", json={"name": "MINE"}, headers=moderator).status_code == 403
    r = client.post("/c/banks", json={"name": "no spaces allowed"}, headers=admin)
    assert r.status_code == 400 and "name" in r.json()["detail"]
    assert client.post("/c/banks", json={}, headers=admin).status_code == 422
    assert [b["name"] for b in client.get("/c/banks", headers=admin).json()] == [
        "HOTLINE_BANK", "OFF", "PAUSED", "SAMPLED"]


def test_banked_signal_is_found_by_raw_lookup_with_its_distance(client: TestClient, admin: dict[str, str],
                                                               moderator: dict[str, str]) -> None:
    pdq = hash_bytes(jpeg(photo("astronaut"))).pdq.value
    assert client.post("/c/banks", json={"name": "TEST_BANK"}, headers=admin).status_code == 201
    r = client.post("/c/bank/TEST_BANK/signal", json={"pdq": pdq.upper()}, headers=moderator)
    assert r.status_code == 200, r.text
    content_id = r.json()["id"]
    assert r.json()["signals"] == {"pdq": pdq}
    settle()

    r = client.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": near(pdq, 5), "include_distance": "true"},
                   headers=moderator)
    assert r.status_code == 200, r.text
    assert r.json() == {"matches": [{"content_id": content_id, "distance": "5"}]}
    r = client.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": near(pdq, 5)}, headers=moderator)
    assert r.json() == {"matches": [content_id]}
    r = client.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": near(pdq, 60)}, headers=moderator)
    assert r.json() == {"matches": []}  # beyond the bank's distance (31)

    r = client.get("/m/lookup", params={"signal_type": "pdq", "signal": near(pdq, 5)}, headers=moderator)
    assert r.status_code == 200 and r.json() == ["TEST_BANK"]
    r = client.get("/m/lookup", params={"signal_type": "pdq", "signal": near(pdq, 60)}, headers=moderator)
    assert r.json() == []


def test_exact_signals_bank_and_look_up(client: TestClient, admin: dict[str, str], moderator: dict[str, str]) -> None:
    h = hash_bytes(jpeg(photo("coffee")))
    client.post("/c/banks", json={"name": "EXACT"}, headers=admin)
    r = client.post("/c/bank/EXACT/signal", json={"md5": h.md5, "sha256": h.sha256}, headers=moderator)
    assert r.status_code == 200 and r.json()["signals"] == {"md5": h.md5, "sha256": h.sha256}
    settle()
    for signal_type, value in (("md5", h.md5), ("sha256", h.sha256.upper())):
        r = client.get("/m/lookup", params={"signal_type": signal_type, "signal": value}, headers=moderator)
        assert r.json() == ["EXACT"], (signal_type, r.text)
        r = client.get("/m/raw_lookup", params={"signal_type": signal_type, "signal": value,
                                                "include_distance": "true"}, headers=moderator)
        assert [m["distance"] for m in r.json()["matches"]] == ["0"]


@pytest.mark.parametrize(("params", "message"), [
    ({"signal_type": "pdq", "signal": "abc"}, "64 hex characters"),
    ({"signal_type": "pdq", "signal": "x" * 64}, "non-hex"),
    ({"signal_type": "tmk", "signal": "0" * 64}, "unknown signal type 'tmk'"),
    ({"signal_type": "vpdq", "signal": '["' + "0" * 64 + ',100,0.000"]'}, "vpdq"),
])
def test_bad_signal_is_400_with_a_message(client: TestClient, moderator: dict[str, str], params: dict[str, str],
                                          message: str) -> None:
    for path in ("/m/raw_lookup", "/m/lookup"):
        r = client.get(path, params=params, headers=moderator)
        assert r.status_code == 400, (path, r.text)
        assert message in r.json()["detail"], r.json()


def test_bad_signals_to_bank_are_400(client: TestClient, admin: dict[str, str], moderator: dict[str, str]) -> None:
    client.post("/c/banks", json={"name": "B"}, headers=admin)
    r = client.post("/c/bank/B/signal", json={"pdq": "nothex"}, headers=moderator)
    assert r.status_code == 400 and "pdq" in r.json()["detail"]
    r = client.post("/c/bank/B/signal", json={"photodna": "0" * 64}, headers=moderator)
    assert r.status_code == 400 and "photodna" in r.json()["detail"]
    assert client.post("/c/bank/B/signal", json={}, headers=moderator).status_code == 400
    assert client.post("/c/bank/NOPE/signal", json={"md5": "0" * 32}, headers=moderator).status_code == 404
    r = client.get("/m/lookup", headers=moderator)
    assert r.status_code == 400 and "signal_type and signal, or url" in r.json()["detail"]
    assert client.get("/m/raw_lookup", params={"signal": "0" * 64}, headers=moderator).status_code == 422


def test_hash_an_upload(client: TestClient, moderator: dict[str, str]) -> None:
    data = jpeg(photo("chelsea"))
    h = hash_bytes(data)
    r = client.post("/h/hash", files=upload(data), headers=moderator)
    assert r.status_code == 200, r.text
    assert r.json() == {"sha256": h.sha256, "md5": h.md5, "pdq": h.pdq.value}
    r = client.post("/h/hash", files=upload(b"\xff\xd8\xff\xe0 truncated jpeg"), headers=moderator)
    assert r.status_code == 400, r.text
    r = client.post("/h/hash", headers=moderator)
    assert r.status_code == 400 and "'photo' or 'video'" in r.json()["detail"]
    r = client.post("/h/hash", files={**upload(data), **upload(data, "video")}, headers=moderator)
    assert r.status_code == 400


def test_banked_content_catches_a_transformed_copy_until_deleted(
        system: System, client: TestClient, admin: dict[str, str], moderator: dict[str, str]) -> None:
    original = photo("rocket")
    copies = copies_of(original)
    client.post("/c/banks", json={"name": "CONFIRMED"}, headers=admin)
    r = client.post("/c/bank/CONFIRMED/content", files=upload(copies["exact"]), headers=moderator)
    assert r.status_code == 200, r.text
    content = r.json()
    h = hash_bytes(copies["exact"])
    assert content["signals"] == {"sha256": h.sha256, "md5": h.md5, "pdq": h.pdq.value}
    settle()

    r = client.post("/m/lookup", files=upload(copies["mirrored"]), headers=moderator)
    assert r.status_code == 200, r.text
    assert r.json() == {"sha256": [], "md5": [], "pdq": ["CONFIRMED"]}  # only the PDQ matches a mirrored copy
    r = client.post("/m/lookup", files=upload(copies["exact"]), headers=moderator)
    assert r.json() == {"sha256": ["CONFIRMED"], "md5": ["CONFIRMED"], "pdq": ["CONFIRMED"]}
    r = client.post("/m/lookup", files=upload(jpeg(photo("coffee"))), headers=moderator)
    assert r.json() == {"sha256": [], "md5": [], "pdq": []}

    r = client.delete(f"/c/bank/CONFIRMED/content/{content['id']}", headers=moderator)
    assert r.status_code == 200 and r.json() == {"deleted": 1}
    for data in (copies["exact"], copies["mirrored"], copies["half_size"]):
        assert client.post("/m/lookup", files=upload(data), headers=moderator).json() == {
            "sha256": [], "md5": [], "pdq": []}
    with system.db.sessions() as session:
        statuses = set(session.scalars(select(BankEntry.status)))
    assert statuses == {EntryStatus.WITHDRAWN}  # every signal of the content, not just the first
    r = client.delete(f"/c/bank/CONFIRMED/content/{content['id']}", headers=moderator)
    assert r.json() == {"deleted": 0}
    # Banked again: the same content, active again.
    again = client.post("/c/bank/CONFIRMED/content", files=upload(copies["exact"]), headers=moderator).json()
    assert again["id"] == content["id"]
    assert client.post("/m/lookup", files=upload(copies["mirrored"]), headers=moderator).json()["pdq"] == ["CONFIRMED"]
    assert client.delete(f"/c/bank/CONFIRMED/content/{content['id']}", headers=moderator).json() == {"deleted": 1}
    assert client.delete("/c/bank/CONFIRMED/content/999999", headers=moderator).json() == {"deleted": 0}
    assert client.delete("/c/bank/NOPE/content/1", headers=moderator).status_code == 404


def test_signals_banked_together_are_deleted_together(client: TestClient, admin: dict[str, str],
                                                      moderator: dict[str, str]) -> None:
    h = hash_bytes(jpeg(photo("camera")))
    client.post("/c/banks", json={"name": "PAIR"}, headers=admin)
    content_id = client.post("/c/bank/PAIR/signal", json={"pdq": h.pdq.value, "md5": h.md5},
                             headers=moderator).json()["id"]
    settle()
    assert client.get("/m/lookup", params={"signal_type": "md5", "signal": h.md5}, headers=moderator).json() == ["PAIR"]
    assert client.delete(f"/c/bank/PAIR/content/{content_id}", headers=moderator).json() == {"deleted": 1}
    for signal_type, value in (("pdq", h.pdq.value), ("md5", h.md5)):
        assert client.get("/m/lookup", params={"signal_type": signal_type, "signal": value},
                          headers=moderator).json() == []


def test_roles_for_banking(system: System, client: TestClient, admin: dict[str, str]) -> None:
    client.post("/c/banks", json={"name": "R"}, headers=admin)
    auditor = staff(system, Role.AUDITOR)
    data = jpeg(photo("camera"))
    assert client.post("/c/bank/R/content", files=upload(data), headers=auditor).status_code == 403
    assert client.post("/c/bank/R/signal", json={"md5": "0" * 32}, headers=auditor).status_code == 403
    assert client.post("/m/lookup", files=upload(data), headers=auditor).status_code == 200
    assert client.post("/c/bank/R/content", files=upload(data), headers=staff(system, Role.LIAISON)).status_code == 200


def test_urls_are_fetched_only_through_the_callers_platform(
        system: System, client: TestClient, admin: dict[str, str], moderator: dict[str, str],
        platform: dict[str, str], recording: RecordingPlatform) -> None:
    data = jpeg(photo("chelsea"))
    h = hash_bytes(data)
    recording.media["https://chat.example/media/1"] = data
    client.post("/c/banks", json={"name": "URLS"}, headers=admin)
    client.post("/c/bank/URLS/signal", json={"pdq": h.pdq.value}, headers=moderator)
    settle()

    r = client.get("/h/hash", params={"url": "https://chat.example/media/1"}, headers=platform)
    assert r.status_code == 200, r.text
    assert r.json() == {"sha256": h.sha256, "md5": h.md5, "pdq": h.pdq.value}
    r = client.get("/m/lookup", params={"url": "https://chat.example/media/1"}, headers=platform)
    assert r.json() == {"sha256": [], "md5": [], "pdq": ["URLS"]}
    # A URL the platform does not have is not fetched from anywhere else.
    r = client.get("/h/hash", params={"url": "http://169.254.169.254/latest/meta-data"}, headers=platform)
    assert r.status_code == 400 and "no such media" in r.json()["detail"]
    # Staff tokens have no platform to fetch through: upload the file instead.
    r = client.get("/h/hash", params={"url": "https://chat.example/media/1"}, headers=moderator)
    assert r.status_code == 400 and "upload the file" in r.json()["detail"]


def test_a_platform_not_set_up_to_fetch_is_told_so_not_a_500(system: System, client: TestClient) -> None:
    """Found by schemathesis with a platform token: a webhook integration without its action_url."""
    integration = system.gateway.ensure_integration(name="half-done", adapter="webhook")
    with system.db.transaction() as session:
        token = auth_service.issue_token(session=session, clock=system.clock, actor="test", name="hma",
                                         scope=CredentialScope.PLATFORM, integration_id=integration.id).token
    for path in ("/h/hash", "/m/lookup"):
        r = client.get(path, params={"url": "https://chat.example/media/1"}, headers=_bearer(token))
        assert r.status_code == 400, r.text
        assert "action_url is not set" in r.json()["detail"] and "upload the file" in r.json()["detail"]
