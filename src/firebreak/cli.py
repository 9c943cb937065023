"""The `firebreak` command."""

from __future__ import annotations

import gc
import getpass
import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console

from firebreak import __version__
from firebreak.cli_proof import register as _register_proof
from firebreak.core.config import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from firebreak.bootstrap.system import System

app = typer.Typer(help="Firebreak: takedown orders in, every copy out, receipts back.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
users_app = typer.Typer(help="Staff accounts.", no_args_is_help=True)
jobs_app = typer.Typer(help="Background jobs.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(audit_app, name="audit")
app.add_typer(users_app, name="users")
app.add_typer(jobs_app, name="jobs")

out = Console(soft_wrap=True)
err = Console(stderr=True)

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="TOML settings file (else FIREBREAK_CONFIG_FILE).")
]


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def settings_or_exit(config: Path | None) -> Settings:
    try:
        return load_settings(config)
    except ConfigError as exc:
        fail(str(exc), 2)


@contextmanager
def clean_errors() -> Iterator[None]:
    """Turn expected operational failures into one line and a non-zero exit."""
    from firebreak.auth.service import AuthError
    from firebreak.core.db.session import DatabaseUnavailable
    from firebreak.schema.migrate import SchemaError

    try:
        yield
    except (ConfigError, DatabaseUnavailable, SchemaError, AuthError) as exc:
        fail(str(exc), 2 if isinstance(exc, ConfigError) else 1)


def _system(config: Path | None, *, check_schema: bool = True) -> System:
    from firebreak.bootstrap.system import build_system
    from firebreak.core.db.session import check_database
    from firebreak.schema.migrate import check_current

    settings = settings_or_exit(config)
    with clean_errors():
        system = build_system(settings)
        check_database(system.db.engine)
        if check_schema:
            check_current(system.db.engine)
    return system


@app.command()
def version() -> None:
    """Print the version."""
    out.print(f"firebreak {__version__}")


@app.command()
def serve(
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option(help="Listen address (default from settings).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (default from settings).")] = None,
    worker: Annotated[bool | None, typer.Option("--worker/--no-worker", help="Run the job worker in-process.")] = None,
    workers: Annotated[int, typer.Option(min=1, max=256, help="Web processes sharing the port. With more than one, "
                                         "the job worker and the SMTP listener run as their own processes "
                                         "(`firebreak jobs worker`, `firebreak smtp`).")] = 1,
) -> None:
    """Run the web service (API, portals, console) and, by default, the job worker."""
    if workers > 1:
        _serve_processes(config, host, port, worker, workers)
        return
    import uvicorn

    from firebreak.bootstrap.asgi import tune_process
    from firebreak.bootstrap.http import serving_app
    from firebreak.bootstrap.processes import Services

    system = _system(config)
    settings = system.settings
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    system.prepare()
    run_worker = settings.embedded_worker if worker is None else worker
    services = Services(system, worker=run_worker, smtp=settings.smtp_listen)
    try:
        services.start()
    except OSError as exc:
        fail(f"could not start: {exc} (is FIREBREAK_SMTP_LISTEN_PORT {settings.smtp_listen_port} free?)")
    app = serving_app(system)
    tune_process()
    # Everything built so far lives as long as the process: keep it out of the garbage collector's full passes,
    # which otherwise pause every request for 100+ ms (docs/benchmarks.md).
    gc.collect()
    gc.freeze()
    try:
        uvicorn.run(app, host=host or settings.host, port=port or settings.port, log_level=settings.log_level)
    finally:
        services.stop()
        system.close()


def _serve_processes(config: Path | None, host: str | None, port: int | None, worker: bool | None,
                     workers: int) -> None:
    """``serve --workers N``: check and prepare once here, then uvicorn starts N processes, each building its own
    system (``firebreak.bootstrap.asgi:create``)."""
    import os
    import shutil

    import uvicorn

    from firebreak.bootstrap.processes import prepare_index_snapshot

    if worker:
        fail("--worker runs the job worker inside a single web process; with --workers N, run "
             "`firebreak jobs worker` beside `serve`", 2)

    def prepare() -> Settings:
        """Checks and start-up writes, once; nothing built here outlives it (the supervisor stays small)."""
        system = _system(config)
        logging.basicConfig(level=system.settings.log_level.upper(),
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        system.prepare()
        with clean_errors():
            err.print(prepare_index_snapshot(system), highlight=False)
        system.close()
        return system.settings

    settings = prepare()
    if settings.smtp_listen:
        err.print("the hotline's SMTP listener is not run by `serve --workers N`: run `firebreak smtp`",
                  highlight=False)
    # Every web process writes its metrics here; /metrics, answered by any of them, adds them up.
    metrics_dir = settings.metrics_dir
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir.resolve())  # read by prometheus_client at import
    if config is not None:
        os.environ["FIREBREAK_CONFIG_FILE"] = str(config.resolve())
    uvicorn.run("firebreak.bootstrap.asgi:create", factory=True, host=host or settings.host,
                port=port or settings.port, workers=workers, log_level=settings.log_level)


