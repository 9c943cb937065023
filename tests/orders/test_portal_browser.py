"""The same order through the API and through the portal in headless Chromium gives the same outcome."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, sync_playwright

from firebreak.auth.models import CredentialScope
from firebreak.auth.service import issue_token
from firebreak.authorities import service as authorities
from firebreak.authorities.models import TrustLevel
from firebreak.authorities.schemas import AuthorityCreate, ContactCreate
from tests.conftest import DatabaseFactory
from tests.live import LiveFirebreak, wait_for
from tests.support import RecordingPlatform, copies_of, jpeg, later, media_event, photo

PASSWORD = "portal password 2026!"
LINK = "https://recording.test/c/{chat}/m/{message}"


def world(tmp: Path, url: str) -> tuple[LiveFirebreak, RecordingPlatform, list[str], str]:
    """A live Firebreak with a platform holding three originals and their copies; returns links and a token."""
    live = LiveFirebreak(tmp, url).start()
    rt = live.system
    rt.gateway.ensure_integration(name="test", adapter="webhook")
    platform = RecordingPlatform()
    rt.adapters.override("test", platform)
    links, n = [], 0
    for k, name in enumerate(("astronaut", "chelsea", "rocket")):
        for j, (label, data) in enumerate(list(copies_of(photo(name)).items())[:3 + k]):
            chat, message = f"chat-{j % 2}", f"{name}-{label}"
            platform.add_message(chat, message)
            rt.gateway.record_event("test", media_event(chat, message, data, when=later(rt.clock.now(), n)))
            n += 1
            if j == 0:
                links.append(LINK.format(chat=chat, message=message))
    platform.add_message("chat-0", "unrelated")
    rt.gateway.record_event("test", media_event("chat-0", "unrelated", jpeg(photo("coffee")), when=rt.clock.now()))
    links.append("https://elsewhere.example/post/1")
    with rt.db.transaction() as session:
        authority = authorities.create_authority(session=session, clock=rt.clock, actor="test", data=AuthorityCreate(
            name="Korea Communications Standards Commission", country="KR", jurisdiction="Republic of Korea",
            trust_level=TrustLevel.TRUSTED, trusted_categories=["sexual_deepfake"]))
        authorities.add_contact(session=session, clock=rt.clock, actor="test", authority=authority,
                                data=ContactCreate(name="Officer Kim", email="kim@kcsc.example", password=PASSWORD))
        token = issue_token(session=session, clock=rt.clock, actor="test", name="api",
                            scope=CredentialScope.AUTHORITY, authority_id=authority.id).token
    return live, platform, links, token


def outcome(receipt: dict[str, Any]) -> list[tuple[int, str, int]]:
    return [(i["position"], i["outcome"], i["copies_removed"]) for i in receipt["items"]]


def via_api(live: LiveFirebreak, links: list[str], token: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    r = httpx.post(f"{live.url}/v1/orders", headers=headers, timeout=30, json={
        "category": "sexual_deepfake", "legal_basis": "Art. 44-7", "items": [
            {"kind": "message_link", "value": link} for link in links]})
    assert r.status_code == 201, r.text
    tracking = r.json()["tracking_id"]

    def receipt() -> dict[str, Any]:
        return dict(httpx.get(f"{live.url}/v1/orders/{tracking}/receipt", headers=headers, timeout=10).json())

    assert wait_for(lambda: receipt()["status"] in ("completed", "partially_completed"), 60)
    return receipt()


def via_portal(page: Page, live: LiveFirebreak, links: list[str], token: str, shots: Path) -> dict[str, Any]:
    page.goto(f"{live.url}/portal/login")
    page.fill("#login", "kim@kcsc.example")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live.url}/portal")
    page.goto(f"{live.url}/portal/orders/new")
    page.select_option("#category", "sexual_deepfake")
    page.fill("#legal_basis", "Art. 44-7")
    page.fill("#items", "\n".join(links))
    page.click("#send-order")
    page.wait_for_selector("#tracking-id")
    tracking = page.inner_text("#tracking-id")
    page.screenshot(path=str(shots / "portal-ack.png"), full_page=True)
    deadline = time.monotonic() + 60
    while page.get_attribute("#order-status", "data-status") not in ("completed", "partially_completed"):
        assert time.monotonic() < deadline, "the order did not complete"
        time.sleep(0.5)
        page.reload()
    page.screenshot(path=str(shots / "portal-done.png"), full_page=True)
    rows = page.locator("#items > tbody > tr")
    assert rows.count() == len(links)
    assert page.inner_text("#copies-removed").strip() != ""
    # The portal shows the same receipt the API serves.
    return dict(httpx.get(f"{live.url}/v1/orders/{tracking}/receipt", timeout=10,
                          headers={"Authorization": f"Bearer {token}"}).json())


def test_api_and_portal_orders_give_the_same_outcome(tmp_path: Path, backend: str,
                                                     databases: DatabaseFactory) -> None:
    live_a, platform_a, links_a, token_a = world(tmp_path / "a", databases.new_url(backend))
    try:
        api_receipt = via_api(live_a, links_a, token_a)
    finally:
        live_a.stop()
    live_b, platform_b, links_b, token_b = world(tmp_path / "b", databases.new_url(backend))
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run"])
            try:
                portal_receipt = via_portal(browser.new_page(), live_b, links_b, token_b, tmp_path)
            finally:
                browser.close()
    finally:
        live_b.stop()
    assert links_a == links_b
    assert outcome(api_receipt) == outcome(portal_receipt)
    assert outcome(api_receipt) == [(1, "removed", 2), (2, "removed", 3), (3, "removed", 4),
                                    (4, "not_found", 0)]
    assert platform_a.removed() == platform_b.removed()
    assert ("chat-0", "unrelated") not in platform_b.removed()
