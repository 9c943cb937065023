"""A file cut short is never a way past a block bank: at every 1% of a banked JPEG and PNG cut off, /v1/scan either
blocks the copy or answers with the unchecked-upload setting (review by default), never allow."""

from __future__ import annotations

import pytest

from firebreak.banks import service as banks
from firebreak.banks.models import MatchAction, Provenance
from firebreak.banks.schemas import BankCreate
from firebreak.bootstrap.system import UNCHECKED_VERDICTS, System, build_system
from firebreak.core.config import Settings
from firebreak.platform.schemas import Verdict
from firebreak.signals.hashing import hash_bytes
from tests.support import jpeg, photo, png


def _bank(system: System, *files: bytes) -> None:
    with system.db.transaction() as session:
        bank = banks.create_bank(session=session, clock=system.clock, actor="test",
                                 data=BankCreate(name="known", action=MatchAction.BLOCK))
        for data in files:
            banks.add_entries(session=session, clock=system.clock, actor="test", bank=bank,
                              entries=banks.entries_for_hashes(hash_bytes(data)), provenance=Provenance.ORDER)


def test_no_cut_of_a_banked_file_is_allowed(system: System) -> None:
    files = {"jpeg": jpeg(photo("astronaut"), 90), "png": png(photo("coffee").resize((256, 170)))}
    _bank(system, *files.values())
    tally: dict[str, dict[str, int]] = {}
    for kind, data in files.items():
        for percent in range(1, 100):
            cut = data[: len(data) * (100 - percent) // 100]
            result = system.gateway.scan_bytes(cut)
            assert result.verdict != Verdict.ALLOW, (kind, percent, result)
            if result.verdict == Verdict.REVIEW:
                assert result.unchecked is not None and result.matches == []
            key = "blocked" if result.verdict == Verdict.BLOCK else f"review ({result.unchecked})"
            tally.setdefault(kind, {}).setdefault(key, 0)
            tally[kind][key] += 1
        # The case from the issue: the last two bytes cut off still matches the banked original.
        assert system.gateway.scan_bytes(data[:-2]).verdict == Verdict.BLOCK
    print("\n", tally)


@pytest.mark.parametrize("setting", ["allow", "review", "refuse"])
def test_the_answer_for_an_unchecked_file_is_a_setting(settings: Settings, system: System, setting: str) -> None:
    configured = build_system(settings.model_copy(update={"unchecked_uploads": setting}), clock=system.clock,
                              engine=system.db.engine, bind=system.db.sessions.kw["bind"])
    garbage = b"\xff\xd8\xff\xe0" + b"not really a picture" * 50
    result = configured.gateway.scan_bytes(garbage)
    assert result.verdict == UNCHECKED_VERDICTS[setting]
    assert result.unchecked is not None and result.unchecked.startswith("unhashable")
    whole = jpeg(photo("rocket"))
    assert configured.gateway.scan_bytes(whole).verdict == Verdict.ALLOW  # a whole, unknown picture is fine
    assert configured.gateway.scan_bytes(whole).unchecked is None
