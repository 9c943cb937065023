"""The second line of matching: canonical variants and verified local features, behind the hashes.

The first line (exact hashes, PDQ with its eight rotations and mirrors) stays as it is and answers first.
This module is what runs after it, for an upload the first line did not settle, and, the other way round,
for a newly banked item looking for copies already posted. It is a pure library: no database, no clock, no
configuration read; the caller keeps what `describe` returns and rebuilds a `CopyIndex` from it.

    reference = describe(luma)               # bank side: what to store per item (variants' PDQ + features)
    index = CopyIndex()
    index.add(item_id, reference)
    decision = index.search(describe(luma))  # upload side: Decision(kind="auto" | "review" | "none", ...)

The rule for acting (issue #14): **automatic action only** on a PDQ match within the bank's distance (31 bits,
both hashes of quality >= 50) of some canonical variant, or on a geometric match that `keypoints.verify`
accepts (enough inliers under one similarity transform, both pictures overlapping enough). Everything
weaker goes to review with its evidence: a PDQ match involving a low-quality hash, or through a rotation or
mirror at more than `turned_distance` bits, that the features could not confirm; a geometric match with too
few inliers or too little overlap (a crop beyond the verified range). docs/copy-detection.md has the
measurements behind every threshold.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import numpy.typing as npt

from firebreak.matching._hamming import best_item_votes
from firebreak.matching.index import HammingIndex
from firebreak.signals.base import ContentKind
from firebreak.signals.decode import DEFAULT_LIMITS, DecodeLimits, luma_8bit, open_media
from firebreak.signals.keypoints import (
    DEFAULT_VERIFY_POLICY,
    FeatureSet,
    Verification,
    VerifyPolicy,
    features_of_plane,
    verify,
    working_plane,
)
from firebreak.signals.pdq import PDQ_MATCH_DISTANCE, PDQ_MIN_QUALITY, PDQ_TURNED_MATCH_DISTANCE
from firebreak.signals.structure import Agreement, EdgeMap, InPlace, agreement
from firebreak.signals.variants import VARIANT_NAMES, Box, Variant, canonical_variants, crop_luma

__all__ = [
    "DEFAULT_POLICY",
    "CopyIndex",
    "CopyIndexStats",
    "CopyPolicy",
    "Decision",
    "DecisionKind",
    "Description",
    "Evidence",
    "NO_MATCH",
    "decode_luma",
    "decode_planes",
    "planes",
    "describe",
    "describe_data",
    "feature_box",
]

Luma = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]
DecisionKind = Literal["auto", "review", "none"]
Method = Literal["pdq-variant", "pdq-weak", "geometric"]
# Which plane a geometric match was found on: the luma, or a colour picture's brightest channel (a hue change
# keeps it, and changes the luma: `Description.brightest_features`).
Plane = Literal["luma", "brightest"]


@dataclass(frozen=True, slots=True)
class Description:
    """What the second line knows about one picture; the same for a banked item and for an upload.

    A bank stores `variants` (one PDQ row per variant: name, hash, quality), `features.to_bytes()` and, for a
    colour picture, `brightest_features.to_bytes()`; an upload's description is used once and thrown away.
    """

    width: int
    height: int
    variants: tuple[Variant, ...]  # original first; each with its eight rotations and mirrors
    features: FeatureSet  # of the most framed variant's picture (captions and borders off)
    feature_box: Box
    # A colour picture's second, smaller set, taken from the same box on its brightest channel, max(R, G, B). A hue
    # change (HSV's or HSL's) keeps that channel and moves the luma: a recoloured copy that was cropped as well
    # has neither its PDQ nor its luma features left, only these (docs/copy-detection.md, "Colour changes").
    # None for a grey picture, whose brightest channel is its luma.
    brightest_features: FeatureSet | None = None
    # The working plane the luma features were taken from (`keypoints.working_plane` of the feature box): an
    # upload's outlines are read from it (`structure.agreement`), a stored picture's from `edge_map()`. Not stored.
    plane: Luma | None = field(default=None, compare=False, repr=False)

    def edge_map(self) -> EdgeMap | None:
        """The outlines a copy line keeps for this picture (sealed: a line drawing of it); None without a plane."""
        return EdgeMap.of_plane(self.plane) if self.plane is not None and self.plane.size else None

    def stored_pdq_rows(self) -> list[tuple[str, str, int]]:
        """The PDQ rows a bank keeps for this picture: (variant name, PDQ hex, quality), no rotations."""
        return [(variant.name, variant.pdq.value, variant.quality) for variant in self.variants]


def decode_luma(data: bytes, limits: DecodeLimits = DEFAULT_LIMITS) -> Luma:
    """The luma plane of a still picture at its decoded size (EXIF orientation applied), through the same
    checked decoder as the hashes (`decode.open_media`). Raises UnhashableMedia, or ValueError for a video."""
    with open_media(data, limits) as media:
        if media.kind is not ContentKind.IMAGE:
            raise ValueError(f"decode_luma takes a still picture, not a {media.kind.value}")
        (frame,) = media.frames(side=None)
        # Full-size float luma (as the PDQ reference computes it): features and variants work on 8 bits.
        return luma_8bit(frame.luma)


def decode_planes(data: bytes, limits: DecodeLimits = DEFAULT_LIMITS) -> tuple[Luma, Luma | None]:
    """A still picture's luma plane and, for a colour picture, its brightest-channel plane (`decode_luma`); None
    for a grey one."""
    with open_media(data, limits) as media:
        if media.kind is not ContentKind.IMAGE:
            raise ValueError(f"decode_planes takes a still picture, not a {media.kind.value}")
        (frame,) = media.frames(side=None)
        luma = frame.luma
        brightest = media.brightest()
    return planes(luma, brightest)


def planes(luma: npt.NDArray[np.uint8] | npt.NDArray[np.float32], brightest: Luma | None) -> tuple[Luma, Luma | None]:
    """The planes `describe` takes, from a picture's decoded luma (8-bit, or full-size float as PDQ hashes it:
    `hashing.hash_with_planes` hands over the planes it hashed) and its brightest channel."""
    plane = luma_8bit(luma)
    if brightest is not None and float(np.mean(brightest, dtype=np.float64)) - float(
        np.mean(plane, dtype=np.float64)
    ) < _GREY_GAP:
        brightest = None  # a grey picture stored as colour: its brightest channel only repeats the luma
    return plane, brightest


# The brightest channel of a colour picture is above its luma wherever it has colour; this little on average
# (grey levels) means a grey picture, whatever its file says.
_GREY_GAP = 2.0


def describe_data(data: bytes, limits: DecodeLimits = DEFAULT_LIMITS) -> Description:
    """`describe` of a still picture's bytes, with its brightest-channel variant when it has colour. Raises
    UnhashableMedia for a file that does not decode, ValueError for a video."""
    luma, brightest = decode_planes(data, limits)
    return describe(luma, brightest=brightest)


def describe(luma: Luma, *, brightest: Luma | None = None, features: bool = True) -> Description:
    """Canonical variants and local features of a luma plane (2-D uint8, aspect ratio as displayed).

    `brightest`: the colour picture's max(R, G, B) plane, for the variant and the features a hue change keeps
    (`decode_planes`). `features=False` skips the keypoints (about half the cost) for the cheap variant-only lookup.
    """
    variants = tuple(canonical_variants(luma, brightest))
    box = feature_box(variants)
    if not features:
        return Description(luma.shape[1], luma.shape[0], variants, _NO_FEATURES, box)
    plane = working_plane(crop_luma(luma, box))
    luma_set = _in_picture(features_of_plane(plane), box, luma.shape)
    brightest_set = None
    if brightest is not None:
        brightest_set = _in_picture(features_of_plane(working_plane(crop_luma(brightest, box)),
                                                      max_keypoints=BRIGHTEST_KEYPOINTS), box, luma.shape)
    return Description(luma.shape[1], luma.shape[0], variants, luma_set, box, brightest_set, plane)


# Keypoints of the brightest-channel set, as many as the luma set's. On the bench's hue +60 + crop + JPEG q50
# copies (1,000 sources): 0.952 with 300, 0.975 with 600 (300 on uploads and 600 banked: 0.959). Each costs 36
# bytes stored; the time the 300 more cost an upload (about 5 ms) the compiled vote paid for (12 ms saved:
# docs/copy-detection.md, "Colour changes").
BRIGHTEST_KEYPOINTS = 600


def _in_picture(feature_set: FeatureSet, box: Box, shape: tuple[int, ...]) -> FeatureSet:
    """The set with the whole picture's extent in its frame, so coverage is measured on whole pictures
    (keypoints.verify)."""
    height, width = shape[:2]
    scale = feature_set.width / box.width
    return replace(feature_set, extent=(
        math.floor(-box.left * scale), math.floor(-box.top * scale),
        math.ceil((width - box.left) * scale), math.ceil((height - box.top) * scale)))


def feature_box(variants: Sequence[Variant]) -> Box:
    """Where the features are taken from: the picture with uniform margins off (``trimmed``), or, when frame
    bands take most of it (a phone screenshot: status bar, title bar, buttons, caption), the ``framed`` picture.

    Not ``framed`` always: a band cut that takes a flat strip of the picture with it on one side and not on
    the other changes how much of each picture the other covers, which the geometric rule measures, and a
    caption bar's text costs only a few keypoints (the grid spreading keeps it from costing more). But in a
    screenshot the picture is a third of the screen: scaled to the working side with its frame it kept too few
    keypoints to verify (screenshots: recall 0.97).
    """
    trimmed = next((v.box for v in variants if v.name == "trimmed"), variants[0].box)
    framed = next((v.box for v in variants if v.name == "framed"), None)
    if framed is not None and framed.width * framed.height < _FRAME_SHARE * trimmed.width * trimmed.height:
        return framed
    return trimmed


# The framed picture is used for features when it is under this share of the trimmed one.
_FRAME_SHARE = 0.6
_NO_FEATURES = FeatureSet(1, 1, np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8))


@dataclass(frozen=True, slots=True)
class CopyPolicy:
    """Thresholds of the second line. The defaults are the measured operating point (docs/copy-detection.md)."""

    pdq_distance: int = PDQ_MATCH_DISTANCE  # a variant's PDQ within this of a banked variant: automatic
    min_quality: int = PDQ_MIN_QUALITY  # ... when both hashes are at least this good
    # Low-quality pictures (flat, little detail) match noise at 31 bits, so they need a closer PDQ, and then
    # either the features confirm (automatic) or a person looks (review).
    low_quality_distance: int = 12
    # A match through a rotation or mirror (not the picture as it stands) is automatic only this close:
    # true turned or mirrored copies sit within a few bits (docs/signals.md: p95 2-6), while the two
    # mirror-image halves of a symmetric picture (a retina photo's upper and lower quarters) sat at 24-26.
    turned_distance: int = PDQ_TURNED_MATCH_DISTANCE
    verify: VerifyPolicy = DEFAULT_VERIFY_POLICY
    # A geometric match below `verify` but at least this strong is sent to review.
    review_inliers: int = 10
    review_coverage: float = 0.5
    review_spread: float = 0.05  # ... with its inliers over this share of the overlap's detailed part (min_spread)
    # Candidate generation: descriptor pairs within this many bits vote for the item they belong to;
    # the `verify_top` items with the most votes (at least `min_votes`) are verified.
    vote_distance: int = 56
    min_votes: int = 3
    verify_top: int = 6
    # A newly banked picture searching posted media wants every copy, not the first: this many candidates, taken by
    # their weighed votes (`_votes`). Among 29,000 posts a hard copy's vote count ranked it 209-4,102, behind posts
    # of common texture; weighed, 300 left 6 copies out (ranked 358-491), so 500 since 2026-12-07 (a geometric
    # pre-score ranked no better: docs/copy-detection.md, *The retroactive direction, 2026-12-07 05:21 UTC*).
    verify_top_every: int = 500
    # ... or, among more posts, this share of the posts held, at most `verify_most_every` a plane (reached at 800,000
    # posts); a search that stops there says so (`Reach.bounded`), and the propagation's audit record carries it. A
    # hard copy's rank grows with the posts that look like the banked picture (other photos of its scene), hardly
    # with unrelated ones: with 16,000 look-alikes among 20,000 posts 4 of 4,000 hard copies ranked beyond 1.75%,
    # none beyond 2.5% (docs/copy-detection.md, *How deep the retroactive search looks*).
    verify_share_every: float = 0.025
    verify_most_every: int = 20_000
    # ... each checked both ways (`CopyIndex._geometric`) where the check with the banked picture as the query
    # pairs at least this many points: under it a pair is chance, and asked of every candidate the second check
    # made the search slower (docs/copy-detection.md, *The retroactive direction, 2026-12-07*).
    as_uploaded_min_inliers: int = 5
    # The brightest channel's features are a second look at a picture the luma's found nothing in, and a second
    # look is a second chance for two shots of one scene to pass: they act only with this many inliers (fewer go
    # to review). A recoloured copy keeps that channel exactly and verifies strongly on it. With 300 keypoints the
    # one re-shot scene it verified had 30. With 600 (since 2026-12-06) the full run's replay of every floor found
    # 1 re-rendered scene acting at 24 and 28, none at 32 (recall over the target transforms 0.9959, 0.9955 at 32:
    # docs/copy-detection.md, "Colour changes").
    brightest_min_inliers: int = 32
    # ... or this many, where at least `brightest_agreeing_share` of the descriptor pairs are inliers: a recoloured
    # copy keeps that channel exactly, and most of its pairs agree (0.40-0.67 on the bench's hue-turned crops with
    # 14-31 inliers), while a re-rendered scene that verifies on one shape pairs many corners that moved (the three
    # of the 20,000 hard distractors that verified there with 17-28 inliers: 0.19-0.35). Since 2026-12-06
    # (docs/copy-detection.md, "Colour changes").
    brightest_agreeing_inliers: int = 20
    brightest_agreeing_share: float = 0.45
    # The outlines (`structure.agreement`): a match the corner rules refuse acts when, carried onto the banked
    # picture by the check's similarity, the other picture repeats at least `outline_share` of the banked
    # picture's outline within a pixel, with at least `outline_part_share` of the outline in parts where the two
    # agree. Asked only of a match that has `outline_min_inliers`, overlaps as a verified copy must, bends at most
    # `outline_max_bend` pixels and shows no rival transform and no parallax: the outlines stand in for the count,
    # spread, bend and repeated-corner rules, never for the overlap, rival or parallax ones. On the analysis run's
    # 20,000 hard distractors the nearest came to 0.80 / 0.73 (a degenerate fit bending 8,568 px) and 0.71 / 0.66;
    # the four weak transforms' refused copies that met it: 16 (docs/copy-detection.md, "Outlines").
    outline_share: float = 0.75
    outline_part_share: float = 0.75
    outline_min_inliers: int = 10
    outline_max_bend: float = 32.0
    outline_min_pixels: int = 400
    # The outlines in place (`structure.InPlace`): a match the corner rules refused acts when its points say the
    # picture lies where it lay (`outline_min_inliers`, overlapping as a copy must, with no rival transform and no
    # parallax, and their similarity carries its corners within `in_place_max_shift` pixels of where laying it frame
    # to frame puts them) and, the two pictures laid frame to
    # frame (their aspect ratios within `in_place_max_aspect`, as the natural log of their ratio), at least
    # `in_place_share` of the banked outline lies within a pixel of the other's, with at least
    # `in_place_part_share` of the outline in agreeing parts (and `outline_min_pixels`). Nothing is fitted to the
    # outlines: on the 26,000 hard distractors' own sources and PDQ neighbours the highest banked share laid in
    # place was 0.52; the copies of the four weak transforms it settles, 0.70-0.99 (docs/copy-detection.md, "The
    # outlines in place").
    in_place: bool = True
    in_place_share: float = 0.65
    in_place_part_share: float = 0.5
    in_place_max_aspect: float = 0.02
    in_place_max_shift: float = 16.0

    def __post_init__(self) -> None:
        for name in ("pdq_distance", "low_quality_distance", "turned_distance", "vote_distance"):
            value = getattr(self, name)
            if not 0 <= value <= 256:
                raise ValueError(f"{name} must be between 0 and 256 bits, got {value}")
        if self.verify_top < 1 or self.verify_top_every < 1 or self.min_votes < 1:
            raise ValueError("verify_top, verify_top_every and min_votes must be at least 1")
        if not 0.0 <= self.verify_share_every <= 1.0:
            raise ValueError(f"verify_share_every must be between 0 and 1, got {self.verify_share_every}")
        if self.verify_most_every < self.verify_top_every:
            raise ValueError(f"verify_most_every ({self.verify_most_every}) must be at least verify_top_every "
                             f"({self.verify_top_every})")
        if self.as_uploaded_min_inliers < 0:
            raise ValueError(f"as_uploaded_min_inliers must be at least 0, got {self.as_uploaded_min_inliers}")
        for name in ("outline_share", "outline_part_share", "in_place_share", "in_place_part_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {getattr(self, name)}")
        if not 0.0 <= self.in_place_max_aspect <= 1.0:
            raise ValueError(f"in_place_max_aspect must be between 0 and 1, got {self.in_place_max_aspect}")
        if not 0.0 <= self.in_place_max_shift <= 384.0:
            raise ValueError(f"in_place_max_shift must be between 0 and 384 pixels, got {self.in_place_max_shift}")
        if self.outline_min_inliers < 3 or not self.outline_max_bend > 0 or self.outline_min_pixels < 1:
            raise ValueError("outline_min_inliers must be at least 3, outline_max_bend and outline_min_pixels "
                             "positive")
        for name in ("brightest_min_inliers", "brightest_agreeing_inliers"):
            if getattr(self, name) < self.verify.min_inliers:
                raise ValueError(f"{name} must be at least the verify policy's min_inliers "
                                 f"({self.verify.min_inliers}), got {getattr(self, name)}")
        if not 0.0 <= self.brightest_agreeing_share <= 1.0:
            raise ValueError(f"brightest_agreeing_share must be between 0 and 1, got {self.brightest_agreeing_share}")

    def every_depth(self, held: int) -> int:
        """How many candidates a search for every copy verifies on a plane, among `held` items."""
        share = math.ceil(round(self.verify_share_every * held, 6))  # (rounded first: 0.0175 x 40,000 is 700.0...1)
        return min(self.verify_most_every, max(self.verify_top_every, share))

    def verify_policy(self, plane: Plane) -> VerifyPolicy:
        """The geometric rule for a plane's features (on the brightest channel, `brightest_min_inliers`, or
        `brightest_agreeing_inliers` where the pairs agree)."""
        if plane == "luma":
            return self.verify
        return replace(self.verify, min_inliers=self.brightest_min_inliers,
                       agreeing_inliers=self.brightest_agreeing_inliers, agreeing_share=self.brightest_agreeing_share)


DEFAULT_POLICY = CopyPolicy()
_BRIGHTEST = "brightest"
_BRIGHTEST_ROW = VARIANT_NAMES.index(_BRIGHTEST)


@dataclass(frozen=True, slots=True)
class Evidence:
    """Why an item is a match or a candidate. `action` says which it is."""

    item_id: int
    method: Method
    action: Literal["auto", "review"]
    query_variant: str | None = None  # for PDQ: which variant of the upload, in which rotation/mirror
    query_dihedral: int | None = None  # index into DIHEDRAL_NAMES
    reference_variant: str | None = None
    distance: int | None = None  # PDQ bits
    votes: int | None = None  # descriptor votes that made the item a candidate
    verification: Verification | None = None
    plane: Plane = "luma"  # for a geometric match: which plane's features met
    rules: VerifyPolicy | None = None  # for a geometric match: the rule it was judged by (that plane's)
    # For a geometric match the corner rules refused: how the outlines agreed (`CopyPolicy.outline_share`); a match
    # they settle is automatic on them. None where not asked.
    outlines: Agreement | None = None
    # For a match the corner rules refused whose points say the picture lies where it lay: how the outlines agree
    # laid frame to frame (`CopyPolicy.in_place_share`); a match they settle is automatic on them. None where not
    # asked (too few points, points that moved it, another shape).
    in_place: Agreement | None = None
    # For a newly banked picture searching posts, a match that would act: the posted picture checked against the
    # banked one, as at its upload (`CopyIndex._mirror_settles`); it acts only where that passes too, or where that
    # check settles it on its own (then `verification` is that check, read from the banked picture's side).
    mirror: Verification | None = None
    # Which side of `verification` is the banked picture: the reference for an upload checked against the bank, the
    # query for a newly banked picture searching posts (`evidence_data` stores the shares the banked picture's way).
    banked: Literal["query", "reference"] = "reference"


@dataclass(frozen=True, slots=True)
class Reach:
    """How far a search for every copy (a newly banked picture among posts) looked: the items held, and, summed over
    its planes (a post voted for on both counts twice), the candidates the vote reached (at least `min_votes`) and
    those checked (`CopyPolicy.every_depth` of them a plane; the weak PDQ items checked besides are not counted),
    and whether the depth's cap (`CopyPolicy.verify_most_every`) left some the vote reached unchecked."""

    held: int
    voted: int
    checked: int
    bounded: bool

    def data(self) -> dict[str, int | bool]:
        return {"posts_held": self.held, "candidates_voted": self.voted, "candidates_checked": self.checked,
                "bounded": self.bounded}


