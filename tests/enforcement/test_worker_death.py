"""kill -9 a worker in the middle of carrying out hundreds of removals on a slow platform: its restarted
successor takes the held actions back at once (far under the 300 s lease), and every copy goes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select

from firebreak.banks import service as banks
from firebreak.banks.models import MatchAction, Provenance
from firebreak.banks.schemas import BankCreate
from firebreak.bootstrap.system import build_system
from firebreak.core.config import load_settings
from firebreak.enforcement.flows import RECORD_EVERY
from firebreak.enforcement.models import Action, ActionKind, ActionStatus
from firebreak.platform.models import PlatformIntegration
from firebreak.schema.migrate import upgrade
from firebreak.signals.hashing import hash_bytes
from tests.conftest import DatabaseFactory
from tests.support import jpeg, media_event, photo

COPIES = 300


class SlowPlatform:
    """Takes 20 ms per call and remembers which removals it carried out (by Idempotency-Key)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.lock = threading.Lock()
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                time.sleep(0.02)
                with platform.lock:
                    platform.calls[self.headers.get("Idempotency-Key", "")] += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/actions"


def test_a_killed_worker_s_actions_are_taken_back_at_once(tmp_path: Path, backend: str,
                                                         databases: DatabaseFactory) -> None:
    platform = SlowPlatform()
    try:
        _run(platform, tmp_path, backend, databases)
    finally:
        platform.stop()


def _run(platform: SlowPlatform, tmp_path: Path, backend: str, databases: DatabaseFactory) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIREBREAK_")}
    env.update(FIREBREAK_DATA_DIR=str(tmp_path / "var"), FIREBREAK_DATABASE_URL=databases.new_url(backend),
               FIREBREAK_RECONCILE_INTERVAL_SECONDS="0.5", FIREBREAK_WORKER_THREADS="2", FIREBREAK_SANDBOX_ENABLED="0")
    settings = load_settings(environ=env, queue_url="memory://")
    assert settings.job_lease_seconds == 300  # the default lease: waiting it out would take five minutes
    system = build_system(settings)
    upgrade(system.db.engine)
    with system.db.transaction() as session:
        hook = PlatformIntegration(name="hook", adapter="webhook", created_at=system.clock.now(),
                                   config={"action_url": platform.url})
        session.add(hook)
        session.flush()
        system.secrets.new_secret(hook)
    picture = jpeg(photo("coffee"))
    for i in range(COPIES):
        system.gateway.record_event("hook", media_event(f"chat{i % 10}", f"m{i}", picture, when=system.clock.now()))
    with system.db.transaction() as session:
        bank = banks.create_bank(session=session, clock=system.clock, actor="test",
                                 data=BankCreate(name="ordered", action=MatchAction.BLOCK))
        banks.add_entries(session=session, clock=system.clock, actor="test", bank=bank,
                          entries=[e for e in banks.entries_for_hashes(hash_bytes(picture)) if e.signal_type == "pdq"],
                          provenance=Provenance.ORDER)

    # A plain reader: a frozen worker may hold SQLite's write lock, and WAL lets readers through.
    reader = create_engine(env["FIREBREAK_DATABASE_URL"])

    def removals() -> dict[ActionStatus, int]:
        with reader.connect() as conn:
            rows = conn.execute(select(Action.status, func.count()).where(
                Action.kind == ActionKind.REMOVE_MESSAGE).group_by(Action.status)).all()
        return {ActionStatus(status): int(count) for status, count in rows}

    worker = subprocess.Popen([sys.executable, "-m", "firebreak", "jobs", "worker"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # Freeze, then look: what is read is where the worker stopped, with no window in which it could run on.
        deadline = time.monotonic() + 120
        while True:
            assert time.monotonic() < deadline and worker.poll() is None, "the worker did not start removing"
            worker.send_signal(signal.SIGSTOP)
            at_kill = removals()
            if at_kill.get(ActionStatus.DONE, 0) >= 40 or (at_kill and not at_kill.get(ActionStatus.PENDING, 0)):
                break
            worker.send_signal(signal.SIGCONT)
            time.sleep(0.05)
    finally:
        worker.send_signal(signal.SIGKILL)  # dies holding a batch of claimed actions
        worker.wait()
    assert at_kill.get(ActionStatus.PENDING, 0) > 0, at_kill

    restarted = time.monotonic()
    worker = subprocess.Popen([sys.executable, "-m", "firebreak", "jobs", "worker"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while removals() != {ActionStatus.DONE: COPIES}:
            assert time.monotonic() < deadline, f"not all removals done after the restart: {removals()}"
            time.sleep(0.2)
        took = time.monotonic() - restarted
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    reader.dispose()
    assert took < 60, f"{took:.0f} s after the restart: the dead worker's actions waited for their lease"
    removes = {key: n for key, n in platform.calls.items() if key.startswith("remove_message:")}
    assert len(removes) == COPIES  # every copy removed on the platform
    repeated = sum(n - 1 for n in removes.values())
    # Outcomes not yet recorded when the worker died are asked again (the platform answers "done" again):
    # at most one chunk per worker thread.
    assert repeated <= RECORD_EVERY * 2, repeated
    print(f"\n{backend}: {at_kill} at the kill; all {COPIES} done {took:.1f} s after the restart; "
          f"{repeated} removals asked twice")
    system.close()
