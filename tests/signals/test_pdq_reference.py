"""Firebreak's PDQ is the reference's: `pdqhash.compute` on the whole decoded picture, as python-threatexchange,
HMA and the PDQ tools compute it, so hash lists agree in both directions. The bound asserted on textures and
text is issue #16's (median <= 1 bit, 99% within 8, none above 16); what is measured is exact agreement."""

from __future__ import annotations

import io
import statistics
from functools import cache

import numpy as np
import pdqhash
import pytest
from PIL import Image, ImageDraw, ImageFont, ImageOps

from firebreak.signals.decode import float_luma
from firebreak.signals.hashing import MediaHashes, hash_bytes
from firebreak.signals.pdq import DIHEDRAL_NAMES, hamming_distance, pdq_reference_dihedral
from tests.signals.samples import RGB, encode, photo, sized


def reference(rgb: RGB) -> tuple[str, int]:
    """pdqhash.compute on an RGB array, as hex in the reference layout."""
    bits, quality = pdqhash.compute(np.ascontiguousarray(rgb))
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex(), int(quality)


def reference_of_file(data: bytes) -> tuple[str, int]:
    with Image.open(io.BytesIO(data)) as image:
        return reference(np.asarray(image.convert("RGB")))


@cache
def text_picture(size: tuple[int, int], font_size: int, seed: int) -> RGB:
    """Lines of words drawn with Pillow's built-in font: printed text, where PDQ's coefficients crowd."""
    rng = np.random.default_rng(seed)
    words = "hash list hotline removal copy match bank review appeal order evidence platform".split()
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=font_size)
    for y in range(font_size, size[1] - font_size, int(font_size * 1.5)):
        line = " ".join(words[int(i)] for i in rng.integers(0, len(words), 12))
        draw.text((font_size, y), line, fill=(20, 20, 20), font=font)
    return np.asarray(image)


