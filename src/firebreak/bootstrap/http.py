"""The FastAPI application of a built system: its components, every domain's routes, error handling."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI
from starlette.types import ASGIApp

from firebreak import __version__
from firebreak.api.deps import CredentialGate
from firebreak.authorities import api as authorities_api
from firebreak.banks import api as banks_api
from firebreak.bootstrap import metrics, ops
from firebreak.bootstrap.system import System
from firebreak.console import actions as console_actions
from firebreak.console import appeals as console_appeals
from firebreak.console import audit as console_audit
from firebreak.console import banks as console_banks
from firebreak.console import review as console_review
from firebreak.console import statements as console_statements
from firebreak.core.clock import Clock
from firebreak.core.config import Settings
from firebreak.core.db.session import Database
from firebreak.core.http.deps import Components, components_of, install
from firebreak.core.http.guard import BodyGuard, BodyLimits, body_size_of
from firebreak.core.http.headers import SecurityHeaders
from firebreak.core.http.openapi import install_openapi
from firebreak.core.http.problems import install_problem_handlers
from firebreak.core.jobs.queue import JobQueue
from firebreak.enforcement import api as enforcement_api
from firebreak.enforcement.appeals import Appeals
from firebreak.enforcement.due_process import DueProcess
from firebreak.evidence import api as evidence_api
from firebreak.evidence.flows import Evidence
from firebreak.gateway import api as gateway_api
from firebreak.gateway.flows import Gateway
from firebreak.hma import api as hma_api
from firebreak.integrations.sandbox import api as sandbox_api
from firebreak.integrations.sandbox import web as sandbox_web
from firebreak.integrations.sandbox.flows import Sandbox
from firebreak.matching.flows import IndexKeeper
from firebreak.matching.service import IndexSet
from firebreak.orders import api as orders_api
from firebreak.orders import web as orders_web
from firebreak.orders.flows import OrderDesk
from firebreak.reports import api as reports_api
from firebreak.reports import console as reports_console
from firebreak.reports import web as reports_web
from firebreak.reports.flows import Reports
from firebreak.review.flows import ReviewDesk
from firebreak.transparency import api as transparency_api
from firebreak.transparency_reports import web as transparency_web
from firebreak.transparency_reports.flows import TransparencyReports
from firebreak.web import routes as web_routes
from firebreak.web.session import BrowserSessions, WebKeys


def components(system: System) -> Components:
    """What routes may ask for, by type."""
    found = Components()
    found.add(Settings, system.settings)
    found.add(Database, system.db)
    found.add(Clock, system.clock)  # type: ignore[type-abstract]
    found.add(IndexSet, system.indexes)
    found.add(IndexKeeper, system.index_keeper)
    found.add(JobQueue, system.queue)
    found.add(metrics.DatabaseFigures, metrics.DatabaseFigures(db=system.db, clock=system.clock, queue=system.queue))
    found.add(Gateway, system.gateway)
    found.add(OrderDesk, system.orders)
    found.add(Evidence, system.evidence)
    found.add(Reports, system.reports)
    found.add(TransparencyReports, system.transparency_reports)
    found.add(ReviewDesk, system.review)
    found.add(Appeals, system.appeals)
    found.add(DueProcess, system.due)
    found.add(gateway_api.CallerCheck, gateway_api.CallerCheck(
        db=system.db, clock=system.clock, secrets=system.secrets, logins=gateway_api.PlatformLogins(),
        max_body_bytes=BodyLimits.of_settings(system.settings).upload))
    found.add(hma_api.HmaContext, hma_api.HmaContext(clock=system.clock, blobs=system.blobs, limits=system.limits,
                                                     indexes=system.indexes, adapters=system.adapters))
    found.add(BrowserSessions, BrowserSessions(keys=WebKeys(system.keys), db=system.db, clock=system.clock,
                                               secure_cookies=system.settings.public_url.startswith("https://")))
    if system.sandbox is not None:
        found.add(Sandbox, system.sandbox)
    return found


# Requests with a body to these paths need credentials before the body is read (core.http.guard).
GATED_PREFIXES = ("/v1/", "/h/", "/m/", "/c/")


def install_guards(app: FastAPI, system: System) -> None:
    """Bodies bounded and read only for callers with credentials; security headers on every page; the complete
    OpenAPI document (problem answers, body limits)."""
    limits = BodyLimits.of_settings(system.settings)
    gate = CredentialGate(db=system.db, clock=system.clock,
                          self_authenticating=gateway_api.SIGNED_PATHS | reports_api.PUBLIC_PATHS)
    app.add_middleware(BodyGuard, routes=lambda: app.routes, limits=limits, gate=gate, gated_prefixes=GATED_PREFIXES)
    app.add_middleware(SecurityHeaders)
    install_openapi(app, gated_prefixes=GATED_PREFIXES, public_paths=reports_api.PUBLIC_PATHS,
                    body_limit=lambda route: limits.of(body_size_of(route)))


Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_app(system: System, *, lifespan: Lifespan | None = None) -> FastAPI:
    """The application of a built system. ``lifespan`` starts and stops the process's services (``asgi.py``)."""
    app = FastAPI(
        title="Firebreak",
        version=__version__,
        summary="Takedown orders in, every copy out, receipts back.",
        docs_url=None,  # /docs is web.routes' page: Swagger UI from Firebreak's own files, never a CDN
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=lifespan,
    )
    install(app, components(system))
    install_problem_handlers(app)
    install_guards(app, system)
    app.include_router(ops.router)
    app.include_router(ops.v1)
    app.include_router(gateway_api.router)
    app.include_router(banks_api.router)
    app.include_router(enforcement_api.router)
    app.include_router(evidence_api.router)
    app.include_router(hma_api.router)
    app.include_router(orders_api.router)
    app.include_router(orders_api.dashboard)
    app.include_router(authorities_api.router)
    app.include_router(transparency_api.router)
    app.include_router(web_routes.router)
    app.include_router(orders_web.router)
    app.include_router(transparency_web.router)
    for console in (console_review, console_banks, console_audit, console_actions, console_statements,
                    console_appeals):
        app.include_router(console.router)
    app.include_router(reports_api.router)
    app.include_router(reports_web.router)
    app.include_router(reports_console.router)
    if system.sandbox is not None:
        app.include_router(sandbox_api.router)
        app.include_router(sandbox_web.router)
    return app


def serving_app(system: System, *, lifespan: Lifespan | None = None) -> ASGIApp:
    """What a server runs: the application behind request metrics and the upload check's fast lane.

    Both sit in front of the framework rather than among its middleware: the fast lane exists to skip the
    framework's per-request work, and the metrics time every request, the lane's included.
    """
    app = create_app(system, lifespan=lifespan)
    lane = gateway_api.ScanFastLane(app, gateway=system.gateway, check=components_of(app).get(gateway_api.CallerCheck))
    return metrics.RequestMetrics(lane)
