"""The second line of matching in the running system (issue #14), through the sandbox messenger.

A picture and edited copies of it (cropped, with a caption bar) are posted before anyone banks it, beside
other shots of the same scene. When the picture is banked (as an authority's order banks a posted item), the
copies go with it: automatically only when the geometric check verifies them, to a moderator otherwise; a re-upload
of a removed copy is refused; the other shots of the scene are never acted on. Pictures come from scikit-image's
bundled photos through the bench's evaluation set (bench/_copy_eval.py), never real uploads.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from firebreak.audit.models import AuditEvent
from firebreak.banks import service as banks
from firebreak.banks.models import BankEntry, EntryStatus, MatchAction, Provenance
from firebreak.banks.schemas import BankCreate
from firebreak.bootstrap.system import System
from firebreak.core.jobs.models import ScheduledTask, TaskStatus
from firebreak.enforcement.models import Action, ActionKind, ActionStatus
from firebreak.integrations.sandbox import service as sandbox
from firebreak.integrations.sandbox.models import MessageStatus, SandboxMessage
from firebreak.matching.copies import COPY_SIGNAL, REDESCRIBE_JOB, evidence_words, same_as_current
from firebreak.matching.copydetect import DEFAULT_POLICY
from firebreak.matching.models import CopyDescription, Match, MatchReview
from firebreak.media.models import Media, Placement
from firebreak.media.service import find_by_sha256
from firebreak.review.models import ItemStatus, ReviewItem
from firebreak.signals.keypoints import EXTRACTOR_REVISION, WORKING_SIDE, FeatureSet
from firebreak.signals.structure import EdgeMap
from firebreak.signals.vpdq import value_to_frames
from tests.support import RecordingPlatform, media_event

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import _copy_eval as ev  # noqa: E402


def jpeg(image: Image.Image, quality: int = 88) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=quality)
    return out.getvalue()


def run_jobs(system: System, rounds: int = 4) -> None:
    for _ in range(rounds):
        system.runner.reconcile()
        system.clock.advance(timedelta(seconds=5))  # type: ignore[attr-defined]


def bank_posted(system: System, data: bytes, reference: str) -> list[str]:
    """Bank a posted file from its media, as an order for its message banks it. The entries' signal types."""
    with system.db.transaction() as session:
        bank = banks.create_bank(session=session, clock=system.clock, actor="test",
                                 data=BankCreate(name="ordered", action=MatchAction.BLOCK))
        media = find_by_sha256(session=session, sha256=hashlib.sha256(data).hexdigest())
        assert media is not None
        entries = banks.entries_for_media(media=media, blobs=system.blobs, limits=system.limits)
        banks.add_entries(session=session, clock=system.clock, actor="test", bank=bank, entries=entries,
                          provenance=Provenance.ORDER, source_ref=reference)
    return [e.signal_type for e in entries]


def post(system: System, chat: str, sender: str, data: bytes) -> str:
    assert system.sandbox is not None
    return system.sandbox.post(chat_ref=chat, sender_handle=sender, text=None,
                               upload=sandbox.Upload(data, filename="picture.jpg")).id


@pytest.fixture
def pictures() -> dict[str, bytes]:
    source = next(s for s in ev.sources(40) if s.label == "camera@0,0")
    image = source.image()
    distractors = [d for d in ev.distractors(400, ev.sources(40))
                   if d.kind == "same-scene photo" and d.spec[0] == "camera"]
    assert len(distractors) >= 2
    return {
        "original": jpeg(image),
        # The copy people make: cut in a little on every side, a caption bar under it.
        "cropped_captioned": jpeg(ev.caption(ev.crop_sides(image, 0.1, "all"), top=None, bottom="look who it is")),
        # A harder one: half of each dimension cut off (a quarter of the picture left, under the 40% the geometric
        # rule needs to act alone), a caption bar on top.
        "heavily_cropped": jpeg(ev.caption(ev.crop_sides(image, 0.5, "all"), top="again", bottom=None)),
        # Other shots of the same scene: never the banked picture.
        "same_scene_1": jpeg(ev.build_distractor(distractors[0])),
        "same_scene_2": jpeg(ev.build_distractor(distractors[1])),
    }


