"""The README's first steps and docs/hotline.md, run exactly as written (the shell blocks marked
``<!-- walkthrough -->``), on a fresh data directory against a real `firebreak serve`: the docs and this test cannot
drift apart, since the commands are read from the docs. Only the ports change (the docs say 8000 and 2525)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from firebreak.mail.outbox import read_outbox
from tests.live import free_port

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"<!-- walkthrough -->\n```sh\n(.*?)```", re.S)


def blocks(path: Path) -> list[str]:
    return BLOCK.findall(path.read_text(encoding="utf-8"))


@pytest.mark.slow
def test_the_first_steps_run_as_written(tmp_path: Path) -> None:
    readme, hotline = blocks(ROOT / "README.md"), blocks(ROOT / "docs" / "hotline.md")
    assert len(readme) >= 4 and len(hotline) >= 3
    commands = "\n".join(readme + hotline)
    for promised in ("--password-stdin", "/v1/authorities/1/tokens", "/v1/orders", "smtp://"):
        assert promised in commands  # what the issue asked the first steps to show

    (tmp_path / ".venv").symlink_to(Path(sys.prefix))  # the docs call .venv/bin/firebreak and .venv/bin/python
    port, smtp_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIREBREAK_")}
    env |= {"FIREBREAK_PORT": str(port), "FIREBREAK_SMTP_LISTEN_PORT": str(smtp_port)}
    subprocess.run([".venv/bin/firebreak", "db", "upgrade"], cwd=tmp_path, env=env, check=True, capture_output=True)
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen([".venv/bin/firebreak", "serve"], cwd=tmp_path, env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.3)
        script = "set -euo pipefail\n" + commands.replace("127.0.0.1:8000", f"127.0.0.1:{port}").replace(
            "127.0.0.1:2525", f"127.0.0.1:{smtp_port}")
        done = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=180)
        assert done.returncode == 0, done.stderr + done.stdout
        out = done.stdout
        assert '"name":"Korea Communications Standards Commission"' in out and '"id":1' in out
        assert re.search(r'"tracking_id":"FB-\d{4}-[0-9A-Z]{6}"', out) and '"deadline_at":"' in out  # the ack
        assert '"reported_back_at":null' in out  # the receipt: none sent yet
        assert '"body":"Please confirm once the copies are gone."' in out

        # The e-mailed order's reply waits in the development outbox, in Korean, without a word about the items.
        wait = time.monotonic() + 30
        while not read_outbox(tmp_path / "var" / "outbox") and time.monotonic() < wait:
            time.sleep(0.3)
        (reply,) = read_outbox(tmp_path / "var" / "outbox")
        assert reply.to == "officer@kcsc.example" and reply.subject.startswith("Re: Takedown request KCSC-2026-118")
        assert "추적 번호" in reply.text and "chat.example" not in reply.text
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert page.status_code == 200 and all(f'href="{p}"' in page.text for p in ("/portal", "/console", "/docs"))
        docs = httpx.get(f"http://127.0.0.1:{port}/docs", timeout=5)
        assert "/static/swagger/swagger-ui-bundle.js" in docs.text and "cdn" not in docs.text.lower()
        assert httpx.get(f"http://127.0.0.1:{port}/static/swagger/swagger-ui-bundle.js", timeout=5).status_code == 200
        # Nothing the README names answers 404.
        text = (ROOT / "README.md").read_text()
        named = set(re.findall(r"http://127\.0\.0\.1:8000(/[\w/.-]*)", text))
        pages = set(re.findall(r"^- http://127\.0\.0\.1:8000(/[\w/.-]*)", text, re.M))
        assert {"/", "/docs", "/console", "/portal", "/sandbox/", "/console/outbox"} <= pages
        for path in sorted(named):
            response = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5, follow_redirects=True)
            assert response.status_code != 404, path
            assert path not in pages or response.status_code == 200, (path, response.status_code)
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
