"""Due process in a real browser (Debian's Chromium) against a live Firebreak with its worker: a moderator logs in,
claims a match, reveals it, decides with a key; the message leaves the sandbox; its sender appeals from the link in
the sandbox inbox; a second moderator reverses; the message is back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlalchemy import func, select

from firebreak.banks import service as banks
from firebreak.banks.models import MatchAction, Provenance
from firebreak.banks.schemas import BankCreate
from firebreak.enforcement.models import Action, ActionStatus
from firebreak.integrations.sandbox import service as sandbox
from firebreak.integrations.sandbox.models import MessageStatus
from firebreak.integrations.sandbox.seed import SeedChat, SeedMessage, seed
from firebreak.review.models import ItemStatus, ReviewItem
from firebreak.signals.hashing import hash_bytes
from tests.conftest import DatabaseFactory
from tests.console.world import PASSWORD, add_staff
from tests.live import LiveFirebreak, wait_for
from tests.support import jpeg, scene

pytestmark = pytest.mark.slow
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def idle(live: LiveFirebreak) -> bool:
    with live.system.db.sessions() as session:
        return not session.scalar(select(func.count()).select_from(Action).where(
            Action.status == ActionStatus.PENDING))


def status_of(live: LiveFirebreak, message: str) -> MessageStatus:
    with live.system.db.sessions() as session:
        return sandbox.get_message(session=session, ref=message).status


def log_in(page: Page, live: LiveFirebreak, username: str) -> None:
    page.goto(f"{live.url}/console/login")
    page.fill("#login", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live.url}/console")


def test_decide_by_keyboard_appeal_from_the_inbox_and_reverse(tmp_path: Path, databases: DatabaseFactory,
                                                              browser: Browser) -> None:
    shots = tmp_path / "shots"
    shots.mkdir()
    picture = jpeg(scene(21), 92)
    with LiveFirebreak(tmp_path, databases.new_url("sqlite")) as live:
        system = live.system
        assert system.sandbox is not None
        add_staff(system)
        with system.db.transaction() as session:
            seeded = seed(session=session, clock=system.clock, users=["cat", "dan"],
                          chats=[SeedChat(key="room", members=["cat", "dan"], title="Book club")],
                          messages=[SeedMessage(chat="room", sender="cat", media=picture, text="holiday"),
                                    SeedMessage(chat="room", sender="dan", media=jpeg(scene(22), 92))])
        for event in seeded.events:
            system.sandbox.deps.link.submit_event("sandbox", event)
        message, chat = seeded.messages[0] or "", seeded.chats["room"]
        with system.db.transaction() as session:
            bank = banks.create_bank(session=session, clock=system.clock, actor="test", data=BankCreate(
                name="suspected", action=MatchAction.REVIEW, policy_category="ncii"))
            banks.add_entries(session=session, clock=system.clock, actor="test", bank=bank,
                              entries=banks.entries_for_hashes(hash_bytes(picture)), provenance=Provenance.IMPORT)

        def open_items(kind: str) -> int:
            with system.db.sessions() as session:
                return int(session.scalar(select(func.count()).select_from(ReviewItem).where(
                    ReviewItem.kind == kind, ReviewItem.status == ItemStatus.OPEN)) or 0)

        assert wait_for(lambda: open_items("match") == 1, 30), "the match did not reach the queue"

        # A moderator works the queue with the keyboard.
        mo = browser.new_context().new_page()
        log_in(mo, live, "mo")
        mo.click("text=Review")
        mo.wait_for_selector('html[data-keys="on"] #queue')
        mo.keyboard.press("j")
        mo.keyboard.press("Enter")
        mo.wait_for_selector('html[data-keys="on"] #item-title')
        assert mo.locator("img.preview__blurred").count() == 1 and mo.locator("img.preview__clear").count() == 0
        mo.keyboard.press("c")
        expect(mo.locator('html[data-keys="on"] #flash')).to_contain_text("You hold this item now")
        mo.keyboard.press("r")
        mo.wait_for_selector('html[data-keys="on"] img.preview__clear')
        assert mo.eval_on_selector("img.preview__clear", "img => img.complete && img.naturalWidth > 0")
        expect(mo.locator("#reveal-count")).to_contain_text("You revealed 1 today")
        mo.screenshot(path=str(shots / "1-revealed.png"), full_page=True)
        mo.keyboard.press("1")
        assert mo.evaluate("document.activeElement.id") == "decide-submit"
        mo.keyboard.press("Enter")
        expect(mo.locator("#flash")).to_contain_text("Decided: Removal of 1 message(s) queued")

        # The message leaves the sandbox; its sender finds the notice, with the appeal link, in the inbox.
        user = browser.new_context().new_page()
        user.goto(f"{live.url}/sandbox/c/{chat}")
        expect(user.locator(f"#{message} .placeholder")).to_be_visible(timeout=20_000)
        user.screenshot(path=str(shots / "2-removed.png"), full_page=True)
        assert wait_for(lambda: idle(live), 20)

        def inbox_has_a_notice() -> bool:
            # The notice follows the removal in a job of its own (FOLLOW_UP_JOB): under load it lands a moment later.
            user.goto(f"{live.url}/sandbox/u/{seeded.users['cat']}")
            return user.locator(".inbox-notice").count() > 0

        assert wait_for(inbox_has_a_notice, 30, interval=0.5), "no notice reached the sender's inbox"
        notice = user.locator(".inbox-notice").first
        expect(notice).to_contain_text("an intimate image of a person shared without their consent")
        expect(notice).not_to_contain_text("suspected")
        notice.locator("a[href*='/appeals/']").click()
        user.wait_for_selector("#appeal-title")
        user.fill("#text", "This is my own holiday photo; nobody in it is undressed.")
        user.click("#appeal-submit")
        expect(user.locator("#appeal-filed")).to_contain_text("Your appeal is registered")
        user.screenshot(path=str(shots / "3-appealed.png"), full_page=True)

        # The moderator who decided may not decide the appeal; a second one reverses it.
        assert wait_for(lambda: open_items("appeal") == 1, 10)
        mo.goto(f"{live.url}/console/review")
        mo.click("a.queue-link >> text=Appeal")
        expect(mo.locator("#not-yours")).to_contain_text("another moderator decides it")
        mia = browser.new_context().new_page()
        log_in(mia, live, "mia")
        mia.goto(f"{live.url}/console/review")
        mia.click("a.queue-link >> text=Appeal")
        mia.wait_for_selector('html[data-keys="on"] #item-title')
        mia.keyboard.press("c")
        expect(mia.locator('html[data-keys="on"] #flash')).to_contain_text("You hold this item now")
        expect(mia.locator("#summary")).to_contain_text("appeals against a decision taken by a person")
        mia.keyboard.press("1")
        mia.keyboard.press("Enter")
        expect(mia.locator("#flash")).to_contain_text("Reversed")
        mia.screenshot(path=str(shots / "4-reversed.png"), full_page=True)

        # The message is back for everyone, and its sender is told.
        assert wait_for(lambda: status_of(live, message) == MessageStatus.LIVE, 20), "not restored"
        user.goto(f"{live.url}/sandbox/c/{chat}")
        expect(user.locator(f"#{message} .placeholder")).to_have_count(0)
        expect(user.locator(f"#{message}")).to_contain_text("holiday")
        deadline = time.monotonic() + 20
        while "reversed its decision" not in user.content():
            assert time.monotonic() < deadline, "no answer to the appeal in the inbox"
            user.goto(f"{live.url}/sandbox/u/{seeded.users['cat']}")
            time.sleep(0.5)
        user.screenshot(path=str(shots / "5-restored.png"), full_page=True)
