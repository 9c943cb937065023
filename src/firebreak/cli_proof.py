"""Commands for what proves what the platform knew and did: evidence (``firebreak evidence ...``), statements of
reasons to the EU Transparency Database (``firebreak statements ...``) and transparency reports
(``firebreak report``). Registered on the main command by ``firebreak.cli``."""

from __future__ import annotations

import getpass
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, NoReturn

import typer
from rich.console import Console

if TYPE_CHECKING:
    from firebreak.bootstrap.system import System

SystemOpener = Callable[[Path | None], "System"]
ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="TOML settings file (else FIREBREAK_CONFIG_FILE).")
]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why: it is recorded in the audit log with your name.")]
DateOption = Annotated[datetime | None, typer.Option(formats=["%Y-%m-%d"], help="A day, YYYY-MM-DD.")]

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def cli_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def day_start(value: datetime | date | None) -> datetime | None:
    if value is None:
        return None
    day = value.date() if isinstance(value, datetime) else value
    return datetime.combine(day, time(), tzinfo=UTC)


@contextmanager
def evidence_errors() -> Iterator[None]:
    from firebreak.evidence.sealing import EvidenceKeyError
    from firebreak.evidence.service import EvidenceError

    try:
        yield
    except (EvidenceError, EvidenceKeyError) as exc:
        fail(str(exc))


