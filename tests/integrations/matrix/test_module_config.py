"""The module's config checks and request signing, without a homeserver."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from synapse.module_api.errors import ConfigError

from firebreak.integrations.matrix.events import parse_mxc
from firebreak.integrations.matrix.synapse_module import FirebreakModule, _Signer
from firebreak.platform import signing

BASE = {"firebreak_url": "https://firebreak.example.org/", "integration": "matrix-main", "secret": "s3cret"}


def test_a_minimal_config_gets_the_documented_defaults() -> None:
    config = FirebreakModule.parse_config(dict(BASE))
    assert config.firebreak_url == "https://firebreak.example.org"
    assert config.secret == b"s3cret"
    assert (config.fail_open, config.timeout, config.scan_media, config.report_events, config.restrictions) == (
        True, 5.0, True, True, True)
    assert (config.event_attempts, config.event_retry_delay) == (6, 1.0)


def test_the_secret_can_come_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "firebreak.secret"
    path.write_text("from-a-file\n")
    config = FirebreakModule.parse_config({k: v for k, v in BASE.items() if k != "secret"} | {"secret_path": str(path)})
    assert config.secret == b"from-a-file"


@pytest.mark.parametrize(("change", "named"), [
    ({"firebreak_url": "firebreak.example.org"}, "firebreak_url"),
    ({"integration": " "}, "integration"),
    ({"secret": ""}, "secret"),
    ({"secret_path": "/nonexistent/secret"}, "secret"),
    ({"fail_open": "yes"}, "fail_open"),
    ({"timeout": 0}, "timeout"),
    ({"event_retry_delay": 0.2}, "event_retry_delay"),
    ({"event_attempts": 2.5}, "event_attempts"),
    ({"restriction_info_uri": "ftp://x"}, "restriction_info_uri"),
    ({"failopen": True}, "failopen"),
])
def test_config_errors_name_the_key(change: dict[str, object], named: str) -> None:
    config = {**BASE, **change}
    if "secret_path" in change:
        del config["secret"]
    with pytest.raises(ConfigError, match=named):
        FirebreakModule.parse_config(config)


def test_one_file_sent_twice_in_a_second_gets_two_signatures() -> None:
    signer = _Signer(b"s3cret")
    body = b"the same upload"
    first, second = signer.sign(body), signer.sign(body)
    assert first != second  # Firebreak refuses a signature it has seen
    now = datetime.now(UTC)
    for header in (first, second):
        signing.verify(b"s3cret", body, header, now)


@pytest.mark.parametrize("uri", ["mxc://localhost", "mxc:///abc", "http://localhost/abc", "mxc://a/b/c", ""])
def test_parse_mxc_refuses_what_is_not_an_mxc_uri(uri: str) -> None:
    with pytest.raises(ValueError, match="mxc"):
        parse_mxc(uri)
    assert parse_mxc("mxc://example.org/AbC") == ("example.org", "AbC")
