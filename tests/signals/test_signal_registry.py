"""The registry: stable built-in names, and plugins arriving through a real installed entry point."""

from __future__ import annotations

import textwrap
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from firebreak.signals.pdq import PdqSignal
from firebreak.signals.registry import (
    ENTRY_POINT_GROUP,
    SIGNAL_TYPES,
    SignalTypeError,
    get_signal_type,
    load_plugin_signal_types,
)

PLUGIN_MODULE = """
from typing import ClassVar

from firebreak.signals.base import Comparison, ContentKind, SignalType
from firebreak.signals.pdq import PdqSignal


class UrlSignal(SignalType):
    name: ClassVar[str] = "url_sha1"
    description: ClassVar[str] = "A test plugin."
    kinds: ClassVar[frozenset[ContentKind]] = frozenset({ContentKind.IMAGE})

    @classmethod
    def validate(cls, value):
        return value.strip().lower()

    @classmethod
    def compare(cls, a, b):
        return Comparison(match=a == b, distance=0 if a == b else 1)

    @classmethod
    def examples(cls):
        return ["a", "b"]


class Impostor(UrlSignal):
    name: ClassVar[str] = "pdq"


class Inherited(PdqSignal):
    pass


class Unfinished(SignalType):
    name: ClassVar[str] = "unfinished"


NOT_A_CLASS = 42
"""


@pytest.fixture
def plugin_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Install a plugin package the way pip would leave it: a module plus a dist-info with entry points."""
    module = f"fb_signal_plugin_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(PLUGIN_MODULE))
    info = tmp_path / f"{module}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\nurl = {module}:UrlSignal\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return module


def test_built_in_names_are_the_storage_keys() -> None:
    assert set(SIGNAL_TYPES) == {"sha256", "md5", "pdq", "vpdq"}
    for name, signal_type in SIGNAL_TYPES.items():
        assert signal_type.name == name
        assert get_signal_type(name) is signal_type


def test_unknown_names_are_refused_with_the_known_ones_listed() -> None:
    with pytest.raises(SignalTypeError, match=r"unknown signal type 'photodna'.*md5, pdq, sha256, vpdq"):
        get_signal_type("photodna")


def test_an_installed_plugin_is_found_through_its_entry_point(plugin_dist: str) -> None:
    plugins = load_plugin_signal_types()
    assert set(plugins) == {"url_sha1"}
    assert plugins["url_sha1"].__module__ == plugin_dist
    assert plugins["url_sha1"].validate(" A ") == "a"


def point(module: str, attribute: str) -> EntryPoint:
    return EntryPoint(name=attribute.lower(), value=f"{module}:{attribute}", group=ENTRY_POINT_GROUP)


def test_a_plugin_may_not_take_a_built_in_name(plugin_dist: str) -> None:
    with pytest.raises(SignalTypeError, match=r"uses the name 'pdq', already taken by PdqSignal"):
        load_plugin_signal_types([point(plugin_dist, "Impostor")])


def test_a_plugin_must_name_itself(plugin_dist: str) -> None:
    with pytest.raises(SignalTypeError, match="must set its own `name`"):
        load_plugin_signal_types([point(plugin_dist, "Inherited")])


def test_a_plugin_must_be_a_complete_signal_type(plugin_dist: str) -> None:
    with pytest.raises(SignalTypeError, match="does not implement compare, examples, validate"):
        load_plugin_signal_types([point(plugin_dist, "Unfinished")])
    with pytest.raises(SignalTypeError, match="is not a SignalType subclass"):
        load_plugin_signal_types([point(plugin_dist, "NOT_A_CLASS")])


def test_a_plugin_that_fails_to_import_names_itself() -> None:
    with pytest.raises(SignalTypeError, match=r"plugin 'ghost' \(no_such_module_here:Thing\) failed to load"):
        load_plugin_signal_types([EntryPoint(name="ghost", value="no_such_module_here:Thing", group=ENTRY_POINT_GROUP)])


def test_the_same_plugin_listed_twice_is_fine(plugin_dist: str) -> None:
    plugins = load_plugin_signal_types([point(plugin_dist, "UrlSignal"), point(plugin_dist, "UrlSignal")])
    assert list(plugins) == ["url_sha1"]
    assert PdqSignal.name not in plugins
