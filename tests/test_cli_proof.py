"""`firebreak evidence ...`, `firebreak report` and `firebreak statements ...` as an operator runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from firebreak.bootstrap.system import System
from tests.conftest import DatabaseFactory
from tests.evidence.conftest import platform  # noqa: F401 (a fixture the package fixture needs)
from tests.evidence.test_packages import packaged  # noqa: F401 (the fixture)

FIREBREAK = [sys.executable, "-m", "firebreak"]


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FIREBREAK, *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def env(tmp_path: Path, databases: DatabaseFactory) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("FIREBREAK_")}
    base["FIREBREAK_DATA_DIR"] = str(tmp_path / "var")
    base["FIREBREAK_DATABASE_URL"] = databases.new_url("sqlite")
    base["COLUMNS"] = "200"
    return base


def test_verify_names_what_was_changed_and_needs_no_database(packaged: tuple[Path, str],  # noqa: F811
                                                              system: System, tmp_path: Path) -> None:
    path, tracking = packaged
    offline = {k: v for k, v in os.environ.items() if not k.startswith("FIREBREAK_")}
    offline["FIREBREAK_DATABASE_URL"] = "postgresql+psycopg://nobody@127.0.0.1:1/none"  # never reached
    key = tmp_path / "published.pem"
    key.write_bytes(system.evidence.public_key_pem())
    ok = run(["evidence", "verify", str(path), "--public-key", str(key)], offline)
    assert ok.returncode == 0, ok.stderr
    assert "intact and signed" in ok.stdout and tracking in ok.stdout

    with zipfile.ZipFile(path) as archive:
        files = {n: archive.read(n) for n in archive.namelist()}
    target = next(n for n in files if n.startswith("context/"))
    files[target] = files[target].replace(b'"format"', b'"f0rmat"', 1)
    files.pop(next(n for n in files if n.startswith("media/")))
    files["notes.txt"] = b"added later"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    bad = run(["evidence", "verify", str(path)], offline)
    assert bad.returncode == 1
    assert f"ALTERED   {target}" in bad.stderr and "MISSING   media/" in bad.stderr
    assert "ADDED     notes.txt" in bad.stderr and "do not rely on this package" in bad.stderr
    assert "Traceback" not in bad.stderr
    missing = run(["evidence", "verify", str(tmp_path / "nothing.zip")], offline)
    assert missing.returncode == 1 and "no such file" in missing.stderr


def test_report_commands_on_an_empty_database(env: dict[str, str], tmp_path: Path) -> None:
    assert run(["db", "upgrade"], env).returncode == 0
    r = run(["report", "--from", "2026-01-01", "--to", "2026-03-31", "--format", "json"], env)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["orders"]["received"] == 0 and data["last_day"] == "2026-03-31"
    out = tmp_path / "eu"
    r = run(["report", "--from", "2026-01-01", "--to", "2026-12-31", "--template", "eu", "--out", str(out)], env)
    assert r.returncode == 0, r.stderr
    assert (out / "1_2_1_orders_to_act_by_member_state.csv").is_file() and (out / "operator_fields.csv").is_file()
    xlsx = tmp_path / "q1.xlsx"
    assert run(["report", "--from", "2026-01-01", "--to", "2026-03-31", "--format", "xlsx", "--out", str(xlsx)],
               env).returncode == 0
    assert xlsx.read_bytes()[:2] == b"PK"
    kr = run(["report", "--from", "2025-01-01", "--to", "2025-12-31", "--template", "kr", "--format", "csv"], env)
    assert kr.returncode == 0 and "삭제" in kr.stdout

    for args, words in ((["--format", "xlsx"], "give a file with --out"), (["--format", "pdf"], "--format: one of"),
                        (["--template", "eu"], "give a folder with --out")):
        r = run(["report", "--from", "2026-01-01", "--to", "2026-03-31", *args], env)
        assert r.returncode == 2 and words in r.stderr, (args, r.stderr)
    r = run(["report", "--from", "2026-03-31", "--to", "2026-01-01"], env)
    assert r.returncode == 2 and "--to is before --from" in r.stderr
    r = run(["evidence", "purges"], env)
    assert r.returncode == 0 and "0 purges" in r.stdout
    r = run(["evidence", "package", "--order", "FB-NONE", "--out", str(tmp_path / "p.zip"), "--reason", "test"], env)
    assert r.returncode == 1 and "no order 'FB-NONE'" in r.stderr and not (tmp_path / "p.zip").exists()
    r = run(["statements", "submit"], env)
    assert r.returncode == 2 and "FIREBREAK_DSA_TDB_URL" in r.stderr

