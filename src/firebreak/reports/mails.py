"""The e-mails a person who reported gets, in their language, when they asked for updates.

A mail names the case number and what was done, never the content, the links or the category: an inbox can be read
by someone else. It does not carry the status link either (only its hash is kept); it says where to look up the
case with its number and PIN.
"""

from __future__ import annotations

from typing import Any

from firebreak.core.i18n import N_, Translator
from firebreak.reports.models import DeclineReason

DECLINE_REASONS: dict[str, str] = {
    DeclineReason.NOT_FOUND.value: N_("we could not find the content at the links you sent"),
    DeclineReason.NOT_VIOLATING.value: N_("our reviewers found that the content does not break our rules"),
    DeclineReason.NEED_MORE_INFORMATION.value: N_("we need more information to find or judge the content"),
    DeclineReason.DUPLICATE.value: N_("the same content is already handled under another case"),
}


def update(t: Translator, *, event: str, case_number: str, facts: dict[str, Any], platform: str,
           lookup_url: str) -> tuple[str, str]:
    """Subject and text of one update."""
    case = {"case": case_number, "platform": platform}
    if event == "received":
        subject = t.gettext("[%(platform)s] We received your report %(case)s", **case)
        body = [t.gettext("We received your report. Your case number is %(case)s.", **case),
                t.gettext("Our reviewers look at it and remove what breaks our rules from %(platform)s, with every "
                          "copy we can find. You will get another e-mail when it is decided.", **case)]
    elif event == "hashes_received":
        subject = t.gettext("[%(platform)s] We received your hashes %(case)s", **case)
        body = [t.gettext("We received the hashes (digital fingerprints) of your files. Your case number is "
                          "%(case)s.", **case),
                t.gettext("From now on, any file on %(platform)s that matches them is shown to our reviewers. Your "
                          "files themselves never left your device.", **case)]
    elif event == "confirmed":
        subject = t.gettext("[%(platform)s] We are removing the content of %(case)s", **case)
        body = [t.gettext("We reviewed your report %(case)s and are removing the content now, with every identical "
                          "or near copy we find. Anyone who tries to post it again will be refused.", **case)]
    elif event == "completed":
        removed, copies = int(facts.get("removed", 0)), int(facts.get("copies_removed", 0))
        subject = t.gettext("[%(platform)s] Removal done for %(case)s", **case)
        body = [t.gettext("The removal for your report %(case)s is done.", **case),
                t.ngettext("%(num)d reported message was removed.", "%(num)d reported messages were removed.",
                           removed),
                t.ngettext("%(num)d copy elsewhere was removed.", "%(num)d copies elsewhere were removed.", copies),
                t.gettext("Anyone who tries to post it again will be refused.")]
    elif event == "declined":
        reason = t.gettext(DECLINE_REASONS.get(str(facts.get("reason")), DECLINE_REASONS["need_more_information"]))
        subject = t.gettext("[%(platform)s] About your report %(case)s", **case)
        body = [t.gettext("We could not act on your report %(case)s: %(reason)s.", reason=reason, **case),
                t.gettext("You can send a new report with more details at any time.")]
    elif event == "withdrawn":
        subject = t.gettext("[%(platform)s] Your case %(case)s is withdrawn", **case)
        body = [t.gettext("Your case %(case)s is withdrawn. Its hashes are no longer used to find or refuse "
                          "anything, and your contact details were deleted.", **case),
                t.gettext("This is the last e-mail about this case.")]
        return subject, "\n\n".join(body) + "\n"
    else:
        raise ValueError(f"no mail for the event {event!r}")
    body.append(t.gettext("To see where your case stands, open the status link you were given, or enter your case "
                          "number and PIN at %(url)s.", url=lookup_url))
    body.append(t.gettext("This e-mail says nothing about the content on purpose. If you did not expect it, you can "
                          "ignore it."))
    return subject, "\n\n".join(body) + "\n"


__all__ = ["DECLINE_REASONS", "update"]