def test_banking_a_picture_finds_its_edited_copies_already_posted(system: System,
                                                                 pictures: dict[str, bytes]) -> None:
    system.prepare()  # the sandbox's integration row, as a serving process writes it at start
    with system.db.transaction() as session:
        alice = sandbox.create_user(session=session, clock=system.clock, handle="alice")
        for handle in ("bob", "carol"):
            sandbox.create_user(session=session, clock=system.clock, handle=handle)
        chats = [sandbox.create_chat(session=session, clock=system.clock, creator=alice, title=f"Class {i}",
                                     members=["bob", "carol"]).external_id for i in range(3)]
    posted = {
        "original": post(system, chats[0], "alice", pictures["original"]),
        "cropped_captioned": post(system, chats[1], "bob", pictures["cropped_captioned"]),
        "heavily_cropped": post(system, chats[1], "carol", pictures["heavily_cropped"]),
        "same_scene_1": post(system, chats[2], "bob", pictures["same_scene_1"]),
        "same_scene_2": post(system, chats[2], "carol", pictures["same_scene_2"]),
    }
    run_jobs(system)  # each new picture is described once, by a job
    with system.db.sessions() as session:
        assert session.query(CopyDescription).count() == 5
        media = {name: find_by_sha256(session=session, sha256=hashlib.sha256(data).hexdigest())
                 for name, data in pictures.items()}
        ids = {name: m.id for name, m in media.items() if m is not None}
        assert len(ids) == 5

    # The original is banked, as an order for its message banks it.
    bank_posted(system, pictures["original"], "KCSC-2026-0001")
    run_jobs(system)

    with system.db.sessions() as session:
        status = {name: session.get(SandboxMessage, int(ref[1:])).status  # type: ignore[union-attr]
                  for name, ref in posted.items()}
        matches = {m.media_id: m for m in session.scalars(select(Match))}
        open_items = {item.facts.get("media_id") for item in session.scalars(
            select(ReviewItem).where(ReviewItem.status == ItemStatus.OPEN))}
        removals = {a.placement_id: a for a in session.scalars(
            select(Action).where(Action.kind == ActionKind.REMOVE_MESSAGE))}
        placements = {p.media_id: p.id for p in session.scalars(select(Placement))}

    # The search says how far it looked: every post (the banked one itself left out) within its depth.
    with system.db.sessions() as session:
        searched = [json.loads(event.data) for event in session.scalars(select(AuditEvent).where(
            AuditEvent.action == "propagation.copies"))]
    assert [{k: data[k] for k in ("posts_held", "bounded")} for data in searched] == [
        {"posts_held": 5, "bounded": False}], searched
    assert 1 <= searched[0]["candidates_checked"] == searched[0]["candidates_voted"] <= 8, searched  # 4 posts, 2 planes
    # The banked picture itself: its hashes.
    assert status["original"] == MessageStatus.REMOVED and matches[ids["original"]].signal_type != COPY_SIGNAL
    # The cropped and captioned copy: found by the second line, verified, removed like the original.
    copy = matches[ids["cropped_captioned"]]
    assert copy.signal_type == COPY_SIGNAL and copy.evidence and copy.evidence["action"] == "auto", copy.evidence
    assert copy.review == MatchReview.NOT_NEEDED
    assert status["cropped_captioned"] == MessageStatus.REMOVED
    assert removals[placements[ids["cropped_captioned"]]].status == ActionStatus.DONE
    # The heavily cropped copy: found, but beyond what the geometric rule acts on: waiting for a moderator, still up.
    hard = matches.get(ids["heavily_cropped"])
    assert hard is not None and hard.signal_type == COPY_SIGNAL and hard.evidence is not None
    assert hard.evidence["action"] == "review", hard.evidence
    assert hard.review == MatchReview.PENDING and ids["heavily_cropped"] in open_items
    assert status["heavily_cropped"] == MessageStatus.LIVE
    assert placements[ids["heavily_cropped"]] not in removals
    # The moderator sees both pictures side by side (blurred until revealed) and how the match was made.
    with system.db.sessions() as session:
        item = session.scalar(select(ReviewItem).where(ReviewItem.status == ItemStatus.OPEN))
        assert item is not None and "edited copy" in item.title
        view = system.review.view(session, item)
        assert system.review.preview_ids(session, item) == {ids["heavily_cropped"], ids["original"]}
    facts = {f.label: f.value for section in view.sections for f in section.facts}
    assert "matching points" in facts["How it was found"], facts
    # Other shots of the same scene: never acted on.
    for name in ("same_scene_1", "same_scene_2"):
        assert status[name] == MessageStatus.LIVE
        assert placements[ids[name]] not in removals
        found = matches.get(ids[name])
        assert found is None or found.review == MatchReview.PENDING, found

    # A re-upload of the removed copy is refused before it is posted.
    with pytest.raises(sandbox.UploadRefused):
        post(system, chats[2], "carol", pictures["cropped_captioned"])

    # The entries withdrawn (a decision reversed, say): the same upload goes through at once, in every process.
    with system.db.transaction() as session:
        for entry in session.scalars(select(BankEntry).where(BankEntry.source_ref == "KCSC-2026-0001")):
            banks.set_entry_status(session=session, clock=system.clock, actor="test", entry=entry,
                                   status=EntryStatus.WITHDRAWN, reason="test")
    assert system.gateway.scan_bytes(pictures["cropped_captioned"]).verdict.value == "allow"


