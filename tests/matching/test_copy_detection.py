"""The second line of matching: canonical variants, ORB features with RANSAC, the copy index, the bench's floors.

Pictures come from scikit-image's bundled photos and from drawn scenes (bench/_copy_eval.py), never real
uploads. Each test asserts what a moderator would notice: the copy is found, and which way (automatically or
for review); the unrelated picture is not.
"""

from __future__ import annotations

import io
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageFilter

from firebreak.matching.copies import describe_still
from firebreak.matching.copydetect import (
    BRIGHTEST_KEYPOINTS,
    CopyIndex,
    CopyPolicy,
    decode_luma,
    describe,
    describe_data,
)
from firebreak.signals import keypoints
from firebreak.signals.errors import UnhashableMedia
from firebreak.signals.hashing import hash_bytes, hash_with_planes
from firebreak.signals.keypoints import (
    DEFAULT_VERIFY_POLICY,
    EXTRACTOR_REVISION,
    MAX_ENLARGEMENT,
    NO_VERIFICATION,
    FeatureSet,
    VerifyPolicy,
    extract_features,
    verify,
    working_plane,
)
from firebreak.signals.pdq import hamming_distance
from firebreak.signals.variants import canonical_boxes, canonical_variants

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import _copy_eval as ev  # noqa: E402


def jpeg(image: Image.Image, quality: int = 85) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=quality)
    return out.getvalue()


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, "PNG")
    return out.getvalue()


def luma(image: Image.Image) -> np.ndarray:
    return decode_luma(jpeg(image))


@pytest.fixture(scope="module")
def pictures() -> list[Image.Image]:
    sources = ev.sources(120)
    # Tiles of three photos, then drawn scenes (plain and textured).
    tiles = [s for s in sources if s.kind == "tile" and s.label.startswith(("astronaut", "coffee", "rocket"))]
    scenes = [s for s in sources if s.kind.endswith("scene")]
    return [s.image() for s in tiles[:6]] + [s.image() for s in scenes[:8]]


@pytest.fixture(scope="module")
def bank(pictures: list[Image.Image]) -> CopyIndex:
    index = CopyIndex()
    for item, picture in enumerate(pictures):
        index.add(item, describe_data(jpeg(picture)))
    index.prepare()
    return index


def best_pdq_distance(query: Image.Image, banked: Image.Image) -> int:
    queries = canonical_variants(luma(query))
    stored = canonical_variants(luma(banked))
    return min(hamming_distance(q, s.dihedral[0]) for v in queries for q in v.dihedral for s in stored)


# ---------------------------------------------------------------- canonical variants


@pytest.mark.parametrize(
    "frame",
    [
        lambda i: ev.border(i, 0.08, (200, 30, 40)),
        lambda i: ev.border(i, 0.05, "white"),
        lambda i: ev.letterbox(i),
        lambda i: ev.caption(i, top="TOP TEXT", bottom="BOTTOM TEXT"),
        lambda i: ev.caption(i, top=None, bottom="no context", dark=True),
        lambda i: ev.screenshot(i, dark=False),
        lambda i: ev.screenshot(i, dark=True),
    ],
    ids=["red border", "white border", "letterbox", "meme captions", "dark caption", "screenshot", "dark screenshot"],
)
def test_a_framed_copy_has_a_variant_within_pdq_distance_of_the_original(frame, pictures: list[Image.Image]) -> None:
    for picture in pictures[6:10]:
        assert best_pdq_distance(frame(picture), picture) <= 31


def test_the_picture_is_found_inside_a_screenshot() -> None:
    picture = ev.textured_scene(5)
    shot = ev.screenshot(picture, dark=False)
    boxes = dict(canonical_boxes(luma(shot)))
    box = boxes["framed"]
    # The picture sits at y=134, 540 wide, 405 tall in the 540 x 1170 screen.
    assert abs(box.top - 134) <= 3 and abs(box.bottom - (134 + 405)) <= 3
    assert box.left <= 2 and box.right >= 538


def test_a_plain_picture_keeps_only_its_original_variant() -> None:
    variants = canonical_variants(luma(ev.textured_scene(11)))
    assert [v.name for v in variants] == ["original"]
    assert len(variants[0].dihedral) == 8


def test_a_flat_picture_is_not_cut_to_nothing() -> None:
    flat = np.full((300, 400), 128, dtype=np.uint8)
    boxes = canonical_boxes(flat)
    assert all(box.width >= 80 and box.height >= 60 for _, box in boxes)


# ---------------------------------------------------------------- features and verification


def test_feature_sets_round_trip_and_say_their_size() -> None:
    features = describe(luma(ev.textured_scene(3))).features
    data = features.to_bytes()
    assert len(data) == features.stored_bytes == 20 + 36 * len(features)
    again = FeatureSet.from_bytes(data)
    assert np.array_equal(again.points, features.points)
    assert np.array_equal(again.descriptors, features.descriptors)
    assert (again.width, again.height, again.extent) == (features.width, features.height, features.extent)
    assert again.revision == EXTRACTOR_REVISION
    # Verification before and after storage agrees exactly: positions are rounded before they are used.
    query = extract_features(luma(ev.crop_sides(ev.textured_scene(3), 0.1, "all")))
    assert verify(query, again) == verify(query, features)


def test_a_version_1_feature_set_still_reads_as_an_older_extractors() -> None:
    features = extract_features(luma(ev.textured_scene(3)))
    current = features.to_bytes()
    # Version 1: no extent after the header, and revision 0 (the extractor before the single corner threshold).
    old = current[:4] + bytes([1, 0]) + current[6:12] + current[20:]
    again = FeatureSet.from_bytes(old)
    assert again.revision == 0 < EXTRACTOR_REVISION
    assert again.extent is None and again.bounds == (0, 0, features.width, features.height)
    assert np.array_equal(again.descriptors, features.descriptors)


@pytest.mark.parametrize(
    "damage",
    [
        b"",
        b"NOPE" + bytes(8),
        lambda d: d[:-1],
        lambda d: d[:4] + bytes([9]) + d[5:],
        lambda d: d[:12] + bytes(8) + d[20:],
    ],
    ids=["empty", "bad magic", "truncated", "future version", "empty extent"],
)
def test_a_damaged_feature_set_is_refused_by_name(damage) -> None:
    data = extract_features(luma(ev.textured_scene(3))).to_bytes()
    broken = damage(data) if callable(damage) else damage
    with pytest.raises(ValueError, match="feature set"):
        FeatureSet.from_bytes(broken)


def test_verification_accepts_a_turned_crop_and_refuses_another_picture() -> None:
    original = ev.textured_scene(21)
    reference = extract_features(luma(original))
    copy = verify(extract_features(luma(ev.crop_sides(ev.rotate(original, 7), 0.15, "left"))), reference)
    assert copy.verified
    assert 5.5 <= abs(copy.rotation_degrees) <= 8.5
    other = verify(extract_features(luma(ev.textured_scene(22))), reference)
    assert not other.verified and other.inliers < 14


def _tilted(image: Image.Image, share: float) -> Image.Image:
    """The picture seen in perspective: its top edge drawn in by `share` of the width on each side, as a photo
    of a flat picture taken from below would show it (cropped back to its own size)."""
    import cv2

    width, height = image.size
    inset = share * width
    corners = np.float32([[inset, 0], [width - inset, 0], [width, height], [0, height]])
    view = cv2.getPerspectiveTransform(np.float32([[0, 0], [width, 0], [width, height], [0, height]]), corners)
    warped = cv2.warpPerspective(np.asarray(image), view, (width, height), borderMode=cv2.BORDER_REFLECT)
    return Image.fromarray(warped)


