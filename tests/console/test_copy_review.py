"""A possible edited copy in the review queue, as a moderator works it: both pictures side by side, blurred until
revealed, how the match was made in words; confirming removes the copy, banks it, and its re-upload is refused.

Pictures come from the bench's evaluation set (bench/_copy_eval.py: scikit-image's bundled photos), never real
uploads.
"""

from __future__ import annotations

import hashlib
import io
import re
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select

from firebreak.banks import service as banks
from firebreak.banks.models import Bank, BankEntry, MatchAction, Provenance
from firebreak.banks.schemas import BankCreate
from firebreak.bootstrap.system import System
from firebreak.core.clock import FakeClock
from firebreak.integrations.sandbox import service as sandbox
from firebreak.integrations.sandbox.models import MessageStatus
from firebreak.matching.copies import COPY_SIGNAL
from firebreak.matching.models import Match, MatchReview
from firebreak.media.service import find_by_sha256
from firebreak.review.models import ItemStatus, ReviewItem
from tests.console.conftest import settle
from tests.console.test_review_pages import claim, decide
from tests.console.world import add_staff

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import _copy_eval as ev  # noqa: E402

Login = Callable[[str], TestClient]


def jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=88)
    return out.getvalue()


def test_a_moderator_confirms_an_edited_copy_and_its_reupload_is_refused(system: System, clock: FakeClock,
                                                                          login: Login) -> None:
    assert system.sandbox is not None
    system.prepare()
    add_staff(system)
    image = next(s for s in ev.sources(40) if s.label == "camera@0,0").image()
    original = jpeg(image)
    # Half of each dimension off: a quarter of the picture left, under the 40% the geometric rule needs to act alone.
    copy = jpeg(ev.caption(ev.crop_sides(image, 0.5, "all"), top="again", bottom=None))
    with system.db.transaction() as session:
        ann = sandbox.create_user(session=session, clock=system.clock, handle="ann")
        sandbox.create_user(session=session, clock=system.clock, handle="bo")
        chat = sandbox.create_chat(session=session, clock=system.clock, creator=ann, title="Class",
                                   members=["bo"]).external_id
    system.sandbox.post(chat_ref=chat, sender_handle="ann", text=None, upload=sandbox.Upload(original))
    posted = system.sandbox.post(chat_ref=chat, sender_handle="bo", text=None, upload=sandbox.Upload(copy)).id
    settle(system, clock)
    with system.db.transaction() as session:
        bank = banks.create_bank(session=session, clock=system.clock, actor="test",
                                 data=BankCreate(name="ordered", action=MatchAction.BLOCK,
                                                 policy_category="ncii"))
        media = find_by_sha256(session=session, sha256=hashlib.sha256(original).hexdigest())
        assert media is not None
        banks.add_entries(session=session, clock=system.clock, actor="test", bank=bank,
                          entries=banks.entries_for_media(media=media, blobs=system.blobs, limits=system.limits),
                          provenance=Provenance.ORDER, source_ref="KCSC-2026-0004")
    settle(system, clock)

    with system.db.sessions() as session:
        copy_media = find_by_sha256(session=session, sha256=hashlib.sha256(copy).hexdigest())
        assert copy_media is not None
        match = session.scalar(select(Match).where(Match.media_id == copy_media.id))
        assert match is not None and match.signal_type == COPY_SIGNAL
        assert match.review == MatchReview.PENDING, match.evidence  # a candidate, not acted on alone
        item = session.scalar(select(ReviewItem).where(ReviewItem.status == ItemStatus.OPEN,
                                                       ReviewItem.subject_id == match.id))
        assert item is not None
        item_id = item.id
        assert sandbox.get_message(session=session, ref=posted).status == MessageStatus.LIVE  # nothing done alone

    mo = login("mo")
    page = mo.get(f"/console/review/items/{item_id}").text
    assert "edited copy" in page and "How it was found" in page and "matching points" in page
    previews = set(re.findall(r"/media/(\d+)\?view=blurred", page))
    assert previews == {str(copy_media.id), str(media.id)}  # the post and the banked picture, both blurred
    claim(mo, item_id)
    decided = decide(mo, item_id, "confirm", ground="ncii").get(f"/console/review/items/{item_id}?done=decided")
    assert "Removal of 1 message(s) queued" in decided.text
    settle(system, clock)

    with system.db.sessions() as session:
        assert sandbox.get_message(session=session, ref=posted).status == MessageStatus.REMOVED
        banked = session.scalars(select(BankEntry).join(Bank, Bank.id == BankEntry.bank_id).where(
            BankEntry.media_id == copy_media.id, Bank.name.startswith("decisions-"))).all()
        assert {e.signal_type for e in banked} >= {"sha256", "pdq"}
    with pytest.raises(sandbox.UploadRefused):  # the confirmed copy, sent again
        system.sandbox.post(chat_ref=chat, sender_handle="bo", text=None, upload=sandbox.Upload(copy))
