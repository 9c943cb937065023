"""Matrix events as Firebreak ``PlatformEvent`` JSON.

Pure functions over anything shaped like a Synapse ``EventBase`` (``type``, ``content``, ``sender``, ``event_id``,
``room_id``, ``origin_server_ts``, ``state_key``, ``redacts``) so the Synapse module stays light: stdlib only, no
pydantic. The output is plain JSON that validates as :class:`firebreak.platform.schemas.PlatformEvent` (the tests
check that against the real schema).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

MEDIA_MSGTYPES = frozenset({"m.image", "m.video", "m.file"})
STICKER = "m.sticker"
MESSAGE = "m.room.message"
REDACTION = "m.room.redaction"
_MAX_TEXT = 255


def parse_mxc(uri: str) -> tuple[str, str]:
    """``mxc://server/media_id`` -> ``(server, media_id)``; raises ValueError for anything else."""
    if not uri.startswith("mxc://"):
        raise ValueError(f"not an mxc:// URI: {uri!r}")
    server, _, media_id = uri[len("mxc://"):].partition("/")
    if not server or not media_id or "/" in media_id or "?" in media_id or "#" in media_id:
        raise ValueError(f"not an mxc:// URI: {uri!r}")
    return server, media_id


def _content(event: Any) -> Mapping[str, Any]:
    content = getattr(event, "content", None)
    return content if isinstance(content, Mapping) else {}


def _media_item(content: Mapping[str, Any]) -> dict[str, Any] | None:
    """The media of a message body, or None. Encrypted attachments (``file`` instead of ``url``) are ciphertext
    that Firebreak could not hash usefully, so they are left out."""
    url = content.get("url")
    if not isinstance(url, str):
        return None
    try:
        parse_mxc(url)
    except ValueError:
        return None
    item: dict[str, Any] = {"media_id": url, "url": url}
    info = content.get("info")
    if isinstance(info, Mapping):
        mimetype = info.get("mimetype")
        if isinstance(mimetype, str) and 0 < len(mimetype) <= 100:
            item["mime_type"] = mimetype
    return item


def _state(state: Mapping[tuple[str, str], Any], event_type: str, state_key: str = "") -> Mapping[str, Any]:
    event = state.get((event_type, state_key))
    return _content(event) if event is not None else {}


def members(state: Mapping[tuple[str, str], Any], memberships: tuple[str, ...] = ("join", "invite")) -> list[str]:
    """User ids whose membership in the room's state is one of ``memberships``."""
    return [key for (event_type, key), member in state.items()
            if event_type == "m.room.member" and _content(member).get("membership") in memberships]


def describe_chat(room_id: str, state: Mapping[tuple[str, str], Any], *, direct_hint: bool = False) -> dict[str, Any]:
    """ChatIn JSON from the room's current state.

    kind: ``direct`` when at most two people are in or invited and the room is marked direct (an ``is_direct``
    invite in the state, or ``direct_hint``: a member's ``m.direct`` account data lists it); ``channel`` when
    ordinary members may not post messages (power levels); else ``group``. is_public: the join rule is ``public``.
    """
    joined = 0
    present = 0
    direct_flag = False
    for (event_type, _), member in state.items():
        if event_type != "m.room.member":
            continue
        content = _content(member)
        membership = content.get("membership")
        if membership == "join":
            joined += 1
        if membership in ("join", "invite"):
            present += 1
        if content.get("is_direct") is True:
            direct_flag = True

    power = _state(state, "m.room.power_levels")
    users_default = _int(power.get("users_default"), 0)
    per_event = power.get("events")
    to_post = _int(power.get("events_default"), 0)
    if isinstance(per_event, Mapping):
        to_post = _int(per_event.get(MESSAGE), to_post)

    kind = "group"
    if (direct_flag or direct_hint) and present <= 2:
        kind = "direct"
    elif power and to_post > users_default:
        kind = "channel"

    chat: dict[str, Any] = {
        "id": room_id,
        "kind": kind,
        "is_public": _state(state, "m.room.join_rules").get("join_rule") == "public",
        "member_count": joined,
    }
    name = _state(state, "m.room.name").get("name")
    if isinstance(name, str) and name.strip():
        chat["title"] = name.strip()[:_MAX_TEXT]
    return chat


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _sender(event: Any, state: Mapping[tuple[str, str], Any]) -> dict[str, Any]:
    sender: dict[str, Any] = {"id": event.sender}
    name = _state(state, "m.room.member", event.sender).get("displayname")
    if isinstance(name, str) and name.strip():
        sender["display_name"] = name.strip()[:_MAX_TEXT]
    return sender


def _sent_at(event: Any) -> str:
    return datetime.fromtimestamp(int(event.origin_server_ts) / 1000, tz=UTC).isoformat()


def media_message(event: Any) -> tuple[str, str, dict[str, Any]] | None:
    """``(kind, message_id, media item)`` for an event that posts media or edits it in; None for anything else.

    ``m.room.message`` with msgtype m.image / m.video / m.file, and ``m.sticker``: ``media_posted`` of the event
    itself; an edit (``m.relates_to.rel_type = m.replace``) whose new content carries media: ``message_edited`` of
    the original event.
    """
    event_type = getattr(event, "type", None)
    if getattr(event, "state_key", None) is not None or event_type not in (MESSAGE, STICKER):
        return None
    content = _content(event)
    kind, message_id = "media_posted", str(event.event_id)
    if event_type == MESSAGE:
        relates = content.get("m.relates_to")
        if isinstance(relates, Mapping) and relates.get("rel_type") == "m.replace":
            original, new_content = relates.get("event_id"), content.get("m.new_content")
            if not isinstance(original, str) or not original or not isinstance(new_content, Mapping):
                return None
            content, kind, message_id = new_content, "message_edited", original
        if content.get("msgtype") not in MEDIA_MSGTYPES:
            return None
    item = _media_item(content)
    return None if item is None else (kind, message_id, item)


def is_reported(event: Any) -> bool:
    """Whether :func:`platform_event` has something to say about this event (cheap; no state needed)."""
    if getattr(event, "type", None) == REDACTION:
        return isinstance(getattr(event, "redacts", None), str)
    return media_message(event) is not None


def platform_event(event: Any, state: Mapping[tuple[str, str], Any], *,
                   direct_hint: bool = False) -> dict[str, Any] | None:
    """The ``PlatformEvent`` JSON for a new Matrix event, or None when Firebreak has no interest in it.

    Media messages, stickers and media edits (see :func:`media_message`), and ``m.room.redaction`` as
    ``message_deleted`` of the redacted event: for every redaction, since the module does not know whether the
    redacted event carried media; Firebreak ignores messages it never saw.
    """
    if getattr(event, "type", None) == REDACTION:
        redacts = getattr(event, "redacts", None)
        if not isinstance(redacts, str) or not redacts:
            return None
        kind, message_id, media = "message_deleted", redacts, []
    else:
        found = media_message(event)
        if found is None:
            return None
        kind, message_id, item = found
        media = [item]
    return {"event_id": event.event_id, "kind": kind,
            "chat": describe_chat(event.room_id, state, direct_hint=direct_hint),
            "message_id": message_id, "sender": _sender(event, state), "sent_at": _sent_at(event), "media": media}
