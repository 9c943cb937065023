"""Propagation: how long from banking an item until every existing copy on the platform is removed.

    .venv/bin/python bench/bench_propagation.py             # 1M placements of 200k media, SQLite and PostgreSQL
    .venv/bin/python bench/bench_propagation.py --quick     # 100k placements of 20k media
    .venv/bin/python bench/bench_propagation.py --backends sqlite

The platform's history is written straight into Firebreak's tables with bulk inserts (far faster than events):
media rows with random PDQ hashes (quality 90) and random SHA-256/MD5, their media_signals rows, placements
spread over 20k chats and 100k accounts (skewed: some chats and senders are far busier) and over 30 days, 2% of
them deleted by their senders. Among them is one item with 1,000 live copies: 250 placements of the very file
(exact copies), and 750 placements of 600 near-duplicates. Nine near-duplicates are real files (scikit-image's
astronaut re-encoded at q50 and q30, half and double size, mirrored, flipped, turned 90 degrees, grey, PNG),
hashed by firebreak.signals.hashing.hash_bytes; the rest flip 1-8 random bits of one of those ten real PDQ hashes
(mirrored and turned copies are only found through the banked file's dihedral hashes).

Then, as an order would, the original JPEG is added to a BLOCK bank (banks.add_entries with
banks.entries_for_hashes: SHA-256, MD5, PDQ with its eight rotations and mirrors) and committed. The clock runs
from just before that transaction until the 1,000th copy's remove_message action is DONE in the database, the job
having run on Firebreak's own worker (system.worker(): the huey consumer and reconciler `firebreak serve` embeds)
and the actions having gone through a platform adapter: an in-process one (bench/_setup.CountingPlatform, like
tests.support.RecordingPlatform) that records every call and answers "done". The run checks that exactly the
1,000 copies were removed, each once, and nothing else.

The index is warm, as in a running server (it was synced from the database before the clock starts; that load
is reported too). Baseline, same data, same run: the media index replaced by a brute-force numpy scan over every
media PDQ read from the database at each lookup (what propagation would do without the in-memory index).
A second baseline run appends the audit events one at a time (audit.record per event, as before
audit.record_many), to show what the bulk append gains; the audit chain is verified at the end. --profile runs
the jobs in the foreground under cProfile instead. PostgreSQL is a private server started here
(bench/_setup.PrivatePostgres, durable settings). Prints markdown tables.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from _setup import (
    BulkLoader,
    CountingPlatform,
    PrivatePostgres,
    bench_settings,
    database_url,
    machine_lines,
    migrated_engine,
    reader_engine,
    table,
    wait_until,
)
from PIL import Image, ImageOps
from skimage import data as skdata
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from firebreak.audit import service as audit
from firebreak.banks import service as banks
from firebreak.banks.models import Bank, MatchAction, Provenance
from firebreak.banks.schemas import BankCreate
from firebreak.bootstrap.system import System, build_system
from firebreak.core.clock import Clock
from firebreak.enforcement import service as enforcement
from firebreak.matching.index import warm_up
from firebreak.signals.hashing import MediaHashes, hash_bytes

TARGET_SECONDS = 5.0
EXACT_PLACEMENTS = 250
NEAR_MEDIA = 600
NEAR_PLACEMENTS = 750
COPIES = EXACT_PLACEMENTS + NEAR_PLACEMENTS
START = datetime(2026, 3, 1, tzinfo=UTC)
FIREBREAK = "Firebreak (in-memory Hamming index, warm)"
ONE_BY_ONE = "baseline: the same, audit events appended one at a time (audit.record)"
BASELINE = "baseline: numpy scan of all media PDQs read from the database"


# -- the item and its copies ------------------------------------------------------------------------------------


def _jpeg(img: Image.Image, quality: int = 90) -> bytes:
    out = io.BytesIO()
    img.convert("RGB").save(out, "JPEG", quality=quality)
    return out.getvalue()


def _png(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def real_variants() -> tuple[bytes, list[MediaHashes]]:
    """The banked file (astronaut, JPEG q90) and the hashes of it and nine real changed copies."""
    img = Image.fromarray(skdata.astronaut()).convert("RGB")
    w, h = img.size
    original = _jpeg(img, 90)
    files = [
        original,
        _jpeg(img, 50),
        _jpeg(img, 30),
        _jpeg(img.resize((w // 2, h // 2))),
        _jpeg(img.resize((w * 2, h * 2))),
        _jpeg(ImageOps.mirror(img)),
        _jpeg(ImageOps.flip(img)),
        _jpeg(img.rotate(90, expand=True)),
        _jpeg(ImageOps.grayscale(img).convert("RGB")),
        _png(img),
    ]
    return original, [hash_bytes(f) for f in files]


def hex_to_words(values: list[str]) -> npt.NDArray[np.uint64]:
    return np.frombuffer(bytes.fromhex("".join(values)), dtype=np.uint64).reshape(-1, 4)


def min_distance(codes: npt.NDArray[np.uint64], queries: npt.NDArray[np.uint64]) -> npt.NDArray[np.int64]:
    """Smallest Hamming distance of each code to any query (brute force)."""
    best = np.full(codes.shape[0], 257, dtype=np.int64)
    for q in queries:
        d = np.bitwise_count(codes ^ q).sum(axis=1, dtype=np.int64)
        np.minimum(best, d, out=best)
    return best


# -- the platform's history -------------------------------------------------------------------------------------


@dataclass
class Dataset:
    media: int
    placements: int
    chats: int
    accounts: int
    original: bytes = b""
    original_hashes: MediaHashes | None = None
    media_pdq: list[str] = field(default_factory=list)  # index i = media id i + 1
    media_sha: list[str] = field(default_factory=list)
    media_md5: list[str] = field(default_factory=list)
    p_media: npt.NDArray[np.int64] = field(default_factory=lambda: np.empty(0, np.int64))  # index i = placement id i+1
    p_chat: npt.NDArray[np.int64] = field(default_factory=lambda: np.empty(0, np.int64))
    p_sender: npt.NDArray[np.int64] = field(default_factory=lambda: np.empty(0, np.int64))
    p_live: npt.NDArray[np.bool_] = field(default_factory=lambda: np.empty(0, np.bool_))
    p_time: npt.NDArray[np.float64] = field(default_factory=lambda: np.empty(0, np.float64))
    target_media: set[int] = field(default_factory=set)
    target_messages: set[tuple[str, str]] = field(default_factory=set)


def _skewed(rng: np.random.Generator, n: int, size: int, power: float = 2.0) -> npt.NDArray[np.int64]:
    """``size`` draws from 1..n, low numbers far more often (a few busy chats, senders, viral media)."""
    return (np.floor(n * rng.random(size) ** power).astype(np.int64) % n) + 1


def _hex_rows(rng: np.random.Generator, n: int, nbytes: int) -> list[str]:
    raw = rng.integers(0, 256, size=(n, nbytes), dtype=np.uint8).tobytes()
    return [raw[i * nbytes : (i + 1) * nbytes].hex() for i in range(n)]


def build_dataset(*, media: int, placements: int, chats: int, accounts: int, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    original, variants = real_variants()
    oh = variants[0]
    queries = hex_to_words(list(oh.query_hashes))
    # Near-duplicates: the nine real ones, then bits flipped from any of the ten real hashes.
    near: list[tuple[str, str, str]] = [(v.pdq.value, v.sha256, v.md5) for v in variants[1:]]
    bases = hex_to_words([v.pdq.value for v in variants])
    while len(near) < NEAR_MEDIA:
        code = bases[rng.integers(0, len(variants))].copy()
        for bit in rng.choice(256, size=int(rng.integers(1, 9)), replace=False):
            code[bit // 64] ^= np.uint64(1) << np.uint64(bit % 64)
        near.append((code.tobytes().hex(), _hex_rows(rng, 1, 32)[0], _hex_rows(rng, 1, 16)[0]))
    n_other = media - 1 - NEAR_MEDIA
    pdq = _hex_rows(rng, n_other, 32) + [oh.pdq.value] + [n[0] for n in near]
    sha = _hex_rows(rng, n_other, 32) + [oh.sha256] + [n[1] for n in near]
    md5 = _hex_rows(rng, n_other, 16) + [oh.md5] + [n[2] for n in near]
    order = rng.permutation(media)  # the item's copies land anywhere in the history
    ds = Dataset(media, placements, chats, accounts, original, oh)
    ds.media_pdq, ds.media_sha, ds.media_md5 = [pdq[i] for i in order], [sha[i] for i in order], [md5[i] for i in order]
    position = np.empty(media, dtype=np.int64)
    position[order] = np.arange(media)
    ids = position + 1  # ids[k] = media id of the k-th generated row
    original_id = int(ids[n_other])
    near_ids = ids[n_other + 1 :]
    other_ids = ids[:n_other]
    # Placements: every other media once, the rest skewed to popular media; then the item's 1,000 copies.
    n_rest = placements - COPIES - n_other
    if n_rest < 0:
        raise SystemExit("need at least as many placements as media")
    p_media = np.concatenate(
        [
            other_ids,
            other_ids[_skewed(rng, n_other, n_rest, 3.0) - 1],
            np.full(EXACT_PLACEMENTS, original_id),
            near_ids,
            near_ids[rng.choice(NEAR_MEDIA, size=NEAR_PLACEMENTS - NEAR_MEDIA, replace=False)],
        ]
    )
    target = np.zeros(placements, dtype=np.bool_)
    target[-COPIES:] = True
    shuffle = rng.permutation(placements)
    ds.p_media, target = p_media[shuffle], target[shuffle]
    ds.p_chat = _skewed(rng, chats, placements)
    ds.p_sender = _skewed(rng, accounts, placements)
    ds.p_live = target | (rng.random(placements) >= 0.02)
    ds.p_time = np.sort(rng.random(placements)) * 30 * 86400
    ds.target_media = {original_id, *near_ids.tolist()}
    ds.target_messages = {(f"c{ds.p_chat[i]}", f"m{i + 1}") for i in np.flatnonzero(target)}
    # What a brute-force search says must be found: exact hashes equal, or PDQ within 31 of a dihedral query.
    dist = min_distance(hex_to_words(ds.media_pdq), queries)
    found = {i + 1 for i in np.flatnonzero(dist <= 31)}
    found |= {
        i + 1 for i, (s, m) in enumerate(zip(ds.media_sha, ds.media_md5, strict=True)) if s == oh.sha256 or m == oh.md5
    }
    assert found == ds.target_media, f"{len(found)} media match, expected {len(ds.target_media)}"
    live_copies = {
        (f"c{ds.p_chat[i]}", f"m{i + 1}") for i in range(placements) if ds.p_live[i] and int(ds.p_media[i]) in found
    }
    assert live_copies == ds.target_messages and len(live_copies) == COPIES
    return ds


def timestamps(start: datetime, seconds: npt.NDArray[np.float64], *, postgres: bool) -> list[str]:
    """UTC timestamps as the text each database reads fastest (SQLite: as SQLAlchemy writes them)."""
    base = np.datetime64(start.replace(tzinfo=None), "us")
    text_ = np.char.replace(
        np.datetime_as_string(base + (seconds * 1e6).astype("timedelta64[us]"), unit="us"), "T", " "
    )
    return [t + "+00" for t in text_.tolist()] if postgres else text_.tolist()


def load(ds: Dataset, engine: Engine, integration_id: int) -> dict[str, float]:
    loader = BulkLoader(engine)
    timings: dict[str, float] = {}
    created = START - timedelta(days=60)

    t = time.perf_counter()
    loader.load(
        "chats",
        [
            "id",
            "integration_id",
            "external_id",
            "title",
            "kind",
            "is_public",
            "member_count",
            "status",
            "strikes",
            "created_at",
        ],
        (
            (i, integration_id, f"c{i}", f"Chat {i}", "group", False, 50, "active", 0, created)
            for i in range(1, ds.chats + 1)
        ),
    )
    loader.load(
        "platform_accounts",
        ["id", "integration_id", "external_id", "status", "strikes", "created_at"],
        ((i, integration_id, f"u{i}", "active", 0, created) for i in range(1, ds.accounts + 1)),
    )
    timings["chats and accounts"] = time.perf_counter() - t

    t = time.perf_counter()
    loader.load(
        "media",
        [
            "id",
            "sha256",
            "md5",
            "kind",
            "mime_type",
            "size_bytes",
            "width",
            "height",
            "pdq",
            "pdq_quality",
            "hash_status",
            "hash_attempts",
            "created_at",
        ],
        (
            (
                i + 1,
                ds.media_sha[i],
                ds.media_md5[i],
                "image",
                "image/jpeg",
                180_000,
                1280,
                720,
                ds.media_pdq[i],
                90,
                "hashed",
                1,
                created,
            )
            for i in range(ds.media)
        ),
    )

    def signals() -> Any:
        for i in range(ds.media):
            yield (i + 1, "sha256", ds.media_sha[i], None)
            yield (i + 1, "md5", ds.media_md5[i], None)
            yield (i + 1, "pdq", ds.media_pdq[i], 90)

    loader.load("media_signals", ["media_id", "signal_type", "value", "quality"], signals())
    timings["media and media_signals"] = time.perf_counter() - t

    t = time.perf_counter()

    times = timestamps(START, ds.p_time, postgres=loader.dialect == "postgresql")
    media_ids, chat_ids, sender_ids = ds.p_media.tolist(), ds.p_chat.tolist(), ds.p_sender.tolist()
    live = ds.p_live.tolist()

    def placements() -> Any:
        for i in range(ds.placements):
            yield (
                i + 1,
                integration_id,
                media_ids[i],
                chat_ids[i],
                sender_ids[i],
                f"c{chat_ids[i]}",
                f"m{i + 1}",
                f"f{i + 1}",
                times[i],
                "live" if live[i] else "deleted",
                times[i],
            )

    loader.load(
        "placements",
        [
            "id",
            "integration_id",
            "media_id",
            "chat_id",
            "sender_id",
            "chat_external_id",
            "message_external_id",
            "media_external_id",
            "posted_at",
            "status",
            "created_at",
        ],
        placements(),
    )
    timings["placements"] = time.perf_counter() - t
    t = time.perf_counter()
    loader.analyze()
    timings["analyze"] = time.perf_counter() - t
    return timings


# -- the baseline: no in-memory media index ---------------------------------------------------------------------


class DatabaseScan:
    """Stands in for IndexSet.media: every lookup reads all matchable media PDQs from the database and compares
    them to the queries with numpy (XOR and popcount). Writes are ignored: the database is the index."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.lookups = 0

    def add(self, ids: Any, codes: Any) -> None:
        pass

    def range_search(self, queries: list[str], radius: int) -> list[list[tuple[int, int]]]:
        self.lookups += 1
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT id, pdq FROM media WHERE pdq IS NOT NULL AND kind = 'image' AND pdq_quality >= 50 "
                    "AND hash_status = 'hashed'"
                )
            ).all()
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        codes = hex_to_words([r[1] for r in rows])
        out = []
        for q in hex_to_words(queries):
            d = np.bitwise_count(codes ^ q).sum(axis=1, dtype=np.int64)
            hit = np.flatnonzero(d <= radius)
            out.append(sorted(zip(ids[hit].tolist(), d[hit].tolist(), strict=True), key=lambda x: (x[1], x[0])))
        return out


