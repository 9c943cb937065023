"""Victims' report jobs, under their stable names."""

from __future__ import annotations

from firebreak.core.escalation import post_webhook
from firebreak.core.jobs.runner import JobHandler, Priority
from firebreak.reports import service
from firebreak.reports.flows import MAIL_JOB, WEBHOOK_JOB, Reports

# A victim waits on the confirmation of their report. The team's alert webhook stays NORMAL (an unreachable endpoint
# holds a thread for its whole timeout).
PRIORITIES = {MAIL_JOB: Priority.PROMPT}


def handlers(reports: Reports) -> dict[str, JobHandler]:
    return {
        service.SLA_JOB: reports.sla,
        service.FOLLOW_JOB: reports.follow,
        MAIL_JOB: reports.send_mail,
        WEBHOOK_JOB: post_webhook,
    }
