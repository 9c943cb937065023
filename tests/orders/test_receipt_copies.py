"""Receipts copy by copy: an order's item with exact and near copies on the platform; the JSON receipt, the printable
receipt, the portal's and the console's order page and the receipt mail's attachment list the same copies, exactly as
many as were removed. Also: ``reported_back_at`` of an open order, and the order page's thread and follow-ups."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from firebreak.authorities import service as authorities
from firebreak.authorities.models import Authority
from firebreak.authorities.schemas import ContactCreate
from firebreak.bootstrap.http import create_app
from firebreak.bootstrap.system import System
from firebreak.core.clock import FakeClock
from firebreak.mail.outbox import read_outbox
from firebreak.orders.models import Order, OrderStatus
from firebreak.signals.hashing import hash_bytes
from tests.orders.test_email_intake import DOMAIN, _authority, _deliver, _mail
from tests.orders.test_orders_api import auth, authority_token, run_until_reported, staff_token
from tests.support import FakeDns, RecordingPlatform, copies_of, jpeg, later, media_event, photo

LINK = "https://recording.test/c/{chat}/m/{message}"
STAFF_PASSWORD = "a long password!"  # staff_token's
CONTACT_PASSWORD = "a good long portal password"


class LinkedPlatform(RecordingPlatform):
    """The recording platform, also saying how it links to a message (adapters.MessageLinks), as real ones do."""

    def message_link(self, chat_id: str, message_id: str) -> str:
        return LINK.format(chat=chat_id, message=message_id)


@pytest.fixture
def platform(system: System) -> LinkedPlatform:
    system.gateway.ensure_integration(name="test", adapter="webhook")
    recording = LinkedPlatform()
    system.adapters.override("test", recording)
    return recording


@pytest.fixture
def client(system: System) -> Iterator[TestClient]:
    with TestClient(create_app(system), raise_server_exceptions=False, follow_redirects=False) as c:
        yield c


@dataclass
class World:
    link: str  # the message the order names
    exact: set[tuple[str, str]] = field(default_factory=set)  # copies byte for byte
    near: dict[tuple[str, str], bytes] = field(default_factory=dict)  # re-encoded, resized, mirrored copies
    kept: set[tuple[str, str]] = field(default_factory=set)  # what must stay
    original: bytes = b""

    @property
    def copies(self) -> set[tuple[str, str]]:
        return self.exact | set(self.near)


def seed(system: System, platform: RecordingPlatform, clock: FakeClock) -> World:
    """One picture posted in chat-a, its exact and near copies in other chats, and pictures that must stay; all
    posted before the order comes."""
    variants = copies_of(photo("astronaut"))
    posts = [("chat-a", "original", variants["exact"], "u1"),
             ("chat-b", "forwarded", variants["exact"], "u2"),
             ("chat-c", "again", variants["exact"], "u3"),
             ("chat-b", "recompressed", variants["reencoded_q50"], "u2"),
             ("chat-b", "grey", variants["grey"], "u2"),
             ("chat-c", "small", variants["half_size"], "u3"),
             ("chat-a", "mirror", variants["mirrored"], "u4"),
             ("chat-a", "coffee", jpeg(photo("coffee")), "u1"),
             ("chat-b", "cat", jpeg(photo("chelsea")), "u2")]
    world = World(link=LINK.format(chat="chat-a", message="original"), original=variants["exact"])
    for n, (chat, message, data, sender) in enumerate(posts):
        platform.add_message(chat, message)
        system.gateway.record_event("test", media_event(chat, message, data, sender=sender,
                                                        when=later(clock.now(), n)))
    clock.advance(timedelta(seconds=len(posts)))
    world.exact = {("chat-b", "forwarded"), ("chat-c", "again")}
    world.near = {("chat-b", "recompressed"): variants["reencoded_q50"], ("chat-b", "grey"): variants["grey"],
                  ("chat-c", "small"): variants["half_size"], ("chat-a", "mirror"): variants["mirrored"]}
    world.kept = {("chat-a", "coffee"), ("chat-b", "cat")}
    return world


def pdq_distance(banked: bytes, copy: bytes) -> int:
    """How far a copy is from the banked picture, as matching measures it: the closest of the hashes the copy is
    looked up by (its rotations and mirrors, and a small picture's upscaled ones)."""
    stored = int(hash_bytes(banked).pdq.value, 16)
    return min(bin(stored ^ int(query, 16)).count("1") for query in hash_bytes(copy).query_hashes)


# -- a small DOM, enough to read rendered pages by element and class -------------------------------------------------

@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node] = field(default_factory=list)
    parent: Node | None = None
    text_parts: list[str] = field(default_factory=list)

    def text(self) -> str:
        return " ".join(" ".join(self._texts()).split())

    def _texts(self) -> Iterator[str]:
        yield from self.text_parts
        for child in self.children:
            yield from child._texts()

    def iter(self) -> Iterator[Node]:
        for child in self.children:
            yield child
            yield from child.iter()

    def find_all(self, tag: str, cls: str | None = None, **attrs: str) -> list[Node]:
        return [n for n in self.iter() if n.tag == tag
                and (cls is None or cls in n.attrs.get("class", "").split())
                and all(n.attrs.get(k) == v for k, v in attrs.items())]

    def find(self, tag: str, cls: str | None = None, **attrs: str) -> Node:
        found = self.find_all(tag, cls, **attrs)
        assert found, f"no <{tag} class={cls} {attrs}>"
        return found[0]

    def ancestors(self) -> Iterator[Node]:
        node = self.parent
        while node is not None:
            yield node
            node = node.parent


