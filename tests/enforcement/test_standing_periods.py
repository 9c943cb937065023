"""A restriction or suspension for repeated violations lasts a period (DSA Art. 23: "for a reasonable period of
time"), stated in its statement of reasons and its notice; at its end it is lifted and the person told."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from firebreak.audit.models import AuditEvent
from firebreak.bootstrap.system import System
from firebreak.core.clock import FakeClock
from firebreak.enforcement import service
from firebreak.enforcement.models import Action, ActionKind
from firebreak.platform.adapters import ActionResult, ActionTarget
from firebreak.platform.models import PlatformAccount, StandingStatus
from firebreak.transparency.models import StatementOfReasons
from tests.enforcement.test_conduct_and_appeals import bank, decide_appeal, post, settle
from tests.support import RecordingPlatform, jpeg, scene


class Lifting(RecordingPlatform):
    """A platform that can lift a restriction (as the sandbox and the webhook integration can)."""

    def lift_restriction(self, target: ActionTarget) -> ActionResult:
        return self._act("lift_restriction", target)


@pytest.fixture
def platform(system: System) -> Iterator[RecordingPlatform]:
    system.gateway.ensure_integration(name="test", adapter="webhook")
    recording = Lifting()
    system.adapters.override("test", recording)
    yield recording


@pytest.fixture
def fixed(system: System) -> Iterator[RecordingPlatform]:
    """A platform whose adapter cannot lift a restriction through Firebreak (an integration without the capability)."""
    system.gateway.ensure_integration(name="test", adapter="webhook")
    recording = RecordingPlatform()
    system.adapters.override("test", recording)
    yield recording


def offend(system: System, platform: RecordingPlatform, clock: FakeClock, times: int, *, later: int = 0) -> None:
    """The warning, then ``times - 1`` violations: banked pictures posted after the ban; ``later`` more banked
    pictures, posted when the test says (``post_again``)."""
    pictures = [jpeg(scene(700 + n), 90) for n in range(times + later)]
    bank(system, *pictures)
    settle(system, clock)
    for n, data in enumerate(pictures[:times]):
        post(system, platform, f"m{n}", data)
        settle(system, clock)


def post_again(system: System, platform: RecordingPlatform, clock: FakeClock, n: int) -> None:
    post(system, platform, f"m{n}", jpeg(scene(700 + n), 90))
    settle(system, clock)


def standing(system: System) -> StandingStatus:
    with system.db.sessions() as session:
        account = session.scalar(select(PlatformAccount).where(PlatformAccount.external_id == "sam"))
        assert account is not None
        return account.status


def notices(platform: RecordingPlatform) -> list[str]:
    return [target.reason for kind, target in platform.calls if kind == "notify_user"]


def test_a_restriction_states_its_end_and_is_lifted_then(system: System, platform: RecordingPlatform,
                                                        clock: FakeClock) -> None:
    offend(system, platform, clock, 3)  # a warning and two violations: restricted (default 2) for 7 days
    assert platform.count("restrict_account") == 1 and standing(system) == StandingStatus.RESTRICTED
    with system.db.sessions() as session:
        action = session.scalar(select(Action).where(Action.kind == ActionKind.RESTRICT_ACCOUNT))
        assert action is not None
        statement = session.scalar(select(StatementOfReasons).where(StatementOfReasons.action_id == action.id))
        assert statement is not None
        ends = action.created_at + timedelta(days=7)
        assert action.params["until"] == ends.isoformat()
        assert statement.payload["end_date_service_restriction"] == ends.strftime("%Y-%m-%d")
    told = notices(platform)[-1]
    assert f"restricted until {ends.strftime('%Y-%m-%d %H:%M')} (UTC), and then the restriction is lifted" in told

    clock.advance(timedelta(days=6, hours=23))  # not yet
    settle(system, clock)
    assert standing(system) == StandingStatus.RESTRICTED and platform.count("lift_restriction") == 0
    clock.advance(timedelta(hours=1))
    settle(system, clock)
    assert standing(system) == StandingStatus.ACTIVE
    lifted = [target for kind, target in platform.calls if kind == "lift_restriction"]
    assert [t.account_id for t in lifted] == ["sam"]
    ended = notices(platform)[-1]
    assert "The restriction of your account on" in ended and "has ended" in ended
    assert statement.puid in ended and "Violations of the last 90 days still count" in ended
    with system.db.sessions() as session:
        assert session.scalar(select(Action.status).where(Action.kind == ActionKind.LIFT_RESTRICTION)) == "done"


def test_a_suspension_replaces_the_restriction_and_ends_on_its_own_date(
        system: System, platform: RecordingPlatform, clock: FakeClock) -> None:
    offend(system, platform, clock, 3, later=1)
    clock.advance(timedelta(days=2))
    post_again(system, platform, clock, 3)  # the third violation within 90 days: suspended for 30 days
    assert standing(system) == StandingStatus.SUSPENDED
    assert "suspended until" in notices(platform)[-1]
    clock.advance(timedelta(days=6))  # the restriction's end passes: the suspension replaced it, nothing lifts
    settle(system, clock)
    assert standing(system) == StandingStatus.SUSPENDED and platform.count("lift_restriction") == 0
    clock.advance(timedelta(days=25))
    settle(system, clock)
    assert standing(system) == StandingStatus.ACTIVE and platform.count("lift_restriction") == 1
    assert "The suspension of your account on" in notices(platform)[-1]


def test_a_restriction_lifted_on_appeal_is_not_lifted_again(system: System, platform: RecordingPlatform,
                                                           clock: FakeClock) -> None:
    offend(system, platform, clock, 3)
    with system.db.transaction() as session:
        action = session.scalar(select(Action).where(Action.kind == ActionKind.RESTRICT_ACCOUNT))
        statement = session.scalar(select(StatementOfReasons).where(StatementOfReasons.action_id == action.id))  # type: ignore[union-attr]
        assert statement is not None
        decide_appeal(system, session, statement, "Those were not mine.", "reverse")
    settle(system, clock)
    assert standing(system) == StandingStatus.ACTIVE and platform.count("lift_restriction") == 1
    told = len(notices(platform))
    clock.advance(timedelta(days=8))
    settle(system, clock)
    assert platform.count("lift_restriction") == 1 and len(notices(platform)) == told  # nothing more to lift or say


def test_where_the_platform_cannot_lift_it_the_person_is_told_to_ask(system: System, fixed: RecordingPlatform,
                                                                    clock: FakeClock) -> None:
    offend(system, fixed, clock, 3)
    clock.advance(timedelta(days=7, minutes=1))
    settle(system, clock)
    assert standing(system) == StandingStatus.ACTIVE  # Firebreak's record: the period is over
    ended = notices(fixed)[-1]
    assert "has ended" in ended and "lifts it itself; if it still applies, contact" in ended


class SlowToRestrict(Lifting):
    """A platform that keeps answering "try later" to restrictions (down for that part of its API)."""

    def restrict_account(self, target: ActionTarget) -> ActionResult:
        self.calls.append(("restrict_account", target))
        return ActionResult.retry("restrictions unavailable")


def test_a_restriction_never_carried_out_by_its_end_is_cancelled_quietly(system: System, clock: FakeClock) -> None:
    system.gateway.ensure_integration(name="test", adapter="webhook")
    platform = SlowToRestrict()
    system.adapters.override("test", platform)
    offend(system, platform, clock, 3)
    assert standing(system) == StandingStatus.RESTRICTED and platform.count("restrict_account") >= 1
    told = len(notices(platform))
    clock.advance(timedelta(days=7, minutes=1))
    settle(system, clock)
    assert standing(system) == StandingStatus.ACTIVE
    with system.db.sessions() as session:
        action = session.scalar(select(Action).where(Action.kind == ActionKind.RESTRICT_ACCOUNT))
        assert action is not None and action.status == "failed"
        assert action.last_error == "cancelled: its period ended before the platform carried it out"
    assert platform.count("lift_restriction") == 0  # nothing to lift
    assert len(notices(platform)) == told  # never told of a restriction, so not of its end either
    attempts = platform.count("restrict_account")
    clock.advance(timedelta(hours=2))
    settle(system, clock)
    assert platform.count("restrict_account") == attempts  # not tried again
    with system.db.transaction() as session:  # nor by a person: its cause went away
        action = session.scalar(select(Action).where(Action.kind == ActionKind.RESTRICT_ACCOUNT))
        assert action is not None
        assert not service.retry_action(session=session, clock=clock, action=action, actor="test")


def test_an_appeal_that_takes_away_a_restriction_s_basis_lifts_it(system: System, platform: RecordingPlatform,
                                                                  clock: FakeClock) -> None:
    offend(system, platform, clock, 3)
    assert standing(system) == StandingStatus.RESTRICTED
    with system.db.transaction() as session:
        violation = session.scalars(select(StatementOfReasons).join(Action, Action.id == StatementOfReasons.action_id)
                                    .where(Action.kind == ActionKind.REMOVE_MESSAGE)
                                    .order_by(StatementOfReasons.id.desc())).first()
        assert violation is not None
        decide_appeal(system, session, violation, "Not mine.", "reverse_record")
    settle(system, clock)
    assert standing(system) == StandingStatus.ACTIVE  # one violation left: under the two a restriction needs
    assert platform.count("lift_restriction") == 1
    answer = notices(platform)[-1]
    assert "reversed its decision" in answer
    assert "The restriction on your account is lifted as well: the violations left no longer reach it." in answer
    assert "lifts it itself" not in answer  # this platform lifts it through Firebreak
    clock.advance(timedelta(days=8))
    settle(system, clock)
    assert platform.count("lift_restriction") == 1  # its period's end finds nothing to lift


class RelievedWhileRestricting(RecordingPlatform):
    """A platform during whose restriction of the account an appeal takes away the restriction's basis: the appeal is
    decided while the worker is carrying the restriction out, so the restriction is done after it was lifted."""

    def __init__(self, system: System, clock: FakeClock) -> None:
        super().__init__()
        self.system, self.clock = system, clock

    def restrict_account(self, target: ActionTarget) -> ActionResult:
        with self.system.db.transaction() as session:
            violation = session.scalars(
                select(StatementOfReasons).join(Action, Action.id == StatementOfReasons.action_id)
                .where(Action.kind == ActionKind.REMOVE_MESSAGE).order_by(StatementOfReasons.id.desc())).first()
            assert violation is not None
            self.answer = decide_appeal(self.system, session, violation, "Not mine.", "reverse_record")
        self.clock.advance(timedelta(seconds=30))  # the platform takes its time
        return self._act("restrict_account", target)


class RelievedWhileRestrictingCanLift(RelievedWhileRestricting):
    def lift_restriction(self, target: ActionTarget) -> ActionResult:
        return self._act("lift_restriction", target)


@pytest.mark.parametrize("can_lift", [True, False], ids=["lifts", "cannot-lift"])
def test_a_restriction_lifted_while_it_was_carried_out_is_told_as_lifted(system: System, clock: FakeClock,
                                                                        can_lift: bool) -> None:
    system.gateway.ensure_integration(name="test", adapter="webhook")
    platform = (RelievedWhileRestrictingCanLift if can_lift else RelievedWhileRestricting)(system, clock)
    system.adapters.override("test", platform)
    offend(system, platform, clock, 3)
    assert "The account's restriction lost its basis and is lifted too." in platform.answer  # the moderator reads
    assert any("The restriction on your account is lifted as well" in text for text in notices(platform))
    assert standing(system) == StandingStatus.ACTIVE and platform.count("restrict_account") == 1
    with system.db.sessions() as session:
        action = session.scalar(select(Action).where(Action.kind == ActionKind.RESTRICT_ACCOUNT))
        assert action is not None and action.status == "done" and action.completed_at is not None
        statement = session.scalar(select(StatementOfReasons).where(StatementOfReasons.action_id == action.id))
        assert statement is not None  # it was carried out: it has its statement, ending when it was lifted
        assert statement.payload["end_date_service_restriction"] == action.completed_at.strftime("%Y-%m-%d")
        assert session.scalar(select(AuditEvent.id).where(
            AuditEvent.action == "due_process.standing_already_lifted", AuditEvent.object_id == str(action.id)))
    calls = [(kind, target.reason) for kind, target in platform.calls]
    told = [n for n, (kind, text) in enumerate(calls) if kind == "notify_user" and statement.puid in text]
    assert len(told) == 1  # one notice for the restriction, and it says it is over
    text = calls[told[0]][1]
    assert "this restriction was lifted again shortly after it was put on" in text
    assert "it is restricted until" not in text and "it is now restricted" not in text
    assert "you can appeal until" in text  # its record can still be contested
    if can_lift:  # the lift did not wait out the worker's lease: the platform lifted it before the notice said so
        assert platform.count("lift_restriction") == 1
        restrict, lift = (next(n for n, (kind, _) in enumerate(calls) if kind == k)
                          for k in ("restrict_account", "lift_restriction"))
        assert restrict < lift < told[0]
        assert "lifts it itself" not in text
    else:
        assert "lifts it itself; if it still applies, contact" in text
        relieved = next(t for t in notices(platform) if "The restriction on your account is lifted as well" in t)
        assert "lifts it itself; if it still applies, contact" in relieved  # the appeal's answer says so too
    clock.advance(timedelta(days=8))
    settle(system, clock)
    assert platform.count("lift_restriction") == (1 if can_lift else 0)
    assert [c for c in platform.calls if c[0] == "notify_user" and statement.puid in c[1].reason] == \
        [platform.calls[told[0]]]


def _as_before_periods(system: System) -> int:
    """Make the account's restriction look like one put on by a release before periods: no end, no job to end it."""
    from firebreak.core.jobs.models import ScheduledTask
    from firebreak.enforcement import conduct
    from firebreak.enforcement import standing as standing_rules

    with system.db.transaction() as session:
        action = session.scalar(select(Action).where(Action.kind == ActionKind.RESTRICT_ACCOUNT))
        assert action is not None
        action.params = {k: v for k, v in action.params.items() if k != "until"}
        task = session.scalar(select(ScheduledTask).where(
            ScheduledTask.dedupe_key == conduct.standing_ends_key(action.id)))
        assert task is not None
        session.delete(task)
        key = standing_rules.PERIODS_KEY
        for marker in session.scalars(select(ScheduledTask).where(ScheduledTask.dedupe_key == key)):
            session.delete(marker)  # this database started with the release: as if it had not
        return action.id


