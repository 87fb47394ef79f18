"""Settings read once from the environment (and a `.env` file)."""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

from dotenv import load_dotenv

MIN_SECRET_BYTES = 32


class ConfigError(Exception):
    """The environment does not describe a server that may start."""


def _flag(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _list(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


class Rate(NamedTuple):
    """At most `attempts` in any `seconds`-long window."""

    attempts: int
    seconds: int


_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smh]?)\s*$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600}


# failed logins, registrations and refreshes per account; and each per client address
ACCOUNT_RATE = Rate(10, 15 * 60)
ADDRESS_RATE = Rate(30, 60)


def _rate(environ: dict[str, str], name: str, default: Rate) -> Rate:
    """A rate written as `10/15m`, `30/1m`, `5/1h` or `30/60` (seconds)."""
    value = environ.get(name)
    if value is None:
        return default
    match = _RATE.match(value)
    if match is None or int(match[1]) < 1 or int(match[2] or "1") < 1:
        raise ConfigError(f"{name} must look like 10/15m (attempts per period), not {value!r}")
    return Rate(int(match[1]), int(match[2] or "1") * _UNIT[match[3]])


@dataclass(frozen=True)
class Settings:
    env: str = "development"
    database_url: str | None = None
    secret_key: str = ""
    access_token_expire_minutes: int = 15
    refresh_token_expire_days: int = 7
    log_level: str = "INFO"
    bcrypt_rounds: int = 12
    data_dir: Path = field(default_factory=lambda: Path(".bookit"))
    host: str = "127.0.0.1"
    port: int = 8000
    cors_origins: tuple[str, ...] = ()
    graphiql: bool = True
    introspection: bool = True
    legacy_graphql_ws: bool = False
    max_subscriptions_per_socket: int = 20
    subscriber_queue_size: int = 1000
    jwt_issuer: str = "bookit"
    jwt_audience: str = "bookit-api"
    field_suggestions: bool = True  # "Did you mean ...?" in error messages
    compiled_reads: bool = True  # compiled.py: hot reads built as JSON by one SQL statement
    # Query limits (bookit_graphql/limits.py); SECURITY.md says why these numbers.
    max_depth: int = 12
    max_aliases: int = 30
    max_directives: int = 4
    max_fields: int = 100
    max_tokens: int = 2000
    max_cost: int = 10_000
    max_body_bytes: int = 100_000
    # Rate limits (bookit_graphql/ratelimit.py): per account, and per address for each
    rate_limit: bool = True
    rate_limit_login: Rate = ACCOUNT_RATE  # failed logins per email
    rate_limit_register: Rate = ACCOUNT_RATE  # registrations per email
    rate_limit_refresh: Rate = ACCOUNT_RATE  # refreshes per session
    rate_limit_address: Rate = ADDRESS_RATE  # each of the three, per client address

    @property
    def production(self) -> bool:
        return self.env == "production"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Read the settings; `environ` defaults to os.environ plus `.env`."""
        if environ is None:
            load_dotenv(override=False)
            environ = dict(os.environ)
        env = environ.get("BOOKIT_ENV", "development").strip().lower()
        if env not in {"development", "production"}:
            raise ConfigError("BOOKIT_ENV must be 'development' or 'production'")
        production = env == "production"
        development_only = "false" if production else "true"
        data_dir = Path(environ.get("BOOKIT_DATA_DIR", ".bookit")).expanduser()
        try:
            settings = cls(
                env=env,
                database_url=environ.get("DATABASE_URL") or None,
                secret_key=environ.get("SECRET_KEY", ""),
                access_token_expire_minutes=int(environ.get("ACCESS_TOKEN_EXPIRE", "15")),
                refresh_token_expire_days=int(environ.get("REFRESH_TOKEN_EXPIRE", "7")),
                log_level=environ.get("LOG_LEVEL", "INFO").upper(),
                bcrypt_rounds=int(environ.get("BCRYPT_ROUNDS", "12")),
                data_dir=data_dir,
                host=environ.get("BOOKIT_HOST", "127.0.0.1"),
                port=int(environ.get("BOOKIT_PORT", "8000")),
                cors_origins=_list(environ.get("BOOKIT_CORS_ORIGINS", "")),
                graphiql=_flag(environ.get("BOOKIT_GRAPHIQL", development_only)),
                introspection=_flag(environ.get("BOOKIT_INTROSPECTION", development_only)),
                field_suggestions=_flag(environ.get("BOOKIT_FIELD_SUGGESTIONS", development_only)),
                compiled_reads=_flag(environ.get("BOOKIT_COMPILED_READS", "on")),
                legacy_graphql_ws=_flag(environ.get("BOOKIT_LEGACY_GRAPHQL_WS", "false")),
                max_subscriptions_per_socket=int(environ.get("BOOKIT_MAX_SUBSCRIPTIONS", "20")),
                subscriber_queue_size=int(environ.get("BOOKIT_SUBSCRIBER_QUEUE", "1000")),
                max_depth=int(environ.get("BOOKIT_MAX_DEPTH", "12")),
                max_aliases=int(environ.get("BOOKIT_MAX_ALIASES", "30")),
                max_directives=int(environ.get("BOOKIT_MAX_DIRECTIVES", "4")),
                max_fields=int(environ.get("BOOKIT_MAX_FIELDS", "100")),
                max_tokens=int(environ.get("BOOKIT_MAX_TOKENS", "2000")),
                max_cost=int(environ.get("BOOKIT_MAX_COST", "10000")),
                max_body_bytes=int(environ.get("BOOKIT_MAX_BODY_BYTES", "100000")),
                rate_limit=_flag(environ.get("BOOKIT_RATE_LIMIT", "on")),
                rate_limit_login=_rate(environ, "BOOKIT_RATE_LIMIT_LOGIN", ACCOUNT_RATE),
                rate_limit_register=_rate(environ, "BOOKIT_RATE_LIMIT_REGISTER", ACCOUNT_RATE),
                rate_limit_refresh=_rate(environ, "BOOKIT_RATE_LIMIT_REFRESH", ACCOUNT_RATE),
                rate_limit_address=_rate(environ, "BOOKIT_RATE_LIMIT_ADDRESS", ADDRESS_RATE),
            )
        except ValueError as error:
            raise ConfigError(f"a numeric setting is not a number: {error}") from error
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