# scikit-image's textures and text, and drawn text, at sizes whose PDQ windows are even and off-centre.
PICTURES = {
    "brick": lambda: photo("brick"),
    "grass": lambda: photo("grass"),
    "gravel": lambda: photo("gravel"),
    "text": lambda: photo("text"),
    "page": lambda: photo("page"),
    "checkerboard": lambda: photo("checkerboard"),
    "drawn-text": lambda: text_picture((1000, 700), 18, 1),
    "drawn-text-small": lambda: text_picture((480, 320), 11, 2),
}
ENCODINGS = {
    "png": lambda rgb: encode(rgb, "PNG"),
    "jpeg-q90": lambda rgb: encode(rgb, "JPEG", quality=90),
    "jpeg-q50": lambda rgb: encode(rgb, "JPEG", quality=50),
    "webp-q80": lambda rgb: encode(rgb, "WEBP", quality=80),
    "mirrored-jpeg": lambda rgb: encode(ImageOps.mirror(Image.fromarray(rgb)), "JPEG", quality=85),
    "stretched-jpeg": lambda rgb: encode(sized(rgb, rgb.shape[1] * 4 // 3, rgb.shape[0]), "JPEG", quality=85),
}


def test_textures_and_text_agree_with_the_reference_at_full_size() -> None:
    distances: dict[str, int] = {}
    for name, make in PICTURES.items():
        rgb = make()
        for encoding, save in ENCODINGS.items():
            data = save(rgb)
            ours, theirs = hash_bytes(data).pdq, reference_of_file(data)
            distances[f"{name}@{encoding}"] = hamming_distance(ours.value, theirs[0])
            assert ours.quality == theirs[1], name
    values = sorted(distances.values())
    assert len(values) == 48
    assert statistics.median(values) <= 1
    assert values[int(0.99 * len(values))] <= 8
    assert max(values) <= 16, {k: v for k, v in distances.items() if v > 16}
    # What it measures today: bit for bit, every one.
    assert max(values) == 0, {k: v for k, v in distances.items() if v}


def test_the_old_scaled_hash_missed_these_by_far() -> None:
    """The pictures above are the ones issue #16 named: scaled to 320 x 320 first, they drift tens of bits."""
    drift = [
        hamming_distance(hash_bytes(data, side=320).pdq.value, reference_of_file(data)[0])
        for data in (encode(PICTURES[name](), "JPEG", quality=90) for name in ("brick", "grass", "drawn-text"))
    ]
    assert max(drift) > 16


@pytest.mark.parametrize(
    "size", [(5, 5), (7, 5), (16, 16), (40, 30), (64, 64), (63, 65), (100, 75), (129, 127), (1000, 750), (1226, 816)]
)
def test_small_odd_and_even_sizes_agree_bit_for_bit(size: tuple[int, int]) -> None:
    for name in ("astronaut", "brick", "page"):
        rgb = sized(photo(name), *size)
        data = encode(rgb, "PNG")
        assert (hash_bytes(data).pdq.value, hash_bytes(data).pdq.quality) == reference(rgb), (name, size)


def test_pictures_under_five_pixels_hash_as_the_reference_does() -> None:
    rgb = sized(photo("coffee"), 4, 30)
    hashes = hash_bytes(encode(rgb, "PNG"))
    assert (hashes.pdq.value, hashes.pdq.quality) == reference(rgb) == ("0" * 64, 0)


@pytest.mark.parametrize("size", [(1000, 750), (333, 501), (48, 40)])
def test_each_query_hash_is_the_reference_hash_of_the_turned_picture(size: tuple[int, int]) -> None:
    rgb = sized(photo("chelsea"), *size)
    turns = {
        "original": rgb,
        "rotate90": np.rot90(rgb, 1),
        "rotate180": np.rot90(rgb, 2),
        "rotate270": np.rot90(rgb, 3),
        "flip_x": rgb[::-1],
        "flip_y": rgb[:, ::-1],
        "flip_plus1": rgb.transpose(1, 0, 2),
        "flip_minus1": np.rot90(rgb, 2).transpose(1, 0, 2),
    }
    hashes = hash_bytes(encode(rgb, "PNG"))
    assert list(turns) == list(DIHEDRAL_NAMES)
    for (name, turned), ours in zip(turns.items(), hashes.dihedral, strict=True):
        assert hamming_distance(ours, reference(turned)[0]) <= 2, name  # exact but for near-ties


def test_a_mirrored_or_turned_copy_finds_the_stored_hash() -> None:
    """What the old 320 x 320 path was chosen for, kept: at sizes where PDQ's windows are even and its samples
    off-centre (1000 x 750), the reference's own rotation trick can miss by tens of bits (bench_hashing.py
    measures it); the turned picture's real reference hash does not."""
    rgb = sized(photo("astronaut"), 1000, 750)
    stored = hash_bytes(encode(rgb, "PNG")).pdq.value
    picture = Image.fromarray(rgb)
    for turn in (ImageOps.mirror, ImageOps.flip, lambda i: i.transpose(Image.Transpose.ROTATE_90)):
        copy = hash_bytes(encode(turn(picture), "JPEG", quality=85))
        assert min(hamming_distance(q, stored) for q in copy.query_hashes) <= 6


def test_float_luma_is_the_references_luma_bit_for_bit() -> None:
    rgb = np.random.default_rng(3).integers(0, 256, (300, 457, 3), dtype=np.uint8)
    theirs = (rgb[:, :, 0] * 0.299 + rgb[:, :, 1] * 0.587 + rgb[:, :, 2] * 0.114).astype(np.float32)
    assert np.array_equal(float_luma(Image.fromarray(rgb)), theirs)
    grey = rgb[:, :, 0]
    assert np.array_equal(float_luma(Image.fromarray(grey)), grey.astype(np.float32))


def test_exif_orientation_stores_the_shown_picture_and_queries_the_stored_pixels() -> None:
    upright = photo("coffee")
    sideways = np.ascontiguousarray(np.rot90(upright, -1))  # what a phone held sideways writes
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display"
    data = encode(sideways, "JPEG", quality=95, exif=exif.tobytes())
    hashes = hash_bytes(data)
    decoded = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    assert hashes.pdq.value == reference(np.rot90(decoded, -1))[0]  # as displayed
    assert reference(decoded)[0] in hashes.query_hashes  # python-threatexchange ignores EXIF: still found


def test_transparency_keeps_the_shown_hash_and_queries_the_one_pdqhash_sees() -> None:
    rgba = np.dstack([sized(photo("chelsea"), 200, 150), np.full((150, 200), 255, np.uint8)])
    rgba[:, :60, :3] = np.random.default_rng(0).integers(0, 256, (150, 60, 3), dtype=np.uint8)
    rgba[:, :60, 3] = 0  # hidden colours behind full transparency
    hashes: MediaHashes = hash_bytes(encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    shown = rgba[:, :, :3].copy()
    shown[:, :60] = 255
    assert hashes.pdq.value == reference(shown)[0]
    assert hashes.pdq_ignoring_alpha == reference(rgba[:, :, :3])[0]  # what HMA hands pdqhash for this file
    assert hashes.pdq_ignoring_alpha in hashes.query_hashes


def test_the_reference_path_refuses_what_is_not_a_plane() -> None:
    with pytest.raises(ValueError, match="float32"):
        pdq_reference_dihedral(np.zeros((10, 10), dtype=np.uint8))  # type: ignore[arg-type]


def test_a_small_copy_is_also_queried_upscaled() -> None:
    """The reference blurs a picture by 1/128 of its side, so a copy at a quarter size hashes far from its
    original (point samples against averages); upscaled, it hashes close. Stored: only the reference hash."""
    originals = [sized(photo(name), 640, 480) for name in ("astronaut", "coffee", "rocket", "chelsea", "camera")]
    plain, queried = [], []
    for rgb in originals:
        stored = hash_bytes(encode(rgb, "PNG"))
        assert stored.upscaled_dihedral == ()  # 640 wide: not small
        small = hash_bytes(encode(sized(rgb, 160, 120), "JPEG", quality=85))
        assert len(small.upscaled_dihedral) == 8 and small.upscaled_dihedral[0] in small.query_hashes
        assert [r.value for r in small.signals() if r.signal_type == "pdq"] == [small.pdq.value]
        plain.append(hamming_distance(small.pdq.value, stored.pdq.value))
        queried.append(min(hamming_distance(q, stored.pdq.value) for q in small.query_hashes))
    assert max(queried) <= 16 and sum(queried) < sum(plain), (plain, queried)
