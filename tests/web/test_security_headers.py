"""Every HTML page goes with the security headers docs/web.md promises, and holds nothing the CSP would block.

The test crawls what a staff member, an authority officer and an anonymous visitor can reach (console, portal,
sandbox, login and error pages, printable receipts), following the links on each page.
"""

from __future__ import annotations

import re
from collections import deque

from fastapi.testclient import TestClient

from firebreak.auth import service as auth_service
from firebreak.auth.models import CredentialScope
from firebreak.bootstrap.system import System
from firebreak.core.http.headers import DOCUMENT_CSP, PAGE_CSP
from tests.web.conftest import PASSWORD, People, csrf_of

_LINK = re.compile(r'href="(/[^"#]*)')
_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
SKIP = ("/static/", "/sandbox/assets/", "/sandbox/media/", "/logout")


def check_page(path: str, response_headers: dict[str, str], html: str) -> list[str]:
    """What is wrong with one HTML page's headers and markup (nothing, for a good page)."""
    wrong = []
    document = response_headers.get("content-security-policy") == DOCUMENT_CSP  # a standalone report: no script
    expected = {"content-security-policy": DOCUMENT_CSP if document else PAGE_CSP, "x-frame-options": "DENY",
                "cache-control": "no-store", "x-content-type-options": "nosniff", "referrer-policy": "same-origin"}
    for name, value in expected.items():
        if response_headers.get(name) != value:
            wrong.append(f"{path}: {name} is {response_headers.get(name)!r}")
    if not document and ("<style" in html.lower() or re.search(r"\sstyle=", html, re.IGNORECASE)):
        wrong.append(f"{path}: inline style (the CSP blocks it)")
    if _INLINE_SCRIPT.search(html):
        wrong.append(f"{path}: inline script (the CSP blocks it)")
    return wrong


def crawl(client: TestClient, starts: list[str], *, headers: dict[str, str] | None = None,
          limit: int = 80) -> tuple[list[str], list[str]]:
    """(pages seen, problems) following same-site links from ``starts``."""
    queue, seen, problems = deque(starts), set(starts), []
    pages: list[str] = []
    while queue and len(pages) < limit:
        path = queue.popleft()
        response = client.get(path, headers=headers)
        if not response.headers.get("content-type", "").startswith("text/html"):
            continue
        pages.append(path)
        problems += check_page(path, dict(response.headers), response.text)
        for link in _LINK.findall(response.text):
            link = link.replace("&amp;", "&")
            if link not in seen and not link.startswith(SKIP):
                seen.add(link)
                queue.append(link)
    return pages, problems


def log_in(client: TestClient, area: str, login: str) -> None:
    token = csrf_of(client.get(f"/{area}/login").text)
    field = "username" if area == "console" else "email"
    response = client.post(f"/{area}/login", data={field: login, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 303, response.text


def send_order(client: TestClient, system: System, authority_id: int) -> tuple[str, str]:
    with system.db.transaction() as session:
        token = auth_service.issue_token(session=session, clock=system.clock, actor="test", name="api",
                                         scope=CredentialScope.AUTHORITY, authority_id=authority_id).token
    response = client.post("/v1/orders", headers={"Authorization": f"Bearer {token}"}, json={
        "category": "csam", "legal_basis": "test", "items": [{"kind": "hash", "signal_type": "md5",
                                                              "value": "0" * 32}]})
    assert response.status_code == 201, response.text
    return response.json()["tracking_id"], token


def test_every_page_has_the_security_headers(client: TestClient, system: System, people: People) -> None:
    tracking, token = send_order(client, system, people.authority_a)
    problems: list[str] = []
    pages: list[str] = []

    # Anonymous: login pages, the sandbox, error pages.
    found, wrong = crawl(client, ["/console/login", "/portal/login", "/sandbox/", "/sandbox/c/c999",
                                  "/sandbox/u/u999"])
    pages += found
    problems += wrong
    # The printable receipt, as the authority's client fetches it with its token.
    receipt = client.get(f"/v1/orders/{tracking}/receipt.html", headers={"Authorization": f"Bearer {token}"})
    assert receipt.status_code == 200
    problems += check_page("/v1/orders/…/receipt.html", dict(receipt.headers), receipt.text)
    assert '<link rel="stylesheet" href="/static/receipt.css' in receipt.text
    css = client.get("/static/receipt.css")
    assert css.status_code == 200 and "outcome-removed" in css.text

    # Staff: the console, every page linked from it, the receipt, a page that does not exist.
    log_in(client, "console", "alice")
    found, wrong = crawl(client, ["/console", f"/console/orders/{tracking}", f"/console/orders/{tracking}/receipt",
                                  "/console/orders/FB-0000-NONE"])
    pages += found
    problems += wrong
    client.cookies.clear()

    # An authority officer: the portal, the order, its receipt.
    log_in(client, "portal", "jana@bka.example")
    found, wrong = crawl(client, ["/portal", f"/portal/orders/{tracking}", f"/portal/orders/{tracking}/receipt",
                                  "/portal/orders/new"])
    pages += found
    problems += wrong

    print(f"{len(pages)} pages checked")
    assert problems == []
    for expected in ("/console/login", "/portal/login", "/sandbox/", "/console", f"/console/orders/{tracking}/receipt",
                     f"/portal/orders/{tracking}/receipt", "/portal/orders/new", "/console/orders/FB-0000-NONE"):
        assert expected in pages
    assert len(pages) >= 12


def test_api_documentation_runs_under_the_page_policy(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert check_page("/docs", dict(response.headers), response.text) == []
    assert client.get("/redoc").status_code == 404  # not offered: it would need a CDN
    assert client.get("/openapi.json").headers["x-content-type-options"] == "nosniff"
