"""Benchmark of the Hamming range index against FAISS and a brute force, on one core (and on N threads).

    .venv/bin/python bench/bench_index.py                      # 1M and 10M codes (about 8 minutes)
    .venv/bin/python bench/bench_index.py --sizes 10000000     # one size
    .venv/bin/python bench/bench_index.py --quick              # 200k codes, fewer queries (CI-like)
    # 100M codes on a machine with >= 64 GB and many cores (about 10 minutes on 16 cores):
    python bench/bench_index.py --sizes 100000000 --datasets random --no-baseline --check 10 \
        --flat-queries 10 --threads 16

For each size and data set (uniform random codes; clustered: near-duplicate families with Zipf-distributed
sizes, so some buckets are huge), it measures build time, memory per code (array bytes and RSS growth),
single-query latency (median, p99) and batch throughput at radius 31, and agreement with a brute force on a
sample of queries, for: this index with the layout chosen for the size, the same index with the former fixed
layout (16 substrings of 16 bits; `--no-baseline` skips it), FAISS IndexBinaryFlat, the brute force itself (a
compiled sequential scan of every code: the reference) and, with `--multihash`, FAISS
IndexBinaryMultiHash(256, 16, 16). `--threads N` adds the batch throughput of N threads sharing one index (the
kernels release the GIL). Prints markdown tables.
"""

from __future__ import annotations

import os

# Before numpy and FAISS start thread pools: the figures are per core.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import ctypes  # noqa: E402
import gc  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import faiss  # noqa: E402
import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402

from firebreak.matching import _hamming  # noqa: E402
from firebreak.matching.index import HammingIndex, Layout, warm_up  # noqa: E402

RADIUS = 31
Codes = npt.NDArray[np.uint8]
Hits = list[set[int]]


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# -- data ------------------------------------------------------------------------------------------------------


def flip_random_bits(rng: np.random.Generator, words: npt.NDArray[np.uint64], flips: npt.NDArray[np.int64]) -> None:
    """Flip ``flips[i]`` random bits of row ``i`` in place (a bit hit twice flips back: a little fewer)."""
    rows = np.arange(words.shape[0])
    for j in range(int(flips.max(initial=0))):
        sel = rows[flips > j]
        pos = rng.integers(0, 256, size=sel.size)
        words[sel, pos >> 6] ^= np.uint64(1) << (pos & 63).astype(np.uint64)


def random_codes(rng: np.random.Generator, n: int) -> Codes:
    return rng.integers(0, 256, size=(n, 32), dtype=np.uint8)


def clustered_codes(rng: np.random.Generator, n: int, cap: int = 5000, max_flips: int = 10) -> Codes:
    """Families of near-duplicates: Zipf(1.6) sizes capped at ``cap``, members 0..max_flips bits from the root."""
    sizes = np.minimum(rng.zipf(1.6, size=n), cap)
    cum = np.cumsum(sizes)
    k = int(np.searchsorted(cum, n)) + 1
    sizes = sizes[:k].copy()
    sizes[-1] -= int(cum[k - 1]) - n
    roots = rng.integers(0, 2**64, size=(k, 4), dtype=np.uint64)
    words = roots[np.repeat(np.arange(k), sizes)]
    flip_random_bits(rng, words, rng.integers(0, max_flips + 1, size=n))
    return np.ascontiguousarray(words[rng.permutation(n)]).view(np.uint8)


def make_queries(rng: np.random.Generator, codes: Codes, count: int) -> Codes:
    """Alternating: a stored code with 0..20 bits flipped, then a random code."""
    words = rng.integers(0, 2**64, size=(count, 4), dtype=np.uint64)
    near = np.arange(0, count, 2)
    words[near] = codes[rng.integers(0, codes.shape[0], size=near.size)].view(np.uint64)
    flips = np.zeros(count, dtype=np.int64)
    flips[near] = rng.integers(0, 21, size=near.size)
    flip_random_bits(rng, words, flips)
    return np.ascontiguousarray(words).view(np.uint8)


def brute_force(codes: Codes, queries: Codes, radius: int) -> Hits:
    """The reference: rows within ``radius`` of each query, by a compiled sequential scan of every code."""
    words = np.ascontiguousarray(codes).view(np.uint64)
    out: Hits = []
    for q in np.ascontiguousarray(queries).view(np.uint64):
        lims, rows, _ = _hamming.scan(words, words.shape[0], q.reshape(1, 4), radius)
        out.append(set(rows.tolist()))
    return out


# -- candidates ------------------------------------------------------------------------------------------------


