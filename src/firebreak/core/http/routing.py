"""The application's routes, flat: each with its full path, through included routers.

FastAPI (0.16x) keeps included routers nested in ``app.routes``; ``fastapi.routing.iter_route_contexts`` walks them
and gives each route as it is served (its prefixed path, its regex, its dependencies). Older FastAPI has them flat.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import fastapi.routing
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute


def route_views(routes: Sequence[BaseRoute]) -> list[Any]:
    """Every route as served: objects with ``path_format``, ``path_regex``, ``methods``, ``endpoint`` (and, for API
    routes, ``dependant``, ``include_in_schema``)."""
    iterate = getattr(fastapi.routing, "iter_route_contexts", None)
    return list(iterate(routes)) if iterate is not None else list(routes)


def is_api_route(view: Any) -> bool:
    return isinstance(getattr(view, "original_route", view), APIRoute)


__all__ = ["is_api_route", "route_views"]
