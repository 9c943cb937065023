"""Submitting statements of reasons to the DSA Transparency Database's API, resumable after a crash.

The database takes ``POST {base}/api/v1/statements`` with ``{"statements": [...]}`` (1 to 100) and a bearer token,
all or nothing: 201 stores every statement of the request, 422 stores none and says why (``errors.statement_<i>``
per statement, or ``errors.existing_puids`` when a puid was already used: a puid is taken once per platform, ever).

How a run goes (docs/transparency.md has the whole story):

1. Statements left *in flight* by a run that crashed are sent again first. The crashed run may or may not have
   been answered 201 before it died; if it was, the database now refuses them as duplicates, and a duplicate for a
   statement whose earlier request went unanswered counts as already accepted. So none is lost, none is stored
   twice.
2. Pending statements are validated here first; one that breaks the schema is recorded as invalid, with its field
   and rule, and is never sent.
3. The rest go in batches of at most 100: marked in flight (durably, by the store) before the request, recorded
   one by one after the answer. A 422 that names statements refuses those and sends the others again; a 422 that
   names none is narrowed down by halving the batch, so one bad statement never holds back 99 good ones.
4. 429, 5xx and transport errors are retried with exponential backoff, honouring Retry-After; requests are spaced
   to the configured rate. When retries run out the run stops with :class:`SubmissionInterrupted`, leaving the batch
   in flight for the next run.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any, Protocol

import httpx

from firebreak.core.clock import Clock, SystemClock
from firebreak.core.retry import RetryPolicy
from firebreak.transparency.dsa import validate_statement

log = logging.getLogger(__name__)

STATEMENTS_PATH = "/api/v1/statements"
MAX_BATCH = 100  # the database's limit per request


class Outcome(StrEnum):
    ACCEPTED = "accepted"  # 201
    ALREADY_ACCEPTED = "already_accepted"  # 422 duplicate puid after a request of ours went unanswered
    REFUSED = "refused"  # 422 from the database, with its reason
    INVALID = "invalid"  # refused here by the validator; never sent


@dataclass(frozen=True)
class QueuedStatement:
    puid: str
    payload: Mapping[str, Any]
    batch_id: str | None = None  # set while in flight


class SubmissionStore(Protocol):
    """Where statements wait and their outcomes are kept. Each call must be durable when it returns (the lead's
    table commits): that is what makes a crash between two calls recoverable."""

    def pending(self, limit: int) -> Sequence[QueuedStatement]:
        """Up to ``limit`` statements with no outcome that are not in flight, oldest first."""
        ...

    def mark_in_flight(self, puids: Sequence[str], batch_id: str) -> None: ...

    def record(self, puid: str, outcome: Outcome, reason: str) -> None:
        """The final outcome; the statement is no longer in flight."""
        ...

    def in_flight(self) -> Sequence[QueuedStatement]:
        """Statements marked in flight with no outcome yet: what a crashed run left behind."""
        ...


@dataclass(kw_only=True)
class _Row:
    payload: Mapping[str, Any]
    batch_id: str | None = None
    outcome: Outcome | None = None
    reason: str = ""


class MemorySubmissionStore:
    """The store in memory, for tests and one-off runs. Recording a second outcome for a statement is an error, so
    a test notices a statement handled twice."""

    def __init__(self, payloads: Sequence[Mapping[str, Any]] = ()) -> None:
        self._rows: dict[str, _Row] = {}
        for payload in payloads:
            self.add(payload)

    def add(self, payload: Mapping[str, Any]) -> None:
        puid = str(payload.get("puid", ""))
        if puid in self._rows:
            raise ValueError(f"puid {puid!r} is already queued; a puid is never reused")
        self._rows[puid] = _Row(payload=dict(payload))

    def pending(self, limit: int) -> list[QueuedStatement]:
        rows = [(p, r) for p, r in self._rows.items() if r.outcome is None and r.batch_id is None]
        return [QueuedStatement(p, r.payload) for p, r in rows[:limit]]

    def mark_in_flight(self, puids: Sequence[str], batch_id: str) -> None:
        for puid in puids:
            row = self._rows[puid]
            if row.outcome is not None:
                raise ValueError(f"{puid!r} already has an outcome ({row.outcome})")
            row.batch_id = batch_id

    def record(self, puid: str, outcome: Outcome, reason: str) -> None:
        row = self._rows[puid]
        if row.outcome is not None:
            raise ValueError(f"{puid!r} already has an outcome ({row.outcome}); recorded twice")
        row.outcome, row.reason, row.batch_id = outcome, reason, None

    def in_flight(self) -> list[QueuedStatement]:
        return [QueuedStatement(p, r.payload, r.batch_id) for p, r in self._rows.items()
                if r.outcome is None and r.batch_id is not None]

    def outcome(self, puid: str) -> tuple[Outcome | None, str]:
        row = self._rows[puid]
        return row.outcome, row.reason

    def outcomes(self) -> dict[str, Outcome | None]:
        return {p: r.outcome for p, r in self._rows.items()}


@dataclass(frozen=True, kw_only=True)
class TransparencyDatabaseConfig:
    """Built by the composition root from Settings (the lead adds ``FIREBREAK_DSA_TDB_*``)."""

    base_url: str  # e.g. the sandbox first, then production
    token: str = field(repr=False)
    requests_per_second: float = 1.0
    batch_size: int = MAX_BATCH
    # Tries of one request within a run: the one retry policy (core.retry), with the Transparency Database's own
    # figures: 1, 2, 4 ... s up to a minute, six tries; what is still failing waits for the next run.
    retry: RetryPolicy = RetryPolicy(base_seconds=1.0, cap_seconds=60.0, max_attempts=6)
    max_retry_after: float = 600.0  # a longer Retry-After stops the run instead of sleeping through it
    timeout: float = 30.0

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError("transparency database base_url: an http(s) URL")
        if not self.token.strip():
            raise ValueError("transparency database token: empty")
        if not 1 <= self.batch_size <= MAX_BATCH:
            raise ValueError(f"transparency database batch_size: 1 to {MAX_BATCH}")
        if self.requests_per_second <= 0:
            raise ValueError("transparency database requests_per_second > 0")


@dataclass
class SubmissionReport:
    accepted: int = 0
    already_accepted: int = 0
    refused: int = 0
    invalid: int = 0
    recovered: int = 0  # in-flight statements of a crashed run, sent again
    requests: int = 0

    def count(self, outcome: Outcome) -> None:
        name = outcome.value
        setattr(self, name, getattr(self, name) + 1)


class SubmissionInterrupted(Exception):
    """The run stopped (retries spent, token refused, an answer it cannot use). Statements of the current batch stay
    in flight; the next run sends them again. ``report`` says what this run did get done."""

    def __init__(self, message: str, report: SubmissionReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class _Refusal:
    duplicates: frozenset[str]
    per_statement: Mapping[int, str]  # index in the request -> reason
    message: str


def _parse_refusal(body: Any) -> _Refusal:
    if not isinstance(body, dict):
        return _Refusal(frozenset(), {}, str(body)[:500])
    raw_errors = body.get("errors")
    errors: dict[str, Any] = raw_errors if isinstance(raw_errors, dict) else {}
    existing = errors.get("existing_puids") or []
    duplicates = frozenset(str(p) for p in existing) if isinstance(existing, list) else frozenset()
    per_statement: dict[int, list[str]] = {}
    for key, value in errors.items():
        # Keys are "statement_<i>": {field: [messages]}, or Laravel's flat "statements.<i>.<field>": [messages].
        index_text, _, field_name = str(key).removeprefix("statement_").removeprefix("statements.").partition(".")
        if not index_text.isdigit():
            continue
        messages = value.items() if isinstance(value, dict) else [(field_name, value)]
        for name, texts in messages:
            texts = texts if isinstance(texts, list) else [texts]
            per_statement.setdefault(int(index_text), []).append(f"{name}: {' '.join(map(str, texts))}")
    message = str(body.get("message") or json.dumps(errors)[:500])
    return _Refusal(duplicates, {i: "; ".join(r)[:2000] for i, r in per_statement.items()}, message)


class TransparencyDatabaseClient:
    """Sends what a :class:`SubmissionStore` holds. ``sleep`` and ``monotonic`` are injected so tests run backoff
    and rate limits in fake time; ``clock`` reads Retry-After dates."""

    def __init__(self, config: TransparencyDatabaseConfig, *, transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep, monotonic: Callable[[], float] = time.monotonic,
                 clock: Clock | None = None) -> None:
        self.config = config
        self._sleep = sleep
        self._monotonic = monotonic
        self._clock = clock or SystemClock()
        self._http = httpx.Client(
            base_url=config.base_url.rstrip("/"), timeout=config.timeout, transport=transport,
            headers={"Authorization": f"Bearer {config.token}", "Accept": "application/json",
                     "Content-Type": "application/json"})
        self._last_request: float | None = None
        # Statements a request of ours may have delivered without our seeing the 201: for these, and only these,
        # a "puid already used" answer means "accepted earlier", not a clash.
        self._maybe_delivered: set[str] = set()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> TransparencyDatabaseClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def submit(self, store: SubmissionStore, *, max_batches: int | None = None) -> SubmissionReport:
        """Send what a crashed run left in flight, then pending statements batch by batch, until none are left (or
        ``max_batches`` new batches were sent). Every statement taken ends with exactly one recorded outcome."""
        report = SubmissionReport()
        try:
            batches: dict[str, list[QueuedStatement]] = {}
            for item in store.in_flight():
                batches.setdefault(item.batch_id or "", []).append(item)
            for batch_id, items in batches.items():
                report.recovered += len(items)
                self._maybe_delivered.update(i.puid for i in items)
                log.info("resending %d statements left in flight by batch %s", len(items), batch_id)
                self._send(store, self._checked(store, items, report), report)
            sent = 0
            while max_batches is None or sent < max_batches:
                items = list(store.pending(self.config.batch_size))
                if not items:
                    break
                valid = self._checked(store, items, report)
                if not valid:
                    continue
                store.mark_in_flight([i.puid for i in valid], uuid.uuid4().hex)
                self._send(store, valid, report)
                sent += 1
        except SubmissionInterrupted as exc:
            exc.report = report
            raise
        return report

    def _checked(self, store: SubmissionStore, items: Sequence[QueuedStatement],
                 report: SubmissionReport) -> list[QueuedStatement]:
        """The statements that pass the validator; the others are recorded invalid, never sent."""
        valid = []
        for item in items:
            problems = [str(e) for e in validate_statement(item.payload)]
            if item.payload.get("puid") != item.puid:
                problems.append(f"puid: the statement's {item.payload.get('puid')!r} is not the queued {item.puid!r}")
            if problems:
                reason = "; ".join(problems)
                store.record(item.puid, Outcome.INVALID, reason[:2000])
                report.count(Outcome.INVALID)
            else:
                valid.append(item)
        return valid

    def _send(self, store: SubmissionStore, items: list[QueuedStatement], report: SubmissionReport) -> None:
        parts: deque[list[QueuedStatement]] = deque([items] if items else [])
        while parts:
            part = parts.popleft()
            status, body = self._post(part, report)
            if status == 201:
                created = body.get("statements") if isinstance(body, dict) else None
                uuids = {str(s.get("puid")): str(s.get("uuid", "")) for s in created or [] if isinstance(s, dict)}
                for item in part:
                    self._record(store, report, item.puid, Outcome.ACCEPTED,
                                 f"HTTP 201 uuid={uuids.get(item.puid) or '?'}")
                continue
            refusal = _parse_refusal(body)
            done: set[str] = set()
            for item in part:
                if item.puid in refusal.duplicates:
                    if item.puid in self._maybe_delivered:
                        self._record(store, report, item.puid, Outcome.ALREADY_ACCEPTED,
                                     "HTTP 422 puid already stored: accepted by an earlier, unanswered request")
                    else:
                        self._record(store, report, item.puid, Outcome.REFUSED,
                                     "HTTP 422 puid already used on this platform by another statement")
                    done.add(item.puid)
            for index, reason in refusal.per_statement.items():
                if 0 <= index < len(part) and part[index].puid not in done:
                    self._record(store, report, part[index].puid, Outcome.REFUSED, f"HTTP 422 {reason}")
                    done.add(part[index].puid)
            rest = [i for i in part if i.puid not in done]
            if not rest:
                continue
            if done:  # the database named the culprits and stored nothing: the others go again
                parts.appendleft(rest)
            elif len(rest) > 1:  # it named none: halve until the culprit stands alone
                half = len(rest) // 2
                parts.appendleft(rest[half:])
                parts.appendleft(rest[:half])
            else:
                self._record(store, report, rest[0].puid, Outcome.REFUSED, f"HTTP 422 {refusal.message}"[:2000])

    @staticmethod
    def _record(store: SubmissionStore, report: SubmissionReport, puid: str, outcome: Outcome, reason: str) -> None:
        store.record(puid, outcome, reason)
        report.count(outcome)

    def _throttle(self) -> None:
        if self._last_request is not None:
            wait = self._last_request + 1.0 / self.config.requests_per_second - self._monotonic()
            if wait > 0:
                self._sleep(wait)
        self._last_request = self._monotonic()

    def _retry_after(self, response: httpx.Response) -> float | None:
        value = response.headers.get("Retry-After", "").strip()
        if not value:
            return None
        if value.isdigit():
            return float(value)
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, (when - self._clock.now()).total_seconds()) if when.tzinfo else None

    def _post(self, part: Sequence[QueuedStatement], report: SubmissionReport) -> tuple[int, Any]:
        """201 or 422 with the parsed body; retries everything else that may pass on a later try."""
        body = json.dumps({"statements": [dict(i.payload) for i in part]}, ensure_ascii=False).encode()
        puids = [i.puid for i in part]
        cfg = self.config
        for attempt in range(1, cfg.retry.max_attempts + 1):
            self._throttle()
            report.requests += 1
            backoff = cfg.retry.delay(attempt).total_seconds()
            try:
                response = self._http.post(STATEMENTS_PATH, content=body)
            except httpx.TransportError as exc:
                # The request may have reached the database and been stored before the connection broke.
                self._maybe_delivered.update(puids)
                problem, wait = f"no answer ({type(exc).__name__})", backoff
            else:
                code = response.status_code
                if code in (201, 422):
                    try:
                        return code, response.json()
                    except ValueError:
                        return code, {"message": response.text[:500]}
                if code in (401, 403):
                    raise SubmissionInterrupted(
                        f"HTTP {code}: the database refused the token; check the configured token", SubmissionReport())
                if code != 429 and code < 500:
                    raise SubmissionInterrupted(f"HTTP {code}: {response.text[:300]}", SubmissionReport())
                if code >= 500:  # a proxy may time out after the database stored the batch
                    self._maybe_delivered.update(puids)
                problem = f"HTTP {code}"
                retry_after = self._retry_after(response)
                wait = retry_after if retry_after is not None else backoff
            if cfg.retry.gives_up(attempt):
                raise SubmissionInterrupted(f"gave up after {attempt} attempts: {problem}", SubmissionReport())
            if wait > cfg.max_retry_after:
                raise SubmissionInterrupted(f"{problem}: the database asks to wait {wait:.0f} s", SubmissionReport())
            log.warning("transparency database: %s; retrying in %.1f s", problem, wait)
            self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover
