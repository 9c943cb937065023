"""The sandbox JSON API: problem details naming the field, the upload gate, and content that stops being served."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from firebreak.integrations.sandbox.adapter import SandboxAdapter
from firebreak.platform.adapters import ActionTarget
from firebreak.platform.schemas import ScanResult
from tests.integrations.sandbox.conftest import Cast
from tests.integrations.sandbox.doubles import RecordingLink, png

ALICE = {"X-Sandbox-User": "alice"}
BOB = {"X-Sandbox-User": "bob"}
CAROL = {"X-Sandbox-User": "carol"}


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    return body


def _post(client: TestClient, chat: str, headers: dict[str, str], text: str | None = None,
          image: bytes | None = None) -> Any:
    files = {"file": ("photo.png", image, "image/png")} if image is not None else None
    return client.post(f"/sandbox/api/chats/{chat}/messages", headers=headers,
                       data={"text": text} if text is not None else None, files=files)


def test_sign_up_and_bad_input_names_the_field(client: TestClient) -> None:
    r = client.post("/sandbox/api/users", json={"handle": "dora", "display_name": "Dora"})
    assert r.status_code == 201 and r.json()["handle"] == "dora" and r.json()["id"].startswith("u")
    assert _problem(client.post("/sandbox/api/users", json={"handle": "dora"}), 409)["title"] == "Conflict"
    body = _problem(client.post("/sandbox/api/users", json={"handle": "1x"}), 422)
    assert body["errors"][0]["field"] == "handle" and "handle" in body["detail"]
    body = _problem(client.post("/sandbox/api/users", json={"handle": "erin", "admin": True}), 422)
    assert body["errors"][0]["field"] == "admin"


def test_the_caller_must_name_themself(client: TestClient, cast: Cast) -> None:
    body = _problem(client.get("/sandbox/api/chats"), 401)
    assert body["errors"][0]["field"] == "X-Sandbox-User"
    _problem(client.get("/sandbox/api/chats", headers={"X-Sandbox-User": "mallory"}), 401)
    _problem(_post(client, cast.group.external_id, {"X-Sandbox-User": "mallory"}, text="hi"), 401)
    assert [c["title"] for c in client.get("/sandbox/api/chats", headers=CAROL).json()] == ["Town square"]


def test_chats(client: TestClient, cast: Cast) -> None:
    r = client.post("/sandbox/api/chats", headers=ALICE, json={"title": "News", "kind": "channel",
                                                               "is_public": True, "members": ["bob"]})
    assert r.status_code == 201
    chat = r.json()
    assert (chat["kind"], chat["is_public"], chat["member_count"], chat["status"]) == ("channel", True, 2, "active")
    assert chat["link"] == f"/sandbox/c/{chat['id']}"
    assert client.post(f"/sandbox/api/chats/{chat['id']}/join", headers=CAROL).json()["member_count"] == 3
    assert _problem(client.post("/sandbox/api/chats", headers=ALICE, json={"title": "x", "kind": "forum"}),
                    422)["errors"][0]["field"] == "kind"
    assert _problem(client.post("/sandbox/api/chats", headers=ALICE, json={"title": "x", "members": ["zed"]}),
                    422)["errors"][0]["field"] == "members"
    _problem(client.post(f"/sandbox/api/chats/{cast.group.external_id}/join", headers=CAROL), 403)
    _problem(client.get(f"/sandbox/api/chats/{cast.group.external_id}", headers=CAROL), 404)
    _problem(client.get("/sandbox/api/chats/nonsense", headers=CAROL), 404)


def test_post_list_get_and_download(client: TestClient, cast: Cast, link: RecordingLink) -> None:
    image = png(1)
    r = _post(client, cast.group.external_id, ALICE, text="hello", image=image)
    assert r.status_code == 201, r.text
    message = r.json()
    assert message["text"] == "hello" and message["sender"]["handle"] == "alice" and message["status"] == "live"
    assert message["media"]["mime_type"] == "image/png" and message["media"]["kind"] == "image"
    assert link.kinds == ["media_posted"]
    download = client.get(message["media"]["download"], headers=BOB)
    assert download.status_code == 200 and download.content == image
    assert download.headers["content-type"] == "image/png" and download.headers["cache-control"] == "no-store"
    listed = client.get(f"/sandbox/api/chats/{cast.group.external_id}/messages", headers=BOB).json()
    assert [m["id"] for m in listed] == [message["id"]]
    assert client.get(f"/sandbox/api/messages/{message['id']}", headers=BOB).json() == message
    _problem(client.get(f"/sandbox/api/messages/{message['id']}", headers=CAROL), 404)  # not her chat
    _problem(client.get(message["media"]["download"], headers=CAROL), 404)


def test_post_input_problems(client: TestClient, cast: Cast) -> None:
    chat = cast.group.external_id
    assert _problem(_post(client, chat, ALICE, text="x" * 4001), 422)["errors"][0]["field"] == "text"
    assert _problem(_post(client, chat, ALICE), 422)["errors"][0]["field"] == "text"
    assert _problem(_post(client, chat, ALICE, image=b""), 422)["errors"][0]["field"] == "file"
    _problem(_post(client, chat, CAROL, text="let me in"), 403)
    _problem(_post(client, "c999999", ALICE, text="anyone?"), 404)
    bad = client.get(f"/sandbox/api/chats/{chat}/messages", headers=ALICE, params={"before": "yesterday"})
    assert _problem(bad, 422)["errors"][0]["field"] == "before"
    bad = client.post("/sandbox/api/messages/m1/forward", headers=ALICE, json={"to_chat": "general"})
    assert _problem(bad, 422)["errors"][0]["field"] == "to_chat"


def test_blocked_upload_is_refused_with_the_reason(client: TestClient, cast: Cast, link: RecordingLink) -> None:
    image = png(2)
    link.block(image)
    body = _problem(_post(client, cast.group.external_id, ALICE, text="caption", image=image), 422)
    assert body["type"] == "urn:firebreak:sandbox:upload-blocked" and body["title"] == "Upload refused"
    assert "not allowed" in body["detail"] and body["errors"] == [{"field": "file", "message": body["detail"]}]
    assert client.get(f"/sandbox/api/chats/{cast.group.external_id}/messages", headers=ALICE).json() == []
    assert link.events == []


def test_removed_content_is_no_longer_served(client: TestClient, cast: Cast, adapter: SandboxAdapter) -> None:
    message = _post(client, cast.square.external_id, ALICE, text="caption", image=png(3)).json()
    adapter.remove_message(ActionTarget(message_id=message["id"], reason="Terrorist content (order 7)"))
    got = client.get(f"/sandbox/api/messages/{message['id']}", headers=CAROL).json()
    assert (got["status"], got["text"], got["media"]) == ("removed", None, None)
    assert got["placeholder"] == "Removed by Sandbox: Terrorist content (order 7)"
    gone = _problem(client.get(message["media"]["download"], headers=CAROL), 410)
    assert gone["detail"] == "Removed by Sandbox: Terrorist content (order 7)"
    listed = client.get(f"/sandbox/api/chats/{cast.square.external_id}/messages", headers=CAROL).json()
    assert [(m["id"], m["text"], m["placeholder"]) for m in listed] == [
        (message["id"], None, "Removed by Sandbox: Terrorist content (order 7)")]
    _problem(client.post(f"/sandbox/api/messages/{message['id']}/forward", headers=ALICE,
                         json={"to_chat": cast.group.external_id}), 403)


def test_forward_delete_and_notices(client: TestClient, cast: Cast, link: RecordingLink,
                                    adapter: SandboxAdapter) -> None:
    original = _post(client, cast.square.external_id, CAROL, image=png(4)).json()
    _problem(client.post(f"/sandbox/api/messages/{original['id']}/forward", headers=CAROL,
                         json={"to_chat": cast.group.external_id}), 403)  # not a member there
    copy = client.post(f"/sandbox/api/messages/{original['id']}/forward", headers=ALICE,
                       json={"to_chat": cast.group.external_id})
    assert copy.status_code == 201 and copy.json()["forwarded_from"] == f"{cast.square.external_id}/{original['id']}"
    _problem(client.delete(f"/sandbox/api/messages/{original['id']}", headers=ALICE), 403)
    assert client.delete(f"/sandbox/api/messages/{original['id']}", headers=CAROL).status_code == 204
    _problem(client.get(f"/sandbox/api/messages/{original['id']}", headers=CAROL), 404)
    assert link.kinds == ["media_posted", "media_forwarded", "message_deleted"]

    adapter.notify_user(ActionTarget(account_id=cast.carol.external_id, reason="Your post broke rule 3."))
    notices = client.get("/sandbox/api/notices", headers=CAROL).json()
    assert [n["text"] for n in notices] == ["Your post broke rule 3."]
    assert client.get("/sandbox/api/notices", headers=BOB).json() == []
    adapter.suspend_account(ActionTarget(account_id=cast.carol.external_id, reason="Rule 3"))
    me = client.get(f"/sandbox/api/users/{cast.carol.external_id}", headers=CAROL).json()
    assert (me["status"], me["status_reason"]) == ("suspended", "Rule 3")
    _problem(_post(client, cast.square.external_id, CAROL, text="hi"), 403)


def test_an_upload_that_cannot_be_checked_is_not_posted(client: TestClient, link: RecordingLink, cast: Cast) -> None:
    def down(integration: str, data: bytes) -> ScanResult:
        raise ConnectionError("Firebreak is unreachable")

    link.scan_upload = down  # type: ignore[method-assign]
    body = _problem(_post(client, cast.group.external_id, ALICE, image=png(5)), 503)
    assert "could not be checked" in body["detail"] and "nothing was posted" in body["detail"]
    listed = client.get(f"/sandbox/api/chats/{cast.group.external_id}/messages", headers=BOB).json()
    assert listed == [] and link.events == []
