"""Upload checks: `POST /v1/scan` throughput and latency over loopback by process count, measured with wrk.

    apt-get install -y wrk                                   # once: the load generator (Debian's package)
    .venv/bin/python bench/bench_scan.py                     # PostgreSQL, 1 and 2 processes (~5 minutes)
    .venv/bin/python bench/bench_scan.py --quick             # 5 s runs, 20k-entry bank
    .venv/bin/python bench/bench_scan.py --configs postgresql:1,postgresql:2,postgresql:4,postgresql:8,\
postgresql:16 --wrk-threads 4 --json-connections 16,64 # a bigger machine

A config is `database:processes`. The server is the real command, `firebreak serve --workers N` (N = 1: `firebreak
serve --no-worker`), on 127.0.0.1 with settings from FIREBREAK_* variables (no job worker, no SMTP listener, the
index keeper following the change log as in production). --server-pythonpath DIR puts another Firebreak source
first on the server's path (how "before" figures in docs/benchmarks.md are taken).

The database holds a BLOCK bank of 100k PDQ entries, 50k SHA-256 and 50k MD5 entries (bulk-inserted), plus the exact
and PDQ hashes of one 1-megapixel photo. The caller authenticates as a platform integration with its API token
(`Authorization: Bearer`). The other way in, an HMAC signature per request with replay protection, needs a fresh
signature for every request and a write to remember it; it is meant for events, not for a fixed request set
replayed by a load tool.

Load: wrk (--wrk-threads threads, N connections, fixed duration, loopback only), sharing the machine's cores with
the server. Each run is bounded by its duration; a request slower than 2 s counts as a timeout.
- `GET /healthz`: the framework's ceiling on this machine (baseline, same run).
- `POST /v1/scan`, JSON: 1,000 distinct requests cycled, each with a PDQ (quality 90), a SHA-256 and an MD5,
  as a platform that hashes on its side sends them; 10% hit the bank (5% PDQ a few bits from a banked hash,
  5% a banked SHA-256), 90% miss (--hit-percent changes the share).
- `POST /v1/scan`, a 1 MP JPEG as application/octet-stream: six photos cycled, two of them copies of the banked
  photo (the file itself, and a mirrored re-encode), four unrelated.
Targets: JSON >= 1,000 requests/s with p99 < 20 ms (at 16 connections too); JPEG p99 < 50 ms. Prints markdown tables.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from _setup import (
    REPO,
    BulkLoader,
    PrivatePostgres,
    bench_settings,
    database_url,
    free_port,
    machine_lines,
    migrated_engine,
    table,
)
from PIL import Image, ImageOps
from skimage import data as skdata

from firebreak.auth import service as auth_service
from firebreak.auth.models import CredentialScope
from firebreak.banks import service as banks
from firebreak.banks.models import MatchAction, Provenance
from firebreak.banks.schemas import BankCreate
from firebreak.bootstrap.system import build_system
from firebreak.signals.hashing import hash_bytes

HERE = Path(__file__).resolve().parent
JSON_TARGET_RPS = 1000
JSON_TARGET_P99_MS = 20.0
JPEG_TARGET_P99_MS = 50.0
MARKER = "WRKJSON "

LUA = r"""
-- wrk script: args are <request list file> <method> <path> <content type> <token>.
-- JSON: one body per line. Files: one path per line, sent as the body.
local reqs = {}
local n = 0
local i = 0

function init(args)
  local list, method, path, ctype, token = args[1], args[2], args[3], args[4], args[5]
  local headers = {}
  if method ~= "GET" then
    headers["Content-Type"] = ctype
    headers["Authorization"] = "Bearer " .. token
  end
  for line in io.lines(list) do
    local body = nil
    if method ~= "GET" then
      if ctype == "application/json" then
        body = line
      else
        local f = assert(io.open(line, "rb"))
        body = f:read("*a")
        f:close()
      end
    end
    n = n + 1
    reqs[n] = wrk.format(method, path, headers, body)
  end
end

