"""`firebreak hash`: every signal per file, one clear line per bad file, exit status 1 only if one failed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from firebreak.signals.cli import hash_command
from firebreak.signals.hashing import hash_bytes
from tests.signals.samples import encode, photo, scene_frames, video


@pytest.fixture
def app() -> typer.Typer:
    """Registered the way the main CLI does it, so `hash` is a sub-command."""
    app = typer.Typer()
    app.command("hash")(hash_command)

    @app.command("version")
    def version() -> None:
        typer.echo("test")

    return app


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    made = {
        # Named by what people call them, not by what they are: the content decides.
        "photo": (tmp_path / "holiday.png", encode(photo("coffee"), "JPEG", quality=90)),
        "clip": (tmp_path / "clip.mp4", video(scene_frames(["horse", "rocket"], fps=5), fps=5)),
        "text": (tmp_path / "notes.jpg", b"this is a shopping list, not a photo\n"),
        "cut": (tmp_path / "cut.jpg", encode(photo("coffee"), "JPEG")[:3000]),
    }
    for path, data in made.values():
        path.write_bytes(data)
    return {key: path for key, (path, _) in made.items()}


def run(app: typer.Typer, *args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["hash", *map(str, args)], terminal_width=200)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_prints_every_signal_of_good_files_and_exits_zero(app: typer.Typer, files: dict[str, Path]) -> None:
    code, out, err = run(app, files["photo"], files["clip"])
    assert code == 0 and err == ""
    photo_hashes = hash_bytes(files["photo"].read_bytes())
    clip_hashes = hash_bytes(files["clip"].read_bytes())
    for value in (photo_hashes.sha256, photo_hashes.md5, *photo_hashes.dihedral, clip_hashes.md5):
        assert value in out
    assert "image/jpeg" in out and "video/mp4" in out
    assert all(frame.pdq in out for frame in clip_hashes.vpdq)


def test_a_bad_file_is_one_clear_line_and_the_rest_still_print(app: typer.Typer, files: dict[str, Path]) -> None:
    code, out, err = run(app, files["text"], files["photo"], files["cut"])
    assert code == 1
    assert hash_bytes(files["photo"].read_bytes()).pdq.value in out
    lines = err.strip().splitlines()
    assert lines == [
        f"{files['text']}: unhashable: unsupported_format (not a supported image or video: text)",
        lines[1],
    ]
    assert lines[1].startswith(f"{files['cut']}: unhashable: truncated (")
    assert "Traceback" not in out + err


def test_json_lines(app: typer.Typer, files: dict[str, Path]) -> None:
    code, out, _ = run(app, "--json", files["photo"], files["clip"], files["text"])
    assert code == 1
    photo_line, clip_line, text_line = (json.loads(line) for line in out.strip().splitlines())
    expected = hash_bytes(files["photo"].read_bytes()).to_json()
    assert photo_line == {"file": str(files["photo"]), **expected}
    assert clip_line["kind"] == "video" and len(clip_line["vpdq"]) == 2
    assert text_line["error"]["reason"] == "unsupported_format"


def test_missing_files_and_limits(app: typer.Typer, files: dict[str, Path], tmp_path: Path) -> None:
    code, _, err = run(app, tmp_path / "gone.jpg")
    assert code == 1
    assert err.strip() == f"{tmp_path / 'gone.jpg'}: unreadable: No such file or directory"
    code, _, err = run(app, "--max-pixels", "1000", files["photo"])
    assert code == 1 and "unhashable: too_many_pixels" in err
    code, _, err = run(app, "--max-bytes", "100", files["photo"])
    assert code == 1 and "unhashable: too_large" in err
