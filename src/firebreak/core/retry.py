"""One retry policy for everything that is tried again later: jobs, platform actions, outgoing mail.

Exponential backoff from ``base`` doubling up to ``cap``, at most ``max_attempts`` attempts in all. With the
defaults: 2, 4, 8, ... seconds, then every hour, ten attempts (about 3 hours in all before giving up).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float = 2.0
    cap_seconds: float = 3600.0
    max_attempts: int = 10

    def __post_init__(self) -> None:
        if self.base_seconds <= 0 or self.cap_seconds < self.base_seconds or self.max_attempts < 1:
            raise ValueError("RetryPolicy needs base > 0, cap >= base and at least one attempt")

    def delay(self, attempts: int) -> timedelta:
        """How long to wait after the ``attempts``-th failed attempt (1 = the first)."""
        exponent = min(max(attempts - 1, 0), 40)
        return timedelta(seconds=min(self.cap_seconds, self.base_seconds * 2**exponent))

    def gives_up(self, attempts: int) -> bool:
        """True when ``attempts`` attempts were made and none may follow."""
        return attempts >= self.max_attempts


DEFAULT_RETRY = RetryPolicy()
