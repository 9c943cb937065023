"""Names compared without regard to case, for all of Unicode, on every database.

SQL's ``lower()`` folds only ASCII on SQLite, and ``=`` compares exactly: "ÄMT" and "Ämt" would both be accepted as
new names, and a check written with ``lower()`` passes a duplicate that the unique index then refuses (a 500). So a
table whose names must be unique regardless of case stores, beside the name, ``name_key(name)``: the name in Unicode
compatibility form (NFKC), case-folded, its runs of white space made one space, hashed to 64 hex digits (a short,
fixed-length key for a unique index, whatever the name's length). Uniqueness is the key's; look-ups compare keys.
"""

from __future__ import annotations

import hashlib
import unicodedata


def fold(text: str) -> str:
    """The form in which two names are the same name: NFKC, case-folded (ß is ss, Σ is σ), spaces collapsed."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    return " ".join(folded.split())


def name_key(text: str) -> str:
    """The unique key of a name (see the module's docstring)."""
    return hashlib.sha256(fold(text).encode("utf-8", "surrogatepass")).hexdigest()


__all__ = ["fold", "name_key"]
