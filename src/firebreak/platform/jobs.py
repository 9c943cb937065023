"""Platform jobs: fetch media that events gave by URL, then record the event."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from firebreak.jobs.queue import PermanentJobError
from firebreak.platform.adapters import FetchError
from firebreak.platform.schemas import PlatformEvent

if TYPE_CHECKING:
    from firebreak.runtime import Runtime

FETCH_JOB = "platform.fetch_event_media"


class RetryLater(Exception):
    """The platform could not hand the media over yet; the task row keeps the event and retries."""


def register(runtime: Runtime) -> None:
    from firebreak.platform.gateway import record_event

    def fetch_event_media(payload: dict[str, Any]) -> None:
        event = PlatformEvent.model_validate(payload["event"])
        integration_name = str(payload["integration"])
        try:
            record_event(runtime, integration_name, event, fetch=True)
        except FetchError as exc:
            if exc.retryable:
                raise RetryLater(str(exc)) from None
            # Not retryable (gone, too large): the event is kept in the task row with the reason.
            raise PermanentJobError(f"media could not be fetched: {exc}") from None

    runtime.registry.register(FETCH_JOB, fetch_event_media)
