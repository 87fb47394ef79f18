"""The declarative Base, the engine and session factory, and migrations."""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from psycopg.rows import dict_row, tuple_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from sqlalchemy import MetaData, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase

from bookit_graphql import tracing
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


@dataclass(slots=True)
class Answer:
    """What a write's own statement selects besides its outcome: the JSON text of the
    mutation's answer about the row it wrote (compiled.answer), so that the answer
    costs no statement and no round trip of its own.

    `sql` is an expression over the written row, which the statement names
    `WRITTEN` (a lateral subquery of the function's row); `text` is what the
    statement selected for it, None when it wrote nothing.
    """

    sql: str
    params: dict[str, Any]
    text: str | None = None

    def statement(self, write: str, row: str, outcomes: tuple[str, ...]) -> str:
        """`write` (`SELECT ... FROM <function> AS r`) selecting the answer too, over its
        composite column `row`, when its outcome is one of `outcomes` (a CASE: the
        answer's subqueries run only then)."""
        select, _, source = write.partition(" FROM ")
        kept = ", ".join(f"'{outcome}'" for outcome in outcomes)
        return (
            f"{select}, CASE WHEN r.outcome IN ({kept}) THEN {self.sql} END AS answer__ "
            f"FROM {source}, LATERAL (SELECT ({row}).*) AS {WRITTEN}"
        )


WRITTEN = "written__"  # the row that a write's Answer is built over


@dataclass(eq=False)
class Check:
    """A read that a request's answer waits on, presumed to find `expected` (the one row of
    `sql`): an access token's session, live, of the user it was last found with.

    The request's first read takes it into its own statement (Reads.value), so
    that an authenticated request is one round trip, not two; a request whose
    reads did not take it runs it alone (Reads.settle). Until `passed` is true,
    nothing the request read may be answered: the caller may be refused.
    """

    sql: str
    params: dict[str, Any]  # named apart from any read's (`__` names)
    expected: tuple[Any, ...]
    passed: bool | None = None  # None: not run yet
    failure: Exception | None = None  # no connection came for the statement that ran it
    # held by the statement that runs it: settle waits for its outcome
    running: asyncio.Lock = field(default_factory=asyncio.Lock)


class CheckFailed(Exception):
    """The presumed row was not found as it was: what the request read is not its answer."""


