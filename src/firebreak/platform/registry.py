"""Platform adapters by their stable name, built per integration, from plugins.

Every adapter arrives through the entry-point group ``firebreak.platform_adapters`` as a factory
``(integration, context) -> PlatformAdapter``; Firebreak's own (``sandbox``, ``webhook``, ``matrix``, in
``firebreak.integrations``) are registered there by Firebreak's own package metadata, exactly as another package
registers its own. The entry-point name is the adapter's storage key (``platform_integrations.adapter``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from firebreak.core.clock import Clock
from firebreak.core.config import Settings
from firebreak.core.db.session import Database
from firebreak.platform.adapters import PlatformAdapter
from firebreak.platform.models import PlatformIntegration
from firebreak.platform.secrets import IntegrationSecrets

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "firebreak.platform_adapters"


@dataclass(frozen=True)
class AdapterContext:
    """What an adapter factory may use: the integration's secret, the database (the in-process sandbox keeps its
    messages there), the clock and the settings."""

    db: Database
    clock: Clock
    secrets: IntegrationSecrets
    settings: Settings


AdapterFactory = Callable[[PlatformIntegration, AdapterContext], PlatformAdapter]


class AdapterError(Exception):
    pass


def factories() -> dict[str, AdapterFactory]:
    """Every adapter factory installed, by name."""
    found: dict[str, AdapterFactory] = {}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        if point.name in found:
            log.warning("adapter %r is registered twice; keeping the first", point.name)
            continue
        try:
            found[point.name] = point.load()
        except Exception as exc:  # a broken plugin must not take the others down
            log.error("adapter plugin %s (%s) does not load: %s", point.name, point.value, exc)
    return found


class Adapters:
    """One adapter per integration, built on first use (the ``AdapterProvider`` of a running Firebreak)."""

    def __init__(self, context: AdapterContext, available: dict[str, AdapterFactory] | None = None) -> None:
        self._context = context
        self._factories = available if available is not None else factories()
        # Keyed by the integration's id and configuration, so a changed action URL or token takes effect.
        self._cache: dict[tuple[int, str, str], PlatformAdapter] = {}
        self._overrides: dict[str, Any] = {}

    @property
    def names(self) -> list[str]:
        return sorted(self._factories)

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
        factory = self._factories.get(integration.adapter)
        if factory is None:
            raise AdapterError(f"integration {integration.name!r}: unknown adapter {integration.adapter!r}")
        try:
            adapter = factory(integration, self._context)
        except Exception as exc:  # a misconfigured integration names itself
            raise AdapterError(f"integration {integration.name!r} ({integration.adapter}): {exc}") from exc
        self._cache = {k: v for k, v in self._cache.items() if k[0] != integration.id}
        self._cache[key] = adapter
        return adapter
