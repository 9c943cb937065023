"""Evidence jobs: seal pending preservations (``evidence.preserve``) and the daily retention purge
(``evidence.purge``). Names are storage keys: never rename one."""

from __future__ import annotations

from typing import Any

from firebreak.core.jobs.runner import JobHandler, Priority
from firebreak.evidence.flows import Evidence
from firebreak.evidence.service import PRESERVE_JOB, PURGE_JOB

PRIORITIES = {PURGE_JOB: Priority.BACKGROUND}  # sealing evidence is NORMAL: it must come before content goes


def handlers(evidence: Evidence) -> dict[str, JobHandler]:
    def preserve(payload: dict[str, Any]) -> None:
        evidence.preserve_pending()

    def purge(payload: dict[str, Any]) -> None:
        evidence.purge()

    return {PRESERVE_JOB: preserve, PURGE_JOB: purge}
