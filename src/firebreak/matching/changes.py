"""The index change log: a row in ``index_changes`` for every bank entry or media item whose indexed value may
have changed, written in the same transaction as the change.

It is written by a session hook rather than by each service, so that every way a row changes through the ORM
(banks, imports, withdrawals, the rehash job, media ingestion) is logged, whoever wrote it. Writes that bypass the
ORM (bulk SQL, ``COPY``) are not logged: a process picks them up when it next builds its indexes from the database
(``firebreak index rebuild``). The log holds ids only; followers read each row's current state, so the order in
which they see changes does not matter (docs/matching.md, "Many processes").
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import event, insert, inspect
from sqlalchemy.orm import Session

from firebreak.banks.models import BankEntry
from firebreak.matching.models import IndexChange
from firebreak.media.models import Media

BANK = "bank"
MEDIA = "media"
TRIMMED = "trimmed"  # a marker the log's trimmer leaves: item_id = the seq below which changes were deleted
# The fields an index reads: a change to any other field (a note, a counter) is not logged.
ENTRY_FIELDS = ("status", "value", "signal_type", "quality")
MEDIA_FIELDS = ("pdq", "pdq_quality", "pdq_upscaled", "hash_status", "kind")
_WROTE_BANK = "firebreak.matching.wrote_bank_changes"


class BankWrites:
    """Commits in this process that logged bank entry changes. Every IndexSet here follows the log before its next
    lookup after one, so an item banked by this process is matched at once here (other processes: within a
    second)."""

    commits = 0


def _changed(obj: object, fields: Iterable[str]) -> bool:
    attrs = inspect(obj).attrs
    return any(attrs[name].history.has_changes() for name in fields)


@event.listens_for(Session, "after_flush")
def _log_changes(session: Session, _context: object) -> None:
    rows: list[dict[str, object]] = []
    for obj in session.new:
        if isinstance(obj, BankEntry):
            rows.append({"kind": BANK, "item_id": obj.id})
        elif isinstance(obj, Media) and obj.pdq is not None:
            rows.append({"kind": MEDIA, "item_id": obj.id})
    for obj in session.dirty:
        if isinstance(obj, BankEntry) and _changed(obj, ENTRY_FIELDS):
            rows.append({"kind": BANK, "item_id": obj.id})
        elif isinstance(obj, Media) and _changed(obj, MEDIA_FIELDS):
            rows.append({"kind": MEDIA, "item_id": obj.id})
    if rows:
        session.connection().execute(insert(IndexChange), rows)
        if any(r["kind"] == BANK for r in rows):
            session.info[_WROTE_BANK] = True


@event.listens_for(Session, "after_commit")
def _count_bank_writes(session: Session) -> None:
    if session.info.pop(_WROTE_BANK, False):
        BankWrites.commits += 1


@event.listens_for(Session, "after_soft_rollback")
def _forget_bank_writes(session: Session, _previous: object) -> None:
    session.info.pop(_WROTE_BANK, None)


__all__ = ["BANK", "MEDIA", "TRIMMED", "BankWrites"]
