"""The takedown desk's use cases: orders in by API, portal and e-mail; follow-up, SLA clock, receipts, mail out.

:class:`OrderDesk` owns the transactions of background work (a mail to process, an order to follow, a reminder due)
and works inside the request's transaction for the routes (``session`` arguments). The rules are in
``orders.service``; reading mail is in ``orders.intake``.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.audit import service as audit
from firebreak.authorities.models import Authority, AuthorityContact
from firebreak.core.blobs import BlobStore
from firebreak.core.clock import Clock
from firebreak.core.config import Settings
from firebreak.core.db.session import Database
from firebreak.core.escalation import time_left
from firebreak.core.i18n import Translator, translator
from firebreak.core.jobs import outbox as jobs
from firebreak.core.jobs.runner import PermanentJobError
from firebreak.evidence.service import RetentionPolicy
from firebreak.mail.dkim import DnsFunc
from firebreak.mail.parse import parse_order_mail
from firebreak.mail.schemas import MailParseError, ParsedMail
from firebreak.mail.send import (
    MailSendError,
    MailTransport,
    OutgoingAttachment,
    OutgoingMail,
    reply_subject,
    subject_with_tracking,
)
from firebreak.mail.smtp import InboundMail
from firebreak.orders import intake, notify, service
from firebreak.orders.models import Channel, MessageDirection, Order, OrderMessage, OrderStatus
from firebreak.orders.receipts import LinkFor, acknowledgement, build_receipt
from firebreak.orders.render import mail_text
from firebreak.orders.schemas import MAX_ITEMS, Acknowledgement, OrderCreate
from firebreak.platform.adapters import AdapterProvider, LinkTarget, MessageLinks
from firebreak.platform.models import PlatformIntegration
from firebreak.signals.decode import DecodeLimits

log = logging.getLogger(__name__)
PROCESS_MAIL_JOB = "orders.process_mail"


@dataclass(frozen=True)
class OrdersDeps:
    db: Database
    clock: Clock
    blobs: BlobStore
    limits: DecodeLimits
    adapters: AdapterProvider
    mailer: MailTransport
    settings: Settings
    dkim_dns: DnsFunc | None = None  # public DNS when None; pinned keys are asked first (intake.dkim_keys)
    retention: RetentionPolicy | None = None  # evidence retention, for preservation requests


class OrderDesk:
    def __init__(self, deps: OrdersDeps) -> None:
        self.deps = deps

    @property
    def platform_name(self) -> str:
        return self.deps.settings.platform_name

    # -- intake -----------------------------------------------------------------------------------------------

    def intake_context(self, session: Session) -> service.IntakeContext:
        integrations = [i for i in session.scalars(select(PlatformIntegration).where(
            PlatformIntegration.is_active.is_(True)).order_by(PlatformIntegration.id))]
        adapters = self.deps.adapters

        def parse_link(url: str) -> tuple[int, LinkTarget] | None:
            for integration in integrations:
                try:
                    target = adapters.for_integration(integration).parse_link(url)
                except Exception:  # a misconfigured adapter must not stop intake
                    log.exception("adapter of %s failed to parse a link", integration.name)
                    continue
                if target is not None:
                    return integration.id, target
            return None

        return service.IntakeContext(clock=self.deps.clock, blobs=self.deps.blobs, limits=self.deps.limits,
                                     parse_link=parse_link, platform_name=self.platform_name,
                                     retention=self.deps.retention)

    def status_url(self, order: Order) -> str | None:
        base = self.deps.settings.public_url.rstrip("/")
        return f"{base}/portal/orders/{order.tracking_id}" if base else None

    def submit(self, *, session: Session, authority: Authority, contact: AuthorityContact | None, channel: Channel,
               data: OrderCreate, actor: str) -> tuple[Order, Acknowledgement]:
        """An order from an authenticated authority (API token or portal login): verified at once.

        Raises ``service.MediaTooLarge`` for a media item over ``max_upload_bytes`` (nothing is stored then)."""
        service.check_media_sizes(data, self.deps.settings.max_upload_bytes)
        now = self.deps.clock.now()
        order = service.create_order(session=session, ctx=self.intake_context(session), actor=actor,
                                     authority=authority, contact=contact, channel=channel, data=data,
                                     received_at=now, verified=True,
                                     sender_address=contact.email if contact else None)
        ack = acknowledgement(order, status_url=self.status_url(order))
        if contact is not None and channel == Channel.PORTAL:
            reader = self.reader(authority)
            notify.queue_mail(session=session, now=now, to=[contact.email],
                              subject=reader.gettext("Order received: %(tracking_id)s", tracking_id=order.tracking_id),
                              text=mail_text("acknowledgement", reader, ack=ack, platform=self.platform_name),
                              order=order, reply=False)
        return order, ack

    def reader(self, authority: Authority | None, *, fallback: str | None = None) -> Translator:
        """The language and time zone an authority reads in (``fallback`` for a sender not yet known)."""
        if authority is None:
            return translator(fallback)
        return translator(authority.language, authority.timezone)

    def verify(self, *, session: Session, actor: str, order: Order, authority: Authority) -> None:
        """A liaison officer verified the sender: the SLA clock starts, and a mail order's sender now gets the full
        acknowledgement (what was found for each item), which it could not have before."""
        unverified_mail = order.status == OrderStatus.RECEIVED and order.channel == Channel.EMAIL
        service.verify(session=session, clock=self.deps.clock, actor=actor, order=order, authority=authority)
        if unverified_mail and order.sender_address:
            reader = self.reader(authority)
            ack = acknowledgement(order, status_url=self.status_url(order))
            notify.queue_mail(session=session, now=self.deps.clock.now(), to=[order.sender_address],
                              subject=self.thread_subject(session, order, reader),
                              text=mail_text("acknowledgement", reader, ack=ack, platform=self.platform_name),
                              order=order)

    def thread_subject(self, session: Session, order: Order, reader: Translator) -> str:
        """The subject of the authority's own mail, so that our replies stay in its thread (``Re: ... [FB-...]``)."""
        subject = session.scalar(select(OrderMessage.subject).where(
            OrderMessage.order_id == order.id, OrderMessage.direction == MessageDirection.FROM_AUTHORITY,
            OrderMessage.subject.is_not(None)).order_by(OrderMessage.id).limit(1))
        return subject or reader.gettext("Your takedown order")

    def link_for(self, session: Session) -> LinkFor:
        """The link a platform shows for a message, where its adapter can say."""
        adapters = self.deps.adapters

        def link(integration_id: int, chat: str, message: str) -> str | None:
            integration = session.get(PlatformIntegration, integration_id)
            if integration is None:
                return None
            try:
                adapter = adapters.for_integration(integration)
            except Exception:  # a misconfigured adapter must not stop a receipt
                log.exception("adapter of %s could not be built", integration.name)
                return None
            return adapter.message_link(chat, message) if isinstance(adapter, MessageLinks) else None

        return link

    def confirm(self, *, session: Session, actor: str, order: Order, declined: dict[int, str] | None = None) -> None:
        service.confirm(session=session, ctx=self.intake_context(session), actor=actor, order=order,
                        declined=declined)

    def receive_mail(self, inbound: InboundMail) -> None:
        """Called by the SMTP listener before it answers 250: keep the mail (encrypted), queue its processing.

        Raising here makes the listener answer 451, so the sending server retries: nothing accepted is lost.
        """
        d = self.deps
        with d.db.transaction() as session:
            key = d.blobs.put(inbound.raw)
            digest = hashlib.sha256(inbound.raw).hexdigest()
            audit.record(session=session, clock=d.clock, actor="system:smtp", action="mail.received",
                         object_type="mail", object_id=digest[:32],
                         data={"from": inbound.envelope_from, "to": list(inbound.envelope_to), "peer": inbound.peer,
                               "bytes": len(inbound.raw), "tls": inbound.tls, "blob": key})
            jobs.defer(session=session, now=d.clock.now(), job=PROCESS_MAIL_JOB,
                       payload={"blob": key, "sha256": digest, "envelope_from": inbound.envelope_from,
                                "peer": inbound.peer, "received_at": inbound.received_at.isoformat()})

    def process_mail(self, payload: dict[str, Any]) -> None:
        d = self.deps
        raw = d.blobs.get(str(payload["blob"]))
        received_at = datetime.fromisoformat(str(payload["received_at"]))
        now = d.clock.now()
        mail_id = str(payload["sha256"])[:32]
        with d.db.transaction() as session:
            try:
                parsed = parse_order_mail(raw)
            except MailParseError as exc:
                audit.record(session=session, clock=d.clock, actor="system:smtp", action="mail.unreadable",
                             object_type="mail", object_id=mail_id, data={"reason": str(exc)})
                return
            if parsed.is_automatic:
                audit.record(session=session, clock=d.clock, actor="system:smtp", action="mail.ignored",
                             object_type="mail", object_id=mail_id,
                             data={"reason": "automatic mail (auto-reply, bounce or list)",
                                   "from": parsed.from_address})
                return
            if parsed.message_id and session.scalar(select(Order.id).where(
                    Order.source_message_id == parsed.message_id, Order.sender_address == parsed.from_address)):
                # The same mail delivered twice (the connection dropped after we stored it): one order only.
                audit.record(session=session, clock=d.clock, actor="system:smtp", action="mail.duplicate",
                             object_type="mail", object_id=mail_id, data={"message_id": parsed.message_id})
                return
            keys = intake.dkim_keys(session=session, at=now, source=d.settings.dkim_key_source, dns=d.dkim_dns)
            sender = intake.check_sender(session=session, raw=raw, parsed=parsed, dnsfunc=keys)
            threaded = intake.thread_order(session, parsed)
            if threaded is not None and threaded.internal:
                self._internal_reply(session, threaded.order, parsed, sender)
                return
            existing = threaded.order if threaded is not None else None
            if existing is not None and (existing.authority_id is None or sender.authority is None
                                         or existing.authority_id == sender.authority.id):
                self._thread_reply(session, existing, parsed, sender)
                return
            items = intake.items_from_mail(parsed)
            if not items or len(items) > MAX_ITEMS:
                problem = ("we found no message link, hash or image/video attachment in it" if not items else
                           f"it names {len(items)} items; one order can hold at most {MAX_ITEMS}: please split it")
                audit.record(session=session, clock=d.clock, actor="system:smtp", action="mail.not_an_order",
                             object_type="mail", object_id=mail_id,
                             data={"reason": problem, "from": parsed.from_address, "blob": payload["blob"]})
                if parsed.from_address:
                    reader = self.reader(sender.authority, fallback=intake.guess_language(parsed))
                    notify.queue_mail(session=session, now=now, to=[parsed.from_address],
                                      subject=reply_subject(parsed.subject or reader.gettext("Your message"), None),
                                      text=mail_text("not_an_order", reader, platform=self.platform_name,
                                                     too_many=bool(items), count=len(items), max_items=MAX_ITEMS))
                return
            try:
                data = OrderCreate(category=parsed.category, legal_basis=parsed.legal_basis,
                                   authority_reference=parsed.authority_reference, free_text=parsed.text[:20000],
                                   requested_action=parsed.requested_action, items=items)
            except ValidationError as exc:
                raise RuntimeError(f"could not build an order from the mail: {exc}") from exc
            order = service.create_order(
                session=session, ctx=self.intake_context(session), actor=f"mail:{parsed.from_address}",
                authority=sender.authority if sender.authenticated else None,
                contact=sender.contact if sender.authenticated else None, channel=Channel.EMAIL, data=data,
                received_at=received_at, verified=sender.authenticated, sender_address=parsed.from_address,
                source_message_id=parsed.message_id,
                sender_authentication={**sender.details, "registered_sender": sender.authenticated,
                                       "verdict": sender.reason, "candidate_authority_id":
                                       sender.authority.id if sender.authority else None,
                                       "warnings": parsed.warnings[:50]})
            service.add_message(session=session, clock=d.clock, actor=f"mail:{parsed.from_address}", order=order,
                                direction=MessageDirection.FROM_AUTHORITY, channel=Channel.EMAIL,
                                author=parsed.from_address or "", subject=parsed.subject,
                                body=parsed.text[:20000], mail_message_id=parsed.message_id)
            if parsed.from_address:
                # The reply keeps the authority's own subject (and its case number) in its mail client's thread.
                # An unverified sender learns nothing about the items: the hotline must not be a way to probe
                # which messages exist on the platform.
                reader = self.reader(sender.authority, fallback=intake.guess_language(parsed))
                if sender.authenticated:
                    text = mail_text("acknowledgement", reader, platform=self.platform_name,
                                     ack=acknowledgement(order, status_url=self.status_url(order)))
                else:
                    text = mail_text("unverified", reader, platform=self.platform_name,
                                     tracking_id=order.tracking_id, received_at=order.received_at)
                notify.queue_mail(session=session, now=now, to=[parsed.from_address],
                                  subject=parsed.subject or reader.gettext("Your takedown order"), text=text,
                                  order=order)

    def _internal_reply(self, session: Session, order: Order, parsed: ParsedMail,
                        sender: intake.SenderCheck) -> None:
        """A reply to an internal alert: kept on the order as an internal note (staff see it in the console), never
        shown or sent to the authority. Staff answer an authority from the console or the API."""
        author = parsed.from_address or "unknown"
        body = parsed.text[:20000]
        if not sender.authenticated:
            body = f"[sender not verified: {sender.reason}]\n\n{body}"
        service.add_message(session=session, clock=self.deps.clock, actor=f"mail:{author}", order=order,
                            direction=MessageDirection.SYSTEM, channel=Channel.EMAIL, author=author,
                            subject=parsed.subject, body=body, mail_message_id=parsed.message_id, internal=True)

    def _thread_reply(self, session: Session, order: Order, parsed: ParsedMail, sender: intake.SenderCheck) -> None:
        author = parsed.from_address or "unknown"
        body = parsed.text[:20000]
        if not sender.authenticated:
            body = f"[sender not verified: {sender.reason}]\n\n{body}"
        service.add_message(session=session, clock=self.deps.clock, actor=f"mail:{author}", order=order,
                            direction=MessageDirection.FROM_AUTHORITY, channel=Channel.EMAIL, author=author,
                            subject=parsed.subject, body=body, mail_message_id=parsed.message_id)
        if self.deps.settings.liaison_email:
            notify.queue_mail(session=session, now=self.deps.clock.now(), to=[self.deps.settings.liaison_email],
                              subject=f"New message on order {order.tracking_id}", text=body, order=order,
                              reply=False, internal=True)

    # -- following an order -----------------------------------------------------------------------------------

    def report_back(self, session: Session, order: Order, *, final: bool) -> None:
        """Send the receipt by the channel the order came in, and keep it as sent."""
        d = self.deps
        now = d.clock.now()
        authority = session.get(Authority, order.authority_id) if order.authority_id else None
        receipt = build_receipt(session=session, clock=d.clock, order=order,
                                authority_name=authority.name if authority else "unverified sender",
                                reported_back_at=now, link_for=self.link_for(session))
        order.receipt = receipt.model_dump(mode="json")
        order.reported_back_at = now
        audit.record(session=session, clock=d.clock, actor="system:orders", action="order.reported_back",
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
            reader = self.reader(authority)
            in_thread = order.channel == Channel.EMAIL
            if in_thread:
                subject = self.thread_subject(session, order, reader)
            elif final:
                subject = reader.gettext("Receipt for order %(tracking_id)s", tracking_id=order.tracking_id)
            else:
                subject = reader.gettext("Interim receipt for order %(tracking_id)s at the deadline",
                                         tracking_id=order.tracking_id)
            notify.queue_mail(session=session, now=now, to=recipients, subject=subject,
                              text=mail_text("receipt", reader, receipt=receipt, platform=self.platform_name,
                                             final=final),
                              order=order, reply=in_thread,
                              attachments=[{"filename": f"receipt-{order.tracking_id}.json",
                                            "content_type": "application/json",
                                            "data": receipt.model_dump_json(indent=2)}])

    def send_message(self, *, session: Session, order: Order, text: str, subject: str | None = None) -> None:
        """A liaison officer's message to the authority, by mail when the order has a mail address to answer."""
        if not order.sender_address:
            return
        authority = session.get(Authority, order.authority_id) if order.authority_id else None
        reader = self.reader(authority)
        in_thread = order.channel == Channel.EMAIL
        if subject is None:
            subject = self.thread_subject(session, order, reader) if in_thread else reader.gettext(
                "Message about order %(tracking_id)s", tracking_id=order.tracking_id)
        notify.queue_mail(session=session, now=self.deps.clock.now(), to=[order.sender_address], subject=subject,
                          text=mail_text("message", reader, body=text, platform=self.platform_name,
                                         tracking_id=order.tracking_id),
                          order=order, reply=in_thread, automatic=False)

    def follow(self, payload: dict[str, Any]) -> None:
        d = self.deps
        with d.db.transaction() as session:
            order = session.get(Order, int(payload["order_id"]))
            if order is None or order.status not in service.OPEN:
                return
            if service.close_if_final(session=session, clock=d.clock, order=order):
                self.report_back(session, order, final=True)
                return
            waited = d.clock.now() - order.received_at
            service.follow(session=session, clock=d.clock, order=order,
                           after=timedelta(seconds=1 if waited < timedelta(minutes=5) else 30))

    def sla(self, payload: dict[str, Any]) -> None:
        """Reminders at 50% and 90% of the time, escalation when overdue (each fires once, restart-safe)."""
        d = self.deps
        mark = str(payload["mark"])
        now = d.clock.now()
        settings = d.settings
        with d.db.transaction() as session:
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
                        f"{time_left(left)} left, deadline {order.deadline_at:%Y-%m-%d %H:%M} UTC, status "
                        f"{order.status.value.replace('_', ' ')}.")
                service.add_message(session=session, clock=d.clock, actor="system:sla", order=order,
                                    direction=MessageDirection.SYSTEM, channel=order.channel, author="SLA clock",
                                    subject=f"{mark}% reminder", body=text, internal=True)
                notify.queue_mail(session=session, now=now, to=[settings.liaison_email],
                                  subject=f"[{mark}%] {order.tracking_id}: {time_left(left)} left", text=text,
                                  order=order, reply=False, internal=True)
                return
            if order.escalated_at is not None:
                return
            order.escalated_at = now
            text = (f"Order {order.tracking_id} ({order.category}) is OVERDUE since "
                    f"{order.deadline_at:%Y-%m-%d %H:%M} UTC; status {order.status.value.replace('_', ' ')}.")
            audit.record(session=session, clock=d.clock, actor="system:sla", action="order.overdue",
                         object_type="order", object_id=order.tracking_id, data={"deadline": order.deadline_at})
            service.add_message(session=session, clock=d.clock, actor="system:sla", order=order,
                                direction=MessageDirection.SYSTEM, channel=order.channel, author="SLA clock",
                                subject="overdue", body=text, internal=True)
            notify.queue_webhook(session=session, now=now, url=settings.oncall_webhook_url, body={
                "event": "order.overdue", "tracking_id": order.tracking_id, "category": order.category,
                "deadline_at": order.deadline_at.isoformat(), "status": order.status.value})
            notify.queue_mail(session=session, now=now, to=[settings.oncall_email],
                              subject=f"[OVERDUE] {order.tracking_id}", text=text, order=order, reply=False,
                              internal=True)
            self.report_back(session, order, final=False)

    # -- mail and webhooks out --------------------------------------------------------------------------------

    def send_mail(self, payload: dict[str, Any]) -> None:
        d = self.deps
        references: list[str] = []
        internal = bool(payload.get("internal", False))
        if payload.get("order_id") and not internal:
            with d.db.sessions() as session:  # the authority's thread only: internal notes never leave
                references = [m for m in session.scalars(
                    select(OrderMessage.mail_message_id).where(OrderMessage.order_id == payload["order_id"],
                                                               OrderMessage.mail_message_id.is_not(None),
                                                               OrderMessage.internal.is_(False))
                    .order_by(OrderMessage.id)) if m]
        attachments = [OutgoingAttachment(filename=a["filename"], content_type=a["content_type"],
                                          data=a["data"].encode()) for a in payload.get("attachments", [])]
        automatic = bool(payload.get("automatic", True))
        if payload.get("in_reply_to"):
            mail = OutgoingMail.reply(to=payload["to"], subject=payload["subject"],
                                      in_reply_to=payload["in_reply_to"], references=references,
                                      text=payload["text"], tracking_id=payload.get("tracking_id"),
                                      attachments=attachments, automatic=automatic)
        else:  # a mail of its own (an alert, a receipt to a portal user): no "Re:", the tracking ID in the subject
            mail = OutgoingMail(to=tuple(payload["to"]),
                                subject=subject_with_tracking(payload["subject"], payload.get("tracking_id")),
                                text=payload["text"], tracking_id=payload.get("tracking_id"),
                                attachments=tuple(attachments), automatic=automatic)
        try:
            message_id = d.mailer.send(mail)
        except MailSendError as exc:
            if exc.retryable:
                raise
            raise PermanentJobError(f"mail to {', '.join(payload['to'])} refused: {exc}") from None
        if payload.get("order_id"):
            with d.db.transaction() as session:
                order = session.get(Order, payload["order_id"])
                if order is not None:
                    service.add_message(session=session, clock=d.clock, actor="system:mail", order=order,
                                        direction=MessageDirection.SYSTEM if payload.get("automatic", True)
                                        else MessageDirection.FROM_PLATFORM, channel=Channel.EMAIL,
                                        author=d.settings.hotline_address, subject=mail.subject,
                                        body=payload["text"], mail_message_id=message_id, internal=internal)


__all__ = ["PROCESS_MAIL_JOB", "OrderDesk", "OrdersDeps"]
