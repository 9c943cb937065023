"""Settings: embedded defaults, environment, TOML file, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from firebreak.core.config import ConfigError, load_settings


def test_defaults_need_nothing() -> None:
    s = load_settings(environ={})
    assert s.effective_database_url.startswith("sqlite:///") and s.effective_database_url.endswith("var/firebreak.db")
    assert s.effective_queue_url.endswith("var/queue.db")
    assert s.embedded_worker is True


def test_environment_switches_to_postgres() -> None:
    s = load_settings(environ={"FIREBREAK_DATABASE_URL": "postgresql+psycopg://u@h/db"})
    assert s.effective_database_url == "postgresql+psycopg://u@h/db"


def test_toml_file_and_env_precedence(tmp_path: Path) -> None:
    f = tmp_path / "fb.toml"
    f.write_text('[firebreak]\nport = 9000\nplatform_name = "Chatty"\n')
    s = load_settings(f, environ={"FIREBREAK_PORT": "9100"})
    assert s.port == 9100 and s.platform_name == "Chatty"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"FIREBREAK_PORT": "eighty"}, "FIREBREAK_PORT"),
        ({"FIREBREAK_PORT": "70000"}, "FIREBREAK_PORT"),
        ({"FIREBREAK_DATABASE_URL": "mysql://x"}, "FIREBREAK_DATABASE_URL"),
        ({"FIREBREAK_WORKER_THREADS": "0"}, "FIREBREAK_WORKER_THREADS"),
        ({"FIREBREAK_NO_SUCH_THING": "1"}, "FIREBREAK_NO_SUCH_THING: unknown setting"),
    ],
)
def test_bad_setting_is_one_line_naming_it(env: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(environ=env)
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


def test_bad_toml_is_named(tmp_path: Path) -> None:
    f = tmp_path / "bad.toml"
    f.write_text("port = = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(f, environ={})
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "missing.toml", environ={})


def test_second_moderator_decisions_are_named_and_checked() -> None:
    from firebreak.core.config import ConfigError, load_settings

    assert load_settings(environ={}).second_moderator_for == ["suspend_chat"]
    assert load_settings(environ={"FIREBREAK_SECOND_MODERATOR_FOR": "suspend_chat, withdraw_entry"}
                         ).second_moderator_for == ["suspend_chat", "withdraw_entry"]
    assert load_settings(environ={"FIREBREAK_SECOND_MODERATOR_FOR": ""}).second_moderator_for == []
    for raw, words in (('["suspend_everything"]', "'suspend_everything' is not a high-impact decision"),
                       ("[broken", "comma-separated")):
        try:
            load_settings(environ={"FIREBREAK_SECOND_MODERATOR_FOR": raw})
        except ConfigError as exc:
            assert "FIREBREAK_SECOND_MODERATOR_FOR" in str(exc) and words in str(exc)
        else:
            raise AssertionError(f"{raw!r} was accepted")
