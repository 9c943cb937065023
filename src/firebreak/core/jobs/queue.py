"""The job queue: huey as transport, job rows and a registry as the source of truth.

Why huey: it runs embedded on a SQLite file (no extra service for the default
install) and distributed on Redis across many worker processes with the same code;
it persists queued messages, so a job enqueued before a crash runs after it. Messages
are serialised as versioned JSON, never pickle.

Every job is a row (``ScheduledTask``) written in the transaction that asked for it, and a
named function in :class:`JobRegistry`. Huey carries only the row's id to wake a worker
at once; a worker claims the row with a lease, runs it and marks it done. The periodic
reconciler runs rows that are due or whose worker died (lease expired), so a queue
message lost with a crash delays the work but never drops it.

Jobs have a priority (``runner.Priority``): huey hands a free worker the most urgent message first, and a
process that runs a worker also has a *prompt lane*, two threads that run only the PROMPT jobs deferred in this
process, so an acknowledgement does not wait for a worker to finish a long propagation.
"""

from __future__ import annotations

import json
import logging
import queue as stdlib_queue
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from huey import Huey, MemoryHuey, PriorityRedisHuey, SqliteHuey
from huey.registry import Message
from huey.serializer import Serializer

from firebreak.core.config import Settings
from firebreak.core.jobs.runner import Priority

log = logging.getLogger(__name__)

MESSAGE_FORMAT = 1
REDIS_QUEUE_NAME = "firebreak-jobs"  # the sorted set huey.redis.firebreakjobs
PROMPT_LANE_THREADS = 2


class JsonSerializer(Serializer):  # type: ignore[misc]
    """Huey messages as JSON: {"v": 1, "message": {...}}. Only JSON payloads travel."""

    def _serialize(self, data: Any) -> bytes:
        if not isinstance(data, Message):
            return json.dumps({"v": MESSAGE_FORMAT, "value": data}).encode()
        fields = data._asdict()
        if fields["eta"] is not None:
            fields["eta"] = fields["eta"].isoformat()
        if fields["expires_resolved"] is not None:
            fields["expires_resolved"] = fields["expires_resolved"].isoformat()
        for key in ("on_complete", "on_error", "chord_config"):
            if fields.get(key) is not None:
                raise TypeError(f"huey {key} is not used by Firebreak")
        fields["args"] = list(fields["args"])
        return json.dumps({"v": MESSAGE_FORMAT, "message": fields}).encode()

    def _deserialize(self, data: bytes) -> Any:
        doc = json.loads(data)
        if doc.get("v") != MESSAGE_FORMAT:
            raise ValueError(f"unknown job message format {doc.get('v')!r}")
        if "value" in doc:
            return doc["value"]
        fields = doc["message"]
        for key in ("eta", "expires_resolved"):
            if fields.get(key):
                fields[key] = datetime.fromisoformat(fields[key])
        fields["args"] = tuple(fields["args"])
        fields.setdefault("retry_backoff", 1)
        return Message(**{k: fields.get(k) for k in Message._fields})


def build_huey(settings: Settings, *, immediate: bool = False) -> Huey:
    url = settings.effective_queue_url
    serializer = JsonSerializer()
    if immediate or url == "memory://":
        return MemoryHuey("firebreak", results=False, serializer=serializer, immediate=immediate)
    if url.startswith("redis://"):
        # Priorities need Redis 5 or later (a sorted set, not a list), under a key of its own: the list an older
        # Firebreak used ("huey.redis.firebreak") may still be written by a process not yet restarted. Its nudges
        # are then not read, and the reconciler runs their rows (the rows are the truth).
        return PriorityRedisHuey(REDIS_QUEUE_NAME, url=url, results=False, serializer=serializer)
    path = Path(url.removeprefix("sqlite:///").removeprefix("sqlite://"))
    path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteHuey("firebreak", filename=str(path), results=False, serializer=serializer)