def test_a_copy_posted_after_banking_is_caught_by_its_description(system: System,
                                                                 pictures: dict[str, bytes]) -> None:
    """A platform that posts first and tells Firebreak after (no upload check): the new picture's description job
    searches the banked pictures, and a verified copy's message is removed."""
    system.gateway.ensure_integration(name="hook", adapter="webhook")
    system.adapters.override("hook", RecordingPlatform())
    system.gateway.record_event("hook", media_event("room-1", "m1", pictures["original"], when=system.clock.now()))
    run_jobs(system)
    bank_posted(system, pictures["original"], "KCSC-2026-0002")
    run_jobs(system)

    system.gateway.record_event("hook", media_event("room-2", "m2", pictures["cropped_captioned"],
                                                    when=system.clock.now()))
    system.gateway.record_event("hook", media_event("room-2", "m3", pictures["same_scene_1"],
                                                    when=system.clock.now()))
    run_jobs(system, rounds=2)
    with system.db.sessions() as session:
        copy = find_by_sha256(session=session, sha256=hashlib.sha256(pictures["cropped_captioned"]).hexdigest())
        other = find_by_sha256(session=session, sha256=hashlib.sha256(pictures["same_scene_1"]).hexdigest())
        assert copy is not None and other is not None
        match = session.scalar(select(Match).where(Match.media_id == copy.id))
        assert match is not None and match.signal_type == COPY_SIGNAL and match.source.value == "upload"
        assert match.evidence is not None and match.evidence["action"] == "auto"
        removal = session.scalar(select(Action).join(Placement, Placement.id == Action.placement_id).where(
            Action.kind == ActionKind.REMOVE_MESSAGE, Placement.media_id == copy.id))
        assert removal is not None
        assert session.scalar(select(Match).where(Match.media_id == other.id)) is None
        # The authority's count of uploads removed because of its item: this one, once.
        entry = session.get(BankEntry, match.bank_entry_id)
        assert entry is not None and entry.blocked_uploads == 1



