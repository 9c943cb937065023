"""Decoding must not depend on Pillow's process-wide switches, which other libraries flip (Synapse sets
LOAD_TRUNCATED_IMAGES = True when imported)."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageFile

from firebreak.signals.errors import UnhashableMedia, UnhashableReason
from firebreak.signals.hashing import MediaHashes, hash_bytes
from tests.support import jpeg, photo


def _outcome(data: bytes) -> MediaHashes | UnhashableReason:
    try:
        return hash_bytes(data)
    except UnhashableMedia as exc:
        return exc.reason


@pytest.mark.parametrize("switch", [False, True])
def test_a_cut_jpeg_decodes_the_same_whatever_pillow_is_told(monkeypatch: pytest.MonkeyPatch, switch: bool) -> None:
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", switch)
    data = jpeg(photo("coffee"))
    whole = hash_bytes(data)
    assert whole.pdq.matchable and not whole.truncated
    # Cut in its header: nothing to show. Two thirds missing: refused as mostly missing.
    assert _outcome(data[:200]) is UnhashableReason.TRUNCATED
    assert _outcome(data[: len(data) // 3]) is UnhashableReason.TRUNCATED
    # Only the end-of-image marker missing: every pixel is there, so the picture and its PDQ are the same.
    cut = _outcome(data[:-2])
    assert isinstance(cut, MediaHashes) and cut.truncated
    assert cut.pdq == whole.pdq and cut.sha256 != whole.sha256
    assert ImageFile.LOAD_TRUNCATED_IMAGES is switch  # and the switch is as the caller left it


def test_jpeg_with_trailing_bytes_after_the_end_marker_still_hashes() -> None:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 200, 30)).save(buf, "JPEG")
    assert not hash_bytes(buf.getvalue() + b"\x00" * 100).truncated