class _Builder(HTMLParser):
    VOID = {"br", "input", "meta", "link", "img", "hr", "col", "source", "wbr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {})
        self.current = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs}, parent=self.current)
        self.current.children.append(node)
        if tag not in self.VOID:
            self.current = node

    def handle_endtag(self, tag: str) -> None:
        node: Node | None = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data: str) -> None:
        self.current.children.append(Node("#text", {}, parent=self.current, text_parts=[data]))


def dom(html: str) -> Node:
    builder = _Builder()
    builder.feed(html)
    builder.close()
    return builder.root


def copy_rows_of(rows: list[Node]) -> dict[str, str]:
    """link -> the row's text, for rows that link to a removed copy."""
    out: dict[str, str] = {}
    for row in rows:
        links = [a.attrs["href"] for a in row.find_all("a")]
        text = row.text()
        key = links[0] if links else next(w for w in text.split() if w.startswith("https://recording.test/"))
        assert key not in out, f"copy {key} listed twice"
        out[key] = text
    return out


def match_words(copy: dict[str, object]) -> str:
    signal = str(copy["signal_type"]).upper()
    return f"exact ({signal})" if copy["match"] == "exact" else f"near ({signal}, distance {copy['distance']})"


# -- logins -------------------------------------------------------------------------------------------------------

def csrf_of(html: str) -> str:
    return dom(html).find("input", name="csrf_token").attrs["value"]


def console_login(client: TestClient, username: str = "staff-liaison") -> None:
    page = client.get("/console/login")
    r = client.post("/console/login", data={"username": username, "password": STAFF_PASSWORD,
                                            "csrf_token": csrf_of(page.text), "next": "/console"})
    assert r.status_code == 303, r.text


def portal_login(client: TestClient, email: str) -> None:
    r = client.post("/portal/login", data={"email": email, "password": CONTACT_PASSWORD,
                                           "csrf_token": csrf_of(client.get("/portal/login").text)})
    assert r.status_code == 303, r.text


