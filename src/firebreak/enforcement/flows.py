"""Enforcement's use cases: propagate a new bank entry to every copy; carry out due actions on the platform.

Each owns its transactions: a propagation commits batch by batch with its cursor, and actions are claimed in one
transaction, carried out through the platform adapter with none open (the platform may be slow, or be this very
process), and their outcomes recorded in another.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from firebreak.audit import service as audit
from firebreak.banks.models import Bank, BankEntry, EntryStatus
from firebreak.banks.service import count_blocked_uploads, entry_frames
from firebreak.core.clock import Clock
from firebreak.core.db.session import Database
from firebreak.core.jobs.models import ScheduledTask, TaskStatus
from firebreak.core.jobs.outbox import cancel, defer, schedule
from firebreak.core.retry import RetryPolicy
from firebreak.enforcement import conduct, reinstate, service, standing
from firebreak.enforcement.due_process import DueProcess
from firebreak.enforcement.models import Action, ActionStatus
from firebreak.matching.copies import (
    REDESCRIBE_JOB,
    REDESCRIBE_KEY,
    CopyFound,
    CopyLine,
    Outdated,
    describable,
    describe_bytes,
    found_in,
    found_in_videos,
    frames_of,
    newest_outdated,
    outdated,
    promote,
    replace_description,
    store_description,
)
from firebreak.matching.copydetect import Description
from firebreak.matching.models import CopyDescription, MatchSource
from firebreak.matching.service import IndexSet, media_matching_entry
from firebreak.media.models import Media, MediaKind, Placement
from firebreak.platform.adapters import ActionResult, AdapterProvider
from firebreak.platform.models import PlatformIntegration
from firebreak.signals.keypoints import EXTRACTOR_REVISION
from firebreak.signals.vpdq import VpdqFrame

log = logging.getLogger(__name__)
ACTION_BATCH = 200
# Outcomes are recorded at least this often while a batch is carried out, so a worker killed half-way leaves few
# actions whose outcome is unknown (each of those is asked of the platform again: adapters are idempotent).
RECORD_EVERY = 20
NEXT_RUN_KEY = "enforcement.run_actions:next"
FOLLOW_UP_LATER = "enforcement.follow_up:later"
FOLLOW_UP_YIELDS = timedelta(seconds=30)
STANDING_RETRY = timedelta(minutes=5)  # a period's end finds its restriction being carried out: look again then
REINSTATE_WAIT = timedelta(seconds=30)  # a copy's removal still being carried out or followed up: look again then
PERIODS_AGAIN = timedelta(days=1)  # the second pass giving old restrictions a period (a rolling upgrade's stragglers)


@dataclass(frozen=True)
class EnforcementDeps:
    db: Database
    clock: Clock
    indexes: IndexSet
    adapters: AdapterProvider
    due: DueProcess
    retry: RetryPolicy
    lease: timedelta
    owner: str  # this process, as the owner of the leases it takes (see core.jobs.workers)
    propagation_batch: int = service.PROPAGATION_BATCH
    copies: CopyLine | None = None  # the second line of matching; None: hashes only


class Enforcement:
    def __init__(self, deps: EnforcementDeps) -> None:
        self.deps = deps

    def run_actions(self, *, limit: int | None = None) -> int:
        """Carry out every due action, in batches. Returns how many outcomes were recorded.

        Before returning, the next action still due later (a retry after a failure, or one claimed by a worker that
        died) is scheduled as a job row due at that time, so no action waits for unrelated work to wake a worker.
        """
        d = self.deps
        recorded = 0
        while limit is None or recorded < limit:
            with d.db.transaction() as session:
                claimed = service.claim_actions(session=session, clock=d.clock, limit=ACTION_BATCH, lease=d.lease,
                                                owner=d.owner)
                integrations = {i: session.get(PlatformIntegration, i) for i in {c.integration_id for c in claimed}}
                for integration in integrations.values():
                    if integration is not None:
                        session.expunge(integration)
            if not claimed:
                break
            by_integration: dict[int, list[service.ClaimedAction]] = defaultdict(list)
            for c in claimed:
                by_integration[c.integration_id].append(c)
            for integration_id, group in by_integration.items():
                integration = integrations[integration_id]
                if integration is None:
                    continue
                adapter = d.adapters.for_integration(integration)
                results: list[tuple[int, ActionResult]] = []
                for c in group:
                    results.append((c.id, service.carry_out(adapter, c)))
                    if len(results) >= RECORD_EVERY:
                        recorded += self._record(results)
                        results = []
                recorded += self._record(results)
        self._schedule_next()
        return recorded

    def _record(self, results: list[tuple[int, ActionResult]]) -> int:
        if not results:
            return 0
        d = self.deps
        with d.db.transaction() as session:
            outcomes = service.record_outcomes(session=session, clock=d.clock, results=results, retry=d.retry)
        return sum(1 for action in outcomes if action is not None)

    def _schedule_next(self) -> None:
        d = self.deps
        with d.db.transaction() as session:
            due = session.scalar(select(func.min(Action.next_attempt_at)).where(
                Action.status == ActionStatus.PENDING))
            if due is not None:
                schedule(session=session, job=service.RUN_ACTIONS_JOB, due_at=max(due, d.clock.now()), payload={},
                         dedupe_key=NEXT_RUN_KEY, now=d.clock.now(), keep_earlier=True)
            else:  # nothing left: a wake-up another worker set for actions now done would run for nothing
                cancel(session=session, dedupe_key=NEXT_RUN_KEY)

    def end_standing(self, action_id: int) -> standing.Ended:
        """A restriction's or suspension's period is over: lift it, ask the platform to, tell the person."""
        d = self.deps
        with d.db.transaction() as session:
            ended = standing.end_standing(session=session, clock=d.clock, due=d.due, adapters=d.adapters,
                                          action_id=action_id)
            if ended.lifted:
                defer(session=session, now=d.clock.now(), job=service.RUN_ACTIONS_JOB, payload={})
            elif ended.again_later:  # the platform is carrying the restriction out right now
                schedule(session=session, job=conduct.STANDING_ENDS_JOB, due_at=d.clock.now() + STANDING_RETRY,
                         payload={"action_id": action_id}, dedupe_key=conduct.standing_ends_key(action_id),
                         now=d.clock.now())
        return ended

    def reinstate(self, payload: dict[str, Any]) -> reinstate.Step:
        """One batch of the removals that withdrawn entries caused, reversed; the job re-arms itself for the next."""
        d = self.deps
        with d.db.transaction() as session:
            step = reinstate.reinstate_step(session=session, clock=d.clock, due=d.due, adapters=d.adapters,
                                            payload=payload)
            now = d.clock.now()
            if step.more is not None:
                schedule(session=session, job=reinstate.REINSTATE_JOB, due_at=now + (
                    REINSTATE_WAIT if step.wait else timedelta(0)), payload=step.more,
                         dedupe_key=reinstate.reinstate_key(int(payload["appeal_id"])), now=now)
            if step.reversed:
                defer(session=session, now=now, job=service.RUN_ACTIONS_JOB, payload={})
        return step

    def follow_up(self, *, waiting_since: datetime | None = None) -> int:
        """Statements, records and notices for restrictive actions done, a committed batch at a time.

        Removing comes first: while removals wait to be carried out, this steps aside (for up to FOLLOW_UP_YIELDS
        seconds, then it goes ahead anyway), so on SQLite, where writers take turns, it never delays a removal.
        """
        d = self.deps
        now = d.clock.now()
        with d.db.transaction() as session:
            if service.restrictions_in_flight(session=session, now=now) and (
                    waiting_since is None or now - waiting_since < FOLLOW_UP_YIELDS):
                schedule(session=session, job=service.FOLLOW_UP_JOB, due_at=now + timedelta(seconds=1),
                         payload={"waiting_since": (waiting_since or now).isoformat()}, dedupe_key=FOLLOW_UP_LATER,
                         now=now)
                return 0
        total = 0
        while True:
            with d.db.transaction() as session:
                done = service.follow_up(session=session, clock=d.clock, due=d.due)
            total += done
            if done < service.FOLLOW_UP_BATCH:
                return total

    def propagate(self, entry_ids: list[int]) -> None:
        """Find and act on every existing copy of each entry (resumable), then carry out the actions."""
        d = self.deps

        def find(session: Session, entry: BankEntry, radius: int) -> list[tuple[int, int]]:
            return media_matching_entry(session=session, indexes=d.indexes, entry=entry, radius=radius)

        for entry_id in entry_ids:
            clashes = 0
            while True:
                try:
                    with d.db.transaction() as session:
                        step = service.propagate_batch(session=session, clock=d.clock, entry_id=entry_id,
                                                       find_media=find, due=d.due, batch=d.propagation_batch)
                except IntegrityError:
                    # Another worker propagating another entry of the same item (its SHA-256 and its PDQ, say)
                    # created an action for the same placement first: do the batch again, now seeing it.
                    clashes += 1
                    if clashes > 5:
                        raise
                    continue
                if step is None or step.done:
                    break
            self.propagate_copies(entry_id)
        self.run_actions()

    # -- the second line of matching (matching.copies) ----------------------------------------------------------

    def _describe(self, media_id: int) -> Description | None:
        """Decode and describe a picture outside any transaction (tens of milliseconds; on SQLite a transaction
        holds the write lock), then keep its description."""
        d = self.deps
        copies = d.copies
        if copies is None or not copies.enabled:
            return None

        def load(session: Session) -> Media | None:
            media = session.get(Media, media_id)
            if media is not None:
                session.expunge(media)
            return media

        media = d.db.read(load)
        if media is None or not describable(media):
            return None
        data = copies.read_bytes(media)
        description = describe_bytes(data, copies.limits) if data is not None else None
        if description is None:
            return None
        with d.db.transaction() as session:
            if session.scalar(select(CopyDescription.id).where(CopyDescription.media_id == media_id)) is None:
                store_description(session=session, clock=d.clock, media_id=media_id, description=description,
                                  seal=copies.seal)
        return description

    # -- descriptions of an older extractor ------------------------------------------------------------------------

    def ensure_descriptions_current(self) -> None:
        """At start-up: when descriptions of an older extractor are stored, the job that describes them again is
        queued, unless it is under way, or has already passed every such row under this extractor (rows whose
        pictures' bytes are gone stay as they are: not asked again at every start)."""
        d = self.deps
        if d.copies is None or not d.copies.enabled:
            return

        if d.db.read(newest_outdated) is None:  # index lookups: the common case, every start after the pass
            return
        # The check and the scheduling in one transaction, the job's row locked: two processes starting at once must
        # not put a running job back to the start (it would run twice).
        with d.db.transaction() as session:
            newest = newest_outdated(session)
            if newest is None:
                return
            task = session.scalar(select(ScheduledTask).where(ScheduledTask.dedupe_key == REDESCRIBE_KEY)
                                  .with_for_update())
            if task is not None:
                payload = task.payload or {}
                if task.status in (TaskStatus.PENDING, TaskStatus.RUNNING):
                    return
                passed = payload.get("revision") == EXTRACTOR_REVISION and int(payload.get("after_id", 0)) >= newest
                if task.status == TaskStatus.DONE and passed:
                    return
            schedule(session=session, job=REDESCRIBE_JOB, due_at=d.clock.now(),
                     payload={"after_id": 0, "revision": EXTRACTOR_REVISION}, dedupe_key=REDESCRIBE_KEY,
                     now=d.clock.now())

    def redescribe_step(self, *, budget_seconds: float = 20.0, batch: int = 20) -> bool:
        """Describe outdated rows again for about `budget_seconds`, `batch` at a time: read, then decode and describe
        with no transaction open, then replace the rows and move the cursor (in the job's row) in one short
        transaction. A row whose picture's bytes are gone keeps its old description (it still matches, without the
        newer extractor's features). True when no outdated row is left above the cursor."""
        d = self.deps
        copies = d.copies
        if copies is None or not copies.enabled:
            return True
        started = time.monotonic()
        passed = 0  # this run's own cursor too: without a job row (a direct call), the rows passed are not read again
        while True:
            def cursor(session: Session, passed: int = passed) -> tuple[int, list[Outdated], dict[int, Media]]:
                task = session.scalar(select(ScheduledTask).where(ScheduledTask.dedupe_key == REDESCRIBE_KEY))
                after = max(passed, int((task.payload or {}).get("after_id", 0)) if task is not None else 0)
                rows = outdated(session, after_id=after, limit=batch)
                wanted = [r.media_id for r in rows if not r.same]
                media = {m.id: m for m in session.scalars(select(Media).where(Media.id.in_(wanted)))} if wanted else {}
                for each in media.values():
                    session.expunge(each)
                return after, rows, media

            after, rows, media = d.db.read(cursor)
            if not rows:
                return True
            fresh: dict[int, Description] = {}
            for row_id, media_id in ((r.row_id, r.media_id) for r in rows if not r.same):
                # (a row described at full size is marked current below: `same_as_current`)
                item = media.get(media_id)
                try:
                    data = copies.read_bytes(item) if item is not None else None
                    description = describe_bytes(data, copies.limits) if data is not None else None
                except Exception:  # one picture the extractor trips on must not hold up every other
                    log.exception("copy description %s (media %s) could not be made again; kept as it is",
                                  row_id, media_id)
                    description = None
                if description is not None:
                    fresh[row_id] = description
            with d.db.transaction() as session:
                for each in rows:
                    if each.same:
                        promote(session, each.row_id)
                for row_id, description in fresh.items():
                    replace_description(session=session, clock=d.clock, row_id=row_id, description=description,
                                        seal=copies.seal)
                task = session.scalar(select(ScheduledTask).where(ScheduledTask.dedupe_key == REDESCRIBE_KEY))
                passed = max(after, rows[-1].row_id)
                if task is not None:
                    task.payload = {"after_id": passed, "revision": EXTRACTOR_REVISION}
            if time.monotonic() - started > budget_seconds:
                return False

    def redescribe_job(self) -> None:
        """REDESCRIBE_JOB: some batches, then due again at once until done (other jobs run in between)."""
        if not self.redescribe_step():
            d = self.deps
            with d.db.transaction() as session:
                task = session.scalar(select(ScheduledTask).where(ScheduledTask.dedupe_key == REDESCRIBE_KEY))
                after = (task.payload or {}).get("after_id", 0) if task is not None else 0
                schedule(session=session, job=REDESCRIBE_JOB, due_at=d.clock.now(),
                         payload={"after_id": after, "revision": EXTRACTOR_REVISION}, dedupe_key=REDESCRIBE_KEY,
                         now=d.clock.now())

    def ensure_standing_periods(self) -> None:
        """At start-up: queue the passes that give restrictions and suspensions put on before they carried a period
        their end (``standing.give_periods``), unless queued already; a pass that failed resumes where it stopped.
        Never re-armed while queued or running: two processes starting at once must not send a pass back to the
        start (one inserts the row; the other's insert fails, and it leaves the row alone)."""
        d = self.deps
        key = standing.PERIODS_KEY
        if d.db.read(lambda s: s.scalar(select(ScheduledTask.status).where(ScheduledTask.dedupe_key == key))) in (
                TaskStatus.PENDING, TaskStatus.RUNNING, TaskStatus.DONE):
            return
        now = d.clock.now()
        with d.db.transaction() as session:
            task = session.scalar(select(ScheduledTask).where(ScheduledTask.dedupe_key == key).with_for_update())
            if task is None:
                try:
                    with session.begin_nested():
                        session.add(ScheduledTask(job=standing.PERIODS_JOB, payload={"after_id": 0, "pass": 1},
                                                  due_at=now, dedupe_key=key, created_at=now))
                except IntegrityError:  # another process queued it a moment ago
                    return
            elif task.status == TaskStatus.FAILED:
                schedule(session=session, job=standing.PERIODS_JOB, due_at=now, payload=task.payload,
                         dedupe_key=key, now=now)

    def give_periods(self, payload: dict[str, Any]) -> list[int]:
        """PERIODS_JOB: one batch of accounts, then due again at once after the last, until none are left; the first
        pass done, the second is due a day later."""
        d = self.deps
        after, done = int(payload.get("after_id", 0)), int(payload.get("pass", 1))
        now = d.clock.now()
        with d.db.transaction() as session:
            given, last = standing.give_periods(session=session, clock=d.clock, policy=d.due.conduct, after_id=after)
            if last is not None:
                schedule(session=session, job=standing.PERIODS_JOB, due_at=now, dedupe_key=standing.PERIODS_KEY,
                         payload={"after_id": last, "pass": done}, now=now)
            elif done < standing.PERIODS_PASSES:
                schedule(session=session, job=standing.PERIODS_JOB, due_at=now + PERIODS_AGAIN,
                         dedupe_key=standing.PERIODS_KEY, payload={"after_id": 0, "pass": done + 1}, now=now)
        return given

    def check_copies(self, media_id: int) -> int:
        """COPY_CHECK_JOB, for a picture or video just posted: describe a picture (so later bank entries find it),
        and search it against the banked pictures, or a video against the banked videos. A verified copy is acted
        on as its bank says; a weaker one goes to review. Returns the actions queued."""
        d = self.deps
        copies = d.copies
        if copies is None or not copies.enabled:
            return 0
        frames = d.db.read(lambda session: self._video_frames(session, media_id))
        if frames is not None:
            decision = d.db.read(lambda session: copies.search_bank_videos(session, frames, force=True))
            found = found_in_videos(decision)

            def entries(session: Session, each: CopyFound) -> list[tuple[BankEntry, Bank]]:
                entry = session.get(BankEntry, each.item_id)  # a video's bank-side ids are entry ids
                bank = session.get(Bank, entry.bank_id) if entry is not None else None
                return [(entry, bank)] if entry is not None and bank is not None and entry.media_id != media_id \
                    else []
        else:
            description = self._describe(media_id)
            if description is None:
                return 0
            found = [f for f in found_in(d.db.read(lambda session: copies.search_bank(session, description,
                                                                                      force=True)), copies.policy)
                     if f.item_id != media_id]

            def entries(session: Session, each: CopyFound) -> list[tuple[BankEntry, Bank]]:
                return service.copy_entry(session, each.item_id)  # a picture's bank-side ids are media ids
        if not found:
            return 0
        queued = 0
        with d.db.transaction() as session:
            caught: list[int] = []
            placement = session.scalar(select(Placement).where(Placement.media_id == media_id)
                                       .order_by(Placement.id.desc()).limit(1))
            for each in found:
                for entry, bank in entries(session, each):
                    if not service.propagated(session, entry.id):
                        continue  # the entry's own propagation, still to come, searches every described post
                    # Posted after the entry was banked: a re-upload removed as it was posted (the authority's
                    # count of re-uploads). Posted before: a copy that was already there, counted as a copy.
                    after = placement is not None and placement.created_at >= entry.created_at
                    _, acted = service.record_copy(
                        session, d.clock, media_id=media_id, entry=entry, bank=bank, action=each.action,
                        distance=each.distance, evidence=each.evidence,
                        source=MatchSource.UPLOAD if after else MatchSource.PROPAGATION, due=d.due)
                    if acted.removals and after:
                        caught.append(entry.id)
                    queued += acted.total
            if caught and placement is not None:
                # One upload removed as it was posted counts once, however many banks caught it (as for hashes).
                media = session.get(Media, media_id)
                count_blocked_uploads(session=session, entry_ids=caught, now=d.clock.now(), source="post",
                                      sha256=media.sha256 if media else None, placement_id=placement.id)
            if queued:
                defer(session=session, now=d.clock.now(), job=service.RUN_ACTIONS_JOB, payload={})
        return queued

    @staticmethod
    def _video_frames(session: Session, media_id: int) -> list[VpdqFrame] | None:
        media = session.get(Media, media_id)
        if media is None or media.kind != MediaKind.VIDEO:
            return None
        return frames_of(session, media_id)

    def propagate_copies(self, entry_id: int) -> int:
        """After a new entry's exact and PDQ copies: its cropped, captioned and recoloured copies already posted.
        Verified ones are acted on as the bank says, weaker ones go to review. Once per picture and bank (the
        entry `copy_entry` picks; the picture's other entries in the bank skip). Returns the actions queued."""
        d = self.deps
        copies = d.copies
        if copies is None or not copies.enabled:
            return 0

        def picture(session: Session) -> tuple[str, int | None, list[VpdqFrame]] | None:
            entry = session.get(BankEntry, entry_id)
            if entry is None or entry.status != EntryStatus.ACTIVE:
                return None
            if entry.signal_type == "vpdq":
                try:
                    return "video", entry.media_id, entry_frames(entry.value, entry.extra)
                except ValueError:
                    return None
            if entry.media_id is None:
                return None
            chosen = [e for e, _ in service.copy_entry(session, entry.media_id) if e.bank_id == entry.bank_id]
            return ("picture", entry.media_id, []) if chosen and chosen[0].id == entry_id else None

        what = d.db.read(picture)
        if what is None:
            return 0
        kind, media_id, frames = what
        reach: dict[str, int | bool] = {}
        if kind == "video":
            found = found_in_videos(d.db.read(lambda session: copies.search_posted_videos(
                session, frames, exclude={media_id} if media_id else set())), banked="query")
        else:
            assert media_id is not None  # noqa: S101 - picture() returns a picture's media id
            description = self._describe(media_id)
            if description is None:
                return 0
            decision = d.db.read(lambda session: copies.search_posted(session, description, exclude={media_id}))
            found = found_in(decision, copies.policy)
            if decision.reach is not None:
                reach = decision.reach.data()
                if decision.reach.bounded:
                    log.warning("bank entry %s: the copy search checked %s of the %s candidates its vote reached "
                                "among %s posts: the rest were left at the cap (CopyPolicy.verify_most_every)",
                                entry_id, decision.reach.checked, decision.reach.voted, decision.reach.held)
        queued = 0
        if found:
            with d.db.transaction() as session:
                entry = session.get(BankEntry, entry_id)
                bank = session.get(Bank, entry.bank_id) if entry is not None else None
                if entry is None or bank is None:
                    return 0
                for each in found:
                    _, acted = service.record_copy(session, d.clock, media_id=each.item_id, entry=entry, bank=bank,
                                                   action=each.action, distance=each.distance,
                                                   evidence=each.evidence, source=MatchSource.PROPAGATION, due=d.due)
                    queued += acted.total
                if queued:
                    defer(session=session, now=d.clock.now(), job=service.RUN_ACTIONS_JOB, payload={})
        with d.db.transaction() as session:
            audit.record(session=session, clock=d.clock, actor="system:enforcement", action="propagation.copies",
                         object_type="bank_entry", object_id=entry_id,
                         data={"verified": sum(f.action == "auto" for f in found),
                               "for_review": sum(f.action != "auto" for f in found), "actions_queued": queued,
                               **reach})
        return queued