def test_a_view_in_perspective_is_not_a_verified_copy_but_a_turned_one_is() -> None:
    """A copy is the flat picture moved, turned and scaled; its pairs fit a similarity everywhere. The same
    picture seen in perspective (a second photograph) bends away from any one similarity, and is not acted on
    by itself; it still has the points to go to review."""
    original = ev.textured_scene(31)
    reference = extract_features(luma(original))
    turned = verify(extract_features(luma(ev.crop_sides(ev.rotate(original, -4), 0.1, "all"))), reference)
    assert turned.verified and turned.perspective_pixels <= 8.0, turned
    tilted = verify(extract_features(luma(_tilted(original, 0.08))), reference)
    assert tilted.inliers >= 14, tilted  # the check has the points: it is the layout that is refused
    assert tilted.perspective_pixels > 8.0 and not tilted.verified, tilted
    permissive = verify(extract_features(luma(_tilted(original, 0.08))), reference,
                        replace(DEFAULT_VERIFY_POLICY, max_perspective_pixels=1000.0, max_residual_correlation=1.0))
    assert permissive.verified  # the layout rules, not something else, refuse it (a tilt also leaves a
    # displacement that neighbouring points share: both the flat-picture and the parallax rule see it)


def test_a_few_noisy_pairs_do_not_bend_a_copy_but_a_view_in_perspective_stays_bent() -> None:
    """The bend is the nearer of two homography fits through the inliers: least squares through all of them, and
    RANSAC through those agreeing within 2 px. A copy's pairs clustered on one object, five of them pulled 3.5 px
    one way (what JPEG q40 or WebP does to a few corners), swing the least-squares fit out at the picture's corners;
    the fit that leaves them out does not. A picture seen in perspective bends in every pair: both fits show it."""
    from firebreak.signals.keypoints import _fit, _perspective_gap

    rng = np.random.default_rng(3)
    points = rng.uniform(150, 300, size=(40, 2))
    turn, scale = np.radians(3), 0.5
    similarity = np.array([[scale * np.cos(turn), -scale * np.sin(turn), 20.0],
                           [scale * np.sin(turn), scale * np.cos(turn), 10.0]])
    common = np.array([[0, 0], [320, 0], [320, 240], [0, 240]], np.float32)  # the detailed part, reference frame

    def gaps(target: np.ndarray) -> tuple[float, float, int]:
        matrix, inlier = _fit(points.astype(np.float32), target.astype(np.float32), DEFAULT_VERIFY_POLICY)
        assert matrix is not None
        source, kept = points[inlier].astype(np.float32), target[inlier].astype(np.float32)
        least_squares, _ = cv2.findHomography(source.astype(np.float64), kept.astype(np.float64), 0)
        corners = common.astype(np.float64)
        back = np.linalg.solve(np.vstack([matrix, [0, 0, 1]]), np.vstack([corners.T, np.ones(4)]))[:2].T
        through = cv2.perspectiveTransform(back.reshape(-1, 1, 2), least_squares).reshape(-1, 2)
        limit = DEFAULT_VERIFY_POLICY.max_perspective_pixels
        return (float(np.hypot(*(through - corners).T).max()),
                _perspective_gap(source, kept, matrix, common, limit), int(inlier.sum()))

    copy = points @ similarity[:, :2].T + similarity[:, 2] + rng.normal(0, 0.3, size=points.shape)
    copy[np.argsort(points[:, 0])[-5:]] += [2.5, -2.5]
    least_squares, bend, inliers = gaps(copy)
    assert inliers == 40 and least_squares > 3 * DEFAULT_VERIFY_POLICY.max_perspective_pixels, least_squares
    assert bend < DEFAULT_VERIFY_POLICY.max_perspective_pixels, bend

    view = np.array([[0.5, 0.02, 20.0], [0.01, 0.52, 10.0], [0.0004, 0.0003, 1.0]])
    seen = cv2.perspectiveTransform(points.reshape(-1, 1, 2), view).reshape(-1, 2) + rng.normal(0, 0.3, points.shape)
    least_squares, bend, inliers = gaps(seen)
    assert inliers >= 30 and bend > 5 * DEFAULT_VERIFY_POLICY.max_perspective_pixels, (bend, least_squares)
    assert abs(bend - least_squares) < 1.0, (bend, least_squares)  # the robust fit follows the same perspective


@pytest.mark.parametrize(
    ("robust_bends", "agreeing", "count", "expected"),
    [
        (False, 40, 40, "robust"),  # it bends less, through all but a few pairs: the nearer fit counts
        (True, 40, 40, "least squares"),  # it bends more: the least-squares fit is the nearer
        (False, 26, 40, "least squares"),  # it leaves out over a third of the inliers: a part of the picture
        (False, 27, 40, "robust"),  # ... at most a third: counted
        (False, 7, 10, "least squares"),  # under 8 pairs (though all but a third): no homography to speak of
        (False, 8, 10, "robust"),  # 8 pairs, all but a fifth
    ],
)
def test_the_bend_takes_the_robust_fit_only_where_it_leaves_out_a_few_pairs(
    monkeypatch: pytest.MonkeyPatch, robust_bends: bool, agreeing: int, count: int, expected: str
) -> None:
    """How `_perspective_gap` combines its two fits, with OpenCV's RANSAC answer fixed to show each case: the RANSAC
    homography counts only where it agrees with 8 pairs and with all but a third of the inliers, and then only if it
    bends less; under the limit the second fit is never run."""
    from firebreak.signals import keypoints as module

    rng = np.random.default_rng(5)
    points = rng.uniform(100, 300, size=(count, 2))
    matrix = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    target = points + [[0.0, 0.0]] + np.where(points[:, :1] > 250, 3.0, 0.0)  # the right side pulled 3 px
    common = np.array([[0, 0], [400, 0], [400, 400], [0, 400]], np.float32)
    real = cv2.findHomography
    ransac_calls = []

    def fitted(source: np.ndarray, destination: np.ndarray, method: int = 0, *args: object, **kwargs: object
               ) -> tuple[np.ndarray | None, np.ndarray | None]:
        if method == 0:
            return real(source, destination, 0)
        ransac_calls.append(len(source))
        bend = 1e-3 if robust_bends else 0.0  # a strong perspective, or the identity (no bend at all)
        homography = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [bend, bend, 1.0]])
        mask = np.zeros((len(source), 1), np.uint8)
        mask[:agreeing] = 1
        return homography, mask

    monkeypatch.setattr(module.cv2, "findHomography", fitted)
    source, kept = points.astype(np.float32), target.astype(np.float32)
    least_squares = module._perspective_gap(source, kept, matrix, common, limit=1e9)
    assert ransac_calls == [] and 0.0 < least_squares < 1e9, least_squares  # under the limit: one fit only
    gap = module._perspective_gap(source, kept, matrix, common, limit=0.0)
    assert ransac_calls == [count]
    assert gap == (0.0 if expected == "robust" else least_squares), (gap, least_squares)


def test_residual_noise_is_not_shared_by_neighbours_but_parallax_is() -> None:
    """The statistic itself: a flat picture's leftover displacement is each corner's own noise (the correlation
    sits near -1/6 for six neighbours and nothing is shared); a displacement that varies smoothly over the
    picture, as depth does between two cameras, is shared by neighbours and measured in pixels."""
    from firebreak.signals.keypoints import _shared_residual

    rng = np.random.default_rng(7)
    points = rng.uniform(0, 384, (300, 2))
    identity = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    noisy = points + rng.normal(0, 0.8, points.shape)
    correlation, shared = _shared_residual(noisy.astype(np.float32), points.astype(np.float32), identity)
    assert -0.35 < correlation < 0.0 and shared < 0.3, (correlation, shared)
    # Parallax: the nearer half of the scene (towards the bottom) moves sideways by up to 3 px more.
    depth = 3.0 * np.clip((points[:, 1] - 150) / 150, 0, 1)
    seen = points + np.stack([depth, np.zeros(len(points))], axis=1) + rng.normal(0, 0.4, points.shape)
    correlation, shared = _shared_residual(seen.astype(np.float32), points.astype(np.float32), identity)
    policy = DEFAULT_VERIFY_POLICY
    assert correlation > policy.max_residual_correlation + 0.1, (correlation, shared)
    assert shared > policy.min_shared_residual_pixels, (correlation, shared)
    # A change of aspect ratio (5% wider, turned 20 degrees) is still one flat picture: nothing is shared.
    turn = np.radians(20)
    rotation = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    wider = (points * [1.05, 1.0]) @ rotation.T + rng.normal(0, 0.8, points.shape)
    similarity = np.hstack([rotation, np.zeros((2, 1))])
    correlation, shared = _shared_residual(points.astype(np.float32), wider.astype(np.float32), similarity)
    assert correlation < 0.0 and shared < 0.3, (correlation, shared)
    assert _shared_residual(noisy[:5].astype(np.float32), points[:5].astype(np.float32), identity) == (0.0, 0.0)