def add_contact(system: System, authority_name: str, email: str) -> None:
    with system.db.transaction() as session:
        authority = session.scalar(select(Authority).where(Authority.name == authority_name))
        assert authority is not None
        authorities.add_contact(session=session, clock=system.clock, actor="test", authority=authority,
                                data=ContactCreate(name="Officer Kim", email=email, password=CONTACT_PASSWORD))


# -- the tests ----------------------------------------------------------------------------------------------------

def test_every_copy_is_listed_once_with_where_when_and_how_it_matched(
        system: System, platform: LinkedPlatform, client: TestClient, clock: FakeClock) -> None:
    world = seed(system, platform, clock)
    token = authority_token(system, "KCSC")
    r = client.post("/v1/orders", headers=auth(token), json={
        "category": "sexual_deepfake", "items": [{"kind": "message_link", "value": world.link}]})
    assert r.status_code == 201, r.text
    tracking = r.json()["tracking_id"]
    run_until_reported(system, clock)

    assert platform.removed() == {("chat-a", "original")} | world.copies  # every copy, nothing else
    # Afterwards someone posts the picture again: it is removed as it is posted, and counted as a re-upload
    # blocked, not as one more copy that was on the platform.
    platform.add_message("chat-c", "reposted")
    system.gateway.record_event("test", media_event("chat-c", "reposted", world.original, sender="u7",
                                                    when=clock.now()))
    run_until_reported(system, clock, rounds=3)
    assert ("chat-c", "reposted") in platform.removed()

    receipt = client.get(f"/v1/orders/{tracking}/receipt", headers=auth(token)).json()
    assert receipt["status"] == "completed"
    (item,) = receipt["items"]
    copies = item["copies"]
    assert item["copies_removed"] == len(copies) == receipt["totals"]["copies_removed"] == len(world.copies) == 6
    assert item["reuploads_blocked"] == receipt["totals"]["reuploads_blocked"] == 1
    assert {(c["chat"], c["message"]) for c in copies} == world.copies  # not the named message itself
    received = datetime.fromisoformat(receipt["received_at"])
    for c in copies:
        where = (c["chat"], c["message"])
        assert c["link"] == LINK.format(chat=c["chat"], message=c["message"])
        assert c["chat_title"] == f"Chat {c['chat']}"
        assert received <= datetime.fromisoformat(c["removed_at"]) <= clock.now()
        if where in world.exact:
            assert (c["match"], c["distance"]) == ("exact", 0) and c["signal_type"] in ("sha256", "md5"), c
        else:
            assert (c["match"], c["signal_type"]) == ("near", "pdq"), c
            assert 0 <= c["distance"] <= 31, c
    for where, data in world.near.items():  # the PDQ distance the match was made at
        (c,) = [c for c in copies if (c["chat"], c["message"]) == where]
        assert c["distance"] == pdq_distance(world.original, data), where

    expected = {c["link"]: match_words(c) for c in copies}
    removed_at = {c["link"]: f"{datetime.fromisoformat(c['removed_at']):%Y-%m-%d %H:%M:%S} UTC" for c in copies}

    # The printable receipt: one row per copy, with the same link and match.
    html = client.get(f"/v1/orders/{tracking}/receipt.html", headers=auth(token))
    assert html.status_code == 200
    rows = copy_rows_of(dom(html.text).find_all("tr", "copies"))
    assert set(rows) == set(expected)
    for link, text in rows.items():
        assert expected[link] in text and removed_at[link] in text, (link, text)
        assert f"Chat {link.split('/c/')[1].split('/')[0]}" in text

    # The console's order page: the same rows, under the item.
    staff_token(system)
    console_login(client)
    page = client.get(f"/console/orders/{tracking}")
    assert page.status_code == 200
    rows = copy_rows_of(dom(page.text).find_all("tr", "copy"))
    assert set(rows) == set(expected)
    for link, text in rows.items():
        assert expected[link] in text and removed_at[link] in text, (link, text)
    summary = dom(page.text).find("details", "copies").find("summary").text()
    assert summary == "6"
    assert dom(page.text).find("span", id="copies-removed").attrs["data-count"] == "6"


