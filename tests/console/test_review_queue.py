"""The review queue as moderators work it, on a fake clock: a claim runs out after the configured minutes and
another moderator takes the item; items come in the documented order (severity, then time left, then spread speed,
then the oldest); the filters narrow it (what is waiting, mine, decided; kind, source, category, jurisdiction) and a
role sees only the kinds it decides; the daily count of reveals warns at its soft limit and never locks anyone out."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select

from firebreak.audit.models import AuditEvent
from firebreak.bootstrap.system import System
from firebreak.core.clock import FakeClock
from firebreak.core.config import Settings
from firebreak.review import service as review
from firebreak.review.models import ItemStatus, ReviewItem
from tests.console.world import ConsoleWorld, csrf_of

Login = Callable[[str], TestClient]
CLAIM_MINUTES = 5
SOFT_LIMIT = 2
WARNING = f"over your daily limit of {SOFT_LIMIT}: take a break, or hand over to a colleague"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"review_claim_minutes": CLAIM_MINUTES, "reveal_soft_limit": SOFT_LIMIT})


def version_of(html: str) -> str:
    found = re.search(r'name="version" value="(\d+)"', html)
    assert found, "no version on the page"
    return found[1]


def post(client: TestClient, item_id: int, what: str, **fields: str) -> Response:
    page = client.get(f"/console/review/items/{item_id}").text
    data = {"csrf_token": csrf_of(page), **fields}
    if what in ("claim", "decide"):
        data.setdefault("version", version_of(page))
    return client.post(f"/console/review/items/{item_id}/{what}", data=data)


def rows(client: TestClient, query: str = "") -> list[int]:
    page = client.get(f"/console/review{query}")
    assert page.status_code == 200, page.text
    return [int(i) for i in re.findall(r'data-item="(\d+)"', page.text)]


def row_status(client: TestClient, item_id: int) -> str:
    page = client.get("/console/review").text
    found = re.search(rf'data-item="{item_id}">.*?<td>([^<]*)</td>\s*</tr>', page, re.S)
    assert found, f"item {item_id} is not in the queue"
    return found[1]


def stored(system: System, item_id: int) -> ReviewItem:
    with system.db.sessions() as session:
        found = session.get(ReviewItem, item_id)
        assert found is not None
        session.expunge(found)
        return found


def add(system: System, kind: str, *, source: str, severity: int = 50, deadline: timedelta | None = None,
        spread_per_hour: float = 0.0, category: str | None = None, jurisdiction: str | None = None) -> int:
    """An item as a domain would put it in (the queue's order and filters only read these columns)."""
    with system.db.transaction() as session:
        now = system.clock.now()
        key = f"test:{kind}:{now.timestamp()}:{severity}:{deadline}:{spread_per_hour}:{category}:{jurisdiction}"
        item = review.enqueue(session=session, clock=system.clock, kind=kind, source=source, subject_type="test",
                              subject_id=1, title=f"test item {key}", open_key=key, severity=severity,
                              deadline_at=now + deadline if deadline is not None else None,
                              spread=int(spread_per_hour), spread_per_hour=spread_per_hour, category=category,
                              jurisdiction=jurisdiction)
        system.clock.advance(timedelta(seconds=1))  # type: ignore[attr-defined]
        return item.id


def test_a_claim_runs_out_after_the_claim_minutes_and_then_another_moderator_can_claim(
        system: System, clock: FakeClock, world: ConsoleWorld, login: Login) -> None:
    mo, mia = login("mo"), login("mia")
    item_id = world.items["match"]
    claimed_at = clock.now()
    assert post(mo, item_id, "claim").status_code == 303
    held = stored(system, item_id)
    assert held.claimed_by_id == world.staff["mo"]
    assert held.claim_expires_at == claimed_at + timedelta(minutes=CLAIM_MINUTES)
    assert f"claimed by you for {CLAIM_MINUTES} minutes" in mo.get(f"/console/review/items/{item_id}").text
    assert row_status(mia, item_id) == "claimed by Mo Moderator"
    assert rows(mo, "?status=mine") == [item_id] and rows(mia, "?status=mine") == []

    clock.advance(timedelta(minutes=CLAIM_MINUTES, seconds=-1))  # one second left
    r = post(mia, item_id, "claim")
    assert r.status_code == 409 and "Mo Moderator is working on this item (claimed until" in r.text
    assert stored(system, item_id).claimed_by_id == world.staff["mo"]

    clock.advance(timedelta(seconds=2))  # the claim ran out: the item is back in the queue for everyone
    assert row_status(mia, item_id) == "open"
    assert row_status(mo, item_id) == "open"
    assert rows(mo, "?status=mine") == []
    r = post(mo, item_id, "decide", choice="dismiss")
    assert r.status_code == 409 and "Claim this item before deciding it" in r.text

    assert post(mia, item_id, "claim").status_code == 303
    assert stored(system, item_id).claimed_by_id == world.staff["mia"]
    assert row_status(mo, item_id) == "claimed by Mia Moderator"
    r = post(mo, item_id, "claim")
    assert r.status_code == 409 and "Mia Moderator is working on this item" in r.text
    r = post(mo, item_id, "decide", choice="dismiss")
    assert r.status_code == 409 and "Mia Moderator is working on this item" in r.text
    assert post(mia, item_id, "decide", choice="dismiss").status_code == 303
    assert stored(system, item_id).status == ItemStatus.DECIDED
    with system.db.sessions() as session:
        claims = session.scalars(select(AuditEvent.actor).where(
            AuditEvent.action == "review.claimed", AuditEvent.object_id == str(item_id)).order_by(AuditEvent.seq))
        assert list(claims) == [f"staff:{world.staff['mo']}", f"staff:{world.staff['mia']}"]


def test_the_queue_comes_by_severity_then_time_left_then_spread_then_the_oldest(
        system: System, world: ConsoleWorld, login: Login) -> None:
    hour = timedelta(hours=1)
    made = {
        "later deadline": add(system, "chat_action", source="enforcement", severity=70, deadline=2 * hour,
                              spread_per_hour=9.0, category="hate_speech"),
        "no deadline, fast": add(system, "chat_action", source="enforcement", severity=70, spread_per_hour=50.0,
                                 category="hate_speech"),
        "sooner, slow": add(system, "chat_action", source="enforcement", severity=70, deadline=hour,
                            spread_per_hour=0.5, category="hate_speech"),
        "most severe": add(system, "chat_action", source="enforcement", severity=95, category="hate_speech"),
        "overdue": add(system, "chat_action", source="enforcement", severity=70, deadline=-hour,
                       category="hate_speech"),
        "no deadline, fast, newer": add(system, "chat_action", source="enforcement", severity=70,
                                        spread_per_hour=50.0, category="hate_speech"),
        "sooner, fast": add(system, "chat_action", source="enforcement", severity=70, deadline=hour,
                            spread_per_hour=4.0, category="hate_speech"),
        "least severe": add(system, "chat_action", source="enforcement", severity=10, deadline=-hour,
                            spread_per_hour=99.0, category="hate_speech"),
    }
    # "sooner" items were added at different seconds: give them the same deadline so spread decides between them
    with system.db.transaction() as session:
        slow, fast = session.get(ReviewItem, made["sooner, slow"]), session.get(ReviewItem, made["sooner, fast"])
        assert slow is not None and fast is not None and slow.deadline_at is not None
        fast.deadline_at = slow.deadline_at
    expected = [made[k] for k in ("most severe", "overdue", "sooner, fast", "sooner, slow", "later deadline",
                                  "no deadline, fast", "no deadline, fast, newer", "least severe")]
    mo = login("mo")
    assert rows(mo, "?category=hate_speech") == expected
    everything = rows(mo)
    assert [i for i in everything if i in expected] == expected  # the same order among the others
    severities = [stored(system, i).severity for i in everything]
    assert severities == sorted(severities, reverse=True)
    page = mo.get("/console/review?category=hate_speech").text
    assert "overdue 1 hour" in page


def test_the_filters_and_each_roles_kinds(system: System, clock: FakeClock, world: ConsoleWorld,
                                          login: Login) -> None:
    german = add(system, "chat_action", source="enforcement", category="hate_speech", jurisdiction="de")
    reported = add(system, "user_report", source="platform", category="hate_speech")
    french = add(system, "match", source="bank", category="terrorist_content", jurisdiction="FR")
    mo, lee = login("mo"), login("lee")

    page = mo.get("/console/review").text
    for offered in ('<option value="user_report">User report</option>', '<option value="platform">platform</option>',
                    '<option value="terrorist_content">', '<option value="DE">DE</option>',
                    '<option value="FR">FR</option>'):
        assert offered in page, offered
    assert '<option value="order">' not in page  # a moderator does not decide orders: not offered, not listed
    assert world.items["order"] not in rows(mo)
    assert rows(mo, "?kind=order") == []

    assert rows(mo, "?kind=user_report") == [reported]
    assert sorted(rows(mo, "?source=bank")) == sorted([world.items["match"], french])
    assert sorted(rows(mo, "?category=hate_speech")) == sorted([german, reported])
    assert rows(mo, "?jurisdiction=de") == [german]  # as typed in the address bar
    assert rows(mo, "?jurisdiction=FR&source=bank") == [french]
    assert rows(mo, "?source=enforcement&category=hate_speech") == [german]
    assert rows(mo, "?source=platform&category=terrorist_content") == []
    assert 'selected>DE</option>' in mo.get("/console/review?jurisdiction=de").text  # the filter stays chosen

    assert rows(lee) == [world.items["order"]]  # a liaison officer sees orders, and only those
    assert rows(lee, "?kind=match") == []
    assert '<option value="match">' not in lee.get("/console/review").text

    match = world.items["match"]
    assert rows(mo, "?status=mine") == []
    assert post(mo, match, "claim").status_code == 303
    assert rows(mo, "?status=mine") == [match]
    assert rows(mo, "?status=mine&source=platform") == []
    assert post(mo, match, "decide", choice="dismiss").status_code == 303
    assert match not in rows(mo) and rows(mo, "?status=mine") == []
    assert rows(mo, "?status=decided") == [match]
    assert rows(mo, "?status=nonsense") == rows(mo)  # an unknown status shows what is waiting


def reveal_first_picture(client: TestClient, item_id: int) -> Response:
    page = client.get(f"/console/review/items/{item_id}").text
    media = re.search(r"/media/(\d+)\?view=", page)
    assert media, f"item {item_id} shows no picture"
    r = client.post(f"/console/review/items/{item_id}/reveal", data={"csrf_token": csrf_of(page),
                                                                     "media_id": media[1]})
    assert r.status_code == 303, r.text
    return client.get(f"/console/review/items/{item_id}/media/{media[1]}?view=clear")


def test_past_the_daily_reveal_limit_every_review_page_says_so_and_nothing_is_locked(
        system: System, clock: FakeClock, world: ConsoleWorld, login: Login) -> None:
    mo, mia = login("mo"), login("mia")
    match, appeal, chat = world.items["match"], world.items["appeal"], world.items["chat_action"]

    assert reveal_first_picture(mo, match).status_code == 200
    assert reveal_first_picture(mo, match).status_code == 200  # the same picture again is not counted twice
    queue = mo.get("/console/review").text
    assert "You revealed 1 picture today" in queue and WARNING not in queue
    assert WARNING not in mo.get(f"/console/review/items/{appeal}").text

    assert reveal_first_picture(mo, appeal).status_code == 200
    queue = mo.get("/console/review").text
    assert "You revealed 2 pictures today" in queue and WARNING in queue
    for item_id in (match, appeal, chat):
        assert WARNING in mo.get(f"/console/review/items/{item_id}").text
    other = mia.get("/console/review").text
    assert "You revealed 0 pictures today" in other and WARNING not in other  # per moderator

    clear = reveal_first_picture(mo, chat)  # a soft limit: an urgent item still gets done
    assert clear.status_code == 200 and clear.headers["content-type"] == "image/jpeg"
    assert "You revealed 3 pictures today" in mo.get("/console/review").text
    with system.db.sessions() as session:
        counted = session.scalars(select(AuditEvent.object_id).where(
            AuditEvent.action == "review.revealed", AuditEvent.actor == f"staff:{world.staff['mo']}"))
        assert sorted(counted) == sorted(str(i) for i in (match, appeal, chat))

    now = clock.now()
    clock.set(datetime(now.year, now.month, now.day, tzinfo=now.tzinfo) + timedelta(days=1, hours=8))
    tomorrow = login("mo").get("/console/review").text  # a new day (and a new login: the old one went idle)
    assert "You revealed 0 pictures today" in tomorrow and WARNING not in tomorrow