def test_the_other_camera_of_a_stereo_pair_is_not_a_verified_copy() -> None:
    """The same moment from a camera a few centimetres away fits one similarity nearly as well as a copy (the
    flat-picture rule lets it through), but its points are displaced by depth: neighbours share the
    displacement. It is not acted on alone; a real copy of the same picture, turned and cropped, still is."""
    tile = ev.Tile("motorcycle_left", (0, 250, 370, 500))
    banked = extract_features(luma(ev.tile_image(tile)))
    other_camera = extract_features(luma(ev.tile_image(ev.Tile(ev.STEREO_RIGHT, tile.box))))
    stereo = verify(other_camera, banked)
    assert not stereo.verified and stereo.inliers >= 40, stereo
    assert stereo.perspective_pixels <= DEFAULT_VERIFY_POLICY.max_perspective_pixels, stereo
    assert stereo.shows_parallax(DEFAULT_VERIFY_POLICY), stereo
    assert verify(other_camera, banked, replace(DEFAULT_VERIFY_POLICY, max_residual_correlation=1.0)).verified
    copy = verify(extract_features(luma(ev.crop_sides(ev.rotate(ev.tile_image(tile), -3), 0.1, "all"))), banked)
    assert copy.verified and copy.residual_correlation < 0.1, copy
    # A copy squeezed to another aspect ratio is one flat picture still: acted on.
    picture = ev.tile_image(tile)
    wider = verify(extract_features(luma(picture.resize((round(picture.width * 1.03), picture.height)))), banked)
    assert wider.verified and not wider.shows_parallax(DEFAULT_VERIFY_POLICY), wider


def test_a_stereo_tile_that_only_its_parallax_refuses_is_not_a_verified_copy() -> None:
    """The other camera's top-right tile, as the bench describes it (a PNG banked, a JPEG q85 searched). Described at
    its own 370 px (extractor revisions up to 3), its neighbours shared 0.16 of the scatter and 0.97 px, under the
    first threshold (0.2), and it was acted on in every full run; at 0.15 it was refused. Enlarged to 384 px
    (revision 4) they share more (0.43, 1.5 px). Refused for its parallax alone; copies stay under 0.07 at the 99.9th
    percentile (docs/copy-detection.md)."""
    tile = ev.Tile("motorcycle_left", (370, 0, 740, 250))
    banked = describe_data(png(ev.tile_image(tile))).features
    other_camera = describe_data(jpeg(ev.tile_image(ev.Tile(ev.STEREO_RIGHT, tile.box)))).features
    stereo = verify(other_camera, banked)
    assert not stereo.verified and stereo.shows_parallax(DEFAULT_VERIFY_POLICY) and stereo.inliers >= 40, stereo
    assert verify(other_camera, banked, replace(DEFAULT_VERIFY_POLICY, max_residual_correlation=1.0)).verified


@pytest.mark.parametrize(("draw", "seed", "moved"), [("plain", 87, 506687), ("textured", 79, 508659)])
def test_a_scene_drawn_again_with_things_moved_is_not_a_verified_copy(draw: str, seed: int, moved: int) -> None:
    """Two of the bench's re-shot scenes (the camera moved a little, every object moved, fresh grain) that passed
    every other rule: their background repeats, so a similarity carries 20-25 pairs within 4.4 px of one flat
    picture, but under a third of the corners reappear and under half the pairs agree. A copy repeats most of its
    corners: even a half-size rotated JPEG q40 copy keeps more (tested here on a crop-and-caption copy)."""
    make = ev.plain_scene if draw == "plain" else ev.textured_scene
    banked = describe_data(png(make(seed))).features
    again = verify(describe_data(jpeg(make(seed, moved=moved))).features, banked)
    assert not again.verified and again.moved_apart(DEFAULT_VERIFY_POLICY), again
    assert again.inliers >= 14 and again.perspective_pixels <= DEFAULT_VERIFY_POLICY.max_perspective_pixels, again
    assert verify(describe_data(jpeg(make(seed, moved=moved))).features, banked,
                  replace(DEFAULT_VERIFY_POLICY, min_repeatability=0.0)).verified
    copy = verify(describe_data(jpeg(ev.caption(ev.crop_sides(make(seed), 0.1, "all"), top="lol", bottom=None),
                                     40)).features, banked)
    assert copy.verified and not copy.moved_apart(DEFAULT_VERIFY_POLICY), copy


def test_a_moderator_reads_why_a_match_whose_corners_do_not_reappear_waits_for_them() -> None:
    from firebreak.matching.copies import evidence_words

    words = evidence_words({"method": "geometric", "action": "review", "inliers": 25, "coverage_reference": 0.9,
                            "coverage_query": 0.9, "perspective_pixels": 4.4, "repeatability": 0.33, "matches": 53})
    assert "only 33% of the picture's corners reappear in the other" in words, words
    assert "not enough to act without a person" in words
    # The share of pairs is counted, not rounded: 2498 of 5000 is under half.
    close = evidence_words({"method": "geometric", "action": "review", "inliers": 2498, "coverage_reference": 0.9,
                            "coverage_query": 0.9, "perspective_pixels": 4.4, "repeatability": 0.33, "matches": 5000})
    assert "reappear" in close, close
    copy = evidence_words({"method": "geometric", "action": "review", "inliers": 25, "coverage_reference": 0.9,
                           "coverage_query": 0.9, "perspective_pixels": 1.0, "repeatability": 0.33, "matches": 30})
    assert "reappear" not in copy, copy
    # A match that acted is never given a reason against it, even by rules made after it acted.
    acted = evidence_words({"method": "geometric", "action": "auto", "inliers": 25, "coverage_reference": 0.9,
                            "coverage_query": 0.9, "perspective_pixels": 4.4, "repeatability": 0.33, "matches": 53,
                            "residual_correlation": 0.18, "shared_residual_pixels": 0.9})
    assert "but" not in acted and acted.endswith("(verified)"), acted
    # A colour-channel match under its floor says why it waits, with the share of its pairs that agree.
    colour = evidence_words({"method": "geometric", "action": "review", "plane": "brightest", "inliers": 20,
                             "coverage_reference": 0.9, "coverage_query": 1.0, "perspective_pixels": 1.0,
                             "matches": 80})
    assert ("acts only with 32 matching points, or 20 where at least 45% of the paired points agree (here 25%)"
            in colour), colour
    # A match recorded before the share was kept says no share.
    older = evidence_words({"method": "geometric", "action": "review", "plane": "brightest", "inliers": 20,
                            "coverage_reference": 0.9, "coverage_query": 1.0, "perspective_pixels": 1.0})
    assert "acts only with 32 matching points, or 20 where" in older and "(here" not in older, older
    # Enough points on that channel when its pairs agree (40 of 80 would be under 45%; 40 of 60 is not): nothing
    # said against it, even where a person looks for another reason.
    agreeing = evidence_words({"method": "geometric", "action": "review", "plane": "brightest", "inliers": 40,
                               "coverage_reference": 0.9, "coverage_query": 1.0, "perspective_pixels": 1.0,
                               "matches": 60})
    assert "acts only with" not in agreeing, agreeing
    few = evidence_words({"method": "geometric", "action": "review", "plane": "brightest", "inliers": 19,
                          "coverage_reference": 0.9, "coverage_query": 1.0, "perspective_pixels": 1.0, "matches": 20})
    assert "(here 95%)" in few, few
    # Rounded down beside the rule: 21 of 47 pairs (44.7%) waits, and does not read "45%".
    edge = evidence_words({"method": "geometric", "action": "review", "plane": "brightest", "inliers": 21,
                           "coverage_reference": 0.9, "coverage_query": 1.0, "perspective_pixels": 1.0, "matches": 47})
    assert "(here 44%)" in edge, edge


def test_a_waiting_match_is_explained_by_the_rule_it_was_judged_by_not_todays() -> None:
    from firebreak.matching.copies import evidence_data, evidence_words

    source = ev.textured_scene(11, (640, 480))
    turned = describe_data(jpeg(ev.rotate(source, 3)))  # bends 1.4 px
    # An index whose rule allowed a bend of half a pixel: the turned, re-encoded copy bends more, and waits.
    # (Its outlines are not asked: they would settle it, and this is about the corners' words.)
    strict = CopyPolicy(verify=replace(DEFAULT_VERIFY_POLICY, max_perspective_pixels=0.5), outline_min_inliers=10**6)
    index = CopyIndex(strict)
    index.add(1, describe_data(png(source)))
    (evidence,) = [e for e in index.search(turned).evidence if e.method == "geometric" and e.plane == "luma"]
    assert evidence.action == "review" and evidence.verification is not None
    bend = evidence.verification.perspective_pixels
    assert 0.5 < bend <= DEFAULT_VERIFY_POLICY.max_perspective_pixels, bend  # today's rule would let it act
    data = evidence_data(evidence)
    assert data["rules"]["max_perspective_pixels"] == 0.5 and data["rules"]["min_inliers"] == 14
    words = evidence_words(data)
    assert f"bend away from one flat picture by {round(bend)} px" in words, words
    # Recorded before the rules were kept: today's rule, under which this bend says nothing against it.
    older = evidence_words({key: value for key, value in data.items() if key != "rules"})
    assert "bend away" not in older, older
    # A colour-channel match judged when that channel needed 40 points says 40.
    colour = evidence_words({**data, "plane": "brightest", "inliers": 36, "matches": 100, "perspective_pixels": 0.2,
                             "rules": {**data["rules"], "min_inliers": 40, "agreeing_inliers": None}})
    assert "acts only with 40 matching points (it is a second look)" in colour, colour


@pytest.mark.parametrize("bad", [None, "x", [], {}, True, float("nan"), float("inf"), -5, 10**400])
def test_stored_rules_this_version_cannot_read_are_explained_by_todays_and_never_fail(bad: object) -> None:
    from firebreak.matching.copies import _STORED_RULES, evidence_words

    waiting = {"method": "geometric", "action": "review", "inliers": 20, "coverage_reference": 0.5,
               "coverage_query": 0.9, "perspective_pixels": 9.0, "spread": 0.06, "residual_correlation": 0.5,
               "shared_residual_pixels": 2.0, "repeatability": 0.2, "matches": 100}
    for plane in ("luma", "brightest"):
        today = evidence_words({**waiting, "plane": plane})
        for name in _STORED_RULES:
            if bad is None and name == "agreeing_inliers":
                continue  # None is a rule of its own there: no agreement
            # One unreadable threshold: today's value for it, the others still their own (here: today's too).
            assert evidence_words({**waiting, "plane": plane, "rules": {name: bad}}) == today, (plane, name)
        assert evidence_words({**waiting, "plane": plane, "rules": bad}) == today
        assert "nan" not in today and "inf" not in today


def test_a_moderator_reads_why_a_parallax_match_waits_for_them() -> None:
    from firebreak.matching.copies import evidence_words

    words = evidence_words({"method": "geometric", "action": "review", "inliers": 140, "coverage_reference": 0.95,
                            "coverage_query": 0.97, "perspective_pixels": 5.1, "residual_correlation": 0.52,
                            "shared_residual_pixels": 1.5})
    assert "off in the same direction by about 1.5 px" in words and "not enough to act without a person" in words
    plain = evidence_words({"method": "geometric", "action": "auto", "inliers": 140, "coverage_reference": 0.95,
                            "coverage_query": 0.97, "perspective_pixels": 0.6, "residual_correlation": -0.15,
                            "shared_residual_pixels": 0.1})
    assert "same direction" not in plain and plain.endswith("(verified)")


def test_a_moderator_reads_why_a_match_on_one_small_patch_waits_for_them() -> None:
    from firebreak.matching.copies import evidence_words

    words = evidence_words({"method": "geometric", "action": "review", "inliers": 49, "coverage_reference": 0.85,
                            "coverage_query": 0.85, "perspective_pixels": 6.4, "spread": 0.068,
                            "measured_over": "detail"})
    assert "all lie in one small part of the picture (7% of the detailed part the two share)" in words
    recorded_before = evidence_words({"method": "geometric", "action": "review", "inliers": 49,
                                      "coverage_reference": 0.85, "coverage_query": 0.85, "perspective_pixels": 6.4,
                                      "spread": 0.068})
    assert "(7% of what the two share)" in recorded_before
    assert words.endswith("(not enough to act without a person)")
    plain = evidence_words({"method": "geometric", "action": "auto", "inliers": 49, "coverage_reference": 0.85,
                            "coverage_query": 0.85, "perspective_pixels": 1.0, "spread": 0.4})
    assert "small part" not in plain and plain.endswith("(verified)")


