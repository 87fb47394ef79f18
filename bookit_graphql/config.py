"""Settings read once from the environment (and a `.env` file)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path

from dotenv import load_dotenv

MIN_SECRET_BYTES = 32


class ConfigError(Exception):
    """The environment does not describe a server that may start."""


def _flag(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _list(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


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
                graphiql=_flag(environ.get("BOOKIT_GRAPHIQL", "false" if production else "true")),
                introspection=_flag(
                    environ.get("BOOKIT_INTROSPECTION", "false" if production else "true")
                ),
                legacy_graphql_ws=_flag(environ.get("BOOKIT_LEGACY_GRAPHQL_WS", "false")),
                max_subscriptions_per_socket=int(environ.get("BOOKIT_MAX_SUBSCRIPTIONS", "20")),
                subscriber_queue_size=int(environ.get("BOOKIT_SUBSCRIBER_QUEUE", "1000")),
            )
        except ValueError as error:
            raise ConfigError(f"a numeric setting is not a number: {error}") from error
        if not 4 <= settings.bcrypt_rounds <= 31:
            raise ConfigError("BCRYPT_ROUNDS must be between 4 and 31")
        if settings.access_token_expire_minutes <= 0 or settings.refresh_token_expire_days <= 0:
            raise ConfigError("ACCESS_TOKEN_EXPIRE and REFRESH_TOKEN_EXPIRE must be positive")
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
