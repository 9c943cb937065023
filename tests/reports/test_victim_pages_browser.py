"""The victims' pages in headless Chromium against a live Firebreak (web server, worker, real database):

- a report filed in Korean, followed by its status link, and the case withdrawn from there;
- three pictures hashed on the real hashing page, with every request the page makes recorded: nothing but the
  hashes and the form's choices leaves the browser;
- axe-core on every victim page, in both languages: no violation of any impact (labels, contrast, landmarks,
  names); and the pages work by keyboard.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.base import AXE_SCRIPT
from playwright.sync_api import Browser, Page, Request, sync_playwright
from sqlalchemy import select
from typer.testing import CliRunner

from firebreak.cli import app as cli
from firebreak.integrations.sandbox import service as sandbox
from firebreak.reports.models import VictimReport, VictimReportItem
from tests.conftest import DatabaseFactory
from tests.live import LiveFirebreak, wait_for
from tests.reports.test_browser_hashing import CHROMIUM_ARGS, carries_file_bytes, reference_pdq, windows
from tests.signals.samples import encode, photo
from tests.support import jpeg, scene


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def live(tmp_path: Path, databases: DatabaseFactory, backend: str) -> Iterator[LiveFirebreak]:
    running = LiveFirebreak(tmp_path, databases.new_url(backend)).start()
    try:
        yield running
    finally:
        running.stop()


def axe(page: Page) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now (injected through the debugger: the page's CSP allows no
    inline script, and none is needed for the check)."""
    page.evaluate(AXE_SCRIPT)
    found: list[dict[str, Any]] = page.evaluate("""async () => {
        const result = await axe.run(document, { resultTypes: ["violations"] });
        return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
                                               nodes: v.nodes.map((n) => n.target.join(" ")) }));
    }""")
    return found


def accessible(page: Page, where: str) -> None:
    violations = axe(page)
    assert violations == [], f"{where}: {json.dumps(violations, indent=1, ensure_ascii=False)}"


def sandbox_message(live: LiveFirebreak, data: bytes) -> str:
    """A message carrying a picture in the live sandbox; its link, as a person copies it."""
    assert live.system.sandbox is not None
    with live.system.db.transaction() as s:
        joon = sandbox.create_user(session=s, clock=live.system.clock, handle="joon")
        sandbox.create_user(session=s, clock=live.system.clock, handle="mina")
        chat = sandbox.create_chat(session=s, clock=live.system.clock, creator=joon, title="Class 2-3",
                                   members=["mina"])
        chat_id = chat.external_id
    view = live.system.sandbox.post(chat_ref=chat_id, sender_handle="joon", text=None,
                                    upload=sandbox.Upload(data, "x.jpg", "image/jpeg"))
    assert wait_for(lambda: _placements(live) > 0, 20)
    return f"{live.url}/sandbox/c/{view.chat_id}/m/{view.id}"


def _placements(live: LiveFirebreak) -> int:
    from firebreak.media.models import Placement

    with live.system.db.sessions() as session:
        return len(session.scalars(select(Placement.id)).all())


