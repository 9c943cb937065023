"""The PDQ evaluation set: pictures built by code, and what the reference PDQ says about each.

    from _pdq_eval import evaluation_set, reference_pdq, turned_copies

Nothing here is real-world user content: scikit-image's bundled sample pictures, text rendered with Pillow's
fonts, drawn line art, synthetic app screenshots, procedural textures and scenes, each saved the ways people
save pictures (PNG, JPEG at several qualities, progressive JPEG, WebP, GIF), plus tiny and very large
pictures. Everything is deterministic (fixed seeds), so runs compare.

The reference is what python-threatexchange, HMA and the PDQ tools compute: `pdqhash.compute` on the whole
decoded picture as RGB (Pillow's `convert("RGB")`), at full size, with no EXIF rotation applied.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pdqhash
from _images import scene
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

# ---------------------------------------------------------------- the reference


def reference_pdq(data: bytes) -> tuple[str, int]:
    """(hex, quality) as `pdqhash.compute` gives it on the full-size RGB picture."""
    with Image.open(io.BytesIO(data)) as image:
        rgb = np.asarray(image.convert("RGB"))
    bits, quality = pdqhash.compute(rgb)
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex(), int(quality)


# ---------------------------------------------------------------- what the set holds


@dataclass(frozen=True)
class EvalImage:
    label: str  # "<category>/<picture>@<encoding>"
    category: str  # photo, texture, text, line art, screenshot, scene, tiny, large
    picture: str  # the base picture it shows, so copies of one picture can be grouped
    data: bytes


def _rgb(array: np.ndarray) -> Image.Image:
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    if array.dtype != np.uint8:
        low, high = float(array.min()), float(array.max())
        array = np.round((array - low) * (255.0 / max(high - low, 1e-9))).astype(np.uint8)
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=2)
    return Image.fromarray(np.ascontiguousarray(array[:, :, :3]))


def _skimage(name: str) -> Image.Image:
    from skimage import data as skdata

    value = getattr(skdata, name)()
    return _rgb(np.asarray(value[0] if isinstance(value, tuple) else value))


def _fit(image: Image.Image, long_side: int) -> Image.Image:
    scale = long_side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


# ---------------------------------------------------------------- fonts and text


_FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")  # Debian's fonts-dejavu-core
_FONT_FILES = ("DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf", "DejaVuSans-Bold.ttf")


@cache
def font(index: int, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """A DejaVu face if the system has it (fonts-dejavu-core), else Pillow's built-in scalable font."""
    path = _FONT_DIR / _FONT_FILES[index % len(_FONT_FILES)]
    if path.exists():
        return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size=size)


_WORDS = (
    "the quick brown fox jumps over a lazy dog while hashes of every copy are compared bit by bit and "
    "a report reaches the hotline before the picture spreads any further through forwarded messages "
    "authority orders name the item the platform removes each placement and records a statement of reasons"
).split()


def _sentence(rng: np.random.Generator, words: int) -> str:
    return " ".join(_WORDS[int(i)] for i in rng.integers(0, len(_WORDS), words))


def text_page(seed: int, size: tuple[int, int], font_size: int, *, dark: bool = False, face: int = 0) -> Image.Image:
    """A page of paragraphs: the case where PDQ's 16x16 frequencies are all close to one another."""
    rng = np.random.default_rng(seed)
    ink, paper = ((235, 235, 235), (24, 26, 30)) if dark else ((20, 20, 20), (255, 255, 255))
    image = Image.new("RGB", size, paper)
    draw = ImageDraw.Draw(image)
    face_font = font(face, font_size)
    y = font_size
    while y < size[1] - font_size * 2:
        if rng.random() < 0.15:
            y += font_size  # paragraph break
        draw.text((font_size, y), _sentence(rng, int(size[0] / font_size / 2.5)), fill=ink, font=face_font)
        y += int(font_size * 1.4)
    return image


