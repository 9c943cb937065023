"""Firebreak scaled out on loopback: PostgreSQL, Redis, two `firebreak serve` roles (one of them with two web
processes) and two `firebreak jobs worker` processes, each an operating-system process sharing nothing in memory.

An authority's order goes in through one API role, a re-upload of the item is checked through the other, and a
worker is killed with SIGKILL while the copies are being removed: every copy is removed once, the re-upload is
refused within a second of the item being banked, and the receipt says so. A logout in one process is refused in
the other, a login throttle holds across them, and a revoked platform token is refused by every process within
about a second.
"""

from __future__ import annotations

import base64
import re
import signal
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from PIL import ImageOps
from sqlalchemy import func, select

from firebreak.auth import service as auth_service
from firebreak.auth.models import ApiCredential, CredentialScope, Role
from firebreak.authorities.models import Authority, TrustLevel
from firebreak.banks.models import BankEntry, Provenance
from firebreak.bootstrap.system import System, build_system
from firebreak.core.config import load_settings
from firebreak.core.jobs.models import WorkerProcess
from firebreak.enforcement.models import Action, ActionKind, ActionStatus
from firebreak.platform.models import PlatformIntegration
from firebreak.schema.migrate import upgrade
from firebreak.web.session import LOCK_AFTER_FAILURES
from tests.cluster import ActionPlatform, Cluster
from tests.conftest import DatabaseFactory
from tests.support import jpeg, photo

pytestmark = pytest.mark.slow

LINK_PREFIX = "https://chat.example/c"
EXACT, REENCODED, MIRRORED, UNRELATED = 40, 20, 20, 12
COPIES = EXACT + REENCODED + MIRRORED
PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory, databases: DatabaseFactory,
               redis_url: str) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("cluster")
    platform = ActionPlatform(delay=0.05)
    cluster = Cluster(tmp, databases.new_url("postgresql"), redis_url)
    cluster.flush_queue()
    settings = load_settings(environ=cluster.env("setup"), queue_url="memory://")
    system = build_system(settings)
    upgrade(system.db.engine)
    tokens = _set_up(system, platform)
    try:
        a = cluster.serve("api-a", workers=2)  # two web processes behind one port: uvicorn's workers
        b = cluster.serve("api-b")
        w1, w2 = cluster.worker("worker-1"), cluster.worker("worker-2")
        ready = {role.name: cluster.wait_ready(role) for role in (a, b)}
        _wait_for_workers(system, 2)
        yield {"cluster": cluster, "system": system, "platform": platform, "a": a, "b": b, "workers": (w1, w2),
               "ready": ready, **tokens}
    finally:
        cluster.stop()
        platform.stop()
        system.close()


def _set_up(system: System, platform: ActionPlatform) -> dict[str, str]:
    with system.db.transaction() as session:
        hook = PlatformIntegration(name="hook", adapter="webhook", created_at=system.clock.now(),
                                   config={"action_url": platform.url, "link_prefixes": [LINK_PREFIX]})
        session.add(hook)
        session.flush()
        system.secrets.new_secret(hook)
        platform_token = auth_service.issue_token(session=session, clock=system.clock, actor="test", name="uploads",
                                                  scope=CredentialScope.PLATFORM, integration_id=hook.id)
        authority = Authority(name="KCSC", country="KR", jurisdiction="Republic of Korea", legal_bases=["KCSC Act"],
                              mail_domains=[], mail_addresses=[], default_deadlines={"sexual_deepfake": 86400},
                              trust_level=TrustLevel.TRUSTED, trusted_categories=["sexual_deepfake"], language="en",
                              created_at=system.clock.now())
        session.add(authority)
        session.flush()
        authority_token = auth_service.issue_token(session=session, clock=system.clock, actor="test", name="api",
                                                   scope=CredentialScope.AUTHORITY, authority_id=authority.id)
        auth_service.create_staff_user(session=session, clock=system.clock, actor="test", username="alice",
                                       display_name="Alice", password=PASSWORD, role=Role.ADMIN)
    return {"platform_token": platform_token.token, "platform_credential": str(platform_token.credential.id),
            "authority_token": authority_token.token}


