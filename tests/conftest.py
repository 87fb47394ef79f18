"""The test database: one per run (embedded, or on DATABASE_URL's server), clean per test."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql
from sqlalchemy import event, make_url, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bookit_graphql.app import create_app
from bookit_graphql.config import Settings
from bookit_graphql.db import Base, create_engine, create_session_factory, migrate, sqlalchemy_url
from bookit_graphql.models import load_all
from tests.factories import Rows
from tests.helpers import Account, make_admin, sign_up

SECRET = "test-secret-key-that-is-long-enough-0123456789"


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """A URL of a maintenance database on the PostgreSQL that the tests use."""
    given = os.environ.get("DATABASE_URL")
    if given:
        yield given
        return
    from bookit_graphql.embedded import embedded_database

    folder = Path(tempfile.mkdtemp(prefix="bk", dir="/tmp"))  # socket paths must stay short
    try:
        with embedded_database(folder, database="postgres") as url:
            yield url
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def make_database(server_url: str) -> Iterator[Any]:
    """Creates empty databases on the test server; drops them after the run."""
    made: list[str] = []

    def make() -> str:
        name = f"bookit_test_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(server_url, autocommit=True) as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        made.append(name)
        return with_database(server_url, name)

    yield make
    with psycopg.connect(server_url, autocommit=True) as connection:
        for name in made:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def with_database(url: str, name: str) -> str:
    """`url` pointing at database `name` (keeps the host, socket and credentials)."""
    return make_url(sqlalchemy_url(url)).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def database_url(make_database: Any) -> str:
    url: str = make_database()
    migrate(url)
    return url


@pytest.fixture(scope="session")
def settings() -> Settings:
    # the suite logs in from one address far more often than a person would
    return Settings(secret_key=SECRET, bcrypt_rounds=4, rate_limit=False)


@pytest.fixture(scope="session")
async def app(settings: Settings, database_url: str) -> AsyncIterator[Any]:
    application = create_app(settings, database_url)
    yield application
    await application.state.reads.close()
    await application.state.engine.dispose()


@pytest.fixture(params=["compiled", "resolved"])
def reads(request: pytest.FixtureRequest, app: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """The test runs twice: reads compiled to SQL (compiled.py), and the resolvers alone."""
    if request.param == "resolved":
        view = app.state.view
        monkeypatch.setattr(view, "settings", replace(view.settings, compiled_reads=False))
    return str(request.param)


@pytest.fixture(autouse=True)
async def clean_database(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Every test starts from empty tables (only if it touched the database)."""
    yield
    if "database_url" not in request.fixturenames:
        return
    url = request.getfixturevalue("database_url")
    load_all()
    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    engine = create_engine(url, pool_size=1)
    for attempt in range(5):  # a server still running (module-scoped) may deadlock with it
        try:
            async with engine.begin() as connection:
                await connection.execute(text(f"TRUNCATE {tables} CASCADE"))
            break
        except DBAPIError as error:
            if getattr(error.orig, "sqlstate", None) != "40P01" or attempt == 4:
                raise
    await engine.dispose()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on the test database, beside the API's own."""
    engine = create_engine(database_url, pool_size=2)
    yield create_session_factory(engine)
    await engine.dispose()


@pytest.fixture
def rows(db: async_sessionmaker[AsyncSession]) -> Rows:
    """Rows written straight into the test database (tests/factories.py)."""
    return Rows(db)


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bookit.test") as c:
        yield c


@pytest.fixture
async def admin(client: httpx.AsyncClient, database_url: str) -> Account:
    return await make_admin(client, database_url, "admin@example.com")


@pytest.fixture
async def alice(client: httpx.AsyncClient) -> Account:
    return await sign_up(client, "alice@example.com", full_name="Alice")


@pytest.fixture
async def bob(client: httpx.AsyncClient) -> Account:
    return await sign_up(client, "bob@example.com", full_name="Bob")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    """A real `bookit serve` process."""

    base: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def ws(self) -> str:
        return self.base.replace("http://", "ws://") + "/graphql"

    def stop(self, timeout: float = 15) -> int:
        """SIGTERM, then SIGKILL if it does not stop in time; returns the exit code."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def spawn_server(
    database_url: str, folder: Path, log_name: str | None = None, **extra_env: str
) -> Server:
    """Start `bookit serve` on the test database (without waiting for it to be up)."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": SECRET,
        "BCRYPT_ROUNDS": "4",
        "BOOKIT_PORT": str(port),
        "LOG_LEVEL": "WARNING",
        "BOOKIT_RATE_LIMIT": "off",
        # the integrations worker polls the outbox: only the tests of it turn it on
        "BOOKIT_WORKER": "off",
        **extra_env,
    }
    log = folder / (log_name or f"server-{port}.log")
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "bookit_graphql", "serve"], env=env, stdout=output, stderr=output
        )
    return Server(f"http://127.0.0.1:{port}", process, log)


@pytest.fixture
def start_server(database_url: str, tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Starts `bookit serve` processes on the test database; stops them by pid."""
    started: list[Server] = []

    def start(log_name: str | None = None, **extra_env: str) -> Server:
        server = spawn_server(database_url, tmp_path, log_name, **extra_env)
        started.append(server)
        wait_until_healthy(server.base, server.process, server.log)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def live_server(start_server: Callable[..., Server]) -> str:
    """The base URL of one real `bookit serve` process (its log: tmp_path / "server.log")."""
    return start_server("server.log").base


def wait_until_healthy(
    base: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 30
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"bookit serve exited with {process.returncode}: {log.read_text()}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("bookit serve did not become healthy in time")


class StatementCounter:
    """The SQL statements that an app sends (its engine's, and its compiled reads')."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    @property
    def count(self) -> int:
        return len(self.statements)

    def clear(self) -> None:
        """Forget what was sent so far (before the request that a test measures)."""
        self.statements.clear()

    def _executed(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.statements.append(statement)

    def attach(self, app: Any) -> None:
        event.listen(app.state.engine.sync_engine, "before_cursor_execute", self._executed)
        app.state.reads.listeners.append(self.statements.append)

    def detach(self, app: Any) -> None:
        event.remove(app.state.engine.sync_engine, "before_cursor_execute", self._executed)
        app.state.reads.listeners.remove(self.statements.append)


@pytest.fixture
def statements(app: Any) -> Iterator[StatementCounter]:
    """The statements of the app during a test (call `clear()` before the measured request)."""
    counter = StatementCounter()
    counter.attach(app)
    yield counter
    counter.detach(app)