# -- a second baseline: audit events appended one at a time ----------------------------------------------------


def write_audits_one_by_one(session: Session, clock: Clock, audits: list[dict[str, Any]]) -> None:
    """enforcement.service._write_audits as it was before audit.record_many: the same events in the same order,
    each with audit.record (a chain-head read, an INSERT and a flush per event). Swapped in for one run."""
    session.flush()
    for event in audits:
        audit.record(session=session, clock=clock, **event)
    audits.clear()


# -- one measured propagation -----------------------------------------------------------------------------------


@dataclass
class Outcome:
    label: str
    seconds_to_removed: float  # commit started -> 1,000th remove_message action DONE
    seconds_pickup: float  # commit started -> the propagation job claimed by the worker
    seconds_all_actions: float  # -> every action (quarantine, notices too) final
    seconds_told: float  # -> every removal has its statement of reasons and its sender's notice is delivered
    removed: int
    removed_others: int
    removed_twice: int
    cpu_seconds: float  # CPU time of this process (Firebreak's worker threads) from commit to all removed
    load_average: float  # the machine's 1-minute load average when the run ended
    actions: dict[str, int]
    lookups: str = ""


def _count(reader: Engine, sql: str) -> int:
    with reader.connect() as conn:
        return int(conn.execute(text(sql)).scalar() or 0)


