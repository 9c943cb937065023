"""Every link in the console leads somewhere real, for every role; and each role reaches exactly its pages."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from html import unescape

import pytest
from fastapi.testclient import TestClient

from tests.console.world import ConsoleWorld

SECTIONS = {"/console/orders", "/console/review", "/console/reports", "/console/banks", "/console/audit",
            "/console/actions", "/console/statements", "/console/outbox", "/console/transparency"}
REACHES = {
    "alice": SECTIONS,
    "mo": {"/console/review", "/console/reports", "/console/banks", "/console/actions"},
    "lee": {"/console/orders", "/console/review", "/console/reports", "/console/banks", "/console/outbox"},
    "audra": {"/console/orders", "/console/banks", "/console/audit", "/console/actions", "/console/statements",
              "/console/transparency"},
}
_HREF = re.compile(r'(?:href|src)="(/(?:console|static)[^"#]*)')


def crawl(client: TestClient, limit: int = 500) -> dict[str, int]:
    """GET every console link reachable from /console (and the pictures they show). Returns url -> status."""
    seen: dict[str, int] = {}
    todo = deque(["/console"])
    while todo and len(seen) < limit:
        url = todo.popleft()
        if url in seen:
            continue
        response = client.get(url)
        seen[url] = response.status_code
        if response.status_code == 200 and response.headers.get("content-type", "").startswith("text/html"):
            for link in _HREF.findall(response.text):
                link = unescape(link)
                if link not in seen and "/login" not in link:
                    todo.append(link)
    return seen


@pytest.mark.parametrize("username", sorted(REACHES))
def test_every_link_works_and_each_role_reaches_exactly_its_pages(
        world: ConsoleWorld, login: Callable[[str], TestClient], username: str) -> None:
    client = login(username)
    home = client.get("/console").text
    shown = {href for href in SECTIONS if f'href="{href}"' in home}
    assert shown == REACHES[username]
    for section in SECTIONS:
        status = client.get(section).status_code
        assert status == (200 if section in REACHES[username] else 403), (section, status)
    seen = crawl(client)
    broken = {url: status for url, status in seen.items() if status != 200}
    assert broken == {}
    assert len(seen) > 10
    reached = {s for s in SECTIONS if any(url == s or url.startswith(s + "/") or url.startswith(s + "?")
                                          for url in seen)}
    assert reached == REACHES[username]
    if "/console/review" in REACHES[username]:
        assert any(url.startswith("/console/review/items/") and "/media/" in url for url in seen) or \
            username == "lee"  # an order item's previews are pictures too
