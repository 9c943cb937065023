"""Gateway jobs: fetch media that events gave by URL, then record the event."""

from __future__ import annotations

from typing import Any

from firebreak.core.jobs.runner import JobHandler, PermanentJobError
from firebreak.gateway.flows import FETCH_JOB, REFUSAL_JOB, Gateway
from firebreak.platform.adapters import FetchError
from firebreak.platform.schemas import PlatformEvent


class RetryLater(Exception):
    """The platform could not hand the media over yet; the task row keeps the event and retries."""


def handlers(gateway: Gateway) -> dict[str, JobHandler]:
    def fetch_event_media(payload: dict[str, Any]) -> None:
        event = PlatformEvent.model_validate(payload["event"])
        integration_name = str(payload["integration"])
        try:
            gateway.record_event(integration_name, event, fetch=True)
        except FetchError as exc:
            if exc.retryable:
                raise RetryLater(str(exc)) from None
            # Not retryable (gone, too large): the event is kept in the task row with the reason.
            raise PermanentJobError(f"media could not be fetched: {exc}") from None

    return {FETCH_JOB: fetch_event_media, REFUSAL_JOB: gateway.follow_up_refusal}
