"""An appeal finds the item itself was wrong: every other copy removed because it matched the same entries comes
back too, with its own reversal statement and notice, and counts against nobody; a copy that another entry in
force still bans stays removed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from firebreak.banks import service as banks
from firebreak.banks.models import BankEntry, MatchAction, Provenance
from firebreak.banks.schemas import BankCreate
from firebreak.bootstrap.system import System
from firebreak.core.clock import FakeClock
from firebreak.core.jobs.models import ScheduledTask
from firebreak.enforcement import reinstate
from firebreak.enforcement.models import AccountConduct, Action, ActionKind
from firebreak.matching.models import Match, MatchSource
from firebreak.platform.adapters import ActionResult, ActionTarget
from firebreak.platform.models import PlatformAccount
from firebreak.review.models import Appeal, ReviewItem
from firebreak.signals.hashing import hash_bytes
from firebreak.transparency.models import StatementKind, StatementOfReasons
from tests.enforcement.test_conduct_and_appeals import bank, decide_appeal, post, settle
from tests.support import RecordingPlatform, jpeg, photo


@pytest.fixture
def platform(system: System) -> Iterator[RecordingPlatform]:
    system.gateway.ensure_integration(name="test", adapter="webhook")
    recording = RecordingPlatform()
    system.adapters.override("test", recording)
    yield recording


def sender_of(system: System, action_id: int) -> str:
    with system.db.sessions() as session:
        statement = session.scalar(select(StatementOfReasons).where(StatementOfReasons.action_id == action_id))
        assert statement is not None and statement.account_id is not None
        account = session.get(PlatformAccount, statement.account_id)
        assert account is not None
        return account.external_id


def lifted(system: System, handle: str) -> list[bool]:
    with system.db.sessions() as session:
        account = session.scalar(select(PlatformAccount).where(PlatformAccount.external_id == handle))
        assert account is not None
        return [c.lifted_at is not None for c in session.scalars(
            select(AccountConduct).where(AccountConduct.account_id == account.id))]


def reverse_on_appeal(system: System, clock: FakeClock, handle: str) -> str:
    with system.db.transaction() as session:
        statement = session.scalar(
            select(StatementOfReasons).join(PlatformAccount, PlatformAccount.id == StatementOfReasons.account_id)
            .where(PlatformAccount.external_id == handle))
        assert statement is not None
        return decide_appeal(system, session, statement, "This is my own photo of a rocket launch.", "reverse")


def test_every_copy_removed_on_the_same_mistake_is_reversed(system: System, platform: RecordingPlatform,
                                                           clock: FakeClock) -> None:
    data = jpeg(photo("rocket"))
    for n, who in enumerate(("sam", "kim", "lee")):
        post(system, platform, f"m{n}", data, sender=who)
    post(system, platform, "m3", jpeg(photo("rocket"), 70), sender="ann")  # another file: a near copy
    clock.advance(timedelta(minutes=5))
    bank(system, data)
    settle(system, clock)
    assert platform.removed() == {("c", f"m{n}") for n in range(4)}
    with system.db.transaction() as session:  # another decision bans ann's file as well: it must stay removed
        other = banks.create_bank(session=session, clock=clock, actor="test",
                                  data=BankCreate(name="ordered", action=MatchAction.BLOCK, policy_category="ncii"))
        entry = banks.add_entries(session=session, clock=clock, actor="test", bank=other, provenance=Provenance.IMPORT,
                                  entries=banks.entries_for_hashes(hash_bytes(jpeg(photo("coffee")))))[0][0]
        anns = session.scalar(select(Action).where(Action.kind == ActionKind.REMOVE_MESSAGE).order_by(Action.id)
                              .offset(3))
        assert anns is not None and anns.match_id is not None
        media_id = session.get(Match, anns.match_id).media_id  # type: ignore[union-attr]
        session.add(Match(media_id=media_id, bank_entry_id=entry.id, signal_type="sha256", distance=0,
                          source=MatchSource.PROPAGATION, created_at=clock.now()))
    assert sender_of(system, anns.id) == "ann"
    with system.db.transaction() as session:  # kim appealed too, and waits in the queue
        kims = session.scalar(select(StatementOfReasons).join(PlatformAccount,
                              PlatformAccount.id == StatementOfReasons.account_id)
                              .where(PlatformAccount.external_id == "kim"))
        assert kims is not None
        kim_appeal = system.appeals.from_link(session, kims, "Mine too.").id
    before = len([k for k, _ in platform.calls if k == "notify_user"])

    result = reverse_on_appeal(system, clock, "sam")
    settle(system, clock)

    assert "every copy removed because it matched them is being reversed too" in result
    restored = [t.message_id for k, t in platform.calls if k == "restore_message"]
    assert sorted(restored) == ["m0", "m1", "m2"]  # sam's own, and kim's and lee's copies; not ann's
    notices = {t.account_id: t.reason for k, t in platform.calls[0:] if k == "notify_user"}
    assert len([k for k, _ in platform.calls if k == "notify_user"]) == before + 3
    for who in ("kim", "lee"):
        assert "reversed its decision" in notices[who] and "does not break the rules" in notices[who]
        assert "Your content is visible again." in notices[who]
        assert lifted(system, who) == [True]
    assert lifted(system, "ann") == [False]
    with system.db.sessions() as session:
        appeal = session.get(Appeal, kim_appeal)
        assert appeal is not None and appeal.status == "reversed"  # answered by the reversal, out of the queue
        assert session.get(ReviewItem, appeal.review_item_id).status == "withdrawn"  # type: ignore[union-attr]
        reversals = list(session.scalars(select(StatementOfReasons).where(
            StatementOfReasons.kind == StatementKind.REVERSAL)))
        assert len(reversals) == 3  # the appellant's and one for each copy reversed
        assert session.scalar(select(BankEntry.status).where(BankEntry.id == entry.id)) == "active"


def test_the_reversal_runs_in_batches_and_once(system: System, platform: RecordingPlatform, clock: FakeClock,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reinstate, "BATCH", 2)
    data = jpeg(photo("rocket"))
    for n in range(6):
        post(system, platform, f"m{n}", data, sender=f"u{n}")
    clock.advance(timedelta(minutes=5))
    bank(system, data)
    settle(system, clock)
    reverse_on_appeal(system, clock, "u0")
    for _ in range(3):
        settle(system, clock)
    restored = [t.message_id for k, t in platform.calls if k == "restore_message"]
    assert sorted(restored) == [f"m{n}" for n in range(6)]  # each once, across three batches
    with system.db.sessions() as session:
        assert session.scalar(select(Action.id).where(Action.kind == ActionKind.RESTORE_MESSAGE).offset(6)) is None
        task = session.scalar(select(ScheduledTask).where(ScheduledTask.job == reinstate.REINSTATE_JOB))
        assert task is not None and task.status == "done" and task.claims >= 3  # it went batch by batch
        first = {**task.payload, "after": 0, "refusals_after": 0}
    system.enforcement.reinstate(first)  # a step run again (its worker died before recording it): nothing twice
    settle(system, clock)
    assert len([k for k, _ in platform.calls if k == "restore_message"]) == 6
    with system.db.sessions() as session:
        assert len(session.scalars(select(StatementOfReasons).where(
            StatementOfReasons.kind == StatementKind.REVERSAL)).all()) == 6


class SlowToRemove(RecordingPlatform):
    """Answers "try later" when asked to remove m2, so its removal is still pending when the appeal is decided."""

    def remove_message(self, target: ActionTarget) -> ActionResult:
        if target.message_id == "m2":
            self.calls.append(("remove_message", target))
            return ActionResult.retry("busy")
        return super().remove_message(target)


def test_a_copy_whose_removal_is_still_pending_is_never_removed(system: System, clock: FakeClock) -> None:
    system.gateway.ensure_integration(name="test", adapter="webhook")
    platform = SlowToRemove()
    system.adapters.override("test", platform)
    data = jpeg(photo("rocket"))
    for n, who in enumerate(("sam", "kim", "lee")):
        post(system, platform, f"m{n}", data, sender=who)
    clock.advance(timedelta(minutes=5))
    bank(system, data)
    settle(system, clock)
    assert platform.removed() == {("c", "m0"), ("c", "m1")}
    reverse_on_appeal(system, clock, "sam")
    settle(system, clock)
    tries = platform.count("remove_message")
    clock.advance(timedelta(hours=1))
    settle(system, clock)
    assert platform.count("remove_message") == tries  # lee's removal was cancelled, not tried again
    with system.db.sessions() as session:
        lees = session.scalars(select(Action).where(Action.kind == ActionKind.REMOVE_MESSAGE)
                               .order_by(Action.id)).all()[2]
        assert lees.status == "failed" and (lees.last_error or "").startswith("cancelled: the bank entry it matched")
    assert "lee" not in {t.account_id for k, t in platform.calls if k == "notify_user"}  # nothing happened to lee
    assert sorted(t.message_id for k, t in platform.calls if k == "restore_message") == ["m0", "m1"]
