"""The FastAPI application."""

from __future__ import annotations

from fastapi import FastAPI

from firebreak import __version__
from firebreak.api import system
from firebreak.api.problems import install_problem_handlers
from firebreak.authorities import api as authorities_api
from firebreak.banks import api as banks_api
from firebreak.enforcement import api as enforcement_api
from firebreak.orders import api as orders_api
from firebreak.orders import web as orders_web
from firebreak.platform import api as platform_api
from firebreak.platform import hma
from firebreak.runtime import Runtime
from firebreak.web import routes as web_routes

SANDBOX_INTEGRATION = "sandbox"


def prepare(runtime: Runtime) -> None:
    """Start-up writes a serving process needs: the sandbox's integration row."""
    if runtime.settings.sandbox_enabled:
        from firebreak.platform.gateway import ensure_integration

        ensure_integration(runtime, name=SANDBOX_INTEGRATION, adapter="sandbox")


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
    app.include_router(authorities_api.router)
    app.include_router(web_routes.router)
    app.include_router(orders_web.router)
    if runtime.settings.sandbox_enabled:
        from firebreak.platform.gateway import InProcessLink
        from firebreak.sandbox import api as sandbox_api
        from firebreak.sandbox import flows

        flows.connect(runtime, InProcessLink(runtime), integration=SANDBOX_INTEGRATION)
        app.include_router(sandbox_api.router)
        app.include_router(sandbox_api.web_router)
    return app
