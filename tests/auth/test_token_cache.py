"""Platform tokens are cached for a short time: revocation takes effect within the TTL, last use is stamped at
most once a minute. Time is a FakeClock: nothing here sleeps."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from firebreak.auth import service as auth_service
from firebreak.auth.models import ApiCredential, CredentialScope, Role
from firebreak.bootstrap.http import create_app
from firebreak.bootstrap.system import System
from firebreak.core.clock import FakeClock
from firebreak.gateway.api import PLATFORM_TOKEN_TTL, TOKEN_TOUCH_INTERVAL
from firebreak.platform.models import PlatformIntegration

SCAN = {"signals": [{"signal_type": "md5", "value": "0" * 32}]}


@pytest.fixture
def client(system: System) -> Iterator[TestClient]:
    with TestClient(create_app(system), raise_server_exceptions=False) as c:
        yield c


def _platform_token(system: System) -> tuple[str, int]:
    integration = system.gateway.ensure_integration(name="messenger", adapter="webhook")
    with system.db.transaction() as session:
        issued = auth_service.issue_token(session=session, clock=system.clock, actor="test", name="scanner",
                                          scope=CredentialScope.PLATFORM, integration_id=integration.id)
        return issued.token, issued.credential.id


def _scan(client: TestClient, token: str) -> int:
    return client.post("/v1/scan", json=SCAN, headers={"Authorization": f"Bearer {token}"}).status_code


def test_revoked_token_is_refused_once_the_ttl_has_passed(system: System, client: TestClient,
                                                          clock: FakeClock) -> None:
    token, credential_id = _platform_token(system)
    assert _scan(client, token) == 200
    with system.db.transaction() as session:
        credential = session.get(ApiCredential, credential_id)
        assert credential is not None
        auth_service.revoke_token(session=session, clock=clock, actor="test", credential=credential)
    assert _scan(client, token) == 200  # still cached in this process: the documented grace
    clock.advance(PLATFORM_TOKEN_TTL)
    assert _scan(client, token) == 401


def test_deactivated_integration_is_refused_once_the_ttl_has_passed(system: System, client: TestClient,
                                                                    clock: FakeClock) -> None:
    token, _ = _platform_token(system)
    assert _scan(client, token) == 200
    with system.db.transaction() as session:
        for integration in session.query(PlatformIntegration):
            integration.is_active = False
    clock.advance(PLATFORM_TOKEN_TTL - timedelta(seconds=1))
    assert _scan(client, token) == 200
    clock.advance(timedelta(seconds=1))
    assert _scan(client, token) == 401


def test_token_expiring_before_the_ttl_is_refused_when_it_expires(system: System, client: TestClient,
                                                                  clock: FakeClock) -> None:
    token, credential_id = _platform_token(system)
    with system.db.transaction() as session:
        credential = session.get(ApiCredential, credential_id)
        assert credential is not None
        credential.expires_at = clock.now() + PLATFORM_TOKEN_TTL / 2
    assert _scan(client, token) == 200
    clock.advance(PLATFORM_TOKEN_TTL / 2)
    assert _scan(client, token) == 401


def test_last_use_is_stamped_at_most_once_a_minute(system: System, client: TestClient, clock: FakeClock) -> None:
    token, credential_id = _platform_token(system)

    def last_used() -> object:
        with system.db.sessions() as session:
            credential = session.get(ApiCredential, credential_id)
            assert credential is not None
            return credential.last_used_at

    first = clock.now()
    assert _scan(client, token) == 200
    assert last_used() == first
    for _ in range(5):  # each step outlives the cache, so the database is read again, but not written
        clock.advance(PLATFORM_TOKEN_TTL)
        assert _scan(client, token) == 200
    assert last_used() == first
    clock.advance(TOKEN_TOUCH_INTERVAL)
    assert _scan(client, token) == 200
    assert last_used() == clock.now()


def test_unknown_and_other_scope_tokens_are_refused(system: System, client: TestClient) -> None:
    assert _scan(client, "fbk_unknown") == 401
    with system.db.transaction() as session:
        user = auth_service.create_staff_user(session=session, clock=system.clock, actor="test", username="mod",
                                              password="a long password!", role=Role.MODERATOR)
        staff = auth_service.issue_token(session=session, clock=system.clock, actor="test", name="t",
                                         scope=CredentialScope.STAFF, staff_user_id=user.id).token
    assert _scan(client, staff) == 401


def test_cache_keeps_values_until_ttl_or_expiry() -> None:
    clock = FakeClock()
    cache: auth_service.TokenCache[str] = auth_service.TokenCache(ttl=timedelta(seconds=10), max_entries=3)
    now = clock.now()
    cache.put("fbk_a", "a", now)
    cache.put("fbk_b", "b", now, expires_at=now + timedelta(seconds=2))
    assert cache.get("fbk_a", now) == "a" and cache.get("fbk_b", now) == "b"
    assert cache.get("fbk_b", now + timedelta(seconds=2)) is None
    assert cache.get("fbk_a", now + timedelta(seconds=9)) == "a"
    assert cache.get("fbk_a", now + timedelta(seconds=10)) is None
    for name in ("c", "d", "e", "f"):  # bounded
        cache.put(f"fbk_{name}", name, now)
    assert len(cache._entries) <= 3
