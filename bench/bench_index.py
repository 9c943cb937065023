"""Benchmark of the Hamming range index against FAISS, on one core.

    .venv/bin/python bench/bench_index.py                      # 1M and 10M codes (about 6 minutes)
    .venv/bin/python bench/bench_index.py --sizes 1000000      # one size
    .venv/bin/python bench/bench_index.py --quick              # 200k codes, fewer queries (CI-like)

For each size and data set (uniform random codes; clustered: near-duplicate families with Zipf-distributed
sizes, so some buckets are huge), it measures build time, memory per code (array bytes and RSS growth),
single-query latency (median, p99) and batch throughput at radius 31, and agreement with a brute-force numpy
scan on a sample of queries, for: this index (numba), the same multi-index algorithm in plain numpy and as a
C kernel (compiled here with gcc, for the choice of implementation), FAISS IndexBinaryFlat and FAISS
IndexBinaryMultiHash(256, 16, 16). Prints markdown tables.
"""

from __future__ import annotations

import os

# Before numpy and FAISS start thread pools: the figures are per core.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import ctypes  # noqa: E402
import gc  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import faiss  # noqa: E402
import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402

from firebreak.matching import _hamming  # noqa: E402
from firebreak.matching.index import HammingIndex, warm_up  # noqa: E402

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
    """The reference: rows within ``radius`` of each query, by a chunked numpy scan."""
    words = codes.view(np.uint64)
    out: Hits = []
    for q in queries.view(np.uint64):
        hits: list[npt.NDArray[np.int64]] = []
        for start in range(0, words.shape[0], 1 << 20):
            chunk = words[start : start + (1 << 20)]
            d = np.bitwise_count(chunk ^ q).sum(axis=1, dtype=np.int64)
            hits.append(np.flatnonzero(d <= radius) + start)
        out.append(set(np.concatenate(hits).tolist()))
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


def numpy_mih(codes: npt.NDArray[np.uint64], perm: npt.NDArray[np.uint32], offs: npt.NDArray[np.uint32],
              query: npt.NDArray[np.uint64], radius: int) -> npt.NDArray[np.int64]:  # fmt: skip
    """The same multi-index probe in plain numpy (16 tables, thresholds 1 each: exact up to radius 31)."""
    masks = _hamming.MASKS[:17]
    rows: list[npt.NDArray[np.int64]] = []
    for s in range(16):
        key = int((query[s >> 2] >> np.uint64(16 * (s & 3))) & np.uint64(0xFFFF))
        keys = key ^ masks
        a = offs[s, keys].astype(np.int64)
        b = offs[s, keys + 1].astype(np.int64)
        lens = b - a
        idx = np.arange(int(lens.sum())) - np.repeat(np.cumsum(lens) - lens - a, lens)
        rows.append(idx if s == 0 else perm[s - 1, idx].astype(np.int64))
    cand = np.unique(np.concatenate(rows))
    d = np.bitwise_count(codes[cand] ^ query).sum(axis=1)
    return cand[d <= radius]


C_SOURCE = r"""
#include <stdint.h>
static inline int pc(uint64_t x) { return __builtin_popcountll(x); }
/* Uniform-threshold multi-index probe over the index's own arrays (t = 1 in each of 16 tables), with prefetch. */
int64_t mih_query(const uint64_t *codes, const uint32_t *perm, const uint32_t *offs, int64_t n,
                  const uint64_t *q, int r, const int64_t *masks, int64_t *out) {
  int64_t keys[16], nout = 0;
  for (int s = 0; s < 16; s++) keys[s] = (q[s >> 2] >> (16 * (s & 3))) & 0xFFFF;
  for (int s = 0; s < 16; s++) {
    const uint32_t *of = offs + (int64_t)s * 65537, *pm = s ? perm + (int64_t)(s - 1) * n : 0;
    for (int mi = 0; mi < 17; mi++) {
      int64_t k = keys[s] ^ masks[mi];
      for (uint32_t j = of[k]; j < of[k + 1]; j++) {
        uint32_t p = s ? pm[j] : j;
        if (s && j + 16 < of[k + 1]) __builtin_prefetch(codes + 4 * (int64_t)pm[j + 16]);
        const uint64_t *c = codes + 4 * (int64_t)p;
        int d = pc(c[0] ^ q[0]) + pc(c[1] ^ q[1]) + pc(c[2] ^ q[2]) + pc(c[3] ^ q[3]);
        if (d > r) continue;
        int dup = 0;
        for (int s2 = 0; s2 < s && !dup; s2++) dup = pc(((c[s2 >> 2] >> (16 * (s2 & 3))) & 0xFFFF) ^ keys[s2]) <= 1;
        if (!dup) out[nout++] = p;
      }
    }
  }
  return nout;
}
"""


