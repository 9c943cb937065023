"""The console's transparency page and its downloads (admins and auditors), and the public page (no login)."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from firebreak.auth import service as auth_service
from firebreak.auth.models import Role
from firebreak.bootstrap.http import create_app
from firebreak.bootstrap.system import System
from firebreak.core.clock import FakeClock
from tests.transparency_reports.conftest import END, Scenario, median
from tests.web.conftest import csrf_of

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth_service, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def client(system: System) -> Iterator[TestClient]:
    with TestClient(create_app(system), raise_server_exceptions=False, follow_redirects=False) as c:
        yield c


def login(system: System, client: TestClient, role: Role) -> None:
    with system.db.transaction() as session:
        auth_service.create_staff_user(session=session, clock=system.clock, actor="test", username=role.value,
                                       password=PASSWORD, role=role)
    token = csrf_of(client.get("/console/login").text)
    r = client.post("/console/login", data={"username": role.value, "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 303, r.text


def test_the_console_page_shows_the_period_asked_for(system: System, scenario: Scenario,
                                                     client: TestClient) -> None:
    login(system, client, Role.AUDITOR)
    page = client.get("/console/transparency", params={"from": "2026-01-01", "to": "2026-03-31"})
    assert page.status_code == 200
    assert "Bundeskriminalamt" in page.text and page.text.count("<svg") == 4
    assert "Content-Security-Policy" in page.headers and "<style" not in page.text  # styles only from /static
    csv_download = client.get("/console/transparency/report.csv", params={"from": "2026-01-01", "to": "2026-03-31"})
    assert csv_download.status_code == 200 and "attachment" in csv_download.headers["content-disposition"]
    rows = {(r["section"], r["figure"], r["dimension"]): r["value"]
            for r in csv.DictReader(io.StringIO(csv_download.text))}
    assert float(rows[("orders", "time_to_act_median_seconds", "")]) == median(scenario.act_seconds)
    xlsx = client.get("/console/transparency/report.xlsx", params={"from": "2026-01-01", "to": "2026-03-31"})
    assert xlsx.content[:2] == b"PK"
    eu = client.get("/console/transparency/eu-template.zip", params={"from": "2026-01-01", "to": "2026-03-31"})
    with zipfile.ZipFile(io.BytesIO(eu.content)) as archive:
        assert "1_2_1_orders_to_act_by_member_state.csv" in archive.namelist()
    korean = client.get("/console/transparency/korea.html", params={"from": "2026-01-01", "to": "2026-12-31"})
    assert korean.status_code == 200 and "불법촬영물등" in korean.text

    bad = client.get("/console/transparency", params={"from": "2026-03-31", "to": "2026-01-01"})
    assert bad.status_code == 400 and "The last day is before the first day" in bad.text
    nonsense = client.get("/console/transparency", params={"from": "yesterday", "to": "today"})
    assert nonsense.status_code == 400 and "as dates" in nonsense.text
    assert client.get("/console/transparency/report.pdf").status_code == 400


def test_the_console_page_is_for_admins_and_auditors(system: System, client: TestClient) -> None:
    assert client.get("/console/transparency").status_code == 303  # to the login page
    login(system, client, Role.MODERATOR)
    assert client.get("/console/transparency").status_code == 403


def test_the_public_page_shows_the_last_complete_period_without_login(system: System, scenario: Scenario,
                                                                      clock: FakeClock, client: TestClient) -> None:
    clock.set(END.replace(day=15))  # mid-April: the last complete quarter is the scenario's
    page = client.get("/transparency")
    assert page.status_code == 200
    assert "2026-01-01 to 2026-03-31" in page.text and "the last complete quarter" in page.text
    assert "Bundeskriminalamt" not in page.text  # aggregates only: countries, not authorities
    assert ">8<" in page.text  # orders received
    clock.set(END.replace(year=2027))  # a quarter with nothing in it
    assert "Nothing to report for this period" in client.get("/transparency").text