def test_a_strong_match_crowded_into_one_spot_is_not_verified() -> None:
    """The full bench's last false action: 49 inliers on one flat patch of a re-shot scene (6.8% of the overlap)."""
    from firebreak.signals.keypoints import Verification

    patch = Verification(False, 49, 89, 0.85, 0.85, 0.068, 4, 6.39, 1.0, 0.0, (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
                         residual_correlation=-0.24)
    assert not patch.passes(DEFAULT_VERIFY_POLICY)
    assert replace(patch, spread=0.3).passes(DEFAULT_VERIFY_POLICY)  # the same points spread over the picture


def test_a_check_read_from_the_other_side_inverts_its_transform_and_trades_the_shares() -> None:
    picture = ev.textured_scene(41)
    small = ev.crop_sides(picture, 0.2, "all").rotate(5, resample=Image.Resampling.BILINEAR, expand=True)
    small = small.resize((small.width * 3 // 4, small.height * 3 // 4))
    copy, original = describe(luma(small)).features, describe(luma(picture)).features
    check = verify(copy, original)
    assert check.verified and check.coverage_query > check.coverage_reference + 0.2, check
    seen = check.reversed()
    assert (seen.coverage_query, seen.coverage_reference) == (check.coverage_reference, check.coverage_query)
    assert seen.scale == pytest.approx(1 / check.scale) and seen.rotation_degrees == -check.rotation_degrees
    # Carried there and back, a point stays where it was.
    there, back = (np.vstack([np.reshape(v.transform, (2, 3)), [0, 0, 1]]) for v in (check, seen))
    assert np.allclose(back @ there, np.eye(3), atol=1e-3)
    # What was measured on one side, and the verdict, stay; read twice, it is the check again.
    assert (seen.verified, seen.inliers, seen.spread, seen.perspective_pixels) == (
        check.verified, check.inliers, check.spread, check.perspective_pixels)
    again = seen.reversed()
    assert np.allclose(again.transform, check.transform, atol=1e-3) and again.coverage_query == check.coverage_query
    assert NO_VERIFICATION.reversed().scale == 0.0  # no transform: nothing to invert, and no error


def _patch_features(points: np.ndarray, descriptors: np.ndarray) -> FeatureSet:
    return FeatureSet(384, 288, points.astype(np.float32), descriptors)


def test_the_spread_is_measured_over_the_part_of_the_picture_that_has_detail() -> None:
    """An object on a plain ground has corners on the object alone: a copy's inliers are judged against that part
    (twice its hull, at least a quarter and at most the whole of the overlap), a scene's against the whole picture,
    as before."""
    rng = np.random.default_rng(7)
    picture = 384 * 288

    def hull_area(points: np.ndarray) -> float:
        return float(cv2.contourArea(cv2.convexHull(points.astype(np.float32).reshape(-1, 1, 2))))

    def matched_in_a_corner_of(box: tuple[int, int, int, int]) -> tuple[float, float, float]:
        """(spread, the inliers' hull over the whole picture, over the keypoints' hull)"""
        left, top, right, bottom = box
        points = np.column_stack([rng.uniform(left, right, 300), rng.uniform(top, bottom, 300)])
        banked = rng.integers(0, 256, (300, 32), dtype=np.uint8)
        # The copy repeats the keypoints in the box's top-left quarter; the rest of its corners are its own.
        agree = (points[:, 0] < left + (right - left) / 4) & (points[:, 1] < top + (bottom - top) / 4)
        own = rng.integers(0, 256, (300, 32), dtype=np.uint8)
        copy = np.where(agree[:, None], banked, own)
        check = verify(_patch_features(points, copy), _patch_features(points, banked))
        assert check.inliers == int(agree.sum()) and check.perspective_pixels < 1
        inliers = hull_area(points[agree])
        return check.spread, inliers / picture, inliers / hull_area(points)

    # Keypoints over a 200 x 150 patch of a 384 x 288 picture: measured over twice the patch's keypoints' hull.
    spread, of_picture, of_detail = matched_in_a_corner_of((90, 70, 290, 220))
    assert spread == pytest.approx(of_detail / 2, abs=1e-3) and spread > 1.5 * of_picture
    # A sliver of detail (a 120 x 100 patch: twice it is under a quarter of the picture): over a quarter of it.
    spread, of_picture, _ = matched_in_a_corner_of((130, 90, 250, 190))
    assert spread == pytest.approx(of_picture * 4, abs=1e-3)
    # Keypoints over the whole picture: measured over the whole picture, as before.
    spread, of_picture, _ = matched_in_a_corner_of((0, 0, 384, 288))
    assert spread == pytest.approx(of_picture, abs=1e-3)


def test_a_captioned_copy_of_an_object_on_a_plain_ground_is_verified() -> None:
    """scikit-image's clock, on its plain wall, with a caption bar above: 232 inliers, refused until the bend was
    measured at the corners of the whole picture, far from every keypoint (12 px; 5.5 at the detailed part)."""
    clock = next(s for s in ev.sources(6) if s.label == "clock").image()
    caption = next(t for t in ev.TRANSFORMS if t[1] == "caption bar above")
    check = verify(describe_data(caption[2](clock, 1)).features, describe_data(png(clock)).features)
    assert check.verified and check.inliers >= 100
    assert check.perspective_pixels <= DEFAULT_VERIFY_POLICY.max_perspective_pixels


def test_the_detailed_part_is_the_banked_picture_s_whichever_side_asks() -> None:
    """An upload checked against the bank and a newly banked picture searching posted media measure one pair alike:
    the detailed part comes from the banked picture's keypoints in both. The copy's own corners (a sticker's, text
    over the plain ground) count in neither."""
    rng = np.random.default_rng(11)
    object_points = np.column_stack([rng.uniform(90, 290, 300), rng.uniform(70, 220, 300)])
    descriptors = rng.integers(0, 256, (300, 32), dtype=np.uint8)
    agree = object_points[:, 0] < 190  # the copy repeats the object's left half
    copy_descriptors = np.where(agree[:, None], descriptors, rng.integers(0, 256, (300, 32), dtype=np.uint8))
    extra = np.column_stack([rng.uniform(0, 384, 200), rng.uniform(0, 288, 200)])  # its own corners, all over
    banked = _patch_features(object_points, descriptors)
    copy = _patch_features(np.vstack([object_points, extra]),
                           np.vstack([copy_descriptors, rng.integers(0, 256, (200, 32), dtype=np.uint8)]))
    upload = verify(copy, banked, banked="reference")
    posted = verify(banked, copy, banked="query")
    assert upload.inliers == posted.inliers == int(agree.sum())
    assert posted.spread == pytest.approx(upload.spread, abs=2e-3) and upload.spread > 0.2


def test_a_moderator_reads_why_a_perspective_match_waits_for_them() -> None:
    from firebreak.matching.copies import evidence_words

    words = evidence_words({"method": "geometric", "action": "review", "inliers": 40, "coverage_reference": 0.9,
                            "coverage_query": 0.95, "perspective_pixels": 17.4, "measured_over": "detail"})
    assert "bend away from one flat picture by 17 px (at the edge of the detailed part)" in words
    assert "not enough to act without a person" in words
    plain = evidence_words({"method": "geometric", "action": "auto", "inliers": 40, "coverage_reference": 0.9,
                            "coverage_query": 0.95, "perspective_pixels": 1.2})
    assert "bend" not in plain and plain.endswith("(verified)")


def test_a_partly_overlapping_crop_of_the_same_photo_is_not_verified() -> None:
    """Two crops sharing under 60% of either picture are different shots of a scene, not copies."""
    (box,) = ev.same_scene_boxes("astronaut", 1, 3)
    tiles = [t for t in ev.photo_tiles() if t.photo == "astronaut"]
    shot = luma(ev.build_distractor(ev.Distractor("x", "same-scene photo", ("astronaut", box))))
    for tile in tiles:
        check = verify(extract_features(shot), extract_features(luma(ev.tile_image(tile))))
        assert not check.verified


@pytest.mark.parametrize("shape", [(1, 50), (50, 1), (1, 1), (20, 400)])
def test_a_picture_too_narrow_for_keypoints_is_described_without_them(shape: tuple[int, int]) -> None:
    """A one-pixel line (a spacer GIF, a rule) has no room for ORB's patch: no keypoints, no error (OpenCV refuses
    to scale a one-pixel side, which reached the upload check as a server error)."""
    plane = np.random.default_rng(3).integers(0, 256, shape, dtype=np.uint8)
    description = describe(plane)
    assert len(description.features) == 0
    index = CopyIndex()
    index.add(1, describe(np.random.default_rng(4).integers(0, 256, (200, 300), dtype=np.uint8)))
    assert index.search(description).kind == "none"


def test_an_upload_whose_colour_plane_runs_out_of_time_keeps_its_hashes(pictures: list[Image.Image]) -> None:
    """The brightest channel is decoded after the hashes; if the decode deadline passes then, the upload is still
    hashed (its PDQ still matches) and only the copy check, which needs that plane, is skipped."""
    from firebreak.signals.decode import DecodeLimits

    ticks = iter([0.0, 0.0])

    def clock() -> float:
        return next(ticks, 29.5)  # the deadline is set, the hashes are made, then the time is gone

    data = jpeg(pictures[1])
    hashes, still = hash_with_planes(data, DecodeLimits(max_seconds=29.0), clock=clock)
    assert still is None
    assert hashes == hash_bytes(data)


def test_a_photo_overlapping_part_of_a_banked_one_on_a_repeating_texture_is_not_verified() -> None:
    """Grass repeats itself: RANSAC lays a crop from the bottom of the photo half over the tile from its top, which
    it does not touch, with 88 pairs. Under that transform the crop shows under 60% of the banked tile and a sixth
    of it lies outside; a crop lies wholly inside its original, so this is not one (found on the full bench:
    `grass#(149, 343, 377, 512)` against the tile at 0,0)."""
    (tile,) = [t for t in ev.photo_tiles() if t.photo == "grass" and t.box[:2] == (0, 0)]
    banked = describe_data(png(ev.tile_image(tile)))  # as the bench banks it
    other = describe_data(jpeg(ev.build_distractor(
        ev.Distractor("x", "same-scene photo", ("grass", (149, 343, 377, 512))))))
    check = verify(other.features, banked.features)
    assert check.inliers >= 14 and check.coverage_reference < 0.6 and check.coverage_query < 0.95, check
    assert not check.verified
    lenient = verify(other.features, banked.features, replace(DEFAULT_VERIFY_POLICY, partial_inside=0.8))
    assert lenient.verified  # the rule, not something else, refuses it
    # A real crop of a fifth from every side shows 64% of the tile and lies inside it: still verified.
    crop = describe_data(jpeg(ev.crop_sides(ev.tile_image(tile), 0.2, "all")))
    assert verify(crop.features, banked.features).verified


def test_a_moderator_reads_why_a_partly_overlapping_match_waits_for_them() -> None:
    from firebreak.matching.copies import evidence_words

    words = evidence_words({"method": "geometric", "action": "review", "inliers": 88, "coverage_reference": 0.49,
                            "coverage_query": 0.84, "perspective_pixels": 1.1})
    assert "16% of it lies outside" in words and "not enough to act without a person" in words
    crop = evidence_words({"method": "geometric", "action": "auto", "inliers": 88, "coverage_reference": 0.64,
                           "coverage_query": 1.0, "perspective_pixels": 1.1})
    assert "outside" not in crop


# ---------------------------------------------------------------- the index and its decisions


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("crop 20% (right)", lambda i: ev.crop_sides(i, 0.2, "right")),
        ("crop 20% (all sides)", lambda i: ev.crop_sides(i, 0.2, "all")),
        ("sticker 15%", lambda i: ev.sticker(i, 0.15, 4)),
        ("rotate 10°", lambda i: ev.rotate(i, -10)),
        ("caption", lambda i: ev.caption(ev.crop_sides(i, 0.1, "all"), top="lol", bottom=None)),
        ("screenshot", lambda i: ev.screenshot(i, dark=True)),
        ("hue", lambda i: ev.hue_shift(i, 90)),
        ("hue +180°", lambda i: ev.hue_shift(i, 180)),
        ("grey", lambda i: ImageEnhance.Color(i).enhance(0.0)),
        ("contrast -50%", lambda i: ImageEnhance.Contrast(i).enhance(0.5)),
    ],
)
def test_copies_are_found_automatically(name: str, make, pictures: list[Image.Image], bank: CopyIndex) -> None:
    found = 0
    for item, picture in enumerate(pictures):
        decision = bank.search(describe_data(jpeg(make(picture))))
        assert set(decision.auto_items) <= {item}, f"{name}: another item matched"
        found += decision.auto_items == [item]
    assert found >= len(pictures) - 1, f"{name}: {found} of {len(pictures)}"


def test_a_colour_turned_half_round_the_wheel_is_found_by_its_brightest_channel(pictures: list[Image.Image]) -> None:
    """Hue +180 degrees makes a different grey picture (the luma PDQ is far off), but max(R, G, B) stays."""
    picture = next(p for p in pictures if np.asarray(p.convert("HSV"))[:, :, 1].mean() > 60)
    banked = describe_data(jpeg(picture))
    copy = describe_data(jpeg(ev.hue_shift(picture, 180)))
    index = CopyIndex()
    index.add(7, banked)
    found = index.search(copy)
    assert found.auto_items == [7]
    assert any(e.method == "pdq-variant" and e.query_variant == "brightest" for e in found.evidence)
    # A grey picture has no brightest-channel variant (it would only repeat the luma).
    assert [v.name for v in describe_data(jpeg(picture.convert("L"))).variants if v.name == "brightest"] == []


def test_a_recoloured_crop_is_verified_on_the_brightest_channel() -> None:
    """Hue +60 degrees and 10% cut off one side: no variant's PDQ is left (the crop) and the luma's corners moved
    (the colour change), but max(R, G, B) keeps them: the second, smaller feature set finds the copy. Of 94
    colourful sources tried, the luma found 78 and both sets 93; these are drawn scenes of both kinds and a
    retina tile, most of them among the luma's misses."""
    wanted = ("textured-5", "plain-12", "plain-15", "textured-16", "textured-23", "plain-24", "retina@0,0",
              "textured-4", "plain-9")
    colourful = [s.image().convert("RGB") for s in ev.sources(400) if s.label in wanted]
    assert len(colourful) == len(wanted)
    # (The outlines are a route of their own, tested in test_outlines.py: this is about the corners of each plane.)
    corners = CopyPolicy(outline_min_inliers=10**6)
    index, luma_only = CopyIndex(corners), CopyIndex(corners)
    for item, picture in enumerate(colourful):
        banked = describe_data(jpeg(picture))
        assert banked.brightest_features is not None and 0 < len(banked.brightest_features) <= BRIGHTEST_KEYPOINTS
        index.add(item, banked)
        luma_only.add(item, replace(banked, brightest_features=None))
    found = by_luma = 0
    for item, picture in enumerate(colourful):
        copy = describe_data(jpeg(ev.crop_sides(ev.hue_shift(picture, 60), 0.1, "left"), 50))
        decision = index.search(copy)
        assert set(decision.auto_items) <= {item}
        if decision.auto_items == [item]:
            found += 1
            luma_found = luma_only.search(copy).auto_items == [item]
            by_luma += luma_found
            # What acted is named: the brightest channel's features when the luma's could not.
            assert luma_found or any(e.plane == "brightest" and e.action == "auto" for e in decision.evidence)
    assert found >= len(colourful) - 1, f"{found} of {len(colourful)}"
    assert by_luma <= len(colourful) - 4, (found, by_luma)
    # A grey picture has no second set: its brightest channel is its luma.
    assert describe_data(jpeg(colourful[0].convert("L"))).brightest_features is None
    # A second look needs more: under `brightest_min_inliers` (and without the agreement that lets fewer do), what
    # the brightest channel verifies goes to review.
    strict = CopyIndex(replace(corners, brightest_min_inliers=10_000, brightest_agreeing_inliers=10_000))
    # Fewer do where most of the pairs agree, as a recoloured copy's do: the floor out of reach, the agreement not.
    agreeing = CopyIndex(replace(corners, brightest_min_inliers=10_000))
    for item, picture in enumerate(colourful):
        strict.add(item, describe_data(jpeg(picture)))
        agreeing.add(item, describe_data(jpeg(picture)))
    reviewed = by_agreement = 0
    for item, picture in enumerate(colourful):
        copy = describe_data(jpeg(ev.crop_sides(ev.hue_shift(picture, 60), 0.1, "left"), 50))
        decision = strict.search(copy)
        assert not any(e.plane == "brightest" and e.action == "auto" for e in decision.evidence)
        reviewed += any(e.plane == "brightest" and e.item_id == item for e in decision.evidence)
        acted = [e for e in agreeing.search(copy).evidence if e.plane == "brightest" and e.action == "auto"]
        assert all(e.item_id == item for e in acted)
        by_agreement += bool(acted)
    assert reviewed >= len(colourful) - by_luma - 1, (reviewed, by_luma)
    assert by_agreement >= len(colourful) - by_luma - 1, (by_agreement, by_luma)


def test_a_moderator_reads_that_a_match_was_made_on_the_colour_channel() -> None:
    from firebreak.matching.copies import evidence_words

    words = evidence_words({"method": "geometric", "action": "auto", "plane": "brightest", "inliers": 40,
                            "coverage_reference": 0.9, "coverage_query": 1.0})
    assert words.startswith("the same picture features of its brightest colour channel (which survives a colour "
                            "change) in the same layout: 40 matching points"), words
    assert "colour" not in evidence_words({"method": "geometric", "action": "auto", "plane": "luma", "inliers": 40,
                                           "coverage_reference": 0.9, "coverage_query": 1.0})


def test_stickers_on_low_detail_pictures_are_found() -> None:
    """A sticker's sharp outline used to keep a low-detail copy at the high corner threshold while its original
    had fallen back to the low one: the two were described differently and never met (docs/copy-detection.md)."""
    sources = ev.sources(80)
    flat = [s for s in sources if s.label.startswith(("retina", "cell", "clock"))][:8]
    index = CopyIndex()
    for item, source in enumerate(flat):
        index.add(item, describe_data(jpeg(source.image())))
    found = sum(
        index.search(describe_data(jpeg(ev.sticker(source.image(), 0.10, item)))).auto_items == [item]
        for item, source in enumerate(flat)
    )
    assert found >= len(flat) - 1, f"{found} of {len(flat)}"


def test_a_screenshot_of_a_flat_picture_is_cut_to_the_picture() -> None:
    """A smooth colour field is bands too, but not of the screen's colour: the walk stops at the picture."""
    picture = ev.plain_scene(93, (640, 480))
    for dark in (False, True):
        boxes = dict(canonical_boxes(luma(ev.screenshot(picture, dark=dark))))
        framed = boxes["framed"]
        # The picture sits at rows 134-539 of the 540 x 1170 screen.
        assert abs(framed.top - 134) <= 6 and abs(framed.bottom - 539) <= 6, framed


def test_unrelated_pictures_make_no_automatic_action(bank: CopyIndex) -> None:
    for seed in range(300, 340):
        picture = ev.textured_scene(seed, ev.SMALL_SIZE) if seed % 2 else ev.plain_scene(seed)
        assert bank.search(describe(luma(picture))).kind != "auto"


def test_a_big_crop_goes_to_review_not_to_action(pictures: list[Image.Image], bank: CopyIndex) -> None:
    reviewed = 0
    for item, picture in enumerate(pictures[6:]):
        decision = bank.search(describe(luma(ev.crop_sides(picture, 0.45, "all"))))
        assert decision.kind != "auto"
        reviewed += decision.review_items == [item + 6]
    assert reviewed >= 4


def test_removing_an_item_stops_it_matching(pictures: list[Image.Image]) -> None:
    index = CopyIndex()
    index.add(7, describe(luma(pictures[0])))
    copy = describe(luma(ev.crop_sides(pictures[0], 0.1, "left")))
    assert index.search(copy).auto_items == [7]
    assert index.remove(7) and not index.remove(7)
    assert index.search(copy).kind == "none"
    assert len(index) == 0


def test_retroactive_search_finds_posted_copies_with_the_same_pipeline(pictures: list[Image.Image]) -> None:
    """A newly banked picture finds the cropped and captioned copies already posted."""
    posted = CopyIndex(holds="media")
    for media_id, picture in enumerate(pictures):
        copy = ev.caption(ev.crop_sides(picture, 0.1, "top"), top="seen this?", bottom=None)
        posted.add(1000 + media_id, describe(luma(copy)))
    posted.add(5000, describe(luma(ev.textured_scene(777))))  # an unrelated post
    found = [posted.search(describe(luma(picture))).auto_items for picture in pictures]
    assert sum(items == [1000 + i] for i, items in enumerate(found)) >= len(pictures) - 1
    assert all(5000 not in items for items in found)


@pytest.mark.parametrize(("draw", "seed", "moved"), [("plain", 87, 506687), ("textured", 79, 508659)])
def test_a_posted_scene_drawn_again_is_not_taken_when_its_original_is_banked(draw: str, seed: int,
                                                                           moved: int) -> None:
    """The other direction of the repeat rule: the banked picture searches posted ones (it is the query, the post
    the reference). The re-shot scene is not acted on; the posted copy, cut and captioned, is."""
    make = ev.plain_scene if draw == "plain" else ev.textured_scene
    posted = CopyIndex(holds="media")
    posted.add(1, describe_data(jpeg(make(seed, moved=moved))))
    posted.add(2, describe_data(jpeg(ev.caption(ev.crop_sides(make(seed), 0.1, "all"), top="lol", bottom=None), 40)))
    decision = posted.search(describe_data(png(make(seed))), every=True)
    assert decision.auto_items == [2], decision


def faded(seed: int) -> Image.Image:
    """A blurred, low-contrast drawn scene: its PDQ quality is far under 50, so PDQ alone may not act on it."""
    return ImageEnhance.Contrast(ev.textured_scene(seed).filter(ImageFilter.GaussianBlur(2))).enhance(0.15)


def test_a_low_quality_picture_is_found_when_its_features_confirm() -> None:
    description = describe(luma(faded(31)))
    assert description.variants[0].quality < 50
    index = CopyIndex()
    index.add(1, description)
    for copy in (faded(31), ev.crop_sides(faded(31), 0.05, "all"), ev.caption(faded(31), top="hmm", bottom=None)):
        decision = index.search(describe(luma(copy)))
        assert decision.auto_items == [1]
        assert any(e.method == "geometric" and e.action == "auto" for e in decision.evidence)
    for seed in (32, 33, 34):  # other faded pictures: low quality too, and not copies
        assert index.search(describe(luma(faded(seed)))).kind != "auto"


def test_a_low_quality_pdq_match_without_confirming_features_goes_to_review() -> None:
    description = describe(luma(faded(31)))
    index = CopyIndex()
    nothing = FeatureSet(1, 1, np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8))
    index.add_stored(1, description.stored_pdq_rows(), nothing)  # a bank entry imported without features
    decision = index.search(describe(luma(faded(31))))
    assert decision.kind == "review" and decision.review_items == [1]
    (evidence,) = decision.evidence
    assert evidence.method == "pdq-weak" and evidence.distance is not None and evidence.distance <= 12