@dataclass(frozen=True, slots=True)
class Decision:
    """The second line's answer for one picture."""

    kind: DecisionKind
    evidence: tuple[Evidence, ...] = ()
    reach: Reach | None = None  # how far a search for every copy looked (None for an upload's search)

    @property
    def auto_items(self) -> list[int]:
        return sorted({e.item_id for e in self.evidence if e.action == "auto"})

    @property
    def review_items(self) -> list[int]:
        auto = set(self.auto_items)
        return sorted({e.item_id for e in self.evidence if e.action == "review" and e.item_id not in auto})


NO_MATCH = Decision(kind="none")


@dataclass(frozen=True, slots=True)
class CopyIndexStats:
    items: int
    pdq_rows: int
    keypoints: int
    array_bytes: int  # numpy arrays held (keypoints, descriptors, vote tables, PDQ index) and the outlines' bytes

    @property
    def bytes_per_item(self) -> float:
        return self.array_bytes / self.items if self.items else 0.0


# ---------------------------------------------------------------- the descriptor vote index

# Descriptors are cut into 20-bit keys; each of the first _TABLES keys has a table of the rows holding each
# value. A pair of descriptors within ~30 bits (a true correspondence after re-encoding) shares at least one
# key with probability ~0.6 with 12 tables; unrelated descriptors (~100+ bits apart) almost never do, and the
# few that do are dropped by the full Hamming check that follows. 16-bit keys (8 tables) had the same chance
# for a true pair but ORB's bits are not independent: at 600,000 banked keypoints a query keypoint met 940
# rows on average, 20-bit keys about 110 (docs/copy-detection.md, "Candidates: a descriptor vote index").
_KEY_BITS = 20
_TABLES = 12
_KEYS = 1 << _KEY_BITS
# A key value held by more rows than this (flat or noisy patches repeat) is skipped, as a stop word: a share
# of the rows, about 100 times a bucket's mean size, and at least _MIN_BUCKET_CAP.
_MAX_BUCKET_SHARE = 100 / _KEYS
_MIN_BUCKET_CAP = 64
_VOTE_RATIO = 0.8
# From this many keypoints an index keeps dense offsets per key (50 MB a table, whatever the size; about as much as
# the keys themselves at this size). Below it, offsets per run of keys, about one run per keypoint (half to as many
# bytes as the sorted keys), and its sorted keys (48 bytes a keypoint) to find a key's rows in its run: an index of
# a few pictures (most processes', every test's) costs kilobytes, not 100 MB for its two planes, and an index of a
# few hundred pictures votes nearly at the speed of a dense one (a binary search over all its keys took about twice
# as long: docs/copy-detection.md, "Candidates"). The bench's banks are above it, and measure the dense path.
_DENSE_ROWS = 1 << 18