class Reads:
    """Single-statement reads (compiled.py), and writes that are one statement each (the SQL
    functions of bookings and reviews), on psycopg's own pool, in autocommit.

    Beside SQLAlchemy's pool, a read skips its checkout, its pre-ping and its
    statement machinery, and needs no transaction: about 110 µs of CPU instead
    of 390 (measured here). Without the pre-ping, a read that finds its
    connection dropped by the server (a restart) has the pool check the others,
    then runs once more.

    psycopg prepares a statement on its fifth run on a connection; the
    connections then keep one generic plan for it. Left to choose, PostgreSQL
    planned the compiled `service` read anew on every run (its custom plans
    fold the viewer's parameters away, so they always look cheaper): 1.3 ms of
    planning for 0.5 ms of execution.
    """

    def __init__(self, url: str, *, size: int = 20) -> None:
        # `size` above the requests a process serves at once (16 in the benchmark):
        # a request that waits for a connection waits a loop turn more (-10 % req/s)
        self.pool = AsyncConnectionPool(
            libpq_url(url),
            min_size=2,
            max_size=size,
            open=False,
            timeout=5,
            kwargs={"autocommit": True, "connect_timeout": 5},
            configure=_generic_plans,
        )
        self.listeners: list[Callable[[str], object]] = []  # told each statement (tests count)

    async def value(self, sql: str, params: dict[str, Any], check: Check | None = None) -> Any:
        """The first column of the statement's first row, or None.

        With a `check` that no read has taken yet, the one statement also reads the
        check's row (and finds no row at all without it); CheckFailed when that row is
        not the one expected.
        """
        if (
            check is None
            or check.passed is not None
            or check.running.locked()  # another read runs it: this one need not wait
            or check.params.keys() & params.keys()
        ):
            row = await self._first(sql, params, tuple_row)
            return row[0] if row else None
        async with check.running:
            width = len(check.expected)
            both = f"SELECT c__.*, ({sql} LIMIT 1) FROM ({check.sql}) c__"
            try:
                row = await self._first(both, {**check.params, **params}, tuple_row)
            except PoolTimeout as failure:  # no connection came: alone, it would wait as long
                check.failure = failure
                raise
            # (the read's own error leaves it to settle, which runs it alone)
            check.passed = row is not None and tuple(row[:width]) == check.expected
        if not check.passed:
            raise CheckFailed()
        return row[width]

    async def settle(self, check: Check | None) -> bool:
        """Whether the check passed: run alone if no read ran it, after the read that runs
        it. The pool's timeout of that read is raised again: alone, it would wait as long
        and fail the same way."""
        if check is None:
            return True
        async with check.running:
            if check.failure is not None:
                raise check.failure
            if check.passed is None:
                row = await self._first(check.sql, check.params, tuple_row)
                check.passed = row is not None and tuple(row) == check.expected
        return check.passed

    async def row(self, sql: str, params: dict[str, Any]) -> dict[str, Any] | None:
        """The statement's first row, by column name, or None."""
        found: dict[str, Any] | None = await self._first(sql, params, dict_row)
        return found

    async def write(self, sql: str, params: dict[str, Any], *, attempts: int = 3) -> dict[str, Any]:
        """The first row, by column name, of a statement that writes in a transaction of
        its own; run again (as `in_transaction` does) when PostgreSQL aborts it as a
        deadlock victim or a serialization failure.

        Unlike a read, never run again on a connection that broke under it: the
        statement may have committed before the connection went, and would then
        write twice (a client's retry with an idempotency key is the safe one).
        """
        attempt = 1
        while True:
            try:
                found: dict[str, Any] = await self._first(sql, params, dict_row, again=False)
                return found
            except psycopg.Error as error:
                if error.sqlstate not in RETRYABLE_SQLSTATES or attempt >= attempts:
                    raise
                log.warning(
                    "statement retried after SQLSTATE %s (attempt %d)", error.sqlstate, attempt
                )
            await asyncio.sleep(random.uniform(0.005, 0.02) * attempt)
            attempt += 1

    async def _first(
        self, sql: str, params: dict[str, Any], factory: Any, *, again: bool = True
    ) -> Any:
        if self.pool.closed:  # the first read opens it (tests skip the lifespan)
            await self.pool.open()
        for listener in self.listeners:
            listener(sql)
        if tracing.tracer is not None:
            with tracing.statement_span(sql):
                return await self._run(sql, params, factory, again)
        return await self._run(sql, params, factory, again)

    async def _run(self, sql: str, params: dict[str, Any], factory: Any, again: bool) -> Any:
        for attempt in range(2):
            async with self.pool.connection() as connection:
                try:
                    query, names = _positional(sql)
                    cursor = psycopg.AsyncRawCursor(connection, row_factory=factory)
                    values = [params[name] for name in names]
                    return await (await cursor.execute(query, values)).fetchone()
                except psycopg.OperationalError as error:
                    if not connection.broken or attempt > 0:
                        raise
                    failed = error
            await self.pool.check()  # the server may have dropped every connection
            if not again:
                raise failed
        raise AssertionError("unreachable")

    async def close(self) -> None:
        await self.pool.close()


_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%%")


@functools.lru_cache(maxsize=512)
def _positional(sql: str) -> tuple[str, tuple[str, ...]]:
    """A statement with `%(name)s` parameters (and `%%`) as PostgreSQL's own `$n`, with
    the names in their order: psycopg's conversion, made once per text. psycopg keeps
    it only for statements up to 4 KB, and a compiled read is often longer (S3's
    `service`: 4.5 KB, 10 us of conversion a request)."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "%"
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return _PLACEHOLDER.sub(number, sql), tuple(names)


async def _generic_plans(connection: psycopg.AsyncConnection[Any]) -> None:
    await connection.execute("SET plan_cache_mode = force_generic_plan")


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
