"""Enforcement's kinds of review item, registered in the composition root."""

from __future__ import annotations

from firebreak.enforcement.appeal_review import AppealKind
from firebreak.enforcement.reviews import ChatActionKind, MatchReviewKind, ReviewDeps
from firebreak.enforcement.user_reports import UserReportKind
from firebreak.review.registry import ReviewKinds


def register(kinds: ReviewKinds, deps: ReviewDeps) -> None:
    for kind in (MatchReviewKind(deps), ChatActionKind(deps), AppealKind(deps), UserReportKind(deps)):
        kinds.register(kind)
