"""The second line of matching in the running system: each new still picture described once, and two copy indexes.

`copydetect` is the pure library (variants, features, the rule for acting). This module keeps what it needs in
the database and in memory:

- **Descriptions.** A job (`COPY_CHECK_JOB`, queued when a new picture is ingested with its bytes kept) decodes the
  picture once and stores its canonical variants' PDQ and its local features (`CopyDescription`); the picture
  itself is never copied anywhere (docs/copy-detection.md, "What is stored").
- **The bank side** (`holds="bank"`): the descriptions of the pictures that active bank entries were made from
  (an order's or a report's media, a confirmed decision's), and the banked videos' vPDQ frames. An upload, or a
  new post, is searched against it. Before each search one cheap query tells whether the banks changed, so every
  process searches the banks as they are.
- **The posted side** (`holds="media"`): every description, followed by id (descriptions are only ever added).
  A newly banked picture is searched against it to find its cropped and captioned copies already posted.

Item ids in both indexes are media ids: on the bank side the banked picture's, on the posted side the post's. The
caller (enforcement) turns a `Decision` into matches, actions and review items.
"""

from __future__ import annotations

import logging
import math
import numbers
import secrets
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, Literal, cast

import cv2
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from firebreak.banks.models import Bank, BankEntry, EntryStatus
from firebreak.banks.service import entry_frames
from firebreak.core.blobs import BlobError, BlobStore
from firebreak.core.clock import Clock
from firebreak.core.keys import KeyRing
from firebreak.matching.copydetect import (
    DEFAULT_POLICY,
    NO_MATCH,
    CopyIndex,
    CopyPolicy,
    Decision,
    Description,
    Evidence,
    describe,
    describe_data,
    planes,
)
from firebreak.matching.models import CopyDescription
from firebreak.matching.video import VideoDecision, VideoIndex, VideoMatch, decide
from firebreak.media.models import HashStatus, Media, MediaKind, MediaSignal
from firebreak.signals.decode import DEFAULT_LIMITS, DecodeLimits
from firebreak.signals.errors import UnhashableMedia
from firebreak.signals.hashing import StillPlanes
from firebreak.signals.keypoints import EXTRACTOR_REVISION, WORKING_SIDE, FeatureSet, VerifyPolicy
from firebreak.signals.pdq import DIHEDRAL_NAMES
from firebreak.signals.vpdq import VpdqFrame

log = logging.getLogger(__name__)

COPY_CHECK_JOB = "matching.copy_check"  # payload {"media_id": id}: describe a new picture, then search the banks
COPY_SIGNAL = "copy"  # a match's signal type when the second line found it
# Descriptions stored by an older extractor described again from their kept bytes, a batch at a time; the cursor
# (payload {"after_id": id}) lives in the job's row.
REDESCRIBE_JOB = "matching.redescribe"
REDESCRIBE_KEY = "matching.redescribe"
_CHUNK = 500
# Descriptions below the posted side's cursor looked at again for late commits (ids, not rows: cheap).
_LATE_WINDOW = 2000


def evidence_data(evidence: Evidence, policy: CopyPolicy = DEFAULT_POLICY) -> dict[str, Any]:
    """A match's evidence as stored (``Match.evidence``) and shown to a moderator; `policy`: the one the index that
    found it judged by (its outline thresholds are stored with the outlines)."""
    data: dict[str, Any] = {"method": evidence.method, "action": evidence.action}
    if evidence.method == "geometric":
        data["plane"] = evidence.plane
    if evidence.distance is not None:
        data.update(distance=evidence.distance, variant=evidence.query_variant,
                    reference_variant=evidence.reference_variant,
                    turn=DIHEDRAL_NAMES[evidence.query_dihedral] if evidence.query_dihedral is not None else None)
    check = evidence.verification
    if check is not None and evidence.banked == "query":
        check = check.reversed()  # stored as an upload's: the post the query, the banked picture the reference
    if check is not None:
        data.update(inliers=check.inliers, coverage_query=round(check.coverage_query, 3),
                    coverage_reference=round(check.coverage_reference, 3), scale=round(check.scale, 3),
                    rotation_degrees=round(check.rotation_degrees, 1), spread=round(check.spread, 3),
                    perspective_pixels=round(check.perspective_pixels, 2),
                    residual_correlation=round(check.residual_correlation, 3),
                    shared_residual_pixels=round(check.shared_residual_pixels, 2),
                    rival_inliers=check.rival_inliers,
                    repeatability=None if check.repeatability is None else round(check.repeatability, 3),
                    matches=check.matches, measured_over="detail")
    if evidence.outlines is not None:
        found, judged = evidence.outlines, policy
        data["outlines"] = {"banked_share": found.banked_share, "part_share": found.part_share,
                            "pixels": found.outline_pixels, "share_needed": judged.outline_share,
                            "part_share_needed": judged.outline_part_share, "pixels_needed": judged.outline_min_pixels}
        if evidence.action == "auto" and check is not None and not check.verified and found.holds(
                judged.outline_share, judged.outline_part_share, judged.outline_min_pixels):
            data["settled_by"] = "outlines"
    if evidence.in_place is not None:
        laid, judged = evidence.in_place, policy
        data["in_place"] = {"banked_share": laid.banked_share, "part_share": laid.part_share,
                            "pixels": laid.outline_pixels, "share_needed": judged.in_place_share,
                            "part_share_needed": judged.in_place_part_share,
                            "pixels_needed": judged.outline_min_pixels}
        if evidence.action == "auto" and "settled_by" not in data and (check is None or not check.verified) \
                and laid.holds(judged.in_place_share, judged.in_place_part_share, judged.outline_min_pixels):
            data["settled_by"] = "outlines in place"
    if evidence.mirror is not None:  # a newly banked picture's match, checked as the post's upload would have been
        data["as_uploaded"] = {"inliers": evidence.mirror.inliers, "verified": evidence.mirror.verified}
    if evidence.rules is not None:
        # The thresholds it was judged by, so that the words for it stay true when the rules change later.
        data["rules"] = {name: _plain(getattr(evidence.rules, name)) for name in _STORED_RULES}
    return data


