"""The upload check's fast lane answers JSON checks of a cached platform token before the framework sees them (misses
from memory, candidates with one database read), with the route's own answers; everything else (bad input, unknown
tokens, signed calls, bodies too large, a database error) is handed to the route unchanged. A refusal goes to the
route too: it is written (its count, statement of reasons and notice)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from firebreak.auth import service as auth_service
from firebreak.auth.models import CredentialScope
from firebreak.banks import service as banks
from firebreak.banks.models import MatchAction, Provenance
from firebreak.banks.schemas import BankCreate
from firebreak.bootstrap.http import serving_app
from firebreak.bootstrap.system import System
from firebreak.core.http.deps import components_of
from firebreak.gateway import api as gateway_api

BANKED_SHA = hashlib.sha256(b"banked").hexdigest()
WATCHED_SHA = hashlib.sha256(b"watched").hexdigest()


@pytest.fixture
def client(system: System) -> Iterator[TestClient]:
    with TestClient(serving_app(system), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def token(system: System) -> str:
    integration = system.gateway.ensure_integration(name="messenger", adapter="webhook")
    with system.db.transaction() as session:
        bank = banks.create_bank(session=session, clock=system.clock, actor="test",
                                 data=BankCreate(name="known", action=MatchAction.BLOCK))
        banks.add_entries(session=session, clock=system.clock, actor="test", bank=bank,
                          entries=[banks.EntryInput("sha256", BANKED_SHA)], provenance=Provenance.IMPORT)
        watched = banks.create_bank(session=session, clock=system.clock, actor="test",
                                    data=BankCreate(name="watched", action=MatchAction.REVIEW))
        banks.add_entries(session=session, clock=system.clock, actor="test", bank=watched,
                          entries=[banks.EntryInput("sha256", WATCHED_SHA)], provenance=Provenance.IMPORT)
        return auth_service.issue_token(session=session, clock=system.clock, actor="test", name="scanner",
                                        scope=CredentialScope.PLATFORM, integration_id=integration.id).token


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


def _lane_answers(monkeypatch: pytest.MonkeyPatch) -> list[bytes | None]:
    answers: list[bytes | None] = []
    real = gateway_api.ScanFastLane._answer

    def counted(self: gateway_api.ScanFastLane, body: bytes) -> bytes | None:
        answers.append(real(self, body))
        return answers[-1]

    monkeypatch.setattr(gateway_api.ScanFastLane, "_answer", counted)
    return answers


def test_a_hit_is_decided_by_the_database_in_the_lane(system: System, client: TestClient, token: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    miss = {"signals": [{"signal_type": "md5", "value": "0" * 32}]}
    assert client.post("/v1/scan", json=miss, headers=auth).status_code == 200  # caches the token, syncs
    answers = _lane_answers(monkeypatch)
    hit = client.post("/v1/scan", json={"signals": [{"signal_type": "sha256", "value": WATCHED_SHA}]}, headers=auth)
    assert hit.status_code == 200 and hit.json()["verdict"] == "review"
    assert len(answers) == 1 and answers[0] is not None  # answered in the lane

    def broken(request: object, **_: object) -> None:
        raise OperationalError("SELECT", {}, Exception("the database went away"))

    monkeypatch.setattr(system.gateway, "scan_signals", broken)
    failed = client.post("/v1/scan", json={"signals": [{"signal_type": "sha256", "value": WATCHED_SHA}]},
                         headers=auth)
    assert answers[-1] is None  # the lane declined; the route answers the way every route reports a failure
    assert failed.status_code == 500 and failed.headers["content-type"].startswith("application/problem+json")


def test_a_refusal_goes_to_the_route_and_is_counted_once(system: System, client: TestClient, token: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    miss = {"signals": [{"signal_type": "md5", "value": "0" * 32}]}
    assert client.post("/v1/scan", json=miss, headers=auth).status_code == 200  # caches the token, syncs
    answers = _lane_answers(monkeypatch)
    hit = client.post("/v1/scan", json={"signals": [{"signal_type": "sha256", "value": BANKED_SHA}]}, headers=auth)
    assert hit.status_code == 200 and hit.json()["verdict"] == "block"
    assert answers == [None]  # the lane handed it on
    with system.db.transaction() as session:
        entry = banks.get_bank(session=session, name="known").entries[0]
        assert entry.blocked_uploads == 1  # the route counted it, once, at once


def test_everything_else_reaches_the_route(system: System, client: TestClient, token: str,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    miss = {"signals": [{"signal_type": "md5", "value": "0" * 32}]}
    assert client.post("/v1/scan", json=miss, headers=auth).status_code == 200  # caches the token
    answers = _lane_answers(monkeypatch)
    bad = client.post("/v1/scan", json={"signals": [{"signal_type": "pdq", "value": "xyz"}]}, headers=auth)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "signals.0.value"
    not_json = client.post("/v1/scan", content=b"{", headers={**auth, "Content-Type": "application/json"})
    assert not_json.status_code == 422
    empty = client.post("/v1/scan", json={"signals": []}, headers=auth)
    assert empty.status_code == 422
    assert answers == [None, None, None]  # looked at by the lane, answered by the route
    unknown = client.post("/v1/scan", json=miss, headers={"Authorization": "Bearer fbk_nope"})
    assert unknown.status_code == 401
    signed = client.post("/v1/scan", json=miss, headers={**auth, "Firebreak-Integration": "messenger"})
    assert signed.status_code == 401  # a signed call is checked for its signature, bearer token or not
    check = components_of(client.app.app.app).get(gateway_api.CallerCheck)  # type: ignore[attr-defined]
    object.__setattr__(check, "max_body_bytes", 4096)  # frozen; a small limit instead of sending 200 MB
    huge = client.post("/v1/scan", content=b" " * 5000, headers={**auth, "Content-Type": "application/json"})
    assert huge.status_code == 413
    assert answers == [None, None, None]  # never even read by the lane