def test_policies_refuse_nonsense() -> None:
    with pytest.raises(ValueError):
        CopyPolicy(pdq_distance=300)
    with pytest.raises(ValueError, match="max_perspective_pixels"):
        VerifyPolicy(max_perspective_pixels=0)
    with pytest.raises(ValueError, match="max_residual_correlation"):
        VerifyPolicy(max_residual_correlation=1.5)
    with pytest.raises(ValueError, match="min_shared_residual_pixels"):
        VerifyPolicy(min_shared_residual_pixels=-1)
    with pytest.raises(ValueError):
        CopyPolicy(verify_top=0)
    with pytest.raises(ValueError, match="brightest_min_inliers"):
        CopyPolicy(brightest_min_inliers=5)
    with pytest.raises(ValueError, match="brightest_agreeing_inliers"):
        CopyPolicy(brightest_agreeing_inliers=5)
    with pytest.raises(ValueError, match="brightest_agreeing_share"):
        CopyPolicy(brightest_agreeing_share=1.5)
    with pytest.raises(ValueError, match="agreeing_inliers"):
        VerifyPolicy(agreeing_inliers=2)
    with pytest.raises(ValueError, match="agreeing_share"):
        VerifyPolicy(agreeing_share=-0.1)


def test_decode_luma_refuses_what_is_not_a_picture() -> None:
    with pytest.raises(UnhashableMedia):
        decode_luma(b"not a picture at all")
    with pytest.raises(ValueError, match="still picture"):
        decode_luma(ev.encode_video([np.zeros((64, 64, 3), np.uint8)] * 4))