def code_screenshot(seed: int, size: tuple[int, int]) -> Image.Image:
    """Monospaced, syntax-coloured lines on a dark editor background."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", size, (30, 30, 36))
    draw = ImageDraw.Draw(image)
    mono = font(2, 15)
    colours = [(198, 120, 221), (152, 195, 121), (97, 175, 239), (229, 192, 123), (171, 178, 191)]
    draw.rectangle((0, 0, 48, size[1]), fill=(40, 40, 48))
    for row, y in enumerate(range(8, size[1] - 20, 20)):
        draw.text((8, y), f"{row + 1:3d}", fill=(90, 90, 100), font=mono)
        x = 60 + 18 * int(rng.integers(0, 5))
        for _ in range(int(rng.integers(1, 6))):
            word = _WORDS[int(rng.integers(0, len(_WORDS)))] + "()" * int(rng.integers(0, 2))
            draw.text((x, y), word, fill=colours[int(rng.integers(0, len(colours)))], font=mono)
            x += 9 * (len(word) + 1)
    return image


# ---------------------------------------------------------------- line art


def line_art(seed: int, size: tuple[int, int] = (1000, 750)) -> Image.Image:
    """Thin black strokes on white: polylines, circles, a grid. Few pixels carry all the picture."""
    rng = np.random.default_rng(seed)
    width, height = size
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    stroke = int(rng.choice([1, 1, 2, 3]))
    for _ in range(int(rng.integers(8, 30))):
        kind = int(rng.integers(0, 3))
        if kind == 0:
            count = int(rng.integers(2, 6))
            points = [(int(rng.integers(0, width)), int(rng.integers(0, height))) for _ in range(count)]
            draw.line(points, fill="black", width=stroke)
        elif kind == 1:
            x, y, r = int(rng.integers(0, width)), int(rng.integers(0, height)), int(rng.integers(10, width // 4))
            draw.ellipse((x - r, y - r, x + r, y + r), outline="black", width=stroke)
        else:
            x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
            x1, y1 = x0 + int(rng.integers(20, 300)), y0 + int(rng.integers(20, 300))
            draw.rectangle((x0, y0, x1, y1), outline="black", width=stroke)
    return image


def chart(seed: int, size: tuple[int, int] = (1200, 800)) -> Image.Image:
    """A line chart with axes, grid and labels, as people screenshot from dashboards."""
    rng = np.random.default_rng(seed)
    width, height = size
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    left, bottom = 80, height - 60
    for x in range(left, width - 20, 100):
        draw.line((x, 20, x, bottom), fill=(225, 225, 225))
    for y in range(40, bottom, 80):
        draw.line((left, y, width - 20, y), fill=(225, 225, 225))
        draw.text((10, y - 8), f"{(bottom - y) * 3}", fill="black", font=font(0, 14))
    draw.line((left, 20, left, bottom), fill="black", width=2)
    draw.line((left, bottom, width - 20, bottom), fill="black", width=2)
    for colour in ((31, 119, 180), (255, 127, 14), (44, 160, 44)):
        values = np.cumsum(rng.normal(0, 25, 40)) + (bottom - 40) / 2
        points = [(left + i * (width - left - 20) // 39, int(np.clip(v, 30, bottom - 5))) for i, v in enumerate(values)]
        draw.line(points, fill=colour, width=3)
    return image


def floor_plan(seed: int, size: tuple[int, int] = (900, 900)) -> Image.Image:
    """Walls as thick lines, doors as arcs, room names: line art with text."""
    rng = np.random.default_rng(seed)
    width, height = size
    image = Image.new("RGB", size, (250, 250, 245))
    draw = ImageDraw.Draw(image)
    draw.rectangle((30, 30, width - 30, height - 30), outline="black", width=6)
    xs = sorted(int(v) for v in rng.integers(150, width - 150, 2))
    ys = sorted(int(v) for v in rng.integers(150, height - 150, 2))
    for x in xs:
        draw.line((x, 30, x, height - 30), fill="black", width=4)
    for y in ys:
        draw.line((30, y, width - 30, y), fill="black", width=4)
    for x in xs:
        for y in ys:
            draw.arc((x - 40, y - 40, x + 40, y + 40), 0, 90, fill="black", width=2)
            draw.text((x + 20, y + 50), _WORDS[int(rng.integers(0, len(_WORDS)))], fill="black", font=font(1, 18))
    return image


# ---------------------------------------------------------------- screenshots


def app_screenshot(seed: int, size: tuple[int, int] = (1366, 768)) -> Image.Image:
    """A desktop window: title bar, sidebar, toolbar buttons, a list of text rows. Flat colour and text."""
    rng = np.random.default_rng(seed)
    width, height = size
    accent = tuple(int(c) for c in rng.integers(40, 220, 3))
    image = Image.new("RGB", size, (246, 246, 248))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width, 36), fill=(222, 222, 226))
    for i, colour in enumerate(((255, 95, 86), (255, 189, 46), (39, 201, 63))):
        draw.ellipse((12 + 22 * i, 11, 26 + 22 * i, 25), fill=colour)
    draw.text((width // 2 - 60, 9), "Firebreak review", fill=(60, 60, 60), font=font(0, 15))
    draw.rectangle((0, 36, 220, height), fill=(236, 236, 240))
    for i in range(12):
        draw.text((20, 60 + 34 * i), _sentence(rng, 2), fill=(50, 50, 50), font=font(0, 14))
    for i in range(5):
        x = 240 + 120 * i
        draw.rounded_rectangle((x, 50, x + 100, 82), radius=6, fill=accent)
        draw.text((x + 14, 57), _WORDS[int(rng.integers(0, len(_WORDS)))][:9], fill="white", font=font(3, 14))
    for i, y in enumerate(range(100, height - 30, 30)):
        if i % 2:
            draw.rectangle((230, y, width - 10, y + 30), fill=(238, 240, 244))
        draw.text((240, y + 7), _sentence(rng, int(rng.integers(4, 12))), fill=(30, 30, 30), font=font(0, 13))
    return image


def chat_screenshot(seed: int, size: tuple[int, int] = (1170, 2532)) -> Image.Image:
    """A phone chat: speech bubbles left and right, status bar, keyboard area."""
    rng = np.random.default_rng(seed)
    width, height = size
    image = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width, 140), fill=(247, 247, 247))
    draw.text((width // 2 - 90, 70), "Conversation", fill="black", font=font(3, 44))
    y = 180
    while y < height - 700:
        mine = bool(rng.random() < 0.5)
        lines = int(rng.integers(1, 4))
        box_width = int(rng.integers(300, width - 250))
        box_height = 40 + 54 * lines
        x0 = width - box_width - 40 if mine else 40
        fill = (0, 122, 255) if mine else (233, 233, 235)
        draw.rounded_rectangle((x0, y, x0 + box_width, y + box_height), radius=36, fill=fill)
        for line in range(lines):
            text = _sentence(rng, max(1, box_width // 110))
            draw.text((x0 + 30, y + 20 + 54 * line), text, fill="white" if mine else "black", font=font(0, 40))
        y += box_height + 30
    draw.rectangle((0, height - 680, width, height), fill=(209, 212, 218))
    for row in range(4):
        for key in range(10 - row):
            x, y = 20 + row * 50 + key * 112, height - 640 + row * 150
            draw.rounded_rectangle((x, y, x + 100, y + 120), radius=10, fill="white")
    return image


def spreadsheet(seed: int, size: tuple[int, int] = (1440, 900)) -> Image.Image:
    rng = np.random.default_rng(seed)
    width, height = size
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width, 30), fill=(240, 240, 240))
    for x in range(0, width, 110):
        draw.line((x, 0, x, height), fill=(210, 210, 210))
    for row, y in enumerate(range(30, height, 24)):
        draw.line((0, y, width, y), fill=(210, 210, 210))
        for col, x in enumerate(range(0, width - 110, 110)):
            if row and col and rng.random() < 0.7:
                draw.text((x + 6, y + 5), f"{rng.normal(1000, 400):,.2f}", fill="black", font=font(0, 12))
    return image


# ---------------------------------------------------------------- textures


def texture(kind: str, seed: int, size: tuple[int, int] = (800, 800)) -> Image.Image:
    """Procedural textures: the fine, repetitive detail that makes PDQ's box filter and sampling matter."""
    rng = np.random.default_rng(seed)
    width, height = size
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    if kind == "stripes":
        period = float(rng.uniform(3, 40))
        angle = float(rng.uniform(0, math.pi))
        value = 127.5 + 127.5 * np.sin(2 * math.pi * (x * math.cos(angle) + y * math.sin(angle)) / period)
    elif kind == "checks":
        cell = int(rng.integers(1, 24))
        value = ((x // cell + y // cell) % 2) * 255.0
    elif kind == "noise":
        value = rng.integers(0, 256, (height, width)).astype(np.float64)
    elif kind == "fractal":
        value = np.zeros((height, width))
        for octave in range(1, 8):
            cells = 2**octave
            grid = rng.normal(0, 1, (cells + 1, cells + 1))
            layer = np.asarray(Image.fromarray(grid.astype(np.float32)).resize(size, Image.Resampling.BICUBIC))
            value += layer / octave
        value = (value - value.min()) * (255.0 / (np.ptp(value) or 1.0))
    elif kind == "dots":
        image = Image.new("L", size, 255)
        draw = ImageDraw.Draw(image)
        for _ in range(int(rng.integers(200, 2000))):
            cx, cy, r = int(rng.integers(0, width)), int(rng.integers(0, height)), int(rng.integers(1, 12))
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=int(rng.integers(0, 200)))
        value = np.asarray(image, dtype=np.float64)
    elif kind == "weave":
        period = int(rng.integers(4, 16))
        value = 127.5 + 60 * np.sin(2 * math.pi * x / period) * np.sign(np.sin(2 * math.pi * y / (3 * period)))
        value += rng.normal(0, 12, value.shape)
    else:
        raise ValueError(kind)
    grey = np.clip(value, 0, 255).astype(np.uint8)
    tint = rng.uniform(0.6, 1.0, 3)
    return Image.fromarray(np.clip(grey[:, :, None] * tint, 0, 255).astype(np.uint8))


# ---------------------------------------------------------------- the bases


PHOTOS = (
    "astronaut", "camera", "chelsea", "coffee", "coins", "hubble_deep_field", "immunohistochemistry", "retina",
    "rocket", "moon", "cell", "clock", "horse", "colorwheel", "logo", "microaneurysms", "stereo_motorcycle",
    "shepp_logan_phantom",
)  # fmt: skip
SKIMAGE_TEXTURES = ("brick", "grass", "gravel", "checkerboard", "binary_blobs")
SKIMAGE_TEXT = ("text", "page")
TEXTURE_KINDS = ("stripes", "checks", "noise", "fractal", "dots", "weave")


def bases(*, quick: bool = False) -> Iterator[tuple[str, str, Image.Image]]:
    """(category, name, picture) for each base picture, at a size people post."""
    photos = PHOTOS[:4] if quick else PHOTOS
    for name in photos:
        image = _skimage(name)
        yield "photo", name, image
        if not quick and max(image.size) < 700 and name in ("astronaut", "coffee", "chelsea", "rocket"):
            yield "photo", f"{name}-2mp", _fit(image, 1700)  # phone-sized: upscaled sample photos
    for name in SKIMAGE_TEXTURES[: 2 if quick else None]:
        yield "texture", name, _skimage(name)
    for index, kind in enumerate(TEXTURE_KINDS[: 2 if quick else None]):
        for seed in range(1 if quick else 2):
            size = ((800, 800), (1024, 683))[seed]
            yield "texture", f"{kind}-{seed}", texture(kind, 10 * index + seed, size)
    for name in SKIMAGE_TEXT:
        yield "text", name, _skimage(name)
    text_variants = [
        ((1240, 1754), 22, False, 0),  # an A4 page at 150 dpi
        ((1080, 1080), 40, False, 1),  # a quote card
        ((900, 600), 14, True, 0),  # small white text on dark
        ((1600, 900), 28, False, 2),
        ((640, 360), 11, False, 1),
        ((2000, 1200), 60, True, 3),
    ]
    for index, (size, font_size, dark, face) in enumerate(text_variants[: 2 if quick else None]):
        yield "text", f"page-{index}", text_page(index, size, font_size, dark=dark, face=face)
    if quick:
        return
    yield "text", "code", code_screenshot(1, (1280, 800))
    for seed in range(4):
        yield "line art", f"lines-{seed}", line_art(seed)
    yield "line art", "chart-0", chart(0)
    yield "line art", "chart-1", chart(1, (800, 500))
    yield "line art", "plan-0", floor_plan(0)
    yield "line art", "plan-1", floor_plan(1, (1400, 1000))
    yield "screenshot", "app-0", app_screenshot(0)
    yield "screenshot", "app-1", app_screenshot(1, (1920, 1080))
    yield "screenshot", "chat-0", chat_screenshot(0)
    yield "screenshot", "chat-1", chat_screenshot(1, (750, 1334))
    yield "screenshot", "sheet-0", spreadsheet(0)
    yield "screenshot", "code-1", code_screenshot(2, (1920, 1080))
    for seed in range(6):
        yield "scene", f"scene-{seed}", scene(seed, ((640, 480), (1224, 816), (1080, 1350))[seed % 3])


# ---------------------------------------------------------------- how each picture is saved


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    if fmt in ("JPEG", "WEBP"):
        image = image.convert("RGB")
    image.save(out, fmt, **params)
    return out.getvalue()


def _stretched(image: Image.Image) -> Image.Image:
    return image.resize((image.width * 4 // 3, image.height), Image.Resampling.BICUBIC)


ENCODINGS: list[tuple[str, Callable[[Image.Image], bytes]]] = [
    ("png", lambda i: encode(i, "PNG")),
    ("jpeg-q90", lambda i: encode(i, "JPEG", quality=90)),
    ("jpeg-q75-progressive", lambda i: encode(i, "JPEG", quality=75, progressive=True)),
    ("jpeg-q50", lambda i: encode(i, "JPEG", quality=50)),
    ("webp-q80", lambda i: encode(i, "WEBP", quality=80)),
    ("mirrored-jpeg-q85", lambda i: encode(ImageOps.mirror(i), "JPEG", quality=85)),
    ("stretched-jpeg-q85", lambda i: encode(_stretched(i), "JPEG", quality=85)),
]
EXTRA_ENCODINGS: dict[str, list[tuple[str, Callable[[Image.Image], bytes]]]] = {
    # Palettes suit drawings and screenshots; people save those as GIF and 4:4:4 JPEG.
    "line art": [("gif", lambda i: encode(i.convert("P", palette=Image.Palette.ADAPTIVE), "GIF")),
                 ("jpeg-q95-444", lambda i: encode(i, "JPEG", quality=95, subsampling=0))],
    "screenshot": [("gif", lambda i: encode(i.convert("P", palette=Image.Palette.ADAPTIVE), "GIF")),
                   ("jpeg-q95-444", lambda i: encode(i, "JPEG", quality=95, subsampling=0))],
}  # fmt: skip

# Tiny pictures (thumbnails, emoji-sized stickers) and very large ones (camera originals, scans).
TINY_SIZES = ((40, 30), (16, 16), (64, 48), (100, 75), (7, 5))
LARGE = (("astronaut", (6000, 4000)), ("text-page", (4000, 6000)), ("fractal", (6000, 4000)), ("chelsea", (4032, 3024)))


def evaluation_set(*, quick: bool = False) -> list[EvalImage]:
    """Every base in every encoding, plus tiny and very large pictures (not in the quick set)."""
    out: list[EvalImage] = []
    pictures: dict[str, Image.Image] = {}
    for category, name, image in bases(quick=quick):
        pictures[name] = image
        for encoding, save in ENCODINGS + EXTRA_ENCODINGS.get(category, []):
            out.append(EvalImage(f"{category}/{name}@{encoding}", category, name, save(image)))
    if quick:
        return out
    tiny_sources = ("astronaut", "coffee", "page-1", "brick", "app-0", "lines-0")
    for index, name in enumerate(tiny_sources):
        for size in TINY_SIZES:
            small = pictures[name].resize(size, Image.Resampling.LANCZOS)
            save = ENCODINGS[index % 2][1]  # PNG or JPEG
            out.append(EvalImage(f"tiny/{name}-{size[0]}x{size[1]}", "tiny", name, save(small)))
    for name, size in LARGE:
        if name == "text-page":
            big = text_page(7, size, 64, face=1)
        elif name == "fractal":
            big = texture("fractal", 77, size).filter(ImageFilter.GaussianBlur(1))
        else:
            big = _skimage(name).resize(size, Image.Resampling.BICUBIC)
        out.append(EvalImage(f"large/{name}-{size[0]}x{size[1]}", "large", name, encode(big, "JPEG", quality=88)))
    return out


# ---------------------------------------------------------------- mirrored and turned copies

TURNS: list[tuple[str, Callable[[Image.Image], Image.Image]]] = [
    ("mirror", ImageOps.mirror),
    ("flip", ImageOps.flip),
    ("rotate90", lambda i: i.transpose(Image.Transpose.ROTATE_90)),
    ("rotate180", lambda i: i.transpose(Image.Transpose.ROTATE_180)),
    ("rotate270", lambda i: i.transpose(Image.Transpose.ROTATE_270)),
    ("transpose", lambda i: i.transpose(Image.Transpose.TRANSPOSE)),
]


def turned_copies(*, quick: bool = False) -> list[tuple[str, bytes, bytes]]:
    """(label, original as banked (PNG), turned copy as forwarded (JPEG q85)) for each base and turn."""
    out = []
    for category, name, image in bases(quick=quick):
        original = encode(image, "PNG")
        for turn, change in TURNS if not quick else TURNS[:3]:
            out.append((f"{category}/{name}:{turn}", original, encode(change(image), "JPEG", quality=85)))
    return out
