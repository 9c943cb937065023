"""The copy-detection evaluation set: sources, the copies people make of them, and pictures that are not copies.

Everything is built here, deterministically, from scikit-image's bundled photos and from procedurally drawn
scenes; nothing is downloaded and nothing is real-world user content.

- **Sources** (what a bank holds): the small bundled photos whole; non-overlapping tiles of the larger ones (a
  2 x 2 grid and, for the largest, a 3 x 3 grid of the other half; at most 480 px); then generated scenes of two
  kinds, "plain" (a smooth colour field, flat shapes, grain: `_images.scene`) and "textured" (layered noise,
  textured shapes, lines and text, so it has the detail of a photo).
- **Transforms** (`TRANSFORMS`): crops from one side and from all sides, borders, caption bars, stickers,
  phone screenshots, small rotations, strong colour changes, and combinations with re-encoding.
- **Distractors** (never copies of any source):
  - *same-scene photos*: other crops of the same bundled photos, each overlapping every source tile by less
    than 60% of either picture (different shots of one scene, the hardest negatives);
  - *re-shot scenes*: a source scene drawn again from a camera moved 4-10% and tilted (perspective), every
    object moved, fresh grain;
  - *the stereo pair's other camera*: tiles of scikit-image's right motorcycle view against the left view's
    tiles (the same moment, a few centimetres apart);
  - *other scenes*: scenes with seeds no source uses, most at 320 x 240 (messenger-preview size, which keeps a
    100,000-picture run within minutes), some at 640 x 480.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np
from _images import jpeg, photo, resized
from PIL import Image, ImageDraw, ImageEnhance, ImageFont, ImageOps

# Bundled photos (scikit-image ships them; no download). lfw_subset (25 px faces) is too small to use.
PHOTOS = (
    "astronaut",
    "brick",
    "camera",
    "chelsea",
    "clock",
    "coffee",
    "coins",
    "grass",
    "gravel",
    "hubble_deep_field",
    "immunohistochemistry",
    "moon",
    "retina",
    "rocket",
    "cell",
    "page",
    "text",
    "colorwheel",
    "logo",
    "motorcycle_left",
)
# The right camera of the stereo pair: the same moment from a viewpoint a few centimetres away. Never a
# source; its tiles are distractors for the left camera's tiles (the hardest negatives there are).
STEREO_RIGHT = "motorcycle_right"
STEREO_KIND = "stereo pair (other camera)"
# The hardest negatives: another view of a source, other crops of its photo, its scene drawn again with things moved.
HARD_KINDS = ("same-scene photo", "re-rendered scene", STEREO_KIND)
# Photos this large are cut into tiles (and the whole photo is not a source: tiles must not overlap a
# source); smaller ones are sources whole. The largest also give a 3 x 3 grid on their other half.
_TILED = 500
_NINE_TILES = 900
SCENE_SIZE = (640, 480)
SMALL_SIZE = (320, 240)


@cache
def photo_image(name: str) -> Image.Image:
    if name.startswith("motorcycle_"):
        from skimage import data as skdata

        left, right, _ = skdata.stereo_motorcycle()
        return Image.fromarray(np.ascontiguousarray(left if name.endswith("left") else right))
    return Image.fromarray(photo(name))


def _fit_long(image: Image.Image, long_side: int) -> Image.Image:
    scale = long_side / max(image.size)
    return resized(image, max(1, round(image.width * scale)), max(1, round(image.height * scale)))


@dataclass(frozen=True)
class Tile:
    photo: str
    box: tuple[int, int, int, int]  # in the photo's pixels


def photo_tiles() -> list[Tile]:
    """Non-overlapping regions of the photos big enough to cut (long side >= _TILED): a 2 x 2 grid, and
    for the largest (retina, hubble) a 2 x 2 grid of the left half and a 3 x 3 grid of the right half."""
    out = []
    for name in PHOTOS:
        width, height = photo_image(name).size
        if max(width, height) < _TILED:
            continue
        if max(width, height) >= _NINE_TILES:
            half = width // 2
            grids = [((0, 0, half, height), 2), ((half, 0, width, height), 3)]
        else:
            grids = [((0, 0, width, height), 2)]
        for (x0, y0, x1, y1), n in grids:
            step_x, step_y = (x1 - x0) // n, (y1 - y0) // n
            for row in range(n):
                for col in range(n):
                    left, top = x0 + col * step_x, y0 + row * step_y
                    out.append(Tile(name, (left, top, left + step_x, top + step_y)))
    return out


def tile_image(tile: Tile) -> Image.Image:
    """The tile at most 480 px on its long side (never enlarged: a 256 px tile stays a small picture)."""
    region = photo_image(tile.photo).crop(tile.box).convert("RGB")
    return _fit_long(region, 480) if max(region.size) > 480 else region


# ---------------------------------------------------------------- generated scenes


def _field(rng: np.random.Generator, size: tuple[int, int], octaves: int) -> np.ndarray:
    """Layered value noise in [0, 1], HxWx3: coarse colour plus finer detail (built at 1/4 size, then scaled)."""
    width, height = size
    small = (max(8, width // 4), max(8, height // 4))
    total = np.zeros((small[1], small[0], 3))
    amplitude, weight = 1.0, 0.0
    for octave in range(octaves):
        cells = 2 + 2**octave
        grid = (rng.random((cells, cells, 3)) * 255).astype(np.uint8)
        layer = np.asarray(Image.fromarray(grid).resize(small, Image.Resampling.BICUBIC), dtype=np.float64)
        total += amplitude * layer / 255
        weight += amplitude
        amplitude *= 0.55
    merged = Image.fromarray(np.clip(total / weight * 255, 0, 255).astype(np.uint8))
    return np.asarray(merged.resize(size, Image.Resampling.BICUBIC), dtype=np.float64) / 255


@dataclass(frozen=True)
class _Shape:
    kind: int
    box: tuple[int, int, int, int]
    colour: tuple[int, int, int]
    textured: bool
    width: int
    text: str


def _layout(seed: int, size: tuple[int, int]) -> list[_Shape]:
    rng = np.random.default_rng(seed)
    width, height = size
    shapes = []
    for _ in range(int(rng.integers(10, 30))):
        w, h = int(rng.integers(width // 12, width // 2)), int(rng.integers(height // 12, height // 2))
        x, y = int(rng.integers(-w // 3, width - w // 2)), int(rng.integers(-h // 3, height - h // 2))
        words = ("firebreak", "scene", "bench", "copy", "42", "hello", "sample", "ok")
        shapes.append(
            _Shape(
                kind=int(rng.integers(0, 5)),
                box=(x, y, x + w, y + h),
                colour=(int(rng.integers(0, 256)), int(rng.integers(0, 256)), int(rng.integers(0, 256))),
                textured=bool(rng.random() < 0.5),
                width=int(rng.integers(2, 9)),
                text=" ".join(str(rng.choice(words)) for _ in range(int(rng.integers(1, 4)))),
            )
        )
    return shapes


def _camera(
    size: tuple[int, int], shift: np.random.Generator | None
) -> tuple[tuple[int, int], tuple[int, int, int, int], np.ndarray | None]:
    """The world (20% larger than the view), the view's box in it, and for a re-shot scene the tilt.

    The source is the centred view. A second shot of the scene is taken from a step aside (the view moved
    4-10% each way) with the camera tilted a little (each corner of the view 2-5% off: perspective, as a
    handheld camera gives, where a flat drawing has no depth to give parallax).
    """
    width, height = size
    world = (round(width * 1.2), round(height * 1.2))
    left, top = round(width * 0.1), round(height * 0.1)
    if shift is None:
        return world, (left, top, left + width, top + height), None
    dx, dy = (float(v) for v in shift.uniform(0.04, 0.1, 2) * shift.choice([-1, 1], 2))
    left, top = left + round(dx * width), top + round(dy * height)
    corners = np.array([[left, top], [left + width, top], [left + width, top + height], [left, top + height]])
    offsets = shift.uniform(0.02, 0.05, (4, 2)) * shift.choice([-1, 1], (4, 2)) * np.array([width, height])
    tilt = cv2.getPerspectiveTransform(
        (corners + offsets).astype(np.float32),
        np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32),
    )
    return world, (left, top, left + width, top + height), tilt


def _shoot(world: Image.Image, view: tuple[int, int, int, int], tilt: np.ndarray | None) -> Image.Image:
    """The view of the world: a plain crop for the source, a perspective warp for a re-shot scene."""
    if tilt is None:
        return world.crop(view)
    size = (view[2] - view[0], view[3] - view[1])
    warped = cv2.warpPerspective(np.asarray(world), tilt, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return Image.fromarray(warped)


def textured_scene(seed: int, size: tuple[int, int] = SCENE_SIZE, *, moved: int | None = None) -> Image.Image:
    """A detailed drawn scene. `moved`: the same scene shot again from a step aside, the camera tilted
    (`_camera`), every object displaced, new grain: the hard negative for drawn scenes."""
    width, height = size
    rng = np.random.default_rng(seed)
    shift = np.random.default_rng(moved) if moved is not None else None
    world, view, tilt = _camera(size, shift)
    base = _field(rng, world, 6)
    image = _shoot(Image.fromarray((base * 255).astype(np.uint8)), view, tilt)
    texture_field = _field(np.random.default_rng(seed + 7_000_000), world, 7)
    texture = _shoot(Image.fromarray((texture_field * 255).astype(np.uint8)), view, tilt)
    draw = ImageDraw.Draw(image)
    for shape in _layout(seed, size):
        x0, y0, x1, y1 = shape.box
        if shift is not None:
            dx, dy = (int(v) for v in shift.integers(-width // 5, width // 5 + 1, 2))
            x0, y0, x1, y1 = x0 + dx, y0 + dy, x1 + dx, y1 + dy
        box = (x0, y0, max(x0 + 2, x1), max(y0 + 2, y1))
        if shape.kind == 3:
            draw.line(box, fill=shape.colour, width=shape.width)
            continue
        if shape.kind == 4:
            font = ImageFont.load_default(size=max(10, (box[3] - box[1]) // 3))
            draw.text((box[0], box[1]), shape.text, fill=shape.colour, font=font)
            continue
        # Fill through a mask the size of the shape's box only (cheap), clipped to the picture.
        left, top = max(0, box[0]), max(0, box[1])
        right, bottom = min(width, box[2]), min(height, box[3])
        if right - left < 2 or bottom - top < 2:
            continue
        mask = Image.new("L", (right - left, bottom - top), 0)
        local = (box[0] - left, box[1] - top, box[2] - left, box[3] - top)
        mask_draw = ImageDraw.Draw(mask)
        if shape.kind == 0:
            mask_draw.ellipse(local, fill=255)
        elif shape.kind == 1:
            mask_draw.rectangle(local, fill=255)
        else:
            mask_draw.polygon(
                [(local[0], local[3]), ((local[0] + local[2]) // 2, local[1]), (local[2], local[3])], fill=255
            )
        fill = Image.new("RGB", mask.size, shape.colour)
        if shape.textured:
            fill = Image.blend(fill, texture.crop((left, top, right, bottom)), 0.6)
        image.paste(fill, (left, top), mask)
        outline = tuple(max(0, c - 60) for c in shape.colour)
        if shape.kind == 0:
            draw.ellipse(box, outline=outline, width=2)
        elif shape.kind == 1:
            draw.rectangle(box, outline=outline, width=2)
    grain_seed = seed + 1 if moved is None else moved + 13
    array = np.asarray(image, dtype=np.int16)
    grain = np.random.default_rng(grain_seed).integers(-5, 6, (height, width, 1), dtype=np.int16)
    return Image.fromarray(np.clip(array + grain, 0, 255).astype(np.uint8))


def plain_scene(seed: int, size: tuple[int, int] = SCENE_SIZE, *, moved: int | None = None) -> Image.Image:
    """`_images.scene`'s kind of picture (smooth colour field, flat shapes, grain), optionally re-rendered."""
    rng = np.random.default_rng(seed)
    width, height = size
    grid = rng.integers(0, 256, (int(rng.integers(2, 6)), int(rng.integers(2, 6)), 3), dtype=np.uint8)
    shift = np.random.default_rng(moved) if moved is not None else None
    world, view, tilt = _camera(size, shift)
    image = _shoot(Image.fromarray(grid).resize(world, Image.Resampling.BICUBIC), view, tilt)
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(6, 24))):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        x0, x1 = sorted(int(v) for v in rng.integers(-width // 4, width * 5 // 4, 2))
        y0, y1 = sorted(int(v) for v in rng.integers(-height // 4, height * 5 // 4, 2))
        kind = int(rng.integers(0, 4))
        points = [(int(rng.integers(0, width)), int(rng.integers(0, height))) for _ in range(int(rng.integers(3, 7)))]
        line_width = int(rng.integers(2, 20))
        if shift is not None:
            dx, dy = (int(v) for v in shift.integers(-width // 5, width // 5 + 1, 2))
            x0, x1, y0, y1 = x0 + dx, x1 + dx, y0 + dy, y1 + dy
            points = [(x + dx, y + dy) for x, y in points]
        if kind == 0:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        elif kind == 1:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
        elif kind == 2:
            draw.polygon(points, fill=colour)
        else:
            draw.line((x0, y0, x1, y1), fill=colour, width=line_width)
    grain_rng = np.random.default_rng(seed if moved is None else moved + 17)
    grain = grain_rng.integers(-8, 9, (height, width, 1), dtype=np.int16)
    return Image.fromarray(np.clip(np.asarray(image, dtype=np.int16) + grain, 0, 255).astype(np.uint8))


# ---------------------------------------------------------------- sources


@dataclass(frozen=True)
class Source:
    label: str
    kind: str  # "photo", "tile", "plain scene", "textured scene"
    spec: tuple[object, ...]  # enough to rebuild the picture in another process

    def image(self) -> Image.Image:
        return build_source(self)


def build_source(source: Source) -> Image.Image:
    kind = source.kind
    if kind == "photo":
        return _fit_long(photo_image(str(source.spec[0])).convert("RGB"), 640)
    if kind == "tile":
        name, box = source.spec
        return tile_image(Tile(str(name), tuple(box)))  # type: ignore[arg-type]
    seed = int(source.spec[0])  # type: ignore[call-overload]
    return plain_scene(seed) if kind == "plain scene" else textured_scene(seed)


def sources(count: int) -> list[Source]:
    """`count` sources: photos, tiles, then scenes alternating plain and textured (two textured in three)."""
    out = [Source(name, "photo", (name,)) for name in PHOTOS if max(photo_image(name).size) < _TILED]
    out += [Source(f"{t.photo}@{t.box[0]},{t.box[1]}", "tile", (t.photo, t.box)) for t in photo_tiles()]
    index = 0
    while len(out) < count:
        kind = "plain scene" if index % 3 == 0 else "textured scene"
        out.append(Source(f"{kind.split()[0]}-{index}", kind, (index,)))
        index += 1
    return out[:count]


# ---------------------------------------------------------------- distractors


@dataclass(frozen=True)
class Distractor:
    label: str
    kind: str  # "same-scene photo", "re-rendered scene", "other scene", "other scene (small)"
    spec: tuple[object, ...]


def _overlap_shares(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> tuple[float, float]:
    w = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1])), inter / ((b[2] - b[0]) * (b[3] - b[1]))


def same_scene_boxes(name: str, count: int, seed: int) -> list[tuple[int, int, int, int]]:
    """Crops of a tiled photo that overlap no source tile by 60% or more of either picture."""
    rng = np.random.default_rng(seed)
    width, height = photo_image(name).size
    tiles = [t.box for t in photo_tiles() if t.photo == name]
    out: list[tuple[int, int, int, int]] = []
    tries = 0
    while len(out) < count and tries < count * 200:
        tries += 1
        w = int(width * rng.uniform(0.25, 0.6))
        h = int(height * rng.uniform(0.25, 0.6))
        x, y = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
        box = (x, y, x + w, y + h)
        if max(max(_overlap_shares(box, tile)) for tile in tiles) < 0.6:
            out.append(box)
    return out


def distractors(count: int, source_list: list[Source]) -> list[Distractor]:
    """`count` distractors: the stereo pair's other view, 10% same-scene photo crops, 10% re-rendered source
    scenes, the rest other scenes."""
    out: list[Distractor] = [
        Distractor(f"{STEREO_RIGHT}@{t.box[0]},{t.box[1]}", STEREO_KIND, (STEREO_RIGHT, t.box))
        for t in photo_tiles()
        if t.photo == "motorcycle_left"
    ]
    tiled = sorted({t.photo for t in photo_tiles()})
    per_photo = max(1, count // 10 // len(tiled))
    for position, name in enumerate(tiled):
        for box in same_scene_boxes(name, per_photo, 1000 + position):
            out.append(Distractor(f"{name}#{box}", "same-scene photo", (name, box)))
    scenes = [s for s in source_list if s.kind.endswith("scene")]
    rerendered = count // 10
    for index in range(rerendered if scenes else 0):
        scene = scenes[index % len(scenes)]
        out.append(
            Distractor(f"{scene.label}~{index}", "re-rendered scene", (scene.kind, scene.spec[0], 500_000 + index))
        )
    seed = 10_000_000
    while len(out) < count:
        small = seed % 5 != 0
        kind = "other scene (small)" if small else "other scene"
        out.append(Distractor(f"scene-{seed}", kind, (seed,)))
        seed += 1
    return out[:count]


def build_distractor(item: Distractor) -> Image.Image:
    if item.kind in ("same-scene photo", STEREO_KIND):
        name, box = item.spec
        region = photo_image(str(name)).crop(box).convert("RGB")  # type: ignore[arg-type]
        return _fit_long(region, 480) if max(region.size) > 480 else region
    if item.kind == "re-rendered scene":
        kind, seed, moved = item.spec
        draw = plain_scene if kind == "plain scene" else textured_scene
        return draw(int(seed), moved=int(moved))  # type: ignore[call-overload]
    seed = int(item.spec[0])  # type: ignore[call-overload]
    size = SMALL_SIZE if item.kind == "other scene (small)" else SCENE_SIZE
    return textured_scene(seed, size) if seed % 3 else plain_scene(seed, size)


# ---------------------------------------------------------------- the copies people make


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=max(8, size))


def crop_sides(image: Image.Image, fraction: float, sides: str) -> Image.Image:
    """Remove `fraction` of the picture: from one side ("left", "top", "right") or "all" (half from each)."""
    w, h = image.size
    if sides == "left":
        return image.crop((round(w * fraction), 0, w, h))
    if sides == "top":
        return image.crop((0, round(h * fraction), w, h))
    if sides == "right":
        return image.crop((0, 0, w - round(w * fraction), h))
    dx, dy = round(w * fraction / 2), round(h * fraction / 2)
    return image.crop((dx, dy, w - dx, h - dy))


def border(image: Image.Image, fraction: float, colour: tuple[int, int, int] | str) -> Image.Image:
    return ImageOps.expand(image, border=max(1, round(max(image.size) * fraction)), fill=colour)


def letterbox(image: Image.Image) -> Image.Image:
    width = max(image.width, image.height * 16 // 9)
    height = max(image.height, image.width * 9 // 16)
    canvas = Image.new("RGB", (width, height), "black")
    canvas.paste(image, ((width - image.width) // 2, (height - image.height) // 2))
    return canvas


def caption(image: Image.Image, *, top: str | None, bottom: str | None, dark: bool = False) -> Image.Image:
    """Meme-style caption bars (white with black text, or black with white text) above and/or below."""
    bar = max(24, image.height * 15 // 100)
    background, ink = ("black", "white") if dark else ("white", "black")
    canvas = Image.new(
        "RGB", (image.width, image.height + bar * ((top is not None) + (bottom is not None))), background
    )
    canvas.paste(image, (0, bar if top is not None else 0))
    draw = ImageDraw.Draw(canvas)
    font = _font(bar // 2)
    if top is not None:
        draw.text((image.width // 20, bar // 4), top, fill=ink, font=font)
    if bottom is not None:
        draw.text((image.width // 20, canvas.height - bar + bar // 4), bottom, fill=ink, font=font)
    return canvas


def sticker(image: Image.Image, area: float, seed: int) -> Image.Image:
    """A round emoji-like sticker covering `area` of the picture, somewhere in its middle part."""
    canvas = image.convert("RGB")
    rng = np.random.default_rng(seed)
    side = max(8, round(math.sqrt(area * image.width * image.height * 4 / math.pi)))
    x = int(rng.integers(image.width // 10, max(image.width // 10 + 1, image.width - side - image.width // 10)))
    y = int(rng.integers(image.height // 10, max(image.height // 10 + 1, image.height - side - image.height // 10)))
    patch = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    draw = ImageDraw.Draw(patch)
    draw.ellipse((0, 0, side - 1, side - 1), fill=(255, 205, 40, 255), outline=(120, 80, 0, 255), width=3)
    eye = max(1, side // 8)
    for cx in (side // 3, 2 * side // 3):
        draw.ellipse((cx - eye, side // 3 - eye, cx + eye, side // 3 + eye), fill=(40, 30, 20, 255))
    draw.arc((side // 4, side // 3, 3 * side // 4, 3 * side // 4), 20, 160, fill=(40, 30, 20, 255), width=4)
    canvas.paste(patch, (x, y), patch)
    return canvas


def screenshot(image: Image.Image, *, dark: bool) -> Image.Image:
    """The picture as a phone shows it in a social app: status bar, title bar, buttons, caption, nav bar."""
    width, height = 540, 1170
    background, ink, chrome = (
        ((0, 0, 0), (235, 235, 235), (28, 28, 30))
        if dark
        else (
            (255, 255, 255),
            (20, 20, 20),
            (246, 246, 246),
        )
    )
    screen = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(screen)
    draw.rectangle((0, 0, width, 44), fill=chrome)
    draw.text((24, 10), "9:41", fill=ink, font=_font(22))
    draw.rectangle((width - 70, 16, width - 30, 30), outline=ink, width=2)
    draw.rectangle((width - 68, 18, width - 42, 28), fill=ink)
    draw.rectangle((0, 44, width, 130), fill=background)
    draw.ellipse((20, 62, 70, 112), fill=(120, 160, 220))
    draw.text((86, 72), "someone.posted", fill=ink, font=_font(26))
    draw.text((width - 50, 68), "...", fill=ink, font=_font(30))
    picture = image.convert("RGB").resize((width, max(1, round(image.height * width / image.width))))
    top = 134
    screen.paste(picture, (0, top))
    y = top + picture.height + 16
    for x in (24, 84, 144):
        draw.ellipse((x, y, x + 36, y + 36), outline=ink, width=3)
    draw.text((24, y + 56), "1,204 likes", fill=ink, font=_font(22))
    draw.text((24, y + 90), "someone.posted look what I found", fill=ink, font=_font(22))
    draw.rectangle((0, height - 70, width, height), fill=chrome)
    for x in (60, 200, 340, 470):
        draw.rectangle((x, height - 50, x + 30, height - 20), outline=ink, width=3)
    return screen


def rotate(image: Image.Image, degrees: float, *, fill_crop: bool = False) -> Image.Image:
    turned = image.convert("RGB").rotate(degrees, resample=Image.Resampling.BICUBIC)
    if not fill_crop:
        return turned
    # Crop to the largest centred rectangle with no black corners, as photo apps do.
    angle = math.radians(abs(degrees))
    w, h = image.size
    scale = 1 / (math.cos(angle) + math.sin(angle) * max(w / h, h / w))
    cw, ch = round(w * scale), round(h * scale)
    return turned.crop(((w - cw) // 2, (h - ch) // 2, (w + cw) // 2, (h + ch) // 2))


def hue_shift(image: Image.Image, degrees: int) -> Image.Image:
    hsv = np.asarray(image.convert("RGB").convert("HSV")).copy()
    hsv[:, :, 0] = (hsv[:, :, 0].astype(np.int16) + degrees * 256 // 360) % 256
    return Image.fromarray(hsv, "HSV").convert("RGB")


def webp(image: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, "WEBP", quality=quality)
    return out.getvalue()


Transform = Callable[[Image.Image, int], bytes]


def _j(change: Callable[[Image.Image, int], Image.Image], quality: int = 85) -> Transform:
    # Messengers re-encode what they forward: every changed copy is stored as a JPEG.
    return lambda image, seed: jpeg(change(image, seed), quality)


def _scaled(image: Image.Image, factor: float) -> Image.Image:
    return image.resize(
        (max(1, round(image.width * factor)), max(1, round(image.height * factor))), Image.Resampling.BICUBIC
    )


# (group, name, transform(image, seed) -> bytes, has a recall target)
TRANSFORMS: list[tuple[str, str, Transform, bool]] = [
    ("crop", "crop 5% (left)", _j(lambda i, s: crop_sides(i, 0.05, "left")), True),
    ("crop", "crop 10% (top)", _j(lambda i, s: crop_sides(i, 0.10, "top")), True),
    ("crop", "crop 20% (right)", _j(lambda i, s: crop_sides(i, 0.20, "right")), True),
    ("crop", "crop 5% (all sides)", _j(lambda i, s: crop_sides(i, 0.05, "all")), True),
    ("crop", "crop 10% (all sides)", _j(lambda i, s: crop_sides(i, 0.10, "all")), True),
    ("crop", "crop 20% (all sides)", _j(lambda i, s: crop_sides(i, 0.20, "all")), True),
    ("crop", "crop 40% (all sides)", _j(lambda i, s: crop_sides(i, 0.40, "all")), False),
    ("border", "white border 5%", _j(lambda i, s: border(i, 0.05, "white")), True),
    ("border", "black border 10%", _j(lambda i, s: border(i, 0.10, "black")), True),
    ("border", "red border 8%", _j(lambda i, s: border(i, 0.08, (200, 30, 40))), True),
    ("border", "grey border 2%", _j(lambda i, s: border(i, 0.02, (128, 128, 128))), True),
    ("border", "letterbox to 16:9", _j(lambda i, s: letterbox(i)), True),
    (
        "caption",
        "caption bar above",
        _j(lambda i, s: caption(i, top="when the bench finally passes", bottom=None)),
        True,
    ),
    (
        "caption",
        "caption bars above and below",
        _j(lambda i, s: caption(i, top="TOP TEXT", bottom="BOTTOM TEXT")),
        True,
    ),
    ("caption", "dark caption bar below", _j(lambda i, s: caption(i, top=None, bottom="no context", dark=True)), True),
    ("sticker", "sticker 5%", _j(lambda i, s: sticker(i, 0.05, s)), True),
    ("sticker", "sticker 10%", _j(lambda i, s: sticker(i, 0.10, s)), True),
    ("sticker", "sticker 15%", _j(lambda i, s: sticker(i, 0.15, s)), True),
    ("screenshot", "phone screenshot (light)", _j(lambda i, s: screenshot(i, dark=False)), True),
    ("screenshot", "phone screenshot (dark)", _j(lambda i, s: screenshot(i, dark=True)), True),
    ("rotation", "rotate 1°", _j(lambda i, s: rotate(i, 1)), True),
    ("rotation", "rotate 3°", _j(lambda i, s: rotate(i, -3)), True),
    ("rotation", "rotate 5°", _j(lambda i, s: rotate(i, 5)), True),
    ("rotation", "rotate 10°", _j(lambda i, s: rotate(i, -10)), True),
    ("rotation", "rotate 7° and crop to fill", _j(lambda i, s: rotate(i, 7, fill_crop=True)), True),
    ("colour", "hue +90°", _j(lambda i, s: hue_shift(i, 90)), True),
    ("colour", "hue +180°", _j(lambda i, s: hue_shift(i, 180)), True),
    ("colour", "saturation x2.5", _j(lambda i, s: ImageEnhance.Color(i).enhance(2.5)), True),
    ("colour", "saturation x0 (grey)", _j(lambda i, s: ImageEnhance.Color(i).enhance(0.0)), True),
    ("colour", "contrast +60%", _j(lambda i, s: ImageEnhance.Contrast(i).enhance(1.6)), True),
    ("colour", "contrast -50%", _j(lambda i, s: ImageEnhance.Contrast(i).enhance(0.5)), True),
    (
        "combined",
        "crop 10% + caption + jpeg q40",
        _j(lambda i, s: caption(crop_sides(i, 0.1, "all"), top="lol", bottom=None), 40),
        True,
    ),
    (
        "combined",
        "border + sticker 10% + webp q40",
        lambda i, s: webp(sticker(border(i, 0.06, "white"), 0.10, s), 40),
        True,
    ),
    ("combined", "rotate 3° + half size + jpeg q40", _j(lambda i, s: _scaled(rotate(i, 3), 0.5), 40), True),
    (
        "combined",
        "screenshot + crop 5% + jpeg q50",
        _j(lambda i, s: crop_sides(screenshot(i, dark=False), 0.05, "top"), 50),
        True,
    ),
    (
        "combined",
        "hue +60° + crop 10% (left) + jpeg q50",
        _j(lambda i, s: crop_sides(hue_shift(i, 60), 0.1, "left"), 50),
        True,
    ),
    ("reported", "mirror + crop 10% (all sides)", _j(lambda i, s: crop_sides(ImageOps.mirror(i), 0.1, "all")), False),
]


# ---------------------------------------------------------------- videos

VIDEO_FPS = 4
VIDEO_SIZE = (320, 240)
_SEGMENT_SECONDS = (10, 20)


def pan_frames(seed: int, seconds: int, *, fps: int = VIDEO_FPS, path_seed: int | None = None) -> list[np.ndarray]:
    """A drawn "video": shots of 10-20 s, each a camera panning and zooming slowly across a large scene.

    `path_seed` keeps the scenes of `seed` but moves the camera along other paths: different footage of the
    same places, the hard negative for clips.
    """
    import cv2

    rng = np.random.default_rng(seed)
    path = np.random.default_rng(path_seed if path_seed is not None else seed + 1)
    frames: list[np.ndarray] = []
    total = seconds * fps
    shot = 0
    while len(frames) < total:
        length = int(rng.integers(*_SEGMENT_SECONDS)) * fps
        canvas = np.asarray(textured_scene(seed * 1000 + shot, (960, 720)))
        shot += 1
        w0 = float(path.uniform(300, 420))
        x, y = float(path.uniform(0, 960 - w0 * 1.2)), float(path.uniform(0, 720 - w0 * 0.9))
        # About 3% of the view per second: seconds differ, half a second stays within PDQ's reach.
        vx, vy = (float(v) for v in path.uniform(-1, 1, 2) * w0 * 0.03 / fps)
        zoom = float(path.uniform(-0.004, 0.004)) / fps * 4
        for step in range(length):
            w = w0 * (1 + zoom * step)
            h = w * 0.75
            x = min(max(0.0, x + vx), 960 - w)
            y = min(max(0.0, y + vy), 720 - h)
            window = canvas[int(y) : int(y + h), int(x) : int(x + w)]
            frames.append(np.ascontiguousarray(cv2.resize(window, VIDEO_SIZE, interpolation=cv2.INTER_AREA)))
    return frames[:total]


def encode_video(
    frames: list[np.ndarray], *, fps: int = VIDEO_FPS, size: tuple[int, int] | None = None, crf: int = 23
) -> bytes:
    """H.264 in MP4 with PyAV, optionally rescaled (a re-encoded copy)."""
    import av
    import cv2

    if size is not None:
        frames = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]
    height, width = frames[0].shape[:2]
    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as output:
        stream = output.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast"}
        for array in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    return out.getvalue()