def _readable(value: object) -> bool:
    """A stored threshold is a finite number, or None (a rule that is off)."""
    if value is None:
        return True
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        return False


def _plain(value: object) -> float | int | None:
    """A threshold as JSON holds it (a policy built with NumPy numbers stores plain ones)."""
    if value is None:
        return None
    if isinstance(value, numbers.Integral):
        return int(value)
    return float(cast(float, value))


# The parts of a plane's rule that `evidence_words` explains a waiting match by.
_STORED_RULES = ("min_inliers", "agreeing_inliers", "agreeing_share", "min_spread", "partial_share", "partial_inside",
                 "max_perspective_pixels", "max_residual_correlation", "min_shared_residual_pixels",
                 "min_repeatability", "min_inlier_share", "max_rival_share", "rival_floor")


def _rules(data: dict[str, Any]) -> VerifyPolicy:
    """The rule a geometric match was judged by: as stored with it, or, for a match recorded before the rules were
    kept (2026-12-06), today's rule for its plane."""
    rules = DEFAULT_POLICY.verify_policy("brightest" if data.get("plane") == "brightest" else "luma")
    stored = data.get("rules")
    if not isinstance(stored, dict):
        return rules
    # Threshold by threshold: one that this version cannot read (not a finite number, or outside what a rule may
    # be today) is explained by today's value, and the others still by their own. The words never fail.
    for name in _STORED_RULES:
        value = stored.get(name)
        if name not in stored or not _readable(value):
            continue
        change: dict[str, Any] = {name: value}
        try:
            rules = replace(rules, **change)
        except (TypeError, ValueError):
            continue
    return rules


def video_evidence(match: VideoMatch, *, banked: Literal["query", "indexed"] = "indexed") -> dict[str, Any]:
    """A video match's evidence; `banked` names the side of the search that was the banked video (the index when
    an upload or a post is checked, the query when a newly banked video searches posted ones)."""
    return {"method": "video", "action": match.action, "contained": match.contained,
            "contained_video": "banked" if match.contained == banked else "posted",
            "aligned_frames": match.aligned_frames, "usable_frames": match.usable_frames, "share": match.share,
            "aligned_seconds": match.aligned_seconds, "usable_seconds": match.usable_seconds,
            "offset_seconds": match.offset_seconds, "start_seconds": match.start_seconds,
            "end_seconds": match.end_seconds}


def _clock_time(seconds: float) -> str:
    whole = max(0, round(seconds))
    return f"{whole // 60}:{whole % 60:02d}"


# How a moderator reads a canonical variant's name (signals.variants).
_VARIANT_WORDS = {"original": "original", "trimmed": "borders-off", "framed": "frame-and-captions-off",
                  "brightest": "brightest-colour-channel (survives a colour change)"}


def evidence_words(data: dict[str, Any] | None) -> str:
    """One line for a moderator: how the second line found the copy."""
    if not data:
        return "found as a copy"
    if data.get("method") == "video":
        if "contained_video" in data:
            part = "the banked video" if data["contained_video"] == "banked" else "this video"
        else:  # recorded before the side was kept: then the query was always the upload or post
            part = "this video" if data.get("contained") == "query" else "the banked video"
        # Seconds, where stored (a banked video has four frames a second); matches recorded before, frames.
        aligned = data.get("aligned_seconds", data.get("aligned_frames"))
        usable = data.get("usable_seconds", data.get("usable_frames"))
        return (f"{aligned} of {usable} seconds of {part} line up in time with "
                f"the other, from {_clock_time(float(data.get('start_seconds') or 0))} to "
                f"{_clock_time(float(data.get('end_seconds') or 0))}"
                + (" (verified)" if data.get("action") == "auto" else " (not enough to act without a person)"))
    if data.get("method") == "geometric" and data.get("settled_by") == "outlines in place":
        return _in_place_words(data) + " (verified)"
    if data.get("method") == "geometric":
        colour = (" of its brightest colour channel (which survives a colour change)"
                  if data.get("plane") == "brightest" else "")
        acted = data.get("action") == "auto"
        rules = _rules(data)
        return (f"the same picture features{colour} in the same layout: {data.get('inliers')} matching points "
                f"under one move-and-scale, covering {round(100 * float(data.get('coverage_reference') or 0))}% of "
                f"the banked picture and {round(100 * float(data.get('coverage_query') or 0))}% of this one"
                # Why a match waits for a person, by the rule it was judged by: never said of one that acted.
                + ("" if acted else _partial_words(data, rules) + _layout_words(data, rules)
                   + _colour_words(data, rules))
                + _outline_words(data) + ("" if acted else _in_place_short_words(data) + _as_uploaded_words(data))
                + (" (verified)" if acted else " (not enough to act without a person)"))
    variant = _VARIANT_WORDS.get(str(data.get("variant") or "original"), str(data.get("variant")))
    reference = _VARIANT_WORDS.get(str(data.get("reference_variant") or "original"), str(data.get("reference_variant")))
    return (f"PDQ of its {variant} version ({data.get('turn') or 'as is'}) within {data.get('distance')} bits of "
            f"the banked picture's {reference} version"
            + ("" if data.get("action") == "auto" else " (a weak match: a person decides)"))