def test_a_report_filed_in_korean_followed_by_its_status_link_and_withdrawn(browser: Browser,
                                                                            live: LiveFirebreak) -> None:
    link = sandbox_message(live, jpeg(scene(81), 90))
    context = browser.new_context(locale="ko-KR", extra_http_headers={"Accept-Language": "ko-KR,ko;q=0.9"})
    page = context.new_page()
    try:
        page.goto(f"{live.url}/report")
        assert page.get_attribute("html", "lang") == "ko"
        assert page.inner_text("h1") == "성적 촬영물이나 딥페이크 삭제 요청하기"
        accessible(page, "report form (ko)")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.className") == "skip-link"

        page.click("#send-report")  # empty: every missing field is named, in Korean
        assert page.inner_text("#form-errors h2") == "아직 아무것도 전송되지 않았습니다. 다음을 확인해 주세요."
        assert "메시지 링크를 한 줄에 하나씩" in page.inner_text("#links-error")
        accessible(page, "report form with errors (ko)")

        page.fill("#links", link)
        page.check("#category-sexual_deepfake")
        page.check("#reporter-depicted")
        page.select_option("#jurisdiction", "KR")
        page.check("#good_faith")
        page.fill("#signature", "김지우")
        page.fill("#contact_email", "jiwoo@example.org")
        page.click("#send-report")
        page.wait_for_selector("#case-number")
        assert page.inner_text("h1") == "신고가 접수되었습니다"
        case_number, pin = page.inner_text("#case-number"), page.inner_text("#pin")
        assert "KST" in page.inner_text("main")  # the deadline, in Korean time beside UTC
        accessible(page, "report sent (ko)")

        page.click("#status-link")
        page.wait_for_selector("#steps")
        assert page.inner_text("h1") == f"접수 번호 {case_number}"
        assert "검토자가 신고를 확인하고 있습니다" in page.inner_text("#summary")
        assert "KST" in page.inner_text("#summary")  # a Korean case reads Korean time
        titles = page.locator(".step__title").all_inner_texts()
        assert titles == ["신고 접수", "검토 중", "콘텐츠 삭제", "삭제된 사본", "재업로드 차단"]
        for secret in ("딥페이크", "deepfake", "Class 2-3", link, "김지우"):
            assert secret not in page.content()
        accessible(page, "status page (ko)")

        page.click("#withdraw-button")  # the box is required: nothing happens without it
        assert page.url.endswith("/withdraw") is False
        page.check("#confirm-withdraw")
        page.click("#withdraw-button")
        page.wait_for_selector("text=신고가 철회되었습니다.")
        assert page.locator(".step__title").all_inner_texts() == ["신고 접수", "철회됨"]
        assert page.locator("#withdraw").count() == 0
        accessible(page, "withdrawn status page (ko)")

        page.goto(f"{live.url}/report/lookup")
        accessible(page, "look-up page (ko)")
        page.fill("#case_number", case_number.lower())
        page.fill("#pin", pin)
        page.press("#pin", "Enter")  # by keyboard
        page.wait_for_selector("#steps")
        assert "철회된 신고입니다" in page.inner_text("#summary")
        page.goto(f"{live.url}/report/status/{'x' * 43}")
        assert page.inner_text("h1") == "처리 상태 링크가 올바르지 않습니다"
        accessible(page, "unknown status link (ko)")
    finally:
        context.close()
    with live.system.db.sessions() as session:
        report = session.scalar(select(VictimReport).where(VictimReport.reference == case_number))
        assert report is not None and report.language == "ko" and report.status.value == "withdrawn"