function request()
  i = i + 1
  if i > n then i = 1 end
  return reqs[i]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests": %d, "duration_us": %d, "p50": %d, "p90": %d, "p99": %d, ' ..
    '"p999": %d, "max": %d, "connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


# -- the data -------------------------------------------------------------------------------------------------


def photo(name: str, size: tuple[int, int]) -> Image.Image:
    arr = np.asarray(getattr(skdata, name)())
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    return Image.fromarray(arr[..., :3].astype(np.uint8)).convert("RGB").resize(size, Image.Resampling.LANCZOS)


def jpeg(img: Image.Image, quality: int = 90) -> bytes:
    out = io.BytesIO()
    img.save(out, "JPEG", quality=quality)
    return out.getvalue()


@dataclass
class Workload:
    banked_file: bytes
    files: list[tuple[str, bytes, bool]]  # name, bytes, expected to hit
    json_bodies: list[tuple[str, bool]]  # body, expected to hit
    pdq: list[str]
    sha: list[str]
    md5: list[str]


def _hex(rng: np.random.Generator, n: int, nbytes: int) -> list[str]:
    raw = rng.integers(0, 256, size=(n, nbytes), dtype=np.uint8).tobytes()
    return [raw[i * nbytes : (i + 1) * nbytes].hex() for i in range(n)]


