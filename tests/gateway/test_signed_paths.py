"""Every platform route that authenticates a signed call itself is let past the body guard's token check: otherwise a
platform that signs its calls (the webhook integration) is refused with 401 before its signature is looked at."""

from __future__ import annotations

from typing import Any

from firebreak.bootstrap.http import create_app
from firebreak.bootstrap.system import System
from firebreak.core.http.routing import is_api_route, route_views
from firebreak.gateway.api import SIGNED_PATHS, signed_caller


def _depends_on_signature(dependant: Any) -> bool:
    return any(d.call is signed_caller or _depends_on_signature(d) for d in dependant.dependencies)


def test_every_route_that_checks_a_signature_is_a_signed_path(system: System) -> None:
    signed = {view.path_format for view in route_views(create_app(system).routes)
              if is_api_route(view) and _depends_on_signature(view.dependant)}
    assert {"/v1/events", "/v1/scan", "/v1/reports", "/v1/appeals"} <= signed
    assert signed == set(SIGNED_PATHS)
