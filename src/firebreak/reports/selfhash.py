"""`firebreak selfhash FILE...`: what the hashing page does, in a terminal. The files are hashed on this computer and
the command prints exactly what would be sent: SHA-256, MD5 and PDQ of pictures, per-second PDQ of videos, and the
form's few choices. Never a file, never a file name. With ``--send URL`` it sends that to a Firebreak and prints the
case number, the PIN and the status link.

Registered by the main CLI as ``app.command("selfhash")(selfhash_command)``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from pydantic import ValidationError

from firebreak.reports.models import ReportCategory, ReporterRelation
from firebreak.reports.schemas import MAX_FILES, MAX_FRAMES, FileHashesIn, HashesIn
from firebreak.signals.decode import DEFAULT_LIMITS
from firebreak.signals.errors import UnhashableMedia
from firebreak.signals.hashing import hash_file

MAX_BYTES = 1024 ** 3  # as the browser library: 1 GiB per file
LIMITS = replace(DEFAULT_LIMITS, max_bytes=MAX_BYTES)


def file_hashes(path: Path) -> tuple[dict[str, Any], str | None]:
    """The hashes the page would send for one file, and a note when it has no PDQ. Raises OSError."""
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise OSError(f"{size:,} bytes is over the limit of {MAX_BYTES:,}")
    try:
        hashes = hash_file(path, LIMITS)
    except UnhashableMedia as exc:
        data = path.read_bytes()
        return ({"kind": "other", "sha256": hashlib.sha256(data).hexdigest(),
                 "md5": hashlib.md5(data, usedforsecurity=False).hexdigest(), "pdq": None},
                f"no PDQ ({exc.reason.value}); the exact hashes are complete")
    item: dict[str, Any] = {"kind": hashes.kind.value, "sha256": hashes.sha256, "md5": hashes.md5,
                            "pdq": {"hash": hashes.pdq.value, "quality": hashes.pdq.quality}}
    note = None
    if hashes.kind.value == "video":
        frames = [{"time": round(f.timestamp, 3), "hash": f.pdq, "quality": f.quality} for f in hashes.vpdq]
        if len(frames) > MAX_FRAMES:
            note = f"only the first {MAX_FRAMES} frames (one a second) are sent"
            frames = frames[:MAX_FRAMES]
        item["frames"] = frames
    checked = FileHashesIn.model_validate(item).model_dump(mode="json")
    if checked["frames"] is None:
        del checked["frames"]  # as the page sends it: frames only for videos
    return checked, note


def selfhash_command(
    files: Annotated[list[Path], typer.Argument(help="Pictures or videos to hash on this computer.",
                                                show_default=False)],
    category: Annotated[ReportCategory, typer.Option(help="What the pictures are.")] = ReportCategory.INTIMATE_IMAGE,
    reporter: Annotated[ReporterRelation, typer.Option(help="Who sends them.")] = ReporterRelation.DEPICTED,
    email: Annotated[str | None, typer.Option(help="An address for updates (optional).")] = None,
    language: Annotated[str, typer.Option(help="Language of the updates: en or ko.")] = "en",
    send: Annotated[str | None, typer.Option(
        help="Send the hashes to this Firebreak (its base URL) instead of only printing them.")] = None,
) -> None:
    """Hash files here and print exactly what the hashing page would send: hashes only, never the files."""
    if len(files) > MAX_FILES:
        typer.echo(f"at most {MAX_FILES} files at once", err=True)
        raise typer.Exit(code=2)
    hashes: list[dict[str, Any]] = []
    for path in files:
        try:
            item, note = file_hashes(path)
        except OSError as exc:
            typer.echo(f"{path}: cannot be read: {exc.strerror or exc}", err=True)
            raise typer.Exit(code=1) from None
        if note:
            typer.echo(f"{path}: {note}", err=True)
        hashes.append(item)
    body: dict[str, Any] = {"hashes": hashes, "category": category.value, "reporter": reporter.value,
                            "contact": {"email": email} if email else {}, "email_updates": bool(email),
                            "language": language}
    try:
        HashesIn.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        typer.echo(f"{'.'.join(map(str, first['loc'])) or 'input'}: {first['msg']}", err=True)
        raise typer.Exit(code=2) from None
    typer.echo(json.dumps(body, indent=2))
    if send is None:
        typer.echo("Nothing was sent. This is everything the hashing page would send (no file, no file name).",
                   err=True)
        return
    try:
        response = httpx.post(send.rstrip("/") + "/v1/victim-reports/hashes", json=body, timeout=30)
    except httpx.HTTPError as exc:
        typer.echo(f"could not reach {send}: {exc}", err=True)
        raise typer.Exit(code=1) from None
    if response.status_code != 201:
        typer.echo(f"{send} refused the hashes: HTTP {response.status_code} {response.text[:500]}", err=True)
        raise typer.Exit(code=1)
    answer = response.json()
    typer.echo(f"case number: {answer['case_number']}\nPIN: {answer['pin']}\nstatus link: {answer['status_url']}\n"
               "Keep these: they are shown once.", err=True)


__all__ = ["file_hashes", "selfhash_command"]