def _wait_for_workers(system: System, count: int) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with system.db.sessions() as session:
            live = session.scalar(select(func.count()).select_from(WorkerProcess)
                                  .where(WorkerProcess.stopped_at.is_(None)))
        if (live or 0) >= count:
            return
        time.sleep(0.2)
    raise AssertionError(f"fewer than {count} workers registered")


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _event(chat: str, message: str, data: bytes, sender: str) -> dict[str, Any]:
    return {"event_id": f"{chat}/{message}", "kind": "media_posted", "message_id": message,
            "chat": {"id": chat, "kind": "group", "is_public": False, "member_count": 20, "title": chat},
            "sender": {"id": sender}, "sent_at": datetime.now(UTC).isoformat(),
            "media": [{"media_id": f"m-{chat}-{message}", "data_base64": base64.b64encode(data).decode()}]}


def _removals(system: System) -> dict[ActionStatus, int]:
    with system.db.sessions() as session:
        rows = session.execute(select(Action.status, func.count()).where(
            Action.kind == ActionKind.REMOVE_MESSAGE).group_by(Action.status)).all()
    return {status: int(count) for status, count in rows}


def _worker_holding_removals(system: System) -> int | None:
    with system.db.sessions() as session:
        return session.scalar(select(WorkerProcess.pid).join(Action, Action.lease_owner == WorkerProcess.id).where(
            Action.kind == ActionKind.REMOVE_MESSAGE, Action.status == ActionStatus.PENDING).limit(1))


