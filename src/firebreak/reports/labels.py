"""Words for the victims' pages, marked for translation where they are defined (``N_``) and translated where shown."""

from __future__ import annotations

from firebreak.core.i18n import N_, Translator
from firebreak.reports.mails import DECLINE_REASONS
from firebreak.reports.models import DeclineReason, ReportCategory, ReporterRelation, ReportStatus
from firebreak.reports.schemas import StatusOut, StatusStep

CATEGORIES: list[tuple[str, str]] = [
    (ReportCategory.INTIMATE_IMAGE.value, N_("An intimate picture or video shared without consent")),
    (ReportCategory.SEXUAL_DEEPFAKE.value, N_("A sexual deepfake: a fake or edited picture or video")),
    (ReportCategory.THREAT_TO_SHARE.value, N_("A threat to share an intimate picture or video")),
    (ReportCategory.CSAM.value, N_("Sexual pictures or videos of a child or teenager under 18")),
    (ReportCategory.OTHER.value, N_("Something else of a sexual nature")),
]

RELATIONS: list[tuple[str, str]] = [
    (ReporterRelation.DEPICTED.value, N_("I am the person shown")),
    (ReporterRelation.GUARDIAN.value, N_("I am a parent or guardian of the person shown")),
    (ReporterRelation.REPRESENTATIVE.value,
     N_("I represent the person shown (for example a victim-support centre)")),
]

# Jurisdictions with a deadline of their own are named by Babel in the reader's language; this is the rest.
ELSEWHERE = N_("Somewhere else")

STEP_TITLES = {
    "received": N_("Report received"),
    "in_review": N_("Under review"),
    "removed": N_("Content removed"),
    "copies_removed": N_("Copies removed"),
    "reuploads_blocked": N_("Re-uploads blocked"),
    "declined": N_("Not acted on"),
    "withdrawn": N_("Withdrawn"),
    "hashes_active": N_("Hashes in use"),
    "matches": N_("Possible copies found"),
}

DECLINE_LABELS = {reason.value: DECLINE_REASONS[reason.value] for reason in DeclineReason}


def step_detail(t: Translator, step: StatusStep) -> str | None:
    """The count of a step in words, or None."""
    if step.count is None:
        return None
    n = step.count
    if step.key == "removed":
        return t.ngettext("%(num)d reported message removed", "%(num)d reported messages removed", n)
    if step.key == "copies_removed":
        return t.ngettext("%(num)d copy found and removed", "%(num)d copies found and removed", n)
    if step.key == "reuploads_blocked":
        return t.ngettext("%(num)d attempt to post it again refused", "%(num)d attempts to post it again refused", n)
    if step.key == "hashes_active":
        return t.ngettext("the hashes of %(num)d file", "the hashes of %(num)d files", n)
    if step.key == "matches":
        return t.ngettext("%(num)d possible copy shown to our reviewers", "%(num)d possible copies shown to our "
                          "reviewers", n)
    return None


def summary(t: Translator, view: StatusOut, *, closed: bool, platform: str, deadline: str) -> str:
    """One sentence on where the case stands."""
    if view.status == ReportStatus.IN_REVIEW:
        return t.gettext("Our reviewers are looking at your report. We will decide by %(deadline)s at the latest.",
                         deadline=deadline)
    if view.status == ReportStatus.ACTIONED and not closed:
        return t.gettext("We confirmed your report and are removing the content and its copies.")
    if view.status == ReportStatus.ACTIONED:
        return t.gettext("Done: the content and the copies we found were removed, and re-uploads are refused.")
    if view.status == ReportStatus.DECLINED:
        reason = t.gettext(DECLINE_LABELS.get(view.decline_reason.value if view.decline_reason else "",
                                              DECLINE_LABELS["need_more_information"]))
        return t.gettext("We could not act on this report: %(reason)s. You can send a new report with more "
                         "details.", reason=reason)
    if view.status == ReportStatus.WITHDRAWN:
        return t.gettext("This case was withdrawn. Its hashes are no longer used, and your contact details were "
                         "deleted.")
    if view.status == ReportStatus.HASHES_ACTIVE:
        return t.gettext("Your hashes are in use: any matching file on %(platform)s is shown to our reviewers.",
                         platform=platform)
    return t.gettext("Your report was received.")


__all__ = ["CATEGORIES", "DECLINE_LABELS", "ELSEWHERE", "RELATIONS", "STEP_TITLES", "step_detail", "summary"]