def test_a_description_committed_late_is_still_searched(system: System, pictures: dict[str, bytes]) -> None:
    """Ids are handed out at insert, commits finish in any order: a worker's posted side may pass an id before its
    row is committed. The copy whose description lands below the cursor is still found when the picture is banked
    (before, it was missed by both searches: docs/copy-detection.md)."""
    system.gateway.ensure_integration(name="hook", adapter="webhook")
    system.adapters.override("hook", RecordingPlatform())
    system.gateway.record_event("hook", media_event("room-1", "m1", pictures["cropped_captioned"],
                                                    when=system.clock.now()))
    run_jobs(system)
    system.gateway.record_event("hook", media_event("room-1", "m2", pictures["original"], when=system.clock.now()))
    run_jobs(system)
    copies = system.enforcement.deps.copies
    assert copies is not None
    with system.db.transaction() as session:
        copy = find_by_sha256(session=session, sha256=hashlib.sha256(pictures["cropped_captioned"]).hexdigest())
        assert copy is not None
        row = session.scalar(select(CopyDescription).where(CopyDescription.media_id == copy.id))
        assert row is not None
        kept = {c.name: getattr(row, c.name) for c in CopyDescription.__table__.columns}
        session.delete(row)  # not committed yet, as far as the posted side can tell
    with system.db.sessions() as session:
        copies.refresh_posted(session)  # the cursor passes the copy's id
    with system.db.transaction() as session:
        session.add(CopyDescription(**kept))  # ... and its commit lands now, below the cursor
    bank_posted(system, pictures["original"], "KCSC-2026-0003")
    run_jobs(system)
    with system.db.sessions() as session:
        match = session.scalar(select(Match).where(Match.media_id == copy.id))
        assert match is not None and match.signal_type == COPY_SIGNAL, "the late description was not searched"
        assert match.evidence is not None and match.evidence["action"] == "auto"


def test_a_recoloured_crop_posted_before_banking_goes_with_the_picture(system: System) -> None:
    """A colour picture, and a copy turned 60 degrees round the colour wheel with a tenth cut off one side, posted
    before anyone banks the picture; its description was stored before colour features existed (extractor revision
    1, no brightest-channel set), as after an upgrade. The upgrade job, queued at start-up, describes it again; then
    banking the picture removes the copy, found on the brightest channel, and the copy's re-upload is refused;
    another colour scene stays."""
    picture = next(s for s in ev.sources(400) if s.label == "textured-5").image().convert("RGB")
    data = {"original": jpeg(picture),
            "recoloured": jpeg(ev.crop_sides(ev.hue_shift(picture, 60), 0.1, "left"), 50),
            "other": jpeg(ev.textured_scene(9005))}
    system.gateway.ensure_integration(name="hook", adapter="webhook")
    system.adapters.override("hook", RecordingPlatform())
    for number, name in enumerate(data):
        system.gateway.record_event("hook", media_event("room-1", f"m{number}", data[name], when=system.clock.now()))
    run_jobs(system)
    with system.db.transaction() as session:
        ids = {name: media.id for name, blob in data.items()
               if (media := find_by_sha256(session=session, sha256=hashlib.sha256(blob).hexdigest())) is not None}
        rows = {row.media_id: row for row in session.scalars(select(CopyDescription))}
        assert all(rows[i].brightest_features is not None for i in ids.values())
        old = rows[ids["recoloured"]]
        features = FeatureSet.from_bytes(old.features)
        old.features, old.brightest_features, old.revision = replace(features, revision=1).to_bytes(), None, 1
        old.outlines = None  # as revision 1 wrote it
        old_id = old.id
    copies = system.enforcement.deps.copies
    assert copies is not None
    with system.db.sessions() as session:
        copies.refresh_posted(session)  # this process's posted side holds the old row, as it would when running
    system.prepare()  # a serving process starting after the upgrade: the job that describes old rows again
    with system.db.sessions() as session:
        task = session.scalar(select(ScheduledTask).where(ScheduledTask.job == REDESCRIBE_JOB))
        assert task is not None and task.status == TaskStatus.PENDING
    run_jobs(system)
    with system.db.sessions() as session:
        row = session.scalar(select(CopyDescription).where(CopyDescription.media_id == ids["recoloured"]))
        assert row is not None and row.id > old_id and row.revision == EXTRACTOR_REVISION
        assert row.brightest_features is not None
    bank_posted(system, data["original"], "KCSC-2026-0004")
    run_jobs(system)
    with system.db.sessions() as session:
        match = session.scalar(select(Match).where(Match.media_id == ids["recoloured"]))
        assert match is not None and match.signal_type == COPY_SIGNAL and match.evidence is not None
        # Settled by what only the rewritten row holds: the brightest channel's features, or the outlines.
        assert match.evidence["action"] == "auto", match.evidence
        assert match.evidence["plane"] == "brightest" or match.evidence.get("settled_by") == "outlines", match.evidence
        removal = session.scalar(select(Action).join(Placement, Placement.id == Action.placement_id).where(
            Action.kind == ActionKind.REMOVE_MESSAGE, Placement.media_id == ids["recoloured"]))
        assert removal is not None
        assert session.scalar(select(Match).where(Match.media_id == ids["other"])) is None
        words = evidence_words(match.evidence)
        if match.evidence["plane"] == "brightest":
            assert "brightest colour channel" in words
            # Stored with the rule it was judged by (that channel's floor and agreement), for the words of later days.
            assert match.evidence["rules"]["min_inliers"] == DEFAULT_POLICY.brightest_min_inliers, match.evidence
            assert match.evidence["rules"]["agreeing_share"] == DEFAULT_POLICY.brightest_agreeing_share
        else:  # the luma's points were too few, and the outlines settled it: the words say so
            assert "the outlines settle it" in words and "(verified)" in words, words
            assert match.evidence["outlines"]["banked_share"] >= DEFAULT_POLICY.outline_share
    assert system.gateway.scan_bytes(data["recoloured"]).verdict.value == "block"
    assert system.gateway.scan_bytes(data["other"]).verdict.value == "allow"