@dataclass(frozen=True, slots=True)
class _Agreed:
    """Stored outline figures (`evidence_data`'s "outlines" or "in_place"), read back for the words."""

    share: float
    parts: float
    pixels: int
    needed: float
    parts_needed: float
    pixels_needed: int

    def said(self) -> str:
        # Rounded down beside the rule: 64.7% is not "65%".
        return (f"{math.floor(100 * self.share)}% of the banked picture's outlines lie on this one's, within a pixel, "
                f"{math.floor(100 * self.parts)}% of them in parts of the picture where the two agree")

    def short(self) -> str:
        """The rules it missed, and only those, in brackets (empty where it missed none)."""
        missed = []
        if self.share < self.needed:
            missed.append(f"a copy repeats at least {math.floor(100 * self.needed)}% of the outlines")
        if self.parts < self.parts_needed:
            missed.append(f"at least {math.floor(100 * self.parts_needed)}% in parts that agree")
        if self.pixels < self.pixels_needed:
            missed.append(f"the banked picture shows at least {self.pixels_needed} outline pixels there "
                          f"(here {self.pixels})")
        return f" ({'; '.join(missed)})" if missed else ""


def _agreed(stored: object, share_needed: float, parts_needed: float) -> _Agreed | None:
    """The figures, or None where they cannot be read (missing, not numbers, not shares): then the words say
    nothing of them rather than a made-up 0%. Rules stored with them win over today's (`share_needed`, ...)."""
    if not isinstance(stored, dict):
        return None
    try:
        read = _Agreed(share=float(stored["banked_share"]), parts=float(stored["part_share"]),
                       pixels=int(stored.get("pixels") or 0),
                       needed=float(stored.get("share_needed") or share_needed),
                       parts_needed=float(stored.get("part_share_needed") or parts_needed),
                       pixels_needed=int(stored.get("pixels_needed") or DEFAULT_POLICY.outline_min_pixels))
    except (KeyError, TypeError, ValueError, OverflowError):
        return None
    shares = (read.share, read.parts, read.needed, read.parts_needed)
    return read if all(math.isfinite(value) and 0.0 <= value <= 1.0 for value in shares) else None


def _outline_words(data: dict[str, Any]) -> str:
    """What the outlines said, where they were asked (a match the points alone did not settle)."""
    agreed = _agreed(data.get("outlines"), DEFAULT_POLICY.outline_share, DEFAULT_POLICY.outline_part_share)
    if agreed is None:
        return ""
    if data.get("settled_by") == "outlines":
        return (f"; the points alone were not enough, but the outlines settle it: {agreed.said()}, as in a copy of "
                f"one flat picture, where a second picture of the same scene has things moved")
    if data.get("action") == "auto":
        return ""
    if not agreed.short() and isinstance(data.get("as_uploaded"), dict):
        return f"; the outlines agree: {agreed.said()}"  # held back by the check the other way round (below)
    return f"; the outlines do not settle it either: {agreed.said()}{agreed.short()}"


def _in_place_words(data: dict[str, Any]) -> str:
    """A copy settled by its outlines laid on the banked picture's frame to frame."""
    agreed = _agreed(data.get("in_place"), DEFAULT_POLICY.in_place_share, DEFAULT_POLICY.in_place_part_share)
    # Unreadable shares: the rule without figures, never made-up ones.
    said = (agreed.said() if agreed is not None
            else "its outlines lie on the banked picture's, within a pixel, as a copy's do")
    return (f"the same picture as it lies: its matching points ({data.get('inliers', 0)}) put it where the banked "
            f"picture lies, and laid on the banked one edge to edge (scaled to its size, nothing moved or turned), "
            f"{said}, as in a copy whose colours were changed or that has a border, caption or sticker added, where "
            f"a second picture of the same scene has things moved; the points alone were not enough")


def _as_uploaded_words(data: dict[str, Any]) -> str:
    """Why a match a newly banked picture found among posts waits, where the check the other way round held it."""
    checked = data.get("as_uploaded")
    if not isinstance(checked, dict):
        return ""
    return ("; checked the other way round too, the post against the banked picture as at its upload, it does not "
            "pass the same rules, and a match found after the fact acts only where both ways agree or the upload's "
            "own check settles it")


