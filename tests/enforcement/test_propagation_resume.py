"""A worker killed half-way through propagating a new bank entry: after restart the rest is done, no placement
is missed, and none is acted on twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from PIL import ImageOps
from sqlalchemy import create_engine, select

from firebreak.audit.models import AuditEvent
from firebreak.banks import service as banks
from firebreak.banks.models import MatchAction, Provenance
from firebreak.banks.schemas import BankCreate
from firebreak.bootstrap.system import System, build_system
from firebreak.core.config import load_settings
from firebreak.enforcement.flows import RECORD_EVERY
from firebreak.enforcement.models import Action, ActionKind, ActionStatus, Propagation, PropagationStatus
from firebreak.gateway.flows import InProcessLink
from firebreak.integrations.sandbox.models import MessageStatus, SandboxMessage, SandboxModerationCall
from firebreak.integrations.sandbox.seed import SeedChat, SeedMessage, seed
from firebreak.schema.migrate import upgrade
from firebreak.signals.hashing import hash_bytes
from tests.conftest import DatabaseFactory
from tests.support import jpeg, photo, scene


def _seed(rt: System) -> set[str]:
    target = photo("chelsea")
    variants = [jpeg(target, q) for q in range(40, 96, 2)]
    variants += [jpeg(ImageOps.mirror(target), q) for q in range(50, 96, 5)]
    variants += [jpeg(target.resize((int(target.width * s / 10), int(target.height * s / 10)))) for s in range(4, 16)]
    variants += [jpeg(ImageOps.grayscale(target).convert("RGB"), q) for q in range(40, 96, 2)]
    variants += [jpeg(ImageOps.mirror(target).resize((int(target.width * s / 10), int(target.height * s / 10))))
                 for s in range(4, 16)]
    handles = [f"u{i}" for i in range(12)]
    chats = [SeedChat(key=f"k{i}", members=handles) for i in range(8)]
    messages = [SeedMessage(chat=f"k{i % 8}", sender=handles[i % 12], media=variants[i % len(variants)])
                for i in range(2 * len(variants))]
    messages += [SeedMessage(chat=f"k{i % 8}", sender=handles[i % 12], media=jpeg(scene(500 + i)))
                 for i in range(40)]
    with rt.db.transaction() as session:
        seeded = seed(session=session, clock=rt.clock, users=handles, chats=chats, messages=messages)
    link = InProcessLink(rt.gateway)
    for event in seeded.events:
        link.submit_event("sandbox", event)
    with rt.db.transaction() as session:
        bank = banks.create_bank(session=session, clock=rt.clock, actor="test",
                                 data=BankCreate(name="ordered", action=MatchAction.BLOCK))
        banks.add_entries(session=session, clock=rt.clock, actor="test", bank=bank,
                          entries=[e for e in banks.entries_for_hashes(hash_bytes(jpeg(target, 90)))
                                   if e.signal_type == "pdq"],
                          provenance=Provenance.ORDER, source_ref="test")
    return {m for m in seeded.messages[: 2 * len(variants)] if m}


def _propagation(rt: System) -> Propagation | None:
    with rt.db.sessions() as session:
        prop = session.scalar(select(Propagation))
        if prop is not None:
            session.expunge(prop)
        return prop


def test_killed_propagation_resumes_without_missing_or_repeating(tmp_path: Path, backend: str,
                                                                databases: DatabaseFactory) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIREBREAK_")}
    env.update(FIREBREAK_DATA_DIR=str(tmp_path / "var"), FIREBREAK_DATABASE_URL=databases.new_url(backend),
               FIREBREAK_PROPAGATION_BATCH="1", FIREBREAK_JOB_LEASE_SECONDS="2",
               FIREBREAK_RECONCILE_INTERVAL_SECONDS="0.2", FIREBREAK_WORKER_THREADS="2")
    settings = load_settings(environ=env, queue_url="memory://")
    rt = build_system(settings)
    upgrade(rt.db.engine)
    rt.prepare()
    doomed = _seed(rt)
    assert len(doomed) >= 150

    worker = subprocess.Popen([sys.executable, "-m", "firebreak", "jobs", "worker"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Freeze the worker first (SIGSTOP takes effect at once), then look: what is read is where it stopped, with no
    # window in which it could run on. Until it has done a few media, let it go on a little and look again.
    # A frozen worker may hold SQLite's write lock: look with a plain reader (WAL lets readers through).
    reader = create_engine(env["FIREBREAK_DATABASE_URL"])
    deadline = time.monotonic() + 120
    try:
        while True:
            assert time.monotonic() < deadline and worker.poll() is None, "the worker did not start propagating"
            worker.send_signal(signal.SIGSTOP)
            with reader.connect() as conn:
                row = conn.execute(select(Propagation.status, Propagation.media_done,
                                          Propagation.media_found)).one_or_none()
            if row is not None and (row.media_done >= 3 or row.status != PropagationStatus.RUNNING):
                break
            worker.send_signal(signal.SIGCONT)
            time.sleep(0.01)
    finally:
        reader.dispose()
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    assert row.status == PropagationStatus.RUNNING and 0 < row.media_done < row.media_found, row

    worker = subprocess.Popen([sys.executable, "-m", "firebreak", "jobs", "worker"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def finished() -> bool:
            prop = _propagation(rt)
            with rt.db.sessions() as session:
                pending = session.scalars(select(Action.id).where(Action.status == ActionStatus.PENDING)).all()
            return prop is not None and prop.status == PropagationStatus.DONE and not pending

        deadline = time.monotonic() + 180
        while not finished():
            assert time.monotonic() < deadline, "propagation did not finish after the restart"
            time.sleep(0.2)
    finally:
        worker.terminate()
        worker.wait(timeout=30)

    with rt.db.sessions() as session:
        status = {f"m{m.id}": m.status for m in session.scalars(select(SandboxMessage))}
        removals = session.scalars(select(Action).where(Action.kind == ActionKind.REMOVE_MESSAGE)).all()
        done_events = Counter(e.object_id for e in session.scalars(
            select(AuditEvent).where(AuditEvent.action == "action.done")))
        # What the platform itself saw: every removal request it received, and whether it changed anything.
        calls = session.scalars(select(SandboxModerationCall).where(
            SandboxModerationCall.action == "remove_message")).all()
    assert {m for m in doomed if status[m] != MessageStatus.REMOVED} == set()  # none missed
    assert {m for m, s in status.items() if m not in doomed and s != MessageStatus.LIVE} == set()  # nothing else
    placements = Counter(a.placement_id for a in removals)
    assert len(placements) == len(doomed) and max(placements.values()) == 1  # one removal per placement
    assert all(a.status == ActionStatus.DONE for a in removals)
    assert max(done_events.values()) == 1  # each carried out and recorded once
    removed_by_platform = Counter(c.target for c in calls if c.outcome == "done")
    assert set(removed_by_platform) == doomed and max(removed_by_platform.values()) == 1  # each removed exactly once
    asked_again = sum(1 for c in calls if c.outcome == "already")
    assert asked_again <= RECORD_EVERY * 2, asked_again  # outcomes unknown at the kill: at most one chunk per thread
    rt.close()