@contextmanager
def replaced_atomically(path: Path) -> Iterator[Path]:
    """A temporary file next to ``path``, renamed to it only if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def register(app: typer.Typer, open_system: SystemOpener, statements_app: typer.Typer) -> None:
    """Add ``evidence``, ``report`` and the Transparency Database commands of ``statements`` (its group exists)."""
    evidence_app = typer.Typer(help="Preserved evidence, legal holds, purges and signed evidence packages.",
                               no_args_is_help=True)
    app.add_typer(evidence_app, name="evidence")

    @evidence_app.command("package")
    def evidence_package(
        out_path: Annotated[Path, typer.Option("--out", help="Where to write the zip.")],
        reason: ReasonOption,
        order: Annotated[str | None, typer.Option("--order", help="An order's tracking id.")] = None,
        case: Annotated[str | None, typer.Option("--case", help="A case reference.")] = None,
        config: ConfigOption = None,
    ) -> None:
        """Export a signed evidence package for an order or a case."""
        system = open_system(config)
        with evidence_errors(), replaced_atomically(out_path) as tmp, tmp.open("wb") as fh:
            written = system.evidence.package(actor=cli_actor(), reason=reason, order=order, case=case, out=fh,
                                              name=out_path.name)
        out.print(f"wrote {out_path}: package {written.package_id}, {written.files} files, {written.bytes:,} bytes; "
                  f"signing key SHA-256 {written.fingerprint}")

    @evidence_app.command("verify")
    def evidence_verify(
        package: Annotated[Path, typer.Argument(help="The package (zip) to check.")],
        public_key: Annotated[Path | None, typer.Option("--public-key", help="The platform's published public "
                                                        "key (PEM); without it, the package's own key is used.")]
        = None,
    ) -> None:
        """Check a package offline: names every file altered, missing or added, and a wrong signature."""
        from firebreak.evidence.package import verify_package

        if not package.is_file():
            fail(f"{package}: no such file")
        key = None
        if public_key is not None:
            if not public_key.is_file():
                fail(f"--public-key {public_key}: no such file")
            key = public_key.read_bytes()
        report = verify_package(package, public_key_pem=key)
        if not report.ok:
            for problem in report.problems:
                err.print(str(problem), highlight=False, markup=False)
            fail(f"{package}: {len(report.problems)} problem(s); do not rely on this package")
        scope = report.scope
        out.print(f"{package}: intact and signed. Package {report.package_id}, {scope.get('kind')} "
                  f"{scope.get('reference')}, exported {report.created_at} by {report.created_by} "
                  f"({report.reason}); {report.files_checked} files, {report.custody_events} custody events; audit "
                  f"head #{report.audit_head.get('seq')} {report.audit_head.get('hash')}; signing key SHA-256 "
                  f"{report.fingerprint}" + ("" if key else " (compare it with the published fingerprint)"),
                  highlight=False)

    @evidence_app.command("public-key")
    def evidence_public_key(config: ConfigOption = None) -> None:
        """Print the public key that signs evidence packages, to publish or hand to an authority."""
        sys.stdout.write(open_system(config).evidence.public_key_pem().decode())

    @evidence_app.command("show")
    def evidence_show(uid: str, reason: ReasonOption, config: ConfigOption = None) -> None:
        """Print a preserved record's context (JSON); the access is audited with your reason."""
        system = open_system(config)
        with evidence_errors():
            opened = system.evidence.open(actor=cli_actor(), uid=uid, reason=reason)
        sys.stdout.write(json.dumps(opened.context, indent=2, ensure_ascii=False) + "\n")

    @evidence_app.command("records")
    def evidence_records(order: Annotated[str | None, typer.Option("--order")] = None,
                         case: Annotated[str | None, typer.Option("--case")] = None,
                         config: ConfigOption = None) -> None:
        """List what is preserved about an order or a case (no content)."""
        system = open_system(config)
        with evidence_errors():
            rows = system.evidence.records(order=order, case=case)
        for row in rows:
            held = "; held: " + ", ".join(row["held_by"]) if row["held_by"] else ""
            out.print(f"{row['uid']}  {row['status']:<7} {row['trigger']:<20} {row['category'] or '-':<18} "
                      f"kept until {row['retain_until']:%Y-%m-%d}{held}" if row["retain_until"] else
                      f"{row['uid']}  {row['status']}", highlight=False)
        if not rows:
            out.print("nothing preserved")

    @evidence_app.command("hold")
    def evidence_hold(
        scope: Annotated[str, typer.Option("--scope", help="item, account, chat, order or case")],
        subject: Annotated[str, typer.Option("--subject", help="The id (item, account, chat), tracking id or "
                                             "case reference.")],
        reason: ReasonOption,
        days: Annotated[int | None, typer.Option(min=1, max=3650)] = None,
        config: ConfigOption = None,
    ) -> None:
        """Place a legal hold: what is preserved about the subject survives purges until the hold ends."""
        from firebreak.evidence.models import HoldScope

        try:
            hold_scope = HoldScope(scope)
        except ValueError:
            fail(f"--scope: one of {', '.join(s.value for s in HoldScope)}", 2)
        system = open_system(config)
        with evidence_errors():
            hold = system.evidence.place_hold(actor=cli_actor(), scope=hold_scope, subject=subject, reason=reason,
                                              days=days)
        out.print(f"hold {hold.id} on {hold.label} until {hold.expires_at:%Y-%m-%d %H:%M} UTC")

    @evidence_app.command("extend-hold")
    def evidence_extend(hold_id: int, reason: ReasonOption,
                        days: Annotated[int | None, typer.Option(min=1, max=3650)] = None,
                        config: ConfigOption = None) -> None:
        """Extend a legal hold by another period (90 days unless --days)."""
        system = open_system(config)
        with evidence_errors():
            hold = system.evidence.extend_hold(actor=cli_actor(), hold_id=hold_id, reason=reason, days=days)
        out.print(f"hold {hold.id} on {hold.label} now until {hold.expires_at:%Y-%m-%d %H:%M} UTC "
                  f"({len(hold.extensions)} extension(s))")

    @evidence_app.command("release-hold")
    def evidence_release(hold_id: int, reason: ReasonOption, config: ConfigOption = None) -> None:
        """End a legal hold; its evidence is purged when its own retention has run out."""
        system = open_system(config)
        with evidence_errors():
            hold = system.evidence.release_hold(actor=cli_actor(), hold_id=hold_id, reason=reason)
        out.print(f"hold {hold.id} on {hold.label} released")

    @evidence_app.command("holds")
    def evidence_holds(config: ConfigOption = None) -> None:
        """List legal holds."""
        for hold, active in open_system(config).evidence.holds():
            state = "in force" if active else ("released" if hold.released_at else "expired")
            out.print(f"{hold.id:>5}  {state:<8} {hold.scope.value:<7} {hold.label}  until "
                      f"{hold.expires_at:%Y-%m-%d}  ({hold.reason})", highlight=False)

    @evidence_app.command("purge")
    def evidence_purge(config: ConfigOption = None) -> None:
        """Purge now what retention allows (the workers also do it daily)."""
        run = open_system(config).evidence.purge()
        out.print(f"{run.purged} records purged, {run.kept_by_hold} kept by a legal hold")

    @evidence_app.command("purges")
    def evidence_purges(since: Annotated[datetime | None, typer.Option("--from", formats=["%Y-%m-%d"])] = None,
                        until: Annotated[datetime | None, typer.Option("--to", formats=["%Y-%m-%d"],
                                                                       help="Last day included.")] = None,
                        config: ConfigOption = None) -> None:
        """List what was purged, when and under which rule, each checked against the audit log."""
        system = open_system(config)
        end = day_start(until)
        checks = system.evidence.purges(since=day_start(since), until=end + timedelta(days=1) if end else None)
        bad = 0
        for check in checks:
            p = check.purge
            state = "verified" if check.problem is None else f"PROBLEM: {check.problem}"
            bad += check.problem is not None
            out.print(f"{p.purged_at:%Y-%m-%d %H:%M}  {p.record_uid}  {p.rule}  media {p.media_sha256 or '-'}"
                      f"{' (bytes deleted)' if p.media_deleted else ''}  audit #{p.audit_seq}  {state}",
                      highlight=False)
        out.print(f"{len(checks)} purges, {len(checks) - bad} verified")
        if bad:
            raise typer.Exit(1)

    @evidence_app.command("rotate-keys")
    def evidence_rotate(config: ConfigOption = None) -> None:
        """Re-wrap every data key under the current key-encryption key (the first of FIREBREAK_EVIDENCE_KEYS).
        Each is checked to open before it is kept; a run that stops can be run again."""
        system = open_system(config)
        with evidence_errors():
            run = system.evidence.rotate_keys(actor=cli_actor())
        left = ", ".join(f"{n} under {k}" for k, n in run.left.items()) or "none"
        out.print(f"re-wrapped {run.rewrapped_records} records and {run.rewrapped_media} files under "
                  f"{run.current}; left under other keys: {left}")

    @statements_app.command("submit")
    def statements_submit(config: ConfigOption = None) -> None:
        """Send pending statements of reasons to the DSA Transparency Database now (the workers also do it)."""
        system = open_system(config)
        if not system.statements.enabled:
            fail("no Transparency Database configured (FIREBREAK_DSA_TDB_URL and FIREBREAK_DSA_TDB_TOKEN)", 2)
        report = system.statements.submit()
        if report is None:
            fail("no Transparency Database configured", 2)
        out.print(f"{report.accepted} accepted, {report.already_accepted} already accepted, {report.refused} "
                  f"refused, {report.invalid} invalid (not sent), {report.recovered} resent after a stop; "
                  f"{report.requests} requests")

    @statements_app.command("status")
    def statements_status(config: ConfigOption = None) -> None:
        """How many statements are pending, in flight, accepted, refused or invalid."""
        counts = open_system(config).statements.counts()
        out.print(", ".join(f"{n} {k.replace('_', ' ')}" for k, n in sorted(counts.items())) or "no statements")

    @app.command("report")
    def report(
        since: Annotated[datetime, typer.Option("--from", formats=["%Y-%m-%d"], help="First day, YYYY-MM-DD.")],
        until: Annotated[datetime, typer.Option("--to", formats=["%Y-%m-%d"], help="Last day included.")],
        fmt: Annotated[str, typer.Option("--format", help="html, csv, json or xlsx")] = "html",
        template: Annotated[str, typer.Option("--template", help="firebreak (the full report), eu (the DSA "
                                              "harmonised template, CSV files) or kr (Korea's yearly report, "
                                              "html or csv)")] = "firebreak",
        out_path: Annotated[Path | None, typer.Option("--out", help="File (or, for --template eu, folder); "
                                                      "standard output if omitted.")] = None,
        config: ConfigOption = None,
    ) -> None:
        """A transparency report for a period, from Firebreak's records."""
        from firebreak.transparency_reports import writers
        from firebreak.transparency_reports.flows import ReportError

        start = datetime.combine(since.date(), time(), tzinfo=UTC)
        end = datetime.combine(until.date(), time(), tzinfo=UTC)
        if end < start:
            fail("--to is before --from", 2)
        if fmt not in writers.FORMATS:
            fail(f"--format: one of {', '.join(writers.FORMATS)}", 2)
        if template not in ("firebreak", "eu", "kr"):
            fail("--template: firebreak, eu or kr", 2)
        system = open_system(config)
        try:
            categories = writers.KR_CATEGORIES if template == "kr" else None
            built = system.transparency_reports.build(start=start, end=end + timedelta(days=1), categories=categories)
            if template == "eu":
                if out_path is None:
                    fail("--template eu writes several CSV files: give a folder with --out", 2)
                written = writers.write_eu_template(built, out_path)
                out.print(f"wrote {len(written)} CSV files to {out_path}; fields left for you to fill are listed "
                          f"in {writers.EU_OPERATOR_FILE}")
                return
            fmt_checked: Literal["html", "csv", "json", "xlsx"] = fmt  # type: ignore[assignment]
            data = (writers.korean(built, fmt_checked) if template == "kr" else writers.render(built, fmt_checked))
        except (ReportError, ValueError) as exc:
            fail(str(exc), 2)
        if out_path is None:
            if fmt == "xlsx":
                fail("--format xlsx is binary: give a file with --out", 2)
            sys.stdout.buffer.write(data)
            return
        with replaced_atomically(out_path) as tmp:
            tmp.write_bytes(data)
        out.print(f"wrote {out_path} ({len(data):,} bytes)")