def mail_order(system: System, platform: RecordingPlatform, clock: FakeClock, dns: FakeDns,
               extra: str = "") -> tuple[World, str]:
    """The world seeded, and a DKIM-signed mail order for its picture from a trusted authority, acted on and
    reported back; returns the world and the order's tracking ID."""
    world = seed(system, platform, clock)
    key = _authority(system, dns)
    with system.db.transaction() as session:  # trusted for this category, so the order is acted on at once
        authority = session.scalar(select(Authority))
        assert authority is not None
        authority.trusted_categories = ["ncii", "sexual_deepfake"]
    _deliver(system, _mail(f"Legal basis: NetzDG\nSexual deepfakes.\nCategory: sexual_deepfake\n{world.link}\n{extra}",
                           key=key, subject="Removal order AZ-7"))
    run_until_reported(system, clock)
    with system.db.sessions() as session:
        (order,) = session.scalars(select(Order))
        assert order.status == OrderStatus.COMPLETED, order.status
        return world, order.tracking_id


def test_the_receipt_mail_attaches_the_json_with_the_same_copies(
        system: System, platform: LinkedPlatform, client: TestClient, clock: FakeClock, dns: FakeDns) -> None:
    world, tracking = mail_order(system, platform, clock, dns)
    assert platform.removed() == {("chat-a", "original")} | world.copies

    mails = read_outbox(system.settings.outbox_dir)
    receipts = [m for m in mails if "Receipt for order" in m.text]
    assert len(receipts) == 1, [m.subject for m in mails]
    mail = receipts[0]
    assert mail.subject == f"Re: Removal order AZ-7 [{tracking}]"
    assert mail.to == f"officer@{DOMAIN}"
    attachments = [a for a in mail.message.iter_attachments() if isinstance(a, EmailMessage)]
    assert [a.get_filename() for a in attachments] == [f"receipt-{tracking}.json"]
    assert attachments[0].get_content_type() == "application/json"
    sent = json.loads(attachments[0].get_payload(decode=True))
    (sent_item,) = sent["items"]
    assert sent_item["copies_removed"] == len(sent_item["copies"]) == sent["totals"]["copies_removed"] == 6
    assert {(c["chat"], c["message"]) for c in sent_item["copies"]} == world.copies
    assert all(c["link"] == LINK.format(chat=c["chat"], message=c["message"]) for c in sent_item["copies"])
    assert "copies removed: 6" in mail.text  # the mail keeps the item-by-item summary

    # The same copies as the live receipt (staff read it: the order came by mail).
    liaison = staff_token(system)
    live = client.get(f"/v1/orders/{tracking}/receipt", headers=auth(liaison)).json()

    def rows(receipt: dict[str, Any]) -> list[tuple[Any, ...]]:
        (item,) = receipt["items"]
        return sorted((c["chat"], c["message"], c["link"], c["removed_at"], c["match"], c["signal_type"],
                       c["distance"]) for c in item["copies"])

    assert rows(sent) == rows(live)
    assert sent["reported_back_at"] == live["reported_back_at"] is not None