class Uploader(threading.Thread):
    """Checks the same re-upload against one API role every 30 ms: (time answered, verdict)."""

    def __init__(self, url: str, token: str, data: bytes) -> None:
        super().__init__(daemon=True)
        self.url, self.token, self.data = url, token, data
        self.answers: list[tuple[datetime, str]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self.halt.is_set():
                try:
                    r = client.post(f"{self.url}/v1/scan", content=self.data, headers={
                        **_bearer(self.token), "Content-Type": "application/octet-stream"})
                except httpx.HTTPError as exc:  # the deployment going away after a failed test: an answer, not a crash
                    self.answers.append((datetime.now(UTC), f"error: {exc}"))
                    break
                self.answers.append((datetime.now(UTC), r.json()["verdict"] if r.status_code == 200 else str(r)))
                self.halt.wait(0.03)


def test_an_order_through_one_process_removes_every_copy_once_while_a_worker_dies(
    deployment: dict[str, Any], request: pytest.FixtureRequest
) -> None:
    system: System = deployment["system"]
    platform: ActionPlatform = deployment["platform"]
    a, b = deployment["a"], deployment["b"]
    # A started from the snapshot its `serve` wrote before starting its two web processes; B built its own.
    assert deployment["ready"]["api-a"]["indexes"]["source"] == "snapshot"

    picture = photo("astronaut")
    files = {"exact": jpeg(picture, 90), "reencoded": jpeg(picture, 50), "mirrored": jpeg(ImageOps.mirror(picture))}
    posted: list[tuple[str, str]] = []
    with httpx.Client(timeout=60) as client:
        plan = [("exact", EXACT), ("reencoded", REENCODED), ("mirrored", MIRRORED)]
        n = 0
        for label, count in plan:
            for _ in range(count):
                chat, message = f"chat-{n % 7}", f"msg-{n}"
                r = client.post(f"{a.url}/v1/events", json=_event(chat, message, files[label], f"user-{n % 13}"),
                                headers=_bearer(deployment["platform_token"]))
                assert r.status_code == 200, r.text
                posted.append((chat, message))
                n += 1
        for i, name in enumerate(("coffee", "chelsea", "rocket", "camera") * 3):
            r = client.post(f"{a.url}/v1/events", json=_event("chat-0", f"other-{i}", jpeg(photo(name), 60 + i),
                                                             "user-x"), headers=_bearer(deployment["platform_token"]))
            assert r.status_code == 200, r.text

    reupload = jpeg(picture, 70)  # a copy nobody posted: found by its PDQ only
    uploader = Uploader(b.url, deployment["platform_token"], reupload)
    uploader.start()
    request.addfinalizer(lambda: (uploader.halt.set(), uploader.join(10)))  # stopped even when the test fails
    time.sleep(0.5)
    assert uploader.answers and all(v == "allow" for _, v in uploader.answers), uploader.answers[:3]

    order = {"category": "sexual_deepfake", "legal_basis": "Act on Promotion of Information and Communications "
             "Network Utilization, Art. 44-7", "authority_reference": "KCSC-2026-0099",
             "items": [{"kind": "message_link", "value": f"{LINK_PREFIX}/{posted[0][0]}/{posted[0][1]}"}]}
    r = httpx.post(f"{a.url}/v1/orders", json=order, headers=_bearer(deployment["authority_token"]), timeout=60)
    assert r.status_code == 201, r.text
    tracking = r.json()["tracking_id"]

    # Kill the worker that holds removals, in the middle of carrying them out. Freeze every worker first, then look:
    # what is read is where they stopped, with no window in which they could run on.
    deadline = time.monotonic() + 120
    victim = None
    while victim is None:
        assert time.monotonic() < deadline, f"removals did not start: {_removals(system)}"
        for role in deployment["workers"]:
            role.signal(signal.SIGSTOP)
        at_kill = _removals(system)
        # Too late only once every copy's removal exists and none is pending: the ordered message's own removal
        # can be done before propagation has made the copies' (seen under load: {done: 1}).
        made = sum(at_kill.values())
        if at_kill.get(ActionStatus.DONE, 0) >= 10 or (made >= COPIES and not at_kill.get(ActionStatus.PENDING, 0)):
            victim = _worker_holding_removals(system) or -1
        if victim is None:
            for role in deployment["workers"]:
                role.signal(signal.SIGCONT)
            time.sleep(0.02)
    killed = next((role for role in deployment["workers"] if role.process.pid == victim), None)
    assert killed is not None, f"too late to kill in the middle: {at_kill}"
    killed.kill()
    for role in deployment["workers"]:
        role.signal(signal.SIGCONT)
    assert at_kill.get(ActionStatus.PENDING, 0) > 0, f"too late to kill in the middle: {at_kill}"

    while _removals(system) != {ActionStatus.DONE: COPIES}:
        assert time.monotonic() < deadline, f"not every copy removed: {_removals(system)}"
        time.sleep(0.2)
    uploader.halt.set()
    uploader.join(10)

    removed = platform.removed()
    assert set(removed) == {f"{chat}:{message}" for chat, message in posted}  # every copy, nothing unrelated
    # A removal the killed worker had asked for but not yet recorded is asked again under the same key: the
    # platform removes nothing twice. At most one chunk of outcomes per worker thread is unrecorded.
    assert sum(n - 1 for n in removed.values()) <= 2 * 20

    with system.db.sessions() as session:
        banked = session.scalar(select(BankEntry.created_at).where(
            BankEntry.provenance == Provenance.ORDER, BankEntry.signal_type == "pdq"))
    assert banked is not None
    refused = [when for when, verdict in uploader.answers if verdict == "block"]
    assert refused, uploader.answers[-3:]
    assert refused[0] - banked <= timedelta(seconds=1), f"refused {refused[0] - banked} after banking"
    assert all(v == "block" for when, v in uploader.answers if when >= refused[0])

    # The order closes in a job of its own once its removals are recorded: a worker picks it up within seconds.
    with httpx.Client(timeout=30) as client:
        while True:
            receipt = client.get(f"{b.url}/v1/orders/{tracking}/receipt",
                                 headers=_bearer(deployment["authority_token"]))
            assert receipt.status_code == 200, receipt.text
            body = receipt.json()
            if body["status"] != "in_progress" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert body["status"] == "completed"
    assert [(i["outcome"], i["copies_removed"]) for i in body["items"]] == [("removed", COPIES - 1)]
    assert body["totals"]["copies_removed"] == COPIES - 1

    print(f"\n{at_kill} when worker pid {victim} was killed; all {COPIES} removed; the re-upload refused "
          f"{(refused[0] - banked).total_seconds():.3f} s after banking; "
          f"{sum(n - 1 for n in removed.values())} removals asked twice")
    metrics = httpx.get(f"{a.url}/metrics", timeout=30).text
    assert 'firebreak_actions{kind="remove_message",status="done"} 80.0' in metrics
    events = re.search(r'firebreak_http_request_duration_seconds_count\{method="POST",route="/v1/events",'
                       r'status="200"\} (\d+)', metrics)
    assert events and int(events[1]) == COPIES + UNRELATED  # both web processes of A, added up


def _login(client: httpx.Client, base: str, password: str = PASSWORD) -> int:
    token = _CSRF.search(client.get(f"{base}/console/login").text)
    assert token
    r = client.post(f"{base}/console/login", data={"username": "alice", "password": password,
                                                   "csrf_token": token[1], "next": ""})
    return r.status_code


def test_a_logout_in_one_process_is_refused_in_the_other(deployment: dict[str, Any]) -> None:
    a, b = deployment["a"], deployment["b"]
    with httpx.Client(timeout=30, follow_redirects=False) as browser:
        assert _login(browser, a.url) == 303
        cookie = browser.cookies["fb_session"]
        assert httpx.get(f"{b.url}/console", cookies={"fb_session": cookie}, timeout=30).status_code == 200
        token = _CSRF.search(browser.get(f"{a.url}/console").text)
        assert token
        assert browser.post(f"{a.url}/logout", data={"csrf_token": token[1]}).status_code == 303
    refused = httpx.get(f"{b.url}/console", cookies={"fb_session": cookie}, timeout=30, follow_redirects=False)
    assert refused.status_code == 303 and "/console/login" in refused.headers["location"]


def test_a_login_throttle_holds_across_processes(deployment: dict[str, Any]) -> None:
    a, b = deployment["a"], deployment["b"]
    with httpx.Client(timeout=30, follow_redirects=False) as browser:
        for i in range(LOCK_AFTER_FAILURES):
            assert _login(browser, (a if i % 2 else b).url, password="wrong") == 200
        assert _login(browser, a.url) == 429  # even the right password, in either process
        assert _login(browser, b.url) == 429


def test_a_revoked_platform_token_is_refused_by_every_process_within_a_second(deployment: dict[str, Any]) -> None:
    system: System = deployment["system"]
    a, b = deployment["a"], deployment["b"]
    request = {"signals": [{"signal_type": "md5", "value": "0" * 32}]}
    with httpx.Client(timeout=30) as client:
        for base in (a.url, b.url, a.url):  # cached in each process now
            assert client.post(f"{base}/v1/scan", json=request,
                               headers=_bearer(deployment["platform_token"])).status_code == 200
        with system.db.transaction() as session:
            credential = session.get(ApiCredential, int(deployment["platform_credential"]))
            assert credential is not None
            auth_service.revoke_token(session=session, clock=system.clock, actor="test", credential=credential)
        revoked = time.monotonic()
        # A has two web processes behind its port: a role refuses once its answers from some moment on are all
        # refusals (four in a row at least, so both of A's processes have been asked).
        answers: dict[str, list[tuple[float, int]]] = {a.url: [], b.url: []}
        while not all(len(seen) >= 4 and {s for _, s in seen[-4:]} == {401} for seen in answers.values()):
            for base, seen in answers.items():
                sent = time.monotonic() - revoked
                status = client.post(f"{base}/v1/scan", json=request,
                                     headers=_bearer(deployment["platform_token"])).status_code
                seen.append((sent, status))
            assert time.monotonic() - revoked < 10, f"still accepted 10 s after the revocation: {answers}"
            time.sleep(0.02)
    for seen in answers.values():
        accepted = [at for at, status in seen if status != 401]
        last_accepted = max(accepted, default=0.0)
        assert last_accepted < 1.2, f"a request sent {last_accepted:.2f} s after the revocation was accepted: {seen}"
