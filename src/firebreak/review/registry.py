"""What each kind of review item is, shows and does when decided: a typed registry of handlers.

The review domain knows no domain above it. A domain that puts items into the queue (``review.service.enqueue``)
registers a :class:`ReviewKind` for them in the composition root: orders the order review, enforcement the match
review, the chat action and the appeal. A handler says who may decide, which choices there are, what the item
page shows (:class:`ItemView`: facts, tables, media previews, form fields), and applies a decision inside the
caller's transaction. docs/review.md shows how to add a kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Protocol, runtime_checkable

from sqlalchemy.orm import Session

from firebreak.auth.models import Role
from firebreak.review.models import Decision, DecisionOutcome, ReviewItem
from firebreak.transparency.policy import Ground


class DecisionRefused(Exception):
    """The decision cannot be applied (the subject changed meanwhile, an input is missing); the message says why."""


@dataclass(frozen=True)
class Choice:
    key: str  # stable: stored in decisions.choice
    label: str  # the button, for a moderator
    outcome: DecisionOutcome
    restrictive: bool = False  # restricts content, an account or a chat: needs a policy ground
    impact: str | None = None  # a high-impact decision (see the setting second_moderator_for)
    hint: str = ""  # what applying it does, in words


@dataclass(frozen=True)
class Fact:
    label: str
    value: str
    href: str | None = None
    warn: bool = False  # shown as a warning (an unverified signature, a body changed after signing, ...)


@dataclass(frozen=True)
class Preview:
    """A media item the moderator may look at: blurred and greyscale until revealed."""

    media_id: int
    caption: str
    kind: str = "image"  # image, video, other


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Section:
    title: str
    facts: tuple[Fact, ...] = ()
    previews: tuple[Preview, ...] = ()
    table: Table | None = None
    note: str | None = None


@dataclass(frozen=True)
class Field:
    """A form field a choice needs (an order review asks which authority sent it)."""

    name: str
    label: str
    options: tuple[tuple[str, str], ...] = ()  # (value, label); empty: free text
    selected: str | None = None
    for_choices: tuple[str, ...] = ()  # the choices that read it; empty: all


@dataclass(frozen=True)
class ItemView:
    summary: str
    sections: tuple[Section, ...] = ()
    fields: tuple[Field, ...] = ()
    ground: str | None = None  # the ground proposed for a restrictive choice (a policy ground's name)


@dataclass(frozen=True)
class Applied:
    """A decision being applied, as its handler gets it."""

    decision: Decision  # the stored row (its id is set); the handler may fill media_id, match_id, ...
    choice: Choice
    ground: Ground | None  # for restrictive choices
    note: str
    inputs: Mapping[str, str] = field(default_factory=dict)
    staff_id: int = 0
    second_staff_id: int | None = None
    actor: str = ""


@runtime_checkable
class ReviewKind(Protocol):
    """One kind of review item. ``name`` is a storage key (``review_items.kind``): never rename one."""

    name: ClassVar[str]
    label: ClassVar[str]  # for filters: "Bank match", "Order", "Appeal", ...
    deciders: ClassVar[tuple[Role, ...]]  # who may decide items of this kind

    def choices(self, session: Session, item: ReviewItem) -> list[Choice]: ...

    def describe(self, session: Session, item: ReviewItem) -> ItemView: ...

    def apply(self, session: Session, item: ReviewItem, applied: Applied) -> str:
        """Carry the decision out in the caller's transaction; return what was done, in words.

        Raise DecisionRefused when it cannot be done: nothing of the decision is kept.
        """
        ...


class UnknownKind(LookupError):
    pass


class ReviewKinds:
    """The registered kinds, by name (filled once in the composition root)."""

    def __init__(self) -> None:
        self._kinds: dict[str, ReviewKind] = {}

    def register(self, kind: ReviewKind) -> None:
        if kind.name in self._kinds:
            raise ValueError(f"review kind {kind.name!r} registered twice")
        self._kinds[kind.name] = kind

    def get(self, name: str) -> ReviewKind:
        try:
            return self._kinds[name]
        except KeyError:
            raise UnknownKind(f"no review kind {name!r} is registered") from None

    def __contains__(self, name: object) -> bool:
        return name in self._kinds

    def all(self) -> list[ReviewKind]:
        return list(self._kinds.values())