@dataclass(slots=True)
class _Packed:
    """The keypoints of every live item in flat arrays, with the vote tables over their descriptors."""

    item_ids: npt.NDArray[np.int64]  # per item slot
    starts: npt.NDArray[np.int64]  # slot -> first row; rows of slot s are starts[s]:starts[s + 1]
    frames: npt.NDArray[np.int32]  # (slots, 2) width, height of each item's feature frame
    points: npt.NDArray[np.float32]  # (rows, 2)
    codes: npt.NDArray[np.uint8]  # (rows, 32)
    slot_of_row: npt.NDArray[np.int32]
    # Where each run of 1 << shift key values starts, (_TABLES, (_KEYS >> shift) + 1): for a large index each key's
    # own (shift 0); a small one's would be mostly empty and cost 50 MB all the same, so it keeps one run per
    # keypoint or so, and each table's keys in sorted order, (_TABLES, rows), to find a key in its run.
    offsets: npt.NDArray[np.int32]
    sorted_keys: npt.NDArray[np.int32]  # (_TABLES, rows), or (_TABLES, 0) with shift 0
    shift: int
    positions: npt.NDArray[np.int32]  # (_TABLES, rows)
    bucket_cap: int

    @property
    def nbytes(self) -> int:
        return sum(
            a.nbytes
            for a in (
                self.item_ids,
                self.starts,
                self.frames,
                self.points,
                self.codes,
                self.slot_of_row,
                self.offsets,
                self.sorted_keys,
                self.positions,
            )
        )



