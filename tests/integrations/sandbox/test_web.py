"""The web view: a person watches content appear blurred, and disappear as a grey placeholder."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from firebreak.integrations.sandbox import service
from firebreak.integrations.sandbox.adapter import SandboxAdapter
from firebreak.integrations.sandbox.flows import Sandbox
from firebreak.integrations.sandbox.models import SandboxMessage
from firebreak.platform.adapters import ActionTarget
from tests.integrations.sandbox.conftest import Cast
from tests.integrations.sandbox.doubles import RecordingLink, png


def _post(sandbox: Sandbox, chat: str, sender: str, text: str | None, seed: int | None = None) -> str:
    upload = service.Upload(png(seed)) if seed is not None else None
    return sandbox.post(chat_ref=chat, sender_handle=sender, text=text, upload=upload).id


def test_index_lists_chats_and_people(client: TestClient, cast: Cast) -> None:
    page = client.get("/sandbox/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "Demo messenger built into Firebreak" in page.text
    assert f'href="/sandbox/c/{cast.group.external_id}"' in page.text and "Town square" in page.text
    assert f'href="/sandbox/u/{cast.bob.external_id}"' in page.text


def test_chat_shows_media_blurred_and_refreshes(client: TestClient, connected: Sandbox, cast: Cast) -> None:
    ref = _post(connected, cast.group.external_id, "alice", "a <b>bold</b> claim", seed=1)
    page = client.get(f"/sandbox/c/{cast.group.external_id}")
    assert page.status_code == 200
    article = re.search(rf'<article class="message" id="{ref}">(.*?)</article>', page.text, re.S)
    assert article is not None
    assert f'class="media blurred" data-message="{ref}"' in article.group(1)
    assert f'<img src="/sandbox/media/{ref}"' in article.group(1)
    assert "a &lt;b&gt;bold&lt;/b&gt; claim" in article.group(1)  # escaped, never markup
    assert f'data-refresh="/sandbox/c/{cast.group.external_id}/messages"' in page.text
    assert '<script src="/sandbox/assets/sandbox.js"' in page.text and "cdn" not in page.text.lower()
    css = client.get("/sandbox/assets/sandbox.css")
    assert css.status_code == 200 and re.search(r"\.media img, \.media video \{[^}]*filter: blur", css.text)
    script = client.get("/sandbox/assets/sandbox.js")
    assert "setInterval" in script.text and "2000" in script.text
    assert client.get("/sandbox/assets/secrets.txt").status_code == 404
    assert client.get(f"/sandbox/media/{ref}").content == png(1)


def test_removed_message_becomes_a_grey_placeholder(client: TestClient, connected: Sandbox, cast: Cast,
                                                    adapter: SandboxAdapter) -> None:
    ref = _post(connected, cast.group.external_id, "alice", "secret caption", seed=2)
    kept = _post(connected, cast.group.external_id, "bob", "still here")
    adapter.remove_message(ActionTarget(message_id=ref, reason="Non-consensual intimate image"))
    fragment = client.get(f"/sandbox/c/{cast.group.external_id}/messages")
    assert fragment.status_code == 200
    removed = re.search(rf'<article class="message removed" id="{ref}">(.*?)</article>', fragment.text, re.S)
    assert removed is not None
    assert '<p class="placeholder">Removed by Sandbox: Non-consensual intimate image</p>' in removed.group(1)
    assert "secret caption" not in fragment.text and f"/sandbox/media/{ref}" not in fragment.text
    assert f'id="{kept}"' in fragment.text and "still here" in fragment.text
    gone = client.get(f"/sandbox/media/{ref}")
    assert gone.status_code == 410 and gone.headers["cache-control"] == "no-store"
    permalink = client.get(f"/sandbox/c/{cast.group.external_id}/m/{ref}")
    assert permalink.status_code == 200 and "Removed by Sandbox: Non-consensual intimate image" in permalink.text
    assert ".message.removed { background: #e6e6e6" in client.get("/sandbox/assets/sandbox.css").text


def test_post_form_and_refusal_notice(client: TestClient, connected: Sandbox, cast: Cast,
                                      link: RecordingLink) -> None:
    chat = cast.group.external_id
    sent = client.post(f"/sandbox/c/{chat}/post", data={"sender": "bob", "text": "from the web"},
                       files={"file": ("", b"", "application/octet-stream")}, follow_redirects=False)
    assert sent.status_code == 303 and sent.headers["location"].startswith(f"/sandbox/c/{chat}#m")
    assert "from the web" in client.get(f"/sandbox/c/{chat}").text

    image = png(3)
    link.block(image)
    refused = client.post(f"/sandbox/c/{chat}/post", data={"sender": "bob", "text": "look at this"},
                          files={"file": ("x.png", image, "image/png")})
    assert refused.status_code == 422
    notice = re.search(r'<p class="notice refusal" role="alert">(.*?)</p>', refused.text, re.S)
    assert notice is not None and "Not posted." in notice.group(1) and "not allowed" in notice.group(1)
    assert ">look at this</textarea>" in refused.text  # what was typed is kept
    with connected.deps.db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(SandboxMessage)) == 1

    forbidden = client.post(f"/sandbox/c/{chat}/post", data={"sender": "carol", "text": "hi"})
    assert forbidden.status_code == 403 and "not a member" in forbidden.text


def test_delete_and_forward_from_the_web(client: TestClient, connected: Sandbox, cast: Cast,
                                         link: RecordingLink) -> None:
    ref = _post(connected, cast.square.external_id, "alice", "pass it on", seed=4)
    moved = client.post(f"/sandbox/c/{cast.square.external_id}/m/{ref}/forward",
                        data={"sender": "alice", "to_chat": cast.group.external_id}, follow_redirects=False)
    assert moved.status_code == 303 and moved.headers["location"].startswith(f"/sandbox/c/{cast.group.external_id}#")
    gone = client.post(f"/sandbox/c/{cast.square.external_id}/m/{ref}/delete", data={"sender": "alice"},
                       follow_redirects=False)
    assert gone.status_code == 303
    assert link.kinds == ["media_posted", "media_forwarded", "message_deleted"]
    assert client.get(f"/sandbox/c/{cast.square.external_id}/m/{ref}").status_code == 404
    assert client.get(f"/sandbox/c/{cast.group.external_id}/m/{ref}").status_code == 404


def test_suspensions_and_inbox_are_shown(client: TestClient, cast: Cast, adapter: SandboxAdapter) -> None:
    adapter.suspend_chat(ActionTarget(chat_id=cast.square.external_id, reason="Spam network"))
    page = client.get(f"/sandbox/c/{cast.square.external_id}")
    assert "This chat is suspended by Sandbox: Spam network" in page.text
    assert f'action="/sandbox/c/{cast.square.external_id}/post"' not in page.text  # no post form
    adapter.suspend_account(ActionTarget(account_id=cast.bob.external_id, reason="Repeat offender"))
    adapter.notify_user(ActionTarget(account_id=cast.bob.external_id, reason="Your account is suspended: rule 9."))
    inbox = client.get(f"/sandbox/u/{cast.bob.external_id}")
    assert "This account is suspended by Sandbox: Repeat offender" in inbox.text
    assert "Your account is suspended: rule 9." in inbox.text
    assert client.get("/sandbox/u/u999999").status_code == 404
    assert client.get("/sandbox/c/c999999").status_code == 404