class JobQueue:
    """Nudges workers to run task rows at once. Huey carries only the task id."""

    def __init__(self, huey: Huey, run_task: Callable[[int], object], *, retry_delay: int = 2) -> None:
        self.huey = huey
        self.run_task = run_task
        self.prompt_lane: stdlib_queue.SimpleQueue[int | None] | None = None  # set while this process's Worker runs

        @huey.task(retries=2, retry_delay=retry_delay, name="firebreak.run_task")  # type: ignore[untyped-decorator]
        def run(task_id: int) -> None:
            run_task(task_id)

        self._task = run

    def nudge(self, task_id: int, priority: int = Priority.NORMAL) -> None:
        """Wake a worker for a task row. A PROMPT task also goes to this process's prompt lane, if it has one;
        whichever claims the row first runs it, and the other finds it taken."""
        lane = self.prompt_lane
        if lane is not None and priority >= Priority.PROMPT:
            lane.put(task_id)
        self._task(task_id, priority=int(priority))

    def pending_count(self) -> int:
        return int(self.huey.pending_count())

    def run_pending(self, limit: int = 10_000) -> int:
        """Run queued messages in this thread until the queue is empty (tools and tests)."""
        done = 0
        while done < limit:
            task = self.huey.dequeue()
            if task is None:
                break
            self.huey.execute(task)
            done += 1
        return done


class Worker:
    """The huey consumer plus a ticker that beats the heart and runs the reconciler. Runs embedded or stand-alone.

    ``runner`` is the job runner whose rows it works (see runner.py); on start the process registers as a worker
    (taking back what a dead predecessor left), on a clean stop it gives its leases back.
    """

    def __init__(self, queue: JobQueue, *, threads: int, runner: Ticking | None, tick_seconds: float = 5.0) -> None:
        self.queue = queue
        # A short idle back-off: huey's default lets an idle worker sleep 10 s before it sees new work.
        self.consumer = queue.huey.create_consumer(workers=threads, worker_type="thread", periodic=False,
                                                   max_delay=0.25)
        # The host process (uvicorn, the CLI) owns signal handling; huey may run off the main thread.
        self.consumer._set_signal_handlers = lambda: None
        self._runner = runner
        self._tick = tick_seconds
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._prompt: list[threading.Thread] = []
        self._lane: stdlib_queue.SimpleQueue[int | None] = stdlib_queue.SimpleQueue()

    def start(self) -> None:
        if self._runner is not None:
            try:
                self._runner.register()
            except Exception:  # the database may be briefly away; the ticker registers on its first beat
                log.exception("could not register this worker; will retry on the next tick")
        self.consumer.start()
        self._prompt = [threading.Thread(target=self._prompt_loop, name=f"firebreak-prompt-lane-{n}", daemon=True)
                        for n in range(PROMPT_LANE_THREADS)]
        for thread in self._prompt:
            thread.start()
        self.queue.prompt_lane = self._lane
        if self._runner is not None:
            self._ticker = threading.Thread(target=self._tick_loop, name="firebreak-reconciler", daemon=True)
            self._ticker.start()

    def _prompt_loop(self) -> None:
        while (task_id := self._lane.get()) is not None:
            if self._stop.is_set():
                continue  # stopping: huey's message for it, or the reconciler, runs it
            try:
                self.queue.run_task(task_id)
            except Exception:  # the row stays due: huey's message or the reconciler runs it
                log.exception("prompt lane: task %s could not be run here", task_id)

    def _tick_loop(self) -> None:
        runner = self._runner
        if runner is None:
            return
        while not self._stop.is_set():
            try:
                runner.tick()
            except Exception:  # a failed pass is retried on the next tick
                log.exception("reconcile pass failed")
            self._stop.wait(self._tick)

    def stop(self) -> None:
        """Finish what is running (the lane and the reconciler take nothing new), then give this worker's leases
        back. If a lane or the reconciler is still in a job 10 s after the consumer stopped, the leases are left to
        expire instead, so that the job is not run twice at once."""
        self._stop.set()
        if self._runner is not None:
            self._runner.halt()
        if self.queue.prompt_lane is self._lane:
            self.queue.prompt_lane = None
        for _ in self._prompt:
            self._lane.put(None)
        self.consumer.stop(graceful=True)
        deadline = time.monotonic() + 10
        threads = [*self._prompt, *([self._ticker] if self._ticker is not None else [])]
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        if any(thread.is_alive() for thread in threads):
            log.warning("a job is still running at stop; this worker's leases are left to expire")
            return
        if self._runner is not None:
            try:
                self._runner.stop()
            except Exception:  # the leases then expire, or the next worker takes them back
                log.exception("could not give this worker's leases back")


class Ticking(Protocol):
    """What a Worker drives (a JobRunner)."""

    def register(self) -> None: ...

    def tick(self) -> object: ...

    def halt(self) -> None: ...

    def stop(self) -> None: ...
