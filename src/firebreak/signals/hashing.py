"""Every signal of one file: exact hashes, PDQ (with its eight rotations and mirrors), vPDQ frames.

`hash_bytes` is what the rest of Firebreak calls. It decodes once, through `decode.open_media`, and raises
only `UnhashableMedia`. Exact hashes of undecodable bytes are still available from `exact.exact_hashes`.

A picture's PDQ is the reference's (`pdqhash.compute` on the full-size picture, as ThreatExchange, HMA and
StopNCII compute it), bit for bit, so hashes agree wherever they cross the boundary; its query hashes are the
reference hashes of its eight rotations and mirrors. docs/signals.md has the measurements.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
from PIL import Image

from firebreak.signals.base import ContentKind
from firebreak.signals.decode import (
    DEFAULT_LIMITS,
    Clock,
    DecodeLimits,
    FloatLuma,
    Frame,
    Luma,
    OpenedMedia,
    luma_8bit,
    open_media,
)
from firebreak.signals.errors import UnhashableMedia, UnhashableReason
from firebreak.signals.exact import Md5Signal, Sha256Signal, exact_hashes
from firebreak.signals.formats import MediaFormat
from firebreak.signals.pdq import (
    DIHEDRAL_NAMES,
    PdqHash,
    PdqSignal,
    pdq_dihedral_from_luma,
    pdq_from_luma,
    pdq_reference,
    pdq_reference_dihedral,
)
from firebreak.signals.vpdq import VpdqFrame, VpdqSignal, frames_to_value

# Pictures and video frames used to be scaled to PDQ_SIDE x PDQ_SIDE before PDQ (320 = 5 x 64: PDQ's blur
# window (3) and sampling step (5) are then odd and centred). They are now hashed at full size, as the PDQ
# and vPDQ references do; `side=PDQ_SIDE` only reproduces the old way, to measure it.
PDQ_SIDE = 320
# vPDQ hashes one frame per second.
VPDQ_INTERVAL_SECONDS = 1.0
# The reference samples a small picture with little or no blur (its window is 1/128 of the side), so a
# downscaled copy hashes further from its original than it looks: 18 bits median at 25%. Small pictures are
# therefore also queried upscaled to QUERY_UPSCALE_TO on their long side, where the reference averages as it
# does on the full-size original (4 bits median at 25%). docs/signals.md has the measurements.
QUERY_UPSCALE_BELOW = 512
QUERY_UPSCALE_TO = 1024


@dataclass(frozen=True, slots=True)
class StoredSignal:
    """One row's worth of a signal, shaped like `media_signals`: a vPDQ video gives one row per frame."""

    signal_type: str
    value: str
    quality: int | None = None
    frame_number: int | None = None
    timestamp_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class MediaHashes:
    kind: ContentKind
    format: MediaFormat
    mime_type: str
    size_bytes: int
    width: int  # as displayed (EXIF orientation and video rotation applied)
    height: int
    duration_seconds: float | None
    sha256: str
    md5: str
    pdq: PdqHash  # the picture's, or for a video or animation its first frame's
    # Images only: PDQ of the picture's eight rotations and mirrors, in DIHEDRAL_NAMES order; [0] == pdq.value.
    dihedral: tuple[str, ...] = ()
    vpdq: tuple[VpdqFrame, ...] = ()  # videos and animations: one frame per second
    # Pictures with transparency: PDQ of the colour channels as stored, alpha ignored (what python-threatexchange
    # and HMA compute for the file); `pdq` is of the picture as shown, on white. Queried too, never stored.
    pdq_ignoring_alpha: str | None = None
    # Pictures smaller than QUERY_UPSCALE_BELOW: the eight hashes of the picture upscaled, queried, never stored.
    upscaled_dihedral: tuple[str, ...] = ()
    # The file was cut short; its signals describe what a browser shows (what arrived, the rest grey).
    truncated: bool = False

    @property
    def matchable(self) -> bool:
        """Whether any perceptual signal is good enough to match with (exact hashes always are)."""
        return self.pdq.matchable or any(frame.matchable for frame in self.vpdq)

    @property
    def query_hashes(self) -> tuple[str, ...]:
        """PDQ values to look up when this file is the query, stored hash first, without repeats.

        For an image, its eight rotations and mirrors, so a flipped or turned copy finds the banked
        original, then the same of a small picture upscaled (a downscaled copy finds its original) and, with
        transparency, the hash that ignores alpha. Only the first is ever stored. Empty when the PDQ is too
        low in quality to match.
        """
        if not self.pdq.matchable:
            return ()
        alpha = (self.pdq_ignoring_alpha,) if self.pdq_ignoring_alpha is not None else ()
        return tuple(dict.fromkeys((*(self.dihedral or (self.pdq.value,)), *self.upscaled_dihedral, *alpha)))

    @property
    def turned_hashes(self) -> frozenset[str]:
        """The query hashes that are a rotation or mirror of the picture (not the picture as it stands, nor it
        scaled up, nor it without alpha): a match through them counts only within PDQ_TURNED_MATCH_DISTANCE."""
        if not self.pdq.matchable:
            return frozenset()
        alpha = (self.pdq_ignoring_alpha,) if self.pdq_ignoring_alpha is not None else ()
        upright = {self.pdq.value, *self.upscaled_dihedral[:1], *alpha}
        return frozenset((*self.dihedral[1:], *self.upscaled_dihedral[1:])) - upright

    def vpdq_value(self) -> str | None:
        """The whole video's vPDQ in the exchange format, or None for a still image."""
        return frames_to_value(self.vpdq) if self.vpdq else None

    def signals(self) -> list[StoredSignal]:
        """What to store for this file. Low-quality PDQ is kept (with its quality) but never matched."""
        rows = [
            StoredSignal(Sha256Signal.name, self.sha256),
            StoredSignal(Md5Signal.name, self.md5),
        ]
        if self.kind is ContentKind.IMAGE:
            rows.append(StoredSignal(PdqSignal.name, self.pdq.value, self.pdq.quality))
        rows.extend(
            StoredSignal(VpdqSignal.name, frame.pdq, frame.quality, frame.frame_number, frame.timestamp)
            for frame in self.vpdq
        )
        return rows

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready description, as `firebreak hash --json` prints it."""
        out: dict[str, Any] = {
            "kind": self.kind.value,
            "format": self.format.value,
            "mime_type": self.mime_type,
            "size_bytes": self.size_bytes,
            "width": self.width,
            "height": self.height,
            "duration_seconds": self.duration_seconds,
            "sha256": self.sha256,
            "md5": self.md5,
            "pdq": {"value": self.pdq.value, "quality": self.pdq.quality, "matchable": self.pdq.matchable},
            "truncated": self.truncated,
        }
        if self.dihedral:
            out["pdq_dihedral"] = dict(zip(DIHEDRAL_NAMES, self.dihedral, strict=True))
        if self.upscaled_dihedral:
            out["pdq_upscaled_dihedral"] = dict(zip(DIHEDRAL_NAMES, self.upscaled_dihedral, strict=True))
        if self.pdq_ignoring_alpha is not None:
            out["pdq_ignoring_alpha"] = self.pdq_ignoring_alpha
        if self.vpdq:
            out["vpdq"] = [
                {
                    "frame_number": f.frame_number,
                    "timestamp": f.timestamp,
                    "pdq": f.pdq,
                    "quality": f.quality,
                    "matchable": f.matchable,
                }
                for f in self.vpdq
            ]
        return out


def hash_bytes(
    data: bytes,
    limits: DecodeLimits = DEFAULT_LIMITS,
    *,
    side: int | None = None,
    clock: Clock = time.monotonic,
) -> MediaHashes:
    """All signals of one file. Raises UnhashableMedia, and nothing else, for anything it cannot hash.

    `side` hashes a still picture the old way, scaled to side x side (JPEGs decoded at reduced size); it
    exists to measure that against the reference and must not be used for anything stored or compared.
    """
    with open_media(data, limits, clock=clock) as media:
        hashes, _ = _hash_opened(media, data, side=side, keep_planes=False)
        return hashes


@dataclass(frozen=True, slots=True)
class StillPlanes:
    """A still picture's planes as `hash_bytes` decoded them, for the copy check that follows the hashes (one
    decode for both: it was a tenth of an upload's check, docs/copy-detection.md)."""

    luma: Luma  # full size, as displayed: the luma PDQ hashed, rounded to 8 bits
    brightest: Luma | None  # max(R, G, B) of a colour picture (`OpenedMedia.brightest`), None for a grey one