def propagate_once(
    system: System, reader: Engine, platform: CountingPlatform, ds: Dataset, bank_id: int, label: str, timeout: float
) -> Outcome:
    assert ds.original_hashes is not None
    platform.reset()
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    with system.db.transaction() as session:
        bank = session.get(Bank, bank_id)
        assert bank is not None
        banks.add_entries(
            session=session,
            clock=system.clock,
            actor="bench",
            bank=bank,
            entries=banks.entries_for_hashes(ds.original_hashes),
            provenance=Provenance.ORDER,
            source_ref="order:bench",
        )
    picked = wait_until(
        lambda: (
            _count(
                reader,
                "SELECT count(*) FROM scheduled_tasks WHERE job = 'enforcement.propagate' AND status <> 'pending'",
            )
            > 0
        ),
        timeout=timeout,
    )
    done = wait_until(
        lambda: (
            _count(reader, "SELECT count(*) FROM actions WHERE kind = 'remove_message' AND status = 'done'") >= COPIES
        ),
        timeout=timeout,
    )
    cpu = time.process_time() - cpu0
    told = wait_until(
        lambda: (
            _count(reader, "SELECT count(*) FROM statements_of_reasons") >= COPIES
            and _count(reader, "SELECT count(*) FROM actions WHERE kind = 'notify_user' AND status = 'done'")
            >= COPIES
        ),
        timeout=timeout,
    )
    quiet = wait_until(
        lambda: (
            _count(reader, "SELECT count(*) FROM actions WHERE status = 'pending'") == 0
            and _count(reader, "SELECT count(*) FROM propagations WHERE status <> 'done'") == 0
            and _count(
                reader,
                "SELECT count(*) FROM scheduled_tasks WHERE status IN ('pending', "
                "'running') AND job LIKE 'enforcement.%'",
            )
            == 0
        ),
        timeout=timeout,
    )
    time.sleep(0.2)  # let a stray duplicate show up, if any
    removed = platform.removed()
    unique = set(removed)
    with reader.connect() as conn:
        actions = {
            f"{k} {s}": int(n)
            for k, s, n in conn.execute(
                text("SELECT kind, status, count(*) FROM actions GROUP BY kind, status ORDER BY kind, status")
            )
        }
    nan = float("nan")
    return Outcome(
        label=label,
        seconds_to_removed=(done - t0) if done else nan,
        seconds_pickup=(picked - t0) if picked else nan,
        seconds_all_actions=(quiet - t0) if quiet else nan,
        seconds_told=(told - t0) if told else nan,
        removed=len(unique & {(c, m) for c, m in ds.target_messages}),
        removed_others=len(unique - ds.target_messages),
        removed_twice=len(removed) - len(unique),
        cpu_seconds=cpu,
        load_average=os.getloadavg()[0],
        actions=actions,
    )


