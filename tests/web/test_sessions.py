"""Logging in with a browser: cookies, CSRF, logout, tampering, expiry, throttling, and who sees what."""

from __future__ import annotations

import base64
import json
import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from firebreak.audit.models import AuditEvent
from firebreak.auth import service as auth_service
from firebreak.auth.models import StaffUser
from firebreak.authorities import service as authorities
from firebreak.authorities.models import AuthorityContact
from firebreak.bootstrap.system import System
from firebreak.core.clock import FakeClock
from firebreak.web.session import (
    CLIENT_LOCK_AFTER_FAILURES,
    CLIENT_LOCK_DURATION,
    COOKIE_NAME,
    LOCK_AFTER_FAILURES,
)
from tests.web.conftest import PASSWORD, People, csrf_of


def login(client: TestClient, who: str = "alice", password: str = PASSWORD, *, portal: bool = False,
          next_path: str = "") -> tuple[int, str, str]:
    """Log in through the form as a browser would: (status, location, page text)."""
    door = "/portal/login" if portal else "/console/login"
    token = csrf_of(client.get(door).text)
    field = "email" if portal else "username"
    r = client.post(door, data={field: who, "password": password, "csrf_token": token, "next": next_path})
    return r.status_code, r.headers.get("location", ""), r.text


def use_cookie(client: TestClient, value: str) -> None:
    client.cookies.clear()  # set() alone would add a second cookie beside the server's
    client.cookies.set(COOKIE_NAME, value)


def events(system: System, action: str) -> list[AuditEvent]:
    with system.db.transaction() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))


def all_audit_text(system: System) -> str:
    with system.db.transaction() as session:
        return " ".join(e.data for e in session.scalars(select(AuditEvent)))