@dataclass
class Result:
    method: str
    build_s: float = float("nan")
    array_bytes: float = float("nan")
    rss_bytes: float = float("nan")
    p50_ms: float = float("nan")
    p99_ms: float = float("nan")
    p50_near_ms: float = float("nan")
    p50_random_ms: float = float("nan")
    batch_qps: float = float("nan")
    single_queries: int = 0
    agreement: str = ""
    notes: str = ""


def latency(search_one: Callable[[int], object], count: int, into: Result | None = None) -> tuple[float, float]:
    """Median and p99 in ms of ``count`` single queries; also per query kind (even: near-dup, odd: random)."""
    search_one(0)  # warm
    times = np.empty(count)
    for i in range(count):
        t0 = time.perf_counter()
        search_one(i)
        times[i] = (time.perf_counter() - t0) * 1e3
    if into is not None:
        into.p50_near_ms, into.p50_random_ms = float(np.median(times[0::2])), float(np.median(times[1::2]))
    return float(np.median(times)), float(np.percentile(times, 99))


def agreement(found: Hits, truth: Hits) -> str:
    exact = sum(f == t for f, t in zip(found, truth, strict=True))
    total = sum(len(t) for t in truth)
    recall = sum(len(f & t) for f, t in zip(found, truth, strict=True)) / total if total else 1.0
    extra = sum(len(f - t) for f, t in zip(found, truth, strict=True))
    text = f"{exact}/{len(truth)} exact, recall {recall:.4f}"
    return text + (f", {extra} false hits" if extra else "")


# -- one data set ----------------------------------------------------------------------------------------------


