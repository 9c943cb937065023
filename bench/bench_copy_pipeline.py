"""The upload check with the second line of matching on, in the running system, against the same check with it off.

    .venv/bin/python bench/bench_copy_pipeline.py [--quick] [--banked N] [--uploads N]

A System on SQLite in a temporary folder (the embedded defaults). `--banked` source pictures of the evaluation
set (bench/_copy_eval.py) are posted through the gateway, described by their `matching.copy_check` jobs and
banked from their media, as an order banks a posted item. Then ~1 MP uploads go through `Gateway.scan_bytes`,
one at a time on one thread: copies people make (cut in 10% and captioned, scaled to ~1 MP) and unrelated
pictures (drawn scenes at 1224 x 816). The baseline is the same check on the same database with
`FIREBREAK_COPY_DETECTION=0` (hashes only), measured in the same run.

Prints the wall time per upload (median, p95) for each, the verdicts, and exits 1 if a copy was not refused or
an unrelated picture was.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import _copy_eval as ev
import cv2
from _setup import machine
from PIL import Image

from firebreak.banks import service as banks
from firebreak.banks.models import MatchAction, Provenance
from firebreak.banks.schemas import BankCreate
from firebreak.bootstrap.system import System, build_system
from firebreak.core.config import load_settings
from firebreak.media.service import find_by_sha256
from firebreak.platform.schemas import ChatIn, MediaIn, PlatformEvent, SenderIn
from firebreak.schema.migrate import upgrade

ONE_MP = (1224, 816)


def encoded(image: Image.Image, quality: int = 88) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=quality)
    return out.getvalue()


def one_megapixel(image: Image.Image) -> Image.Image:
    scale = (ONE_MP[0] * ONE_MP[1] / (image.width * image.height)) ** 0.5
    return image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)


def system_for(folder: Path, *, copies: bool) -> System:
    env = {"FIREBREAK_DATA_DIR": str(folder), "FIREBREAK_COPY_DETECTION": "1" if copies else "0",
           "FIREBREAK_SECRET_KEY": "bench only: one key for both systems"}
    return build_system(load_settings(environ=env, queue_url="memory://"))


def bank_sources(system: System, pictures: list[bytes]) -> None:
    system.gateway.ensure_integration(name="bench", adapter="webhook")
    now = datetime.now(UTC)
    for n, data in enumerate(pictures):
        system.gateway.record_event("bench", PlatformEvent(
            event_id=f"e{n}", kind="media_posted", chat=ChatIn(id="c", kind="group"), message_id=f"m{n}",
            sender=SenderIn(id="u"), sent_at=now,
            media=[MediaIn(media_id=f"x{n}", data_base64=base64.b64encode(data).decode())]))
    with system.db.sessions() as session:
        media_ids = [media.id for data in pictures
                     if (media := find_by_sha256(session=session, sha256=hashlib.sha256(data).hexdigest()))]
    for media_id in media_ids:
        system.enforcement.check_copies(media_id)  # what each post's copy_check job does
    with system.db.transaction() as session:
        bank = banks.create_bank(session=session, clock=system.clock, actor="bench",
                                 data=BankCreate(name="ordered", action=MatchAction.BLOCK))
        for data in pictures:
            media = find_by_sha256(session=session, sha256=hashlib.sha256(data).hexdigest())
            assert media is not None
            banks.add_entries(session=session, clock=system.clock, actor="bench", bank=bank,
                              entries=banks.entries_for_media(media=media, blobs=system.blobs,
                                                              limits=system.limits),
                              provenance=Provenance.ORDER, source_ref="bench")


def measure(system: System, uploads: list[bytes]) -> tuple[list[float], Counter[str]]:
    times, verdicts = [], Counter[str]()
    for data in uploads:
        started = time.perf_counter()
        result = system.gateway.scan_bytes(data)
        times.append((time.perf_counter() - started) * 1000)
        verdicts[result.verdict.value] += 1
    return times, verdicts


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="40 banked pictures, 12 uploads of each kind")
    parser.add_argument("--banked", type=int, default=300)
    parser.add_argument("--uploads", type=int, default=40)
    args = parser.parse_args()
    banked, count = (40, 12) if args.quick else (args.banked, args.uploads)
    cv2.setNumThreads(1)

    sources = ev.sources(banked)
    pictures = [encoded(s.image()) for s in sources]
    copies = [encoded(one_megapixel(ev.caption(ev.crop_sides(sources[i * len(sources) // count].image(), 0.1, "all"),
                                               top=None, bottom="look at this")))
              for i in range(count)]
    unrelated = [encoded(ev.textured_scene(20_000_000 + i, ONE_MP)) for i in range(count)]

    with tempfile.TemporaryDirectory() as folder:
        on = system_for(Path(folder), copies=True)
        upgrade(on.db.engine)
        on.prepare()
        started = time.perf_counter()
        bank_sources(on, pictures)
        setup_s = time.perf_counter() - started
        off = system_for(Path(folder), copies=False)
        for system in (on, off):  # warm up: indexes loaded, code paths run once
            measure(system, unrelated[:2] + copies[:2])
        rows = []
        failures = 0
        for kind, uploads in (("copy (cut 10%, captioned)", copies), ("unrelated", unrelated)):
            base, base_verdicts = measure(off, uploads)
            full, verdicts = measure(on, uploads)
            rows.append((kind, base, full, verdicts))
            expected = "block" if kind.startswith("copy") else "allow"
            failures += sum(n for verdict, n in verdicts.items() if verdict != expected)
            assert base_verdicts["block"] == 0 or kind.startswith("copy")
        on.close()
        off.close()

    info = machine()
    print(f"# Upload check with the second line ({info['date']}, {info['cpu']}, nproc {info['nproc']}, "
          f"commit {info['commit']})\n")
    print(f"{banked} pictures banked from posts (posting, describing and banking took {setup_s:.1f} s); "
          f"{count} uploads of ~1 MP of each kind, one thread, SQLite.\n")
    print("| upload | hashes only: median ms | p95 | with the second line: median ms | p95 | verdicts |")
    print("|---|---:|---:|---:|---:|---|")
    for kind, base, full, verdicts in rows:
        print(f"| {kind} | {statistics.median(base):.1f} | {p95(base):.1f} | {statistics.median(full):.1f} | "
              f"{p95(full):.1f} | {', '.join(f'{v} {n}' for v, n in sorted(verdicts.items()))} |")
    if failures:
        print(f"\n{failures} uploads got the wrong verdict", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
