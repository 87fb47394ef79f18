"""Settings read once from the environment (and a `.env` file)."""

from __future__ import annotations

import os
import re
import secrets
import typing
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, NamedTuple

from dotenv import load_dotenv

MIN_SECRET_BYTES = 32
TRUSTED_DOCUMENTS = ("optional", "required")


class ConfigError(Exception):
    """The environment does not describe a server that may start."""


def _flag(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _list(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


def _parse(name: str, value: str, kind: Any) -> Any:
    """An environment variable's text as a setting of type `kind`."""
    if kind is bool:
        return _flag(value)
    if kind is Rate:
        return _rate(name, value)
    if kind is Path:
        return Path(value).expanduser()
    if kind == tuple[str, ...]:
        return _list(value)
    if kind is int:
        try:
            return int(value)
        except ValueError as error:
            raise ConfigError(f"{name} must be a number, not {value!r}") from error
    if kind == str | None:
        return value or None
    if name == "BOOKIT_TRUSTED_DOCUMENTS":
        return value.strip().lower()
    return value.upper() if name == "LOG_LEVEL" else value


class Rate(NamedTuple):
    """At most `attempts` in any `seconds`-long window."""

    attempts: int
    seconds: int


_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smh]?)\s*$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600}


# failed logins, registrations and refreshes per account; and each per client address
ACCOUNT_RATE = Rate(10, 15 * 60)
ADDRESS_RATE = Rate(30, 60)


def _rate(name: str, value: str) -> Rate:
    """A rate written as `10/15m`, `30/1m`, `5/1h` or `30/60` (seconds)."""
    match = _RATE.match(value)
    if match is None or int(match[1]) < 1 or int(match[2] or "1") < 1:
        raise ConfigError(f"{name} must look like 10/15m (attempts per period), not {value!r}")
    return Rate(int(match[1]), int(match[2] or "1") * _UNIT[match[3]])