def build_workload(entries: int, seed: int, hit_percent: float = 10.0) -> Workload:
    rng = np.random.default_rng(seed)
    banked = photo("astronaut", (1024, 1024))  # 1.05 MP
    banked_file = jpeg(banked)
    files = [
        ("banked photo, same file", banked_file, True),
        ("banked photo, mirrored, q75", jpeg(ImageOps.mirror(banked), 75), True),
        ("coffee", jpeg(photo("coffee", (1224, 816))), False),
        ("chelsea", jpeg(photo("chelsea", (1200, 880))), False),
        ("rocket", jpeg(photo("rocket", (1224, 816))), False),
        ("camera", jpeg(photo("camera", (1024, 1024))), False),
    ]
    pdq, sha, md5 = _hex(rng, entries, 32), _hex(rng, entries // 2, 32), _hex(rng, entries // 2, 16)
    bodies: list[tuple[str, bool]] = []
    hits = set(rng.choice(1000, size=round(10 * hit_percent), replace=False).tolist())
    for i in range(1000):
        kind = (0 if i % 2 else 1) if i in hits else 2  # 0: PDQ hit, 1: SHA-256 hit, else miss
        value = bytearray(rng.integers(0, 256, size=32, dtype=np.uint8).tobytes())
        s, m = _hex(rng, 1, 32)[0], _hex(rng, 1, 16)[0]
        if kind == 0:
            value = bytearray(bytes.fromhex(pdq[int(rng.integers(0, entries))]))
            for bit in rng.choice(256, size=int(rng.integers(1, 9)), replace=False):
                value[bit // 8] ^= 1 << (bit % 8)
        elif kind == 1:
            s = sha[int(rng.integers(0, len(sha)))]
        signals = [
            {"signal_type": "pdq", "value": value.hex(), "quality": 90},
            {"signal_type": "sha256", "value": s},
            {"signal_type": "md5", "value": m},
        ]
        bodies.append((json.dumps({"signals": signals}), kind in (0, 1)))
    return Workload(banked_file, files, bodies, pdq, sha, md5)


def prepare_database(url: str, data_dir: Path, work: Workload) -> str:
    """Migrate, create the integration, its token and the bank. Returns the platform token."""
    engine = migrated_engine(url)
    system = build_system(bench_settings(data_dir, url), engine=engine)
    try:
        integration = system.gateway.ensure_integration(name="bench-platform", adapter="webhook")
        with system.db.transaction() as session:
            token = auth_service.issue_token(
                session=session, clock=system.clock, actor="bench", name="bench", scope=CredentialScope.PLATFORM,
                integration_id=integration.id,
            ).token
            bank = banks.create_bank(session=session, clock=system.clock, actor="bench",
                                     data=BankCreate(name="known", action=MatchAction.BLOCK))
            bank_id = bank.id
            banks.add_entries(
                session=session, clock=system.clock, actor="bench", bank=bank,
                entries=banks.entries_for_hashes(hash_bytes(work.banked_file)), provenance=Provenance.ORDER,
            )
        now = datetime.now(UTC)

        def rows() -> Any:
            for kind, values in (("pdq", work.pdq), ("sha256", work.sha), ("md5", work.md5)):
                for v in values:
                    yield (bank_id, kind, v, hashlib.sha256(v.encode()).hexdigest(), 90 if kind == "pdq" else None,
                           "active", "import", "{}", 0, now, now)

        BulkLoader(engine).load(
            "bank_entries",
            ["bank_id", "signal_type", "value", "value_digest", "quality", "status", "provenance", "extra",
             "blocked_uploads", "created_at", "status_changed_at"],
            rows(),
        )
        BulkLoader(engine).analyze()
    finally:
        system.close()
    return token


# -- the server and the load ------------------------------------------------------------------------------------


class Server:
    """`firebreak serve` with N web processes, as an operator starts it."""

    def __init__(self, url: str, data_dir: Path, workers: int, pythonpath: list[str]) -> None:
        self.port = free_port()
        self.workers = workers
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FIREBREAK_", "PROMETHEUS_"))}
        env.update({"FIREBREAK_DATA_DIR": str(data_dir), "FIREBREAK_DATABASE_URL": url,
                    "FIREBREAK_EMBEDDED_WORKER": "false", "FIREBREAK_SMTP_LISTEN": "false",
                    "FIREBREAK_LOG_LEVEL": "warning"})
        if pythonpath:
            env["PYTHONPATH"] = os.pathsep.join([*pythonpath, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        self.log = open(data_dir / f"server-{self.port}.log", "wb")  # noqa: SIM115
        command = ["--no-worker"] if workers == 1 else ["--workers", str(workers)]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "firebreak", "serve", "--host", "127.0.0.1", "--port", str(self.port), *command],
            env=env, cwd=REPO, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if self.request("GET", "/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise SystemExit(f"the server did not start; see {self.log.name}")

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None,
                timeout: float = 30) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.log.close()


@dataclass
class LoadResult:
    label: str
    connections: int
    requests: int
    seconds: float
    p50: float
    p90: float
    p99: float
    p999: float
    max: float
    errors: int
    load_average: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def wrk(port: int, lua: Path, listfile: Path, *, method: str, path: str, ctype: str, token: str, connections: int,
        seconds: int, label: str, threads: int = 1) -> LoadResult:
    cmd = ["wrk", f"-t{min(threads, connections)}", f"-c{connections}", f"-d{seconds}s", "--timeout", "2s",
           "-s", str(lua), f"http://127.0.0.1:{port}{path}", "--", str(listfile), method, path, ctype, token]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=True)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith(MARKER)), None)
    if line is None:
        raise SystemExit(f"wrk said:\n{done.stdout}\n{done.stderr}")
    r = json.loads(line[len(MARKER):])
    errors = r["connect"] + r["read"] + r["write"] + r["status"] + r["timeout"]
    return LoadResult(label, connections, r["requests"], r["duration_us"] / 1e6, r["p50"] / 1000, r["p90"] / 1000,
                      r["p99"] / 1000, r["p999"] / 1000, r["max"] / 1000, errors, os.getloadavg()[0])


def check_answers(server: Server, token: str, work: Workload) -> tuple[int, int]:
    """Every request of the set gets the expected verdict. Returns (hits, requests) over the JSON set."""
    auth = {"Authorization": f"Bearer {token}"}
    hits = 0
    for body, expected in work.json_bodies:
        status, answer = server.request("POST", "/v1/scan", body.encode(), {**auth, "Content-Type": "application/json"})
        assert status == 200, (status, answer[:300])
        verdict = json.loads(answer)["verdict"]
        assert verdict == ("block" if expected else "allow"), (body, answer)
        hits += verdict == "block"
    for name, data, expected in work.files:
        status, answer = server.request("POST", "/v1/scan", data, {**auth, "Content-Type": "application/octet-stream"})
        assert status == 200, (status, answer[:300])
        assert json.loads(answer)["verdict"] == ("block" if expected else "allow"), (name, answer)
    return hits, len(work.json_bodies)


