"""Telling people: acknowledgements, receipts, thread messages and SLA alerts, by mail or webhook.

Outgoing mail is a job (a row): if the mail server is down it is retried, and nothing is lost.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from firebreak.core.jobs import outbox as jobs
from firebreak.orders.models import Order

SEND_MAIL_JOB = "mail.send"
WEBHOOK_JOB = "orders.webhook"


def queue_mail(*, session: Session, now: datetime, to: list[str], subject: str, text: str,
               order: Order | None = None, reply: bool = True, attachments: list[dict[str, str]] | None = None,
               automatic: bool = True, internal: bool = False) -> None:
    """Send a mail after commit. With ``order``, it threads under the order's original mail and carries the
    tracking ID; the sent mail is kept in the order's thread so that replies find the order. ``internal`` mails
    (alerts to the liaison team) are kept as internal notes: the authority never sees them."""
    to = [t for t in to if t]
    if not to:
        return
    payload: dict[str, Any] = {"to": to, "subject": subject, "text": text, "automatic": automatic,
                               "attachments": attachments or [], "internal": internal}
    if order is not None:
        payload |= {"order_id": order.id, "tracking_id": order.tracking_id,
                    "in_reply_to": order.source_message_id if reply else None}
    jobs.defer(session=session, now=now, job=SEND_MAIL_JOB, payload=payload)


def queue_webhook(*, session: Session, now: datetime, url: str, body: dict[str, Any]) -> None:
    if url:
        jobs.defer(session=session, now=now, job=WEBHOOK_JOB, payload={"url": url, "body": body})
