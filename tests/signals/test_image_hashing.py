"""Hashing pictures: what is stored, what is queried, and that copies people make still match."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageOps

from firebreak.signals.base import ContentKind
from firebreak.signals.hashing import PDQ_SIDE, MediaHashes, hash_bytes
from firebreak.signals.pdq import PDQ_MATCH_DISTANCE, PdqSignal, hamming_distance
from tests.signals.samples import PHOTOS, encode, photo, sized

BASES = ("astronaut", "coffee", "chelsea", "camera", "rocket", "horse")


def stored(name: str) -> MediaHashes:
    return hash_bytes(encode(photo(name), "PNG"))


def query_distance(copy: MediaHashes, original: MediaHashes) -> int:
    """What matching sees: the copy's query hashes against the original's one stored hash."""
    return min(hamming_distance(q, original.pdq.value) for q in copy.query_hashes)


def test_an_image_yields_every_signal() -> None:
    data = encode(photo("coffee"), "JPEG", quality=90)
    hashes = hash_bytes(data)
    assert (hashes.kind, hashes.mime_type, hashes.width, hashes.height) == (ContentKind.IMAGE, "image/jpeg", 600, 400)
    assert hashes.duration_seconds is None
    assert hashes.size_bytes == len(data)
    assert PdqSignal.validate(hashes.pdq.value) == hashes.pdq.value
    assert hashes.pdq.quality == 100 and hashes.pdq.matchable and hashes.matchable
    assert len(hashes.dihedral) == 8
    assert hashes.query_hashes[0] == hashes.pdq.value == hashes.dihedral[0]
    assert set(hashes.query_hashes) == set(hashes.dihedral)
    assert hashes.vpdq == () and hashes.vpdq_value() is None
    rows = [(r.signal_type, r.value, r.quality) for r in hashes.signals()]
    assert rows == [
        ("sha256", hashes.sha256, None),
        ("md5", hashes.md5, None),
        ("pdq", hashes.pdq.value, 100),
    ]
    described = hashes.to_json()
    assert described["pdq"] == {"value": hashes.pdq.value, "quality": 100, "matchable": True}
    assert list(described["pdq_dihedral"]) == ["original", "rotate90", "rotate180", "rotate270"] + [
        "flip_x",
        "flip_y",
        "flip_plus1",
        "flip_minus1",
    ]


def test_hashing_is_deterministic() -> None:
    data = encode(photo("chelsea"), "WEBP", quality=80)
    assert hash_bytes(data) == hash_bytes(data)


@pytest.mark.parametrize(
    ("fmt", "params"),
    [
        ("JPEG", {"quality": 95}),
        ("WEBP", {"lossless": True}),
        ("BMP", {}),
        ("TIFF", {"compression": "tiff_deflate"}),
        ("GIF", {}),
        ("HEIF", {"quality": 90}),
        ("AVIF", {"quality": 90}),
    ],
)
def test_the_same_picture_in_any_format_matches(fmt: str, params: dict[str, object]) -> None:
    for name in ("astronaut", "rocket"):
        original = stored(name)
        other = hash_bytes(encode(photo(name), fmt, **params))
        assert hamming_distance(other.pdq.value, original.pdq.value) <= 12, (name, fmt)


def transformations(picture: Image.Image) -> dict[str, Image.Image]:
    width, height = picture.size
    return {
        "jpeg_q30": Image.open(io.BytesIO(encode(picture, "JPEG", quality=30))),
        "half": picture.resize((width // 2, height // 2), Image.Resampling.BILINEAR),
        "double": picture.resize((width * 2, height * 2), Image.Resampling.BICUBIC),
        "grey": picture.convert("L"),
        "mirror": ImageOps.mirror(picture),
        "flip": ImageOps.flip(picture),
        "rotate90": picture.transpose(Image.Transpose.ROTATE_90),
        "rotate180": picture.transpose(Image.Transpose.ROTATE_180),
        "rotate270": picture.transpose(Image.Transpose.ROTATE_270),
        "mirror_and_jpeg": Image.open(io.BytesIO(encode(ImageOps.mirror(picture), "JPEG", quality=50))),
    }


@pytest.mark.parametrize("name", BASES)
def test_transformed_copies_match_their_original(name: str) -> None:
    original = stored(name)
    for label, copy in transformations(Image.fromarray(photo(name))).items():
        hashes = hash_bytes(encode(copy, "PNG"))
        assert query_distance(hashes, original) <= PDQ_MATCH_DISTANCE, label


def test_a_mirror_needs_the_query_time_variants() -> None:
    original = stored("astronaut")
    mirrored = hash_bytes(encode(ImageOps.mirror(Image.fromarray(photo("astronaut"))), "PNG"))
    assert hamming_distance(mirrored.pdq.value, original.pdq.value) > 100  # the stored hashes differ wildly
    assert query_distance(mirrored, original) <= 8


def test_unrelated_pictures_do_not_match() -> None:
    hashes = {name: stored(name) for name in PHOTOS}
    for a in PHOTOS:
        for b in PHOTOS:
            if a != b:
                assert query_distance(hashes[a], hashes[b]) > 2 * PDQ_MATCH_DISTANCE, (a, b)


def test_exif_orientation_is_applied() -> None:
    upright = Image.fromarray(photo("coffee"))  # 600 x 400
    stored_sideways = upright.transpose(Image.Transpose.ROTATE_90)  # what a phone held sideways writes
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display"
    data = encode(stored_sideways, "JPEG", quality=95, exif=exif.tobytes())
    hashes = hash_bytes(data)
    assert (hashes.width, hashes.height) == (600, 400)
    assert hamming_distance(hashes.pdq.value, stored("coffee").pdq.value) <= 8


def test_transparency_is_composited_on_white() -> None:
    rng = np.random.default_rng(0)
    content = sized(photo("chelsea"), 200, 150)
    rgba = np.dstack([content, np.full(content.shape[:2], 255, np.uint8)])
    rgba[:, :60, :3] = rng.integers(0, 256, (150, 60, 3), dtype=np.uint8)  # hidden noise...
    rgba[:, :60, 3] = 0  # ...behind full transparency
    on_white = content.copy()
    on_white[:, :60] = 255
    transparent = hash_bytes(encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert hamming_distance(transparent.pdq.value, hash_bytes(encode(on_white, "PNG")).pdq.value) <= 2
    # The same through a palette with a transparent index, and a grey picture with alpha.
    palette = Image.fromarray(rgba, "RGBA").quantize(64)
    assert hash_bytes(encode(palette, "PNG")).pdq.matchable
    grey_alpha = Image.fromarray(rgba, "RGBA").convert("LA")
    assert hamming_distance(hash_bytes(encode(grey_alpha, "PNG")).pdq.value, transparent.pdq.value) <= 4


def test_cmyk_and_sixteen_bit_pictures_hash_like_their_ordinary_versions() -> None:
    picture = Image.fromarray(photo("rocket"))
    cmyk = hash_bytes(encode(picture.convert("CMYK"), "JPEG", quality=95))
    assert hamming_distance(cmyk.pdq.value, stored("rocket").pdq.value) <= 8
    grey = np.asarray(picture.convert("L"))
    sixteen = Image.fromarray(grey.astype(np.uint16) * 257)
    assert sixteen.mode.startswith("I;16")
    deep = hash_bytes(encode(sixteen, "PNG"))
    assert hamming_distance(deep.pdq.value, hash_bytes(encode(grey, "PNG")).pdq.value) <= 2
    assert deep.pdq.quality == 100  # clipped 16-bit data would be a white, featureless picture


def test_a_multi_picture_jpeg_is_hashed_by_its_first_picture() -> None:
    first, second = Image.fromarray(photo("coffee")), Image.fromarray(photo("rocket"))
    mpo = encode(first, "MPO", save_all=True, append_images=[second])
    hashes = hash_bytes(mpo)
    assert (hashes.kind, hashes.mime_type) == (ContentKind.IMAGE, "image/jpeg")
    assert hamming_distance(hashes.pdq.value, stored("coffee").pdq.value) <= 8


def test_one_bit_pictures_hash() -> None:
    bilevel = Image.fromarray(photo("camera")).convert("1")
    assert hash_bytes(encode(bilevel, "PNG")).pdq.matchable


@pytest.mark.parametrize("size", [(1, 1), (3, 2), (1, 600)])
def test_tiny_and_flat_pictures_are_kept_but_never_matched(size: tuple[int, int]) -> None:
    hashes = hash_bytes(encode(Image.new("RGB", size, (120, 30, 200)), "PNG"))
    assert not hashes.pdq.matchable and not hashes.matchable
    assert hashes.query_hashes == ()
    assert ("pdq", hashes.pdq.value, hashes.pdq.quality) in [
        (r.signal_type, r.value, r.quality) for r in hashes.signals()
    ]


def test_scaling_costs_few_bits_against_full_size_hashing() -> None:
    data = encode(sized(photo("chelsea"), 1800, 1200), "JPEG", quality=92)
    scaled, full = hash_bytes(data), hash_bytes(data, side=None)
    assert (scaled.width, scaled.height) == (full.width, full.height) == (1800, 1200)
    assert hamming_distance(scaled.pdq.value, full.pdq.value) <= 16
    assert PDQ_SIDE == 320
