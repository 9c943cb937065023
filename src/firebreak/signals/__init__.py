"""Signals: what Firebreak computes from media to recognise it again.

The rest of Firebreak calls:

- `hash_bytes(data, limits) -> MediaHashes` (or `hash_file`) for every signal of one file; it raises only
  `UnhashableMedia`, whose `reason` is a stable code;
- `exact_hashes(data)` for SHA-256 and MD5 of any bytes, decodable or not;
- `get_signal_type(name)` / `SIGNAL_TYPES` to validate and compare stored values by their stable name;
- `match_frames(query, target, rule)` for the vPDQ video rule.

docs/signals.md explains the choices and the measurements behind them.
"""

from __future__ import annotations

from firebreak.signals.base import BytesHasher, Comparison, ContentKind, SignalType
from firebreak.signals.decode import DEFAULT_LIMITS, DecodeLimits, open_media
from firebreak.signals.errors import UnhashableMedia, UnhashableReason
from firebreak.signals.exact import ExactHashes, Md5Signal, Sha256Signal, exact_hashes
from firebreak.signals.formats import MediaFormat
from firebreak.signals.hashing import PDQ_SIDE, MediaHashes, StoredSignal, hash_bytes, hash_file
from firebreak.signals.pdq import PDQ_MATCH_DISTANCE, PDQ_MIN_QUALITY, PdqHash, PdqSignal, is_matchable
from firebreak.signals.registry import (
    ENTRY_POINT_GROUP,
    SIGNAL_TYPES,
    SignalTypeError,
    all_signal_types,
    get_signal_type,
)
from firebreak.signals.vpdq import DEFAULT_VPDQ_RULE, VpdqFrame, VpdqMatch, VpdqMatchRule, VpdqSignal, match_frames

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_VPDQ_RULE",
    "ENTRY_POINT_GROUP",
    "PDQ_MATCH_DISTANCE",
    "PDQ_MIN_QUALITY",
    "PDQ_SIDE",
    "SIGNAL_TYPES",
    "BytesHasher",
    "Comparison",
    "ContentKind",
    "DecodeLimits",
    "ExactHashes",
    "MediaFormat",
    "MediaHashes",
    "Md5Signal",
    "PdqHash",
    "PdqSignal",
    "Sha256Signal",
    "SignalType",
    "SignalTypeError",
    "StoredSignal",
    "UnhashableMedia",
    "UnhashableReason",
    "VpdqFrame",
    "VpdqMatch",
    "VpdqMatchRule",
    "VpdqSignal",
    "all_signal_types",
    "exact_hashes",
    "get_signal_type",
    "hash_bytes",
    "hash_file",
    "is_matchable",
    "match_frames",
    "open_media",
]
