"""Victims' report jobs, under their stable names."""

from __future__ import annotations

from firebreak.core.escalation import post_webhook
from firebreak.core.jobs.runner import JobHandler
from firebreak.reports import service
from firebreak.reports.flows import MAIL_JOB, WEBHOOK_JOB, Reports


def handlers(reports: Reports) -> dict[str, JobHandler]:
    return {
        service.SLA_JOB: reports.sla,
        service.FOLLOW_JOB: reports.follow,
        MAIL_JOB: reports.send_mail,
        WEBHOOK_JOB: post_webhook,
    }