def setting(
    name: str, default: object = None, *, production: object = None, **kwargs: object
) -> Any:
    """A setting read from the environment variable `name`, with its default, written once.

    `production` is a different default when BOOKIT_ENV=production (development
    conveniences that production turns off).
    """
    metadata = {"env": name, "production": production}
    if callable(default):
        return field(default_factory=default, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Settings:
    env: str = setting("BOOKIT_ENV", "development")
    database_url: str | None = setting("DATABASE_URL")
    secret_key: str = setting("SECRET_KEY", "")
    access_token_expire_minutes: int = setting("ACCESS_TOKEN_EXPIRE", 15)
    refresh_token_expire_days: int = setting("REFRESH_TOKEN_EXPIRE", 7)
    log_level: str = setting("LOG_LEVEL", "INFO")
    bcrypt_rounds: int = setting("BCRYPT_ROUNDS", 12)
    data_dir: Path = setting("BOOKIT_DATA_DIR", lambda: Path(".bookit"))
    host: str = setting("BOOKIT_HOST", "127.0.0.1")
    port: int = setting("BOOKIT_PORT", 8000)
    cors_origins: tuple[str, ...] = setting("BOOKIT_CORS_ORIGINS", ())
    graphiql: bool = setting("BOOKIT_GRAPHIQL", True, production=False)
    # the admin dashboard on /admin (web.py)
    admin: bool = setting("BOOKIT_ADMIN", True)
    introspection: bool = setting("BOOKIT_INTROSPECTION", True, production=False)
    legacy_graphql_ws: bool = setting("BOOKIT_LEGACY_GRAPHQL_WS", False)
    max_subscriptions_per_socket: int = setting("BOOKIT_MAX_SUBSCRIPTIONS", 20)
    subscriber_queue_size: int = setting("BOOKIT_SUBSCRIBER_QUEUE", 1000)
    jwt_issuer: str = setting("BOOKIT_JWT_ISSUER", "bookit")
    jwt_audience: str = setting("BOOKIT_JWT_AUDIENCE", "bookit-api")
    # "Did you mean ...?" in error messages
    field_suggestions: bool = setting("BOOKIT_FIELD_SUGGESTIONS", True, production=False)
    # Trusted documents (documents.py): "optional" takes ids and free-form text alike;
    # "required" refuses free-form text except from admins
    trusted_documents: str = setting("BOOKIT_TRUSTED_DOCUMENTS", "optional")
    # an Apollo APQ retry (query and hash) registers its document
    apq_register: bool = setting("BOOKIT_APQ_REGISTER", True, production=False)
    # compiled.py: hot reads built as JSON by one SQL statement
    compiled_reads: bool = setting("BOOKIT_COMPILED_READS", True)
    # fast.py: a known query's plain success answered before Strawberry runs
    fast_path: bool = setting("BOOKIT_FAST_PATH", True)
    # GET /metrics (metrics.py); on another port than the API's when this is not 0
    metrics: bool = setting("BOOKIT_METRICS", True)
    metrics_port: int = setting("BOOKIT_METRICS_PORT", 0)
    # Traces (tracing.py), off unless one of OpenTelemetry's own variables is set
    otlp_endpoint: str | None = setting("OTEL_EXPORTER_OTLP_ENDPOINT")
    traces_exporter: str | None = setting("OTEL_TRACES_EXPORTER")
    # Query limits (bookit_graphql/limits.py); SECURITY.md says why these numbers.
    max_depth: int = setting("BOOKIT_MAX_DEPTH", 12)
    max_aliases: int = setting("BOOKIT_MAX_ALIASES", 30)
    max_directives: int = setting("BOOKIT_MAX_DIRECTIVES", 4)
    max_fields: int = setting("BOOKIT_MAX_FIELDS", 100)
    max_tokens: int = setting("BOOKIT_MAX_TOKENS", 2000)
    max_cost: int = setting("BOOKIT_MAX_COST", 10_000)
    max_body_bytes: int = setting("BOOKIT_MAX_BODY_BYTES", 100_000)
    # Integrations (bookit_graphql/integrations/): the worker, webhooks, mail, retention
    worker: bool = setting("BOOKIT_WORKER", True)  # run it inside `bookit serve`
    webhooks_allow_private: bool = setting("BOOKIT_WEBHOOKS_ALLOW_PRIVATE", True, production=False)
    smtp_url: str | None = setting("BOOKIT_SMTP_URL")
    smtp_ca_file: str | None = setting("BOOKIT_SMTP_CA_FILE")  # a CA beside the system's
    mail_from: str = setting("BOOKIT_MAIL_FROM", "BookIt <bookit@localhost>")
    event_retention_days: int = setting("BOOKIT_EVENT_RETENTION_DAYS", 30)
    # Rate limits (bookit_graphql/ratelimit.py): per account, and per address for each
    rate_limit: bool = setting("BOOKIT_RATE_LIMIT", True)
    rate_limit_login: Rate = setting(
        "BOOKIT_RATE_LIMIT_LOGIN", ACCOUNT_RATE
    )  # failed logins per email
    # registrations per email
    rate_limit_register: Rate = setting("BOOKIT_RATE_LIMIT_REGISTER", ACCOUNT_RATE)
    rate_limit_refresh: Rate = setting("BOOKIT_RATE_LIMIT_REFRESH", ACCOUNT_RATE)
    # each of the three, per client address
    rate_limit_address: Rate = setting("BOOKIT_RATE_LIMIT_ADDRESS", ADDRESS_RATE)

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def tracing(self) -> bool:
        """Whether to export traces: an OTLP endpoint, or an exporter other than none."""
        exporter = (self.traces_exporter or "").strip().lower()
        return exporter not in ("", "none") or (bool(self.otlp_endpoint) and exporter != "none")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Read the settings; `environ` defaults to os.environ plus `.env`."""
        if environ is None:
            load_dotenv(override=False)
            environ = dict(os.environ)
        mode = environ.get("BOOKIT_ENV", "development").strip().lower()
        if mode not in {"development", "production"}:
            raise ConfigError("BOOKIT_ENV must be 'development' or 'production'")
        given: dict[str, Any] = {"env": mode}
        kinds = typing.get_type_hints(cls)
        for one in fields(cls):
            name = one.metadata["env"]
            value = environ.get(name)
            if one.name == "env":
                continue
            if value is None:
                if mode == "production" and one.metadata["production"] is not None:
                    given[one.name] = one.metadata["production"]
                continue
            given[one.name] = _parse(name, value, kinds[one.name])
        settings = cls(**given)
        if not 4 <= settings.bcrypt_rounds <= 31:
            raise ConfigError("BCRYPT_ROUNDS must be between 4 and 31")
        if settings.access_token_expire_minutes <= 0 or settings.refresh_token_expire_days <= 0:
            raise ConfigError("ACCESS_TOKEN_EXPIRE and REFRESH_TOKEN_EXPIRE must be positive")
        limits = (
            settings.max_depth,
            settings.max_aliases,
            settings.max_directives,
            settings.max_fields,
            settings.max_tokens,
            settings.max_cost,
            settings.max_body_bytes,
        )
        if min(limits) < 1:
            raise ConfigError("the BOOKIT_MAX_* limits must be positive")
        if not 0 <= settings.metrics_port <= 65535:
            raise ConfigError("BOOKIT_METRICS_PORT must be a port number (0: the API's port)")
        if settings.trusted_documents not in TRUSTED_DOCUMENTS:
            raise ConfigError("BOOKIT_TRUSTED_DOCUMENTS must be 'optional' or 'required'")
        if settings.event_retention_days < 1:
            raise ConfigError("BOOKIT_EVENT_RETENTION_DAYS must be at least 1")
        if settings.smtp_url and not settings.smtp_url.startswith(("smtp://", "smtps://")):
            raise ConfigError(
                "BOOKIT_SMTP_URL must be smtp://[user:password@]host[:port] or smtps://"
            )
        return settings

    def with_secret_key(self) -> Settings:
        """Check SECRET_KEY; in development, generate one kept in the data folder."""
        if len(self.secret_key.encode()) >= MIN_SECRET_BYTES:
            return self
        if self.production:
            raise ConfigError(
                f"SECRET_KEY must be set to at least {MIN_SECRET_BYTES} bytes in production "
                '(for example: python -c "import secrets; print(secrets.token_urlsafe(48))")'
            )
        if self.secret_key:
            raise ConfigError(f"SECRET_KEY is shorter than {MIN_SECRET_BYTES} bytes")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key_file = self.data_dir / "secret_key"
        if not key_file.exists():
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
        return replace(self, secret_key=key_file.read_text().strip())
