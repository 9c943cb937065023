"""Integers from the network, bounded to what the database stores (a signed 64-bit BIGINT).

A number outside that range cannot name a row, and handing it to the database driver fails (``OverflowError`` on
SQLite, an out-of-range error on PostgreSQL): every integer a route takes in its path, query or body is one of
these types, so that such a number is refused as invalid input (422, naming the field) instead.

    def get_authority(authority_id: IdPath, ...)            # /v1/authorities/{authority_id}
    def list_entries(after_id: AfterId = 0, ...)            # ?after_id=
    class ReviewDecision(BaseModel): authority_id: DbId | None = None
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import Field

DB_INT_MAX = 2**63 - 1
DB_INT_MIN = -(2**63)
# The bound is written "below 2^63" (exclusive): FastAPI writes bounds into the OpenAPI document as floats, and 2^63
# is a float exactly, while 2^63-1 would be rounded up to 2^63 there.
_BELOW = DB_INT_MAX + 1

# Row ids start at 1.
IdPath = Annotated[int, Path(ge=1, lt=_BELOW, description="a row id: 1 to 2^63-1")]
AfterId = Annotated[int, Query(ge=0, lt=_BELOW, description="list what comes after this id (0: from the start)")]
DbId = Annotated[int, Field(ge=1, lt=_BELOW)]
DbInt = Annotated[int, Field(ge=DB_INT_MIN, lt=_BELOW)]

__all__ = ["DB_INT_MAX", "DB_INT_MIN", "AfterId", "DbId", "DbInt", "IdPath"]
