"""The one registry of signal types: the built-ins plus any a plugin package declares.

A plugin adds a signal type through the `firebreak.signal_types` entry-point group, e.g. in its pyproject:

    [project.entry-points."firebreak.signal_types"]
    tmk = "acme_firebreak.tmk:TmkSignal"

The entry-point's own name is informational; the class's `name` attribute is the storage key. Plugins are
loaded the first time they are asked for, never at import, and may not take a name that is already used.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from importlib.metadata import EntryPoint, entry_points
from types import MappingProxyType

from firebreak.signals.base import SignalType
from firebreak.signals.exact import Md5Signal, Sha256Signal
from firebreak.signals.pdq import PdqSignal
from firebreak.signals.vpdq import VpdqSignal

ENTRY_POINT_GROUP = "firebreak.signal_types"
# Names are storage keys in String(32) columns.
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")

SIGNAL_TYPES: Mapping[str, type[SignalType]] = MappingProxyType(
    {t.name: t for t in (Sha256Signal, Md5Signal, PdqSignal, VpdqSignal)}
)


class SignalTypeError(Exception):
    """A signal type is unknown, or a plugin declares one that cannot be used."""


def check_signal_type(candidate: object, *, source: str) -> type[SignalType]:
    """Check that `candidate` is a usable signal-type class; `source` says where it came from for errors."""
    if not (isinstance(candidate, type) and issubclass(candidate, SignalType)):
        raise SignalTypeError(f"{source} is not a SignalType subclass: {candidate!r}")
    if getattr(candidate, "__abstractmethods__", None):
        missing = ", ".join(sorted(candidate.__abstractmethods__))
        raise SignalTypeError(f"{source} does not implement {missing}")
    name = candidate.__dict__.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise SignalTypeError(
            f"{source} must set its own `name` class attribute to lower-case letters, digits or _ "
            f"(at most 32, starting with a letter), got {name!r}"
        )
    return candidate


def load_plugin_signal_types(
    found: Iterable[EntryPoint] | None = None,
) -> Mapping[str, type[SignalType]]:
    """Load plugin signal types from entry points (by default the installed `firebreak.signal_types`)."""
    plugins: dict[str, type[SignalType]] = {}
    points = entry_points(group=ENTRY_POINT_GROUP) if found is None else found
    for point in points:
        source = f"signal-type plugin {point.name!r} ({point.value})"
        try:
            loaded = point.load()
        except Exception as exc:  # a broken plugin must name itself, whatever it raised
            raise SignalTypeError(f"{source} failed to load: {exc!r}") from exc
        signal_type = check_signal_type(loaded, source=source)
        taken = SIGNAL_TYPES.get(signal_type.name) or plugins.get(signal_type.name)
        if taken is not None and taken is not signal_type:
            raise SignalTypeError(f"{source} uses the name {signal_type.name!r}, already taken by {taken.__qualname__}")
        plugins[signal_type.name] = signal_type
    return MappingProxyType(plugins)


@functools.cache
def _installed_plugins() -> Mapping[str, type[SignalType]]:
    return load_plugin_signal_types()


def all_signal_types() -> Mapping[str, type[SignalType]]:
    """Built-in and installed plugin signal types, by name."""
    return MappingProxyType({**SIGNAL_TYPES, **_installed_plugins()})


def get_signal_type(name: str) -> type[SignalType]:
    """The signal type stored under `name`; raises SignalTypeError listing the known names if there is none."""
    found = SIGNAL_TYPES.get(name)
    if found is not None:
        return found
    known = all_signal_types()
    if name in known:
        return known[name]
    raise SignalTypeError(f"unknown signal type {name!r}; known: {', '.join(sorted(known))}")
