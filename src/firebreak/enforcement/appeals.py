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
from firebreak.platform.models import Chat, PlatformAccount
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
            owner = self._appellant(session, statement, integration_id, account.strip())
            if statement is None or owner is False:
                raise AppealUnknown(f"no decision {puid.strip()[:100]!r} about account {account.strip()[:100]!r} on "
                                    "this platform")
            appeal = due_process.file_appeal(session=session, clock=d.clock, due=d.due, statement=statement,
                                             account_id=owner, text=text, channel=AppealChannel.PLATFORM,
                                             actor=actor)
            session.expunge(appeal)
            return appeal, statement.puid

    @staticmethod
    def _appellant(session: Session, statement: StatementOfReasons | None, integration_id: int,
                   account: str) -> int | None | bool:
        """The account appealing (its id, or None for a chat's administrator Firebreak has not seen post); False
        when the decision is not about them."""
        if statement is None or statement.kind != StatementKind.RESTRICTION:
            return False
        if statement.account_id is not None:
            owner = session.get(PlatformAccount, statement.account_id)
            ok = owner is not None and owner.integration_id == integration_id and owner.external_id == account
            return owner.id if ok and owner is not None else False
        chat = session.get(Chat, statement.chat_id) if statement.chat_id else None
        if chat is None or chat.integration_id != integration_id or account not in (chat.admins or []):
            return False
        return session.scalar(select(PlatformAccount.id).where(PlatformAccount.integration_id == integration_id,
                                                               PlatformAccount.external_id == account))

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