@app.command()
def smtp(config: ConfigOption = None) -> None:
    """Run the hotline's SMTP listener on its own (beside `serve --workers N`)."""
    from firebreak.bootstrap.processes import Services

    system = _system(config)
    settings = system.settings
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    services = Services(system, worker=False, smtp=True, indexes=False)
    try:
        services.start()
    except OSError as exc:
        fail(f"could not start: {exc} (is FIREBREAK_SMTP_LISTEN_PORT {settings.smtp_listen_port} free?)")
    out.print(f"SMTP listener on {settings.smtp_listen_host}:{settings.smtp_listen_port} for "
              f"{settings.hotline_address}; Ctrl-C stops")
    _wait_for_signal()
    services.stop()
    system.close()


def _wait_for_signal() -> None:
    import signal
    import threading

    stop = threading.Event()
    handler: Callable[[int, Any], None] = lambda *_: stop.set()  # noqa: E731
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    stop.wait()


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption = None) -> None:
    """Create or migrate the schema to this version's head."""
    from firebreak.schema.migrate import upgrade

    system = _system(config, check_schema=False)
    with clean_errors():
        before, after = upgrade(system.db.engine)
    where = system.db.engine.url.render_as_string(hide_password=True)
    if before == after:
        out.print(f"database {where} is at the current schema ({after})")
    else:
        out.print(f"database {where} upgraded from {before or 'empty'} to {after}")


@db_app.command("current")
def db_current(config: ConfigOption = None) -> None:
    """Show the schema revision of the database and of this code."""
    from firebreak.schema.migrate import current_revision, head_revision

    system = _system(config, check_schema=False)
    out.print(f"database: {current_revision(system.db.engine) or 'empty'}; this Firebreak: {head_revision()}")


@audit_app.command("verify")
def audit_verify(
    config: ConfigOption = None,
    expect_head: Annotated[str | None, typer.Option(help="Head hash anchored earlier (`audit head`).")] = None,
) -> None:
    """Walk the hash chain; name the first event altered, deleted or inserted out of order."""
    from firebreak.audit.service import verify

    system = _system(config)
    with system.db.sessions() as session:
        result = verify(session=session, expected_head=expect_head)
    if not result.ok:
        fail(f"audit chain broken after {result.events_checked} good events: {result.problem}")
    out.print(f"audit chain intact: {result.events_checked} events, head {result.head_hash}")


@audit_app.command("head")
def audit_head(config: ConfigOption = None) -> None:
    """Print the chain head (sequence and hash) to anchor outside the database."""
    from firebreak.audit.service import head

    system = _system(config)
    with system.db.sessions() as session:
        seq, digest = head(session=session)
    out.print(json.dumps({"seq": seq, "hash": digest}))


@users_app.command("create")
def users_create(
    username: str,
    role: Annotated[str, typer.Option(help="admin, moderator, liaison or auditor")] = "admin",
    display_name: Annotated[str | None, typer.Option()] = None,
    email: Annotated[str | None, typer.Option()] = None,
    password_stdin: Annotated[bool, typer.Option(help="Read the password from standard input.")] = False,
    config: ConfigOption = None,
) -> None:
    """Create a staff account (the first admin, for instance). Asks for the password."""
    from firebreak.auth.models import Role
    from firebreak.auth.service import create_staff_user

    try:
        role_value = Role(role)
    except ValueError:
        fail(f"--role: {role!r} is not one of {', '.join(r.value for r in Role)}", 2)
    password = sys.stdin.readline().rstrip("\n") if password_stdin else getpass.getpass("Password: ")
    system = _system(config)
    with clean_errors(), system.db.transaction() as session:
        user = create_staff_user(session=session, clock=system.clock, actor="cli", username=username,
                                 password=password, role=role_value, display_name=display_name, email=email)
        out.print(f"created {role_value.value} {user.username} (id {user.id})")