def test_a_rewritten_description_committed_late_replaces_the_one_held(system: System) -> None:
    """On PostgreSQL the upgrade job's new row can commit after a later post's row: the posted side's cursor passes
    its id while this process still holds the picture's old row. The window below the cursor takes the new row up
    (before, a picture already held was passed over there, and kept its old description until a restart)."""
    picture = next(s for s in ev.sources(400) if s.label == "textured-5").image().convert("RGB")
    original, recoloured = jpeg(picture), jpeg(ev.crop_sides(ev.hue_shift(picture, 60), 0.1, "left"), 50)
    system.gateway.ensure_integration(name="hook", adapter="webhook")
    system.adapters.override("hook", RecordingPlatform())
    for number, blob in enumerate((original, recoloured)):
        system.gateway.record_event("hook", media_event("room-1", f"m{number}", blob, when=system.clock.now()))
    run_jobs(system)
    copies = system.enforcement.deps.copies
    assert copies is not None
    with system.db.transaction() as session:
        copy = find_by_sha256(session=session, sha256=hashlib.sha256(recoloured).hexdigest())
        assert copy is not None
        row = session.scalar(select(CopyDescription).where(CopyDescription.media_id == copy.id))
        assert row is not None
        row.features = replace(FeatureSet.from_bytes(row.features), revision=1).to_bytes()
        row.brightest_features, row.outlines, row.revision = None, None, 1
    with system.db.sessions() as session:
        copies.refresh_posted(session)  # holds the old row
    system.prepare()
    run_jobs(system)  # the job writes the new row ...
    system.gateway.record_event("hook", media_event("room-1", "m9", jpeg(ev.textured_scene(9201)),
                                                    when=system.clock.now()))
    run_jobs(system)  # ... and a later post's row is written after it
    with system.db.transaction() as session:
        new = session.scalar(select(CopyDescription).where(CopyDescription.media_id == copy.id))
        assert new is not None and new.revision == EXTRACTOR_REVISION
        kept = {c.name: getattr(new, c.name) for c in CopyDescription.__table__.columns}
        session.delete(new)  # not committed yet, as far as the posted side can tell
    with system.db.sessions() as session:
        copies.refresh_posted(session)  # the cursor passes the new row's id
    with system.db.transaction() as session:
        session.add(CopyDescription(**kept))  # ... and its commit lands now, below the cursor
    bank_posted(system, original, "KCSC-2026-0005")
    run_jobs(system)
    with system.db.sessions() as session:
        match = session.scalar(select(Match).where(Match.media_id == copy.id))
        assert match is not None and match.evidence is not None, "the rewritten description was not taken up"
        # Settled by what only the rewritten row holds: the brightest channel's features, or the outlines.
        assert match.evidence["action"] == "auto", match.evidence
        assert match.evidence["plane"] == "brightest" or match.evidence.get("settled_by") == "outlines", match.evidence


