"""The second line on pictures of your own: every transform of the evaluation set applied to each picture in a folder,
checked both ways (as an upload against the bank, and the banked picture searching the posted copies).

    PYTHONPATH=src .venv/bin/python bench/bench_copy_folder.py DIR [--seeds 1] [--bank 200] [--json PATH]

The evaluation set (`_copy_eval.py`) is built from scikit-image's photos and drawn scenes, and its figures say how the
line does on them. Before trusting it on a platform's own kind of pictures, run it on a folder of them (never real
abusive imagery: any ordinary photos of the same kind). Each picture (JPEG, PNG, WebP, ...) is banked from its file's
bytes, as the running system banks one, among `--bank` of the evaluation set's sources; each of its copies under the 37
transforms (made from the picture as a viewer shows it: EXIF-turned, transparency on white; `--seeds` copies each, of
which only the sticker transforms differ) is checked as an upload; then every copy is posted with the sources
themselves, and each picture, banked, searches them as `CopyLine.search_posted` does. A copy acted on for another
picture or source, or a source's post acted on, is a false action (pictures in the folder are taken to be distinct; two
copies of one picture would show as false actions). Prints markdown tables; exits 1 on any false action.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import _copy_eval as ev
import cv2
from _images import png
from PIL import Image, ImageOps, UnidentifiedImageError

from firebreak.matching.copydetect import CopyIndex, Description, describe_data

_BANK_IDS = 1_000_000  # the evaluation set's sources are banked from here, the folder's pictures from 0


def _as_displayed(image: Image.Image) -> Image.Image:
    """The picture as a viewer shows it (and as Firebreak decodes it): turned by its EXIF orientation, transparency
    on white. The copies are made from this, as a person's edits and screenshots are."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("LA", "La", "RGBA", "RGBa", "PA") or (image.mode == "P" and "transparency" in image.info):
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        white.alpha_composite(image.convert("RGBA"))
        return white.convert("RGB")
    return image.convert("RGB")


def _pictures(folder: Path) -> dict[str, tuple[bytes, Image.Image]]:
    found: dict[str, tuple[bytes, Image.Image]] = {}
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        try:
            with Image.open(path) as image:
                found[path.name] = (path.read_bytes(), _as_displayed(image))
        except (UnidentifiedImageError, OSError):
            print(f"skipped {path.name}: not a picture Pillow reads", file=sys.stderr)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--seeds", type=int, default=1, help="copies per picture and transform (1; only the "
                        "sticker transforms differ from seed to seed)")
    parser.add_argument("--bank", type=int, default=200, help="evaluation-set sources banked beside them (200)")
    parser.add_argument("--json", type=Path, default=None, help="write every outcome here")
    args = parser.parse_args()
    if not args.folder.is_dir():
        parser.error(f"{args.folder} is not a folder")
    pictures = _pictures(args.folder)
    if not pictures:
        parser.error(f"no pictures in {args.folder}")
    if args.seeds < 1 or args.bank < 0:
        parser.error("--seeds must be at least 1 and --bank at least 0")
    cv2.setNumThreads(1)
    started = time.perf_counter()
    bank = CopyIndex()
    posted = CopyIndex(holds="media")
    sources = ev.sources(args.bank)
    for position, source in enumerate(sources):
        description = describe_data(png(ev.build_source(source)))
        bank.add(_BANK_IDS + position, description)
        posted.add(_BANK_IDS + position, description)  # posted too: no picture of the folder may act on one
    names = list(pictures)
    banked: dict[int, Description] = {}
    for picture_id, name in enumerate(names):
        banked[picture_id] = describe_data(pictures[name][0])
        bank.add(picture_id, banked[picture_id])
    copy_of: dict[int, tuple[int, int, int]] = {}  # media id -> (picture, transform, seed)
    outcome: dict[str, dict[tuple[int, int, int], str]] = {"upload": {}, "retroactive": {}}
    false: list[str] = []
    for picture_id, name in enumerate(names):
        for number, (_, label, transform, _) in enumerate(ev.TRANSFORMS):
            for seed in range(args.seeds):
                description = describe_data(transform(pictures[name][1], 7 * seed + number))
                decision = bank.search(description)
                key = (picture_id, number, seed)
                outcome["upload"][key] = ("auto" if picture_id in decision.auto_items
                                          else "review" if picture_id in decision.review_items else "missed")
                false += [f"upload: {name} / {label} acted on for "
                          f"{names[other] if other < _BANK_IDS else sources[other - _BANK_IDS].label}"
                          for other in decision.auto_items if other != picture_id]
                media_id = len(copy_of)
                copy_of[media_id] = key
                posted.add(media_id, description)
    for picture_id, name in enumerate(names):
        decision = posted.search(banked[picture_id], every=True)
        auto, review = set(decision.auto_items), set(decision.review_items)
        for media_id, (owner, number, seed) in copy_of.items():
            if owner == picture_id:
                outcome["retroactive"][(owner, number, seed)] = ("auto" if media_id in auto
                                                                 else "review" if media_id in review else "missed")
            elif media_id in auto:
                false.append(f"retroactive: {name} acted on a copy of {names[owner]} ({ev.TRANSFORMS[number][1]})")
        false += [f"retroactive: {name} acted on the posted source {sources[other - _BANK_IDS].label}"
                  for other in auto if other >= _BANK_IDS]
    print(f"## {len(names)} pictures of {args.folder}, {len(ev.TRANSFORMS)} transforms x {args.seeds}, banked among "
          f"{args.bank} evaluation-set sources ({time.perf_counter() - started:.0f} s)\n")
    print("| transform | target | as uploads: acted on | to review | banked later: acted on | to review |\n"
          "|---|---|---:|---:|---:|---:|")
    for number, (_, label, _, target) in enumerate(ev.TRANSFORMS):
        cells = []
        for direction in ("upload", "retroactive"):
            seen = [v for (_, n, _), v in outcome[direction].items() if n == number]
            cells += [f"{seen.count('auto') / len(seen):.3f}", str(seen.count("review"))]
        print(f"| {label} | {'>= 0.99' if target else 'reported'} | " + " | ".join(cells) + " |")
    print("\n| picture | as uploads: target copies acted on | banked later: acted on | not acted on as uploads "
          "(sent to review or missed) |\n"
          "|---|---:|---:|---|")
    for picture_id, name in enumerate(names):
        row = []
        for direction in ("upload", "retroactive"):
            seen = [v for (p, n, _), v in outcome[direction].items() if p == picture_id and ev.TRANSFORMS[n][3]]
            row.append(f"{seen.count('auto')} / {len(seen)}")
        missed = defaultdict(int)
        for (p, n, _), v in outcome["upload"].items():
            if p == picture_id and v != "auto" and ev.TRANSFORMS[n][3]:
                missed[ev.TRANSFORMS[n][1]] += 1
        print(f"| {name} | {row[0]} | {row[1]} | {', '.join(f'{k} ({v})' for k, v in missed.items()) or '-'} |")
    print(f"\nfalse actions: {len(false)}")
    for line in false:
        print(f"- {line}")
    if args.json is not None:
        args.json.write_text(json.dumps({d: {f"{names[p]}|{ev.TRANSFORMS[n][1]}|{s}": v for (p, n, s), v in o.items()}
                                         for d, o in outcome.items()} | {"false": false}, indent=1))
    return 1 if false else 0


if __name__ == "__main__":
    raise SystemExit(main())