def _in_place_short_words(data: dict[str, Any]) -> str:
    """What laying it in place showed, where it was asked (its points put it where the banked picture lies) and a
    person decides: how far its outlines agree, and the rule it missed."""
    agreed = _agreed(data.get("in_place"), DEFAULT_POLICY.in_place_share, DEFAULT_POLICY.in_place_part_share)
    if agreed is None:
        return ""
    return f"; laid on the banked picture edge to edge, where its points put it, {agreed.said()}{agreed.short()}"


def _partial_words(data: dict[str, Any], policy: VerifyPolicy) -> str:
    present, inside = float(data.get("coverage_reference") or 0), float(data.get("coverage_query") or 0)
    if not present or present >= policy.partial_share or inside >= policy.partial_inside:
        return ""
    return (f"; but it shows only part of the banked picture and {round(100 * (1 - inside))}% of it lies outside "
            f"that, as two photographs of one scene that overlap in part would, where a crop lies wholly inside")


def _layout_words(data: dict[str, Any], policy: VerifyPolicy) -> str:
    """Why the layout of the points keeps a match from acting: they lie in one spot, bend away from one flat
    picture, share a displacement with their neighbours (depth), or a second transform carries others (a second
    motion); or the corners do not repeat. Empty when none of these rules refused it."""
    reasons = []
    spread = data.get("spread")  # (absent in matches recorded before it was kept)
    # Since 2026-12-06 both are measured over the part of the picture that has detail (keypoints.verify).
    detail = data.get("measured_over") == "detail"
    if spread is not None and float(spread) < policy.min_spread:
        share = "of the detailed part the two share" if detail else "of what the two share"
        reasons.append(f"the matching points all lie in one small part of the picture ({round(100 * float(spread))}% "
                       f"{share}), as when a second photograph repeats one flat patch of a scene")
    gap = data.get("perspective_pixels")
    if gap is not None and float(gap) > policy.max_perspective_pixels:
        where = " (at the edge of the detailed part)" if detail else ""
        reasons.append(f"the points bend away from one flat picture by {round(float(gap))} px{where}, as a second "
                       f"photograph of the same scene would")
    correlation, shared = data.get("residual_correlation"), data.get("shared_residual_pixels")
    # (absent in matches recorded before this was measured)
    if (correlation is not None and shared is not None and float(correlation) > policy.max_residual_correlation
            and float(shared) >= policy.min_shared_residual_pixels):
        reasons.append(f"neighbouring points are off in the same direction by about {float(shared):.1f} px, as in "
                       f"a second photograph taken from a little aside (depth), not in a copy of one flat picture")
    rival, inliers = data.get("rival_inliers"), data.get("inliers")  # (absent in matches recorded before it was kept)
    if (rival is not None and inliers is not None
            and int(rival) >= max(policy.rival_floor, policy.max_rival_share * int(inliers))):
        reasons.append(f"a second, different move-and-scale carries {int(rival)} other matching points, as when "
                       f"something in the scene moved between two photographs, where a copy moves as one")
    repeatability, matches = data.get("repeatability"), data.get("matches")
    if (repeatability is not None and inliers is not None and matches
            and float(repeatability) < policy.min_repeatability
            and int(inliers) / int(matches) < policy.min_inlier_share):
        reasons.append(f"only {round(100 * float(repeatability))}% of the picture's corners reappear in the other, "
                       f"as in a second photograph of a scene in which things moved, where a copy repeats most of "
                       f"them")
    return "; but " + "; and ".join(reasons) if reasons else ""


def _colour_words(data: dict[str, Any], policy: VerifyPolicy) -> str:
    """Why a match on the brightest colour channel's features waits: it is a second look, and needs more points."""
    inliers, matches = int(data.get("inliers") or 0), int(data.get("matches") or 0)
    if data.get("plane") != "brightest" or policy.enough(inliers, matches):
        return ""
    agree = inliers / matches if matches else 0.0
    fewer = ("" if policy.agreeing_inliers is None else
             f", or {policy.agreeing_inliers} where at least {round(100 * policy.agreeing_share)}% of the paired "
             # Rounded down: 44.7% is not "45%" beside a rule of 45%.
             f"points agree" + (f" (here {math.floor(100 * agree)}%)" if matches else ""))
    return (f"; but a match on the colour channel acts only with {policy.min_inliers} matching points{fewer} "
            f"(it is a second look)")


@dataclass(frozen=True, slots=True)
class CopyFound:
    """One item of a picture's or a video's decision, reduced to what a match records: the item found and the
    strongest evidence for it (automatic evidence first)."""

    item_id: int  # the index's id: a media id (pictures both sides, posted videos), a vPDQ entry id (banked videos)
    action: str  # "auto" or "review"
    distance: int  # PDQ bits for a variant match, 0 for a geometric one
    evidence: dict[str, Any]


def found_in(decision: Decision, policy: CopyPolicy = DEFAULT_POLICY) -> list[CopyFound]:
    """`policy`: the one the searching index judged by (`CopyLine.policy`), stored with any outlines asked."""
    best: dict[int, Evidence] = {}
    for evidence in decision.evidence:
        seen = best.get(evidence.item_id)
        if seen is None or _rank(evidence) > _rank(seen):
            best[evidence.item_id] = evidence
    auto = set(decision.auto_items)
    return [CopyFound(item_id=item, action="auto" if item in auto else "review",
                      distance=best[item].distance or 0,
                      evidence={**evidence_data(best[item], policy), "action": "auto" if item in auto else "review"})
            for item in sorted(best)]


