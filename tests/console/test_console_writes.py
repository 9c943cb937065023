"""The console's other forms: a bank's settings (admins), an entry's status (admins and moderators) and retrying a
failed action (admins and moderators). Each refuses the roles the page does not name and a form without the
session's CSRF token, changing nothing; each change is audited under the person who made it, and does what it says:
a disabled bank or a withdrawn entry stops matching, a retried action is carried out."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select

from firebreak.audit.models import AuditEvent
from firebreak.banks import service as banks
from firebreak.banks.models import Bank, BankEntry, EntryStatus, MatchAction
from firebreak.banks.schemas import BankCreate
from firebreak.bootstrap.system import System
from firebreak.core.clock import FakeClock
from firebreak.enforcement.models import Action, ActionKind, ActionStatus
from firebreak.platform.models import PlatformIntegration
from firebreak.platform.schemas import Verdict
from tests.console.conftest import settle
from tests.console.world import ConsoleWorld, csrf_of, inbox
from tests.support import jpeg, scene

Login = Callable[[str], TestClient]
REVIEWED = jpeg(scene(12), 92)  # the world's picture in the bank "suspected" (its matches go to review)
FORGED = "did not come from Firebreak"


def bank(system: System, name: str) -> Bank:
    with system.db.sessions() as session:
        found = session.scalar(select(Bank).where(Bank.name == name))
        assert found is not None
        session.expunge(found)
        return found


def entries(system: System, bank_id: int) -> list[BankEntry]:
    with system.db.sessions() as session:
        found = list(session.scalars(select(BankEntry).where(BankEntry.bank_id == bank_id).order_by(BankEntry.id)))
        session.expunge_all()
        return found


def audited(system: System, action: str) -> list[AuditEvent]:
    with system.db.sessions() as session:
        found = list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))
        session.expunge_all()
        return found


def verdict(system: System) -> Verdict:
    system.runner.reconcile()  # the indexes follow the change log
    return system.gateway.scan_bytes(REVIEWED).verdict


def token(client: TestClient, url: str) -> str:
    page = client.get(url)
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


def test_only_an_admin_configures_a_bank_and_a_disabled_bank_matches_nothing(
        system: System, world: ConsoleWorld, login: Login) -> None:
    url = f"/console/banks/{world.bank}"
    before = bank(system, world.bank)
    assert before.enabled and before.action == MatchAction.REVIEW
    assert verdict(system) == Verdict.REVIEW
    disable = {"action": "block", "pdq_distance": "20"}  # no "enabled": the box is unchecked
    for name in ("mo", "lee", "audra"):
        client = login(name)
        page = client.get(url).text
        assert 'id="bank-settings"' not in page  # the form is not offered
        r = client.post(url, data={**disable, "csrf_token": csrf_of(page)})
        assert r.status_code == 403 and "needs the role admin" in r.text, (name, r.text)
    alice = login("alice")
    r = alice.post(url, data=disable)
    assert r.status_code == 403 and FORGED in r.text
    r = alice.post(url, data={**disable, "csrf_token": "x" * 43})
    assert r.status_code == 403 and FORGED in r.text
    r = alice.post(url, data={"action": "block", "pdq_distance": "65", "enabled": "on",
                              "csrf_token": token(alice, url)})
    assert r.status_code == 422 and "a whole number from 0 to 64" in r.text
    r = alice.post(url, data={"action": "delete", "pdq_distance": "20", "enabled": "on",
                              "csrf_token": token(alice, url)})
    assert r.status_code == 422
    unchanged = bank(system, world.bank)
    assert (unchanged.enabled, unchanged.action, unchanged.pdq_distance) == (True, MatchAction.REVIEW,
                                                                              before.pdq_distance)
    assert audited(system, "bank.updated") == []

    r = alice.post(url, data={**disable, "csrf_token": token(alice, url)})
    assert r.status_code == 303 and r.headers["location"] == f"{url}?saved=1"
    page = alice.get(r.headers["location"]).text
    assert "Saved." in page
    assert re.search(r'id="bank-state">disabled<', page) and re.search(r'id="bank-action">block<', page)
    after = bank(system, world.bank)
    assert (after.enabled, after.action, after.pdq_distance) == (False, MatchAction.BLOCK, 20)
    [event] = audited(system, "bank.updated")
    assert event.actor == f"staff:{world.staff['alice']}" and event.object_id == str(after.id)
    assert json.loads(event.data) == {"action": "block", "pdq_distance": 20, "enabled": False}
    assert verdict(system) == Verdict.ALLOW  # a disabled bank matches nothing

    r = alice.post(url, data={"action": "block", "pdq_distance": "20", "enabled": "on",
                              "csrf_token": token(alice, url)})
    assert r.status_code == 303
    assert verdict(system) == Verdict.BLOCK  # enabled again, with its new action


def test_admins_and_moderators_withdraw_an_entry_with_a_reason_and_it_stops_matching(
        system: System, world: ConsoleWorld, login: Login) -> None:
    suspected = bank(system, world.bank)
    banked = entries(system, suspected.id)
    assert banked and all(e.status == EntryStatus.ACTIVE for e in banked)
    entry = banked[0]
    url = f"/console/banks/{world.bank}"
    target = f"{url}/entries/{entry.id}"
    withdraw = {"status": "withdrawn", "reason": "consented picture, confirmed by the person shown"}
    for name in ("lee", "audra"):
        client = login(name)
        page = client.get(url).text
        assert f'action="{target}"' not in page  # no form to change entries
        r = client.post(target, data={**withdraw, "csrf_token": csrf_of(page)})
        assert r.status_code == 403 and "needs the role admin or moderator" in r.text, (name, r.text)
    mo = login("mo")
    assert f'action="{target}"' in mo.get(url).text
    r = mo.post(target, data=withdraw)
    assert r.status_code == 403 and FORGED in r.text
    r = mo.post(target, data={"status": "withdrawn", "reason": "  ", "csrf_token": token(mo, url)})
    assert r.status_code == 422 and f"Say why entry #{entry.id} is withdrawn" in r.text
    r = mo.post(target, data={"status": "gone", "csrf_token": token(mo, url)})
    assert r.status_code == 422 and "Choose active, disabled or withdrawn" in r.text
    with system.db.transaction() as session:
        banks.create_bank(session=session, clock=system.clock, actor="test",
                          data=BankCreate(name="elsewhere", action=MatchAction.BLOCK))
    r = mo.post(f"/console/banks/elsewhere/entries/{entry.id}", data={**withdraw, "csrf_token": token(mo, url)})
    assert r.status_code == 404  # an entry is changed only through its own bank
    assert {e.status for e in entries(system, suspected.id)} == {EntryStatus.ACTIVE}
    assert audited(system, "bank_entry.withdrawn") == []
    assert verdict(system) == Verdict.REVIEW

    for e in banked:  # every hash of the picture (exact and PDQ)
        target = f"{url}/entries/{e.id}"
        r = mo.post(target, data={**withdraw, "csrf_token": token(mo, url)})
        assert r.status_code == 303 and r.headers["location"].endswith(f"#entry-{e.id}")
    page = mo.get(f"{url}?status=withdrawn").text
    assert all(f'id="entry-{e.id}"' in page for e in banked)
    assert {e.status for e in entries(system, suspected.id)} == {EntryStatus.WITHDRAWN}
    events = audited(system, "bank_entry.withdrawn")
    assert [e.object_id for e in events] == [str(e.id) for e in banked]
    assert all(e.actor == f"staff:{world.staff['mo']}" and json.loads(e.data)["reason"] == withdraw["reason"]
               and json.loads(e.data)["from"] == "active" for e in events)
    assert verdict(system) == Verdict.ALLOW  # withdrawn entries find nothing

    alice = login("alice")
    r = alice.post(f"{url}/entries/{entry.id}", data={"status": "active", "csrf_token": token(alice, url)})
    assert r.status_code == 303
    assert [e.actor for e in audited(system, "bank_entry.active")] == [f"staff:{world.staff['alice']}"]
    assert verdict(system) == Verdict.REVIEW


def failed_notice(system: System, world: ConsoleWorld, text: str) -> int:
    """A notice the platform refused (its outage is over now): retrying it delivers it."""
    with system.db.transaction() as session:
        integration = session.scalar(select(PlatformIntegration.id).where(PlatformIntegration.name == "sandbox"))
        assert integration is not None
        now = system.clock.now()
        action = Action(idempotency_key="test:retry-me", kind=ActionKind.NOTIFY_USER, integration_id=integration,
                        status=ActionStatus.FAILED, attempts=10, last_error="HTTP 503: the platform was down",
                        params={"reason": text, "account": world.users["dan"]}, created_at=now, completed_at=now)
        session.add(action)
        session.flush()
        return action.id


def action(system: System, action_id: int) -> Action:
    with system.db.sessions() as session:
        found = session.get(Action, action_id)
        assert found is not None
        session.expunge(found)
        return found


def test_a_failed_action_is_retried_by_an_admin_or_moderator_and_carried_out(
        system: System, clock: FakeClock, world: ConsoleWorld, login: Login) -> None:
    text = "A test notice that reached the platform on the second try."
    action_id = failed_notice(system, world, text)
    retry = f"/console/actions/{action_id}/retry"
    audra = login("audra")
    page = audra.get("/console/actions").text
    assert "HTTP 503: the platform was down" in page and f'action="{retry}"' not in page  # auditors only read
    r = audra.post(retry, data={"csrf_token": csrf_of(page)})
    assert r.status_code == 403 and "needs the role admin or moderator" in r.text
    lee = login("lee")
    assert lee.get("/console/actions").status_code == 403
    assert lee.post(retry, data={"csrf_token": token(lee, "/console/review")}).status_code == 403
    mo = login("mo")
    assert f'action="{retry}"' in mo.get("/console/actions").text
    r = mo.post(retry)
    assert r.status_code == 403 and FORGED in r.text
    assert action(system, action_id).status == ActionStatus.FAILED
    assert audited(system, "action.retried") == []

    r = mo.post(retry, data={"csrf_token": token(mo, "/console/actions")})
    assert r.status_code == 303 and r.headers["location"] == "/console/actions?retried=1"
    assert "The action is queued again." in mo.get(r.headers["location"]).text
    queued = action(system, action_id)
    assert (queued.status, queued.attempts) == (ActionStatus.PENDING, 0)
    [event] = audited(system, "action.retried")
    assert event.actor == f"staff:{world.staff['mo']}" and event.object_id == str(action_id)
    assert json.loads(event.data)["last_error"] == "HTTP 503: the platform was down"

    r = mo.post(retry, data={"csrf_token": token(mo, "/console/actions")})
    assert r.status_code == 409 and "nothing to try again" in r.text  # twice: queued once
    settle(system, clock)
    assert action(system, action_id).status == ActionStatus.DONE
    assert text in inbox(system, "dan")  # the platform carried it out
    assert f'action="{retry}"' not in mo.get("/console/actions").text  # no longer among the failed
    assert len(audited(system, "action.retried")) == 1
    assert mo.post("/console/actions/999999/retry",
                   data={"csrf_token": token(mo, "/console/actions")}).status_code == 404
