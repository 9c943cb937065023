"""Decoding must not depend on Pillow's process-wide switches, which other libraries flip (Synapse sets
LOAD_TRUNCATED_IMAGES = True when imported)."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageFile

from firebreak.signals.errors import UnhashableMedia, UnhashableReason
from firebreak.signals.hashing import hash_bytes
from tests.support import jpeg, photo


def test_truncated_jpeg_is_refused_even_when_pillow_is_told_to_load_truncated_images(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    data = jpeg(photo("coffee"))
    assert hash_bytes(data).pdq.matchable
    for cut in (200, len(data) // 3, len(data) - 2):
        with pytest.raises(UnhashableMedia) as info:
            hash_bytes(data[:cut])
        assert info.value.reason is UnhashableReason.TRUNCATED


def test_jpeg_with_trailing_bytes_after_the_end_marker_still_hashes() -> None:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 200, 30)).save(buf, "JPEG")
    hash_bytes(buf.getvalue() + b"\x00" * 100)