def _rank(evidence: Evidence) -> int:
    """Which evidence a match records: automatic first; then what the points or outlines found before a weak PDQ
    match that only named the candidate (the search marks that one automatic too once they confirm it; for a review
    item, the points' evidence says why it waits, the weak match only "PDQ within N bits")."""
    return 2 * (evidence.action == "auto") + (evidence.method != "pdq-weak")


def describe_bytes(data: bytes, limits: DecodeLimits = DEFAULT_LIMITS) -> Description | None:
    """The description of a still picture's bytes; None for anything else (a video, an undecodable file)."""
    try:
        return describe_data(data, limits)
    except (UnhashableMedia, ValueError):
        return None


def describe_still(still: StillPlanes) -> Description:
    """The description of a still picture from the planes its hashes were computed on (no second decode)."""
    luma, brightest = planes(still.luma, still.brightest)
    return describe(luma, brightest=brightest)


class OutlineSeal:
    """Seals a picture's outlines (`structure.EdgeMap`: a line drawing of it) with AES-256-GCM under the instance's
    ``copy-outlines`` key, bound to its media id, as media are sealed: a stored description holds them only so."""

    PURPOSE = "copy-outlines"
    _NONCE = 12

    def __init__(self, keys: KeyRing) -> None:
        self._aead = AESGCM(keys.derive(self.PURPOSE))

    @staticmethod
    def _bound(media_id: int) -> bytes:
        return f"copy-outlines:{media_id}".encode()

    def seal(self, media_id: int, outlines: bytes) -> bytes:
        nonce = secrets.token_bytes(self._NONCE)
        return nonce + self._aead.encrypt(nonce, outlines, self._bound(media_id))

    def open(self, media_id: int, sealed: bytes) -> bytes | None:
        """The outlines, or None (logged) where they do not open: moved to another row, or sealed under another
        key; the picture then matches by its corners alone."""
        try:
            return self._aead.decrypt(sealed[:self._NONCE], sealed[self._NONCE:], self._bound(media_id))
        except (InvalidTag, ValueError):
            log.warning("copy description of media %s: its outlines do not open; matched by corners alone", media_id)
            return None


@dataclass(frozen=True, slots=True)
class Stored:
    """A description as a copy index takes it (`CopyIndex.add_stored`)."""

    pdq_rows: list[tuple[str, str, int]]
    features: FeatureSet
    brightest: FeatureSet | None
    outlines: bytes | None = None  # `EdgeMap.to_bytes()`, opened

    @classmethod
    def of(cls, description: Description) -> Stored:
        outlines = description.edge_map()
        return cls(description.stored_pdq_rows(), description.features, description.brightest_features,
                   outlines.to_bytes() if outlines is not None else None)

    def add_to(self, index: CopyIndex, item_id: int) -> None:
        index.add_stored(item_id, self.pdq_rows, self.features, self.brightest, self.outlines)


def stored(row: CopyDescription, seal: OutlineSeal | None = None) -> Stored:
    """A row as an index takes it; its outlines opened by `seal` (without one, or without outlines, none)."""
    outlines = seal.open(row.media_id, bytes(row.outlines)) if seal is not None and row.outlines is not None else None
    return Stored([(str(name), str(value), int(quality)) for name, value, quality in row.pdq_rows],
                  FeatureSet.from_bytes(row.features),
                  FeatureSet.from_bytes(row.brightest_features) if row.brightest_features is not None else None,
                  outlines)


def store_description(*, session: Session, clock: Clock, media_id: int, description: Description,
                      seal: OutlineSeal | None = None) -> None:
    """Keep a picture's description (once: a second writer's row is kept, the same picture gives the same rows),
    with its outlines sealed by `seal` (without one, none are kept: the picture matches by its corners alone)."""
    outlines = description.edge_map() if seal is not None else None
    row = CopyDescription(media_id=media_id, width=description.width, height=description.height,
                          pdq_rows=[list(r) for r in description.stored_pdq_rows()],
                          features=description.features.to_bytes(),
                          brightest_features=(description.brightest_features.to_bytes()
                                              if description.brightest_features is not None else None),
                          outlines=(seal.seal(media_id, outlines.to_bytes())
                                    if seal is not None and outlines is not None else None),
                          revision=EXTRACTOR_REVISION, created_at=clock.now())
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        pass  # described by another worker at the same moment


# Revision 4 changed only pictures whose feature frame was under WORKING_SIDE (they are enlarged to it now): a row of
# revision 3 whose frame has that long side described its picture as revision 4 did. Revision 5 keeps the outlines
# (`structure.EdgeMap`), which no older row has: every older row is described again. (The extractor revision this
# holds for, the older revisions it holds for: a later revision must say again what it changed.)
_SAME_AT_FULL_SIZE: tuple[int, frozenset[int]] = (5, frozenset())