@users_app.command("token")
def users_token(username: str, name: Annotated[str, typer.Option()] = "cli", config: ConfigOption = None) -> None:
    """Issue a personal API token for a staff member (printed once)."""
    from sqlalchemy import select

    from firebreak.auth.models import CredentialScope, StaffUser
    from firebreak.auth.service import issue_token

    system = _system(config)
    with clean_errors(), system.db.transaction() as session:
        user = session.scalar(select(StaffUser).where(StaffUser.username == username))
        if user is None:
            fail(f"no staff user {username!r}")
        issued = issue_token(session=session, clock=system.clock, actor="cli", name=name,
                             scope=CredentialScope.STAFF, staff_user_id=user.id)
        out.print(issued.token)


@jobs_app.command("worker")
def jobs_worker(config: ConfigOption = None) -> None:
    """Run a stand-alone job worker (for deployments with many worker processes)."""
    from firebreak.bootstrap.processes import Services

    system = _system(config)
    logging.basicConfig(level=system.settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    services = Services(system, worker=True, smtp=False)
    services.start()
    out.print(f"worker running with {system.settings.worker_threads} threads; Ctrl-C stops")
    _wait_for_signal()
    services.stop()
    system.close()


@jobs_app.command("ping")
def jobs_ping(
    tag: str = "ping",
    hold_seconds: Annotated[float, typer.Option(min=0, max=3600, help="How long the job holds before writing.")] = 0,
    config: ConfigOption = None,
) -> None:
    """Queue a job that writes an audit event when a worker runs it."""
    system = _system(config)
    task_id = system.runner.submit("audit.ping", {"tag": tag, "hold_seconds": hold_seconds})
    out.print(f"queued audit.ping {tag!r} as task {task_id}")


def main() -> None:
    app()


index_app = typer.Typer(help="The matching indexes and their snapshot files.", no_args_is_help=True)
app.add_typer(index_app, name="index")


@index_app.command("snapshot")
def index_snapshot(config: ConfigOption = None) -> None:
    """Write this host's index snapshot now (processes that start next map it instead of building their own)."""
    from firebreak.bootstrap.processes import prepare_index_snapshot

    system = _system(config)
    with clean_errors():
        out.print(prepare_index_snapshot(system), highlight=False)
    system.close()


@index_app.command("status")
def index_status(config: ConfigOption = None) -> None:
    """Show this host's snapshot files and the change log."""
    import time

    from sqlalchemy import func, select

    from firebreak.matching.index import IndexFormatError, read_info
    from firebreak.matching.models import IndexChange
    from firebreak.matching.snapshots import BANK_FILE, MEDIA_FILE

    system = _system(config)
    with system.db.sessions() as session:
        newest = session.scalar(select(func.max(IndexChange.seq))) or 0
        kept = session.scalar(select(func.count()).select_from(IndexChange)) or 0
    out.print(f"change log: newest position {newest}, {kept} changes kept")
    folder = system.settings.effective_index_dir
    for name in (BANK_FILE, MEDIA_FILE):
        path = folder / name
        try:
            info = read_info(path)
        except FileNotFoundError:
            out.print(f"{path}: none yet")
            continue
        except IndexFormatError as exc:
            out.print(f"{path}: unusable: {exc}")
            continue
        age = time.time() - info.written_at
        out.print(f"{path}: {info.count} entries, {info.n_sub} substrings of {info.bits} bits, log position "
                  f"{info.log_seq} ({newest - info.log_seq} changes behind), written {age:.0f} s ago, "
                  f"{info.size / 1e6:.1f} MB")


integrations_app = typer.Typer(help="Platform integrations (sandbox, webhook, matrix).", no_args_is_help=True)
banks_app = typer.Typer(help="Banks of known items.", no_args_is_help=True)
app.add_typer(integrations_app, name="integrations")
app.add_typer(banks_app, name="banks")


@integrations_app.command("add")
def integrations_add(
    name: str,
    adapter: Annotated[str, typer.Option(help="sandbox, webhook or matrix")],
    setting: Annotated[list[str] | None, typer.Option("--set", help="adapter setting KEY=VALUE (repeatable)")] = None,
    config: ConfigOption = None,
) -> None:
    """Connect a platform. Prints the shared secret for signed calls once."""
    from sqlalchemy import select

    from firebreak.audit.service import record
    from firebreak.core.names import name_key
    from firebreak.platform.models import PlatformIntegration
    from firebreak.platform.registry import factories

    if adapter not in factories():
        fail(f"--adapter: {adapter!r} is not one of {', '.join(sorted(factories()))}", 2)
    values: dict[str, Any] = {}
    for item in setting or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            fail(f"--set {item!r}: expected KEY=VALUE", 2)
        values[key] = [v for v in value.split(",") if v] if key.endswith("_prefixes") else value
    system = _system(config)
    with system.db.transaction() as session:
        taken = session.scalar(select(PlatformIntegration.name).where(PlatformIntegration.name_key == name_key(name)))
        if taken is not None:  # whatever the case (core.names)
            fail(f"an integration named {taken!r} exists already")
        integration = PlatformIntegration(name=name, adapter=adapter, config=values, created_at=system.clock.now())
        session.add(integration)
        session.flush()
        secret = system.secrets.new_secret(integration)
        record(session=session, clock=system.clock, actor="cli", action="integration.created",
               object_type="integration", object_id=integration.id, data={"name": name, "adapter": adapter})
    out.print(f"integration {name} ({adapter}) created; shared secret (shown once): {secret}")


@integrations_app.command("token")
def integrations_token(name: str, label: Annotated[str, typer.Option("--name")] = "platform",
                       config: ConfigOption = None) -> None:
    """Issue an API token for a platform integration (Bearer auth for /v1/scan and /v1/events); printed once."""
    from sqlalchemy import select

    from firebreak.auth.models import CredentialScope
    from firebreak.auth.service import issue_token
    from firebreak.platform.models import PlatformIntegration

    system = _system(config)
    with clean_errors(), system.db.transaction() as session:
        integration = session.scalar(select(PlatformIntegration).where(PlatformIntegration.name == name))
        if integration is None:
            fail(f"no integration named {name!r}")
        issued = issue_token(session=session, clock=system.clock, actor="cli", name=label,
                             scope=CredentialScope.PLATFORM, integration_id=integration.id)
        out.print(issued.token)


@banks_app.command("create")
def banks_create(
    name: str,
    action: Annotated[str, typer.Option(help="block, remove or review")] = "review",
    distance: Annotated[int, typer.Option(min=0, max=64, help="PDQ distance threshold")] = 31,
    config: ConfigOption = None,
) -> None:
    """Create a bank."""
    from pydantic import ValidationError

    from firebreak.banks.schemas import BankCreate
    from firebreak.banks.service import BankError, create_bank

    try:
        data = BankCreate(name=name, action=action, pdq_distance=distance)
    except ValidationError as exc:
        fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()), 2)
    system = _system(config)
    try:
        with system.db.transaction() as session:
            bank = create_bank(session=session, clock=system.clock, actor="cli", data=data)
            out.print(f"bank {bank.name} created (action {bank.action.value}, distance {bank.pdq_distance})")
    except BankError as exc:
        fail(str(exc))