def check_refused(server: Server, work: Workload) -> tuple[int, float]:
    """An unknown token: (status, seconds). Checked after the load: before Firebreak refused it outside its own
    transaction, the refusal waited for SQLite's write lock held by that very transaction (busy timeout 30 s)."""
    t = time.perf_counter()
    try:
        status, _ = server.request("POST", "/v1/scan", work.json_bodies[0][0].encode(),
                                   {"Authorization": "Bearer fbk_not-a-token", "Content-Type": "application/json"},
                                   timeout=45)
    except TimeoutError:
        status = 0
    return status, time.perf_counter() - t


@dataclass(frozen=True)
class Config:
    backend: str
    workers: int

    def __str__(self) -> str:
        return f"{self.backend}, {self.workers} process{'es' if self.workers > 1 else ''}"


@dataclass
class ConfigResult:
    config: Config
    runs: list[LoadResult]
    hits: tuple[int, int]
    refused: tuple[int, float]  # an unknown token: HTTP status (0: no answer in 30 s), seconds


def run_config(config: Config, work: Workload, workdir: Path, pg: PrivatePostgres | None,
               args: argparse.Namespace) -> ConfigResult:
    backend, workers = config.backend, config.workers
    name = f"scan_{backend}_{workers}"
    data_dir = workdir / name
    data_dir.mkdir(parents=True, exist_ok=True)
    url = database_url(backend, workdir, pg, name)
    print(f"[{backend}, {workers} process(es)] preparing the bank ...", file=sys.stderr)
    token = prepare_database(url, data_dir, work)
    lua = workdir / "scan.lua"
    lua.write_text(LUA)
    json_list = workdir / "json.txt"
    json_list.write_text("\n".join(b for b, _ in work.json_bodies) + "\n")
    file_list = workdir / "files.txt"
    paths = []
    for i, (_, data, _) in enumerate(work.files):
        path = workdir / f"upload-{i}.jpg"
        path.write_bytes(data)
        paths.append(str(path))
    file_list.write_text("\n".join(paths) + "\n")
    get_list = workdir / "get.txt"
    get_list.write_text("-\n")

    server = Server(url, data_dir, workers, args.server_pythonpath)
    runs: list[LoadResult] = []
    refused = (0, 0.0)
    try:
        hits = check_answers(server, token, work)
        seconds = args.seconds

        def go(label: str, listfile: Path, method: str, path: str, ctype: str, connections: int,
               duration: int = seconds) -> LoadResult:
            result = wrk(server.port, lua, listfile, method=method, path=path, ctype=ctype, token=token,
                         connections=connections, seconds=duration, label=label, threads=args.wrk_threads)
            print(f"[{backend}, {workers}] {result}", file=sys.stderr)
            return result

        # Warm every web process: numba kernels, connection pools, first-request paths, the token cache.
        go("warm-up", json_list, "POST", "/v1/scan", "application/json", max(4, 2 * workers), 3)
        go("warm-up", file_list, "POST", "/v1/scan", "application/octet-stream", 2, 2)
        for c in args.health_connections:
            runs.append(go("GET /healthz (baseline)", get_list, "GET", "/healthz", "-", c))
        for c in args.json_connections:
            runs.append(go("POST /v1/scan JSON hashes", json_list, "POST", "/v1/scan", "application/json", c))
        for c in args.jpeg_connections:
            runs.append(go("POST /v1/scan 1 MP JPEG", file_list, "POST", "/v1/scan", "application/octet-stream", c))
        refused = check_refused(server, work)
    finally:
        server.stop()
    return ConfigResult(config, runs, hits, refused)