def same_as_current(revision: int, features: bytes) -> bool:
    """Whether a row of an older extractor describes its picture as the current one would, so it can be marked
    current without the picture (`promote`). Under revision 4 that was revision 3 of a picture described at
    WORKING_SIDE; under revision 5 no older row is (none has the outlines): every one is described again."""
    current, older = _SAME_AT_FULL_SIZE
    if EXTRACTOR_REVISION != current or revision not in older:
        return False
    try:
        frame = FeatureSet.from_bytes(features)
    except ValueError:
        return False
    return max(frame.width, frame.height) == WORKING_SIDE


@dataclass(frozen=True, slots=True)
class Outdated:
    row_id: int
    media_id: int
    same: bool  # `same_as_current`: marked current, not described again


def outdated(session: Session, *, after_id: int, limit: int) -> list[Outdated]:
    """Descriptions above `after_id` written by an older extractor, in id order."""
    rows = session.execute(select(CopyDescription.id, CopyDescription.media_id, CopyDescription.revision,
                                  CopyDescription.features).where(
        CopyDescription.id > after_id, CopyDescription.revision < EXTRACTOR_REVISION)
        .order_by(CopyDescription.id).limit(limit)).all()
    return [Outdated(int(row_id), int(media_id), same_as_current(int(revision), bytes(features)))
            for row_id, media_id, revision, features in rows]


def promote(session: Session, row_id: int) -> bool:
    """Mark an older row current in place (see `same_as_current`): its id stays, and every process's posted side
    already holds features equal to the current extractor's. False when the row is gone or already current."""
    row = session.get(CopyDescription, row_id)
    if row is None or row.revision >= EXTRACTOR_REVISION:
        return False
    row.revision = EXTRACTOR_REVISION
    # The sets say which extractor made them too (header byte 5): the same features, marked current.
    row.features = replace(FeatureSet.from_bytes(row.features), revision=EXTRACTOR_REVISION).to_bytes()
    if row.brightest_features is not None:
        row.brightest_features = replace(FeatureSet.from_bytes(row.brightest_features),
                                         revision=EXTRACTOR_REVISION).to_bytes()
    return True


def newest_outdated(session: Session) -> int | None:
    """The highest id among descriptions of an older extractor, None when there is none. One index lookup per older
    revision: `revision < n` would walk the table down from its highest id, past every current row."""
    found = [session.scalar(select(func.max(CopyDescription.id)).where(CopyDescription.revision == revision))
             for revision in range(EXTRACTOR_REVISION)]
    return max((int(f) for f in found if f is not None), default=None)


def replace_description(*, session: Session, clock: Clock, row_id: int, description: Description,
                        seal: OutlineSeal | None = None) -> bool:
    """Put a fresh description in place of an outdated row, as a new row: a new id, so every process's posted side
    (which follows ids) takes it up. False when the row is gone or already current (another worker did it)."""
    row = session.get(CopyDescription, row_id)
    if row is None or row.revision >= EXTRACTOR_REVISION:
        return False
    media_id = row.media_id
    session.delete(row)
    session.flush()
    store_description(session=session, clock=clock, media_id=media_id, description=description, seal=seal)
    return True


def describable(media: Media) -> bool:
    return media.kind == MediaKind.IMAGE and media.hash_status == HashStatus.HASHED and bool(media.blob_key)


def checkable(media: Media) -> bool:
    """Whether a new media item gets a copy check: a picture with its bytes kept, or a hashed video (its vPDQ
    frames are stored with it)."""
    return describable(media) or (media.kind == MediaKind.VIDEO and media.hash_status == HashStatus.HASHED)


def found_in_videos(decision: VideoDecision, *, banked: Literal["query", "indexed"] = "indexed") -> list[CopyFound]:
    """A video search's matches as copies found (ids are the index's: bank entries, or posted media); `banked` as
    for `video_evidence`."""
    return [CopyFound(item_id=m.video_id, action=m.action, distance=0, evidence=video_evidence(m, banked=banked))
            for m in decision.matches]


def frames_of(session: Session, media_id: int) -> list[VpdqFrame]:
    """A posted video's stored vPDQ frames (one a second), in order."""
    rows = session.execute(select(MediaSignal.value, MediaSignal.quality, MediaSignal.frame_number,
                                  MediaSignal.timestamp_seconds).where(
        MediaSignal.media_id == media_id, MediaSignal.signal_type == "vpdq")
        .order_by(MediaSignal.timestamp_seconds, MediaSignal.id)).all()
    return [VpdqFrame(int(number or 0), float(at or 0.0), str(value), int(quality or 0))
            for value, quality, number, at in rows]


