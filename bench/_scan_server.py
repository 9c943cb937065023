"""The app as `firebreak serve` builds it, as a uvicorn factory so that uvicorn can run several worker processes.

    FIREBREAK_DATA_DIR=... FIREBREAK_DATABASE_URL=... \\
        .venv/bin/python -m uvicorn --app-dir bench --factory _scan_server:create --workers 2

`firebreak serve` passes an app object to uvicorn.run, which allows one process only. Settings come from the
environment (FIREBREAK_*), exactly as for `firebreak serve`; the job worker is not started (the bench only scans).

BENCH_GC_FREEZE=1 moves everything alive after start-up (some 260,000 objects: modules, SQLAlchemy, FastAPI,
numba) out of the garbage collector's sight (gc.freeze), as the "tuned" configuration of bench_scan.py does:
otherwise each full collection walks them all, a 100-200 ms pause on the machine measured.
"""

from __future__ import annotations

import gc
import os

from fastapi import FastAPI

from firebreak.bootstrap.http import create_app
from firebreak.bootstrap.system import build_system
from firebreak.core.config import load_settings
from firebreak.core.db.session import check_database
from firebreak.matching.index import warm_up
from firebreak.schema.migrate import check_current


def create() -> FastAPI:
    system = build_system(load_settings())
    check_database(system.db.engine)
    check_current(system.db.engine)
    warm_up()  # numba kernels from the on-disk cache, before the first request
    app = create_app(system)
    if os.environ.get("BENCH_GC_FREEZE") == "1":
        gc.collect()
        gc.freeze()
    return app
