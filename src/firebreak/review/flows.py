"""The review desk: what the console's review pages do, with the settings they need.

Routes pass the request's session (the request owns the transaction); :class:`ReviewDesk` adds the registered
kinds, the policy, the claim length, the second-moderator rule and the reveal limit, and reads media for previews.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from firebreak.auth.models import Role
from firebreak.core.blobs import BlobError, BlobStore
from firebreak.core.clock import Clock
from firebreak.core.db.session import Database
from firebreak.media.models import Media
from firebreak.review import service
from firebreak.review.models import Decision, ReviewItem
from firebreak.review.registry import ItemView, ReviewKinds
from firebreak.transparency.policy import Policy

REVEAL_SHOWS_FOR = timedelta(minutes=30)  # how long a reveal lets the clear picture be served to its moderator


@dataclass(frozen=True)
class ReviewDeps:
    db: Database
    clock: Clock
    kinds: ReviewKinds
    policy: Policy
    blobs: BlobStore | None
    claim_minutes: int = 15
    reveal_soft_limit: int = 50
    second_for: Sequence[str] = ("suspend_chat",)


class ReviewDesk:
    def __init__(self, deps: ReviewDeps) -> None:
        self.deps = deps

    @property
    def kinds(self) -> ReviewKinds:
        return self.deps.kinds

    @property
    def policy(self) -> Policy:
        return self.deps.policy

    def view(self, session: Session, item: ReviewItem) -> ItemView:
        return self.kinds.get(item.kind).describe(session, item)

    def claim(self, session: Session, item: ReviewItem, *, staff_id: int, role: Role | None,
              version: int | None) -> ReviewItem:
        return service.claim(session=session, clock=self.deps.clock, kinds=self.kinds, item=item, staff_id=staff_id,
                             role=role, minutes=self.deps.claim_minutes, version=version)

    def release(self, session: Session, item: ReviewItem, *, staff_id: int) -> ReviewItem:
        return service.release(session=session, clock=self.deps.clock, item=item, staff_id=staff_id)

    def decide(self, session: Session, item: ReviewItem, *, staff_id: int, role: Role | None,
               request: service.DecisionRequest) -> Decision:
        return service.decide(session=session, clock=self.deps.clock, kinds=self.kinds, policy=self.policy,
                              item=item, staff_id=staff_id, role=role, request=request,
                              second_for=self.deps.second_for)

    def second(self, session: Session, item: ReviewItem, *, staff_id: int, role: Role | None, approve: bool,
               version: int | None, note: str = "") -> Decision:
        return service.second(session=session, clock=self.deps.clock, kinds=self.kinds, policy=self.policy,
                              item=item, staff_id=staff_id, role=role, approve=approve, version=version, note=note)

    def reveal(self, session: Session, item: ReviewItem, *, staff_id: int, media_id: int) -> int:
        if media_id not in self.preview_ids(session, item):
            raise service.Invalid("That picture is not part of this item.")
        return service.reveal(session=session, clock=self.deps.clock, item=item, staff_id=staff_id,
                              media_id=media_id)

    def reveals_today(self, session: Session, staff_id: int) -> int:
        return service.reveals_on(session=session, staff_id=staff_id, day=self.deps.clock.now().date())

    def revealed(self, session: Session, item: ReviewItem, staff_id: int) -> set[int]:
        return service.revealed(session=session, item=item, staff_id=staff_id,
                                since=self.deps.clock.now() - REVEAL_SHOWS_FOR)

    def preview_ids(self, session: Session, item: ReviewItem) -> set[int]:
        return {p.media_id for section in self.view(session, item).sections for p in section.previews}

    def media_bytes(self, session: Session, media_id: int) -> tuple[bytes, Media] | None:
        """The stored file of a media item (None when Firebreak kept no copy of it)."""
        media = session.get(Media, media_id)
        if media is None or not media.blob_key or self.deps.blobs is None:
            return None
        try:
            return self.deps.blobs.get(media.blob_key), media
        except BlobError:
            return None
