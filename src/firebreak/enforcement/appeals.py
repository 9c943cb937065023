"""Appeals coming in: forwarded by a platform for its user, or from the signed link in a notice.

:class:`Appeals` owns the transaction of a platform's appeal (``from_platform``) and works in the request's for the
public page (``statement_for_link``, ``from_link``). Deciding an appeal is the review queue's "appeal" kind
(``enforcement.reviews.AppealReview``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.core.clock import Clock
from firebreak.core.db.session import Database
from firebreak.enforcement import due_process
from firebreak.enforcement.due_process import DueProcess
from firebreak.platform.models import PlatformAccount
from firebreak.review import service as review
from firebreak.review.models import Appeal, AppealChannel
from firebreak.transparency import service as statements
from firebreak.transparency.models import StatementKind, StatementOfReasons


class AppealUnknown(LookupError):
    """No decision with this reference for this user (said the same way whichever it is)."""


@dataclass(frozen=True)
class AppealsDeps:
    db: Database
    clock: Clock
    due: DueProcess


class Appeals:
    def __init__(self, deps: AppealsDeps) -> None:
        self.deps = deps

    @property
    def window_days(self) -> int:
        return self.deps.due.appeal_window_days

    def from_platform(self, *, integration_id: int, puid: str, account: str, text: str, actor: str
                      ) -> tuple[Appeal, str]:
        """The platform forwards its user's appeal, naming the decision by the reference in the notice."""
        d = self.deps
        with d.db.transaction() as session:
            statement = statements.by_puid(session=session, puid=puid)
            owner = session.get(PlatformAccount, statement.account_id) if statement and statement.account_id else None
            if statement is None or statement.kind != StatementKind.RESTRICTION or owner is None \
                    or owner.integration_id != integration_id or owner.external_id != account.strip():
                raise AppealUnknown(f"no decision {puid.strip()[:100]!r} about account {account.strip()[:100]!r} on "
                                    "this platform")
            appeal = due_process.file_appeal(session=session, clock=d.clock, due=d.due, statement=statement,
                                             account_id=owner.id, text=text, channel=AppealChannel.PLATFORM,
                                             actor=actor)
            session.expunge(appeal)
            return appeal, statement.puid

    def statement_for_link(self, session: Session, token: str) -> StatementOfReasons | None:
        """The decision a signed appeal link is about; None for a link that is not ours (or was altered)."""
        statement_id = due_process.statement_of_token(self.deps.due.appeal_key, token)
        if statement_id is None:
            return None
        statement = statements.get(session=session, statement_id=statement_id)
        return statement if statement is not None and statement.kind == StatementKind.RESTRICTION else None

    def from_link(self, session: Session, statement: StatementOfReasons, text: str) -> Appeal:
        """The user appeals from the page the notice's link opens (no account: the link is the key)."""
        return due_process.file_appeal(session=session, clock=self.deps.clock, due=self.deps.due,
                                       statement=statement, account_id=None, text=text,
                                       channel=AppealChannel.LINK, actor=f"appellant:{statement.account_id}")

    def appeal_of(self, session: Session, statement: StatementOfReasons) -> Appeal | None:
        return review.appeal_of(session=session, statement_id=statement.id)

    def appeal_until(self, statement: StatementOfReasons) -> str | None:
        until = review.appeal_deadline(statement, self.deps.due.appeal_window_days)
        return until.isoformat() if until else None


def appeals_of_account(session: Session, account_id: int) -> list[Appeal]:
    return list(session.scalars(select(Appeal).where(Appeal.appellant_account_id == account_id)))