def hash_with_planes(
    data: bytes, limits: DecodeLimits = DEFAULT_LIMITS, *, clock: Clock = time.monotonic
) -> tuple[MediaHashes, StillPlanes | None]:
    """`hash_bytes`, and for a still picture its decoded planes too: None for a video or an animation, and None
    when the brightest channel could not be had within the limits (the hashes are kept: only the copy check,
    which would need it, is skipped)."""
    with open_media(data, limits, clock=clock) as media:
        return _hash_opened(media, data, side=None, keep_planes=True)


def _hash_opened(
    media: OpenedMedia, data: bytes, *, side: int | None, keep_planes: bool
) -> tuple[MediaHashes, StillPlanes | None]:
    ignoring_alpha: str | None = None
    upscaled: tuple[str, ...] = ()
    planes: StillPlanes | None = None
    if media.kind is ContentKind.IMAGE:
        if side is None:
            picture = media.picture()
            dihedral, quality = pdq_reference_dihedral(picture.luma)
            if _PDQ_MIN_SIDE <= min(picture.luma.shape) and max(picture.luma.shape) < QUERY_UPSCALE_BELOW:
                upscaled, _ = pdq_reference_dihedral(_upscaled(picture.luma))
            if picture.luma_ignoring_alpha is not None:
                ignoring_alpha = pdq_reference(picture.luma_ignoring_alpha).value
            if keep_planes:
                try:
                    planes = StillPlanes(luma_8bit(picture.luma), media.brightest())
                except UnhashableMedia:
                    planes = None  # out of time (or pixels) for the copy check; the hashes stand
        else:
            (frame,) = media.frames(side=side)
            dihedral, quality = pdq_dihedral_from_luma(cast(Luma, frame.luma))
        pdq = PdqHash(dihedral[0], quality)
        frames: tuple[VpdqFrame, ...] = ()
    else:
        dihedral = ()
        frames = tuple(
            VpdqFrame(f.number, f.timestamp, *_pdq_fields(_frame_pdq(f)))
            for f in media.frames(side=side, interval=VPDQ_INTERVAL_SECONDS)
        )
        pdq = PdqHash(frames[0].pdq, frames[0].quality)
    exact = exact_hashes(data)
    hashes = MediaHashes(
        kind=media.kind,
        format=media.format,
        mime_type=media.format.mime_type,
        size_bytes=len(data),
        width=media.width,
        height=media.height,
        duration_seconds=media.duration_seconds,
        sha256=exact.sha256,
        md5=exact.md5,
        pdq=pdq,
        dihedral=dihedral,
        vpdq=frames,
        pdq_ignoring_alpha=ignoring_alpha if ignoring_alpha != pdq.value else None,
        upscaled_dihedral=upscaled,
        truncated=media.truncated,
    )
    return hashes, planes


