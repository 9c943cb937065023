"""`firebreak selfhash`: the hashing page in a terminal. It prints exactly what would be sent (hashes and choices,
never a file or its name), equal to the browser library's hashes, and can send them to a Firebreak."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from firebreak.cli import app
from firebreak.reports.schemas import HashesIn
from tests.reports.test_browser_hashing import reference_pdq
from tests.signals.samples import encode, photo, scene_frames, video


@pytest.fixture
def files(tmp_path: Path) -> list[Path]:
    made = {"my holiday photo.jpg": encode(photo("coffee"), "JPEG", quality=90),
            "secret-name.png": encode(photo("astronaut"), "PNG"),
            "clip.mp4": video(scene_frames(["rocket", "camera"], fps=5), fps=5),
            "notes.txt": b"not a picture at all\n"}
    paths = []
    for name, data in made.items():
        (tmp_path / name).write_bytes(data)
        paths.append(tmp_path / name)
    return paths


def test_prints_only_hashes_equal_to_the_references(files: list[Path]) -> None:
    result = CliRunner().invoke(app, ["selfhash", *map(str, files), "--category", "sexual_deepfake"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    HashesIn.model_validate(body)  # exactly the API's shape: it refuses any other field
    assert set(body) == {"hashes", "category", "reporter", "contact", "email_updates", "language"}
    assert body["category"] == "sexual_deepfake" and body["contact"] == {}
    photo_, png_, clip, notes = body["hashes"]
    for path, got in zip(files, body["hashes"], strict=True):
        data = path.read_bytes()
        assert got["sha256"] == hashlib.sha256(data).hexdigest()
        assert got["md5"] == hashlib.md5(data).hexdigest()  # noqa: S324 - a look-up key
    for path, got in ((files[0], photo_), (files[1], png_)):
        assert got["kind"] == "image"
        assert (got["pdq"]["hash"], got["pdq"]["quality"]) == reference_pdq(path.read_bytes())
    assert clip["kind"] == "video" and [f["time"] for f in clip["frames"]] == [0.0, 1.0]
    assert notes == {"kind": "other", "sha256": hashlib.sha256(b"not a picture at all\n").hexdigest(),
                     "md5": hashlib.md5(b"not a picture at all\n").hexdigest(), "pdq": None}  # noqa: S324
    assert "frames" not in photo_
    for name in ("holiday", "secret-name", "clip", "notes", str(files[0].parent)):
        assert name not in result.stdout  # file names never leave the computer
    assert "Nothing was sent" in result.stderr and "no PDQ" in result.stderr


def test_bad_input_gets_one_clear_line(files: list[Path], tmp_path: Path) -> None:
    missing = CliRunner().invoke(app, ["selfhash", str(tmp_path / "nope.jpg")])
    assert missing.exit_code == 1 and "nope.jpg: cannot be read" in missing.stderr
    bad = CliRunner().invoke(app, ["selfhash", str(files[0]), "--category", "gossip"])
    assert bad.exit_code == 2 and "gossip" in bad.output
    email = CliRunner().invoke(app, ["selfhash", str(files[0]), "--email", "not-an-address"])
    assert email.exit_code == 2 and "contact.email" in email.stderr and "Traceback" not in email.output
