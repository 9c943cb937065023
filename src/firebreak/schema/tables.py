"""Imports every domain's tables, so metadata (and Alembic) sees the whole model."""

import firebreak.integrations.sandbox.models  # noqa: F401  (the sandbox messenger's own sandbox_* tables)
import firebreak.matching.changes  # noqa: F401  (logs index changes in every transaction that makes one)
from firebreak.audit.models import AuditEvent
from firebreak.auth.models import ApiCredential, StaffUser
from firebreak.authorities.models import Authority, AuthorityContact, AuthorityDkimKey
from firebreak.banks.models import Bank, BankEntry, UploadRefusal, UploadRefusalEntry
from firebreak.cases.models import Case
from firebreak.core.db.base import Base
from firebreak.core.jobs.models import ScheduledTask, WorkerProcess
from firebreak.enforcement.models import AccountConduct, Action, Propagation, RefusedUpload
from firebreak.evidence.models import EvidenceMedia, EvidencePurge, EvidenceRecord, LegalHold
from firebreak.matching.models import IndexChange, Match
from firebreak.media.models import Media, MediaSignal, Placement
from firebreak.orders.models import Order, OrderItem, OrderMessage
from firebreak.platform.models import Chat, PlatformAccount, PlatformIntegration, SeenSignature
from firebreak.reports.models import VictimRateLimit, VictimReport, VictimReportItem
from firebreak.review.models import Appeal, Decision, Reveal, ReviewItem
from firebreak.transparency.models import StatementOfReasons, StatementSubmission
from firebreak.web.models import EndedSession, LoginThrottle

__all__ = [
    "AccountConduct", "Action", "ApiCredential", "Appeal", "AuditEvent", "Authority", "AuthorityContact",
    "AuthorityDkimKey", "Bank", "BankEntry", "Base", "Case", "Chat", "Decision", "EndedSession", "EvidenceMedia",
    "EvidencePurge", "EvidenceRecord", "IndexChange", "LegalHold", "LoginThrottle", "Match", "Media", "MediaSignal",
    "Order", "OrderItem", "OrderMessage", "PlatformAccount", "PlatformIntegration", "Placement", "Propagation",
    "RefusedUpload", "ReviewItem", "Reveal", "ScheduledTask", "StaffUser", "SeenSignature", "StatementOfReasons",
    "StatementSubmission", "UploadRefusal", "UploadRefusalEntry", "VictimRateLimit", "VictimReport",
    "VictimReportItem", "WorkerProcess",
]
