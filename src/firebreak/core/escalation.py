"""What an SLA clock running out (an order's, a victim's report's) uses to reach the people on call: the escalation
webhook, posted by a retrying job, and the time left written as people read it."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx

from firebreak.core.jobs.runner import PermanentJobError


def post_webhook(payload: dict[str, Any]) -> None:
    """POST ``payload["body"]`` as JSON to ``payload["url"]``: a job handler. A refusal (4xx but 429) is final; an
    unreachable hook, a 429 or a 5xx is tried again by the job's retry policy."""
    try:
        response = httpx.post(payload["url"], content=json.dumps(payload["body"]), timeout=10,
                              headers={"Content-Type": "application/json"})
    except httpx.HTTPError as exc:
        raise RuntimeError(f"webhook unreachable: {exc}") from None
    if response.status_code >= 500 or response.status_code == 429:
        raise RuntimeError(f"webhook answered {response.status_code}")
    if response.status_code >= 400:
        raise PermanentJobError(f"webhook refused the escalation: HTTP {response.status_code}")


def time_left(delta: timedelta) -> str:
    """``12h05m``, or ``-0h30m`` once the deadline has passed."""
    seconds = int(delta.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    return f"{sign}{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
