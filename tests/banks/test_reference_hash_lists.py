"""Hash lists from other systems: StopNCII records and ThreatExchange lines computed the way they compute PDQ
(`pdqhash.compute` on the full-size picture) catch the same pictures, and their re-encoded copies, when posted.

The pictures are the kinds issue #16 named, where PDQ of a 320 x 320 scaled picture drifted past the match
distance: scikit-image's brick, grass and gravel textures, its printed page and text, and drawn text."""

from __future__ import annotations

import io
import json
import time

import numpy as np
import pdqhash
from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import select

from firebreak.banks import io as bank_io
from firebreak.banks import service as banks
from firebreak.banks.models import MatchAction
from firebreak.banks.schemas import BankCreate
from firebreak.matching.service import SYNC_INTERVAL
from firebreak.media.models import Placement, PlacementStatus
from firebreak.platform.gateway import ensure_integration, record_event, scan_bytes
from firebreak.platform.schemas import Verdict
from firebreak.runtime import Runtime
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


def _bank(runtime: Runtime, name: str, fmt: str, text: str) -> None:
    with runtime.transaction() as session:
        bank = banks.create_bank(session=session, clock=runtime.clock, actor="test",
                                 data=BankCreate(name=name, action=MatchAction.BLOCK))
        report = bank_io.import_entries(session=session, clock=runtime.clock, actor="test", bank=bank, fmt=fmt,
                                        text=text, source_name=f"{name}.txt")
    assert report.added == len(PICTURES) and report.errors == []


def test_lists_computed_by_the_reference_catch_the_pictures_and_their_copies(runtime: Runtime) -> None:
    originals = {name: encode(make(), "JPEG", quality=92) for name, make in PICTURES.items()}
    values = {name: reference_pdq(data) for name, data in originals.items()}
    stopncii = [{"signalType": "ImagePDQ", "hashValue": v, "hashStatus": "Active", "caseNumber": f"SN-{n}"}
                for n, v in values.items()]
    _bank(runtime, "stopncii", "stopncii", json.dumps({"hashRecords": stopncii}))
    _bank(runtime, "threatexchange", "te", "".join(f"pdq {v}\n" for v in values.values()))
    time.sleep(SYNC_INTERVAL + 0.05)  # upload checks see new entries within SYNC_INTERVAL of their commit

    for name, original in originals.items():
        picture = Image.open(io.BytesIO(original))
        for label, data in (("as listed", original), ("jpeg q60", encode(picture, "JPEG", quality=60)),
                            ("png", encode(picture, "PNG")), ("webp q80", encode(picture, "WEBP", quality=80))):
            result = scan_bytes(runtime, data)
            assert result.verdict is Verdict.BLOCK, (name, label)
            assert {m.bank for m in result.matches} == {"stopncii", "threatexchange"}, (name, label)

    # Posted on the platform, a copy is removed like any other match.
    ensure_integration(runtime, name="test", adapter="webhook")
    platform = RecordingPlatform()
    runtime.adapters.override("test", platform)
    copy = encode(Image.open(io.BytesIO(originals["brick"])), "JPEG", quality=70)
    platform.add_message("chat-1", "m-1")
    record_event(runtime, "test", media_event("chat-1", "m-1", copy, when=later(runtime.clock.now(), 1)))
    runtime.reconcile()
    assert ("chat-1", "m-1") in platform.removed()
    with runtime.sessions() as session:
        statuses = set(session.scalars(select(Placement.status)))
    assert statuses == {PlacementStatus.REMOVED}
