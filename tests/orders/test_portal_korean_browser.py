"""The portal in Korean, in headless Chromium: a Korean authority's officer logs in, sends an order and reads it in
Korean with Korean time beside UTC; the switch at the foot of the page turns it to English and the choice stays."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import sync_playwright

from firebreak.authorities import service as authorities
from firebreak.authorities.models import Authority
from firebreak.authorities.schemas import AuthorityUpdate
from tests.conftest import DatabaseFactory
from tests.live import wait_for
from tests.orders.test_portal_browser import PASSWORD, world


def test_a_korean_authority_uses_the_portal_in_korean(tmp_path: Path, backend: str,
                                                      databases: DatabaseFactory) -> None:
    live, platform, links, _ = world(tmp_path, databases.new_url(backend))
    try:
        rt = live.system
        with rt.db.transaction() as session:
            authority = session.query(Authority).one()
            authorities.update_authority(session=session, clock=rt.clock, actor="test", authority=authority,
                                         data=AuthorityUpdate(language="ko", timezone="Asia/Seoul"))
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run"])
            try:
                page = browser.new_context(locale="en-US").new_page()  # the authority's language wins
                page.goto(f"{live.url}/portal/login")
                page.fill("#login", "kim@kcsc.example")
                page.fill("#password", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_url(f"{live.url}/portal")
                assert page.get_attribute("html", "lang") == "ko"
                assert "귀 기관의 요청" in page.inner_text("main") and "처리 기한" in page.inner_text("main")
                page.goto(f"{live.url}/portal/orders/new")
                assert page.inner_text("h1") == "새 삭제 요청 보내기"
                assert "실존 인물 대상 성적 허위영상물(딥페이크)" in page.inner_text("#category")
                page.select_option("#category", "sexual_deepfake")
                page.fill("#items", "\n".join(links[:1]))
                page.click("#send-order")
                page.wait_for_selector("#tracking-id")
                assert "요청이 접수되었습니다." in page.inner_text("#ack")
                assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d KST \(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\)",
                                 page.inner_text("#ack"))
                assert wait_for(lambda: (page.reload(), page.get_attribute("#order-status", "data-status"))[1]
                                == "completed", 60, interval=0.5)
                assert page.inner_text("#order-status") == "처리 완료"
                assert page.inner_text("#order-category") == "실존 인물 대상 성적 허위영상물(딥페이크)"
                assert "삭제됨" in page.inner_text("#items")
                page.screenshot(path=str(tmp_path / "portal-ko.png"), full_page=True)
                page.click("a[hreflang=en]")
                assert page.inner_text("#order-status") == "completed" and page.get_attribute("html", "lang") == "en"
                page.goto(f"{live.url}/portal")
                assert "Your orders" in page.inner_text("main")  # the switch is remembered
            finally:
                browser.close()
    finally:
        live.stop()
    assert platform.removed()
