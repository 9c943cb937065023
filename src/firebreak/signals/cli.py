"""`firebreak hash FILE...`: print every signal of each file, for operators and for checking a bank entry.

Registered by the main CLI as `app.command("hash")(hash_command)`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from firebreak.signals.decode import DEFAULT_LIMITS, DecodeLimits
from firebreak.signals.errors import UnhashableMedia
from firebreak.signals.hashing import MediaHashes, hash_file
from firebreak.signals.pdq import DIHEDRAL_NAMES


def hash_command(
    files: Annotated[list[Path], typer.Argument(help="Image or video files to hash.", show_default=False)],
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON object per file (JSON lines) instead of tables.")
    ] = False,
    max_bytes: Annotated[int, typer.Option(min=1, help="Refuse files larger than this.")] = DEFAULT_LIMITS.max_bytes,
    max_pixels: Annotated[
        int, typer.Option(min=1, help="Refuse pictures or frames with more pixels.")
    ] = DEFAULT_LIMITS.max_pixels,
    max_frames: Annotated[
        int, typer.Option(min=1, help="Refuse videos with more decoded frames.")
    ] = DEFAULT_LIMITS.max_frames,
    max_seconds: Annotated[
        float, typer.Option(min=0.001, help="Give up decoding one file after this long.")
    ] = DEFAULT_LIMITS.max_seconds,
) -> None:
    """Print the SHA-256, MD5, PDQ (with rotations and mirrors) and vPDQ frames of each file."""
    limits = DecodeLimits(max_bytes=max_bytes, max_pixels=max_pixels, max_frames=max_frames, max_seconds=max_seconds)
    console = Console(highlight=False)
    # A 64-character hash must never be cut: rather let a narrow terminal wrap the line.
    console.width = max(console.width, _TABLE_WIDTH)
    failed = 0
    for path in files:
        try:
            hashes = hash_file(path, limits)
            if json_output:
                typer.echo(json.dumps({"file": str(path), **hashes.to_json()}))
            else:
                console.print(_table(path, hashes))
        except UnhashableMedia as exc:
            failed += 1
            _report_failure(path, exc.reason.value, exc.message, json_output=json_output, label="unhashable")
        except OSError as exc:
            failed += 1
            _report_failure(path, "unreadable", exc.strerror or str(exc), json_output=json_output, label="unreadable")
        except Exception as exc:  # a bug in Firebreak: still one line, never a traceback
            failed += 1
            _report_failure(path, "internal_error", repr(exc), json_output=json_output, label="internal error")
    if failed:
        raise typer.Exit(code=1)


def _report_failure(path: Path, reason: str, message: str, *, json_output: bool, label: str) -> None:
    if json_output:
        typer.echo(json.dumps({"file": str(path), "error": {"reason": reason, "message": message}}))
    elif label == "unhashable":
        typer.echo(f"{path}: unhashable: {reason} ({message})", err=True)
    else:
        typer.echo(f"{path}: {label}: {message}", err=True)


_TABLE_WIDTH = 90
_SHORT_NAMES = dict(
    zip(
        DIHEDRAL_NAMES,
        ("pdq", "pdq rot90", "pdq rot180", "pdq rot270", "pdq flip x", "pdq flip y", "pdq flip +1", "pdq flip -1"),
        strict=True,
    )
)


def _table(path: Path, hashes: MediaHashes) -> Table:
    duration = f", {hashes.duration_seconds:g} s" if hashes.duration_seconds is not None else ""
    size = f"{hashes.width}x{hashes.height}{duration}"
    notes = [f"{hashes.kind.value} · {hashes.mime_type} · {size} · {hashes.size_bytes:,} bytes"]
    table = Table(
        title=Text(str(path)),  # a path is not rich markup
        title_justify="left",
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    table.add_column("signal", no_wrap=True)
    table.add_column("value", no_wrap=True, min_width=64)
    table.add_column("quality", justify="right", no_wrap=True)
    table.add_row("sha256", hashes.sha256, "")
    table.add_row("md5", hashes.md5, "")
    table.add_row("pdq", hashes.pdq.value, _quality(hashes.pdq.quality, hashes.pdq.matchable))
    for name, value in zip(DIHEDRAL_NAMES[1:], hashes.dihedral[1:], strict=False):  # images only
        table.add_row(_SHORT_NAMES[name], value, "")
    if hashes.dihedral:
        notes.append("rotated and mirrored PDQ are looked up when querying, never stored")
    for frame in hashes.vpdq:
        table.add_row(f"vpdq {frame.timestamp:.1f}s", frame.pdq, _quality(frame.quality, frame.matchable))
    if not hashes.pdq.matchable or any(not frame.matchable for frame in hashes.vpdq):
        notes.append("* quality below 50: stored, never used to match")
    table.caption = "\n".join(notes)
    return table


def _quality(quality: int, matchable: bool) -> str:
    return str(quality) if matchable else f"{quality}*"
