"""The recompute job: media hashed the old way (PDQ of a 320 x 320 scaled picture; pictures cut short refused)
get the reference PDQ from their encrypted blobs, in resumable batches, with the bank entries banked from them."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.audit.models import AuditEvent
from firebreak.banks import service as banks
from firebreak.banks.models import BankEntry, MatchAction, Provenance
from firebreak.banks.rehash import RehashBatch, recompute_pdq
from firebreak.banks.schemas import BankCreate
from firebreak.bootstrap.system import System
from firebreak.core.jobs.models import ScheduledTask
from firebreak.media.models import HashStatus, Media, MediaSignal
from firebreak.media.service import apply_hashes, ingest_bytes
from firebreak.signals.hashing import MediaHashes, hash_bytes
from tests.signals.samples import encode, photo, scene_frames, video


def _old_way(data: bytes) -> MediaHashes:
    """What Firebreak stored before: PDQ of the picture scaled to 320 x 320 (JPEGs decoded at reduced size)."""
    return hash_bytes(data, side=320)


def _store_old(session: Session, system: System, data: bytes, *, keep: bool = True) -> Media:
    media = ingest_bytes(session=session, clock=system.clock, blobs=system.blobs, limits=system.limits,
                         data=data, keep_bytes=keep).media
    apply_hashes(media, _old_way(data))
    session.flush()
    return media


def _run(session: Session, system: System, *, after_id: int = 0, limit: int = 2,
         stop_after: int | None = None) -> list[RehashBatch]:
    batches: list[RehashBatch] = []
    cursor = after_id
    while True:
        batch = recompute_pdq(session=session, blobs=system.blobs, clock=system.clock,
                              limits=system.limits, after_id=cursor, limit=limit)
        batches.append(batch)
        cursor = batch.last_id
        if batch.done or (stop_after is not None and len(batches) == stop_after):
            return batches


def _pdq_rows(session: Session, media: Media) -> list[tuple[str, int | None]]:
    return [(s.value, s.quality) for s in session.scalars(
        select(MediaSignal).where(MediaSignal.media_id == media.id, MediaSignal.signal_type == "pdq"))]


def test_old_hashes_are_recomputed_from_the_blobs_and_resume_after_a_stop(session: Session, system: System) -> None:
    brick, astronaut, page = (encode(photo(n), "JPEG", quality=90) for n in ("brick", "astronaut", "page"))
    clip = video(scene_frames(("coffee", "rocket"), fps=4, size=(320, 240)), fps=4)
    cut = encode(photo("chelsea"), "JPEG", quality=90)
    cut = cut[: len(cut) * 97 // 100]  # 3% missing: refused before, hashed as shown now
    stored = {name: _store_old(session, system, data) for name, data in
              (("brick", brick), ("astronaut", astronaut), ("page", page), ("clip", clip))}
    unkept = _store_old(session, system, encode(photo("grass"), "JPEG", quality=90), keep=False)
    refused = ingest_bytes(session=session, clock=system.clock, blobs=system.blobs, limits=system.limits,
                           data=cut).media
    refused.hash_status, refused.hash_error, refused.pdq = HashStatus.UNHASHABLE, "unhashable: truncated: ...", None
    refused.signals = [s for s in refused.signals if s.signal_type in ("sha256", "md5")]
    assert stored["brick"].pdq != hash_bytes(brick).pdq.value  # the old way drifted on this texture

    bank = banks.create_bank(session=session, clock=system.clock, actor="test",
                             data=BankCreate(name="ordered", action=MatchAction.BLOCK))
    banks.add_entries(session=session, clock=system.clock, actor="test", bank=bank, provenance=Provenance.ORDER,
                      entries=banks.entries_for_hashes(_old_way(brick), media_id=stored["brick"].id))
    imported = banks.EntryInput("pdq", _old_way(page).pdq.value)  # a partner's value: never rewritten
    banks.add_entries(session=session, clock=system.clock, actor="test", bank=bank, provenance=Provenance.IMPORT,
                      entries=[imported])
    session.flush()
    tasks_before = len(session.scalars(select(ScheduledTask)).all())

    # One batch, then a "restart" that resumes from the batch's cursor.
    first = _run(session, system, stop_after=1)
    assert first[0].examined == 2 and not first[0].done
    rest = _run(session, system, after_id=first[0].last_id)
    batches = first + rest
    assert sum(b.examined for b in batches) == 6
    assert sum(b.changed for b in batches) == 5  # brick, astronaut, page, clip, and the cut file
    assert sum(b.without_bytes for b in batches) == 1 and sum(b.unreadable for b in batches) == 0
    assert sum(b.entries_changed for b in batches) == 1 and batches[-1].done

    for name, data in (("brick", brick), ("astronaut", astronaut), ("page", page)):
        now = hash_bytes(data)
        assert stored[name].pdq == now.pdq.value
        assert _pdq_rows(session, stored[name]) == [(now.pdq.value, now.pdq.quality)]
    assert [s.value for s in stored["clip"].signals if s.signal_type == "vpdq"] == [
        f.pdq for f in hash_bytes(clip).vpdq]
    assert unkept.pdq == _old_way(encode(photo("grass"), "JPEG", quality=90)).pdq.value  # nothing to read it from
    assert refused.hash_status is HashStatus.HASHED and refused.pdq == hash_bytes(cut).pdq.value

    entries = {(e.provenance, e.value): e for e in session.scalars(select(BankEntry).where(
        BankEntry.bank_id == bank.id, BankEntry.signal_type == "pdq"))}
    banked = entries[(Provenance.ORDER, hash_bytes(brick).pdq.value)]
    assert banked.value_digest == banks.value_digest(banked.value)
    assert banked.extra["dihedral"] == list(hash_bytes(brick).dihedral[1:])
    assert (Provenance.IMPORT, imported.value) in entries
    events = session.scalars(select(AuditEvent).where(AuditEvent.action == "bank_entry.rehashed")).all()
    assert [e.object_id for e in events] == [str(banked.id)]
    tasks = session.scalars(select(ScheduledTask).where(ScheduledTask.job == banks.PROPAGATE_JOB)
                            .order_by(ScheduledTask.id)).all()
    assert len(tasks) > tasks_before and tasks[-1].payload == {"entry_ids": [banked.id]}

    # Done is done: a second pass finds nothing to change.
    again = _run(session, system, limit=50)
    assert sum(b.changed for b in again) == 0 and sum(b.entries_changed for b in again) == 0


def test_an_entry_whose_new_value_the_bank_already_holds_is_left_alone(session: Session, system: System) -> None:
    data = encode(photo("grass"), "JPEG", quality=90)
    media = _store_old(session, system, data)
    bank = banks.create_bank(session=session, clock=system.clock, actor="test",
                             data=BankCreate(name="both", action=MatchAction.BLOCK))
    old = _old_way(data)
    banks.add_entries(session=session, clock=system.clock, actor="test", bank=bank, provenance=Provenance.REPORT,
                      entries=banks.entries_for_hashes(old, media_id=media.id))
    # The partner list already holds the reference value of the same picture.
    banks.add_entries(session=session, clock=system.clock, actor="test", bank=bank, provenance=Provenance.IMPORT,
                      entries=[banks.EntryInput("pdq", hash_bytes(data).pdq.value)])
    (batch,) = _run(session, system, limit=10)
    assert (batch.changed, batch.entries_changed, batch.entries_in_conflict) == (1, 0, 1)
    values = set(session.scalars(select(BankEntry.value).where(BankEntry.bank_id == bank.id,
                                                               BankEntry.signal_type == "pdq")))
    assert values == {old.pdq.value, hash_bytes(data).pdq.value}
    assert media.pdq == hash_bytes(data).pdq.value


def test_a_missing_blob_is_counted_and_skipped(session: Session, system: System) -> None:
    media = _store_old(session, system, encode(photo("coffee"), "PNG"))
    assert media.blob_key is not None
    system.blobs.delete(media.blob_key)
    (batch,) = _run(session, system, limit=10)
    assert replace(batch, last_id=0) == RehashBatch(last_id=0, examined=1, changed=0, unreadable=1, done=True)