@banks_app.command("import")
def banks_import(
    name: str,
    file: Path,
    fmt: Annotated[str, typer.Option("--format", help="csv, te or stopncii")] = "csv",
    config: ConfigOption = None,
) -> None:
    """Import a hash list; bad lines are reported by number and the good ones imported."""
    from firebreak.banks.io import import_entries
    from firebreak.banks.service import BankError, get_bank

    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{file}: {exc}")
    system = _system(config)
    try:
        with system.db.transaction() as session:
            report = import_entries(session=session, clock=system.clock, actor="cli",
                                    bank=get_bank(session=session, name=name), fmt=fmt, text=text,
                                    source_name=file.name)
    except BankError as exc:
        fail(str(exc))
    for error in report.errors[:50]:
        err.print(f"{file}:{error.line}: {error.message}", highlight=False)
    if len(report.errors) > 50:
        err.print(f"... and {len(report.errors) - 50} more bad lines")
    out.print(f"{report.added} added, {report.already_present} already present, {report.withdrawn} withdrawn, "
              f"{len(report.errors)} bad lines")


@banks_app.command("export")
def banks_export(
    name: str,
    fmt: Annotated[str, typer.Option("--format", help="csv, te or stopncii")] = "csv",
    config: ConfigOption = None,
) -> None:
    """Print a bank's active entries."""
    from firebreak.banks.io import export_entries
    from firebreak.banks.service import BankError, get_bank

    system = _system(config)
    try:
        with system.db.sessions() as session:
            sys.stdout.write(export_entries(session=session, bank=get_bank(session=session, name=name), fmt=fmt))
    except BankError as exc:
        fail(str(exc))


