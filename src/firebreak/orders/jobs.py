"""Order jobs, under their stable names."""

from __future__ import annotations

from firebreak.core.escalation import post_webhook
from firebreak.core.jobs.runner import JobHandler, Priority
from firebreak.orders import notify, service
from firebreak.orders.flows import PROCESS_MAIL_JOB, OrderDesk

# An authority waits on these: the acknowledgement (reading the mail, then sending the answer) and receipts. Status
# webhooks stay NORMAL: an unreachable endpoint holds a thread for its whole timeout.
PRIORITIES = {PROCESS_MAIL_JOB: Priority.PROMPT, notify.SEND_MAIL_JOB: Priority.PROMPT}


def handlers(desk: OrderDesk) -> dict[str, JobHandler]:
    return {
        service.FOLLOW_JOB: desk.follow,
        service.SLA_JOB: desk.sla,
        PROCESS_MAIL_JOB: desk.process_mail,
        notify.SEND_MAIL_JOB: desk.send_mail,
        notify.WEBHOOK_JOB: post_webhook,
    }