def test_the_upgrade_job_passes_a_picture_whose_bytes_are_gone(system: System) -> None:
    """A description of an older extractor whose picture's bytes are no longer kept (purged, say) stays as it is and
    still matches; the job goes past it, describes the next one again and finishes."""
    pictures = [jpeg(ev.textured_scene(seed)) for seed in (9101, 9102)]
    system.gateway.ensure_integration(name="hook", adapter="webhook")
    system.adapters.override("hook", RecordingPlatform())
    for number, blob in enumerate(pictures):
        system.gateway.record_event("hook", media_event("room-1", f"p{number}", blob, when=system.clock.now()))
    run_jobs(system)
    with system.db.transaction() as session:
        rows = list(session.scalars(select(CopyDescription).order_by(CopyDescription.id)))
        assert len(rows) == 2
        for row in rows:
            row.revision = 1
        gone = session.get(Media, rows[0].media_id)
        assert gone is not None and gone.blob_key is not None
        system.blobs.delete(gone.blob_key)
        kept_id, renewed_id = rows[0].id, rows[1].id
    system.prepare()
    run_jobs(system)
    with system.db.sessions() as session:
        rows = list(session.scalars(select(CopyDescription).order_by(CopyDescription.id)))
        assert [(r.id == kept_id, r.revision) for r in rows] == [(True, 1), (False, EXTRACTOR_REVISION)]
        assert renewed_id not in {r.id for r in rows}
        task = session.scalar(select(ScheduledTask).where(ScheduledTask.job == REDESCRIBE_JOB))
        assert task is not None and task.status == TaskStatus.DONE
        assert int(task.payload["after_id"]) >= kept_id


def test_the_upgrade_job_describes_every_older_row_again_for_its_outlines(system: System) -> None:
    """Extractor revision 5 keeps the outlines (sealed), which no older row has: a revision 4 row is described again
    (a new row, with outlines that open under this instance's key and not under another row's media id), even one
    of a picture described at full size, which revision 4 would have marked current without the picture."""
    big = jpeg(ev.textured_scene(9301))
    system.gateway.ensure_integration(name="hook", adapter="webhook")
    system.adapters.override("hook", RecordingPlatform())
    system.gateway.record_event("hook", media_event("room-1", "s0", big, when=system.clock.now()))
    run_jobs(system)
    with system.db.transaction() as session:
        (row,) = session.scalars(select(CopyDescription))
        assert row.outlines is not None and b"FBED" not in row.outlines  # kept sealed, never in the clear
        assert max(FeatureSet.from_bytes(row.features).width, FeatureSet.from_bytes(row.features).height
                   ) == WORKING_SIDE
        row.revision, row.outlines = 4, None  # as revision 4 wrote it
        row.features = replace(FeatureSet.from_bytes(row.features), revision=4).to_bytes()
        old_id, old_features, media_id = row.id, row.features, row.media_id
        assert not any(same_as_current(revision, old_features) for revision in range(EXTRACTOR_REVISION))
    system.prepare()
    run_jobs(system)
    with system.db.sessions() as session:
        (row,) = session.scalars(select(CopyDescription))
        assert row.id > old_id and row.revision == EXTRACTOR_REVISION and row.outlines is not None
        seal = system.enforcement.deps.copies.seal
        assert seal is not None
        opened = seal.open(media_id, row.outlines)
        assert opened is not None and EdgeMap.from_bytes(opened).bits.any()
        assert seal.open(media_id + 1, row.outlines) is None  # bound to its picture
        task = session.scalar(select(ScheduledTask).where(ScheduledTask.job == REDESCRIBE_JOB))
        assert task is not None and task.status == TaskStatus.DONE