def _oriented(picture: Image.Image) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned a quarter clockwise
    out = io.BytesIO()
    picture.convert("RGB").save(out, "JPEG", quality=90, exif=exif)
    return out.getvalue()


def _with_alpha(picture: Image.Image) -> bytes:
    rgba = picture.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(picture.size))
    out = io.BytesIO()
    rgba.save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize(
    "encode",
    [jpeg, lambda p: jpeg(p.convert("L")), _oriented, _with_alpha],
    ids=["colour", "grey", "exif-turned", "transparent"],
)
def test_the_upload_check_describes_the_planes_it_hashed_as_the_bytes_describe(
    encode, pictures: list[Image.Image]
) -> None:
    """The gateway decodes an upload once (`hash_with_planes`) and describes those planes; the description must be
    the one the bank side makes from the file's bytes, or the two sides would disagree about the same picture."""
    data = encode(ev.hue_shift(pictures[1], 40))
    hashes, still = hash_with_planes(data)
    assert hashes == hash_bytes(data)
    assert still is not None
    shared, fresh = describe_still(still), describe_data(data)
    assert (shared.width, shared.height, shared.feature_box) == (fresh.width, fresh.height, fresh.feature_box)
    assert shared.stored_pdq_rows() == fresh.stored_pdq_rows()
    assert shared.features.to_bytes() == fresh.features.to_bytes()
    # A video has no still planes to share.
    assert hash_with_planes(ev.encode_video([np.zeros((64, 64, 3), np.uint8)] * 4))[1] is None


