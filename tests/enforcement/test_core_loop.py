"""The core loop: a bank entry removes every existing copy, and re-uploads are refused or removed at once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from firebreak.banks import service as banks
from firebreak.banks.models import MatchAction, Provenance
from firebreak.banks.schemas import BankCreate
from firebreak.bootstrap.system import System
from firebreak.enforcement.models import Action, ActionStatus, Propagation, PropagationStatus
from firebreak.media.models import Placement, PlacementStatus
from firebreak.platform.schemas import Verdict
from firebreak.signals.hashing import hash_bytes
from tests.support import (
    UNRELATED_PHOTOS,
    RecordingPlatform,
    copies_of,
    jpeg,
    later,
    media_event,
    noise_image,
    photo,
)


@pytest.fixture
def platform(system: System) -> Iterator[RecordingPlatform]:
    system.gateway.ensure_integration(name="test", adapter="webhook")
    recording = RecordingPlatform()
    system.adapters.override("test", recording)
    yield recording


def _post(system: System, platform: RecordingPlatform, chat: str, message: str, data: bytes, n: int = 0,
          forwarded_from: tuple[str, str] | None = None, sender: str = "u1") -> None:
    platform.add_message(chat, message)
    system.gateway.record_event("test", media_event(chat, message, data, when=later(system.clock.now(), n),
                                              forwarded_from=forwarded_from, sender=sender))


def _bank(system: System, action: MatchAction = MatchAction.BLOCK, name: str = "ordered") -> int:
    with system.db.transaction() as session:
        return banks.create_bank(session=session, clock=system.clock, actor="test",
                                 data=BankCreate(name=name, action=action)).id


def _bank_file(system: System, bank_id: int, data: bytes) -> None:
    with system.db.transaction() as session:
        bank = session.get(banks.Bank, bank_id)
        assert bank is not None
        banks.add_entries(session=session, clock=system.clock, actor="test", bank=bank,
                          entries=banks.entries_for_hashes(hash_bytes(data)), provenance=Provenance.ORDER,
                          source_ref="order:test")


def test_bank_entry_removes_every_copy_and_nothing_else(system: System, platform: RecordingPlatform) -> None:
    original = photo("astronaut")
    copies = copies_of(original)
    for i, (name, data) in enumerate(copies.items()):
        _post(system, platform, f"chat-{i % 3}", f"copy-{name}", data, i, sender=f"user-{i}")
    for i, name in enumerate(UNRELATED_PHOTOS):
        _post(system, platform, "chat-0", f"other-{name}", jpeg(photo(name)), 100 + i)
    for seed in range(20):
        _post(system, platform, "chat-1", f"noise-{seed}", jpeg(noise_image(seed)), 200 + seed)
    assert platform.calls == []  # nothing is banked yet: nothing is touched

    bank_id = _bank(system)
    _bank_file(system, bank_id, copies["exact"])
    system.runner.reconcile()

    expected = {(f"chat-{i % 3}", f"copy-{name}") for i, name in enumerate(copies)}
    assert platform.removed() == expected
    assert platform.count("remove_message") == len(expected)  # each once
    with system.db.sessions() as session:
        statuses = dict(session.execute(select(Placement.message_external_id, Placement.status)).all())
        prop = session.scalars(select(Propagation)).all()
    assert all(statuses[m] == PlacementStatus.REMOVED for _, m in expected)
    assert all(s == PlacementStatus.LIVE for m, s in statuses.items() if not m.startswith("copy-"))
    assert prop and all(p.status == PropagationStatus.DONE for p in prop)


def test_reupload_after_banking_is_refused_and_removed(system: System, platform: RecordingPlatform) -> None:
    original = photo("chelsea")
    bank_id = _bank(system)
    _bank_file(system, bank_id, jpeg(original))
    system.runner.reconcile()
    reupload = copies_of(original)["mirrored"]
    verdict = system.gateway.scan_bytes(reupload)
    assert verdict.verdict == Verdict.BLOCK and verdict.matches[0].bank == "ordered"
    assert system.gateway.scan_bytes(jpeg(photo("coffee"))).verdict == Verdict.ALLOW
    # A platform that posts it anyway sees it removed at once.
    _post(system, platform, "chat-9", "sneaky", reupload)
    system.runner.reconcile()
    assert ("chat-9", "sneaky") in platform.removed()


def test_the_mirror_image_half_of_a_symmetric_picture_is_not_removed_as_its_copy(
    system: System, platform: RecordingPlatform
) -> None:
    """The upper and lower quarters of a round retina photo are near mirror images: one flipped sits 30 bits
    from the other, inside PDQ's 31 but far from where true mirrored copies sit (a few bits). Neither is a copy
    of the other: the hash path acts on a turned or mirrored match only within 16 bits, in both directions
    (banking first, and an upload after). A true mirrored copy is still removed and refused."""
    from PIL import Image

    from firebreak.signals.pdq import hamming_distance

    retina = photo("retina")
    halves = [retina.crop(box).resize((240, 480), Image.Resampling.LANCZOS)
              for box in ((0, 0, 352, 705), (0, 705, 352, 1410))]
    upper, lower = (jpeg(half) for half in halves)
    upper_hashes, lower_hashes = hash_bytes(upper), hash_bytes(lower)
    flipped = min(hamming_distance(q, lower_hashes.pdq.value) for q in upper_hashes.dihedral[1:])
    assert 16 < flipped <= 31 and hamming_distance(upper_hashes.pdq.value, lower_hashes.pdq.value) > 31
    _post(system, platform, "c", "lower", lower, 1)
    mirrored = copies_of(halves[0])["mirrored"]
    _post(system, platform, "c", "mirrored", mirrored, 2)
    bank_id = _bank(system)
    _bank_file(system, bank_id, upper)
    system.runner.reconcile()
    assert ("c", "lower") not in platform.removed()
    assert ("c", "mirrored") in platform.removed()
    assert system.gateway.scan_bytes(lower).verdict != Verdict.BLOCK
    assert system.gateway.scan_bytes(mirrored).verdict == Verdict.BLOCK


def test_review_bank_queues_matches_without_acting(system: System, platform: RecordingPlatform) -> None:
    original = photo("rocket")
    _post(system, platform, "c", "m1", jpeg(original, 70))
    bank_id = _bank(system, MatchAction.REVIEW, name="suspected")
    _bank_file(system, bank_id, jpeg(original))
    system.runner.reconcile()
    assert platform.calls == []
    assert system.gateway.scan_bytes(jpeg(original)).verdict == Verdict.REVIEW
    from firebreak.matching.models import Match, MatchReview

    with system.db.sessions() as session:
        reviews = session.scalars(select(Match.review)).all()
    assert reviews == [MatchReview.PENDING]


def test_withdrawn_entry_stops_matching_at_once(system: System, platform: RecordingPlatform) -> None:
    data = jpeg(photo("camera"))
    bank_id = _bank(system)
    _bank_file(system, bank_id, data)
    assert system.gateway.scan_bytes(data).verdict == Verdict.BLOCK
    with system.db.transaction() as session:
        for entry in session.scalars(select(banks.BankEntry)):
            banks.set_entry_status(session=session, clock=system.clock, actor="test", entry=entry,
                                   status=banks.EntryStatus.WITHDRAWN)
    assert system.gateway.scan_bytes(data).verdict == Verdict.ALLOW


def test_platform_down_actions_retry_until_done(system: System, platform: RecordingPlatform) -> None:
    data = jpeg(photo("coffee"))
    _post(system, platform, "c", "m1", data)
    platform.down = True
    bank_id = _bank(system)
    _bank_file(system, bank_id, data)
    system.runner.reconcile()
    with system.db.sessions() as session:
        pending = session.scalars(select(Action).where(Action.status == ActionStatus.PENDING)).all()
    assert pending and all(a.attempts >= 1 and a.last_error for a in pending)
    platform.down = False
    system.clock.advance(3600)  # type: ignore[attr-defined]

    system.enforcement.run_actions()
    assert ("c", "m1") in platform.removed()
    with system.db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Action).where(
            Action.status == ActionStatus.PENDING)) == 0


def test_repeat_offender_is_warned_then_restricted_then_suspended(system: System, platform: RecordingPlatform
                                                                   ) -> None:
    """Banked content posted after the ban: the first post is the warning, later ones are violations; two
    violations restrict the account, three suspend it (the defaults)."""
    bank_id = _bank(system)
    images = [jpeg(photo(n)) for n in ("coffee", "chelsea", "rocket", "camera")]
    for data in images:
        _bank_file(system, bank_id, data)
    system.runner.reconcile()
    counts = []
    for i, data in enumerate(images):
        _post(system, platform, "c", f"m{i}", data, i, sender="repeat")
        system.runner.reconcile()
        counts.append((platform.count("restrict_account"), platform.count("suspend_account")))
    assert counts == [(0, 0), (0, 0), (1, 0), (1, 1)]
    assert [t.account_id for k, t in platform.calls if k == "suspend_account"] == ["repeat"]
    assert platform.count("notify_user") == 6  # four removals, the restriction, the suspension


def test_a_file_whose_message_is_already_gone_is_quarantined_when_its_match_lands(
        system: System, platform: RecordingPlatform) -> None:
    """An order's removal (or a report's) may be carried out before the order's bank entry finds the file: the
    message is gone, its file is not. The match still quarantines the file; only a live message is removed, and a
    geo-restricted one is left to its regional measure."""
    from firebreak.core.jobs.outbox import defer
    from firebreak.enforcement import service as enforcement

    data = jpeg(photo("astronaut"))
    for i, name in enumerate(("live", "removed", "deleted", "geo")):
        _post(system, platform, "chat-0", name, data, i)
    with system.db.transaction() as session:
        placements = {p.message_external_id: p for p in session.scalars(select(Placement))}
        enforcement.queue_removal(session=session, clock=system.clock, placement=placements["removed"],
                                  params={"reason": "ordered"})
        defer(session=session, now=system.clock.now(), job=enforcement.RUN_ACTIONS_JOB, payload={})
        placements["deleted"].status = PlacementStatus.DELETED
        placements["geo"].status = PlacementStatus.GEO_RESTRICTED
    system.runner.reconcile()
    assert platform.removed() == {("chat-0", "removed")}
    assert platform.count("quarantine_media") == 0

    _bank_file(system, _bank(system), data)
    system.runner.reconcile()

    quarantined = {t.media_id for kind, t in platform.calls if kind == "quarantine_media"}
    assert quarantined == {"media-chat-0-live", "media-chat-0-removed", "media-chat-0-deleted"}
    assert platform.removed() == {("chat-0", "removed"), ("chat-0", "live")}
    assert platform.count("remove_message") == 2  # the removed one is not removed twice
    with system.db.sessions() as session:
        actioned = [p.placements_actioned for p in session.scalars(select(Propagation))]
        assert sum(actioned) == 1, actioned  # only the live message counts as one actioned
        statuses = dict(session.execute(select(Placement.message_external_id, Placement.status)).all())
    assert statuses == {"live": PlacementStatus.REMOVED, "removed": PlacementStatus.REMOVED,
                        "deleted": PlacementStatus.DELETED, "geo": PlacementStatus.GEO_RESTRICTED}


def test_a_deletion_reported_while_our_removal_is_in_flight_leaves_the_removal_to_record(
        system: System, platform: RecordingPlatform) -> None:
    """A platform reports every deletion, Firebreak's own removals included (a Matrix redaction comes back as
    message_deleted). Reported before the removal's outcome, it must not turn the removal into a user's deletion."""
    from firebreak.core.jobs.outbox import defer
    from firebreak.enforcement import service as enforcement
    from firebreak.platform.schemas import ChatIn, EventKind, PlatformEvent

    _post(system, platform, "chat-0", "ordered", jpeg(photo("astronaut")))
    _post(system, platform, "chat-0", "own-delete", jpeg(photo("coffee")), 1)
    with system.db.transaction() as session:
        placement = session.scalars(select(Placement).where(Placement.message_external_id == "ordered")).one()
        enforcement.queue_removal(session=session, clock=system.clock, placement=placement,
                                  params={"reason": "ordered"})
    for message in ("ordered", "own-delete"):
        system.gateway.record_event("test", PlatformEvent(
            event_id=f"chat-0/{message}/deleted", kind=EventKind.MESSAGE_DELETED, message_id=message,
            chat=ChatIn(id="chat-0", kind="group"), sent_at=later(system.clock.now(), 5)))
    with system.db.transaction() as session:
        defer(session=session, now=system.clock.now(), job=enforcement.RUN_ACTIONS_JOB, payload={})
    system.runner.reconcile()
    with system.db.sessions() as session:
        statuses = dict(session.execute(select(Placement.message_external_id, Placement.status)).all())
    assert statuses == {"ordered": PlacementStatus.REMOVED, "own-delete": PlacementStatus.DELETED}


def test_an_edit_that_keeps_the_file_keeps_its_placement_live(system: System, platform: RecordingPlatform) -> None:
    """An edit of a message's text carries the same file again: the message is still there, and a later match
    removes it (with its statement and notice), never only quarantines its file as if the message were gone."""
    from firebreak.platform.schemas import EventKind

    kept, replaced = jpeg(photo("astronaut")), jpeg(photo("coffee"))
    _post(system, platform, "chat-0", "kept", kept)
    _post(system, platform, "chat-0", "replaced", replaced, 1)
    for message, data in (("kept", kept), ("replaced", jpeg(photo("chelsea")))):
        edit = media_event("chat-0", message, data, when=later(system.clock.now(), 5))
        system.gateway.record_event("test", edit.model_copy(update={"kind": EventKind.MESSAGE_EDITED,
                                                                     "event_id": f"{edit.event_id}/edit"}))
    with system.db.sessions() as session:
        statuses = sorted((p.message_external_id, p.media_id, p.status) for p in session.scalars(select(Placement)))
    assert [(m, s) for m, _, s in statuses] == [("kept", PlacementStatus.LIVE), ("replaced", PlacementStatus.DELETED),
                                                ("replaced", PlacementStatus.LIVE)]
    bank_id = _bank(system)
    _bank_file(system, bank_id, kept)
    _bank_file(system, bank_id, replaced)
    system.runner.reconcile()
    assert platform.removed() == {("chat-0", "kept")}  # the replaced file's message was not removed: it is gone
    quarantined = {t.media_id for kind, t in platform.calls if kind == "quarantine_media"}
    assert quarantined == {"media-chat-0-kept", "media-chat-0-replaced"}  # ...but its file still is
