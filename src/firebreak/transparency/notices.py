"""What the affected user reads: a statement of reasons in plain words (DSA Art. 17), and how to appeal.

Every sentence is a plain English string passed through one function, ``translate`` (``Translate``), before its
values are filled in, so catalogs can translate them (the composition root picks a translator for the user's
language; without catalogs it is :func:`english`). A notice names the ground in plain words, the facts relied on,
whether the decision was automated, what it means for the account, and how to appeal. It never names an internal
bank, a moderator or a hash.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from firebreak.core.i18n import N_
from firebreak.transparency.dsa import AutomatedDecision, SourceKind

Translate = Callable[[str], str]
Translations = Callable[[str | None], Translate]  # the user's language (or None) -> its translator


MEDIUM_WORDS = (N_("picture"), N_("video"), N_("file"))  # Notice.medium, translated where it is shown


def english(text: str) -> str:
    return text


def _words(text: str, _: Translate) -> str:
    """A value from the policy (a ground's summary, its law or clause), in the reader's language where the catalogs
    know it. Never the empty string: gettext would answer it with the catalog's header."""
    return _(text) if text else text


def english_only(language: str | None) -> Translate:
    return english


class NoticeKind(enum.StrEnum):
    CONTENT_REMOVED = "content_removed"
    UPLOAD_REFUSED = "upload_refused"
    ACCOUNT_RESTRICTED = "account_restricted"
    ACCOUNT_SUSPENDED = "account_suspended"
    CHAT_SUSPENDED = "chat_suspended"
    DECISION_REVERSED = "decision_reversed"
    APPEAL_REJECTED = "appeal_rejected"
    STANDING_ENDED = "standing_ended"  # a restriction's or suspension's period ended
    DECISION_WITHDRAWN = "decision_withdrawn"  # another person's appeal showed the item it matched was not violating


class Standing(enum.StrEnum):
    """What a decision means for the account, as the notice says it."""

    NONE = "none"  # nothing (an order on a chat, a decision about someone else's content)
    WARNING = "warning"  # this notice is the warning; nothing else happens now
    VIOLATION = "violation"  # after a warning: counts toward a restriction or suspension
    RESTRICTED = "restricted"
    SUSPENDED = "suspended"


@dataclass(frozen=True, kw_only=True)
class Notice:
    kind: NoticeKind
    platform: str
    reference: str  # the statement's puid: quoted in an appeal, no personal data
    summary: str = ""  # the ground in plain words: "an intimate image of a person shared without their consent"
    basis: str = "illegal"  # "illegal" or "terms"
    legal_ground: str = ""  # the law or the clause of the terms
    source: SourceKind = SourceKind.OWN_INITIATIVE
    ordered_item: bool = False  # the very item an authority named (not a copy of it)
    automated_detection: bool = True
    automated_decision: AutomatedDecision = AutomatedDecision.FULLY
    medium: str = "picture"  # picture, video, file
    posted_at: datetime | None = None
    chat_title: str | None = None
    standing: Standing = Standing.NONE
    violations: int = 0  # counted toward restriction and suspension, within the window
    restrict_at: int = 0
    suspend_at: int = 0
    window_days: int = 90
    standing_until: datetime | None = None  # when the restriction or suspension ends (UTC)
    standing_over: bool = False  # ... lifted already, before this notice went out (`restored`: by the platform)
    appeal_url: str | None = None
    appeal_until: date | None = None
    restored: bool | None = None  # reversals: whether the platform could put the content back (or lift it)
    standing_lifted: bool = False  # reversals of an account's or chat's restriction, not of content
    standing_relieved: bool = False  # the reversal took away the basis of the account's restriction: lifted too
    relief_left_to_platform: bool = False  # ... in Firebreak's record; the platform lifts it itself
    standing_holds: str = ""  # "restricted"/"suspended": the account stays so on violations that still count


def _what(n: Notice, _: Translate) -> str:
    where = _(" in “{chat}”").format(chat=n.chat_title) if n.chat_title else ""
    named = _(" “{chat}”").format(chat=n.chat_title) if n.chat_title else ""
    when = _(" posted on {day} (UTC)").format(day=n.posted_at.strftime("%Y-%m-%d")) if n.posted_at else ""
    medium = _words(n.medium, _)
    return {
        NoticeKind.CONTENT_REMOVED: _("{platform} removed your {medium}{when}{where}."),
        NoticeKind.UPLOAD_REFUSED: _("{platform} did not accept your upload of a {medium}{where}."),
        NoticeKind.ACCOUNT_RESTRICTED: _("{platform} restricted your account: you can still send text, but not "
                                         "pictures, videos or files."),
        NoticeKind.ACCOUNT_SUSPENDED: _("{platform} suspended your account: you cannot post."),
        NoticeKind.CHAT_SUSPENDED: _("{platform} suspended the chat{named} that you administer: nobody can post in "
                                     "it. Its messages stay readable."),
        NoticeKind.DECISION_REVERSED: _("{platform} looked at your appeal again and reversed its decision{ref}."),
        NoticeKind.APPEAL_REJECTED: _("{platform} looked at your appeal again and kept its decision{ref}."),
        NoticeKind.DECISION_WITHDRAWN: _("{platform} reversed its decision{ref}: a person found that the content it "
                                         "was based on does not break the rules."),
    }[n.kind].format(platform=n.platform, medium=medium, when=when, where=where, named=named,
                     ref=_(" (reference {reference})").format(reference=n.reference))


def _why(n: Notice, _: Translate) -> str:
    ground, summary = _words(n.legal_ground, _), _words(n.summary, _)
    if n.basis == "terms":
        rule = _("Our terms of service do not allow this ({clause}).").format(clause=ground)
    else:
        rule = _("This is illegal ({law}).").format(law=ground)
    if n.kind in (NoticeKind.ACCOUNT_RESTRICTED, NoticeKind.ACCOUNT_SUSPENDED):
        lead = _("Why: you shared {summary} again after a warning.").format(summary=summary)
    else:
        lead = _("Why: it is {summary}.").format(summary=summary)
    return f"{lead} {rule}"


def _facts(n: Notice, _: Translate) -> str:
    medium = _words(n.medium, _)
    if n.kind in (NoticeKind.ACCOUNT_RESTRICTED, NoticeKind.ACCOUNT_SUSPENDED):
        return _("What we relied on: the content you shared was removed or refused, and you had been warned "
                 "before.")
    if n.kind == NoticeKind.CHAT_SUSPENDED:
        if n.source == SourceKind.AUTHORITY:
            return _("What we relied on: a competent authority ordered action against this chat.")
        return _("What we relied on: content of this kind was shared in the chat, and our team looked at what was "
                 "posted there.")
    if n.source == SourceKind.AUTHORITY:
        if n.ordered_item:
            return _("What we relied on: a competent authority ordered this {medium} removed.").format(medium=medium)
        return _("What we relied on: the {medium} is a copy of one that a competent authority ordered removed."
                 ).format(medium=medium)
    if n.source in (SourceKind.NOTICE, SourceKind.TRUSTED_FLAGGER):
        return _("What we relied on: the {medium} matches one that was reported to us and found to be of this "
                 "kind.").format(medium=medium)
    return _("What we relied on: the {medium} matches one that our team had found to be of this kind."
             ).format(medium=medium)


def _how(n: Notice, _: Translate) -> str:
    if n.automated_decision == AutomatedDecision.FULLY:
        return _("How it was decided: automatically, by comparing it with content already known to be of this kind. "
                 "No person looked at your message before we acted.")
    if n.automated_decision == AutomatedDecision.PARTIALLY:
        return _("How it was decided: it was found automatically, and a member of our trust and safety team "
                 "confirmed the decision.")
    return _("How it was decided: by a member of our trust and safety team.")


def _standing(n: Notice, _: Translate) -> str | None:
    if n.standing == Standing.WARNING:
        return _("What it means for your account: this notice is a warning. Nothing else happens to your account "
                 "now. If you share content like this again, your account can be restricted and then suspended.")
    if n.standing == Standing.VIOLATION:
        parts = [_("What it means for your account: you had been warned before, so this counts against your "
                   "account: {count} time(s) in the last {days} days.").format(count=n.violations, days=n.window_days)]
        if n.restrict_at and n.violations < n.restrict_at:
            parts.append(_("At {count}, your account is restricted.").format(count=n.restrict_at))
        if n.violations < n.suspend_at:
            parts.append(_("At {count}, it is suspended.").format(count=n.suspend_at))
        return " ".join(parts)
    if n.standing_over:
        parts = [_("What it means for your account: this suspension was lifted again shortly after it was put on; "
                   "you can post again.") if n.standing == Standing.SUSPENDED else _(
                   "What it means for your account: this restriction was lifted again shortly after it was put on; "
                   "you can send pictures, videos and files again.")]
        if n.restored is False:
            parts.append(_("{platform} lifts it itself; if it still applies, contact {platform} quoting the "
                           "reference.").format(platform=n.platform))
        parts.append(_("Violations of the last {days} days still count: another one can restrict or suspend your "
                       "account again.").format(days=n.window_days))
        return " ".join(parts)
    if n.standing == Standing.RESTRICTED:
        if n.standing_until is not None:
            return _("What it means for your account: it is restricted until {day} (UTC), and then the restriction "
                     "is lifted. A further violation can suspend it.").format(day=_day(n.standing_until))
        return _("What it means for your account: it is now restricted. A further violation can suspend it.")
    if n.standing == Standing.SUSPENDED:
        if n.standing_until is not None:
            return _("What it means for your account: it is suspended until {day} (UTC), and then the suspension "
                     "is lifted.").format(day=_day(n.standing_until))
        return _("What it means for your account: it is now suspended.")
    return None


def _day(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M")


def _ended(n: Notice, _: Translate) -> str:
    if n.standing == Standing.SUSPENDED:
        lead = _("The suspension of your account on {platform} has ended (reference {reference}): you can post "
                 "again.")
    else:
        lead = _("The restriction of your account on {platform} has ended (reference {reference}): you can send "
                 "pictures, videos and files again.")
    parts = [lead.format(platform=n.platform, reference=n.reference)]
    if n.restored is False:
        parts.append(_("{platform} lifts it itself; if it still applies, contact {platform} quoting the reference."
                       ).format(platform=n.platform))
    parts.append(_("Violations of the last {days} days still count: another one can restrict or suspend your "
                   "account again.").format(days=n.window_days))
    return "\n\n".join(parts)


def _appeal(n: Notice, _: Translate) -> str | None:
    if n.appeal_until is None:
        return None
    if n.appeal_url is None:
        return _("If you think this is a mistake, you can appeal until {day} through {platform}, quoting the "
                 "reference below. A person who did not take this decision will look at it again.").format(
            day=n.appeal_until.isoformat(), platform=n.platform)
    return _("If you think this is a mistake, you can appeal until {day}: {url} . A person who did not take this "
             "decision will look at it again.").format(day=n.appeal_until.isoformat(), url=n.appeal_url)


def _reversal(n: Notice, _: Translate) -> str:
    parts = [_what(n, _)]
    if n.kind in (NoticeKind.DECISION_REVERSED, NoticeKind.DECISION_WITHDRAWN):
        if n.standing_lifted:
            parts.append(_("The restriction is lifted.") if n.restored else _(
                "{platform} lifts the restriction itself; if it still applies, contact {platform} quoting the "
                "reference.").format(platform=n.platform))
        elif n.restored is True:
            parts.append(_("Your content is visible again."))
        elif n.restored is False:
            parts.append(_("This platform cannot put removed content back; you may post it again."))
        parts.append(_("Anything this decision counted against your account is lifted."))
        if n.standing_relieved:
            parts.append(_("The restriction on your account is lifted as well: the violations left no longer reach "
                           "it."))
            if n.relief_left_to_platform:
                parts.append(_("{platform} lifts it itself; if it still applies, contact {platform} quoting the "
                               "reference.").format(platform=n.platform))
        if n.standing_holds == "suspended":
            parts.append(_("Your account stays suspended: other violations still count against it."))
        elif n.standing_holds:
            parts.append(_("Your account stays restricted: other violations still count against it."))
    else:
        parts.append(_("A person who did not take the first decision looked at your appeal and found the decision "
                       "right. This was the final step of our internal complaint handling; you may still turn to a "
                       "certified out-of-court dispute settlement body or to a court."))
    return "\n\n".join(parts)


def notice_text(notice: Notice, translate: Translate = english) -> str:
    """The notice the user reads, in the language of ``translate``."""
    _ = translate
    if notice.kind in (NoticeKind.DECISION_REVERSED, NoticeKind.APPEAL_REJECTED, NoticeKind.DECISION_WITHDRAWN):
        return _reversal(notice, _)
    if notice.kind == NoticeKind.STANDING_ENDED:
        return _ended(notice, _)
    parts = [_what(notice, _), _why(notice, _), _facts(notice, _), _how(notice, _)]
    for optional in (_standing(notice, _), _appeal(notice, _)):
        if optional:
            parts.append(optional)
    parts.append(_("Reference: {reference}").format(reference=notice.reference))
    return "\n\n".join(parts)

