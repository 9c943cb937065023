"""A notice in the user's language, end to end: a sandbox user who chose Korean posts a picture that is then banked;
the sandbox tells Firebreak her language with the post, and the removal notice in her inbox is Korean, from the real
catalogs. Someone who chose no language gets the same notice in English."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from firebreak.banks import service as banks
from firebreak.banks.models import MatchAction, Provenance
from firebreak.banks.schemas import BankCreate
from firebreak.bootstrap.http import create_app
from firebreak.bootstrap.system import System
from firebreak.core.clock import FakeClock
from firebreak.core.i18n import translator
from firebreak.integrations.sandbox.models import SandboxUser
from firebreak.integrations.sandbox.seed import SeedChat, SeedMessage, SeedUser, seed
from firebreak.platform.models import PlatformAccount
from firebreak.signals.hashing import hash_bytes
from tests.support import jpeg, scene

JIWOO = {"X-Sandbox-User": "jiwoo"}
SAM = {"X-Sandbox-User": "sam"}
_HANGUL = re.compile(r"[\uac00-\ud7a3]")


def settle(system: System, clock: FakeClock) -> None:
    for _ in range(8):
        system.runner.reconcile()
        clock.advance(timedelta(seconds=2))
    system.runner.reconcile()


def english_words(text: str) -> list[str]:
    """Runs of English prose: three or more Latin words in a row, outside links and references."""
    plain = re.sub(r"\S*://\S+|fb-[\w-]+", " ", text)
    return re.findall(r"[A-Za-z]{3,}(?:[ ,]+[A-Za-z]{2,}){2,}", plain)


def test_a_korean_user_reads_the_removal_notice_in_korean(system: System, clock: FakeClock) -> None:
    system.prepare()
    client = TestClient(create_app(system), raise_server_exceptions=False)
    r = client.post("/sandbox/api/users", json={"handle": "jiwoo", "display_name": "지우", "language": "ko"})
    assert r.status_code == 201 and r.json()["language"] == "ko", r.text
    jiwoo = r.json()["id"]
    r = client.post("/sandbox/api/users", json={"handle": "sam"})
    assert r.status_code == 201 and r.json()["language"] is None
    sam = r.json()["id"]
    r = client.post("/sandbox/api/users", json={"handle": "kim", "language": "Korean"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "language"
    chat = client.post("/sandbox/api/chats", headers=JIWOO, json={"title": "동네 친구들", "members": ["sam"]}).json()
    picture = jpeg(scene(21), 92)
    for who in (JIWOO, SAM):
        r = client.post(f"/sandbox/api/chats/{chat['id']}/messages", headers=who,
                        files={"file": ("photo.jpg", picture, "image/jpeg")})
        assert r.status_code == 201, r.text
    settle(system, clock)
    with system.db.sessions() as session:
        told = dict(session.execute(select(PlatformAccount.external_id, PlatformAccount.language)).all())
    assert told == {jiwoo: "ko", sam: None}  # the platform said it with the post

    with system.db.transaction() as session:
        bank = banks.create_bank(session=session, clock=clock, actor="test", data=BankCreate(
            name="known-ncii", action=MatchAction.REMOVE, policy_category="ncii"))
        banks.add_entries(session=session, clock=clock, actor="test", bank=bank,
                          entries=banks.entries_for_hashes(hash_bytes(picture)), provenance=Provenance.IMPORT,
                          source_ref="import:test")
    settle(system, clock)

    korean = [n["text"] for n in client.get("/sandbox/api/notices", headers=JIWOO).json()]
    english = [n["text"] for n in client.get("/sandbox/api/notices", headers=SAM).json()]
    assert len(korean) == 1 and len(english) == 1
    ko = translator("ko").translations.gettext
    notice = korean[0]
    assert "removed your picture" in english[0] and "this notice is a warning" in english[0]
    for sentence in ("{platform} removed your {medium}{when}{where}.", "Why: it is {summary}.",
                     "an intimate image of a person shared without their consent", "picture"):
        assert ko(sentence) != sentence, f"the Korean catalog does not translate {sentence!r}"
    assert ko("an intimate image of a person shared without their consent") in notice
    assert ko("Why: it is {summary}.").split("{")[0] in notice
    assert ko("What it means for your account: this notice is a warning. Nothing else happens to your account "
              "now. If you share content like this again, your account can be restricted and then suspended.") \
        in notice
    assert f"{ko('picture')}을(를) 삭제했습니다" in notice
    assert len(_HANGUL.findall(notice)) > 100
    assert english_words(notice) == []
    assert "known-ncii" not in notice  # never a bank's name, in any language

    page = client.get(f"/sandbox/u/{jiwoo}").text
    assert ko("an intimate image of a person shared without their consent") in page  # the inbox, as the user sees it


def test_a_person_added_on_the_sandbox_page_keeps_the_language_chosen(system: System) -> None:
    system.prepare()
    client = TestClient(create_app(system), raise_server_exceptions=False, follow_redirects=False)
    page = client.get("/sandbox/", headers={"Accept-Language": "ko-KR,ko;q=0.9"}).text
    assert '<option value="ko" selected>한국어</option>' in page  # the page's language, unless changed
    assert client.post("/sandbox/users", data={"handle": "minji", "language": "ko"}).status_code == 303
    assert client.post("/sandbox/users", data={"handle": "olly"}).status_code == 303
    assert client.post("/sandbox/users", data={"handle": "xavi", "language": "k"}).status_code == 422
    with system.db.sessions() as session:
        chosen = {u.handle: u.language for u in session.scalars(select(SandboxUser))}
    assert chosen == {"minji": "ko", "olly": None}


def test_seeded_users_post_in_their_language(system: System) -> None:
    with system.db.transaction() as session:
        seeded = seed(session=session, clock=system.clock, users=[SeedUser("hana", language="ko"), "leo"],
                      chats=[SeedChat(key="room", members=["hana", "leo"])],
                      messages=[SeedMessage(chat="room", sender="hana", media=jpeg(scene(22), 90)),
                                SeedMessage(chat="room", sender="leo", forward_of=0)])
    assert [(e.sender.id, e.sender.language) for e in seeded.events if e.sender] == [
        (seeded.users["hana"], "ko"), (seeded.users["leo"], None)]


def test_a_user_changes_the_language_notices_come_in(system: System, clock: FakeClock) -> None:
    system.prepare()
    client = TestClient(create_app(system), raise_server_exceptions=False, follow_redirects=False)
    sam = client.post("/sandbox/api/users", json={"handle": "sam"}).json()["id"]
    kim = client.post("/sandbox/api/users", json={"handle": "kim"}).json()["id"]
    r = client.patch(f"/sandbox/api/users/{sam}", headers=SAM, json={"language": "ko"})
    assert r.status_code == 200 and r.json()["language"] == "ko", r.text
    r = client.patch(f"/sandbox/api/users/{kim}", headers=SAM, json={"language": "ko"})
    assert r.status_code == 403 and "only your own" in r.json()["detail"]
    r = client.patch(f"/sandbox/api/users/{sam}", headers=SAM, json={"language": "Korean"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "language"
    chat = client.post("/sandbox/api/chats", headers=SAM, json={"title": "notes"}).json()
    r = client.post(f"/sandbox/api/chats/{chat['id']}/messages", headers=SAM,
                    files={"file": ("photo.jpg", jpeg(scene(23), 92), "image/jpeg")})
    assert r.status_code == 201, r.text
    settle(system, clock)
    with system.db.sessions() as session:  # the platform said it with the next post
        assert session.scalar(select(PlatformAccount.language).where(PlatformAccount.external_id == sam)) == "ko"

    assert client.post(f"/sandbox/u/{kim}/language", data={"language": "en"}).status_code == 303  # the page's form
    assert client.post(f"/sandbox/u/{kim}/language", data={"language": "k"}).status_code == 422
    page = client.get(f"/sandbox/u/{kim}").text
    assert '<option value="en" selected>' in page