# ---------------------------------------------------------------- the bench's quick mode, with floors


def test_the_bench_quick_mode_holds_its_floors() -> None:
    """A small run of bench/bench_copy_detection.py: photos' tiles and drawn scenes, a dozen transforms, 600
    distractors. A regression in variants, features, votes or the rule shows up as lost recall, a false
    automatic action or a flood of review candidates. Floors sit a little under what the run measures."""
    import bench_copy_detection as bench

    names = [
        "crop 20% (right)",
        "crop 10% (all sides)",
        "red border 8%",
        "caption bars above and below",
        "sticker 10%",
        "phone screenshot (dark)",
        "rotate 5°",
        "hue +90°",
        "contrast -50%",
        "crop 10% + caption + jpeg q40",
        "hue +60° + crop 10% (left) + jpeg q50",
        "rotate 3° + half size + jpeg q40",
        "crop 40% (all sides)",
    ]
    chosen = [i for i, t in enumerate(ev.TRANSFORMS) if t[1] in names]
    results = bench.run(
        source_count=100, distractor_count=600, workers=2, timing_rounds=0, video=False, transforms=chosen
    )
    recall = {row["transform"]: row["recall"] for row in results.rows}
    measured = f"recall {recall}, curve at default {results.curve[results.default_floor]}, {results.distractors}"
    # The stereo pair (the same moment from a second camera) is a known limit, reported on its own. Every
    # other distractor, re-shot scenes included, must stay clear of automatic action at the default floor.
    _, false_without_stereo, _ = results.curve[results.default_floor]
    assert false_without_stereo == 0, measured
    assert recall["crop 40% (all sides)"] <= 0.1, measured  # beyond the verified range: review, not action
    target = [recall[name] for name in names if name != "crop 40% (all sides)"]
    assert sum(target) / len(target) >= 0.97, measured
    assert min(target) >= 0.93, measured
    for name in (
        "crop 10% (all sides)",
        "caption bars above and below",
        "red border 8%",
        "rotate 5°",
        "sticker 10%",
        "phone screenshot (dark)",
        "hue +90°",
    ):
        assert recall[name] >= 0.96, measured
    # A recoloured crop is found on the brightest channel's features (0.96 here; 0.81 on the analysis run's 300
    # sources when only the luma had features).
    assert recall["hue +60° + crop 10% (left) + jpeg q50"] >= 0.92, measured
    assert results.distractors["review per 1,000 uploads"] <= 100, measured


def test_a_moderator_reads_which_version_of_the_picture_matched() -> None:
    from firebreak.matching.copies import evidence_words

    words = evidence_words({"method": "pdq-variant", "action": "auto", "distance": 4, "variant": "brightest",
                            "reference_variant": "brightest", "turn": None})
    assert words == ("PDQ of its brightest-colour-channel (survives a colour change) version (as is) within 4 bits "
                     "of the banked picture's brightest-colour-channel (survives a colour change) version")
    framed = evidence_words({"method": "pdq-variant", "action": "review", "distance": 20, "variant": "framed",
                             "reference_variant": "original", "turn": "mirror"})
    assert "frame-and-captions-off version (mirror)" in framed and "(a weak match: a person decides)" in framed


def test_a_small_index_votes_as_a_large_one_does(pictures: list[Image.Image], monkeypatch: pytest.MonkeyPatch) -> None:
    """Below `_DENSE_ROWS` keypoints an index keeps offsets per run of keys and its sorted keys instead of 50 MB of
    offsets per table: the same candidates and votes either way, in kilobytes."""
    from firebreak.matching import copydetect

    descriptions = [describe_data(jpeg(p)) for p in pictures]
    queries = [describe_data(jpeg(ev.crop_sides(p, 0.1, "all"))).features for p in pictures[:6]]

    def votes() -> tuple[list[list[tuple[int, int]]], int]:
        index = CopyIndex()
        for item, description in enumerate(descriptions):
            index.add(item, description)
        found = [index.candidates(q, top=20) + index.candidates(q, top=20, exclusive=False) for q in queries]
        return found, index.stats().array_bytes

    small, small_bytes = votes()
    monkeypatch.setattr(copydetect, "_DENSE_ROWS", 0)
    large, large_bytes = votes()
    assert small == large and any(small)
    assert small_bytes < 20_000_000 < 100_000_000 < large_bytes, (small_bytes, large_bytes)


def test_fewer_inliers_verify_only_where_the_pairs_agree() -> None:
    """`VerifyPolicy.agreeing_inliers`: under `min_inliers`, a match still has inliers enough when at least
    `agreeing_share` of its descriptor pairs are inliers (the brightest channel's rule, `CopyPolicy.verify_policy`)."""
    rule = CopyPolicy().verify_policy("brightest")
    assert (rule.min_inliers, rule.agreeing_inliers, rule.agreeing_share) == (32, 20, 0.45)
    assert rule.least_inliers == 20 and CopyPolicy().verify_policy("luma").least_inliers == 14
    clean = replace(NO_VERIFICATION, coverage_query=1.0, coverage_reference=1.0, spread=0.5, perspective_pixels=1.0)
    for inliers, matches, enough in ((32, 200, True), (20, 44, True), (20, 45, False), (19, 19, False),
                                     (31, 68, True), (31, 69, False)):
        check = replace(clean, inliers=inliers, matches=matches)
        assert check.enough_inliers(rule) is enough, (inliers, matches)
        assert check.passes(rule) is enough, (inliers, matches)
    # Without an agreeing rule (the luma's), the floor alone.
    assert not replace(clean, inliers=13, matches=13).enough_inliers(CopyPolicy().verify_policy("luma"))


def test_small_pictures_are_enlarged_to_the_working_side_at_most_four_times(monkeypatch: pytest.MonkeyPatch) -> None:
    """Extractor revision 4: a picture under WORKING_SIDE is described at it (a reduced copy of a small picture meets
    its original at one scale), an icon at four times its size at most; a big one is scaled down as before."""
    rng = np.random.default_rng(4)
    for shape, expected in (((1000, 800), (384, 307)), ((200, 100), (384, 192)), ((240, 320), (288, 384)),
                            ((30, 40), (120, 160)), ((384, 200), (384, 200))):
        plane = working_plane(rng.integers(0, 256, shape, dtype=np.uint8))
        assert plane.shape == expected, (shape, plane.shape)
    assert MAX_ENLARGEMENT == 4.0
    # A 240 px copy of a 480 px picture, turned 3 degrees and saved at JPEG q40, keeps more of its original's corners
    # enlarged than described at its own size (as revision 3 did).
    picture = ev.textured_scene(4242).resize((480, 360))
    banked = describe_data(png(picture)).features
    copy = jpeg(ev.rotate(picture, 3).resize((240, 180)), 40)
    enlarged = verify(describe_data(copy).features, banked)
    monkeypatch.setattr(keypoints, "MAX_ENLARGEMENT", 1.0)
    own_size = verify(describe_data(copy).features, banked)
    assert enlarged.verified and enlarged.inliers > own_size.inliers, (enlarged, own_size)
