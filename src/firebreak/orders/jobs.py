"""Order jobs, under their stable names."""

from __future__ import annotations

from firebreak.core.escalation import post_webhook
from firebreak.core.jobs.runner import JobHandler
from firebreak.orders import notify, service
from firebreak.orders.flows import PROCESS_MAIL_JOB, OrderDesk


def handlers(desk: OrderDesk) -> dict[str, JobHandler]:
    return {
        service.FOLLOW_JOB: desk.follow,
        service.SLA_JOB: desk.sla,
        PROCESS_MAIL_JOB: desk.process_mail,
        notify.SEND_MAIL_JOB: desk.send_mail,
        notify.WEBHOOK_JOB: post_webhook,
    }
