"""A victim's report waits in the review queue moderators work for everything else, and is decided there.

A decision in the queue goes through ``Reports.confirm`` / ``decline`` as one on the report's own page does; the
removals carry a statement of reasons that says a person decided on a notice, and the item leaves the queue when the
report is decided elsewhere or withdrawn.
"""

from __future__ import annotations

from sqlalchemy import select

from firebreak.auth import service as auth_service
from firebreak.auth.models import Role
from firebreak.reports.models import ReportStatus
from firebreak.reports.review import open_key
from firebreak.review import service as review
from firebreak.review.models import ItemStatus, ReviewItem
from firebreak.transparency.models import StatementOfReasons
from tests.reports.world import PASSWORD, World, csrf_of
from tests.support import jpeg, scene


def _moderator(world: World, name: str) -> int:
    with world.system.db.transaction() as session:
        return auth_service.create_staff_user(session=session, clock=world.clock, actor="test", username=name,
                                              password=PASSWORD, role=Role.MODERATOR).id


def _item(world: World, case: str) -> ReviewItem | None:
    with world.system.db.sessions() as session:
        return session.scalar(select(ReviewItem).where(ReviewItem.facts["case"].as_string() == case))


def test_a_report_confirmed_in_the_review_queue_removes_it_with_a_statement(world: World) -> None:
    original = world.post("class", "joon", jpeg(scene(41), 90))
    world.settle(1)
    filed = world.file_report([world.link(original)])
    item = _item(world, filed.case_number)
    assert item is not None and item.kind == "victim_report" and item.status == ItemStatus.OPEN
    assert item.severity >= 80 and item.deadline_at is not None  # ordered with the rest: severity, time left
    moderator = _moderator(world, "queue-mod")
    with world.system.db.transaction() as session:
        item = session.get(ReviewItem, item.id)
        assert item is not None
        view = world.system.review.view(session, item)
        assert view.ground and "contact" not in " ".join(f.label.lower() for s in view.sections for f in s.facts)
        world.system.review.claim(session, item, staff_id=moderator, role=Role.MODERATOR, version=None)
        world.system.review.decide(session, item, staff_id=moderator, role=Role.MODERATOR,
                                   request=review.DecisionRequest(choice="confirm", note="matches the report"))
    world.settle()
    assert world.message_status(original) == "removed"
    report = world.report(filed.case_number)
    assert report.status == ReportStatus.ACTIONED and report.reviewed_by_id == moderator
    with world.system.db.sessions() as session:
        decided = session.get(ReviewItem, item.id)
        assert decided is not None and decided.status == ItemStatus.DECIDED
        statements = list(session.scalars(select(StatementOfReasons)))
    mine = [s for s in statements if s.payload.get("source_type") == "SOURCE_ARTICLE_16"]
    assert mine, [s.payload.get("source_type") for s in statements]
    assert all(s.payload.get("automated_decision") == "AUTOMATED_DECISION_NOT_AUTOMATED" and not s.automated
               and s.decided_by_id == moderator for s in mine)


def test_a_report_decided_on_its_own_page_leaves_the_queue(world: World) -> None:
    original = world.post("class", "joon", jpeg(scene(42), 90))
    world.settle(1)
    filed = world.file_report([world.link(original)])
    assert _item(world, filed.case_number) is not None
    client = world.staff_client("page-mod", Role.MODERATOR)
    detail = client.get(f"/console/reports/{filed.case_number}")
    client.post(f"/console/reports/{filed.case_number}/decline",
                data={"csrf_token": csrf_of(detail.text), "reason": "not_violating"})
    item = _item(world, filed.case_number)
    assert item is not None and item.status == ItemStatus.WITHDRAWN
    with world.system.db.sessions() as session:
        assert review.open_item(session=session, open_key=open_key(filed.case_number)) is None
    assert world.message_status(original) == "live"


def test_a_decline_in_the_queue_needs_the_reason_the_person_reads(world: World) -> None:
    original = world.post("class", "joon", jpeg(scene(43), 90))
    world.settle(1)
    filed = world.file_report([world.link(original)])
    item = _item(world, filed.case_number)
    assert item is not None
    moderator = _moderator(world, "decline-mod")
    with world.system.db.transaction() as session:
        item = session.get(ReviewItem, item.id)
        assert item is not None
        world.system.review.claim(session, item, staff_id=moderator, role=Role.MODERATOR, version=None)
        try:
            world.system.review.decide(session, item, staff_id=moderator, role=Role.MODERATOR,
                                       request=review.DecisionRequest(choice="decline"))
        except review.Conflict as exc:
            assert "reason the person will read" in str(exc)
        else:
            raise AssertionError("a decline without a reason was applied")
        world.system.review.decide(session, item, staff_id=moderator, role=Role.MODERATOR,
                                   request=review.DecisionRequest(choice="decline",
                                                                  inputs={"reason": "need_more_information"}))
    report = world.report(filed.case_number)
    assert report.status == ReportStatus.DECLINED and report.decline_reason == "need_more_information"
