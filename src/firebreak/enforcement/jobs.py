"""Enforcement's jobs, under their stable names."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from firebreak.banks.service import PROPAGATE_JOB
from firebreak.core.jobs.runner import JobHandler, Priority
from firebreak.enforcement.conduct import STANDING_ENDS_JOB
from firebreak.enforcement.flows import Enforcement
from firebreak.enforcement.reinstate import REINSTATE_JOB
from firebreak.enforcement.service import FOLLOW_UP_JOB, RUN_ACTIONS_JOB
from firebreak.enforcement.standing import PERIODS_JOB
from firebreak.matching.copies import COPY_CHECK_JOB, REDESCRIBE_JOB

# After an upgrade, after live work: pictures described again under a newer extractor (a pass over every post), and
# restrictions put on before they carried a period given one.
PRIORITIES = {REDESCRIBE_JOB: Priority.BACKGROUND, PERIODS_JOB: Priority.BACKGROUND}


def handlers(enforcement: Enforcement) -> dict[str, JobHandler]:
    def propagate(payload: dict[str, Any]) -> None:
        enforcement.propagate([int(i) for i in payload.get("entry_ids", [])])

    def run_actions(payload: dict[str, Any]) -> None:
        enforcement.run_actions()

    def follow_up(payload: dict[str, Any]) -> None:
        since = payload.get("waiting_since")
        enforcement.follow_up(waiting_since=datetime.fromisoformat(since) if isinstance(since, str) else None)

    def check_copies(payload: dict[str, Any]) -> None:
        enforcement.check_copies(int(payload["media_id"]))

    def redescribe(payload: dict[str, Any]) -> None:
        enforcement.redescribe_job()

    def reinstate(payload: dict[str, Any]) -> None:
        enforcement.reinstate({k: v for k, v in payload.items() if k != "task_id"})

    def end_standing(payload: dict[str, Any]) -> None:
        enforcement.end_standing(int(payload["action_id"]))

    def give_periods(payload: dict[str, Any]) -> None:
        enforcement.give_periods({k: v for k, v in payload.items() if k != "task_id"})

    return {PROPAGATE_JOB: propagate, RUN_ACTIONS_JOB: run_actions, FOLLOW_UP_JOB: follow_up,
            COPY_CHECK_JOB: check_copies, REDESCRIBE_JOB: redescribe, STANDING_ENDS_JOB: end_standing,
            REINSTATE_JOB: reinstate, PERIODS_JOB: give_periods}
