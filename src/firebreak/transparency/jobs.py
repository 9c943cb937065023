"""Transparency jobs: ``transparency.submit_statements`` sends pending statements of reasons to the DSA Transparency
Database (when one is configured) and schedules its next run."""

from __future__ import annotations

from typing import Any

from firebreak.core.jobs.runner import JobHandler, Priority
from firebreak.transparency.flows import SUBMIT_JOB, StatementSubmitter

PRIORITIES = {SUBMIT_JOB: Priority.BACKGROUND}  # statements already stand; the database takes them within days


def handlers(submitter: StatementSubmitter) -> dict[str, JobHandler]:
    def submit(payload: dict[str, Any]) -> None:
        submitter.submit()

    return {SUBMIT_JOB: submit}
