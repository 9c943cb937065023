"""Bad input and floods: clear errors, nothing stored that should not be, nothing leaked; limits every process sees."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Connection, func, select

from firebreak.auth.models import Role
from firebreak.bootstrap.http import create_app
from firebreak.bootstrap.system import build_system
from firebreak.core.clock import FakeClock
from firebreak.core.config import Settings
from firebreak.reports import limits
from firebreak.reports.models import VictimReport
from firebreak.reports.service import normal_reference
from tests.reports.world import World, csrf_of, found
from tests.support import jpeg, scene


def count_reports(world: World) -> int:
    with world.system.db.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(VictimReport)) or 0)


def form(world: World, **fields: str) -> dict[str, str]:
    data = {"csrf_token": csrf_of(world.client.get("/report").text), "language": "en", "links": "",
            "category": "", "reporter": "", "jurisdiction": "", "signature": "", "good_faith": "",
            "contact_name": "", "contact_email": "", "contact_phone": "", "details": "", "email_updates": ""}
    data.update(fields)
    return data


def errors(html: str) -> dict[str, str]:
    return dict(re.findall(r'<p class="field-error" id="([a-z_.]+)-error">([^<]+)</p>', html))


def test_an_empty_report_names_every_missing_field_and_keeps_nothing(world: World) -> None:
    r = world.client.post("/report", data=form(world))
    assert r.status_code == 422
    assert set(errors(r.text)) == {"links", "category", "reporter", "signature", "good_faith"}
    assert "Nothing was sent yet. Please check:" in r.text and 'aria-invalid="true"' in r.text
    assert count_reports(world) == 0


def test_malformed_fields_are_named_and_what_was_typed_comes_back(world: World) -> None:
    message = world.post("class", "joon", jpeg(scene(60), 90))
    link = world.link(message)
    r = world.client.post("/report", data=form(world, links=link, category="sexual_deepfake", reporter="depicted",
                                               signature="Kim Ji-woo", good_faith="yes", contact_email="not-an-address",
                                               contact_phone="call me", email_updates="yes", jurisdiction="Korea"))
    assert r.status_code == 422
    assert set(errors(r.text)) == {"contact.email", "contact.phone", "jurisdiction"}
    assert link in r.text and 'value="Kim Ji-woo"' in r.text  # nothing the person wrote is lost
    r = world.client.post("/report", data=form(world, links=link, category="sexual_deepfake", reporter="depicted",
                                               signature="Kim", good_faith="yes", email_updates="yes"))
    assert errors(r.text) == {"email_updates": "For e-mail updates, give an e-mail address."}
    r = world.client.post("/report", data=form(world, links=link, category="revenge", reporter="enemy",
                                               signature="K", good_faith="yes"))
    assert set(errors(r.text)) == {"category", "reporter", "signature"}
    assert count_reports(world) == 0


def test_links_to_other_sites_and_whole_chats_are_refused_with_their_line(world: World) -> None:
    message = world.post("class", "joon", jpeg(scene(61), 90))
    links = "\n".join([world.link(message), "https://elsewhere.example/p/1",
                       f"https://chat.example/sandbox/c/{message.chat_id}", "javascript:alert(1)"])
    r = world.client.post("/report", data=form(world, links=links, category="intimate_image", reporter="depicted",
                                               signature="Kim", good_faith="yes"))
    assert r.status_code == 422
    assert errors(r.text)["links"] == (
        "Link 2 is not on Sandbox: we can remove content only from Sandbox. Link 3 leads to a whole chat: please "
        "copy the link of the message itself. Link 4 is not on Sandbox: we can remove content only from Sandbox.")
    api = world.client.post("/v1/victim-reports", json={"links": ["https://elsewhere.example/p/1"], "category": "other",
                                                  "reporter": "guardian", "signature": "Kim", "good_faith": True})
    assert api.status_code == 422 and api.json()["errors"] == [
        {"field": "links.0", "message": "not a link to a message on this platform"}]
    too_many = world.client.post("/report", data=form(world, links="\n".join([world.link(message)] * 25 + [
        f"https://chat.example/sandbox/c/{message.chat_id}/m/m{i}" for i in range(1, 22)]), category="other",
        reporter="depicted", signature="Kim", good_faith="yes"))
    assert too_many.status_code == 422 and "at most 20" in errors(too_many.text)["links"]
    assert count_reports(world) == 0


def test_huge_forms_and_bodies_are_refused_before_they_are_read(world: World) -> None:
    r = world.client.post("/report", data=form(world, details="x" * 70_000))
    assert r.status_code == 413 and "This form is too large" in r.text
    r = world.client.post("/v1/victim-reports/hashes", content=b"{" + b" " * 600_000 + b"}",
                          headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"
    r = world.client.post("/report", content=b"links=x", headers={"Content-Type": "text/plain"})
    assert r.status_code == 400
    assert count_reports(world) == 0


def test_script_in_any_field_is_kept_as_text_and_never_runs(world: World) -> None:
    message = world.post("class", "joon", jpeg(scene(62), 90))
    world.settle(1)
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    filed = world.file_report([world.link(message)], signature=evil, contact_name=evil, details=evil,
                              contact_email="a@example.org")
    assert "<script>alert" not in filed.page
    liaison = world.staff_client("lia", Role.LIAISON)
    detail = liaison.get(f"/console/reports/{filed.case_number}")
    shown = liaison.post(f"/console/reports/{filed.case_number}/contact", data={"csrf_token": csrf_of(detail.text)})
    for page in (detail.text, shown.text, world.client.get(filed.status_url).text):
        assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in shown.text  # shown, escaped, as typed
    r = world.client.post("/report", data=form(world, links=world.link(message), category="other",
                                               reporter="depicted", signature="Kim\x00", good_faith="yes"))
    assert r.status_code == 422 and "signature" in errors(r.text)


def test_hash_submissions_carry_nothing_but_hashes(world: World) -> None:
    good = {"kind": "image", "sha256": "a" * 64, "md5": "b" * 32, "pdq": {"hash": "c" * 64, "quality": 90}}
    for body, field in [
        ({"hashes": [good | {"name": "holiday.jpg"}], "category": "other"}, "hashes.0.name"),
        ({"hashes": [good], "category": "other", "file": "aGVsbG8="}, "file"),
        ({"hashes": [good | {"sha256": "A" * 63}], "category": "other"}, "hashes.0.sha256"),
        ({"hashes": [], "category": "other"}, "hashes"),
        ({"hashes": [good], "category": "other", "email_updates": True}, "body"),
    ]:
        r = world.client.post("/v1/victim-reports/hashes", json=body)
        assert r.status_code == 422, body
        assert field in {e["field"] for e in r.json()["errors"]}, r.json()
    r = world.client.post("/v1/victim-reports/hashes", content=b"not json",
                          headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["title"] == "Invalid request"
    assert count_reports(world) == 0


def test_guessed_status_links_and_pins_give_nothing(world: World) -> None:
    message = world.post("class", "joon", jpeg(scene(63), 90))
    world.settle(1)
    filed = world.file_report([world.link(message)])
    token = filed.status_url.rsplit("/", 1)[1]
    assert len(token) >= 43  # 256 random bits
    for guess in (token[:-1] + ("A" if token[-1] != "A" else "B"), "x", "' OR 1=1 --", token.upper()):
        r = world.client.get(f"/report/status/{guess}")
        assert r.status_code == 404 and filed.case_number not in r.text
        assert "This status link does not work" in r.text
    api = world.client.post("/v1/victim-reports/status", json={"case_number": filed.case_number, "pin": "1234-5678"})
    wrong = world.client.post("/v1/victim-reports/status", json={"case_number": "VR-2026-ZZZZZZ", "pin": "1234-5678"})
    assert api.status_code == wrong.status_code == 404 and api.json()["detail"] == wrong.json()["detail"]
    assert world.client.post("/v1/victim-reports/status", json={}).status_code == 422


def test_wrong_pins_lock_the_case_and_the_lock_holds_in_every_process(
        world: World, settings: Settings, clock: FakeClock, connection: Connection) -> None:
    message = world.post("class", "joon", jpeg(scene(64), 90))
    world.settle(1)
    filed = world.file_report([world.link(message)])
    page = world.client.get("/report/lookup")

    def lookup(client: TestClient, pin: str) -> int:
        r = client.post("/report/lookup", data={"csrf_token": csrf_of(client.get("/report/lookup").text),
                                                "case_number": filed.case_number, "pin": pin})
        return r.status_code

    assert page.status_code == 200
    assert [lookup(world.client, f"0000-000{i}") for i in range(6)] == [404] * 5 + [429]
    # Another process (another system on the same database) sees the lock: even the right PIN is refused.
    other = build_system(settings, clock=clock, engine=connection.engine, bind=connection)
    with TestClient(create_app(other), raise_server_exceptions=False, follow_redirects=False) as client:
        assert lookup(client, filed.pin) == 429
        clock.advance(timedelta(hours=1, seconds=1))
        assert lookup(client, filed.pin) == 200


def test_unknown_status_links_are_limited_per_address(world: World, clock: FakeClock) -> None:
    message = world.post("class", "joon", jpeg(scene(65), 90))
    world.settle(1)
    filed = world.file_report([world.link(message)])
    codes = [world.client.get(f"/report/status/{'g' * 43}{i}").status_code
             for i in range(limits.UNKNOWN_TOKENS_PER_ADDRESS.count + 1)]
    assert codes == [404] * limits.UNKNOWN_TOKENS_PER_ADDRESS.count + [429]
    locked = world.client.get(filed.status_url)
    assert locked.status_code == 429 and "Retry-After" in locked.headers and filed.case_number not in locked.text
    clock.advance(limits.UNKNOWN_TOKENS_PER_ADDRESS.window + timedelta(seconds=1))
    assert world.client.get(filed.status_url).status_code == 200


def test_reports_from_one_address_are_limited(world: World) -> None:
    message = world.post("class", "joon", jpeg(scene(66), 90))
    world.settle(1)
    body = {"links": [world.link(message)], "category": "other", "reporter": "representative",
            "signature": "Seoul Centre", "good_faith": True}
    codes = [world.client.post("/v1/victim-reports", json=body).status_code
             for _ in range(limits.REPORTS_PER_ADDRESS.count + 1)]
    assert codes == [201] * limits.REPORTS_PER_ADDRESS.count + [429]
    assert count_reports(world) == limits.REPORTS_PER_ADDRESS.count
    page = world.client.post("/report", data=form(
        world, links=world.link(message), category="other", reporter="depicted", signature="Kim", good_faith="yes"))
    assert page.status_code == 429 and "Please try again in 60 minutes" in page.text


def test_an_expired_form_comes_back_filled_in(world: World) -> None:
    message = world.post("class", "joon", jpeg(scene(67), 90))
    data = form(world, links=world.link(message), category="other", reporter="depicted", signature="Kim Ji-woo",
                good_faith="yes")
    data["csrf_token"] = "expired"
    r = world.client.post("/report", data=data)
    assert r.status_code == 403 and "nothing was sent yet" in r.text and 'value="Kim Ji-woo"' in r.text
    data["csrf_token"] = csrf_of(r.text)
    assert world.client.post("/report", data=data).status_code == 201


def test_a_withdrawn_case_asked_about_again(world: World) -> None:
    message = world.post("class", "joon", jpeg(scene(68), 90))
    world.settle(1)
    filed = world.file_report([world.link(message)], contact_email="a@example.org", details="my teacher")
    page = world.client.get(filed.status_url)
    done = world.client.post(f"{filed.status_url}/withdraw", data={"csrf_token": csrf_of(page.text)})
    assert done.status_code == 422 and "Tick the box" in done.text  # the box must be ticked
    done = world.client.post(f"{filed.status_url}/withdraw", data={"csrf_token": csrf_of(page.text),
                                                                    "confirm": "yes"})
    assert done.status_code == 303
    page = world.client.get(done.headers["location"])
    assert "The case was withdrawn." in page.text and "Withdraw the case" not in page.text
    assert re.findall(r'data-step="([a-z_]+)"', page.text) == ["received", "withdrawn"]
    report = world.report(filed.case_number)
    assert report.sealed_private is None  # contact details and own words erased
    token = csrf_of(world.client.get("/report/lookup").text)
    again = world.client.post(f"{filed.status_url}/withdraw", data={"csrf_token": token, "confirm": "yes"})
    assert again.status_code == 200 and "This case was already withdrawn." in again.text
    lookup = world.client.post("/report/lookup", data={"csrf_token": token,
                                                       "case_number": filed.case_number, "pin": filed.pin})
    assert lookup.status_code == 200 and "This case was withdrawn." in found(r'id="summary"[^>]*>([^<]+)<',
                                                                               lookup.text)
    moderator = world.staff_client("mod", Role.MODERATOR)
    assert filed.case_number not in moderator.get("/console/reports").text.split("Recently decided")[0]


def test_case_numbers_are_read_as_people_type_them() -> None:
    assert normal_reference("vr-2026-7k3q9x") == "VR-2026-7K3Q9X"
    assert normal_reference(" VR 2026 7K3Q9X ") == "VR-2026-7K3Q9X"
    assert normal_reference("VR2026OK3QIL") == "VR-2026-0K3Q11"
    assert normal_reference("<script>") == "<SCRIPT>"


def submission_of(html: str) -> str:
    found_key = re.search(r'name="submission" value="([^"]+)"', html)
    assert found_key is not None, "the form carries a one-time key"
    return found_key.group(1)


def test_the_same_form_sent_twice_is_one_case(world: World) -> None:
    # A reload of the confirmation page sends the form again: one case, and the second answer says which.
    message = world.post("class", "joon", jpeg(scene(68), 90))
    world.settle(1)
    page = world.client.get("/report").text
    data = form(world, links=world.link(message), category="other", reporter="depicted", signature="Kim",
                good_faith="yes") | {"csrf_token": csrf_of(page), "submission": submission_of(page)}
    first = world.client.post("/report", data=data)
    assert first.status_code == 201
    case = re.search(r'id="case-number">([^<]+)<', first.text)
    assert case is not None
    again = world.client.post("/report", data=data)
    assert again.status_code == 409 and "already sent" in again.text and case.group(1) in again.text
    assert 'id="pin"' not in again.text and "/report/status/" not in again.text  # the secrets are not shown again
    assert count_reports(world) == 1
    assert submission_of(world.client.get("/report").text) != data["submission"]  # a new form is a new case


def test_an_api_retry_with_the_same_idempotency_key_is_one_case(world: World) -> None:
    message = world.post("class", "joon", jpeg(scene(69), 90))
    world.settle(1)
    body = {"links": [world.link(message)], "category": "other", "reporter": "depicted", "signature": "Kim",
            "good_faith": True}
    first = world.client.post("/v1/victim-reports", json=body, headers={"Idempotency-Key": "retry-1"})
    assert first.status_code == 201
    again = world.client.post("/v1/victim-reports", json=body, headers={"Idempotency-Key": "retry-1"})
    assert again.status_code == 409 and first.json()["case_number"] in again.json()["detail"]
    assert "pin" not in again.json() and first.json()["pin"] not in again.text
    assert world.client.post("/v1/victim-reports", json=body,
                             headers={"Idempotency-Key": "retry-2"}).status_code == 201
    good = {"kind": "image", "sha256": "a" * 64, "md5": "b" * 32, "pdq": {"hash": "c" * 64, "quality": 90}}
    hashes = {"hashes": [good], "category": "other"}
    assert world.client.post("/v1/victim-reports/hashes", json=hashes,
                             headers={"Idempotency-Key": "hashes-1"}).status_code == 201
    assert world.client.post("/v1/victim-reports/hashes", json=hashes,
                             headers={"Idempotency-Key": "hashes-1"}).status_code == 409
    assert count_reports(world) == 3