def test_an_open_orders_receipt_says_when_it_was_last_reported_back(
        system: System, platform: LinkedPlatform, client: TestClient, clock: FakeClock) -> None:
    world = seed(system, platform, clock)
    token = authority_token(system, "Police", trusted=False, deadline=3600)  # waits for a liaison officer
    tracking = client.post("/v1/orders", headers=auth(token), json={
        "category": "sexual_deepfake", "items": [{"kind": "message_link", "value": world.link}]}).json()["tracking_id"]
    liaison = staff_token(system)

    def reported_back_at() -> str | None:
        receipt = client.get(f"/v1/orders/{tracking}/receipt", headers=auth(token)).json()
        assert receipt["status"] == "verified"  # still open
        value: str | None = receipt["reported_back_at"]
        return value

    assert reported_back_at() is None
    clock.advance(timedelta(minutes=7))
    assert reported_back_at() is None  # never sent: not the time of the GET

    clock.advance(timedelta(minutes=3))
    sent_at = clock.now()
    r = client.post(f"/v1/orders/{tracking}/report", headers=auth(liaison))
    assert r.status_code == 200, r.text
    assert datetime.fromisoformat(r.json()["reported_back_at"]) == sent_at
    clock.advance(timedelta(minutes=5))
    first = reported_back_at()
    clock.advance(timedelta(minutes=11))
    second = reported_back_at()
    assert first == second and first is not None and datetime.fromisoformat(first) == sent_at

    def shown(path: str, client: TestClient, headers: dict[str, str] | None = None) -> str:
        html = client.get(path, headers=headers or {})
        assert html.status_code == 200, html.text
        return html.text

    printable = shown(f"/v1/orders/{tracking}/receipt.html", client, auth(token))
    assert f"{sent_at:%Y-%m-%d %H:%M:%S} UTC" in printable
    assert f"{clock.now():%Y-%m-%d %H:%M:%S}" not in printable  # not the time of the GET
    console_login(client)
    before = dom(shown(f"/console/orders/{tracking}", client)).find("dd", id="reported-back").text()
    clock.advance(timedelta(minutes=1))
    after = dom(shown(f"/console/orders/{tracking}", client)).find("dd", id="reported-back").text()
    assert before == after and f"{sent_at:%Y-%m-%d %H:%M:%S} UTC" in after

    # At the deadline the interim receipt goes out: that is now the time it was last reported back.
    clock.advance(timedelta(minutes=35))  # past the hour allowed
    overdue_at = clock.now()
    system.runner.reconcile()
    assert datetime.fromisoformat(reported_back_at() or "") == overdue_at
    clock.advance(timedelta(hours=2))
    assert datetime.fromisoformat(reported_back_at() or "") == overdue_at


def test_the_order_page_folds_our_mails_and_shows_what_followed(
        system: System, platform: LinkedPlatform, client: TestClient, clock: FakeClock, dns: FakeDns) -> None:
    platform.add_message("chat-d", "hello")  # a chat the order names as a whole
    system.gateway.record_event("test", media_event("chat-d", "hello", jpeg(photo("rocket")), sender="u9",
                                                    when=clock.now()))
    world, tracking = mail_order(system, platform, clock, dns, extra="https://recording.test/c/chat-d\n")
    # u2, whose two copies went with the order (a warning), posts the picture twice more: a violation each, and
    # the second restricts the account (the conduct policy, docs/enforcement.md).
    for n in range(2):
        platform.add_message("chat-b", f"again-{n}")
        system.gateway.record_event("test", media_event("chat-b", f"again-{n}", world.original, sender="u2",
                                                        when=later(clock.now(), n)))
    run_until_reported(system, clock, rounds=3)
    assert platform.count("restrict_account") == 1 and platform.count("suspend_chat") == 1

    staff_token(system)
    add_contact(system, "Cyber Police", "kim@police.example")
    with TestClient(create_app(system), raise_server_exceptions=False, follow_redirects=False) as portal:
        portal_login(portal, "kim@police.example")
        portal_page = portal.get(f"/portal/orders/{tracking}")
    console_login(client)
    console_page = client.get(f"/console/orders/{tracking}")
    assert portal_page.status_code == console_page.status_code == 200

    for page in (portal_page.text, console_page.text):
        thread = dom(page).find("ol", "thread")
        messages = thread.find_all("li", "thread__msg")
        kinds = [next(c for c in m.attrs["class"].split() if c.startswith("thread__msg--")) for m in messages]
        # The authority's mail, our acknowledgement, our receipt: nothing internal in this order.
        assert kinds == ["thread__msg--from_authority", "thread__msg--system", "thread__msg--system"], kinds
        own, ack, receipt = messages
        assert own.find_all("details") == [] and world.link in own.find("pre", "thread__body").text()
        for mail, first_line in ((ack, "received your order"), (receipt, f"Receipt for order {tracking}")):
            (folded,) = mail.find_all("details", "thread__details")
            assert "open" not in folded.attrs  # closed until opened
            summary = folded.find("summary")
            assert first_line in summary.text() and "\n" not in "".join(summary._texts()).strip()  # one line
            body = folded.find("pre", "thread__body")
            assert len(body.text()) > 3 * len(folded.find("summary").text())  # the whole text, folded away
            bodies_outside = [p for p in mail.find_all("pre") if folded not in p.ancestors()]
            assert bodies_outside == []  # not repeated in full outside the fold
        # The removals are listed under the item, one row per copy.
        assert len(dom(page).find_all("tr", "copy")) == len(world.copies)

    follow_ups = dom(console_page.text).find("section", id="follow-ups")
    rows = {row.attrs["data-kind"]: row.text() for row in follow_ups.find_all("tr") if "data-kind" in row.attrs}
    assert set(rows) == {"restrict_account", "suspend_chat"}, rows
    assert "u2" in rows["restrict_account"] and "Chat chat-d" in rows["suspend_chat"]
    assert all("Done" in text or "done" in text for text in rows.values()), rows
    # For staff only (docs/hotline.md): the authority's page does not show who was restricted.
    assert dom(portal_page.text).find_all("section", id="follow-ups") == []


