"""Where the time of an upload check goes, inside one process: the ASGI application called directly (no sockets, no
HTTP parsing), and each step of the in-memory answer timed on its own. CPU time per request, so that a busy machine
inflates it less than wall time.

    .venv/bin/python bench/scan_costs.py                     # SQLite and PostgreSQL, 100k-entry bank (~2 minutes)
    .venv/bin/python bench/scan_costs.py --backends postgresql --entries 20000

The process's index keeper runs, as in a server (its CPU is counted too). Rows: the whole request through the
application for a miss answered by the fast lane, the same miss through the
framework's route (the lane bypassed), a hit (the database decides), and `GET /healthz`; then the steps of a miss
(parse the JSON, validate the signals, hash the exact values and look them up, search the PDQ index, write the
answer). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _setup import PrivatePostgres, bench_settings, database_url, machine_lines, table
from bench_scan import build_workload, prepare_database

from firebreak.banks.service import value_digest
from firebreak.bootstrap.http import serving_app
from firebreak.bootstrap.system import build_system
from firebreak.platform.schemas import ScanSignalsRequest


def cpu_us(fn: Callable[[], object], repeat: int) -> float:
    for _ in range(min(repeat, 200)):
        fn()
    t0 = time.process_time()
    for _ in range(repeat):
        fn()
    return (time.process_time() - t0) / repeat * 1e6


class Asgi:
    """Calls the application as a server would, with one request's messages."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()

    def call(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> int:
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
                 "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
                 "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
                 "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000)}
        status = 0
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        self.loop.run_until_complete(self.app(scope, receive, send))
        return status


def measure(backend: str, args: argparse.Namespace, workdir: Path, pg: PrivatePostgres | None) -> list[list[str]]:
    work = build_workload(args.entries, 11)
    data_dir = workdir / backend
    data_dir.mkdir(parents=True)
    url = database_url(backend, workdir, pg, f"costs_{backend}")
    token = prepare_database(url, data_dir, work)
    system = build_system(bench_settings(data_dir, url))
    system.index_keeper.start()
    app = serving_app(system)
    asgi = Asgi(app)
    gc.collect()
    gc.freeze()
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    misses = [b.encode() for b, hit in work.json_bodies if not hit]
    hits = [b.encode() for b, hit in work.json_bodies if hit]
    assert asgi.call("POST", "/v1/scan", misses[0], auth) == 200  # caches the token, builds the indexes
    i = iter(range(10**9))
    rows = []

    def through(label: str, fn: Callable[[], object], repeat: int) -> None:
        rows.append([backend, label, f"{cpu_us(fn, repeat):,.0f}"])

    through("GET /healthz, whole application", lambda: asgi.call("GET", "/healthz", b"", {}), args.repeat)
    through("miss, whole application (fast lane)",
            lambda: asgi.call("POST", "/v1/scan", misses[next(i) % len(misses)], auth), args.repeat)
    gateway = system.gateway
    in_memory = gateway.scan_signals_in_memory

    def route_only() -> int:
        # The lane answers from scan_signals_in_memory: have it decline once, so that the route answers.
        def decline(request: ScanSignalsRequest) -> None:
            gateway.scan_signals_in_memory = in_memory  # type: ignore[method-assign]

        gateway.scan_signals_in_memory = decline  # type: ignore[method-assign,assignment]
        return asgi.call("POST", "/v1/scan", misses[next(i) % len(misses)], auth)

    through("miss, whole application (framework route)", route_only, args.repeat)
    through("hit, whole application (database decides)",
            lambda: asgi.call("POST", "/v1/scan", hits[next(i) % len(hits)], auth), max(200, args.repeat // 10))

    hit_requests = [ScanSignalsRequest.model_validate_json(b) for b in hits]
    through("  hit: the database step alone (scan_signals, no thread hop)",
            lambda: gateway.scan_signals(hit_requests[next(i) % len(hit_requests)]), max(200, args.repeat // 10))
    parsed = [ScanSignalsRequest.model_validate_json(b) for b in misses]
    values = [gateway._signal_values(r) for r in parsed]
    indexes = system.indexes
    through("  step: parse the JSON body (pydantic)", lambda: ScanSignalsRequest.model_validate_json(
        misses[next(i) % len(misses)]), args.repeat)
    through("  step: validate the signals", lambda: gateway._signal_values(parsed[next(i) % len(parsed)]),
            args.repeat)

    def exact() -> bool:
        v = values[next(i) % len(values)]
        return any(value_digest(x.lower()) in indexes.exact for x in [*v.get("sha256", []), *v.get("md5", [])])

    through("  step: exact values (SHA-256 of each, filter look-up)", exact, args.repeat)
    through(f"  step: PDQ index search ({len(indexes.bank):,} entries, radius {indexes.radius})",
            lambda: indexes.bank.search(values[next(i) % len(values)]["pdq"], indexes.radius), args.repeat)
    answer = gateway.scan_signals_in_memory(parsed[0])
    assert answer is not None
    through("  step: write the answer (JSON)", lambda: answer.model_dump_json().encode(), args.repeat)
    system.index_keeper.stop()
    system.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="firebreak-scan-costs-"))
    backends = args.backends.split(",")
    pg = PrivatePostgres().start() if "postgresql" in backends else None
    rows: list[list[str]] = []
    try:
        for backend in backends:
            rows += measure(backend, args, workdir, pg)
    finally:
        if pg is not None:
            pg.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"\n### Where an upload check's time goes (bank of {args.entries:,} PDQ entries)\n")
    print("\n".join(machine_lines()))
    print(table(["database", "what", "CPU µs per request"], rows))
    print(json.dumps({"entries": args.entries, "repeat": args.repeat}))


if __name__ == "__main__":
    main()
