"""Telling people: acknowledgements, receipts, thread messages and SLA alerts, by mail or webhook.

Outgoing mail is a job (a row): if the mail server is down it is retried, and nothing is lost.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy.orm import Session

from firebreak.jobs import service as jobs
from firebreak.jobs.queue import PermanentJobError
from firebreak.orders.models import Channel, MessageDirection, Order, OrderMessage

if TYPE_CHECKING:
    from firebreak.runtime import Runtime

SEND_MAIL_JOB = "mail.send"
WEBHOOK_JOB = "orders.webhook"


def queue_mail(*, session: Session, now: datetime, to: list[str], subject: str, text: str,
               order: Order | None = None, reply: bool = True, attachments: list[dict[str, str]] | None = None,
               automatic: bool = True) -> None:
    """Send a mail after commit. With ``order``, it threads under the order's original mail and carries the
    tracking ID; the sent Message-ID is stored in the order's thread so that replies find the order."""
    to = [t for t in to if t]
    if not to:
        return
    payload: dict[str, Any] = {"to": to, "subject": subject, "text": text, "automatic": automatic,
                               "attachments": attachments or []}
    if order is not None:
        payload |= {"order_id": order.id, "tracking_id": order.tracking_id,
                    "in_reply_to": order.source_message_id if reply else None}
    jobs.defer(session=session, now=now, job=SEND_MAIL_JOB, payload=payload)


def queue_webhook(*, session: Session, now: datetime, url: str, body: dict[str, Any]) -> None:
    if url:
        jobs.defer(session=session, now=now, job=WEBHOOK_JOB, payload={"url": url, "body": body})


def send_mail(runtime: Runtime, payload: dict[str, Any]) -> None:
    from firebreak.mail.send import Mailer, MailSendError, OutgoingAttachment, OutgoingMail
    from firebreak.orders.service import add_message

    s = runtime.settings
    mailer = Mailer(s.outgoing_smtp_host, s.outgoing_smtp_port, s.hotline_address,
                    starttls=s.outgoing_smtp_starttls, from_name=f"{s.platform_name} takedown desk")
    references: list[str] = []
    if payload.get("order_id"):
        with runtime.sessions() as session:
            from sqlalchemy import select

            references = [m for m in session.scalars(
                select(OrderMessage.mail_message_id).where(OrderMessage.order_id == payload["order_id"],
                                                           OrderMessage.mail_message_id.is_not(None))
                .order_by(OrderMessage.id)) if m]
    attachments = [OutgoingAttachment(filename=a["filename"], content_type=a["content_type"],
                                      data=a["data"].encode()) for a in payload.get("attachments", [])]
    mail = OutgoingMail.reply(to=payload["to"], subject=payload["subject"], in_reply_to=payload.get("in_reply_to"),
                              references=references, text=payload["text"], tracking_id=payload.get("tracking_id"),
                              attachments=attachments, automatic=bool(payload.get("automatic", True)))
    try:
        message_id = mailer.send(mail)
    except MailSendError as exc:
        if exc.retryable:
            raise
        raise PermanentJobError(f"mail to {', '.join(payload['to'])} refused: {exc}") from None
    if payload.get("order_id"):
        with runtime.transaction() as session:
            order = session.get(Order, payload["order_id"])
            if order is not None:
                add_message(session=session, clock=runtime.clock, actor="system:mail", order=order,
                            direction=MessageDirection.SYSTEM if payload.get("automatic", True)
                            else MessageDirection.FROM_PLATFORM, channel=Channel.EMAIL,
                            author=s.hotline_address, subject=mail.subject, body=payload["text"],
                            mail_message_id=message_id)


def post_webhook(payload: dict[str, Any]) -> None:
    try:
        response = httpx.post(payload["url"], content=json.dumps(payload["body"]), timeout=10,
                              headers={"Content-Type": "application/json"})
    except httpx.HTTPError as exc:
        raise RuntimeError(f"webhook unreachable: {exc}") from None
    if response.status_code >= 500 or response.status_code == 429:
        raise RuntimeError(f"webhook answered {response.status_code}")
    if response.status_code >= 400:
        raise PermanentJobError(f"webhook refused the escalation: HTTP {response.status_code}")
