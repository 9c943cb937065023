"""One typed settings object, built once at start-up and passed in.

Settings come from ``FIREBREAK_*`` environment variables, an optional TOML file
(``FIREBREAK_CONFIG_FILE`` or ``--config``) and the embedded defaults below. The
defaults need nothing at all: SQLite and local blob storage under ``./var``, jobs
run by an in-process worker.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


class ConfigError(Exception):
    """A setting is wrong. The message is one line naming the setting."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FIREBREAK_", extra="forbid", frozen=True)

    data_dir: Path = Field(default=Path("var"), description="Where the embedded database, blobs and queue live.")
    local_dir: Path | None = Field(default=None, description="Files of this host alone (index snapshots, metrics of "
                                   "its web processes), when data_dir is a volume shared by hosts; empty = data_dir.")
    database_url: str = Field(default="", description="SQLAlchemy URL; empty means SQLite in data_dir.")
    queue_url: str = Field(
        default="", description="Job queue: empty = SQLite file in data_dir; redis://host:port/db for many workers."
    )
    worker_threads: int = Field(default=2, ge=1, le=64, description="Threads of the in-process or stand-alone worker.")
    job_lease_seconds: int = Field(
        default=300, ge=1, description="How long a worker holds a job before another may take it over."
    )
    reconcile_interval_seconds: float = Field(
        default=2.0, gt=0, le=300, description="How often workers look for due deadlines and follow-ups."
    )
    embedded_worker: bool = Field(default=True, description="Run the job worker inside `firebreak serve`.")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    public_url: str = Field(default="", description="Base URL used in links sent to authorities and users.")
    secret_key: str = Field(
        default="", description="Key for session cookies and blob encryption; generated under data_dir if empty."
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    platform_name: str = Field(default="Sandbox", description="Name of the platform Firebreak protects.")
    sandbox_enabled: bool = Field(default=True, description="Serve the built-in sandbox messenger (demo, tests).")

    # Media limits (safe decoding)
    max_upload_bytes: int = Field(default=200 * 1024 * 1024, ge=1024)
    max_image_pixels: int = Field(default=64_000_000, ge=1)
    max_video_frames: int = Field(default=7200, ge=1)
    max_decode_seconds: float = Field(default=30.0, gt=0)

    # Matching
    pdq_distance: int = Field(default=31, ge=0, le=128)
    pdq_min_quality: int = Field(default=50, ge=0, le=100)
    vpdq_query_match_percent: float = Field(default=80.0, ge=0, le=100)
    vpdq_target_match_percent: float = Field(default=80.0, ge=0, le=100)

    # Indexes shared by the processes of a host, following the database's change log (docs/matching.md)
    index_snapshots: bool = Field(default=True, description="Start from snapshot files of the indexes under "
                                  "local_dir/index, memory-mapped by every process of the host, and keep them fresh.")
    index_verify_snapshots: bool = Field(default=True, description="Check a snapshot's SHA-256 when loading it.")
    index_snapshot_rows: int = Field(default=65_536, ge=1, description="Index rows written since the snapshot "
                                     "(added, replaced, removed) that make the host's writer write a new one.")
    index_snapshot_max_age_seconds: float = Field(default=3600.0, gt=0, description="A snapshot older than this "
                                                  "is rewritten if anything changed since.")
    index_follow_seconds: float = Field(default=0.25, gt=0, le=10, description="How often each process reads the "
                                        "index change log (new and withdrawn entries reach it within this).")
    index_log_keep: int = Field(default=10_000_000, ge=1000, description="Changes kept in the index change log; a "
                                "snapshot older than the log kept is not used.")

    unchecked_uploads: Literal["allow", "review", "refuse"] = Field(
        default="review", description="The verdict for an upload that matched nothing but could not be fully checked "
        "(not decodable, or cut short)."
    )
    propagation_batch: int = Field(
        default=500, ge=1, le=100_000, description="Media per committed step when a new bank entry finds copies."
    )

    # Repeat offenders: strikes (one per removed placement) that restrict or suspend
    account_restrict_strikes: int = Field(default=2, ge=1)
    account_suspend_strikes: int = Field(default=3, ge=1)
    chat_suspend_strikes: int = Field(default=10, ge=1)

    # Mail (authority hotline)
    smtp_listen_host: str = "127.0.0.1"
    smtp_listen_port: int = Field(default=2525, ge=1, le=65535)
    smtp_tls_cert: Path | None = None
    smtp_tls_key: Path | None = None
    hotline_address: str = "takedown@firebreak.invalid"
    outgoing_smtp_host: str = Field(
        default="", description="Mail server for acknowledgements and receipts; empty keeps them in the development "
        "outbox (data_dir/outbox, shown at /console/outbox) instead of sending.")
    outgoing_smtp_port: int = Field(default=25, ge=1, le=65535)
    outgoing_smtp_starttls: bool = False
    dkim_selector: str = Field(default="", description="DKIM selector Firebreak signs its outgoing mail with.")
    dkim_domain: str = Field(default="", description="DKIM signing domain (d=); default: the hotline address's.")
    dkim_private_key_file: Path | None = Field(
        default=None, description="PEM private key for signing outgoing mail (`firebreak dkim keygen` makes one).")
    dkim_key_source: Literal["pinned-then-dns", "pinned-only", "dns-only"] = Field(
        default="pinned-then-dns", description="Where authorities' DKIM keys come from: keys pinned in the "
        "registry, public DNS, or pinned keys first and DNS for the rest.")
    smtp_listen: bool = Field(default=True, description="Run the hotline's SMTP listener inside `firebreak serve`.")
    smtp_max_message_bytes: int = Field(default=50 * 1024 * 1024, ge=1024,
                                        description="Largest mail the hotline accepts (552 beyond).")
    smtp_max_sessions: int = Field(default=20, ge=1, le=10_000, description="Open SMTP sessions at once (421 beyond).")
    liaison_email: str = Field(default="", description="Where SLA reminders for open orders are sent.")
    oncall_email: str = Field(default="", description="Where overdue orders are escalated by e-mail.")
    oncall_webhook_url: str = Field(default="", description="Where overdue orders are escalated (JSON POST).")

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        if value and not (value.startswith("sqlite") or value.startswith("postgresql")):
            raise ValueError("must start with sqlite:// or postgresql+psycopg://")
        return value

    @field_validator("queue_url")
    @classmethod
    def _check_queue_url(cls, value: str) -> str:
        if value and not (value.startswith("sqlite") or value.startswith("redis://") or value == "memory://"):
            raise ValueError("must be empty, sqlite:///path, redis://host:port/db or memory://")
        return value

    @model_validator(mode="after")
    def _check_tls_pair(self) -> Settings:
        if (self.smtp_tls_cert is None) != (self.smtp_tls_key is None):
            raise ValueError("smtp_tls_cert and smtp_tls_key must be set together")
        if (self.dkim_private_key_file is None) != (not self.dkim_selector):
            raise ValueError("dkim_selector and dkim_private_key_file must be set together")
        return self

    @property
    def dkim_signing_domain(self) -> str:
        return self.dkim_domain or self.hotline_address.rpartition("@")[2]

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'firebreak.db').resolve()}"

    @property
    def effective_queue_url(self) -> str:
        if self.queue_url:
            return self.queue_url
        return f"sqlite:///{(self.data_dir / 'queue.db').resolve()}"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def effective_index_dir(self) -> Path:
        return (self.local_dir or self.data_dir) / "index"

    @property
    def metrics_dir(self) -> Path:
        return (self.local_dir or self.data_dir) / "metrics"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path}: not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: not valid TOML ({exc})") from None
    # Accept both a flat file and one with a [firebreak] table.
    section = data.get("firebreak", data)
    if not isinstance(section, dict):
        raise ConfigError(f"config file {path}: [firebreak] must be a table")
    return section


def load_settings(config_file: Path | None = None, environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """Build the settings, turning any validation failure into a one-line ConfigError."""
    import os

    env = dict(os.environ if environ is None else environ)
    values: dict[str, Any] = {}
    path = config_file or (Path(env["FIREBREAK_CONFIG_FILE"]) if env.get("FIREBREAK_CONFIG_FILE") else None)
    if path is not None:
        values.update(_read_toml(path))
    # Environment variables win over the file; overrides win over both.
    for key, raw in env.items():
        if key.startswith("FIREBREAK_") and key != "FIREBREAK_CONFIG_FILE":
            name = key.removeprefix("FIREBREAK_").lower()
            if name.startswith("test_"):
                continue
            values[name] = raw
    values.update(overrides)
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "settings"
        setting = f"FIREBREAK_{loc.upper()}" if err["loc"] else "settings"
        if err["type"] == "extra_forbidden":
            raise ConfigError(f"{setting}: unknown setting") from None
        raise ConfigError(f"{setting}: {err['msg']} (got {err.get('input')!r})") from None
