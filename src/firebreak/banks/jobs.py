"""Banks' jobs, under their stable names."""

from __future__ import annotations

from firebreak.banks.flows import REHASH_JOB, Banks
from firebreak.core.jobs.runner import JobHandler, Priority

PRIORITIES = {REHASH_JOB: Priority.BACKGROUND}  # a whole bank again, under a new hash version: after live work


def handlers(banks: Banks) -> dict[str, JobHandler]:
    return {REHASH_JOB: banks.rehash_job}