class CopyLine:
    """The copy indexes of this process (pictures and videos; banked and posted), kept in step with the database."""

    def __init__(self, *, blobs: BlobStore | None, limits: DecodeLimits = DEFAULT_LIMITS,
                 policy: CopyPolicy = DEFAULT_POLICY, enabled: bool = True, keys: KeyRing | None = None) -> None:
        self.blobs, self.limits, self.policy = blobs, limits, policy
        # The outlines are kept only sealed; without the instance's keys none are kept (corners alone decide).
        self.seal = OutlineSeal(keys) if keys is not None else None
        self.enabled = enabled
        if enabled:
            # ORB would otherwise spread one picture over every core; a server runs many requests and jobs at once.
            cv2.setNumThreads(1)
        self._lock = threading.Lock()
        self._bank_seen: tuple[Any, ...] | None = None
        self._waiting = False
        self._posted_cursor = 0
        self._posted_rows: dict[int, int] = {}  # media id -> the description row the posted side holds for it
        self._posted_video_cursor = 0

    # The indexes are made when first needed: an empty one still holds megabytes of tables, and most processes
    # (and tests) never bank a picture. Videos: the bank side holds vPDQ entries by entry id, the posted side
    # videos by media id.

    @cached_property
    def _bank(self) -> CopyIndex:
        return CopyIndex(self.policy, holds="bank")

    @cached_property
    def _posted(self) -> CopyIndex:
        return CopyIndex(self.policy, holds="media")

    @cached_property
    def _bank_videos(self) -> VideoIndex:
        return VideoIndex()

    @cached_property
    def _posted_videos(self) -> VideoIndex:
        return VideoIndex()

    def _made(self, name: str) -> bool:
        return name in self.__dict__

    # -- describing ---------------------------------------------------------------------------------------------

    def read_bytes(self, media: Media) -> bytes | None:
        """A picture's kept bytes (decrypted); None when they are not kept or cannot be read."""
        if not describable(media) or self.blobs is None or media.blob_key is None:
            return None
        try:
            return self.blobs.get(media.blob_key)
        except (BlobError, OSError):
            log.warning("media %s: its kept bytes could not be read; no copy description", media.id)
            return None

    # -- the bank side -------------------------------------------------------------------------------------------

    def _banked_media(self, session: Session) -> set[int]:
        return set(session.scalars(
            select(BankEntry.media_id).distinct().join(Bank, Bank.id == BankEntry.bank_id)
            .join(Media, Media.id == BankEntry.media_id)
            .where(BankEntry.status == EntryStatus.ACTIVE, Bank.enabled.is_(True), BankEntry.media_id.is_not(None),
                   Media.kind == MediaKind.IMAGE)))

    def _bank_version(self, session: Session) -> tuple[Any, ...]:
        """What changes whenever the bank side must: entries added (the newest id) or changing status (the newest
        change), banks switched on or off, and, while a banked picture still waits for its description, new
        descriptions. Each an index lookup (entries are withdrawn, never deleted), so it stays cheap however
        large the banks grow; banks are few."""
        newest = session.scalar(select(func.max(BankEntry.id)))
        changed = session.scalar(select(func.max(BankEntry.status_changed_at)))
        enabled = tuple(session.scalars(select(Bank.id).where(Bank.enabled.is_(True)).order_by(Bank.id)))
        waiting = session.scalar(select(func.max(CopyDescription.id))) if self._waiting else None
        return newest, changed, enabled, waiting

    def refresh_bank(self, session: Session, *, force: bool = False) -> None:
        """Bring the bank side in line with the active entries' pictures and videos, when anything changed."""
        version = self._bank_version(session)
        if not force and version == self._bank_seen:
            return
        with self._lock:
            eligible = self._banked_media(session)
            if eligible or self._made("_bank"):
                for gone in [m for m in self._bank.item_ids() if m not in eligible]:
                    self._bank.remove(gone)
                self._add_rows(session, self._bank, [m for m in eligible if m not in self._bank])
            self._waiting = len(eligible) > (len(self._bank) if self._made("_bank") else 0)  # not described yet
            self._refresh_bank_videos(session)
            self._bank_seen = version

    def _refresh_bank_videos(self, session: Session) -> None:
        active = set(session.scalars(select(BankEntry.id).join(Bank, Bank.id == BankEntry.bank_id).where(
            BankEntry.signal_type == "vpdq", BankEntry.status == EntryStatus.ACTIVE, Bank.enabled.is_(True))))
        if not active and not self._made("_bank_videos"):
            return
        for gone in [e for e in self._bank_videos.item_ids() if e not in active]:
            self._bank_videos.remove(gone)
        new = sorted(e for e in active if e not in self._bank_videos)
        for start in range(0, len(new), _CHUNK):
            for entry_id, value, extra in session.execute(select(BankEntry.id, BankEntry.value, BankEntry.extra).where(
                    BankEntry.id.in_(new[start:start + _CHUNK]))):
                try:
                    self._bank_videos.add(entry_id, entry_frames(value, extra))
                except ValueError:
                    log.warning("bank entry %s: its vPDQ value does not parse; not searched", entry_id)

    def _add_rows(self, session: Session, index: CopyIndex, media_ids: Sequence[int]) -> None:
        for start in range(0, len(media_ids), _CHUNK):
            for row in session.scalars(select(CopyDescription).where(
                    CopyDescription.media_id.in_(media_ids[start:start + _CHUNK]))):
                self._current(session, row).add_to(index, row.media_id)

    def _current(self, session: Session, row: CopyDescription, *, again: bool = True) -> Stored:
        """A stored description, or, when an older extractor made it (`EXTRACTOR_REVISION`) and `again`, the picture
        described again from its kept bytes, so both sides of a search were described alike. The row is left as it
        is: the new description lives in this process (a read must not write; `REDESCRIBE_JOB` rewrites the rows);
        an older row that cannot be described again is used as it stands. The bank side asks again (banked pictures
        are few); the posted side does not (every post: hours at a platform's scale, in every process) and takes
        up each rewritten row by its new id."""
        kept = stored(row, self.seal)
        if not again or row.revision >= EXTRACTOR_REVISION:
            return kept
        media = session.get(Media, row.media_id)
        data = self.read_bytes(media) if media is not None else None
        fresh = describe_bytes(data, self.limits) if data is not None else None
        return kept if fresh is None else Stored.of(fresh)

    def has_references(self, session: Session) -> bool:
        """Whether any banked picture can be searched for (refreshing the bank side when due)."""
        if not self.enabled:
            return False
        self.refresh_bank(session)
        return self._made("_bank") and len(self._bank) > 0

    def has_videos(self, session: Session) -> bool:
        """Whether any banked video (a vPDQ entry) can be searched for."""
        if not self.enabled:
            return False
        self.refresh_bank(session)
        return self._made("_bank_videos") and len(self._bank_videos) > 0

    def search_bank_videos(self, session: Session, frames: Sequence[VpdqFrame], *, force: bool = False,
                           refresh: bool = True) -> VideoDecision:
        """A video (an upload, a new post) against the banked videos: item ids are vPDQ bank entry ids."""
        if not self.enabled or not frames:
            return VideoDecision("none")
        if refresh:
            self.refresh_bank(session, force=force)
        if not self._made("_bank_videos") or not len(self._bank_videos):
            return VideoDecision("none")
        return decide(self._bank_videos.search(frames))

    def refresh_posted_videos(self, session: Session) -> None:
        with self._lock:
            while True:
                ids = list(session.scalars(select(Media.id).where(
                    Media.id > self._posted_video_cursor, Media.kind == MediaKind.VIDEO,
                    Media.hash_status == HashStatus.HASHED).order_by(Media.id).limit(_CHUNK)))
                for media_id in ids:
                    frames = frames_of(session, media_id)
                    if frames:
                        self._posted_videos.add(media_id, frames)
                    self._posted_video_cursor = media_id
                if len(ids) < _CHUNK:
                    return

    def search_posted_videos(self, session: Session, frames: Sequence[VpdqFrame], *,
                             exclude: Iterable[int] = ()) -> VideoDecision:
        """A newly banked video against every video already posted (its copies and the clips cut from it)."""
        if not self.enabled or not frames:
            return VideoDecision("none")
        self.refresh_posted_videos(session)
        left_out = set(exclude)
        if not self._made("_posted_videos"):
            return VideoDecision("none")
        return decide([m for m in self._posted_videos.search(frames) if m.video_id not in left_out])

    def search_bank(self, session: Session, description: Description, *, force: bool = False,
                    refresh: bool = True) -> Decision:
        """A picture (an upload, a new post) against the banked pictures (`refresh=False`: the caller has just
        asked `has_references`)."""
        if not self.enabled:
            return NO_MATCH
        if refresh:
            self.refresh_bank(session, force=force)
        return self._bank.search(description) if self._made("_bank") and len(self._bank) else NO_MATCH

    # -- the posted side -----------------------------------------------------------------------------------------

    def refresh_posted(self, session: Session) -> None:
        """Add the descriptions written since the last look. Ids are handed out when a row is inserted, but
        commits can finish in another order (PostgreSQL, two workers describing at once): a row below the cursor
        may appear after the cursor passed it, so a window below the cursor is looked at again for rows not yet
        held (ids only; a late row is read whole): a post not held at all, or held by another row (the upgrade job
        replaces a post's row by a new one, whose commit may come late too). Without this, a post described at the
        moment a bank entry was being propagated could be missed by both searches."""
        with self._lock:
            posted = self._posted
            late = [media_id for row_id, media_id in session.execute(
                select(CopyDescription.id, CopyDescription.media_id).where(
                    CopyDescription.id > self._posted_cursor - _LATE_WINDOW,
                    CopyDescription.id <= self._posted_cursor))
                if self._posted_rows.get(media_id) != row_id]
            for start in range(0, len(late), _CHUNK):
                for row in session.scalars(select(CopyDescription).where(
                        CopyDescription.media_id.in_(late[start:start + _CHUNK]))):
                    self._current(session, row, again=False).add_to(posted, row.media_id)
                    self._posted_rows[row.media_id] = row.id
            while True:
                rows = list(session.scalars(select(CopyDescription).where(CopyDescription.id > self._posted_cursor)
                                            .order_by(CopyDescription.id).limit(_CHUNK)))
                for row in rows:
                    self._current(session, row, again=False).add_to(self._posted, row.media_id)
                    self._posted_rows[row.media_id] = row.id
                    self._posted_cursor = row.id
                if len(rows) < _CHUNK:
                    return

    def search_posted(self, session: Session, description: Description, *, exclude: Iterable[int] = ()) -> Decision:
        """A newly banked picture against every picture already posted (its copies), leaving out `exclude`."""
        if not self.enabled:
            return NO_MATCH
        self.refresh_posted(session)
        if not self._made("_posted"):
            return NO_MATCH
        return self._posted.search(description, exclude=set(exclude), every=True)
