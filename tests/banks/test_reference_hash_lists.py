"""Hash lists from other systems: StopNCII records and ThreatExchange lines computed the way they compute PDQ
(`pdqhash.compute` on the full-size picture) catch the same pictures, and their re-encoded copies, when posted.

The pictures are the kinds issue #16 named, where PDQ of a 320 x 320 scaled picture drifted past the match
distance: scikit-image's brick, grass and gravel textures, its printed page and text, and drawn text."""

from __future__ import annotations

import io
import json
import time
from datetime import timedelta

import numpy as np
import pdqhash
import pytest
from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import select

from firebreak.banks import io as bank_io
from firebreak.banks import service as banks
from firebreak.banks.models import MatchAction
from firebreak.banks.schemas import BankCreate
from firebreak.bootstrap.system import System
from firebreak.core.clock import FakeClock
from firebreak.integrations.sandbox import service as sandbox
from firebreak.integrations.sandbox.models import MessageStatus, SandboxMessage
from firebreak.matching.service import SYNC_INTERVAL
from firebreak.media.models import Placement, PlacementStatus
from firebreak.platform.schemas import Verdict
from tests.signals.samples import encode, photo
from tests.support import RecordingPlatform, later, media_event


def printed_text() -> Image.Image:
    image = Image.new("RGB", (900, 600), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=16)
    for row, y in enumerate(range(20, 580, 26)):
        draw.text((20, y), f"line {row}: every copy of a banked picture is found and removed", fill="black",
                  font=font)
    return image


PICTURES = {
    "brick": lambda: Image.fromarray(photo("brick")),
    "grass": lambda: Image.fromarray(photo("grass")),
    "gravel": lambda: Image.fromarray(photo("gravel")),
    "page": lambda: Image.fromarray(photo("page")),
    "text": lambda: Image.fromarray(photo("text")),
    "printed": printed_text,
}


def reference_pdq(data: bytes) -> str:
    """How python-threatexchange, HMA and the reference tools hash a file: the whole picture, full size."""
    rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    bits, _ = pdqhash.compute(rgb)
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex()


def _bank(system: System, name: str, fmt: str, text: str) -> None:
    with system.db.transaction() as session:
        bank = banks.create_bank(session=session, clock=system.clock, actor="test",
                                 data=BankCreate(name=name, action=MatchAction.BLOCK))
        report = bank_io.import_entries(session=session, clock=system.clock, actor="test", bank=bank, fmt=fmt,
                                        text=text, source_name=f"{name}.txt")
    assert report.added == len(PICTURES) and report.errors == []


def test_lists_computed_by_the_reference_catch_the_pictures_and_their_copies(system: System) -> None:
    originals = {name: encode(make(), "JPEG", quality=92) for name, make in PICTURES.items()}
    values = {name: reference_pdq(data) for name, data in originals.items()}
    stopncii = [{"signalType": "ImagePDQ", "hashValue": v, "hashStatus": "Active", "caseNumber": f"SN-{n}"}
                for n, v in values.items()]
    _bank(system, "stopncii", "stopncii", json.dumps({"hashRecords": stopncii}))
    _bank(system, "threatexchange", "te", "".join(f"pdq {v}\n" for v in values.values()))
    time.sleep(SYNC_INTERVAL + 0.05)  # upload checks see new entries within SYNC_INTERVAL of their commit

    for name, original in originals.items():
        picture = Image.open(io.BytesIO(original))
        for label, data in (("as listed", original), ("jpeg q60", encode(picture, "JPEG", quality=60)),
                            ("png", encode(picture, "PNG")), ("webp q80", encode(picture, "WEBP", quality=80))):
            result = system.gateway.scan_bytes(data)
            assert result.verdict is Verdict.BLOCK, (name, label)
            assert {m.bank for m in result.matches} == {"stopncii", "threatexchange"}, (name, label)

    # Posted on the platform, a copy is removed like any other match.
    system.gateway.ensure_integration(name="test", adapter="webhook")
    platform = RecordingPlatform()
    system.adapters.override("test", platform)
    copy = encode(Image.open(io.BytesIO(originals["brick"])), "JPEG", quality=70)
    platform.add_message("chat-1", "m-1")
    system.gateway.record_event("test", media_event("chat-1", "m-1", copy, when=later(system.clock.now(), 1)))
    system.runner.reconcile()
    assert ("chat-1", "m-1") in platform.removed()
    with system.db.sessions() as session:
        statuses = set(session.scalars(select(Placement.status)))
    assert statuses == {PlacementStatus.REMOVED}


def test_the_lists_find_every_picture_and_copy_posted_in_the_sandbox(system: System, clock: FakeClock) -> None:
    """Posted first in the sandbox messenger (as the issue's case: the copies are out before the list arrives), then
    the two lists imported: every picture and every re-encoded copy is removed, nothing else; posting one again is
    refused."""
    system.prepare()
    messenger = system.sandbox
    assert messenger is not None
    with system.db.transaction() as session:
        poster = sandbox.create_user(session=session, clock=clock, handle="poster")
        chat = sandbox.create_chat(session=session, clock=clock, creator=poster, title="Group", members=[])
        chat_ref = chat.external_id
    originals = {name: encode(make(), "JPEG", quality=92) for name, make in PICTURES.items()}
    posted: dict[tuple[str, str], str] = {}
    for name, original in originals.items():
        for label, data, mime in _copies(original):
            view = messenger.post(chat_ref=chat_ref, sender_handle="poster", text=None,
                                  upload=sandbox.Upload(data, f"{name}.{label}", mime))
            posted[(name, label)] = view.id
    other = messenger.post(chat_ref=chat_ref, sender_handle="poster", text="my cat", upload=sandbox.Upload(
        encode(Image.fromarray(photo("chelsea")), "JPEG", quality=85), "cat.jpg", "image/jpeg")).id

    clock.advance(timedelta(hours=1))  # the lists arrive later
    values = {name: reference_pdq(data) for name, data in originals.items()}
    stopncii = [{"signalType": "ImagePDQ", "hashValue": v, "hashStatus": "Active", "caseNumber": f"SN-{n}"}
                for n, v in values.items()]
    _bank(system, "stopncii", "stopncii", json.dumps({"hashRecords": stopncii}))
    _bank(system, "threatexchange", "te", "".join(f"pdq {v}\n" for v in values.values()))
    for _ in range(10):
        system.runner.reconcile()
        clock.advance(timedelta(seconds=2))

    def status(ref: str) -> MessageStatus:
        with system.db.sessions() as session:
            message = session.get(SandboxMessage, int(ref[1:]))
            assert message is not None
            return message.status

    left = [key for key, ref in posted.items() if status(ref) != MessageStatus.REMOVED]
    assert left == [], f"{len(left)} of {len(posted)} still up: {left}"
    assert status(other) == MessageStatus.LIVE
    time.sleep(SYNC_INTERVAL + 0.05)
    again = encode(Image.open(io.BytesIO(originals["gravel"])), "JPEG", quality=75)
    with pytest.raises(sandbox.UploadRefused):
        messenger.post(chat_ref=chat_ref, sender_handle="poster", text=None,
                       upload=sandbox.Upload(again, "again.jpg", "image/jpeg"))


def _copies(original: bytes) -> list[tuple[str, bytes, str]]:
    picture = Image.open(io.BytesIO(original))
    return [("jpg", original, "image/jpeg"), ("q60.jpg", encode(picture, "JPEG", quality=60), "image/jpeg"),
            ("png", encode(picture, "PNG"), "image/png"), ("webp", encode(picture, "WEBP", quality=80), "image/webp")]