_PDQ_MIN_SIDE = 5  # the reference hashes anything smaller as zeros

# A banked video's frames for copy detection: four a second. An upload keeps vPDQ's one a second, and its seconds
# fall anywhere between the source's; with the source sampled every 0.25 s, each of the clip's frames is at most
# 0.125 s from one of them, where one second apart it could be 0.5 s away: 50-60 bits on a moving shot
# (docs/copy-detection.md, "Videos").
DENSE_INTERVAL_SECONDS = 0.25


def video_frames(
    data: bytes, limits: DecodeLimits = DEFAULT_LIMITS, *, interval: float = DENSE_INTERVAL_SECONDS
) -> tuple[VpdqFrame, ...]:
    """PDQ of one frame every `interval` seconds of a video or animation, decoded and hashed as `hash_bytes` hashes
    its one-a-second frames. Raises UnhashableMedia like `hash_bytes`, ValueError for a still picture."""
    with open_media(data, limits) as media:
        if media.kind is ContentKind.IMAGE:
            raise ValueError("video_frames takes a video or an animation, not a still picture")
        return tuple(
            VpdqFrame(f.number, f.timestamp, *_pdq_fields(_frame_pdq(f)))
            for f in media.frames(side=None, interval=interval)
        )


def _upscaled(luma: FloatLuma) -> FloatLuma:
    height, width = luma.shape
    scale = QUERY_UPSCALE_TO / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    bigger = Image.fromarray(luma).resize(size, Image.Resampling.BICUBIC)  # float32 -> mode "F"
    return np.frombuffer(bigger.tobytes(), dtype=np.float32).reshape(size[1], size[0])


def _frame_pdq(frame: Frame) -> PdqHash:
    if frame.luma.dtype == np.float32:
        return pdq_reference(cast(FloatLuma, frame.luma))
    return pdq_from_luma(cast(Luma, frame.luma))


def _pdq_fields(pdq: PdqHash) -> tuple[str, int]:
    return pdq.value, pdq.quality


# Shares of a picture's rows, from the bottom, that cut_short_variants shows grey.
CUT_SHARES = (0.04, 0.08, 0.12, 0.16, 0.20, 0.24)


def cut_short_variants(data: bytes, limits: DecodeLimits = DEFAULT_LIMITS) -> tuple[str, ...]:
    """PDQ of a still picture as a browser would show it cut short: its bottom 4%, 8%, ... 24% of rows mid grey.

    For banking: a copy of a banked picture that was cut short in transit hashes close to one of these even
    when its grey band moves its PDQ past the match distance from the whole picture's (docs/signals.md,
    "Files cut short"). Empty for anything but a still picture. Raises UnhashableMedia.
    """
    with open_media(data, limits) as media:
        if media.kind is not ContentKind.IMAGE:
            return ()
        luma = media.picture().luma
    height = luma.shape[0]
    out = []
    for share in CUT_SHARES:
        shown = luma.copy()
        shown[height - round(height * share) :] = 128.0
        out.append(pdq_reference(shown).value)
    return tuple(dict.fromkeys(out))


def hash_file(
    path: Path,
    limits: DecodeLimits = DEFAULT_LIMITS,
    *,
    side: int | None = None,
    clock: Clock = time.monotonic,
) -> MediaHashes:
    """`hash_bytes` of a file, refusing an oversized one before reading it. OSError if it cannot be read."""
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise UnhashableMedia(UnhashableReason.TOO_LARGE, f"{size:,} bytes is over the limit of {limits.max_bytes:,}")
    return hash_bytes(path.read_bytes(), limits, side=side, clock=clock)
