"""The FastAPI application."""

from __future__ import annotations

from fastapi import FastAPI

from firebreak import __version__
from firebreak.api import system
from firebreak.api.problems import install_problem_handlers
from firebreak.banks import api as banks_api
from firebreak.enforcement import api as enforcement_api
from firebreak.orders import api as orders_api
from firebreak.platform import api as platform_api
from firebreak.platform import hma
from firebreak.runtime import Runtime


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(
        title="Firebreak",
        version=__version__,
        summary="Takedown orders in, every copy out, receipts back.",
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.runtime = runtime
    install_problem_handlers(app)
    app.include_router(system.router)
    app.include_router(system.v1)
    app.include_router(platform_api.router)
    app.include_router(banks_api.router)
    app.include_router(enforcement_api.router)
    app.include_router(hma.router)
    app.include_router(orders_api.router)
    app.include_router(orders_api.dashboard)
    return app
