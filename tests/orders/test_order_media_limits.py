"""An order's media items are held to FIREBREAK_MAX_UPLOAD_BYTES, like every other file: through the API (base64 in
JSON), the portal (files) and mail. A refused item is named, and nothing of it is stored."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from firebreak.auth import service as auth_service
from firebreak.auth.models import CredentialScope
from firebreak.authorities import service as authorities
from firebreak.authorities.schemas import AuthorityCreate, ContactCreate
from firebreak.bootstrap.http import create_app
from firebreak.bootstrap.system import System
from firebreak.core.config import Settings, load_settings
from firebreak.media.models import Media
from firebreak.orders import service
from firebreak.orders.models import Channel, ItemResolution, Order
from firebreak.orders.schemas import OrderCreate, OrderItemIn
from tests.support import jpeg, noise_image
from tests.web.conftest import csrf_of

LIMIT = 64 * 1024
PASSWORD = "a good long portal password"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(environ={}, data_dir=tmp_path / "var", queue_url="memory://", max_upload_bytes=LIMIT)


@pytest.fixture
def client(system: System) -> Iterator[TestClient]:
    with TestClient(create_app(system), raise_server_exceptions=False, follow_redirects=False) as c:
        yield c


def authority(system: System) -> tuple[int, str]:
    with system.db.transaction() as session:
        found = authorities.create_authority(session=session, clock=system.clock, actor="test", data=AuthorityCreate(
            name="Limits Authority", country="FR", jurisdiction="France"))
        authorities.add_contact(session=session, clock=system.clock, actor="test", authority=found,
                                data=ContactCreate(name="Officer", email="officer@limits.example", password=PASSWORD))
        token = auth_service.issue_token(session=session, clock=system.clock, actor="test", name="api",
                                         scope=CredentialScope.AUTHORITY, authority_id=found.id).token
        return found.id, token


def counts(system: System) -> tuple[int, int]:
    with system.db.sessions() as session:
        return (session.scalar(select(func.count()).select_from(Order)) or 0,
                session.scalar(select(func.count()).select_from(Media)) or 0)


def small_file() -> bytes:
    data = jpeg(noise_image(1, 64))
    assert len(data) < LIMIT
    return data


def test_an_api_order_with_a_file_over_the_limit_is_refused_naming_the_item(client: TestClient,
                                                                            system: System) -> None:
    _, token = authority(system)
    big = base64.b64encode(b"\xff" * (LIMIT + 1)).decode()
    order = {"category": "ncii", "items": [
        {"kind": "media", "value": "small.jpg", "media_base64": base64.b64encode(small_file()).decode()},
        {"kind": "media", "value": "big.bin", "media_base64": big}]}
    response = client.post("/v1/orders", headers={"Authorization": f"Bearer {token}"}, json=order)
    assert response.status_code == 413, response.text
    body = response.json()
    assert body["errors"] == [{"field": "items.1.media_base64", "message": f"larger than {LIMIT} bytes"}]
    assert "item 2 is a file of 65,537 bytes" in body["detail"] and "65,536" in body["detail"]
    assert counts(system) == (0, 0)  # neither the order nor the small file was stored
    order["items"] = order["items"][:1]
    assert client.post("/v1/orders", headers={"Authorization": f"Bearer {token}"}, json=order).status_code == 201
    assert counts(system) == (1, 1)


def test_a_portal_file_over_the_limit_is_refused_naming_the_file(client: TestClient, system: System) -> None:
    authority(system)
    csrf = csrf_of(client.get("/portal/login").text)
    assert client.post("/portal/login", data={"email": "officer@limits.example", "password": PASSWORD,
                                              "csrf_token": csrf}).status_code == 303
    csrf = csrf_of(client.get("/portal/orders/new").text)
    response = client.post("/portal/orders/new", data={"category": "ncii", "csrf_token": csrf}, files=[
        ("files", ("big.bin", b"\xff" * (LIMIT + 1), "application/octet-stream")),
        ("files", ("small.jpg", small_file(), "image/jpeg"))])
    assert response.status_code == 422
    assert "File big.bin: larger than the limit of 65,536 bytes" in response.text
    assert counts(system) == (0, 0)


def test_a_mailed_file_over_the_limit_is_not_stored(system: System) -> None:
    with system.db.transaction() as session:
        data = OrderCreate(category="ncii", items=[
            OrderItemIn(kind="media", value="big.bin", media_base64=base64.b64encode(b"\xff" * (LIMIT + 1)).decode())])
        order = service.create_order(session=session, ctx=system.orders.intake_context(session), actor="system:mail",
                                     authority=None, contact=None, channel=Channel.EMAIL, data=data,
                                     received_at=system.clock.now(), verified=False,
                                     sender_address="someone@mail.example")
        item = order.items[0]
        assert item.resolution == ItemResolution.NOT_RESOLVABLE and item.media_id is None
        assert item.resolution_reason == "the file is 65,537 bytes; files are limited to 65,536 bytes"
    assert counts(system) == (1, 0)


def test_base64_size_is_exact() -> None:
    for n in range(0, 12):
        assert service.base64_size(base64.b64encode(b"x" * n).decode()) == n