@banks_app.command("rehash")
def banks_rehash(
    background: Annotated[bool, typer.Option("--background", help="Queue it for the workers instead.")] = False,
    config: ConfigOption = None,
) -> None:
    """Recompute stored PDQ hashes the current way (reference PDQ) from the encrypted files; resumable."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    system = _system(config)
    progress = system.banks.start_rehash()
    if background:
        out.print(f"queued: {progress.remaining} of {progress.total} media items to recompute; workers carry it out")
        return
    totals = {"changed": 0, "entries": 0, "unreadable": 0}
    with Progress(TextColumn("recomputing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err) as bar:
        task = bar.add_task("rehash", total=progress.remaining)

        def step(batch: Any) -> None:
            totals["changed"] += batch.changed
            totals["entries"] += batch.entries_changed
            totals["unreadable"] += batch.unreadable
            bar.update(task, advance=batch.examined)

        while not system.banks.rehash_step(budget_seconds=3600, on_batch=step):
            pass
        bar.update(task, completed=progress.remaining)
    out.print(f"done: {totals['changed']} media items changed, {totals['entries']} bank entries rewritten, "
              f"{totals['unreadable']} unreadable (left as they were). Every serving process picks the new values up "
              "within a second (the index change log).")


dkim_app = typer.Typer(help="DKIM: the platform's signing key, and keys pinned for authorities.", no_args_is_help=True)
app.add_typer(dkim_app, name="dkim")


@dkim_app.command("keygen")
def dkim_keygen(
    selector: Annotated[str, typer.Option(help="The selector (s=), e.g. fb2026")],
    domain: Annotated[str | None, typer.Option(help="The signing domain (d=); default: the hotline address's")] = None,
    key_file: Annotated[Path | None, typer.Option("--out", help="Where to write the private key "
                                                 "(default <data dir>/dkim/)")] = None,
    key_type: Annotated[str, typer.Option("--type", help="rsa (2048 bits) or ed25519")] = "rsa",
    config: ConfigOption = None,
) -> None:
    """Make the key Firebreak signs its mail with; prints the DNS record to publish and the settings to set."""
    import os
    import re

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    from firebreak.mail.dkim import dkim_txt_record

    settings = settings_or_exit(config)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}", selector):
        fail(f"--selector: {selector!r} is not a selector (letters, digits, - and _)", 2)
    domain = (domain or settings.hotline_address.rpartition("@")[2]).lower().rstrip(".")
    if key_type not in ("rsa", "ed25519"):
        fail(f"--type: {key_type!r} is not rsa or ed25519", 2)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048) if key_type == "rsa" \
        else ed25519.Ed25519PrivateKey.generate()
    path = key_file or settings.data_dir / "dkim" / f"{selector}.{domain}.pem"
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        fail(f"{path} exists already; choose another --out or a new --selector (keys are never overwritten)")
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror}")
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    record = dkim_txt_record(key.public_key()).decode()
    chunks = " ".join(f'"{record[i:i + 250]}"' for i in range(0, len(record), 250))
    out.print(f"private key written to {path} (mode 0600)", highlight=False)
    out.print(f"\npublish this TXT record:\n{selector}._domainkey.{domain}. IN TXT {chunks}", highlight=False)
    out.print(f"\nthen set:\nFIREBREAK_DKIM_SELECTOR={selector}\nFIREBREAK_DKIM_DOMAIN={domain}\n"
              f"FIREBREAK_DKIM_PRIVATE_KEY_FILE={path.resolve()}", highlight=False)


@dkim_app.command("pin")
def dkim_pin(
    authority_id: int,
    domain: Annotated[str, typer.Option(help="The authority's signing domain (d=)")],
    selector: Annotated[str, typer.Option(help="The selector (s=) of its key")],
    key: Annotated[str, typer.Option(help="The key: its DNS TXT record, the p= value, a PEM, or @FILE")],
    replaces: Annotated[int | None, typer.Option(help="Rotation: id of the key this one replaces")] = None,
    overlap_days: Annotated[float, typer.Option(help="How long the replaced key stays valid")] = 7,
    config: ConfigOption = None,
) -> None:
    """Pin a DKIM public key an authority gave you out of band (used before, or instead of, DNS)."""
    from datetime import timedelta

    from pydantic import ValidationError

    from firebreak.authorities import service as authorities
    from firebreak.authorities.schemas import DkimKeyCreate

    if key.startswith("@"):
        try:
            key = Path(key[1:]).read_text()
        except OSError as exc:
            fail(f"--key: cannot read {key[1:]}: {exc.strerror}", 2)
    try:
        data = DkimKeyCreate(domain=domain, selector=selector, public_key=key, replaces=replaces,
                             overlap_seconds=int(timedelta(days=overlap_days).total_seconds()))
    except ValidationError as exc:
        fail("; ".join(f"--{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()), 2)
    system = _system(config)
    try:
        with system.db.transaction() as session:
            authority = authorities.get_authority(session=session, authority_id=authority_id)
            pinned = authorities.add_dkim_key(session=session, clock=system.clock, actor="cli", authority=authority,
                                              data=data)
            out.print(f"pinned key {pinned.id} for {pinned.selector}._domainkey.{pinned.domain} "
                      f"({authority.name}), valid from {pinned.valid_from:%Y-%m-%d %H:%M} UTC", highlight=False)
    except authorities.AuthorityError as exc:
        fail(f"{exc.field + ': ' if exc.field else ''}{exc}")


@dkim_app.command("pins")
def dkim_pins(authority_id: int, config: ConfigOption = None) -> None:
    """List the keys pinned for an authority."""
    from firebreak.authorities import service as authorities

    system = _system(config)
    try:
        with system.db.sessions() as session:
            authority = authorities.get_authority(session=session, authority_id=authority_id)
            for k in authorities.list_dkim_keys(session=session, authority=authority):
                state = "revoked" if k.revoked_at else (f"until {k.valid_until:%Y-%m-%d %H:%M}" if k.valid_until
                                                         else "valid")
                out.print(f"{k.id}\t{k.selector}._domainkey.{k.domain}\t{state}\t{k.public_key[:40]}...",
                          highlight=False)
    except authorities.AuthorityError as exc:
        fail(str(exc))


@dkim_app.command("unpin")
def dkim_unpin(authority_id: int, key_id: int, config: ConfigOption = None) -> None:
    """Revoke a pinned key at once."""
    from firebreak.authorities import service as authorities

    system = _system(config)
    try:
        with system.db.transaction() as session:
            authority = authorities.get_authority(session=session, authority_id=authority_id)
            authorities.revoke_dkim_key(session=session, clock=system.clock, actor="cli", authority=authority,
                                        key_id=key_id)
    except authorities.AuthorityError as exc:
        fail(str(exc))
    out.print(f"key {key_id} revoked")


statements_app = typer.Typer(help="Statements of reasons (DSA Art. 17) and the DSA Transparency Database.",
                             no_args_is_help=True)
app.add_typer(statements_app, name="statements")


def _date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"{option} {value!r}: give a date as YYYY-MM-DD")


@statements_app.command("export")
def statements_export(
    out_file: Annotated[Path, typer.Option("--out", help="The JSON-lines file to write (replaced when done).")],
    start: Annotated[str | None, typer.Option("--from", help="First application date, YYYY-MM-DD.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last application date, YYYY-MM-DD.")] = None,
    config: ConfigOption = None,
) -> None:
    """Write the period's statements of reasons as JSON lines in the DSA Transparency Database's shape (schema v2,
    no personal data, unique puids), each validated before it is written."""
    from firebreak.transparency.dsa import StatementInvalid
    from firebreak.transparency.service import export_file

    first, last = _date(start, "--from"), _date(end, "--to")
    if first is not None and last is not None and first > last:
        fail(f"--from {first} is after --to {last}")
    system = _system(config)
    try:
        with system.db.sessions() as session:
            count = export_file(session=session, path=out_file, start=first, end=last)
    except StatementInvalid as exc:
        fail(f"nothing written: a stored statement is not valid: {exc}")
    except OSError as exc:
        fail(f"cannot write {out_file}: {exc.strerror or exc}")
    period = f" from {first or 'the start'} to {last or 'now'}" if (first or last) else ""
    out.print(f"{count} statement{'s' if count != 1 else ''}{period} written to {out_file}")


def _register_hash() -> None:
    from firebreak.signals.cli import hash_command

    app.command("hash")(hash_command)


_register_hash()
_register_proof(app, _system, statements_app)


def _register_selfhash() -> None:
    from firebreak.reports.selfhash import selfhash_command

    app.command("selfhash")(selfhash_command)


_register_selfhash()