@pytest.mark.parametrize("served_days", [2, 10])
def test_a_restriction_from_before_periods_is_given_one_at_the_upgrade(
        system: System, platform: RecordingPlatform, clock: FakeClock, served_days: int) -> None:
    offend(system, platform, clock, 3)
    action_id = _as_before_periods(system)
    clock.advance(timedelta(days=served_days))
    upgraded = clock.now()
    system.enforcement.ensure_standing_periods()  # what a serving process does when it starts
    settle(system, clock)
    before = _periods_task(system)
    assert before[0] == "pending" and before[2] == {"after_id": 0, "pass": 2}  # the second pass, a day later
    system.enforcement.ensure_standing_periods()  # a later start leaves the queued pass alone
    assert _periods_task(system) == before
    with system.db.sessions() as session:
        action = session.get(Action, action_id)
        assert action is not None
        begun = action.created_at
    if served_days < 7:  # the rest of its 7 days
        assert action.params["until"] == (begun + timedelta(days=7)).isoformat()
        assert standing(system) == StandingStatus.RESTRICTED
        clock.advance(timedelta(days=7 - served_days))
        settle(system, clock)
    else:  # served longer than a restriction lasts now: it ends at once
        assert action.params["until"] == upgraded.isoformat()
    assert standing(system) == StandingStatus.ACTIVE and platform.count("lift_restriction") == 1
    assert "The restriction of your account on" in notices(platform)[-1] and "has ended" in notices(platform)[-1]
    with system.db.sessions() as session:
        given = session.scalars(select(AuditEvent.data).where(AuditEvent.action == "account.standing_period_given"))
        assert [json.loads(row)["action_id"] for row in given] == [action_id]
    clock.advance(timedelta(days=1))
    settle(system, clock)
    assert _periods_task(system)[0] == "done"
    system.enforcement.ensure_standing_periods()
    assert _periods_task(system)[0] == "done" and platform.count("lift_restriction") == 1


