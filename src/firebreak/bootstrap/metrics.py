"""Prometheus metrics, served at ``/metrics``.

Per process: request latency histograms (by method, route template and status) and the state of the process's
indexes (entries, seconds since it last followed the change log, rows outside the snapshot). In a multi-process
server (``firebreak serve --workers N``), ``serve`` points ``PROMETHEUS_MULTIPROC_DIR`` at a folder under the data
dir that it empties at start, every process writes its samples there, and ``/metrics`` (answered by whichever
process gets the scrape) adds up the histograms and gives the worst index figures of the live processes.

From the database, at scrape time (cached for ``DB_FIGURES_TTL``): job rows due and running, queue messages
waiting, platform actions by kind and outcome, open orders and those whose SLA clock is at risk or overdue, and
the newest position of the index change log. These are the same whichever host answers.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable
from datetime import timedelta

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from firebreak.core.clock import Clock
from firebreak.core.db.session import Database
from firebreak.core.jobs.models import ScheduledTask, TaskStatus
from firebreak.core.jobs.queue import JobQueue
from firebreak.enforcement.models import Action
from firebreak.matching.models import IndexChange
from firebreak.matching.service import IndexSet
from firebreak.orders.models import Order, OrderStatus

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
DB_FIGURES_TTL = 10.0
SLA_AT_RISK = timedelta(hours=1)
OPEN_ORDERS = (OrderStatus.RECEIVED, OrderStatus.VERIFIED, OrderStatus.IN_PROGRESS)

REQUEST_SECONDS = Histogram(
    "firebreak_http_request_duration_seconds", "Time to answer an HTTP request, by route template.",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
INDEX_ENTRIES = Gauge("firebreak_index_entries", "Entries in a process's index (bank: PDQ of active bank entries; "
                      "media: matchable media).", ["index"], multiprocess_mode="livemax")
INDEX_LAG = Gauge("firebreak_index_lag_seconds", "Seconds since a process last followed the index change log "
                  "(the worst live process).", multiprocess_mode="livemax")
INDEX_POSITION = Gauge("firebreak_index_log_position", "The change-log position a process has read (the furthest "
                       "behind live process).", multiprocess_mode="livemin")
INDEX_PENDING = Gauge("firebreak_index_pending_rows", "Index rows a process holds outside its host's snapshot.",
                      multiprocess_mode="livemax")


def observe_indexes(indexes: IndexSet) -> None:
    """Record this process's index figures (called every second by the process's services)."""
    if not indexes.started:
        return
    INDEX_ENTRIES.labels("bank").set(len(indexes.bank))
    INDEX_ENTRIES.labels("media").set(len(indexes.media))
    INDEX_LAG.set(min(indexes.lag_seconds(), 1e9))
    INDEX_POSITION.set(indexes.position)
    INDEX_PENDING.set(indexes.pending_rows())


def forget_this_process() -> None:
    """On a clean exit in multi-process mode: this process's gauges no longer count (a process that crashed counts
    until `serve` starts again and empties the folder)."""
    if os.environ.get(MULTIPROC_ENV):
        mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


class RequestMetrics:
    """ASGI middleware timing every HTTP request into REQUEST_SECONDS (``/metrics`` itself excluded)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") == "/metrics":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            REQUEST_SECONDS.labels(scope.get("method", ""), template, str(status)).observe(
                time.perf_counter() - started)


class DatabaseFigures(Collector):
    """Figures every process reads the same from the database, cached for DB_FIGURES_TTL."""

    def __init__(self, *, db: Database, clock: Clock, queue: JobQueue) -> None:
        self.db = db
        self.clock = clock
        self.queue = queue
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Metric]] | None = None

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            if self._cached is None or time.monotonic() - self._cached[0] > DB_FIGURES_TTL:
                self._cached = (time.monotonic(), self._read())
            return list(self._cached[1])

    def _read(self) -> list[Metric]:
        now = self.clock.now()
        jobs = GaugeMetricFamily("firebreak_jobs", "Job rows due now (pending) and being run (running).",
                                 labels=["status"])
        actions = GaugeMetricFamily("firebreak_actions", "Platform actions by kind and outcome (pending, done, "
                                    "not_found, failed).", labels=["kind", "status"])
        orders = GaugeMetricFamily("firebreak_orders_open", "Orders not yet completed, rejected or withdrawn.")
        at_risk = GaugeMetricFamily("firebreak_orders_sla_at_risk", "Open orders due within the hour.")
        overdue = GaugeMetricFamily("firebreak_orders_overdue", "Open orders past their deadline.")
        newest = GaugeMetricFamily("firebreak_index_changes_newest", "The newest position of the index change log.")
        queued = GaugeMetricFamily("firebreak_queue_messages", "Messages waiting in the job queue.")
        with self.db.sessions() as session:
            due = session.scalar(select(func.count()).select_from(ScheduledTask).where(
                ScheduledTask.status == TaskStatus.PENDING, ScheduledTask.due_at <= now))
            running = session.scalar(select(func.count()).select_from(ScheduledTask).where(
                ScheduledTask.status == TaskStatus.RUNNING))
            jobs.add_metric(["pending"], float(due or 0))
            jobs.add_metric(["running"], float(running or 0))
            for kind, status, count in session.execute(
                    select(Action.kind, Action.status, func.count()).group_by(Action.kind, Action.status)):
                actions.add_metric([str(kind), str(status)], float(count))
            open_filter = (Order.status.in_(OPEN_ORDERS),)
            orders.add_metric([], float(session.scalar(
                select(func.count()).select_from(Order).where(*open_filter)) or 0))
            at_risk.add_metric([], float(session.scalar(select(func.count()).select_from(Order).where(
                *open_filter, Order.deadline_at > now, Order.deadline_at <= now + SLA_AT_RISK)) or 0))
            overdue.add_metric([], float(session.scalar(select(func.count()).select_from(Order).where(
                *open_filter, Order.deadline_at <= now)) or 0))
            newest.add_metric([], float(session.scalar(select(func.max(IndexChange.seq))) or 0))
        try:
            queued.add_metric([], float(self.queue.pending_count()))
        except Exception:  # noqa: S110 - the queue being away is reported by /readyz; the other figures still count
            pass
        return [jobs, actions, orders, at_risk, overdue, newest, queued]


def render(figures: DatabaseFigures) -> tuple[bytes, str]:
    """The exposition text of this process (or, in multi-process mode, of every process of the host)."""
    registry = CollectorRegistry()
    if os.environ.get(MULTIPROC_ENV):
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        for collector in (REQUEST_SECONDS, INDEX_ENTRIES, INDEX_LAG, INDEX_POSITION, INDEX_PENDING):
            registry.register(collector)
    registry.register(figures)
    return generate_latest(registry), CONTENT_TYPE_LATEST