def profile_once(system: System, ds: Dataset, bank_id: int) -> None:
    """Add the entry, then run the jobs in this thread under cProfile (no worker): where the time goes."""
    import cProfile
    import pstats

    assert ds.original_hashes is not None
    with system.db.transaction() as session:
        bank = session.get(Bank, bank_id)
        assert bank is not None
        banks.add_entries(
            session=session,
            clock=system.clock,
            actor="bench",
            bank=bank,
            entries=banks.entries_for_hashes(ds.original_hashes),
            provenance=Provenance.ORDER,
        )
    profiler = cProfile.Profile()
    t = time.perf_counter()
    profiler.runcall(system.runner.reconcile)
    print(f"reconcile in the foreground, profiled: {time.perf_counter() - t:.2f} s", file=sys.stderr)
    pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(25)
    pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumtime").print_stats(40)


def reset(system: System) -> None:
    """Undo a propagation: the copies are live again, no actions, matches, statements, records, queue items or job
    rows are left."""
    with system.db.transaction() as session:
        for sql in (
            "DELETE FROM evidence_records",  # a removal's evidence names its action (the ids are used again)
            "DELETE FROM evidence_media",
            "DELETE FROM account_conduct",
            "DELETE FROM statements_of_reasons",
            "DELETE FROM review_items",
            "DELETE FROM actions",
            "DELETE FROM matches",
            "DELETE FROM propagations",
            "DELETE FROM scheduled_tasks",
            "UPDATE placements SET status = 'live', status_changed_at = NULL WHERE status = 'removed'",
            "UPDATE platform_accounts SET strikes = 0, status = 'active', status_changed_at = NULL WHERE strikes > 0",
            "UPDATE chats SET strikes = 0, status = 'active', status_changed_at = NULL WHERE strikes > 0",
            "UPDATE banks SET enabled = false",
        ):
            session.execute(text(sql))


