"""In the portal, an officer of authority B cannot see or act on anything of authority A."""

from __future__ import annotations

from fastapi.testclient import TestClient

from firebreak.authorities import service as authorities
from firebreak.authorities.schemas import AuthorityCreate, ContactCreate
from firebreak.bootstrap.http import create_app
from firebreak.bootstrap.system import System
from firebreak.orders.models import Channel
from firebreak.orders.schemas import OrderCreate, OrderItemIn
from tests.web.conftest import csrf_of

PASSWORD = "a good long portal password"


def _contact(system: System, name: str, email: str) -> int:
    with system.db.transaction() as session:
        authority = authorities.create_authority(session=session, clock=system.clock, actor="test",
                                                 data=AuthorityCreate(name=name, country="FR", jurisdiction="France"))
        authorities.add_contact(session=session, clock=system.clock, actor="test", authority=authority,
                                data=ContactCreate(name=name + " officer", email=email, password=PASSWORD))
        return authority.id


def _login(client: TestClient, email: str) -> str:
    token = csrf_of(client.get("/portal/login").text)
    r = client.post("/portal/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 303, r.text
    return csrf_of(client.get("/portal").text)


def test_officer_cannot_open_or_write_to_another_authoritys_order(system: System) -> None:
    a_id = _contact(system, "Authority A", "a@a.example")
    _contact(system, "Authority B", "b@b.example")
    with system.db.transaction() as session:
        authority = authorities.get_authority(session=session, authority_id=a_id)
        order, _ = system.orders.submit(session=session, authority=authority, contact=None,
                                 channel=Channel.API, data=OrderCreate(category="ncii", items=[
                                     OrderItemIn(kind="hash", signal_type="md5", value="2" * 32)]), actor="test")
        tracking = order.tracking_id
    with TestClient(create_app(system), follow_redirects=False) as a_client:
        _login(a_client, "a@a.example")
        assert tracking in a_client.get("/portal").text
        assert a_client.get(f"/portal/orders/{tracking}").status_code == 200
    with TestClient(create_app(system), follow_redirects=False) as b_client:
        csrf = _login(b_client, "b@b.example")
        assert tracking not in b_client.get("/portal").text
        for path in (f"/portal/orders/{tracking}", f"/portal/orders/{tracking}/receipt"):
            r = b_client.get(path)
            assert r.status_code == 404 and tracking not in r.text.replace(path, ""), path
        r = b_client.post(f"/portal/orders/{tracking}/messages", data={"body": "hi", "csrf_token": csrf})
        assert r.status_code == 404
        # And staff pages are not for officers.
        assert b_client.get("/console/orders").status_code in (303, 403)
