"""The account's record over time, appeals at the edges (late, twice, someone else's), a platform that cannot
restore, the policy file's checks, and notices without a public URL or in another language."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import ClassVar

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.auth import service as auth_service
from firebreak.auth.models import Role, StaffUser
from firebreak.banks import service as banks
from firebreak.banks.models import MatchAction, Provenance
from firebreak.banks.schemas import BankCreate
from firebreak.bootstrap.system import System, build_system
from firebreak.core.clock import FakeClock
from firebreak.core.config import ConfigError, Settings
from firebreak.enforcement.models import AccountConduct, ConductKind
from firebreak.platform.adapters import ActionResult, ActionTarget
from firebreak.platform.models import Chat, PlatformAccount, StandingStatus
from firebreak.review import service as review
from firebreak.review.models import AppealChannel, ReviewItem
from firebreak.signals.hashing import hash_bytes
from firebreak.transparency.models import StatementOfReasons
from firebreak.transparency.notices import Notice, NoticeKind, Standing, notice_text
from firebreak.transparency.policy import PolicyError, load_policy
from tests.support import RecordingPlatform, jpeg, media_event, photo, scene


class CannotRestore(RecordingPlatform):
    """Like Matrix: a removed message cannot come back."""

    restores_messages: ClassVar[bool] = False

    def restore_message(self, target: ActionTarget) -> ActionResult:  # never asked: Firebreak knows it cannot
        raise AssertionError("restore_message called on a platform that cannot restore")


@pytest.fixture
def platform(system: System) -> Iterator[RecordingPlatform]:
    system.gateway.ensure_integration(name="test", adapter="webhook")
    recording = CannotRestore()
    system.adapters.override("test", recording)
    yield recording


def bank(system: System, *pictures: bytes) -> None:
    with system.db.transaction() as session:
        target = banks.create_bank(session=session, clock=system.clock, actor="test",
                                   data=BankCreate(name="known", action=MatchAction.BLOCK, policy_category="ncii"))
        for data in pictures:
            banks.add_entries(session=session, clock=system.clock, actor="test", bank=target,
                              entries=banks.entries_for_hashes(hash_bytes(data)), provenance=Provenance.IMPORT)


def post(system: System, platform: RecordingPlatform, message: str, data: bytes, sender: str = "sam") -> None:
    platform.add_message("c", message)
    system.gateway.record_event("test", media_event("c", message, data, when=system.clock.now(), sender=sender))


def settle(system: System, clock: FakeClock) -> None:
    for _ in range(6):
        system.runner.reconcile()
        clock.advance(timedelta(seconds=2))
    system.runner.reconcile()


def decide_appeal(system: System, session: Session, statement: StatementOfReasons, text: str, choice: str) -> str:
    """The statement's person appeals from their notice's link, and a moderator decides it: the result they read."""
    clock = system.clock
    appeal = system.appeals.from_link(session, statement, text)
    moderator = session.scalar(select(StaffUser).where(StaffUser.username == "mo")) or \
        auth_service.create_staff_user(session=session, clock=clock, actor="test", username="mo",
                                       password="correct horse battery staple", role=Role.MODERATOR)
    item = session.get(ReviewItem, appeal.review_item_id)
    assert item is not None
    system.review.claim(session, item, staff_id=moderator.id, role=Role.MODERATOR, version=None)
    decision = system.review.decide(session, item, staff_id=moderator.id, role=Role.MODERATOR,
                                    request=review.DecisionRequest(choice=choice))
    return decision.result or ""


def record(system: System, handle: str = "sam") -> list[tuple[ConductKind, bool]]:
    with system.db.sessions() as session:
        account = session.scalar(select(PlatformAccount).where(PlatformAccount.external_id == handle))
        assert account is not None
        return [(c.kind, c.lifted_at is not None) for c in session.scalars(
            select(AccountConduct).where(AccountConduct.account_id == account.id).order_by(AccountConduct.id))]


def test_violations_outside_the_window_do_not_count(system: System, platform: RecordingPlatform,
                                                    clock: FakeClock) -> None:
    pictures = [jpeg(scene(40 + n), 90) for n in range(4)]
    bank(system, *pictures)
    settle(system, clock)
    post(system, platform, "m0", pictures[0])  # the warning
    settle(system, clock)
    post(system, platform, "m1", pictures[1])  # a violation
    settle(system, clock)
    clock.advance(timedelta(days=91))  # the window (90 days) passes: that violation no longer counts
    post(system, platform, "m2", pictures[2])
    settle(system, clock)
    assert platform.count("restrict_account") == 0
    post(system, platform, "m3", pictures[3])
    settle(system, clock)
    assert platform.count("restrict_account") == 1  # two violations within 90 days
    assert [k for k, _ in record(system)] == [ConductKind.WARNING] + [ConductKind.VIOLATION] * 3


def test_an_appeal_on_a_platform_that_cannot_restore_says_so_and_lifts_the_record(
        system: System, platform: RecordingPlatform, clock: FakeClock) -> None:
    data = jpeg(photo("rocket"))
    post(system, platform, "m1", data)
    clock.advance(timedelta(minutes=5))
    bank(system, data)
    settle(system, clock)
    assert ("c", "m1") in platform.removed() and record(system) == [(ConductKind.WARNING, False)]
    with system.db.transaction() as session:
        statement = session.scalar(select(StatementOfReasons))
        assert statement is not None and statement.decided_by_id is None  # automated
        other = session.scalar(select(PlatformAccount).where(PlatformAccount.external_id != "sam"))
        with pytest.raises(review.AppealRefused, match="Only the person this decision was about"):
            review.file_appeal(session=session, clock=clock, statement=statement,
                               account_id=other.id if other else -1, text="not mine",
                               channel=AppealChannel.PLATFORM, window_days=183, title="t", severity=1, actor="t")
        appeal = system.appeals.from_link(session, statement, "My own photo of a rocket launch.")
        with pytest.raises(review.AppealRefused, match="You already appealed this decision"):
            system.appeals.from_link(session, statement, "again")
        moderator = auth_service.create_staff_user(session=session, clock=clock, actor="test", username="mo",
                                                   password="correct horse battery staple", role=Role.MODERATOR)
        item = session.get(ReviewItem, appeal.review_item_id)
        assert item is not None
        system.review.claim(session, item, staff_id=moderator.id, role=Role.MODERATOR, version=None)
        decision = system.review.decide(session, item, staff_id=moderator.id, role=Role.MODERATOR,
                                        request=review.DecisionRequest(choice="reverse"))
        assert "cannot be restored on this platform" in (decision.result or "")
    settle(system, clock)
    assert platform.count("restore_message") == 0
    answer = [t.reason for k, t in platform.calls if k == "notify_user"][-1]
    assert "reversed its decision" in answer and "cannot put removed content back; you may post it again" in answer
    assert record(system) == [(ConductKind.WARNING, True)]
    assert system.gateway.scan_bytes(data).verdict.value == "allow"  # the wrong entry no longer matches


def test_an_appeal_after_the_window_is_refused(system: System, platform: RecordingPlatform,
                                               clock: FakeClock) -> None:
    data = jpeg(photo("camera"))
    post(system, platform, "m1", data)
    bank(system, data)
    settle(system, clock)
    clock.advance(timedelta(days=184))
    with system.db.transaction() as session:
        statement = session.scalar(select(StatementOfReasons))
        assert statement is not None
        with pytest.raises(review.AppealRefused, match="can no longer be appealed"):
            system.appeals.from_link(session, statement, "late")


def test_the_policy_file_is_checked_and_named(tmp_path: Path, settings: Settings, clock: FakeClock) -> None:
    assert load_policy().for_category("ncii").name == "ncii"
    assert load_policy().for_category("unknown").name == "other_illegal"
    bad = tmp_path / "policy.toml"
    cases = {
        '[[ground]]\nname = "x"\n': "ground x: basis must be a non-empty string",
        '[[ground]]\nname="a"\nlabel="A"\nbasis="moral"\ncategory="other"\nlegal_ground="l"\nexplanation="e"\n'
        'summary="s"\n': "basis must be 'illegal' or 'terms'",
        '[[ground]]\nname="a"\nlabel="A"\nbasis="terms"\ncategory="spam"\nlegal_ground="l"\nexplanation="e"\n'
        'summary="s"\n': "category 'spam' is not one of",
        '[[ground]]\nname="a"\nlabel="A"\nbasis="terms"\ncategory="other"\nlegal_ground="l"\nexplanation="e"\n'
        'summary="s"\nkeywords=["KEYWORD_IMAGE_BASED_SEXUAL_ABUSE"]\n': "keywords must be DSA KEYWORD_",
        '[[ground]]\nname="a"\nlabel="A"\nbasis="terms"\ncategory="ncii"\nlegal_ground="l"\nexplanation="e"\n'
        'summary="s"\n': "needs a default ground for category 'other'",
        "ground = 3": "needs at least one [[ground]]",
        "[[ground]": "not valid TOML",
    }
    for text, message in cases.items():
        bad.write_text(text)
        with pytest.raises(PolicyError, match=message.replace("[", r"\[").replace("(", r"\(")):
            load_policy(bad)
    with pytest.raises(ConfigError, match="FIREBREAK_POLICY_FILE"):
        build_system(settings.model_copy(update={"policy_file": bad}), clock=clock)


def test_notices_read_well_without_a_link_and_go_through_the_translator() -> None:
    notice = Notice(kind=NoticeKind.CONTENT_REMOVED, platform="Shop", reference="fb-action-1", summary="spam",
                    basis="terms", legal_ground="Terms 4.2", standing=Standing.VIOLATION, violations=1,
                    restrict_at=2, suspend_at=3, window_days=90, appeal_until=date(2026, 7, 7))
    text = notice_text(notice)
    assert "you can appeal until 2026-07-07 through Shop, quoting the reference below" in text
    assert "Our terms of service do not allow this (Terms 4.2)" in text
    assert "1 time(s) in the last 90 days. At 2, your account is restricted. At 3, it is suspended." in text
    seen: list[str] = []

    def german(message: str) -> str:  # a stand-in catalog: keeps the placeholders, marks every sentence
        seen.append(message)
        return f"«{message}»"

    translated = notice_text(notice, german)
    assert "«{platform} removed your {medium}{when}{where}.»".format(
        platform="Shop", medium="«picture»", when="", where="") in translated
    assert "«Reference: fb-action-1»" in translated
    assert len(seen) > 5 and all(m == m.strip() or m.startswith(" ") for m in seen)


def test_a_notice_that_comes_after_the_standing_was_lifted_says_so_in_each_language() -> None:
    from firebreak.core.i18n import translator

    notice = Notice(kind=NoticeKind.ACCOUNT_SUSPENDED, platform="Shop", reference="fb-action-9", summary="spam",
                    standing=Standing.SUSPENDED, window_days=90, standing_until=datetime(2026, 7, 1, 9, 30, tzinfo=UTC),
                    standing_over=True, restored=False, appeal_until=date(2026, 7, 7))
    text = notice_text(notice)
    assert "this suspension was lifted again shortly after it was put on; you can post again" in text
    assert "Shop lifts it itself; if it still applies, contact Shop quoting the reference." in text
    assert "it is suspended until" not in text and "Violations of the last 90 days still count" in text
    assert "lifts it itself" not in notice_text(replace(notice, restored=True))
    ko = translator("ko").translations.gettext
    korean = notice_text(notice, ko)
    lifted = ko("What it means for your account: this suspension was lifted again shortly after it was put on; you "
                "can post again.")
    assert lifted in korean and not lifted.startswith("What it means")


def test_a_chat_is_never_suspended_by_counting(system: System, platform: RecordingPlatform,
                                               clock: FakeClock) -> None:
    pictures = [jpeg(scene(60 + n), 90) for n in range(12)]
    for n, data in enumerate(pictures):
        post(system, platform, f"m{n}", data, sender=f"user{n}")
    bank(system, *pictures)
    settle(system, clock)
    assert len(platform.removed()) == 12 and platform.count("suspend_chat") == 0
    with system.db.sessions() as session:
        chat = session.scalar(select(Chat))
        assert chat is not None and chat.status == StandingStatus.ACTIVE
        items = review.queue(session=session, staff_id=0, flt=review.QueueFilter(kind="chat_action"),
                             now=system.clock.now())
        assert [i.spread for i in items] == [12] and items[0].facts["ordered"] is False
