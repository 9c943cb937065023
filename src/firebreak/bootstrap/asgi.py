"""The application of a multi-process server.

`firebreak serve --workers N` runs uvicorn with the factory ``firebreak.bootstrap.asgi:create``: every web process
calls :func:`create`, which builds that process's own System from the settings (``FIREBREAK_*`` and
``FIREBREAK_CONFIG_FILE``, set by ``serve`` for its children) through the one composition root, and runs the
process's index keeper for as long as the application lives. The job worker and the SMTP listener are not run in
these processes: they are roles of their own (`firebreak jobs worker`, `firebreak smtp`).

Also usable with any ASGI server: ``uvicorn --factory firebreak.bootstrap.asgi:create``.
"""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp

from firebreak.bootstrap import metrics
from firebreak.bootstrap.http import serving_app
from firebreak.bootstrap.processes import Services
from firebreak.bootstrap.system import build_system
from firebreak.core.config import load_settings
from firebreak.core.db.session import check_database
from firebreak.schema.migrate import check_current

# How often a thread holding the GIL is asked to let another run (Python's default is 5 ms). A serving process's
# event loop is nearly always busy; the thread that waits on the database for an upload check that needs it would
# otherwise wait up to 5 ms for the GIL every time its answer arrives (docs/benchmarks.md).
SWITCH_INTERVAL = 0.0005


def tune_process() -> None:
    sys.setswitchinterval(SWITCH_INTERVAL)


def create() -> ASGIApp:
    settings = load_settings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    system = build_system(settings)
    check_database(system.db.engine)
    check_current(system.db.engine)
    services = Services(system, worker=False, smtp=False)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        services.start()
        try:
            yield
        finally:
            services.stop()
            system.close()
            metrics.forget_this_process()

    app = serving_app(system, lifespan=lifespan)
    tune_process()
    # Everything built so far lives as long as the process: keep it out of the garbage collector's full passes,
    # which otherwise pause every request for 100+ ms (docs/benchmarks.md).
    gc.collect()
    gc.freeze()
    return app


__all__ = ["create"]
