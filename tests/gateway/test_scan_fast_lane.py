"""The upload check's fast lane answers misses from memory before the framework sees them, and gives the route's own
answers: the same JSON for a miss, and everything else (hits, bad input, unknown tokens, signed calls, bodies too
large) handed to the route unchanged."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from firebreak.auth import service as auth_service
from firebreak.auth.models import CredentialScope
from firebreak.banks import service as banks
from firebreak.banks.models import MatchAction, Provenance
from firebreak.banks.schemas import BankCreate
from firebreak.bootstrap.http import create_app
from firebreak.bootstrap.system import System
from firebreak.core.http.deps import components_of
from firebreak.gateway import api as gateway_api

BANKED_SHA = hashlib.sha256(b"banked").hexdigest()


@pytest.fixture
def client(system: System) -> Iterator[TestClient]:
    with TestClient(create_app(system), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def token(system: System) -> str:
    integration = system.gateway.ensure_integration(name="messenger", adapter="webhook")
    with system.db.transaction() as session:
        bank = banks.create_bank(session=session, clock=system.clock, actor="test",
                                 data=BankCreate(name="known", action=MatchAction.BLOCK))
        banks.add_entries(session=session, clock=system.clock, actor="test", bank=bank,
                          entries=[banks.EntryInput("sha256", BANKED_SHA)], provenance=Provenance.IMPORT)
        return auth_service.issue_token(session=session, clock=system.clock, actor="test", name="scanner",
                                        scope=CredentialScope.PLATFORM, integration_id=integration.id).token


def _scans_answered() -> float:
    return REGISTRY.get_sample_value("firebreak_http_request_duration_seconds_count",
                                     {"method": "POST", "route": "/v1/scan", "status": "200"}) or 0.0


def test_a_miss_is_answered_in_the_lane_exactly_as_the_route_answers_it(
        system: System, client: TestClient, token: str, monkeypatch: pytest.MonkeyPatch) -> None:
    body = {"signals": [{"signal_type": "sha256", "value": "ab" * 32}, {"signal_type": "pdq", "value": "0" * 64,
                                                                      "quality": 90}]}
    auth = {"Authorization": f"Bearer {token}"}
    by_route = client.post("/v1/scan", json=body, headers=auth)  # the token is not cached yet: the route answers
    calls: list[int] = []
    real = gateway_api.ScanFastLane._answer
    monkeypatch.setattr(gateway_api.ScanFastLane, "_answer", lambda self, b: calls.append(1) or real(self, b))
    by_lane = client.post("/v1/scan", json=body, headers=auth)
    assert calls == [1]  # answered in the lane (the token is cached now)
    assert by_lane.status_code == by_route.status_code == 200
    assert by_lane.headers["content-type"] == "application/json"
    assert {k: v for k, v in by_lane.json().items() if k != "checked_at"} == \
        {k: v for k, v in by_route.json().items() if k != "checked_at"} == \
        {"verdict": "allow", "matches": [], "sha256": None, "unchecked": None}


def test_everything_else_reaches_the_route(system: System, client: TestClient, token: str) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    miss = {"signals": [{"signal_type": "md5", "value": "0" * 32}]}
    assert client.post("/v1/scan", json=miss, headers=auth).status_code == 200  # caches the token
    before = _scans_answered()
    hit = client.post("/v1/scan", json={"signals": [{"signal_type": "sha256", "value": BANKED_SHA}]}, headers=auth)
    assert hit.status_code == 200 and hit.json()["verdict"] == "block"
    bad = client.post("/v1/scan", json={"signals": [{"signal_type": "pdq", "value": "xyz"}]}, headers=auth)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "signals.0.value"
    not_json = client.post("/v1/scan", content=b"{", headers={**auth, "Content-Type": "application/json"})
    assert not_json.status_code == 422
    empty = client.post("/v1/scan", json={"signals": []}, headers=auth)
    assert empty.status_code == 422
    unknown = client.post("/v1/scan", json=miss, headers={"Authorization": "Bearer fbk_nope"})
    assert unknown.status_code == 401
    signed = client.post("/v1/scan", json=miss, headers={**auth, "Firebreak-Integration": "messenger"})
    assert signed.status_code == 401  # a signed call is checked for its signature, bearer token or not
    check = components_of(client.app).get(gateway_api.CallerCheck)  # type: ignore[arg-type]
    object.__setattr__(check, "max_body_bytes", 4096)  # frozen; a small limit instead of sending 200 MB
    huge = client.post("/v1/scan", content=b" " * 5000, headers={**auth, "Content-Type": "application/json"})
    assert huge.status_code == 413
    assert _scans_answered() - before == 1  # the hit, timed under its route; none of the others was a 200