def test_three_pictures_hashed_on_the_real_page_send_nothing_but_hashes(browser: Browser, live: LiveFirebreak,
                                                                        tmp_path: Path) -> None:
    chosen = []
    for name, data in (("IMG_2041 me at the beach.jpg", encode(photo("astronaut"), "JPEG", quality=95)),
                       ("selfie.png", encode(photo("coffee"), "PNG")),
                       ("private.webp", encode(photo("chelsea"), "WEBP", quality=90))):
        (tmp_path / name).write_bytes(data)
        chosen.append(tmp_path / name)
    context = browser.new_context(locale="en-GB")
    seen: list[Request] = []
    sockets: list[str] = []
    context.on("request", lambda request: seen.append(request))  # from before the page loads
    page = context.new_page()
    page.on("websocket", lambda ws: sockets.append(ws.url))
    try:
        page.goto(f"{live.url}/report/hashes")
        page.wait_for_function("document.documentElement.dataset.ready === 'yes'")
        accessible(page, "hashing page (en)")
        page.set_input_files("#files", [str(p) for p in chosen])
        page.check("#category-intimate_image")
        page.fill("#contact_email", "person@example.org")
        page.check("#email_updates")
        page.click("#compute")
        page.wait_for_selector("#preview:not([hidden])", timeout=60_000)
        preview = json.loads(page.inner_text("#preview-body"))
        accessible(page, "hashing page with its preview (en)")
        page.click("#send-hashes")
        page.wait_for_selector("#result:not([hidden])", timeout=30_000)
        case_number = page.inner_text("#case-number")
        assert page.inner_text("#pin").count("-") == 1
        accessible(page, "hashing page with its result (en)")
        status_link = page.get_attribute("#status-link", "href")
    finally:
        context.close()

    origin = live.url + "/"
    assert sockets == []
    assert all(r.url.startswith(origin) for r in seen), [r.url for r in seen]
    paths = sorted((r.method, r.url.removeprefix(live.url).split("?")[0]) for r in seen)
    assert paths == sorted([
        ("GET", "/report/hashes"), ("GET", "/static/firebreak.css"), ("GET", "/static/reports/reports.css"),
        ("GET", "/static/firebreak.js"), ("GET", "/static/reports/hashes.js"), ("GET", "/static/selfhash/selfhash.js"),
        ("GET", "/static/selfhash/md5.js"), ("GET", "/static/selfhash/pdq.js"), ("POST", "/v1/victim-reports/hashes")])
    with_body = [r for r in seen if r.post_data_buffer]
    assert [r.url for r in with_body] == [f"{live.url}/v1/victim-reports/hashes"]
    body = with_body[0].post_data_buffer
    assert body is not None and len(body) < 4096
    sent = json.loads(body)
    assert sent == preview  # what the person was shown is exactly what was sent
    expected = []
    for path in chosen:
        data = path.read_bytes()
        pdq, quality = reference_pdq(data)
        expected.append({"kind": "image", "sha256": hashlib.sha256(data).hexdigest(),
                         "md5": hashlib.md5(data).hexdigest(), "pdq": {"hash": pdq, "quality": quality}})  # noqa: S324
    assert sent == {"hashes": expected, "category": "intimate_image", "reporter": "depicted",
                    "contact": {"email": "person@example.org"}, "email_updates": True, "language": "en"}
    for path in chosen:
        sample = windows(path.read_bytes())
        assert not carries_file_bytes(body, sample), path.name
        assert path.name.encode() not in body and b"beach" not in body
    # What the server kept: the same hashes, and the case the page showed.
    with live.system.db.sessions() as session:
        report = session.scalar(select(VictimReport).where(VictimReport.reference == case_number))
        assert report is not None and report.kind.value == "hashes"
        items = session.scalars(select(VictimReportItem).where(VictimReportItem.report_id == report.id)
                                .order_by(VictimReportItem.position)).all()
        assert [i.hashes for i in items] == [e | {"frames": None} for e in expected]
    assert status_link is not None and status_link.startswith(f"{live.url}/report/status/")

    # The same three files through `firebreak selfhash --send`, from a terminal: the same hashes.
    result = CliRunner().invoke(cli, ["selfhash", *map(str, chosen), "--send", live.url])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["hashes"] == expected
    assert "case number: VR-" in result.stderr


def test_the_accessibility_check_finds_what_it_should(browser: Browser) -> None:
    page = browser.new_page()
    try:
        page.set_content('<html><body><input type="text"><p style="color:#ccc;background:#fff">faint</p></body></html>')
        found = {v["id"] for v in axe(page)}
    finally:
        page.close()
    assert {"label", "color-contrast", "html-has-lang"} <= found


def test_every_victim_page_passes_axe_in_english_and_korean(browser: Browser, live: LiveFirebreak) -> None:
    link = sandbox_message(live, jpeg(scene(82), 90))
    for language in ("en", "ko"):
        context = browser.new_context(locale=language)
        page = context.new_page()
        try:
            for path in ("/report", "/report/hashes", "/report/lookup"):
                page.goto(f"{live.url}{path}?lang={language}")
                assert page.get_attribute("html", "lang") == language
                accessible(page, f"{path} ({language})")
            page.goto(f"{live.url}/report?lang={language}")
            page.fill("#links", "https://elsewhere.example/post/1")
            page.click("#send-report")
            accessible(page, f"report form with errors ({language})")
            page.fill("#links", link)
            page.check("#category-threat_to_share")
            page.check("#reporter-guardian")
            page.check("#good_faith")
            page.fill("#signature", "Parent Name")
            page.click("#send-report")
            page.wait_for_selector("#case-number")
            accessible(page, f"sent page ({language})")
            page.click("#status-link")
            page.wait_for_selector("#steps")
            accessible(page, f"status page ({language})")
            page.goto(f"{live.url}/report/lookup?lang={language}")
            page.fill("#case_number", "VR-2026-000000")
            page.fill("#pin", "0000-0000")
            page.click("#lookup-button")
            page.wait_for_selector("#form-errors")
            accessible(page, f"look-up refused ({language})")
        finally:
            context.close()
