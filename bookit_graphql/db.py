"""The declarative Base, the engine and session factory, and migrations."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import MetaData, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase

from bookit_graphql.errors import BadUserInput

ROOT = Path(__file__).resolve().parent.parent

T = TypeVar("T")
log = logging.getLogger(__name__)

# deadlock_detected, serialization_failure: PostgreSQL aborted the transaction
# only to break a cycle or a conflict; the same work may well succeed if run again.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def sqlalchemy_url(url: str) -> str:
    """The same database URL, spelled for SQLAlchemy's psycopg 3 driver."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    raise ValueError("DATABASE_URL must be a postgresql:// URL")


class Reads:
    """Single-statement reads (compiled.py) on psycopg's own pool, in autocommit.

    Beside SQLAlchemy's pool, a read skips its checkout, its pre-ping and its
    statement machinery, and needs no transaction: about 110 µs of CPU instead
    of 390 (measured here). Without the pre-ping, a read whose connection the
    server dropped (a restart) runs once more, on a new connection.
    """

    def __init__(self, url: str, *, size: int = 10) -> None:
        self.pool = AsyncConnectionPool(
            libpq_url(url),
            min_size=2,
            max_size=size,
            open=False,
            timeout=5,
            kwargs={"autocommit": True, "connect_timeout": 5},
        )
        self.listeners: list[Callable[[str], object]] = []  # told each statement (tests count)

    async def value(self, sql: str, params: dict[str, Any]) -> Any:
        """The first column of the statement's first row, or None."""
        await self.pool.open()  # at once if open; the first read opens it
        for listener in self.listeners:
            listener(sql)
        for attempt in range(2):
            async with self.pool.connection() as connection:
                try:
                    row = await (await connection.execute(sql, params)).fetchone()
                except psycopg.OperationalError:
                    if connection.broken and attempt == 0:
                        continue
                    raise
                return row[0] if row else None
        raise AssertionError("unreachable")

    async def close(self) -> None:
        await self.pool.close()


MAX_SEARCH = 200  # characters of a filter's `q`


def contains_pattern(text: str) -> str:
    """An ILIKE pattern matching `text` anywhere, its wildcards taken literally."""
    if len(text) > MAX_SEARCH:
        raise BadUserInput(f"A search is at most {MAX_SEARCH} characters.", field="q")
    escaped = text.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def libpq_url(url: str) -> str:
    """The same database URL, spelled for libpq (psycopg's own connections)."""
    return "postgresql://" + sqlalchemy_url(url).removeprefix("postgresql+psycopg://")


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    # pre-ping: a connection killed by the server (restart, pg_terminate_backend)
    # is replaced instead of failing the next request that draws it.
    return create_async_engine(
        sqlalchemy_url(url),
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=5,
        connect_args={"connect_timeout": 5},
    )


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def in_transaction(
    session_factory: async_sessionmaker[AsyncSession],
    work: Callable[[AsyncSession], Awaitable[T]],
    *,
    attempts: int = 3,
) -> T:
    """`work` in a transaction of its own, run again (at most `attempts` times in all)
    when PostgreSQL aborts it as a deadlock victim or a serialization failure.

    `work` must do nothing but database writes: it may run more than once.
    """
    attempt = 1
    while True:
        try:
            async with session_factory.begin() as session:
                return await work(session)
        except DBAPIError as error:
            sqlstate = getattr(error.orig, "sqlstate", None)
            if sqlstate not in RETRYABLE_SQLSTATES or attempt >= attempts:
                raise
            log.warning("transaction retried after SQLSTATE %s (attempt %d)", sqlstate, attempt)
        # jitter, so that the transactions that collided do not collide again
        await asyncio.sleep(random.uniform(0.005, 0.02) * attempt)
        attempt += 1


def alembic_config(url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    return config


def migrate(url: str, revision: str = "head") -> None:
    """Upgrade the database to `revision` (blocking: call it before serving)."""
    command.upgrade(alembic_config(url), revision)


def head_revisions(url: str) -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config(url)).get_heads())


async def current_revisions(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        rows = await connection.execute(text("SELECT version_num FROM alembic_version"))
        return {row[0] for row in rows}