def _periods_task(system: System) -> tuple[str, object, dict[str, object]]:
    from firebreak.core.jobs.models import ScheduledTask
    from firebreak.enforcement import standing as standing_rules

    with system.db.sessions() as session:
        task = session.scalar(select(ScheduledTask).where(ScheduledTask.dedupe_key == standing_rules.PERIODS_KEY))
        assert task is not None
        return task.status.value, task.due_at, {k: v for k, v in task.payload.items() if k != "task_id"}


def test_old_restrictions_are_given_periods_in_batches_and_only_theirs(system: System, platform: RecordingPlatform,
                                                                      clock: FakeClock) -> None:
    """Accounts restricted or suspended by strikes before due process (``N strikes``) or by violations before
    periods; one whose latest restriction has an end, and one active, are left alone. One account a batch."""
    from firebreak.enforcement import standing as standing_rules
    from firebreak.enforcement.conduct import ConductPolicy
    from firebreak.platform.models import PlatformIntegration

    now = clock.now()
    with system.db.transaction() as session:
        integration = session.scalar(select(PlatformIntegration).where(PlatformIntegration.name == "test"))
        assert integration is not None
        cases = [(StandingStatus.SUSPENDED, ActionKind.SUSPEND_ACCOUNT, {"reason": "3 strikes"}, 40),
                 (StandingStatus.RESTRICTED, ActionKind.RESTRICT_ACCOUNT, {"cause": "conduct"}, 3),
                 (StandingStatus.RESTRICTED, ActionKind.RESTRICT_ACCOUNT,
                  {"cause": "conduct", "until": (now + timedelta(days=1)).isoformat()}, 6),
                 (StandingStatus.ACTIVE, ActionKind.RESTRICT_ACCOUNT, {"cause": "conduct"}, 20),
                 (StandingStatus.SUSPENDED, ActionKind.SUSPEND_ACCOUNT, {"cause": "conduct"}, 2)]
        actions = []
        for n, (status, kind, params, days_ago) in enumerate(cases):
            account = PlatformAccount(integration_id=integration.id, external_id=f"old{n}", status=status,
                                      created_at=now)
            session.add(account)
            session.flush()
            action = Action(idempotency_key=f"old:{n}", integration_id=integration.id, kind=kind, status="done",
                            account_id=account.id, params=params, created_at=now - timedelta(days=days_ago))
            session.add(action)
            session.flush()
            actions.append(action.id)
    given, after = [], 0
    batches = 0
    while True:
        with system.db.transaction() as session:
            some, last = standing_rules.give_periods(session=session, clock=system.clock, policy=ConductPolicy(),
                                                     after_id=after, limit=1)
        given += some
        batches += 1
        if last is None:
            break
        after = last
    assert given == [actions[0], actions[1], actions[4]] and batches == 5  # four held accounts, then none
    with system.db.sessions() as session:
        ends = {a: session.get(Action, a).params.get("until") for a in actions}  # type: ignore[union-attr]
    assert ends[actions[0]] == now.isoformat()  # suspended 40 days ago for strikes: over, ends now
    assert ends[actions[1]] == (now + timedelta(days=4)).isoformat()  # restricted 3 days ago: 4 days left
    assert ends[actions[4]] == (now + timedelta(days=28)).isoformat()  # suspended 2 days ago: 28 days left
    assert ends[actions[2]] == (now + timedelta(days=1)).isoformat() and ends[actions[3]] is None


def test_a_restriction_counting_did_not_lead_to_is_given_no_period(system: System, platform: RecordingPlatform,
                                                      clock: FakeClock) -> None:
    offend(system, platform, clock, 3)
    action_id = _as_before_periods(system)
    with system.db.transaction() as session:
        action = session.get(Action, action_id)
        assert action is not None
        action.params = {**action.params, "cause": "other"}
    system.enforcement.ensure_standing_periods()
    settle(system, clock)
    assert _periods_task(system)[2] == {"after_id": 0, "pass": 2}  # the first pass ran, and left it
    clock.advance(timedelta(days=60))
    settle(system, clock)
    assert standing(system) == StandingStatus.RESTRICTED and platform.count("lift_restriction") == 0
