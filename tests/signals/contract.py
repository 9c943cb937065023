"""The contract every signal type keeps. Subclass `SignalTypeContract` as `Test...` and set `signal_type`.

Plugin packages can reuse it the same way for their own signal types.
"""

from __future__ import annotations

import re
from typing import ClassVar

import pytest

from firebreak.signals.base import ContentKind, SignalType
from firebreak.signals.registry import all_signal_types


class SignalTypeContract:
    signal_type: ClassVar[type[SignalType]]
    # Values of roughly the right shape that must still be refused.
    invalid_values: ClassVar[tuple[str, ...]] = ()

    def spellings(self, value: str) -> list[str]:
        """Other ways of writing `value` that validate() must bring back to it."""
        return []

    def test_name_is_declared_on_the_class_itself(self) -> None:
        name = self.signal_type.__dict__.get("name")
        assert isinstance(name, str)
        assert re.fullmatch(r"[a-z][a-z0-9_]{0,31}", name)
        assert name != self.signal_type.__name__

    def test_registry_knows_it_by_its_name(self) -> None:
        assert all_signal_types()[self.signal_type.name] is self.signal_type

    def test_describes_itself(self) -> None:
        assert self.signal_type.description.strip()
        assert self.signal_type.kinds and self.signal_type.kinds <= set(ContentKind)

    def test_examples_are_canonical_and_distinct(self) -> None:
        examples = list(self.signal_type.examples())
        assert len(examples) >= 2
        assert len(set(examples)) == len(examples)
        for value in examples:
            assert self.signal_type.validate(value) == value
            assert self.signal_type.validate(self.signal_type.validate(value)) == value

    def test_other_spellings_normalise(self) -> None:
        for value in self.signal_type.examples():
            for spelling in self.spellings(value):
                assert self.signal_type.validate(spelling) == value

    @pytest.mark.parametrize("bad", ["", "   ", "not a signal", "0x", "zz" * 32, "[]", "{}"])
    def test_refuses_garbage_with_a_message_naming_the_type(self, bad: str) -> None:
        with pytest.raises(ValueError, match=self.signal_type.name):
            self.signal_type.validate(bad)

    def test_refuses_its_own_invalid_values(self) -> None:
        for bad in self.invalid_values:
            with pytest.raises(ValueError, match=self.signal_type.name):
                self.signal_type.validate(bad)

    def test_a_value_matches_itself_at_distance_zero(self) -> None:
        for value in self.signal_type.examples():
            result = self.signal_type.compare(value, value)
            assert result.match
            assert result.distance == 0

    def test_comparison_is_symmetric(self) -> None:
        examples = list(self.signal_type.examples())
        for a in examples:
            for b in examples:
                assert self.signal_type.compare(a, b) == self.signal_type.compare(b, a)

    def test_compare_refuses_invalid_values(self) -> None:
        good = self.signal_type.examples()[0]
        with pytest.raises(ValueError):
            self.signal_type.compare(good, "not a signal")
