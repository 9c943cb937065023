"""A signature checked while the body arrives in pieces agrees with one checked over the whole body."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firebreak.platform import signing

SECRET = b"s" * 32
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=4096), cuts=st.lists(st.integers(min_value=0, max_value=4096), max_size=8),
       tamper=st.booleans())
def test_pieces_and_whole_agree(body: bytes, cuts: list[int], tamper: bool) -> None:
    header = signing.sign(SECRET, body, NOW)
    received = body + b"!" if tamper else body
    bounds = sorted({0, len(received), *(c for c in cuts if c <= len(received))})
    pending = signing.begin_verify(SECRET, header, NOW)
    for start, end in zip(bounds, bounds[1:], strict=False):
        pending.update(received[start:end])
    if tamper:
        with pytest.raises(signing.SignatureError) as refused:
            pending.finish()
        assert refused.value.reason == signing.Reason.MISMATCH
        with pytest.raises(signing.SignatureError):
            signing.verify(SECRET, received, header, NOW)
    else:
        assert pending.finish() == signing.verify(SECRET, received, header, NOW)


def test_form_and_time_are_checked_before_any_body() -> None:
    with pytest.raises(signing.SignatureError) as missing:
        signing.begin_verify(SECRET, None, NOW)
    assert missing.value.reason == signing.Reason.MISSING
    old = signing.sign(SECRET, b"", datetime(2020, 1, 1, tzinfo=UTC))
    with pytest.raises(signing.SignatureError) as expired:
        signing.begin_verify(SECRET, old, NOW)
    assert expired.value.reason == signing.Reason.EXPIRED