def load_c_kernel(folder: Path) -> Callable[..., int] | None:
    gcc = shutil.which("gcc")
    if gcc is None:
        return None
    src, lib = folder / "mih.c", folder / "mih.so"
    src.write_text(C_SOURCE)
    subprocess.run([gcc, "-O3", "-march=native", "-shared", "-fPIC", "-o", str(lib), str(src)], check=True)
    fn = ctypes.CDLL(str(lib)).mih_query
    fn.restype = ctypes.c_int64
    p = ctypes.c_void_p
    fn.argtypes = [p, p, p, ctypes.c_int64, p, ctypes.c_int, p, p]
    return fn  # type: ignore[no-any-return]


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


def bench_ours(
    w: Workload, c_kernel: Callable[..., int] | None
) -> tuple[list[Result], list[tuple[int, float, float, bool]], int]:
    n = w.codes.shape[0]
    r0 = settle()
    t0 = time.perf_counter()
    index = HammingIndex.from_arrays(w.ids, w.codes, auto_merge=False)
    ours = Result("HammingIndex (numba)", build_s=time.perf_counter() - t0)
    ours.rss_bytes = (settle() - r0) / n
    ours.array_bytes = index.stats().array_bytes / n
    ours.p50_ms, ours.p99_ms = latency(lambda i: index.search(w.queries[i], RADIUS), len(w.queries), ours)
    ours.single_queries = len(w.queries)
    t0 = time.perf_counter()
    batch = index.search(w.queries, RADIUS)
    ours.batch_qps = len(w.queries) / (time.perf_counter() - t0)
    ours.agreement = agreement([w.rows_of(index.search(q, RADIUS).ids) for q in w.sample], w.truth)
    hits = np.diff(batch.lims)
    ours.notes = (
        f"hits per query: near-duplicates mean {hits[0::2].mean():.1f}, max {hits.max()}; "
        f"random mean {hits[1::2].mean():.2f}"
    )
    results = [ours]
    main = index._state.main
    biggest = int(np.diff(main.offsets.astype(np.int64), axis=1).max())
    by_radius = []
    for radius in (0, 8, 16, 31, 40, 48, 64):
        count = min(len(w.queries), 200)
        p50, p99 = latency(lambda i, r=radius: index.search(w.queries[i], r), count)
        found = [w.rows_of(index.search(q, radius).ids) for q in w.sample[:10]]
        by_radius.append((radius, p50, p99, found == brute_force(w.codes, w.sample[:10], radius)))

    # The same algorithm in plain numpy, and as a C kernel, on the same arrays.
    words, perm, offs = main.codes, main.positions, main.offsets
    nq_np = min(len(w.queries), 100)
    npy = Result("same MIH, plain numpy", single_queries=nq_np)
    npy.p50_ms, npy.p99_ms = latency(
        lambda i: numpy_mih(words, perm, offs, w.queries[i].view(np.uint64), RADIUS), nq_np, npy
    )
    npy.agreement = agreement(
        [w.rows_of(main.ids_at(numpy_mih(words, perm, offs, q.view(np.uint64), RADIUS))) for q in w.sample], w.truth
    )
    results.append(npy)
    if c_kernel is not None:
        out = np.empty(max(n, 1), dtype=np.int64)
        qw = np.ascontiguousarray(w.queries).view(np.uint64)
        masks = _hamming.MASKS

        def c_search(i: int) -> int:
            args = (words.ctypes.data, perm.ctypes.data, offs.ctypes.data, n, qw[i].ctypes.data, RADIUS)
            return c_kernel(*args, masks.ctypes.data, out.ctypes.data)

        cres = Result("same MIH, C -O3 prototype", single_queries=len(w.queries))
        cres.p50_ms, cres.p99_ms = latency(c_search, len(w.queries), cres)
        cres.agreement = agreement(
            [w.rows_of(main.ids_at(out[: c_search(i)].copy())) for i in range(len(w.sample))], w.truth
        )
        results.append(cres)
    return results, by_radius, biggest


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