@dataclass
class Workload:
    name: str
    codes: Codes
    ids: npt.NDArray[np.int64]
    queries: Codes
    sample: Codes
    truth: Hits
    args: argparse.Namespace

    def rows_of(self, found_ids: npt.NDArray[np.int64]) -> set[int]:
        return set(((found_ids - 1_000_000) // 2).tolist())  # ids are 2 * row + 1_000_000


def settle() -> int:
    """Collect garbage and hand freed heap pages back to the OS, so RSS differences mean something."""
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    return rss()


def bench_index(w: Workload, layout: Layout | None, label: str) -> tuple[Result, HammingIndex]:
    n = w.codes.shape[0]
    r0 = settle()
    t0 = time.perf_counter()
    index = HammingIndex.from_arrays(w.ids, w.codes, auto_merge=False, layout=layout)
    chosen = index._state.main.layout
    res = Result(f"{label}: {chosen.n_sub} x {chosen.bits}-bit substrings", build_s=time.perf_counter() - t0)
    res.rss_bytes = (settle() - r0) / n
    res.array_bytes = index.stats().array_bytes / n
    res.p50_ms, res.p99_ms = latency(lambda i: index.search(w.queries[i], RADIUS), len(w.queries), res)
    res.single_queries = len(w.queries)
    t0 = time.perf_counter()
    batch = index.search(w.queries, RADIUS)
    res.batch_qps = len(w.queries) / (time.perf_counter() - t0)
    res.agreement = agreement([w.rows_of(index.search(q, RADIUS).ids) for q in w.sample], w.truth)
    hits = np.diff(batch.lims)
    res.notes = (
        f"hits per query: near-duplicates mean {hits[0::2].mean():.1f}, max {hits.max()}; "
        f"random mean {hits[1::2].mean():.2f}"
    )
    return res, index


def by_radius(w: Workload, index: HammingIndex) -> list[tuple[int, float, float, bool]]:
    out = []
    for radius in (0, 8, 16, 31, 40, 48, 64):
        count = min(len(w.queries), 200)
        p50, p99 = latency(lambda i, r=radius: index.search(w.queries[i], r), count)
        found = [w.rows_of(index.search(q, radius).ids) for q in w.sample[:10]]
        out.append((radius, p50, p99, found == brute_force(w.codes, w.sample[:10], radius)))
    return out


def threaded_qps(index: HammingIndex, queries: Codes, threads: int) -> float:
    """Queries per second of ``threads`` threads each searching its share of the batch, one query at a time."""
    parts = np.array_split(np.arange(len(queries)), threads)

    def run(rows: npt.NDArray[np.int64]) -> None:
        for i in rows:
            index.search(queries[i], RADIUS)

    pool = [threading.Thread(target=run, args=(rows,)) for rows in parts]
    t0 = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return len(queries) / (time.perf_counter() - t0)


def bench_faiss_flat(w: Workload, nq: int) -> Result:
    # FAISS range search returns "distance < radius": ask for RADIUS + 1.
    n = w.codes.shape[0]
    r0 = settle()
    t0 = time.perf_counter()
    flat = faiss.IndexBinaryFlat(256)
    flat.add(w.codes)
    res = Result("FAISS IndexBinaryFlat", build_s=time.perf_counter() - t0, array_bytes=32.0, single_queries=nq)
    res.rss_bytes = (settle() - r0) / n
    res.p50_ms, res.p99_ms = latency(lambda i: flat.range_search(w.queries[i : i + 1], RADIUS + 1), nq, res)
    t0 = time.perf_counter()
    flat.range_search(w.queries[:nq], RADIUS + 1)
    res.batch_qps = nq / (time.perf_counter() - t0)
    found = [set(flat.range_search(q[None], RADIUS + 1)[2].tolist()) for q in w.sample]
    res.agreement = agreement(found, w.truth)
    return res


def bench_faiss_multihash(w: Workload, nq: int) -> list[Result]:
    """IndexBinaryMultiHash(256, 16, 16); nflip=1 is the setting that can be exact at radius 31."""
    n = w.codes.shape[0]
    r0 = settle()
    t0 = time.perf_counter()
    mh = faiss.IndexBinaryMultiHash(256, 16, 16)
    mh.add(w.codes)
    build = time.perf_counter() - t0
    grown = (settle() - r0) / n
    out = []
    for nflip in (1, 0):
        mh.nflip = nflip
        res = Result(f"FAISS IndexBinaryMultiHash(256,16,16) nflip={nflip}", build_s=build, rss_bytes=grown)
        res.p50_ms, res.p99_ms = latency(lambda i: mh.range_search(w.queries[i : i + 1], RADIUS + 1), nq, res)
        res.single_queries = nq
        t0 = time.perf_counter()
        mh.range_search(w.queries[:nq], RADIUS + 1)
        res.batch_qps = nq / (time.perf_counter() - t0)
        res.agreement = agreement([set(mh.range_search(q[None], RADIUS + 1)[2].tolist()) for q in w.sample], w.truth)
        out.append(res)
    return out


def bench_dataset(name: str, codes: Codes, args: argparse.Namespace, nq_flat: int, nq_mh: int) -> None:
    n = codes.shape[0]
    rng = np.random.default_rng(1234)
    queries = make_queries(rng, codes, args.queries)
    sample = queries[: args.check]
    brute_force(codes[:100], sample[:1], RADIUS)  # load the compiled kernel before timing
    t0 = time.perf_counter()
    truth = brute_force(codes, sample, RADIUS)
    brute = Result("brute force (compiled scan of every code)", array_bytes=32.0, single_queries=len(sample))
    brute.p50_ms = (time.perf_counter() - t0) / len(sample) * 1e3
    brute.agreement = "the reference"
    ids = np.arange(n, dtype=np.int64) * 2 + 1_000_000  # database-like ids
    w = Workload(name, codes, ids, queries, sample, truth, args)

    layout = Layout(*map(int, args.layout.split("x"))) if args.layout else None
    ours, index = bench_index(w, layout, "HammingIndex")
    radii = by_radius(w, index)
    main = index._state.main
    biggest = int(np.diff(main.offsets.astype(np.int64), axis=1).max())
    expected = n / (1 << main.bits)
    threaded = None
    if args.threads > 1:
        os.sched_setaffinity(0, args.all_cpus)
        try:
            threaded = threaded_qps(index, queries, args.threads)
        finally:
            os.sched_setaffinity(0, {min(args.all_cpus)})
    del index, main
    results = [ours]
    if not args.no_baseline:
        before, old = bench_index(w, Layout(16, 16), "HammingIndex, former layout")
        results.append(before)
        del old
    settle()
    results.append(bench_faiss_flat(w, nq_flat))
    if args.multihash:
        results.extend(bench_faiss_multihash(w, nq_mh))
    results.append(brute)
    settle()

    print(f"\n### {name}, {n:,} codes, radius {RADIUS}\n")
    print(
        f"Largest substring bucket: {biggest:,} codes (uniform expectation {expected:.1f}). "
        f"{ours.notes}. {len(sample)} queries checked against the brute force.\n"
    )
    print(
        "| method | build s | array B/code | RSS Δ B/code | p50 ms | p99 ms | p50 near-dup | p50 random "
        "| batch q/s | queries | vs brute force |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in results:
        cells = [r.method, f"{r.build_s:.2f}", f"{r.array_bytes:.1f}", f"{r.rss_bytes:.1f}", f"{r.p50_ms:.3f}"]
        cells += [f"{r.p99_ms:.3f}", f"{r.p50_near_ms:.3f}", f"{r.p50_random_ms:.3f}", f"{r.batch_qps:,.0f}"]
        cells += [str(r.single_queries), r.agreement]
        print("| " + " | ".join(c.replace("nan", "-") for c in cells) + " |")
    flat_p50 = next(r.p50_ms for r in results if r.method.startswith("FAISS IndexBinaryFlat"))
    print(f"\nHammingIndex median is {flat_p50 / ours.p50_ms:.0f}x faster than FAISS IndexBinaryFlat "
          f"and {brute.p50_ms / ours.p50_ms:.0f}x faster than the brute force.")
    if threaded is not None:
        print(f"With {args.threads} threads on one shared index: {threaded:,.0f} queries/s (single queries).")
    print("\n| radius | p50 ms | p99 ms | exact on 10 queries |")
    print("|---:|---:|---:|---|")
    for radius, p50, p99, ok in radii:
        print(f"| {radius} | {p50:.3f} | {p99:.3f} | {'yes' if ok else 'NO'} |")
    sys.stdout.flush()


# -- compile time ----------------------------------------------------------------------------------------------

JIT_PROBE = """
import time
t0 = time.perf_counter()
from firebreak.matching.index import warm_up
t1 = time.perf_counter()
warm_up()
print(f"{t1 - t0:.2f} {time.perf_counter() - t1:.2f}")
"""


def jit_times() -> list[tuple[str, float, float]]:
    out = []
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for label in ("cold (empty numba cache)", "warm (cache on disk)"):
            done = subprocess.run(
                [sys.executable, "-c", JIT_PROBE], env=env, check=True, capture_output=True, text=True
            )
            imp, first = (float(x) for x in done.stdout.split())
            out.append((label, imp, first))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=None, help="comma-separated numbers of codes (default 1000000,10000000)")
    parser.add_argument("--quick", action="store_true", help="200k codes and fewer queries")
    parser.add_argument("--queries", type=int, default=1000, help="single queries timed per method")
    parser.add_argument("--flat-queries", type=int, default=0, help="queries for FAISS flat (default by size)")
    parser.add_argument("--mh-queries", type=int, default=0, help="queries for FAISS MultiHash (default by size)")
    parser.add_argument("--check", type=int, default=40, help="queries checked against brute force")
    parser.add_argument("--multihash", action="store_true", help="add FAISS IndexBinaryMultiHash (slow to build)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the former 16 x 16-bit layout")
    parser.add_argument("--layout", default="", help="force a layout, e.g. 11x22 (default: chosen by size)")
    parser.add_argument("--threads", type=int, default=1, help="also measure N threads sharing the index")
    parser.add_argument("--datasets", default="random,clustered")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.queries, args.check = args.sizes or "200000", 300, 20
    args.sizes = args.sizes or "1000000,10000000"
    all_cpus = os.sched_getaffinity(0)
    # Single queries on one core; the threaded run (if asked) widens the affinity again for its own measurement.
    os.sched_setaffinity(0, {min(all_cpus)})
    faiss.omp_set_num_threads(1)
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "")
    print("## Hamming range index benchmark\n")
    print(f"`{' '.join([Path(sys.executable).name, *sys.argv])}`: {cpu}, {len(all_cpus)} CPUs, single queries "
          f"pinned to CPU {min(all_cpus)}, Python {platform.python_version()}, numpy {np.__version__}, "
          f"faiss {faiss.__version__}, load average {os.getloadavg()[0]:.1f}.\n")  # fmt: skip
    print("| numba kernels | import s | `warm_up()` s (build, search, add, remove, merge) |")
    print("|---|---:|---:|")
    for label, imp, first in jit_times():
        print(f"| {label} | {imp:.2f} | {first:.2f} |")
    sys.stdout.flush()
    warm_up()  # load the compiled kernels now, so the first measured build does not carry it
    args.all_cpus = all_cpus
    for n in (int(s) for s in args.sizes.split(",")):
        nq_flat = args.flat_queries or (100 if n <= 2_000_000 else 30)
        nq_mh = min(args.queries, args.mh_queries or (300 if n <= 2_000_000 else 40))
        for name in args.datasets.split(","):
            rng = np.random.default_rng(n)
            codes = random_codes(rng, n) if name == "random" else clustered_codes(rng, n)
            bench_dataset(name, codes, args, nq_flat, nq_mh)
            print(f"\n(load average after {name} {n:,}: {os.getloadavg()[0]:.1f})")
            del codes
            gc.collect()


if __name__ == "__main__":
    main()
