"""The `firebreak` command as an operator runs it: real processes, real databases."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import DatabaseFactory

FIREBREAK = [sys.executable, "-m", "firebreak"]


def run(args: list[str], env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FIREBREAK, *args], env=env, input=stdin, capture_output=True, text=True, timeout=120)


@pytest.fixture
def env(tmp_path: Path, backend: str, databases: DatabaseFactory) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("FIREBREAK_")}
    base["FIREBREAK_DATA_DIR"] = str(tmp_path / "var")
    base["FIREBREAK_DATABASE_URL"] = databases.new_url(backend)
    base["COLUMNS"] = "200"
    return base


def test_upgrade_create_admin_verify(env: dict[str, str]) -> None:
    r = run(["db", "upgrade"], env)
    assert r.returncode == 0, r.stderr
    assert "upgraded from empty" in r.stdout
    assert "at the current schema" in run(["db", "upgrade"], env).stdout
    r = run(["users", "create", "root", "--role", "admin", "--password-stdin"], env, stdin="a very long secret\n")
    assert r.returncode == 0, r.stderr
    r = run(["audit", "verify"], env)
    assert r.returncode == 0 and "intact: 1 events" in r.stdout


def test_tampering_shows_in_cli(env: dict[str, str]) -> None:
    assert run(["db", "upgrade"], env).returncode == 0
    for name in ("a", "b", "c"):
        run(["users", "create", name, "--role", "moderator", "--password-stdin"], env, stdin="a very long secret\n")
    engine = create_engine(env["FIREBREAK_DATABASE_URL"])
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET data = '{}' WHERE seq = 2"))
    engine.dispose()
    r = run(["audit", "verify"], env)
    assert r.returncode == 1
    assert "event #2" in r.stderr and "altered" in r.stderr and "Traceback" not in r.stderr


def test_bad_setting_one_line_exit_2(env: dict[str, str]) -> None:
    r = run(["db", "upgrade"], {**env, "FIREBREAK_WORKER_THREADS": "lots"})
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "FIREBREAK_WORKER_THREADS" in r.stderr


def test_unreachable_database_one_line(env: dict[str, str]) -> None:
    r = run(["db", "upgrade"], {**env, "FIREBREAK_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:9/none"})
    assert r.returncode == 1
    assert "connection" in r.stderr.lower() and "Traceback" not in r.stderr
    assert r.stderr.strip().count("\n") == 0


def test_newer_schema_refused(env: dict[str, str]) -> None:
    assert run(["db", "upgrade"], env).returncode == 0
    engine = create_engine(env["FIREBREAK_DATABASE_URL"])
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    engine.dispose()
    for args in (["db", "upgrade"], ["audit", "verify"]):
        r = run(args, env)
        assert r.returncode == 1, args
        assert "newer Firebreak" in r.stderr and "Traceback" not in r.stderr


def test_old_schema_refused_until_upgrade(env: dict[str, str]) -> None:
    r = run(["audit", "verify"], env)
    assert r.returncode == 1 and "firebreak db upgrade" in r.stderr


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([*FIREBREAK, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _audit_count(url: str, tag: str) -> int:
    engine = create_engine(url)
    with engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM audit_events WHERE action = 'jobs.ping' AND object_id = :t"),
                         {"t": tag}).scalar_one()
    engine.dispose()
    return int(n)


def _wait_for(predicate: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.2)
    return False


def _task_status(url: str) -> str | None:
    engine = create_engine(url)
    with engine.connect() as conn:
        status = conn.execute(text("SELECT status FROM scheduled_tasks WHERE job = 'audit.ping'")).scalar()
    engine.dispose()
    return None if status is None else str(status)


def test_job_enqueued_before_crash_runs_after_restart(env: dict[str, str]) -> None:
    """kill -9 a worker holding a job: its restarted successor on this host takes the job back at once, well before
    the lease (the default 300 s) runs out, and the job runs once."""
    assert run(["db", "upgrade"], env).returncode == 0
    url = env["FIREBREAK_DATABASE_URL"]
    worker = start(["jobs", "worker"], env)
    try:
        assert run(["jobs", "ping", "--tag", "after-crash", "--hold-seconds", "30"], env).returncode == 0
        assert _wait_for(lambda: _task_status(url) == "running", 60)  # the worker holds the job...
    finally:
        worker.send_signal(signal.SIGKILL)  # ...and dies with it
        worker.wait()
    assert _audit_count(url, "after-crash") == 0
    restarted_at = time.monotonic()
    worker = start(["jobs", "worker"], {**env, "FIREBREAK_WORKER_THREADS": "1"})
    try:
        assert _wait_for(lambda: _audit_count(url, "after-crash") == 1, 120)
        took = time.monotonic() - restarted_at
        assert took < 30 + 30, f"the job ran {took:.0f} s after the restart: not taken back at once"
        time.sleep(2)
        assert _audit_count(url, "after-crash") == 1  # once
    finally:
        worker.terminate()
        worker.wait(timeout=30)


def test_worker_killed_mid_job_job_is_rerun(env: dict[str, str]) -> None:
    env = {**env, "FIREBREAK_JOB_LEASE_SECONDS": "3"}
    assert run(["db", "upgrade"], env).returncode == 0
    url = env["FIREBREAK_DATABASE_URL"]
    first = start(["jobs", "worker"], env)
    assert run(["jobs", "ping", "--tag", "mid-job", "--hold-seconds", "4"], env).returncode == 0

    assert _wait_for(lambda: _task_status(url) == "running", 60)
    first.send_signal(signal.SIGKILL)  # dies holding the job
    first.wait()
    assert _audit_count(url, "mid-job") == 0
    second = start(["jobs", "worker"], env)
    try:
        assert _wait_for(lambda: _audit_count(url, "mid-job") == 1, 60)
    finally:
        second.terminate()
        second.wait(timeout=30)


def test_platform_integration_token(env: dict[str, str]) -> None:
    assert run(["db", "upgrade"], env).returncode == 0
    r = run(["integrations", "add", "shop", "--adapter", "webhook", "--set", "action_url=http://127.0.0.1:9/a"], env)
    assert r.returncode == 0 and "shown once" in r.stdout
    token = run(["integrations", "token", "shop"], env).stdout.strip()
    assert token.startswith("fbk_")
    assert "no integration" in run(["integrations", "token", "nope"], env).stderr


def test_rehash_runs_with_progress_and_resumes(env: dict[str, str]) -> None:
    assert run(["db", "upgrade"], env).returncode == 0
    r = run(["banks", "rehash"], env)
    assert r.returncode == 0, r.stderr
    assert "done: 0 media items changed" in r.stdout
    again = run(["banks", "rehash", "--background"], env)
    assert again.returncode == 0 and "queued" in again.stdout


def test_index_snapshot_and_status(env: dict[str, str]) -> None:
    assert run(["db", "upgrade"], env).returncode == 0
    assert run(["banks", "create", "known", "--action", "block"], env).returncode == 0
    listing = Path(env["FIREBREAK_DATA_DIR"]) / "list.csv"
    listing.write_text("signal_type,value\npdq," + "f" * 32 + "0" * 32 + "\n")
    assert run(["banks", "import", "known", str(listing)], env).returncode == 0
    before = run(["index", "status"], env)
    assert before.returncode == 0 and "bank.fbh: none yet" in before.stdout
    written = run(["index", "snapshot"], env)
    assert written.returncode == 0, written.stderr
    assert "index snapshot written" in written.stdout and "1 bank entries" in written.stdout
    after = run(["index", "status"], env)
    assert "bank.fbh: 1 entries, 16 substrings of 16 bits" in after.stdout and "0 changes behind" in after.stdout
    again = run(["index", "snapshot"], env)
    assert "is usable" in again.stdout  # a process starting now maps it and catches up from the log


def test_serve_with_many_processes_runs_the_worker_as_its_own_role(env: dict[str, str]) -> None:
    r = run(["serve", "--workers", "2", "--worker"], env)
    assert r.returncode == 2 and "firebreak jobs worker" in r.stderr
