"""The one exception decoding and hashing raise: the media cannot be hashed, and why."""

from __future__ import annotations

import enum


class UnhashableReason(enum.StrEnum):
    EMPTY = "empty"  # no bytes at all
    TOO_LARGE = "too_large"  # more bytes than DecodeLimits.max_bytes
    TOO_MANY_PIXELS = "too_many_pixels"  # declared width x height over DecodeLimits.max_pixels
    UNSUPPORTED_FORMAT = "unsupported_format"  # not a format we decode (judged by content, never by name)
    CORRUPT = "corrupt"  # the right magic number, but the decoder refuses the rest
    TRUNCATED = "truncated"  # the file ends before its own structure says it should
    TOO_MANY_FRAMES = "too_many_frames"  # more decoded frames than DecodeLimits.max_frames
    TIMEOUT = "timeout"  # decoding took longer than DecodeLimits.max_seconds


class UnhashableMedia(Exception):
    """Media that cannot be hashed. `reason` is a stable code for storage and statistics; `message` is for people."""

    def __init__(self, reason: UnhashableReason, message: str) -> None:
        super().__init__(f"{reason.value}: {message}")
        self.reason = reason
        self.message = message

    def __reduce__(self) -> tuple[type[UnhashableMedia], tuple[UnhashableReason, str]]:
        # Keeps the exception intact across process pools and job queues.
        return (type(self), (self.reason, self.message))