def new_bank(system: System, name: str) -> int:
    with system.db.transaction() as session:
        return banks.create_bank(
            session=session, clock=system.clock, actor="bench", data=BankCreate(name=name, action=MatchAction.BLOCK)
        ).id


@dataclass
class BackendResult:
    backend: str
    load: dict[str, float]
    index_load: float
    runs: list[Outcome]


def run_backend(
    backend: str,
    ds: Dataset,
    workdir: Path,
    pg: PrivatePostgres | None,
    timeout: float,
    baseline: bool,
    one_by_one: bool,
    profile: bool = False,
) -> BackendResult:
    data_dir = workdir / backend
    data_dir.mkdir(parents=True, exist_ok=True)
    url = database_url(backend, workdir, pg, "bench_propagation")
    engine = migrated_engine(url)
    system = build_system(bench_settings(data_dir, url), engine=engine)
    reader = reader_engine(url)
    try:
        integration = system.gateway.ensure_integration(name="bench", adapter="webhook")
        platform = CountingPlatform()
        system.adapters.override("bench", platform)
        print(f"[{backend}] loading {ds.placements:,} placements of {ds.media:,} media ...", file=sys.stderr)
        timings = load(ds, engine, integration.id)
        print(f"[{backend}] loaded: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()), file=sys.stderr)
        warm_up()
        t = time.perf_counter()
        with system.db.transaction() as session:
            system.indexes.sync(session, force=True)
        index_load = time.perf_counter() - t
        if profile:
            profile_once(system, ds, new_bank(system, "ordered"))
            return BackendResult(backend, timings, index_load, [])
        worker = system.worker()
        worker.start()
        time.sleep(0.3)
        runs: list[Outcome] = []
        try:
            runs.append(propagate_once(system, reader, platform, ds, new_bank(system, "ordered"), FIREBREAK, timeout))
            print(f"[{backend}] {runs[-1]}", file=sys.stderr)
            if one_by_one:
                reset(system)
                real = enforcement._write_audits
                enforcement._write_audits = write_audits_one_by_one  # type: ignore[assignment]
                try:
                    runs.append(propagate_once(system, reader, platform, ds, new_bank(system, "ordered-one-by-one"),
                                               ONE_BY_ONE, timeout))
                finally:
                    enforcement._write_audits = real
                print(f"[{backend}] {runs[-1]}", file=sys.stderr)
            if baseline:
                reset(system)
                index = system.indexes.media
                scan = DatabaseScan(reader)
                system.indexes.media = scan  # type: ignore[assignment]
                try:
                    runs.append(propagate_once(system, reader, platform, ds, new_bank(system, "ordered-baseline"),
                                               BASELINE, timeout))
                finally:
                    system.indexes.media = index
                runs[-1].lookups = f"{scan.lookups} full scans"
                print(f"[{backend}] {runs[-1]}", file=sys.stderr)
        finally:
            worker.stop()
        with system.db.sessions() as session:
            chain = audit.verify(session=session)
        if not chain.ok:
            raise SystemExit(f"[{backend}] the audit chain does not verify: {chain.problem}")
        print(f"[{backend}] audit chain verifies: {chain.events_checked:,} events", file=sys.stderr)
    finally:
        reader.dispose()
        system.close()
    return BackendResult(backend, timings, index_load, runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100k placements of 20k media")
    parser.add_argument("--placements", type=int)
    parser.add_argument("--media", type=int)
    parser.add_argument("--chats", type=int, default=20_000)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--no-one-by-one", action="store_true",
                        help="skip the baseline run with audit events appended one at a time")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=300.0, help="give up on one propagation after this long")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="run the jobs in the foreground under cProfile instead of measuring (development)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory (databases) for inspection")
    args = parser.parse_args()
    placements = args.placements or (100_000 if args.quick else 1_000_000)
    media = args.media or (20_000 if args.quick else 200_000)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]

    t = time.perf_counter()
    ds = build_dataset(media=media, placements=placements, chats=args.chats, accounts=args.accounts, seed=args.seed)
    print(f"data set generated in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    workdir = Path(tempfile.mkdtemp(prefix="firebreak-bench-prop-"))
    pg = PrivatePostgres().start() if "postgresql" in backends else None
    results = []
    try:
        for backend in backends:
            results.append(
                run_backend(backend, ds, workdir, pg, args.timeout, not args.no_baseline, not args.no_one_by_one,
                            args.profile)
            )
        if args.profile:
            return
    finally:
        if pg is not None:
            pg.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    command = "bench/bench_propagation.py" + (" --quick" if args.quick else "")
    print(
        f"\n### Propagation: {placements:,} placements of {media:,} media, {args.chats:,} chats, "
        f"{args.accounts:,} accounts; one item with {COPIES:,} copies\n"
    )
    print(f"- command: `.venv/bin/python {command}`")
    print("\n".join(machine_lines()))
    print(
        f"- target: every copy's remove action DONE < {TARGET_SECONDS:.0f} s after the bank entry commits; "
        f"exactly {COPIES:,} copies removed, 0 others\n"
    )
    rows = []
    for r in results:
        for o in r.runs:
            verdict = (
                "yes"
                if o.seconds_to_removed < TARGET_SECONDS
                and o.removed == COPIES
                and not o.removed_others
                and not o.removed_twice
                else "no"
            )
            rows.append(
                [
                    r.backend,
                    o.label,
                    f"{o.seconds_to_removed:.2f} s",
                    f"{o.cpu_seconds:.2f} s",
                    f"{o.load_average:.1f}",
                    f"{o.seconds_pickup:.2f} s",
                    f"{o.seconds_all_actions:.2f} s",
                    f"{o.seconds_told:.2f} s",
                    f"{o.removed:,}",
                    o.removed_others,
                    o.removed_twice,
                    verdict,
                ]
            )
    print(
        table(
            [
                "database",
                "run",
                "commit -> 1,000 removed",
                "CPU used meanwhile",
                "load average",
                "job picked up",
                "all actions final",
                "statements and notices",
                "copies removed",
                "others removed",
                "removed twice",
                "< 5 s and exact",
            ],
            rows,
        )
    )
    print()
    rows = []
    for r in results:
        acts = Counter[str]()
        for o in r.runs[:1]:
            acts.update(o.actions)
        rows.append(
            [
                r.backend,
                f"{sum(r.load.values()):.0f} s",
                f"{r.index_load:.2f} s",
                ", ".join(f"{k}: {v:,}" for k, v in sorted(acts.items())),
            ]
        )
    print(table(["database", "bulk load", "media index load at start-up", "actions written (first run)"], rows))
    hashes = hashlib.sha256(ds.original).hexdigest()[:16]
    print(f"\nThe banked file: astronaut JPEG q90, sha256 {hashes}...; the adapter: bench/_setup.CountingPlatform.")


if __name__ == "__main__":
    main()
