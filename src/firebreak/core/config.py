"""One typed settings object, built once at start-up and passed in.

Settings come from ``FIREBREAK_*`` environment variables, an optional TOML file
(``FIREBREAK_CONFIG_FILE`` or ``--config``) and the embedded defaults below. The
defaults need nothing at all: SQLite and local blob storage under ``./var``, jobs
run by an in-process worker.
"""

from __future__ import annotations

import json
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
    max_upload_bytes: int = Field(default=200 * 1024 * 1024, ge=1024,
                                  description="Largest file taken: an upload, a scanned file, an order's media item.")
    max_request_bytes: int = Field(
        default=0, ge=0, description="Largest request body of all (an order with several files); 0 = one file in "
        "base64 plus 16 MiB. Bodies are read only after the caller's credentials are checked.")
    max_form_bytes: int = Field(default=1024 * 1024, ge=1024,
                                description="Largest body of a route that takes no file (JSON, forms, logins).")
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
    copy_detection: bool = Field(
        default=True, description="The second line of matching (docs/copy-detection.md): every new still picture is "
        "described once by a job, and cropped, captioned or recoloured copies of banked pictures are found, acted on "
        "when verified and sent to review otherwise. Off: exact hashes and PDQ only.")
    propagation_batch: int = Field(
        default=500, ge=1, le=100_000, description="Media per committed step when a new bank entry finds copies."
    )

    # Due process (docs/review.md): conduct, review queue, appeals, statements of reasons
    conduct_window_days: int = Field(
        default=90, ge=1, le=3650, description="Violations older than this no longer count toward a restriction.")
    violations_to_restrict: int = Field(
        default=2, ge=0, description="Violations after a warning, within the window, that restrict an account "
        "(0: never restrict).")
    violations_to_suspend: int = Field(
        default=3, ge=1, description="Violations after a warning, within the window, that suspend an account.")
    restriction_days: int = Field(
        default=7, ge=1, le=365, description="How long a restriction for repeated violations lasts (DSA Art. 23: "
        "for a reasonable period); then it is lifted and the person told.")
    suspension_days: int = Field(
        default=30, ge=1, le=365, description="How long a suspension for repeated violations lasts; then it is "
        "lifted and the person told.")
    chat_review_after_removals: int = Field(
        default=3, ge=1, description="Removed copies in one chat that propose a chat-level action to the queue.")
    review_claim_minutes: int = Field(default=15, ge=1, le=24 * 60,
                                      description="How long a moderator's claim on a review item lasts.")
    reveal_soft_limit: int = Field(default=50, ge=1,
                                   description="Reveals of sensitive media per moderator per day before a warning.")
    second_moderator_for: list[str] = Field(
        default_factory=lambda: ["suspend_chat"],
        description="High-impact decisions a second moderator must approve: suspend_chat, "
        "withdraw_entry, approve_unverified_order.")
    appeal_window_days: int = Field(default=183, ge=1, le=3650,
                                    description="How long after a decision its user may appeal (DSA Art. 20).")
    policy_file: Path | None = Field(default=None, description="Policy grounds (TOML); empty: the built-in file.")

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

    # Evidence (docs/evidence.md)
    evidence_keys: str = Field(
        default="", repr=False, description="Key-encryption keys for preserved evidence, 'id:base64,id:base64' "
        "(32-byte keys), the first current; empty: one derived from the instance key.")
    evidence_retention_days: int = Field(default=90, ge=1, le=36500,
                                         description="How long preserved evidence is kept unless held.")
    evidence_retention_by_category: dict[str, int] = Field(
        default_factory=lambda: {"csam": 365},
        description="Retention by category, 'csam=365,ncii=180' (days); others use evidence_retention_days.")
    evidence_hold_days: int = Field(default=90, ge=1, le=3650,
                                    description="Length of a legal hold and of each extension.")
    evidence_signing_key: Path | None = Field(
        default=None, description="Ed25519 key (PEM) that signs evidence packages; made under data_dir if unset.")

    # Transparency: statements of reasons to the DSA Transparency Database, and reports (docs/transparency.md)
    dsa_tdb_url: str = Field(default="", description="The Transparency Database's base URL; empty: not submitted.")
    dsa_tdb_token: str = Field(default="", repr=False, description="Bearer token for the Transparency Database.")
    dsa_tdb_requests_per_second: float = Field(default=1.0, gt=0, le=100)
    dsa_tdb_interval_seconds: int = Field(default=300, ge=10, description="How often pending statements are sent.")
    provider_name: str = Field(default="", description="The legal name of the provider, for transparency reports.")
    public_report_period: Literal["month", "quarter", "year"] = Field(
        default="quarter", description="The period the public transparency page shows: the last complete one.")

    @field_validator("evidence_retention_by_category", mode="before")
    @classmethod
    def _parse_retention(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        parsed: dict[str, int] = {}
        for part in filter(None, (p.strip() for p in value.split(","))):
            name, sep, days = part.partition("=")
            if not sep or not name.strip() or not days.strip().isdigit() or int(days) < 1:
                raise ValueError(f"write it as category=days, e.g. csam=365 (got {part!r})")
            parsed[name.strip()] = int(days)
        return parsed

    @field_validator("dsa_tdb_url")
    @classmethod
    def _check_tdb_url(cls, value: str) -> str:
        if value and not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL, e.g. https://transparency.dsa.ec.europa.eu")
        return value

    @model_validator(mode="after")
    def _check_tdb_token(self) -> Settings:
        if self.dsa_tdb_url and not self.dsa_tdb_token.strip():
            raise ValueError("dsa_tdb_url is set but dsa_tdb_token is empty: the database needs its bearer token")
        return self

    # Victims' reports (reports/): how long a review may take, by the jurisdiction whose law the person invokes.
    victim_deadline_hours: dict[str, int] = Field(
        default_factory=lambda: {"KR": 24, "US": 48},
        description="Hours to act on a victim's report, by ISO country: KR=24,US=48 (or JSON). The US deadline "
        "applies to complete TAKE IT DOWN requests only.")
    victim_default_deadline_hours: int = Field(default=48, ge=1, le=24 * 30,
                                               description="Hours for reports under any other jurisdiction.")
    victim_review_email: str = Field(default="", description="Where reminders for open victims' reports go "
                                     "(empty: liaison_email).")

    @field_validator("victim_deadline_hours", mode="before")
    @classmethod
    def _parse_deadline_hours(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("{"):
                return json.loads(text)
            pairs = [p.partition("=") for p in text.split(",") if p.strip()]
            if any(not sep for _, sep, _ in pairs):
                raise ValueError("write it as KR=24,US=48 or as JSON")
            return {k.strip().upper(): v.strip() for k, _, v in pairs}
        return value

    @field_validator("victim_deadline_hours")
    @classmethod
    def _check_deadline_hours(cls, value: dict[str, int]) -> dict[str, int]:
        for country, hours in value.items():
            if len(country) != 2 or not country.isalpha() or not country.isupper():
                raise ValueError(f"{country!r} is not an ISO country code such as KR or US")
            if not 1 <= hours <= 24 * 30:
                raise ValueError(f"{country}: {hours} hours is not between 1 and 720")
        return value

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

    @field_validator("second_moderator_for", mode="before")
    @classmethod
    def _split_impacts(cls, value: Any) -> Any:
        """From the environment: "suspend_chat,withdraw_entry" (or a JSON list); empty for none."""
        if isinstance(value, str):
            text = value.strip()
            if not text.startswith("["):
                return [v.strip() for v in text.split(",") if v.strip()]
            try:
                return json.loads(text)
            except json.JSONDecodeError:
                raise ValueError("write the decisions comma-separated, e.g. suspend_chat,withdraw_entry") from None
        return value

    @field_validator("second_moderator_for")
    @classmethod
    def _check_impacts(cls, value: list[str]) -> list[str]:
        # Account suspensions follow the conduct policy (warnings, then violations in a window), never a choice.
        known = ("suspend_chat", "withdraw_entry", "approve_unverified_order")
        unknown = [v for v in value if v not in known]
        if unknown:
            raise ValueError(f"{unknown[0]!r} is not a high-impact decision; use any of {', '.join(known)}")
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

    @model_validator(mode="after")
    def _check_request_limit(self) -> Settings:
        if self.max_request_bytes and self.max_request_bytes < self.max_upload_bytes:
            raise ValueError(f"max_request_bytes ({self.max_request_bytes}) is smaller than max_upload_bytes "
                             f"({self.max_upload_bytes}): raise it, or set it to 0 to follow max_upload_bytes")
        return self

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
    def request_body_limit(self) -> int:
        """The global limit on a request body: ``max_request_bytes``, or room for one file in base64 and more."""
        return self.max_request_bytes or self.max_upload_bytes * 4 // 3 + 16 * 1024 * 1024

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