def test_edited_copies_removed_with_the_item_are_listed_as_edited(
        system: System, platform: LinkedPlatform, client: TestClient, clock: FakeClock) -> None:
    """A cropped and captioned copy posted before the order goes with the item (verified by the second line of
    matching), is counted once among the copies, and the receipt says how it matched: an edited copy."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    import _copy_eval as ev  # noqa: PLC0415 - the bench's evaluation set, importable once bench/ is on the path

    def encoded(image: Any) -> bytes:
        out = io.BytesIO()
        image.convert("RGB").save(out, "JPEG", quality=88)
        return out.getvalue()

    picture = next(s for s in ev.sources(40) if s.label == "coffee@0,0").image()
    posts = [("chat-a", "original", encoded(picture)),
             ("chat-b", "edited", encoded(ev.caption(ev.crop_sides(picture, 0.08, "all"), top="lol", bottom=None))),
             ("chat-b", "other", encoded(ev.sources(40)[-1].image()))]
    for n, (chat, message, data) in enumerate(posts):
        platform.add_message(chat, message)
        system.gateway.record_event("test", media_event(chat, message, data, when=later(clock.now(), n)))
    run_until_reported(system, clock, rounds=2)  # each picture described once
    token = authority_token(system, "KCSC")
    r = client.post("/v1/orders", headers=auth(token), json={
        "category": "sexual_deepfake", "items": [{"kind": "message_link",
                                                  "value": LINK.format(chat="chat-a", message="original")}]})
    assert r.status_code == 201, r.text
    run_until_reported(system, clock)

    assert platform.removed() == {("chat-a", "original"), ("chat-b", "edited")}
    receipt = client.get(f"/v1/orders/{r.json()['tracking_id']}/receipt", headers=auth(token)).json()
    (item,) = receipt["items"]
    assert item["copies_removed"] == receipt["totals"]["copies_removed"] == 1
    assert item["reuploads_blocked"] == 0
    (copy,) = item["copies"]
    assert (copy["chat"], copy["message"], copy["match"], copy["signal_type"]) == ("chat-b", "edited", "edited",
                                                                                 "copy")
    page = client.get(f"/v1/orders/{r.json()['tracking_id']}/receipt.html", headers=auth(token))
    assert page.status_code == 200 and "edited copy (cropped, captioned or recoloured; verified)" in page.text