def test_login_sets_a_fresh_session_cookie_and_redirects(client: TestClient, system: System,
                                                         people: People) -> None:
    page = client.get("/console/login")
    assert page.status_code == 200 and 'name="username"' in page.text
    anonymous = client.cookies[COOKIE_NAME]
    token = csrf_of(page.text)
    r = client.post("/console/login", data={"username": "alice", "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == "/console"
    set_cookie = r.headers["set-cookie"]
    assert set_cookie.startswith(f"{COOKIE_NAME}=") and "HttpOnly" in set_cookie
    assert "samesite=lax" in set_cookie.lower() and "Max-Age=28800" in set_cookie
    assert client.cookies[COOKIE_NAME] != anonymous  # rotated at login
    home = client.get("/console")
    assert home.status_code == 200
    assert "Alice Admin" in home.text and "admin" in home.text and "Firebreak" in home.text
    assert home.headers["cache-control"] == "no-store"
    assert "default-src 'self'" in home.headers["content-security-policy"]
    assert csrf_of(home.text) != token  # the CSRF token belongs to the new session
    [event] = events(system, "web.login.succeeded")
    assert event.actor == f"staff:{people.admin_id}" and PASSWORD not in event.data


def test_wrong_password_shows_an_error_and_is_audited(client: TestClient, system: System, people: People) -> None:
    status, location, text = login(client, password="not the password at all")
    assert status == 200 and not location
    assert "Wrong username or password." in text and 'role="alert"' in text
    # The login field stays required and points at the error (no "requiredaria-describedby" run together).
    assert re.search(r'value="alice"[^>]*\brequired\s+aria-describedby="login-error"', text), text
    status, _, text = login(client, who="nobody")
    assert "Wrong username or password." in text
    failed = [json.loads(e.data) for e in events(system, "web.login.failed")]
    assert [(f["login"], f["reason"]) for f in failed] == [("alice", "bad_password"), ("nobody", "unknown_account")]
    text = all_audit_text(system)
    assert "not the password at all" not in text and PASSWORD not in text
    assert client.get("/console").status_code == 303


def test_post_without_csrf_token_is_refused(client: TestClient, people: People) -> None:
    login(client)
    assert client.post("/console/test/echo", data={"text": "hi"}).status_code == 403
    assert client.post("/console/test/echo", data={"text": "hi", "csrf_token": "forged"}).status_code == 403
    token = csrf_of(client.get("/console").text)
    r = client.post("/console/test/echo", data={"text": "hi", "csrf_token": token})
    assert r.status_code == 200 and r.text == "alice: hi"
    r = client.post("/console/test/echo", data={"text": "by script"}, headers={"X-CSRF-Token": token})
    assert r.status_code == 200
    assert client.post("/logout").status_code == 403
    assert client.get("/console").status_code == 200  # still logged in


def test_login_form_without_csrf_token_is_refused(client: TestClient, system: System, people: People) -> None:
    client.get("/console/login")
    r = client.post("/console/login", data={"username": "alice", "password": PASSWORD})
    assert r.status_code == 403 and "expired" in r.text
    assert client.get("/console").status_code == 303
    assert not events(system, "web.login.succeeded")


def test_logout_clears_the_session(client: TestClient, system: System, people: People) -> None:
    login(client)
    stolen = client.cookies[COOKIE_NAME]
    token = csrf_of(client.get("/console").text)
    r = client.post("/logout", data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == "/console/login"
    assert 'Max-Age=0' in r.headers["set-cookie"]
    assert COOKIE_NAME not in client.cookies
    assert client.get("/console").status_code == 303
    use_cookie(client, stolen)  # a copy of the cookie taken before logout
    r = client.get("/console")
    assert r.status_code == 303 and r.headers["location"].startswith("/console/login")
    assert [e.actor for e in events(system, "web.logout")] == [f"staff:{people.admin_id}"]


def test_tampered_cookie_is_rejected(client: TestClient, people: People) -> None:
    login(client)
    cookie = client.cookies[COOKIE_NAME]
    version, payload, signature = cookie.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["a"] = people.moderator_id
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    for bad in (f"{version}.{forged}.{signature}", cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB"),
                "v1.garbage.garbage", "nonsense"):
        use_cookie(client, bad)
        r = client.get("/console")
        assert r.status_code == 303 and r.headers["location"] == "/console/login?next=%2Fconsole", bad


def test_idle_session_expires(client: TestClient, clock: FakeClock, people: People) -> None:
    login(client)
    clock.advance(timedelta(hours=7))
    assert client.get("/console").status_code == 200  # activity keeps the session alive...
    clock.advance(timedelta(hours=7))
    assert client.get("/console").status_code == 200
    clock.advance(timedelta(hours=8, seconds=1))  # ...but 8 idle hours end it
    r = client.get("/console")
    assert r.status_code == 303 and r.headers["location"] == "/console/login?next=%2Fconsole"
    assert login(client)[0] == 303


def test_sessions_end_after_a_day_even_when_active(client: TestClient, clock: FakeClock, people: People) -> None:
    login(client)
    for _ in range(4):
        clock.advance(timedelta(hours=6))
        client.get("/console")
    clock.advance(timedelta(minutes=1))
    assert client.get("/console").status_code == 303


def test_repeated_failures_lock_the_account_for_a_while(client: TestClient, clock: FakeClock, system: System,
                                                         people: People) -> None:
    for _ in range(LOCK_AFTER_FAILURES):
        assert login(client, password="guessing wrong again")[0] == 200
    status, _, text = login(client)  # even the right password waits out the lock
    assert status == 429 and "Too many failed attempts" in text
    assert json.loads(events(system, "web.login.failed")[-1].data)["reason"] == "locked"
    clock.advance(timedelta(minutes=5, seconds=1))
    assert login(client)[0] == 303


def test_one_client_guessing_across_many_accounts_is_locked(client: TestClient, clock: FakeClock, system: System,
                                                             people: People) -> None:
    """86 guesses from one address across 54 accounts were never slowed: the address has a counter of its own."""
    names = [f"guess{i}" for i in range(54)]
    statuses = [login(client, who=names[i % len(names)], password="nope")[0] for i in range(86)]
    assert statuses[:CLIENT_LOCK_AFTER_FAILURES] == [200] * CLIENT_LOCK_AFTER_FAILURES
    assert set(statuses[CLIENT_LOCK_AFTER_FAILURES:]) == {429}
    status, _, text = login(client)  # alice's own account was never guessed at: the address is what is locked
    assert status == 429 and "Too many failed attempts" in text
    clock.advance(CLIENT_LOCK_DURATION + timedelta(seconds=1))
    assert login(client)[0] == 303


def test_next_page_stays_on_this_site(client: TestClient, people: People) -> None:
    r = client.get("/console/test/admin")
    assert r.status_code == 303 and r.headers["location"] == "/console/login?next=%2Fconsole%2Ftest%2Fadmin"
    assert login(client, next_path="/console/test/admin")[1] == "/console/test/admin"
    client.cookies.clear()
    assert login(client, next_path="https://evil.example/console")[1] == "/console"
    client.cookies.clear()
    assert login(client, next_path="//evil.example/console")[1] == "/console"


def test_roles_are_checked(client: TestClient, people: People) -> None:
    login(client, "mo")
    r = client.get("/console/test/admin")
    assert r.status_code == 403 and "needs the role admin" in r.text and "Mo Moderator" in r.text
    home = client.get("/console")
    assert "Review" in home.text and "Audit" not in home.text


def test_password_change_or_deactivation_ends_sessions(client: TestClient, system: System, people: People) -> None:
    login(client)
    with system.db.transaction() as session:
        user = session.get(StaffUser, people.admin_id)
        assert user is not None
        user.password_hash = auth_service.hash_password("another long password")
    assert client.get("/console").status_code == 303
    login(client, portal=True, who="jana@bka.example")
    assert client.get("/portal").status_code == 200
    with system.db.transaction() as session:
        contact = session.get(AuthorityContact, people.contact_a)
        assert contact is not None
        authorities.deactivate_contact(session=session, clock=system.clock, actor="test", contact=contact)
    assert client.get("/portal").status_code == 303


def test_officers_see_only_their_own_authority(client: TestClient, system: System, people: People) -> None:
    status, location, _ = login(client, "JANA@bka.example", portal=True)
    assert status == 303 and location == "/portal"
    home = client.get("/portal")
    assert home.status_code == 200
    assert "Bundeskriminalamt" in home.text and "Your orders" in home.text and "Send a new order" in home.text
    assert "Korea" not in home.text and "min@kocsc.example" not in home.text
    assert "1 hour" in home.text and "48 hours" in home.text
    assert client.get(f"/portal/test/authorities/{people.authority_a}").status_code == 200
    other = client.get(f"/portal/test/authorities/{people.authority_b}")
    assert other.status_code == 404 and "Korea" not in other.text
    # An officer is not staff.
    r = client.get("/console")
    assert r.status_code == 303 and r.headers["location"].startswith("/console/login")
    [event] = events(system, "web.login.succeeded")
    assert event.actor == f"contact:{people.contact_a}"


def test_staff_are_not_officers(client: TestClient, people: People) -> None:
    login(client)
    r = client.get("/portal")
    assert r.status_code == 303 and r.headers["location"] == "/portal/login?next=%2Fportal"
    status, _, text = login(client, "alice", portal=True)
    assert status == 200 and "Wrong e-mail address or password." in text


def test_deactivated_authority_cannot_log_in(client: TestClient, system: System, people: People) -> None:
    with system.db.transaction() as session:
        authority = authorities.get_authority(session=session, authority_id=people.authority_b)
        authorities.deactivate_authority(session=session, clock=system.clock, actor="test", authority=authority)
    status, _, text = login(client, "min@kocsc.example", portal=True)
    assert status == 200 and "Wrong e-mail address or password." in text
    assert json.loads(events(system, "web.login.failed")[0].data)["reason"] == "inactive"