def bench_dataset(
    name: str,
    codes: Codes,
    args: argparse.Namespace,
    c_kernel: Callable[..., int] | None,
    nq_flat: int,
    nq_mh: int,
) -> None:
    n = codes.shape[0]
    rng = np.random.default_rng(1234)
    queries = make_queries(rng, codes, args.queries)
    sample = queries[: args.check]
    t0 = time.perf_counter()
    truth = brute_force(codes, sample, RADIUS)
    brute_ms = (time.perf_counter() - t0) / len(sample) * 1e3
    ids = np.arange(n, dtype=np.int64) * 2 + 1_000_000  # database-like ids
    w = Workload(name, codes, ids, queries, sample, truth, args)

    results, by_radius, biggest = bench_ours(w, c_kernel)
    ours = results[0]
    results.append(bench_faiss_flat(w, nq_flat))
    if not args.no_multihash:
        results.extend(bench_faiss_multihash(w, nq_mh))
    settle()

    print(f"\n### {name}, {n:,} codes, radius {RADIUS}\n")
    print(
        f"Largest substring bucket: {biggest:,} codes (uniform expectation {n / 65536:.0f}). "
        f"{ours.notes}. Brute-force numpy reference: {brute_ms:.0f} ms/query, {len(sample)} queries checked.\n"
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
    print(f"\nHammingIndex median is {flat_p50 / ours.p50_ms:.0f}x faster than FAISS IndexBinaryFlat.\n")
    print("| radius | p50 ms | p99 ms | exact on 10 queries |")
    print("|---:|---:|---:|---|")
    for radius, p50, p99, ok in by_radius:
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
    parser.add_argument("--no-multihash", action="store_true", help="skip FAISS MultiHash (slow to build)")
    parser.add_argument("--no-c", action="store_true", help="skip the C prototype kernel")
    parser.add_argument("--datasets", default="random,clustered")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.queries, args.check = args.sizes or "200000", 300, 20
    args.sizes = args.sizes or "1000000,10000000"
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    faiss.omp_set_num_threads(1)
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "")
    print("## Hamming range index benchmark\n")
    print(f"`{' '.join([Path(sys.executable).name, *sys.argv])}`: {cpu}, pinned to CPU {os.sched_getaffinity(0)}, "
          f"Python {platform.python_version()}, numpy {np.__version__}, faiss {faiss.__version__}.\n")  # fmt: skip
    print("| numba kernels | import s | `warm_up()` s (build, search, add, remove, merge) |")
    print("|---|---:|---:|")
    for label, imp, first in jit_times():
        print(f"| {label} | {imp:.2f} | {first:.2f} |")
    sys.stdout.flush()
    warm_up()  # load the compiled kernels now, so the first measured build does not carry it
    with tempfile.TemporaryDirectory() as folder:
        c_kernel = None if args.no_c else load_c_kernel(Path(folder))
        for n in (int(s) for s in args.sizes.split(",")):
            nq_flat = args.flat_queries or (100 if n <= 2_000_000 else 30)
            nq_mh = min(args.queries, args.mh_queries or (300 if n <= 2_000_000 else 40))
            for name in args.datasets.split(","):
                rng = np.random.default_rng(n)
                codes = random_codes(rng, n) if name == "random" else clustered_codes(rng, n)
                bench_dataset(name, codes, args, c_kernel, nq_flat, nq_mh)
                del codes
                gc.collect()


if __name__ == "__main__":
    main()
