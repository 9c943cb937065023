"""Platform adapters by their stable name, built per integration.

Built-ins: ``sandbox`` (the messenger inside Firebreak), ``webhook`` (a platform that speaks
signed HTTP), ``matrix`` (a Synapse homeserver). Plugins add more through the entry-point
group ``firebreak.platform_adapters``: a callable ``(integration, runtime) -> PlatformAdapter``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from firebreak.platform.adapters import PlatformAdapter
from firebreak.platform.models import PlatformIntegration

if TYPE_CHECKING:
    from firebreak.runtime import Runtime

AdapterFactory = Callable[[PlatformIntegration, "Runtime"], PlatformAdapter]
ENTRY_POINT_GROUP = "firebreak.platform_adapters"


class AdapterError(Exception):
    pass


def _sandbox(integration: PlatformIntegration, runtime: Runtime) -> PlatformAdapter:
    from firebreak.sandbox.adapter import SandboxAdapter

    adapter: PlatformAdapter = SandboxAdapter(runtime)
    return adapter


def _webhook(integration: PlatformIntegration, runtime: Runtime) -> PlatformAdapter:
    from firebreak.platform.webhook import WebhookAdapter

    return WebhookAdapter.from_integration(integration, runtime)


def _matrix(integration: PlatformIntegration, runtime: Runtime) -> PlatformAdapter:
    from firebreak.platform.matrix.adapter import MatrixAdapter

    adapter: PlatformAdapter = MatrixAdapter(integration.config)
    return adapter


BUILTIN: dict[str, AdapterFactory] = {"sandbox": _sandbox, "webhook": _webhook, "matrix": _matrix}


def factories() -> dict[str, AdapterFactory]:
    found: dict[str, AdapterFactory] = dict(BUILTIN)
    for point in entry_points(group=ENTRY_POINT_GROUP):
        if point.name not in found:
            found[point.name] = point.load()
    return found


class Adapters:
    """One adapter per integration, built on first use."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        # Keyed by the integration's id and configuration, so a changed action URL or token takes effect.
        self._cache: dict[tuple[int, str, str], PlatformAdapter] = {}
        self._overrides: dict[str, Any] = {}

    def override(self, integration_name: str, adapter: PlatformAdapter) -> None:
        """Use this adapter for an integration (tests, the demo's fault injection)."""
        self._overrides[integration_name] = adapter
        self._cache.clear()

    def for_integration(self, integration: PlatformIntegration) -> PlatformAdapter:
        if integration.name in self._overrides:
            adapter: PlatformAdapter = self._overrides[integration.name]
            return adapter
        key = (integration.id, json.dumps(integration.config, sort_keys=True, default=str),
               integration.secret_encrypted or "")
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        factory = factories().get(integration.adapter)
        if factory is None:
            raise AdapterError(f"integration {integration.name!r}: unknown adapter {integration.adapter!r}")
        try:
            adapter = factory(integration, self._runtime)
        except Exception as exc:  # a misconfigured integration names itself
            raise AdapterError(f"integration {integration.name!r} ({integration.adapter}): {exc}") from exc
        self._cache = {k: v for k, v in self._cache.items() if k[0] != integration.id}
        self._cache[key] = adapter
        return adapter
