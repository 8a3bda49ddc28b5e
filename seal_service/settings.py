"""Instance settings, read from the environment (``SEAL_*``) or an optional config file.

Example::

    >>> from seal_service.settings import Settings
    >>> s = Settings(home="/tmp/seal-demo")            # doctest: +SKIP
    >>> s.database_url                                   # doctest: +SKIP
    'sqlite:////tmp/seal-demo/seal.db'

A whole instance (database, keys, generated assets) lives under ``SEAL_HOME`` so that instances can live side
by side. ``SEAL_ENV=production`` refuses a development passphrase or none at all.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from seal_service.errors import ConfigurationError

#: The passphrase ``make run`` uses on a development instance. Refused in production.
DEVELOPMENT_PASSPHRASE = "development-only-passphrase"  # noqa: S105 - a known, deliberately public dev value


class Environment(StrEnum):
    """Where the instance runs; production refuses development secrets."""

    DEVELOPMENT = "development"
    PRODUCTION = "production"


#: The bearer token of ``GET /metrics`` on a development instance that sets none. Refused in production.
DEVELOPMENT_METRICS_TOKEN = "development-only-metrics-token"  # noqa: S105 - a known, deliberately public dev value


class MetricsAccess(StrEnum):
    """Who may read ``GET /metrics``: nobody (404), anyone, or callers with the metrics bearer token."""

    OFF = "off"
    OPEN = "open"
    BEARER = "bearer"


class KeyAlgorithm(StrEnum):
    """Key algorithm for newly generated keys."""

    EC_P256 = "ec-p256"
    RSA_3072 = "rsa-3072"


class KeyBackend(StrEnum):
    """Where new seal keys are generated: the encrypted file key store, or a PKCS#11 token (HSM).

    The service's own PKI keys (root, seal CA, TSA, OCSP, audit) stay file keys either way; the issuance log's
    Ed25519 key follows ``log_key_backend`` (by default this setting).
    """

    FILE = "file"
    PKCS11 = "pkcs11"


def _default_policies_dir() -> Path:
    """The reviewed policy files shipped inside the installed package (``seal_service/policies``, package data).

    Found from the installation, never from the current directory, so ``seal-service`` works wherever it is run;
    ``SEAL_POLICIES_DIR`` points elsewhere (a bureau's own reviewed catalogue). In a checkout the package directory
    links to the repository's ``policies/``.
    """
    from importlib.resources import files

    return Path(str(files("seal_service").joinpath("policies")))


class Settings(BaseSettings):
    """Settings of one service instance."""

    model_config = SettingsConfigDict(env_prefix="SEAL_", extra="forbid", env_file=None)

    home: Path = Field(default=Path(".seal"), description="Instance directory: database, keys, generated assets.")
    env: Environment = Field(default=Environment.DEVELOPMENT, description="development or production.")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default SQLite under home.")
    keys_dir: Path | None = Field(default=None, description="Key store directory; default home/keys.")
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Base URL that goes into certificates (OCSP, CRL), QR codes and links.",
    )
    key_passphrase: SecretStr | None = Field(default=None, description="Passphrase of the file key store.")
    key_passphrase_file: Path | None = Field(default=None, description="File holding the key store passphrase.")
    key_algorithm: KeyAlgorithm = Field(default=KeyAlgorithm.EC_P256, description="Algorithm for new keys.")
    key_backend: KeyBackend = Field(default=KeyBackend.FILE, description="Where new seal keys go: file or pkcs11.")
    pkcs11_module: Path | None = Field(default=None, description="PKCS#11 module, e.g. libsofthsm2.so.")
    pkcs11_token: str = Field(default="seal", description="Label of the token new seal keys are generated in.")
    pkcs11_pin: SecretStr | None = Field(default=None, description="User PIN of the PKCS#11 token.")
    pkcs11_pin_file: Path | None = Field(default=None, description="File holding the PKCS#11 user PIN.")
    audit_checkpoint_every: int = Field(
        default=1000, ge=1, description="Sign an audit checkpoint after this many new audit entries."
    )
    key_request_ttl_hours: float = Field(
        default=24.0, gt=0, description="Hours a dual-control key request waits for its second officer."
    )
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, description="Largest PDF accepted for sealing.")
    policies_dir: Path = Field(
        default_factory=lambda: _default_policies_dir(),
        description="Directory with catalogue.toml and the other reviewed policy files.",
    )
    publication_interval_seconds: int = Field(
        default=1800,
        ge=0,
        description="How often the API pre-produces CRLs, OCSP responses and the trust bundle; 0 turns it off.",
    )
    tsa_certificate_days: int = Field(
        default=5 * 365, ge=1, description="Lifetime of a new TSA certificate (init, `tsa rotate`), in days."
    )
    archive_renewal_interval_hours: float = Field(
        default=24.0,
        ge=0,
        description="How often `serve` runs archive renewal (re-time-stamping of B-LTA licences); 0 turns it off.",
    )
    archive_renewal_horizon_days: int = Field(
        default=365, ge=1, description="Scheduled renewal renews licences verifiable for less than this many days."
    )
    signing_processes: int = Field(
        default=0,
        ge=0,
        description=(
            "Sealing processes `serve` starts for all its API workers (default there: one per core); 0 seals in "
            "threads of each API worker."
        ),
    )
    sealing_socket: Path | None = Field(
        default=None, description="Unix socket of the server's sealing processes; set by `serve`, not by hand."
    )
    signing_threads: int = Field(
        default=0, ge=0, description="Sealing threads per API worker when signing_processes is 0; 0 = one per core."
    )
    metrics: MetricsAccess = Field(
        default=MetricsAccess.OFF, description="GET /metrics: off (404), open, or bearer (SEAL_METRICS_TOKEN)."
    )
    metrics_token: SecretStr | None = Field(
        default=None, description="Bearer token of GET /metrics when metrics=bearer (a development default exists)."
    )
    public_search_per_minute: int = Field(
        default=60, ge=1, description="Register searches (pages, JSON, receipt look-ups) per client address a minute."
    )
    public_export_per_hour: int = Field(default=10, ge=1, description="CSV exports per client address an hour.")
    public_complaints_per_hour: int = Field(default=5, ge=1, description="Complaints filed per client address an hour.")
    public_query_timeout_ms: int = Field(
        default=2000, ge=10, description="PostgreSQL statement_timeout of each public register query."
    )
    public_export_max_rows: int = Field(default=100_000, ge=1, description="Most rows one CSV export returns.")
    forwarded_allow_ips: str = Field(
        default="",
        description=(
            "Addresses or networks (comma separated) of the reverse proxies whose X-Forwarded-For names the client; "
            "empty: trust none, the client is the TCP peer (a direct caller cannot spoof its address)."
        ),
    )
    idempotency_lease_seconds: int = Field(
        default=120,
        ge=1,
        description=(
            "How long a sign request's Idempotency-Key claim is held before a retry may take it over (sooner if its "
            "holder process on this host is gone)."
        ),
    )
    # Supervision link (seal_service.events; docs/supervision.md).
    broker_url: str | None = Field(
        default=None, description="AMQP URL of the RabbitMQ broker events are published to; none = no broker."
    )
    broker_exchange: str = Field(default="supervision", description="Durable topic exchange of supervision events.")
    dispatcher: bool = Field(default=True, description="Run the event dispatcher inside `serve`.")
    dispatcher_poll_seconds: float = Field(default=0.5, gt=0, description="Idle poll interval of the dispatcher.")
    dispatcher_lease_seconds: float = Field(
        default=30, gt=0, description="How long a node holds a receiver; a crashed node's receivers move on after it."
    )
    webhook_timeout_seconds: float = Field(default=10, gt=0, description="Timeout of one webhook delivery.")
    webhook_backoff_seconds: float = Field(default=5, gt=0, description="First retry delay (doubles, with jitter).")
    webhook_backoff_max_seconds: float = Field(default=3600, gt=0, description="Longest retry delay.")
    webhook_retry_seconds: float = Field(
        default=24 * 3600, gt=0, description="How long an event is retried before it becomes a dead letter."
    )
    finding_attachment_max_bytes: int = Field(default=10 * 1024 * 1024, description="Largest finding attachment.")
    log_enabled: bool = Field(
        default=True, description="Record every sealing and status change in the issuance log (seal_service.log)."
    )
    log_sequence_delay_seconds: float = Field(
        default=1.0, gt=0, le=60, description="Longest time a new log entry waits before it is in a signed checkpoint."
    )
    log_witness_quorum: int = Field(
        default=0, ge=0, description="Cosignatures of distinct witnesses the trust bundle asks verifiers to require."
    )
    log_key_backend: KeyBackend | None = Field(
        default=None,
        description="Where new issuance-log keys (Ed25519) go: file or pkcs11 (CKM_EDDSA); default: as key_backend.",
    )
    log_origin: str | None = Field(
        default=None,
        description="Origin (and key name) of the issuance log; default: the public URL without scheme + /log.",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Explicit arguments, then ``SEAL_*`` environment variables, then the file named by ``SEAL_CONFIG``.

        The config file is TOML with the same names without the prefix (``home = "/srv/seal"``); unknown keys
        are refused like unknown arguments.
        """
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("SEAL_CONFIG")
        if config_file:
            if not Path(config_file).is_file():
                raise ConfigurationError(f"SEAL_CONFIG names {config_file}, which is not a readable file")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)

    @model_validator(mode="after")
    def _normalise(self) -> Settings:
        self.public_url = self.public_url.rstrip("/")
        if not self.public_url.startswith(("http://", "https://")):
            raise ValueError("SEAL_PUBLIC_URL must start with http:// or https://")
        return self

    @property
    def resolved_home(self) -> Path:
        """The instance directory as an absolute path."""
        return self.home.expanduser().resolve()

    @property
    def resolved_database_url(self) -> str:
        """The database URL; SQLite under the instance directory unless ``SEAL_DATABASE_URL`` is set."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_home / 'seal.db'}"

    @property
    def resolved_keys_dir(self) -> Path:
        """The file key store directory."""
        return (self.keys_dir or self.resolved_home / "keys").expanduser().resolve()

    @property
    def catalogue_path(self) -> Path:
        """The catalogue of transferred items."""
        return self.policies_dir / "catalogue.toml"

    @property
    def assets_dir(self) -> Path:
        """Generated assets (seal images, font subsets) of this instance."""
        return self.resolved_home / "assets"

    def passphrase(self) -> bytes:
        """The key store passphrase, checked against the environment's rules.

        Raises :class:`ConfigurationError` when it is unset, or when a production instance uses the
        development passphrase.
        """
        value: str | None = None
        if self.key_passphrase is not None:
            value = self.key_passphrase.get_secret_value()
        elif self.key_passphrase_file is not None:
            try:
                value = self.key_passphrase_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigurationError(f"cannot read SEAL_KEY_PASSPHRASE_FILE: {exc}") from exc
        if not value:
            if self.env is Environment.DEVELOPMENT:
                return DEVELOPMENT_PASSPHRASE.encode()
            raise ConfigurationError(
                "no key passphrase: set SEAL_KEY_PASSPHRASE or SEAL_KEY_PASSPHRASE_FILE (required in production)"
            )
        if self.env is Environment.PRODUCTION:
            if value == DEVELOPMENT_PASSPHRASE:
                raise ConfigurationError("production refuses the development key passphrase")
            if len(value) < 16:
                raise ConfigurationError("production key passphrase must have at least 16 characters")
        return value.encode()

    def pkcs11_pin_value(self) -> str:
        """The PKCS#11 user PIN from ``SEAL_PKCS11_PIN`` or ``SEAL_PKCS11_PIN_FILE``."""
        if self.pkcs11_pin is not None:
            value = self.pkcs11_pin.get_secret_value()
        elif self.pkcs11_pin_file is not None:
            try:
                value = self.pkcs11_pin_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigurationError(f"cannot read SEAL_PKCS11_PIN_FILE: {exc}") from exc
        else:
            value = ""
        if not value:
            raise ConfigurationError("no PKCS#11 PIN: set SEAL_PKCS11_PIN or SEAL_PKCS11_PIN_FILE")
        return value

    def metrics_token_value(self) -> str:
        """The bearer token of ``GET /metrics``: ``SEAL_METRICS_TOKEN``, or in development a known default.

        Production refuses a missing token, the development default, and tokens under 16 characters.
        """
        value = self.metrics_token.get_secret_value() if self.metrics_token is not None else ""
        if self.env is Environment.DEVELOPMENT:
            return value or DEVELOPMENT_METRICS_TOKEN
        if not value:
            raise ConfigurationError("SEAL_METRICS=bearer needs SEAL_METRICS_TOKEN (required in production)")
        if value == DEVELOPMENT_METRICS_TOKEN or len(value) < 16:
            raise ConfigurationError("production refuses the development metrics token and tokens under 16 characters")
        return value

    @property
    def resolved_log_key_backend(self) -> KeyBackend:
        """Where new log keys go: ``log_key_backend``, else where seal keys go."""
        return self.log_key_backend or self.key_backend

    def check_startup(self) -> None:
        """Refuse to start with settings that are unsafe for this environment."""
        self.passphrase()
        if self.metrics is MetricsAccess.BEARER:
            self.metrics_token_value()
        if self.key_backend is KeyBackend.PKCS11 or self.resolved_log_key_backend is KeyBackend.PKCS11:
            if self.pkcs11_module is None:
                raise ConfigurationError("SEAL_KEY_BACKEND=pkcs11 (or SEAL_LOG_KEY_BACKEND) needs SEAL_PKCS11_MODULE")
            self.pkcs11_pin_value()
