"""Test pictures for the benches: scikit-image's bundled sample photos and procedurally drawn scenes.

Nothing here is real-world user content. Everything is deterministic (fixed seeds) so runs compare.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps
from skimage import data as skdata

RGB = npt.NDArray[np.uint8]

# Photos that make the bases; the distractors come from the other list, so no distractor shows a base.
BASE_PHOTOS = (
    "astronaut",
    "camera",
    "chelsea",
    "coffee",
    "coins",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "rocket",
    "moon",
    "cell",
    "clock",
)
DISTRACTOR_PHOTOS = ("horse", "brick", "grass", "gravel", "page", "text", "colorwheel", "logo", "microaneurysms")


@cache
def photo(name: str) -> RGB:
    """A bundled scikit-image picture as HxWx3 uint8."""
    array = np.asarray(getattr(skdata, name)())
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=2)
    return np.ascontiguousarray(array[:, :, :3].astype(np.uint8))


def resized(image: Image.Image, width: int, height: int) -> Image.Image:
    return image.resize((width, height), Image.Resampling.LANCZOS)


def fit(image: Image.Image, long_side: int) -> Image.Image:
    scale = long_side / max(image.size)
    return resized(image, max(1, round(image.width * scale)), max(1, round(image.height * scale)))


def jpeg(image: Image.Image, quality: int = 90) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=quality)
    return out.getvalue()


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def scene(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A procedurally drawn picture: a smooth colour field, shapes and lines, a little grain."""
    rng = np.random.default_rng(seed)
    width, height = size
    grid = rng.integers(0, 256, (int(rng.integers(2, 6)), int(rng.integers(2, 6)), 3), dtype=np.uint8)
    image = Image.fromarray(grid).resize(size, Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(6, 24))):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        x0, x1 = sorted(int(v) for v in rng.integers(-width // 4, width * 5 // 4, 2))
        y0, y1 = sorted(int(v) for v in rng.integers(-height // 4, height * 5 // 4, 2))
        kind = int(rng.integers(0, 4))
        if kind == 0:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        elif kind == 1:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
        elif kind == 2:
            points = [
                (int(rng.integers(0, width)), int(rng.integers(0, height))) for _ in range(int(rng.integers(3, 7)))
            ]
            draw.polygon(points, fill=colour)
        else:
            draw.line((x0, y0, x1, y1), fill=colour, width=int(rng.integers(2, 20)))
    grain = rng.normal(0, 6, (height, width, 3))
    return Image.fromarray(np.clip(np.asarray(image, dtype=np.float64) + grain, 0, 255).astype(np.uint8))


@dataclass(frozen=True)
class Picture:
    label: str
    image: Image.Image
    source: str  # which photo (or scene) it came from


def bases(count: int) -> list[Picture]:
    """Base pictures (as banked): full photos, non-overlapping quarters of the larger ones, then scenes."""
    out = [Picture(name, fit(Image.fromarray(photo(name)), 640), name) for name in BASE_PHOTOS]
    for name in ("astronaut", "camera", "coffee", "hubble_deep_field", "immunohistochemistry", "retina", "rocket"):
        full = Image.fromarray(photo(name))
        half_w, half_h = full.width // 2, full.height // 2
        for label, box in (("tl", (0, 0, half_w, half_h)), ("br", (half_w, half_h, full.width, full.height))):
            out.append(Picture(f"{name}-{label}", resized(full.crop(box), 640, 480), name))
    seed = 0
    while len(out) < count:
        out.append(Picture(f"scene-{seed}", scene(seed), f"scene-{seed}"))
        seed += 1
    return out[:count]


def distractors(count: int) -> list[Picture]:
    """Unrelated pictures: random crops of photos no base comes from, then scenes with other seeds."""
    rng = np.random.default_rng(99)
    out: list[Picture] = []
    for name in DISTRACTOR_PHOTOS:
        full = Image.fromarray(photo(name))
        for index in range(12):
            scale = float(rng.uniform(0.35, 0.9))
            w, h = max(16, int(full.width * scale)), max(16, int(full.height * scale))
            x, y = int(rng.integers(0, full.width - w + 1)), int(rng.integers(0, full.height - h + 1))
            out.append(Picture(f"{name}-crop{index}", fit(full.crop((x, y, x + w, y + h)), 640), name))
    seed = 100_000
    while len(out) < count:
        out.append(Picture(f"scene-{seed}", scene(seed), f"scene-{seed}"))
        seed += 1
    return out[:count]


def one_megapixel_jpegs(count: int, quality: int = 90) -> list[bytes]:
    """`count` distinct ~1 MP JPEGs: photos and scenes scaled up or down to about a million pixels."""
    sources = [Image.fromarray(photo(name)) for name in BASE_PHOTOS + DISTRACTOR_PHOTOS[:4]]
    out = []
    for index in range(count):
        image = sources[index] if index < len(sources) else scene(index, (1224, 816))
        scale = (1_000_000 / (image.width * image.height)) ** 0.5
        out.append(jpeg(resized(image, round(image.width * scale), round(image.height * scale)), quality))
    return out


# ---------------------------------------------------------------- the copies people make


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def caption_bar(image: Image.Image, *, bottom: bool) -> Image.Image:
    """A meme-style white bar with black text above (and maybe below) the picture."""
    bar = max(20, image.height * 15 // 100)
    canvas = Image.new("RGB", (image.width, image.height + bar * (2 if bottom else 1)), "white")
    canvas.paste(image, (0, bar))
    draw = ImageDraw.Draw(canvas)
    draw.text((10, bar // 4), "when the bench finally passes", fill="black", font=_font(bar // 2))
    if bottom:
        draw.text((10, image.height + bar + bar // 4), "SHARE IF YOU AGREE", fill="black", font=_font(bar // 2))
    return canvas


def overlay_text(image: Image.Image) -> Image.Image:
    """Large white text with a dark outline across the picture itself."""
    canvas = image.convert("RGB")
    draw = ImageDraw.Draw(canvas)
    size = image.height // 8
    for y, text in ((size // 3, "TOP TEXT HERE"), (image.height - size * 4 // 3, "BOTTOM TEXT")):
        draw.text((image.width // 10, y), text, fill="white", font=_font(size), stroke_width=3, stroke_fill="black")
    return canvas


def sticker(image: Image.Image, fraction: float) -> Image.Image:
    """A round yellow face pasted near the bottom-right corner, `fraction` of the picture's width across."""
    canvas = image.convert("RGB")
    side = max(8, int(image.width * fraction))
    patch = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    draw = ImageDraw.Draw(patch)
    draw.ellipse((0, 0, side - 1, side - 1), fill=(255, 205, 40, 255), outline=(120, 80, 0, 255), width=3)
    eye = side // 8
    draw.ellipse((side // 3 - eye, side // 3 - eye, side // 3 + eye, side // 3 + eye), fill=(40, 30, 20, 255))
    draw.ellipse((2 * side // 3 - eye, side // 3 - eye, 2 * side // 3 + eye, side // 3 + eye), fill=(40, 30, 20, 255))
    draw.arc((side // 4, side // 3, 3 * side // 4, 3 * side // 4), 20, 160, fill=(40, 30, 20, 255), width=4)
    canvas.paste(patch, (image.width - side - image.width // 20, image.height - side - image.height // 20), patch)
    return canvas


def centre_crop(image: Image.Image, fraction: float) -> Image.Image:
    """Remove `fraction` of the width and of the height, half from each side."""
    dx, dy = round(image.width * fraction / 2), round(image.height * fraction / 2)
    return image.crop((dx, dy, image.width - dx, image.height - dy))


def corner_crop(image: Image.Image, fraction: float) -> Image.Image:
    """Remove `fraction` of the width from the left and of the height from the top."""
    return image.crop((round(image.width * fraction), round(image.height * fraction), image.width, image.height))


def border(image: Image.Image, fraction: float, colour: str) -> Image.Image:
    return ImageOps.expand(image, border=max(1, round(max(image.size) * fraction)), fill=colour)


def noise(image: Image.Image, sigma: float, seed: int = 0) -> Image.Image:
    array = np.asarray(image.convert("RGB"), dtype=np.float64)
    noisy = array + np.random.default_rng(seed).normal(0, sigma, array.shape)
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def scaled(image: Image.Image, factor: float) -> Image.Image:
    return image.resize(
        (max(1, round(image.width * factor)), max(1, round(image.height * factor))), Image.Resampling.BICUBIC
    )


Transform = Callable[[Image.Image], bytes]


def _then_jpeg(change: Callable[[Image.Image], Image.Image]) -> Transform:
    # Messengers re-encode what they forward; every changed copy is stored as a quality-85 JPEG.
    return lambda image: jpeg(change(image), 85)


def _reencode(quality: int) -> Transform:
    return lambda image: jpeg(image, quality)


# (group, name, transform). Groups with a recall target come first.
TRANSFORMS: list[tuple[str, str, Transform]] = [
    *(("re-encode", f"jpeg q{q}", _reencode(q)) for q in (90, 70, 50, 30)),
    ("re-encode", "webp q50", lambda image: _webp(image, 50)),
    *(
        ("resize", f"resize {round(f * 100)}%", _then_jpeg(lambda i, f=f: scaled(i, f)))
        for f in (0.25, 0.5, 0.75, 1.5, 2.0)
    ),
    ("resize", "squash 4:3->16:9", _then_jpeg(lambda i: i.resize((i.width * 4 // 3, i.height)))),
    ("colour", "grey", _then_jpeg(lambda i: i.convert("L"))),
    ("colour", "brighter +20%", _then_jpeg(lambda i: ImageEnhance.Brightness(i).enhance(1.2))),
    ("colour", "darker -20%", _then_jpeg(lambda i: ImageEnhance.Brightness(i).enhance(0.8))),
    ("colour", "contrast +30%", _then_jpeg(lambda i: ImageEnhance.Contrast(i).enhance(1.3))),
    ("colour", "contrast -30%", _then_jpeg(lambda i: ImageEnhance.Contrast(i).enhance(0.7))),
    ("colour", "saturation x2", _then_jpeg(lambda i: ImageEnhance.Color(i).enhance(2.0))),
    ("colour", "saturation x0.3", _then_jpeg(lambda i: ImageEnhance.Color(i).enhance(0.3))),
    ("colour", "hue/colour cast", _then_jpeg(lambda i: _colour_cast(i))),
    ("strong colour", "brighter +40%", _then_jpeg(lambda i: ImageEnhance.Brightness(i).enhance(1.4))),
    ("strong colour", "darker -40%", _then_jpeg(lambda i: ImageEnhance.Brightness(i).enhance(0.6))),
    ("strong colour", "contrast +50%", _then_jpeg(lambda i: ImageEnhance.Contrast(i).enhance(1.5))),
    ("strong colour", "contrast -50%", _then_jpeg(lambda i: ImageEnhance.Contrast(i).enhance(0.5))),
    ("blur/noise", "gaussian blur r=2", _then_jpeg(lambda i: i.filter(ImageFilter.GaussianBlur(2)))),
    ("blur/noise", "gaussian blur r=4", _then_jpeg(lambda i: i.filter(ImageFilter.GaussianBlur(4)))),
    ("blur/noise", "noise sigma=10", _then_jpeg(lambda i: noise(i, 10))),
    ("blur/noise", "noise sigma=25", _then_jpeg(lambda i: noise(i, 25))),
    ("mirror/turn", "mirror", _then_jpeg(ImageOps.mirror)),
    ("mirror/turn", "flip", _then_jpeg(ImageOps.flip)),
    ("mirror/turn", "rotate 90", _then_jpeg(lambda i: i.transpose(Image.Transpose.ROTATE_90))),
    ("mirror/turn", "rotate 180", _then_jpeg(lambda i: i.transpose(Image.Transpose.ROTATE_180))),
    ("mirror/turn", "rotate 270", _then_jpeg(lambda i: i.transpose(Image.Transpose.ROTATE_270))),
    (
        "mirror/turn",
        "mirror + rotate 90",
        _then_jpeg(lambda i: ImageOps.mirror(i).transpose(Image.Transpose.ROTATE_90)),
    ),
    ("crop", "crop 2% (centred)", _then_jpeg(lambda i: centre_crop(i, 0.02))),
    ("crop", "crop 5% (centred)", _then_jpeg(lambda i: centre_crop(i, 0.05))),
    ("crop", "crop 10% (centred)", _then_jpeg(lambda i: centre_crop(i, 0.10))),
    ("crop", "crop 5% (top-left)", _then_jpeg(lambda i: corner_crop(i, 0.05))),
    ("crop", "crop 10% (top-left)", _then_jpeg(lambda i: corner_crop(i, 0.10))),
    ("crop", "rotate 3 degrees", _then_jpeg(lambda i: i.rotate(3, resample=Image.Resampling.BICUBIC))),
    ("border", "white border 5%", _then_jpeg(lambda i: border(i, 0.05, "white"))),
    ("border", "black border 10%", _then_jpeg(lambda i: border(i, 0.10, "black"))),
    ("border", "letterbox to 16:9", _then_jpeg(lambda i: _letterbox(i))),
    ("overlay", "caption bar (top)", _then_jpeg(lambda i: caption_bar(i, bottom=False))),
    ("overlay", "caption bars (top+bottom)", _then_jpeg(lambda i: caption_bar(i, bottom=True))),
    ("overlay", "text over picture", _then_jpeg(overlay_text)),
    ("overlay", "sticker 10% wide", _then_jpeg(lambda i: sticker(i, 0.10))),
    ("overlay", "sticker 25% wide", _then_jpeg(lambda i: sticker(i, 0.25))),
]
TARGET_GROUPS = ("re-encode", "resize", "colour", "blur/noise", "mirror/turn")


def _colour_cast(image: Image.Image) -> Image.Image:
    """A warm 'filter': red up, blue down, as photo apps do."""
    red, green, blue = image.convert("RGB").split()
    return Image.merge("RGB", (red.point(lambda v: min(255, v * 1.15)), green, blue.point(lambda v: v * 0.8)))


def _webp(image: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, "WEBP", quality=quality)
    return out.getvalue()


def _letterbox(image: Image.Image) -> Image.Image:
    """Black bars to make the picture 16:9 (above and below, or left and right)."""
    width = max(image.width, image.height * 16 // 9)
    height = max(image.height, image.width * 9 // 16)
    canvas = Image.new("RGB", (width, height), "black")
    canvas.paste(image, ((width - image.width) // 2, (height - image.height) // 2))
    return canvas