def _keys(codes: npt.NDArray[np.uint8]) -> I64:
    """(rows, _TABLES) vote keys: consecutive _KEY_BITS-bit fields of each descriptor, low bits first."""
    rows = len(codes)
    keys = np.zeros((rows, _TABLES), dtype=np.int64)
    per_chunk = 40 // _KEY_BITS  # 5 bytes hold two keys
    for chunk in range(_TABLES // per_chunk):
        window = codes[:, 5 * chunk : 5 * chunk + 5].astype(np.int64)
        value = window[:, 0] | window[:, 1] << 8 | window[:, 2] << 16 | window[:, 3] << 24 | window[:, 4] << 32
        for part in range(per_chunk):
            keys[:, chunk * per_chunk + part] = (value >> (part * _KEY_BITS)) & (_KEYS - 1)
    return keys


def _pack(features: dict[int, FeatureSet]) -> _Packed:
    ids = np.array(sorted(features), dtype=np.int64)
    sets = [features[int(i)] for i in ids]
    counts = np.array([len(s) for s in sets], dtype=np.int64)
    starts = np.zeros(len(sets) + 1, dtype=np.int64)
    np.cumsum(counts, out=starts[1:])
    rows = int(starts[-1])
    codes = np.concatenate([s.descriptors for s in sets]) if rows else np.zeros((0, 32), np.uint8)
    points = np.concatenate([s.points for s in sets]) if rows else np.zeros((0, 2), np.float32)
    slot_of_row = np.repeat(np.arange(len(sets), dtype=np.int32), counts)
    keys = _keys(codes)
    shift = 0 if rows >= _DENSE_ROWS else _KEY_BITS - min(_KEY_BITS, max(1, rows.bit_length() - 1))
    offsets = np.zeros((_TABLES, (_KEYS >> shift) + 1), dtype=np.int32)
    sorted_keys = np.zeros((_TABLES, rows if shift else 0), dtype=np.int32)
    positions = np.zeros((_TABLES, rows), dtype=np.int32)
    for table in range(_TABLES):
        column = keys[:, table]
        positions[table] = np.argsort(column, kind="stable").astype(np.int32)
        np.cumsum(np.bincount(column >> shift, minlength=_KEYS >> shift), out=offsets[table, 1:])
        if shift:
            sorted_keys[table] = column[positions[table]]
    frames = np.array([[s.width, s.height] for s in sets], dtype=np.int32).reshape(-1, 2)
    return _Packed(
        item_ids=ids,
        starts=starts,
        frames=frames,
        points=points,
        codes=codes,
        slot_of_row=slot_of_row,
        offsets=offsets,
        sorted_keys=sorted_keys,
        shift=shift,
        positions=positions,
        bucket_cap=max(_MIN_BUCKET_CAP, int(rows * _MAX_BUCKET_SHARE)),
    )


def _votes(packed: _Packed, query: FeatureSet, max_distance: int, *, exclusive: bool = True,
           scores: list[npt.NDArray[np.float64]] | None = None) -> tuple[I64, I64]:
    """Item slots and their votes: query keypoints with a descriptor within max_distance in that item.

    `exclusive`: each keypoint votes once, for the clearly nearest item (the bank direction). Otherwise it votes
    for every item holding a close descriptor: posted media hold many copies of one picture, which look alike,
    so an exclusive vote would go to none of them; then `scores`, if given, gets each voted slot's weighed vote,
    the order candidates are taken in (a plain count ranks items full of common texture first)."""
    n = len(query)
    if n == 0 or len(packed.codes) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    keys = _keys(query.descriptors)
    if exclusive:
        counts = np.zeros(len(packed.item_ids), dtype=np.int64)
        best_item_votes(packed.offsets, packed.sorted_keys, packed.shift, packed.positions,
                        packed.codes.view(np.uint64).reshape(-1, 4), packed.slot_of_row, keys,
                        query.descriptors.view(np.uint64).reshape(n, 4), max_distance, packed.bucket_cap,
                        _VOTE_RATIO, counts)
        voted = np.flatnonzero(counts)
        return voted, counts[voted]
    found_query: list[npt.NDArray[np.int64]] = []
    found_rows: list[npt.NDArray[np.int64]] = []
    for table in range(_TABLES):
        if not packed.shift:
            low = packed.offsets[table, keys[:, table]].astype(np.int64)
            high = packed.offsets[table, keys[:, table] + 1].astype(np.int64)
        else:
            low = np.searchsorted(packed.sorted_keys[table], keys[:, table], side="left").astype(np.int64)
            high = np.searchsorted(packed.sorted_keys[table], keys[:, table], side="right").astype(np.int64)
        lengths = high - low
        lengths[lengths > packed.bucket_cap] = 0
        total = int(lengths.sum())
        if total == 0:
            continue
        owner = np.repeat(np.arange(n, dtype=np.int64), lengths)
        within = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        found_query.append(owner)
        found_rows.append(packed.positions[table, np.repeat(low, lengths) + within].astype(np.int64))
    if not found_query:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    owner = np.concatenate(found_query)
    rows = np.concatenate(found_rows)
    q_words = query.descriptors.view(np.uint64).reshape(n, 4)
    r_words = packed.codes.view(np.uint64).reshape(-1, 4)
    distance = np.bitwise_count(q_words[owner] ^ r_words[rows]).sum(axis=1)
    close = distance <= max_distance
    owner, rows, distance = owner[close], rows[close], distance[close]
    if not len(owner):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    # Every item holding a close descriptor gets the keypoint's vote (the exclusive vote, each keypoint for its
    # clearly nearest item, is `best_item_votes`), once, at its closest descriptor there.
    items = len(packed.item_ids)
    pairs = owner * items + packed.slot_of_row[rows].astype(np.int64)
    order = np.lexsort((distance, pairs))
    pairs, distance = pairs[order], distance[order]
    first = np.ones(len(pairs), dtype=bool)
    first[1:] = pairs[1:] != pairs[:-1]
    pairs, distance = pairs[first], distance[first]
    keypoint, slots = pairs // items, pairs % items
    counts = np.bincount(slots, minlength=items)
    voted = np.flatnonzero(counts)
    if scores is not None:
        # A keypoint close to a few items says more than one close to many (a common texture), and a close pair
        # more than a far one: the vote weighs both (log(items / items the keypoint votes for) x how close).
        reach = np.bincount(keypoint, minlength=n)[keypoint]
        weight = np.log(items / reach) * (max_distance + 1 - distance) / (max_distance + 1)
        scores.append(np.asarray(np.bincount(slots, weights=weight, minlength=items)[voted], dtype=np.float64))
    return voted, counts[voted]


def warm_up() -> None:
    """Compile (or load from numba's on-disk cache) the vote kernel and the descriptor matcher, off the first
    upload's path."""
    rng = np.random.default_rng(0)
    features = FeatureSet(64, 64, rng.uniform(0, 64, (8, 2)).astype(np.float32),
                          rng.integers(0, 256, (8, 32), dtype=np.uint8))
    _votes(_pack({0: features}), features, 56)
    verify(features, features)


# ---------------------------------------------------------------- the index


class CopyIndex:
    """Banked (or posted) pictures' variants and features, searched by an upload's (or new item's) description.

    Use one index per direction: bank items searched by uploads (`holds="bank"`), and posted media searched
    by a newly banked item (`holds="media"`, retroactive search); the same `search` serves both. Item ids
    are the caller's (bank entry or media ids), non-negative and below 2**59. Writes take a lock; a search
    reads one snapshot of the vote tables, rebuilt on the first search after a write.
    """

    def __init__(self, policy: CopyPolicy = DEFAULT_POLICY, *, holds: Literal["bank", "media"] = "bank") -> None:
        self.policy = policy
        # Which side of a check is the banked picture: the indexed one (uploads searching the bank), or the
        # searching one (a newly banked item searching posted media). The geometric rule asks how much of
        # the banked picture is present, so it needs to know.
        self.holds = holds
        self._verify_policies: dict[Plane, VerifyPolicy] = {p: policy.verify_policy(p) for p in ("luma", "brightest")}
        self._lock = threading.Lock()
        self._features: dict[int, FeatureSet] = {}
        self._brightest: dict[int, FeatureSet] = {}  # colour pictures' brightest-channel sets
        self._outlines: dict[int, bytes] = {}  # `EdgeMap.to_bytes()` (compressed, about 2-8 KB), where kept
        self._quality: dict[int, int] = {}  # PDQ row id -> quality
        self._pdq = HammingIndex(merge_threshold=4096, auto_merge=False)
        # Each plane's vote tables, rebuilt on the first search after a write (a plane's sets meet only their own)
        self._packed: dict[Plane, _Packed] = {}

    def __len__(self) -> int:
        return len(self._features)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._features

    def item_ids(self) -> list[int]:
        """The items held now."""
        with self._lock:
            return list(self._features)

    @staticmethod
    def _row_id(item_id: int, variant: int) -> int:
        return item_id * len(VARIANT_NAMES) + variant

    def add(self, item_id: int, description: Description) -> None:
        """Add (or replace) an item. Its PDQ rows are searchable at once; its features from the next search."""
        outlines = description.edge_map()
        self.add_stored(item_id, description.stored_pdq_rows(), description.features, description.brightest_features,
                        outlines.to_bytes() if outlines is not None else None)

    def add_stored(self, item_id: int, pdq_rows: Sequence[tuple[str, str, int]], features: FeatureSet,
                   brightest: FeatureSet | None = None, outlines: bytes | None = None) -> None:
        """Add from what a bank stored: (variant name, PDQ hex, quality) rows, the decoded feature sets (the
        brightest channel's None for a grey picture) and the outlines (`EdgeMap.to_bytes()`, opened; None where
        none were kept: the corner rules alone decide)."""
        if not 0 <= item_id < 1 << 59:
            raise ValueError(f"item ids must be in 0..2**59, got {item_id}")
        with self._lock:
            self._remove_locked(item_id)
            ids, codes = [], []
            for name, value, quality in pdq_rows:
                row = self._row_id(item_id, VARIANT_NAMES.index(name))
                ids.append(row)
                codes.append(value)
                self._quality[row] = quality
            if ids:
                self._pdq.add(ids, codes)
                if self._pdq.stats().delta_rows >= 4096:
                    self._pdq.merge()
            self._features[item_id] = features
            if brightest is not None and len(brightest):
                self._brightest[item_id] = brightest
            if outlines is not None:
                self._outlines[item_id] = outlines
            self._packed = {}

    def remove(self, item_id: int) -> bool:
        """Withdraw an item; True if it was there."""
        with self._lock:
            return self._remove_locked(item_id)

    def _remove_locked(self, item_id: int) -> bool:
        if item_id not in self._features:
            return False
        rows = [self._row_id(item_id, v) for v in range(len(VARIANT_NAMES))]
        self._pdq.remove(rows)
        for row in rows:
            self._quality.pop(row, None)
        del self._features[item_id]
        self._brightest.pop(item_id, None)
        self._outlines.pop(item_id, None)
        self._packed = {}
        return True

    def _sets(self, plane: Plane) -> dict[int, FeatureSet]:
        return self._features if plane == "luma" else self._brightest

    def _packed_now(self, plane: Plane = "luma") -> _Packed:
        packed = self._packed.get(plane)
        if packed is None:
            with self._lock:
                packed = self._packed.get(plane)
                if packed is None:
                    packed = self._packed[plane] = _pack(self._sets(plane))
        return packed

    def prepare(self) -> None:
        """Build the vote tables now (the first search after adds would otherwise pay for it)."""
        self._packed_now("luma")
        self._packed_now("brightest")

    def stats(self) -> CopyIndexStats:
        luma, brightest = self._packed_now("luma"), self._packed_now("brightest")
        return CopyIndexStats(
            items=len(luma.item_ids),
            pdq_rows=len(self._pdq),
            keypoints=len(luma.codes) + len(brightest.codes),
            array_bytes=(luma.nbytes + brightest.nbytes + self._pdq.stats().array_bytes
                         + sum(len(kept) for kept in self._outlines.values())),
        )

    # -- searching ----------------------------------------------------------------------------------------

    def search_variants(self, description: Description) -> list[Evidence]:
        """The cheap step: every variant's eight PDQ hashes against the banked variants."""
        policy = self.policy
        queries: list[tuple[Variant, int, str]] = [
            (variant, turn, value) for variant in description.variants for turn, value in enumerate(variant.dihedral)
        ]
        if not queries or not len(self._pdq):
            return []
        radius = max(policy.pdq_distance, policy.low_quality_distance)
        result = self._pdq.search([value for _, _, value in queries], radius)
        best: dict[tuple[int, Method], Evidence] = {}
        for position, (variant, turn, _) in enumerate(queries):
            for row, distance in result.hits(position):
                item_id, reference = divmod(row, len(VARIANT_NAMES))
                if (variant.name == _BRIGHTEST) != (reference == _BRIGHTEST_ROW) or (
                    variant.name == _BRIGHTEST and turn
                ):
                    # The brightest channel answers one question, whether colours were changed: it meets only
                    # its own kind, as the picture stands. Turned or mirrored, the two mirror-image quarters of
                    # a round retina photo (mostly red: the brightest channel is their red) met at 10-16 bits.
                    continue
                quality = min(variant.quality, self._quality.get(row, 0))
                limit = policy.pdq_distance if turn == 0 else min(policy.pdq_distance, policy.turned_distance)
                if quality >= policy.min_quality and distance <= limit:
                    method: Method = "pdq-variant"
                elif distance <= policy.low_quality_distance or (
                    quality >= policy.min_quality and distance <= policy.pdq_distance
                ):
                    method = "pdq-weak"
                else:
                    continue
                key = (item_id, method)
                seen = best.get(key)
                if seen is None or (seen.distance is not None and distance < seen.distance):
                    best[key] = Evidence(
                        item_id=item_id,
                        method=method,
                        action="auto" if method == "pdq-variant" else "review",
                        query_variant=variant.name,
                        query_dihedral=turn,
                        reference_variant=VARIANT_NAMES[reference],
                        distance=distance,
                    )
        return sorted(best.values(), key=lambda e: (e.distance or 0, e.item_id))

    def candidates(self, features: FeatureSet, *, skip: Collection[int] = (), top: int | None = None,
                   exclusive: bool = True, plane: Plane = "luma") -> list[tuple[int, int]]:
        """Items whose descriptors the query's keypoints vote for, as (item id, votes), most votes first: the
        `top` (default `verify_top`) with the most; `skip`: items left out before they are taken; `exclusive`:
        see `_votes`; `plane`: which plane's sets `features` are searched among."""
        return self._ranked(features, skip=skip, exclusive=exclusive, plane=plane,
                            top=top or self.policy.verify_top)[0]

    def _ranked(self, features: FeatureSet, *, skip: Collection[int], exclusive: bool, plane: Plane,
                top: int | None) -> tuple[list[tuple[int, int]], Reach]:
        """The `top` items the query's keypoints vote for most (at least `min_votes`), as (item id, votes), in the
        order candidates are taken (`candidates`), and how far that reached (`top=None`: `CopyPolicy.every_depth`
        of the items held on the plane, and `bounded` where its cap left some unchecked)."""
        packed = self._packed_now(plane)
        held = len(packed.item_ids)
        weighed: list[npt.NDArray[np.float64]] = []
        slots, votes = _votes(packed, features, self.policy.vote_distance, exclusive=exclusive, scores=weighed)
        rank = weighed[0] if weighed else votes.astype(np.float64)
        keep = votes >= self.policy.min_votes
        if skip:
            keep &= ~np.isin(packed.item_ids[slots], np.fromiter(skip, dtype=np.int64, count=len(skip)))
        slots, votes, rank = slots[keep], votes[keep], rank[keep]
        order = np.lexsort((packed.item_ids[slots], -rank))
        depth = top if top is not None else self.policy.every_depth(held)
        taken = [(int(packed.item_ids[slots[i]]), int(votes[i])) for i in order[:depth]]
        bounded = top is None and depth >= self.policy.verify_most_every and len(order) > depth
        return taken, Reach(held, len(order), len(taken), bounded)

    def verify_item(self, item_id: int, features: FeatureSet, plane: Plane = "luma") -> Verification:
        banked: Literal["query", "reference"] = "reference" if self.holds == "bank" else "query"
        return verify(features, self._sets(plane)[item_id], self._verify_policies[plane], banked=banked)

    def _outline_agreement(self, item_id: int, check: Verification, plane: Plane, query: Luma | None
                           ) -> Agreement | None:
        """How the outlines agree under the check's similarity, where the corner rules refused a match the outlines
        may settle (`CopyPolicy.outline_share`); None where not asked."""
        policy, rules = self.policy, self._verify_policies[plane]
        kept = self._outlines.get(item_id)
        if query is None or kept is None or check.inliers < policy.outline_min_inliers:
            return None
        banked: Literal["query", "reference"] = "reference" if self.holds == "bank" else "query"
        # The outlines stand in for the count, spread, bend and repeat rules; never for these.
        if not check.outlines_may_stand_in(rules, banked) or check.perspective_pixels > policy.outline_max_bend:
            return None
        try:
            reference = EdgeMap.from_bytes(kept)
        except ValueError:
            return None
        return agreement(query, reference, check.transform, banked)

    def _outlines_settle(self, found: Agreement | None) -> bool:
        policy = self.policy
        return found is not None and found.holds(policy.outline_share, policy.outline_part_share,
                                                 policy.outline_min_pixels)

    def _in_place(self, item_id: int, check: Verification, plane: Plane, laid: InPlace | None,
                  asked: dict[int, tuple[EdgeMap | None, Agreement | None]]) -> Agreement | None:
        """How the outlines agree laid frame to frame, where the check's points say the picture lies where it lay
        (`CopyPolicy.in_place_max_shift`); None where not asked. Each item's outlines are laid once a search,
        whichever plane's points name it (`asked`)."""
        policy, rules = self.policy, self._verify_policies[plane]
        if laid is None or check.inliers < policy.outline_min_inliers:
            return None
        # As the fitted outlines: they stand in for the count, spread, bend and repeat rules, never for the overlap,
        # rival or parallax ones (a second motion, or depth, is a second photograph whatever its outlines say).
        banked: Literal["query", "reference"] = "reference" if self.holds == "bank" else "query"
        if not check.outlines_may_stand_in(rules, banked):
            return None
        if item_id not in asked:
            kept = self._outlines.get(item_id)
            try:
                reference = EdgeMap.from_bytes(kept) if kept is not None else None
            except ValueError:
                reference = None
            asked[item_id] = (reference, laid.against(reference, banked) if reference is not None else None)
        reference, found = asked[item_id]
        if reference is None or found is None or laid.shift(check.transform, reference) > policy.in_place_max_shift:
            return None
        return found

    def _in_place_settles(self, found: Agreement | None) -> bool:
        policy = self.policy
        return found is not None and found.holds(policy.in_place_share, policy.in_place_part_share,
                                                 policy.outline_min_pixels)

    def _geometric(self, features: FeatureSet, plane: Plane, weak: Collection[int], *, skip: Collection[int],
                   every: bool, query: Luma | None = None, outlines_always: bool = False,
                   laid: InPlace | None = None, asked: dict[int, tuple[EdgeMap | None, Agreement | None]] | None = None,
                   reach: list[Reach] | None = None) -> list[Evidence]:
        """Geometric evidence on one plane: the `weak` PDQ items and the items `features` vote for (none of
        `skip`), each verified against that item's set of the plane; a match the corner rules refuse, by the
        outlines of `query` (the picture's working plane) where they settle it, carried by the check's similarity
        or else laid in place where the points say it lies in place (`laid`; `asked` keeps each item's outlines
        and their answer for the other plane). `outlines_always`:
        ask both outlines of a verified match too (the bench replays other inlier floors from the record).

        Searching posts (`holds="media"`), each pair is checked both ways: the banked picture against the post, and
        the post against the banked picture as its upload was. It acts where the first settles it and the second
        passes the same rules (`_mirror_settles`), or where the second settles it on its own, as it would have
        settled the post's upload (docs/copy-detection.md, *The retroactive direction*). Searching for every copy, it
        verifies as many candidates as `CopyPolicy.every_depth` says for the items held, and appends how far it
        looked to `reach`."""
        asked = {} if asked is None else asked
        policy = self.policy
        if every:
            voted, looked = (self._ranked(features, skip=skip, exclusive=False, plane=plane, top=None)
                             if len(features) else ([], Reach(len(self._sets(plane)), 0, 0, False)))
            if reach is not None:
                reach.append(looked)
        else:
            voted = self.candidates(features, skip=skip, plane=plane) if len(features) else []
        votes = dict(voted)
        sets = self._sets(plane)
        found: list[Evidence] = []
        for item_id in dict.fromkeys([*sorted(weak), *(item for item, _ in voted)]):
            if item_id not in sets:
                continue
            check = self.verify_item(item_id, features, plane)
            outlines, in_place, acts, settled = self._settle(item_id, check, plane, query, laid, asked,
                                                             outlines_always)
            mirror = None
            if self.holds == "media" and (acts or check.inliers >= policy.as_uploaded_min_inliers):
                # A newly banked picture searching posts: `verify` is not symmetric, so the pair is also checked as
                # the post's upload checked it (the post the query), and acts only as it would have acted there.
                upload = verify(sets[item_id], features, self._verify_policies[plane], banked="reference")
                if acts:
                    mirror = upload
                    acts = self._mirror_settles(upload, plane, by_points=check.verified, bend=settled)
                if not acts:
                    # The upload's own check settles it (its points, or the outlines laid by its transform): read
                    # from the banked picture's side, so the evidence reads as every match found this way. Its
                    # outlines are laid the other way round from the upload's (the post's plane is not kept), so
                    # they settle it only where neither check shows a second motion or depth.
                    seen = upload.reversed()
                    their = self._settle(item_id, seen, plane, query, laid, asked, outlines_always)
                    if their[2] and (upload.verified or self._no_second_photograph(check, plane)):
                        check, (outlines, in_place, acts, _), mirror = seen, their, upload
                    elif mirror is None and not self._reviewable(check) and self._reviewable(seen):
                        check, (outlines, in_place, _, _) = seen, their  # a person looks, by the upload's figures
            if acts:
                action: Literal["auto", "review"] = "auto"
            elif mirror is not None or self._reviewable(check):
                action = "review"  # (or held back by the check the other way round: a person decides)
            else:
                continue
            found.append(Evidence(item_id, "geometric", action, votes=votes.get(item_id), verification=check,
                                  plane=plane, rules=self._verify_policies[plane], outlines=outlines,
                                  in_place=in_place, mirror=mirror,
                                  banked="query" if self.holds == "media" else "reference"))
        return found

    def _settle(self, item_id: int, check: Verification, plane: Plane, query: Luma | None, laid: InPlace | None,
                asked: dict[int, tuple[EdgeMap | None, Agreement | None]], outlines_always: bool
                ) -> tuple[Agreement | None, Agreement | None, bool, bool]:
        """(outlines, outlines in place, whether the match acts, whether the points or fitted outlines settled it)
        for one check: its points, else the outlines under its similarity, else laid in place."""
        outlines = (self._outline_agreement(item_id, check, plane, query)
                    if outlines_always or not check.verified else None)
        settled = check.verified or self._outlines_settle(outlines)
        in_place = self._in_place(item_id, check, plane, laid, asked) if outlines_always or not settled else None
        return outlines, in_place, settled or self._in_place_settles(in_place), settled

    def _no_second_photograph(self, check: Verification, plane: Plane) -> bool:
        """Whether the check shows neither a second transform nor parallax: the marks of a second photograph of the
        scene, which outlines never overrule."""
        rules = self._verify_policies[plane]
        return not check.has_rival(rules) and not check.shows_parallax(rules)

    def _reviewable(self, check: Verification) -> bool:
        """Whether a match that does not act is still worth a person's look (`CopyPolicy.review_inliers`, ...)."""
        policy = self.policy
        return (check.inliers >= policy.review_inliers
                and max(check.coverage_query, check.coverage_reference) >= policy.review_coverage
                and check.spread >= policy.review_spread)

    def _mirror_settles(self, mirror: Verification, plane: Plane, *, by_points: bool, bend: bool) -> bool:
        """The retroactive search's second check: the posted picture checked against the banked one, as its upload
        was (`verify` is not symmetric: the spread, bend and overlap are measured on one side's detailed part). A
        match the points settled needs the same there; one the outlines settled, the rules the outlines never stand
        in for (overlap, rival, parallax; the fitted outlines' bend too): the upload's plane, which the outlines
        would be laid from, is not kept for posted media. Measured: docs/copy-detection.md, *The retroactive
        direction*."""
        policy, rules = self.policy, self._verify_policies[plane]
        if by_points:
            return mirror.verified
        return (mirror.inliers >= policy.outline_min_inliers and mirror.outlines_may_stand_in(rules, "reference")
                and (not bend or mirror.perspective_pixels <= policy.outline_max_bend))

    def search(self, description: Description, *, exclude: Collection[int] = (), every: bool = False,
               brightest: Literal["when needed", "always"] = "when needed") -> Decision:
        """The whole second line for one picture: variants first, then features for what is still open.

        For an upload, one automatic match settles it (`every=False`: the features are skipped). A newly banked
        picture looking for its copies among posted media needs them all (`every=True`): the features run for
        every candidate the variants did not already settle. `exclude`: items never to report (the picture
        itself, when it is in the index it searches). `brightest="always"` asks the brightest channel's features
        even after the luma's acted, and the outlines of every match they may settle, verified or not (the bench
        records both, to judge every inlier floor as the search would).
        """
        evidence = [e for e in self.search_variants(description) if e.item_id not in exclude]
        if not every and any(e.action == "auto" for e in evidence):
            return Decision(kind="auto", evidence=tuple(evidence))
        settled = {e.item_id for e in evidence if e.action == "auto"}
        weak = {e.item_id for e in evidence if e.method == "pdq-weak"} - settled
        always = brightest == "always"
        plane = description.plane
        laid = (InPlace(plane, self.policy.in_place_max_aspect)
                if self.policy.in_place and plane is not None and plane.size else None)
        asked: dict[int, tuple[EdgeMap | None, Agreement | None]] = {}
        reaches: list[Reach] = []
        found = self._geometric(description.features, "luma", weak, skip=set(exclude) | settled, every=every,
                                query=plane, outlines_always=always, laid=laid, asked=asked, reach=reaches)
        second = description.brightest_features
        if second is not None and len(second) and (
            every or brightest == "always" or not any(e.action == "auto" for e in found)
        ):
            # The luma set found no copy (or, for a newly banked picture, every copy is wanted): a recoloured copy
            # is still one on the brightest channel. Items the luma settled are not asked again, unless the caller
            # records both planes for every item ("always": the bench replays other inlier floors from them).
            if brightest != "always":
                settled |= {e.item_id for e in found if e.action == "auto"}
                weak -= settled
            found += self._geometric(second, "brightest", weak, skip=set(exclude) | settled, every=every,
                                     query=plane, outlines_always=always, laid=laid, asked=asked, reach=reaches)
        reach = None
        if every:
            reach = Reach(held=len(self), voted=sum(r.voted for r in reaches),
                          checked=sum(r.checked for r in reaches), bounded=any(r.bounded for r in reaches))
        confirmed = {e.item_id for e in found if e.action == "auto"}
        evidence = [
            *(replace(e, action="auto") if e.item_id in confirmed else e for e in evidence),
            *found,
        ]
        if not evidence:
            return Decision(kind="none", reach=reach) if reach is not None else NO_MATCH
        kind: DecisionKind = "auto" if any(e.action == "auto" for e in evidence) else "review"
        return Decision(kind=kind, evidence=tuple(evidence), reach=reach)
