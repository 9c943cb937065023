"""Restricted accounts inside Synapse: they may still post text, but not photos, videos or files.

That is what a ``restricted`` standing means in Firebreak, and Synapse has no such switch of its own, so the module
keeps it: a table ``firebreak_restrictions`` in Synapse's database (a user cannot change it, unlike account data),
set by server admins through ``PUT /_synapse/client/firebreak/v1/restrictions`` (the adapter's ``restrict_account``)
and enforced by two callbacks in :mod:`firebreak.integrations.matrix.synapse_module`: uploads get a zero media-upload
limit, and media messages are refused. Works with workers: every process reads the same table.
"""

from __future__ import annotations

import time
from typing import Any

from synapse.module_api import DirectServeJsonResource, ModuleApi, parse_json_object_from_request
from synapse.module_api.errors import Codes, SynapseError

PATH = "/_synapse/client/firebreak/v1/restrictions"
TABLE = "firebreak_restrictions"
_REASON_MAX = 1000


def _create(txn: Any) -> None:
    txn.execute(
        f"CREATE TABLE IF NOT EXISTS {TABLE} ("
        " user_id TEXT NOT NULL PRIMARY KEY, restricted_at BIGINT NOT NULL, reason TEXT NOT NULL)"
    )


def _is_restricted(txn: Any, user_id: str) -> bool:
    txn.execute(f"SELECT 1 FROM {TABLE} WHERE user_id = ?", (user_id,))  # noqa: S608
    return txn.fetchone() is not None


def _restrict(txn: Any, user_id: str, at_ms: int, reason: str) -> bool:
    if _is_restricted(txn, user_id):
        return False
    txn.execute(f"INSERT INTO {TABLE} (user_id, restricted_at, reason) VALUES (?, ?, ?)",  # noqa: S608
                (user_id, at_ms, reason))
    return True


def _lift(txn: Any, user_id: str) -> bool:
    txn.execute(f"DELETE FROM {TABLE} WHERE user_id = ?", (user_id,))  # noqa: S608
    return bool(txn.rowcount and txn.rowcount > 0)


class Restrictions:
    """The table, created on first use (by whichever Synapse process needs it first)."""

    def __init__(self, api: ModuleApi) -> None:
        self._api = api
        self._ready = False

    async def _ensure_table(self) -> None:
        if not self._ready:
            await self._api.run_db_interaction("firebreak_restrictions_create", _create)
            self._ready = True

    async def is_restricted(self, user_id: str) -> bool:
        await self._ensure_table()
        return bool(await self._api.run_db_interaction("firebreak_is_restricted", _is_restricted, user_id))

    async def restrict(self, user_id: str, reason: str) -> bool:
        """True if the account was not restricted before."""
        await self._ensure_table()
        return bool(await self._api.run_db_interaction("firebreak_restrict", _restrict, user_id,
                                                       int(time.time() * 1000), reason[:_REASON_MAX]))

    async def lift(self, user_id: str) -> bool:
        await self._ensure_table()
        return bool(await self._api.run_db_interaction("firebreak_lift_restriction", _lift, user_id))


class RestrictionsResource(DirectServeJsonResource):
    """``GET ?user_id=`` -> ``{"user_id", "restricted"}``; ``PUT {"user_id", "restricted", "reason"}``.

    Server admins only (the same access token the adapter uses for Synapse's admin API). Local users only.
    """

    isLeaf = True

    def __init__(self, api: ModuleApi, restrictions: Restrictions) -> None:
        super().__init__()
        self._api = api
        self._restrictions = restrictions

    async def _user(self, request: Any, user_id: Any) -> str:
        requester = await self._api.get_user_by_req(request)
        if not await self._api.is_user_admin(requester.user.to_string()):
            raise SynapseError(403, "Only server admins may change restrictions", Codes.FORBIDDEN)
        if not isinstance(user_id, str) or not user_id.startswith("@"):
            raise SynapseError(400, "'user_id' must be a Matrix user id", Codes.INVALID_PARAM)
        if not self._api.is_mine(user_id):
            raise SynapseError(400, "Only local users can be restricted", Codes.INVALID_PARAM)
        canonical = await self._api.check_user_exists(user_id)
        if canonical is None:
            raise SynapseError(404, "User not found", Codes.NOT_FOUND)
        return str(canonical)

    async def _async_render_GET(self, request: Any) -> tuple[int, dict[str, Any]]:
        values = (request.args or {}).get(b"user_id") or [b""]
        user_id = await self._user(request, values[0].decode("utf-8", "replace"))
        return 200, {"user_id": user_id, "restricted": await self._restrictions.is_restricted(user_id)}

    async def _async_render_PUT(self, request: Any) -> tuple[int, dict[str, Any]]:
        body = parse_json_object_from_request(request)
        user_id = await self._user(request, body.get("user_id"))
        restricted = body.get("restricted", True)
        reason = body.get("reason", "")
        if not isinstance(restricted, bool) or not isinstance(reason, str):
            raise SynapseError(400, "'restricted' must be a boolean and 'reason' a string", Codes.BAD_JSON)
        if restricted:
            changed = await self._restrictions.restrict(user_id, reason)
        else:
            changed = await self._restrictions.lift(user_id)
        return 200, {"user_id": user_id, "restricted": restricted, "changed": changed}