def verdict(run: LoadResult) -> str:
    if run.errors:
        return "no (errors)"
    if "JSON" in run.label:
        return "yes" if run.rps >= JSON_TARGET_RPS and run.p99 < JSON_TARGET_P99_MS else "no"
    if "JPEG" in run.label:
        return "yes" if run.p99 < JPEG_TARGET_P99_MS else "no"
    return "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5 s runs, a 20k-entry PDQ bank")
    parser.add_argument("--configs", default="postgresql:1,postgresql:2",
                        help="database:web processes, comma-separated (default: postgresql:1,postgresql:2)")
    parser.add_argument("--entries", type=int, help="PDQ entries in the bank (default 100,000)")
    parser.add_argument("--seconds", type=int, help="duration of each measured run (default 10)")
    parser.add_argument("--health-connections", default="16")
    parser.add_argument("--json-connections", default="4,16")
    parser.add_argument("--jpeg-connections", default="1,2")
    parser.add_argument("--wrk-threads", type=int, default=1, help="threads of the load generator")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--hit-percent", type=float, default=10.0, help="JSON requests that hit the bank (default 10)")
    parser.add_argument("--server-pythonpath", action="append", default=[],
                        help="put this directory first on the server's PYTHONPATH (e.g. another Firebreak source)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    args.entries = args.entries or (20_000 if args.quick else 100_000)
    args.seconds = args.seconds or (5 if args.quick else 10)
    for key in ("health_connections", "json_connections", "jpeg_connections"):
        setattr(args, key, [int(c) for c in getattr(args, key).split(",") if c])
    configs = []
    for item in args.configs.split(","):
        backend, _, workers = item.partition(":")
        if backend not in ("sqlite", "postgresql") or not re.fullmatch(r"[1-9][0-9]?", workers or "1"):
            raise SystemExit(f"bad config {item!r}: expected sqlite:N or postgresql:N")
        configs.append(Config(backend, int(workers or 1)))

    work = build_workload(args.entries, args.seed, args.hit_percent)
    workdir = Path(tempfile.mkdtemp(prefix="firebreak-bench-scan-"))
    pg = PrivatePostgres().start() if any(c.backend == "postgresql" for c in configs) else None
    results = []
    try:
        for config in configs:
            results.append(run_config(config, work, workdir, pg, args))
    finally:
        if pg is not None:
            pg.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    command = " ".join(["bench/bench_scan.py", *sys.argv[1:]])
    print(f"\n### Upload checks: POST /v1/scan, bank of {args.entries:,} PDQ + {args.entries // 2:,} SHA-256 + "
          f"{args.entries // 2:,} MD5 entries\n")
    print(f"- command: `.venv/bin/python {command}`")
    print("\n".join(machine_lines()))
    print(f"- load: wrk 4.1 (Debian), {args.wrk_threads} thread(s), {args.seconds} s per run, loopback, on the same "
          f"{os.cpu_count()} cores as the server")
    print(f"- targets: JSON hashes >= {JSON_TARGET_RPS:,} requests/s with p99 < {JSON_TARGET_P99_MS:.0f} ms; "
          f"1 MP JPEG p99 < {JPEG_TARGET_P99_MS:.0f} ms\n")
    rows = []
    for r in results:
        for run in r.runs:
            rows.append([str(r.config), run.label,
                         run.connections, f"{run.rps:,.0f}", f"{run.p50:.1f}", f"{run.p90:.1f}", f"{run.p99:.1f}",
                         f"{run.p999:.1f}", f"{run.requests:,}", run.errors, f"{run.load_average:.1f}", verdict(run)])
    print(table(["server", "request", "connections", "requests/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms",
                 "requests", "errors", "load average", "target met"], rows))
    hits = results[0].hits if results else (0, 0)
    print(f"\nVerdicts checked before the load: {hits[0]} of {hits[1]} JSON requests block, the rest allow; the two "
          "copies of the banked photo block, the four other photos allow.")
    print("An unknown token, after the load: " + "; ".join(
        f"{r.config}: HTTP {r.refused[0] or 'no answer'} in {r.refused[1] * 1000:.0f} ms" for r in results) + ".")


if __name__ == "__main__":
    main()
