"""Order jobs: follow an order until it is complete and report back; SLA reminders and escalation; mail."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from firebreak.audit import service as audit
from firebreak.authorities.models import Authority, AuthorityContact
from firebreak.orders import intake, notify, service
from firebreak.orders.models import Channel, MessageDirection, Order
from firebreak.orders.receipts import build_receipt, receipt_text

if TYPE_CHECKING:
    from firebreak.runtime import Runtime


def report_back(runtime: Runtime, session: Session, order: Order, *, final: bool) -> None:
    """Send the receipt by the channel the order came in, and keep it as sent."""
    authority = session.get(Authority, order.authority_id) if order.authority_id else None
    receipt = build_receipt(session=session, clock=runtime.clock, order=order,
                            authority_name=authority.name if authority else "unverified sender")
    order.receipt = receipt.model_dump(mode="json")
    order.reported_back_at = receipt.reported_back_at
    audit.record(session=session, clock=runtime.clock, actor="system:orders", action="order.reported_back",
                 object_type="order", object_id=order.tracking_id,
                 data={"final": final, "status": order.status.value, "totals": receipt.totals})
    recipients: list[str] = []
    if order.channel == Channel.EMAIL and order.sender_address:
        recipients.append(order.sender_address)
    elif order.submitted_by_contact_id:
        contact = session.get(AuthorityContact, order.submitted_by_contact_id)
        if contact is not None:
            recipients.append(contact.email)
    if recipients:
        title = "Receipt" if final else "Interim receipt at the deadline"
        notify.queue_mail(session=session, now=runtime.clock.now(), to=recipients,
                          subject=f"{title}: {order.tracking_id}",
                          text=receipt_text(receipt, runtime.settings.platform_name), order=order,
                          reply=order.channel == Channel.EMAIL,
                          attachments=[{"filename": f"receipt-{order.tracking_id}.json",
                                        "content_type": "application/json",
                                        "data": receipt.model_dump_json(indent=2)}])


def follow(runtime: Runtime, payload: dict[str, Any]) -> None:
    with runtime.transaction() as session:
        order = session.get(Order, int(payload["order_id"]))
        if order is None or order.status not in service.OPEN:
            return
        if service.close_if_final(session=session, clock=runtime.clock, order=order):
            report_back(runtime, session, order, final=True)
            return
        waited = runtime.clock.now() - order.received_at
        service.follow(session=session, clock=runtime.clock, order=order,
                       after=timedelta(seconds=1 if waited < timedelta(minutes=5) else 30))


def sla(runtime: Runtime, payload: dict[str, Any]) -> None:
    """Reminders at 50% and 90% of the time, escalation when overdue (each fires once, restart-safe)."""
    mark = str(payload["mark"])
    now = runtime.clock.now()
    settings = runtime.settings
    with runtime.transaction() as session:
        order = session.get(Order, int(payload["order_id"]))
        if order is None or order.status not in service.OPEN or order.deadline_at is None:
            return
        left = order.deadline_at - now
        if mark in ("50", "90"):
            column = "reminded_50_at" if mark == "50" else "reminded_90_at"
            if getattr(order, column) is not None:
                return
            setattr(order, column, now)
            text = (f"Order {order.tracking_id} ({order.category}) is {mark}% through its time: "
                    f"{_duration(left)} left, deadline {order.deadline_at:%Y-%m-%d %H:%M} UTC, status "
                    f"{order.status.value.replace('_', ' ')}.")
            service.add_message(session=session, clock=runtime.clock, actor="system:sla", order=order,
                                direction=MessageDirection.SYSTEM, channel=order.channel, author="SLA clock",
                                subject=f"{mark}% reminder", body=text)
            notify.queue_mail(session=session, now=now, to=[settings.liaison_email],
                              subject=f"[{mark}%] {order.tracking_id}: {_duration(left)} left", text=text,
                              order=order, reply=False)
            return
        if order.escalated_at is not None:
            return
        order.escalated_at = now
        text = (f"Order {order.tracking_id} ({order.category}) is OVERDUE since "
                f"{order.deadline_at:%Y-%m-%d %H:%M} UTC; status {order.status.value.replace('_', ' ')}.")
        audit.record(session=session, clock=runtime.clock, actor="system:sla", action="order.overdue",
                     object_type="order", object_id=order.tracking_id, data={"deadline": order.deadline_at})
        service.add_message(session=session, clock=runtime.clock, actor="system:sla", order=order,
                            direction=MessageDirection.SYSTEM, channel=order.channel, author="SLA clock",
                            subject="overdue", body=text)
        notify.queue_webhook(session=session, now=now, url=settings.oncall_webhook_url, body={
            "event": "order.overdue", "tracking_id": order.tracking_id, "category": order.category,
            "deadline_at": order.deadline_at.isoformat(), "status": order.status.value})
        notify.queue_mail(session=session, now=now, to=[settings.oncall_email],
                          subject=f"[OVERDUE] {order.tracking_id}", text=text, order=order, reply=False)
        report_back(runtime, session, order, final=False)


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    return f"{sign}{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


def register(runtime: Runtime) -> None:
    runtime.registry.register(service.FOLLOW_JOB, lambda p: follow(runtime, p))
    runtime.registry.register(service.SLA_JOB, lambda p: sla(runtime, p))
    runtime.registry.register(intake.PROCESS_MAIL_JOB, lambda p: intake.process_mail(runtime, p))
    runtime.registry.register(notify.SEND_MAIL_JOB, lambda p: notify.send_mail(runtime, p))
    runtime.registry.register(notify.WEBHOOK_JOB, notify.post_webhook)