@pytest.fixture(scope="module")
def videos() -> dict[str, bytes]:
    """A banked 60-second video, a 20-second clip cut from it and re-encoded smaller, and other footage of the
    same places (the camera along other paths)."""
    footage = ev.pan_frames(3, 60)
    other = ev.pan_frames(3, 60, path_seed=999)
    fps = ev.VIDEO_FPS
    return {
        "video": ev.encode_video(footage),
        "clip": ev.encode_video(footage[22 * fps: 42 * fps], size=(256, 192), crf=30),
        "other": ev.encode_video(other[10 * fps: 30 * fps]),
        "another_clip": ev.encode_video(footage[5 * fps: 25 * fps], size=(256, 192), crf=28),
        # Cut between the banked video's seconds (9.25 s, 4.25 s) on a moving shot: with the bank keeping only
        # vPDQ's one frame a second these went to review (checked when the test was written); four a second
        # finds them.
        "between_seconds": ev.encode_video(footage[37: 37 + 20 * fps], size=(256, 192), crf=30),
        "between_seconds_upload": ev.encode_video(footage[17: 17 + 20 * fps], size=(256, 192), crf=30),
    }


def test_a_banked_video_takes_its_clips_with_it_and_refuses_new_ones(system: System,
                                                                     videos: dict[str, bytes]) -> None:
    system.gateway.ensure_integration(name="hook", adapter="webhook")
    system.adapters.override("hook", RecordingPlatform())
    for n, name in enumerate(("video", "clip", "other", "between_seconds")):
        system.gateway.record_event("hook", media_event("room-1", f"m{n}", videos[name], sender=f"u{n}",
                                                        when=system.clock.now()))
    run_jobs(system)
    assert "vpdq" in bank_posted(system, videos["video"], "KCSC-2026-0003")
    run_jobs(system)

    with system.db.sessions() as session:
        ids = {name: m.id for name in ("clip", "other", "between_seconds") if (m := find_by_sha256(
            session=session, sha256=hashlib.sha256(videos[name]).hexdigest())) is not None}
        # The entry is the exchange format (one frame a second); the frames four a second are kept beside it.
        entry = session.scalar(select(BankEntry).where(BankEntry.signal_type == "vpdq"))
        assert entry is not None
        assert 55 <= len(value_to_frames(entry.value)) <= 61
        assert 230 <= len(value_to_frames(entry.extra["dense"])) <= 241
        between = session.scalar(select(Match).where(Match.media_id == ids["between_seconds"]))
        assert between is not None and between.evidence is not None and between.evidence["action"] == "auto", \
            between and between.evidence
        clip = session.scalar(select(Match).where(Match.media_id == ids["clip"]))
        assert clip is not None and clip.signal_type == COPY_SIGNAL and clip.evidence is not None
        assert clip.evidence["method"] == "video" and clip.evidence["action"] == "auto", clip.evidence
        assert 20 <= clip.evidence["start_seconds"] <= 24, clip.evidence  # where in the banked video it was cut
        assert 16 <= clip.evidence["aligned_seconds"] <= clip.evidence["usable_seconds"] <= 20, clip.evidence
        # The banked video found the posted clip inside it: the moderator reads the clip's seconds as the post's.
        assert evidence_words(clip.evidence).startswith(
            f"{clip.evidence['aligned_seconds']} of {clip.evidence['usable_seconds']} seconds of this video line up")
        removal = session.scalar(select(Action).join(Placement, Placement.id == Action.placement_id).where(
            Action.kind == ActionKind.REMOVE_MESSAGE, Placement.media_id == ids["clip"]))
        assert removal is not None
        assert session.scalar(select(Match).where(Match.media_id == ids["other"])) is None

    # Another clip of it, uploaded now: refused at the upload check, after the hashes found nothing.
    verdict = system.gateway.scan_bytes(videos["another_clip"], integration="hook")
    assert verdict.verdict.value == "block", verdict
    verdict = system.gateway.scan_bytes(videos["between_seconds_upload"], integration="hook")
    assert verdict.verdict.value == "block", verdict
    assert system.gateway.scan_bytes(videos["other"], integration="hook").verdict.value == "allow"
