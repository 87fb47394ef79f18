"""Races for one slot against a real server process: one winner, the rest BOOKING_CONFLICT.

Each racer is its own user on its own HTTP connection, registered before the
start; all requests leave together when an event fires.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bookit_graphql.bookings import models, service
from bookit_graphql.bookings.models import BookingStatus
from bookit_graphql.db import Reads, create_engine, create_session_factory, in_transaction
from bookit_graphql.errors import BookingConflict
from bookit_graphql.users.models import User
from tests.bookings.support import BASE, CREATE_BOOKING, RESCHEDULE_BOOKING, at
from tests.helpers import Account, codes, gql, register

RACERS = 50


@dataclass
class Racer:
    client: httpx.AsyncClient
    token: str


@pytest.fixture
async def racers(live_server: str) -> AsyncIterator[list[Racer]]:
    """50 users of the live server, each registered and with a connection of its own."""
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(httpx.AsyncClient(base_url=live_server, timeout=30))
            for _ in range(RACERS)
        ]
        accounts = await asyncio.gather(
            *(register(client, f"racer{n}@example.com") for n, client in enumerate(clients))
        )
        yield [
            Racer(client, account["accessToken"])
            for client, account in zip(clients, accounts, strict=True)
        ]


async def race(racers: list[Racer], query: str, variables: list[dict[str, Any]]) -> list[dict]:
    """Every racer sends `query` with its variables at the same moment; their response bodies."""
    start = asyncio.Event()

    async def run(racer: Racer, mine: dict[str, Any]) -> dict[str, Any]:
        await start.wait()
        return await gql(racer.client, query, mine, token=racer.token)

    tasks = [asyncio.create_task(run(r, v)) for r, v in zip(racers, variables, strict=True)]
    await asyncio.sleep(0.05)  # every task is waiting at the start line
    start.set()
    return await asyncio.gather(*tasks)


async def test_fifty_racers_for_one_slot_make_one_winner_and_49_conflicts(
    racers: list[Racer],
    service_id: str,
    db: async_sessionmaker[AsyncSession],
) -> None:
    """Both races share one server process: starting it is most of the cost."""
    deadlocks_before = await deadlocks(db)

    # when 50 users book 10:00-11:00 of one service at once
    variables = [{"input": {"serviceId": service_id, "startsAt": at(10)}}] * RACERS
    bodies = await race(racers, CREATE_BOOKING, variables)

    # then one gets it, 49 are told the time is taken, and nothing else happens
    won = [body for body in bodies if "errors" not in body]
    lost = [body for body in bodies if codes(body) == ["BOOKING_CONFLICT"]]
    assert (len(won), len(lost)) == (1, RACERS - 1), [codes(body) for body in bodies]
    for body in lost:
        busy = body["errors"][0]["extensions"]["conflictingRange"]
        assert busy == {"startsAt": at(10), "endsAt": at(11)}
    # and the table holds exactly one booking, the winner's
    winner = won[0]["data"]["createBooking"]["id"]
    assert await starts_by_id(db) == {winner: at(10)}

    # given then 50 more bookings of the service, one per user, back to back from 200:00
    made = await asyncio.gather(
        *(
            gql(
                racer.client,
                CREATE_BOOKING,
                {"input": {"serviceId": service_id, "startsAt": at(200 + n)}},
                token=racer.token,
            )
            for n, racer in enumerate(racers)
        )
    )
    mine = [body["data"]["createBooking"]["id"] for body in made]

    # when every user moves theirs to the free 100:00-101:00 at once
    variables = [{"id": booking_id, "startsAt": at(100)} for booking_id in mine]
    bodies = await race(racers, RESCHEDULE_BOOKING, variables)

    # then one move succeeds and 49 are BOOKING_CONFLICT, nothing else
    moved = [n for n, body in enumerate(bodies) if "errors" not in body]
    lost = [body for body in bodies if codes(body) == ["BOOKING_CONFLICT"]]
    assert (len(moved), len(lost)) == (1, RACERS - 1), [codes(body) for body in bodies]
    for body in lost:
        busy = body["errors"][0]["extensions"]["conflictingRange"]
        assert busy == {"startsAt": at(100), "endsAt": at(101)}
    # and only that booking moved; every other stayed where it was
    expected = {
        booking_id: at(100) if n == moved[0] else at(200 + n) for n, booking_id in enumerate(mine)
    }
    assert await starts_by_id(db) == {winner: at(10), **expected}

    # and PostgreSQL saw no deadlock (that a retry would have hidden): the advisory
    # lock kept them away. A backend reports its counters within a second.
    await asyncio.sleep(1.1)
    assert await deadlocks(db) == deadlocks_before


async def deadlocks(db: async_sessionmaker[AsyncSession]) -> int:
    """How many deadlocks PostgreSQL has broken in the test database so far."""
    async with db() as session:
        found = await session.scalar(
            text("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        )
        return int(found)


async def starts_by_id(db: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    """When each active booking starts, by id."""
    async with db() as session:
        rows = await session.scalars(
            select(models.Booking).where(models.Booking.status != BookingStatus.CANCELLED)
        )
        return {str(row.id): row.starts_at.isoformat() for row in rows}


WRITERS = 16


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A session factory with a connection for every writer."""
    engine = create_engine(database_url, pool_size=WRITERS)
    yield create_session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[Reads]:
    """The psycopg pool that the writes run on, a connection for every writer."""
    reads = Reads(database_url, size=WRITERS)
    yield reads
    await reads.close()


async def test_writers_contending_for_one_slot_never_deadlock(
    sessions: async_sessionmaker[AsyncSession],
    pool: Reads,
    service_id: str,
    alice: Account,
    db: async_sessionmaker[AsyncSession],
) -> None:
    """16 writers keep moving their bookings into one hot slot and back.

    Without the per-service advisory lock such updates deadlock on the exclusion
    constraint (and would be retried); with it, PostgreSQL breaks no deadlock.
    """
    deadlocks_before = await deadlocks(db)
    async with sessions() as session:
        actor = await session.get_one(User, uuid.UUID(alice.id))
    homes = [BASE + timedelta(hours=n) for n in range(WRITERS)]
    hot = BASE + timedelta(days=2)
    bookings = [
        await service.create_booking(
            pool, actor=actor, service_id=uuid.UUID(service_id), starts_at=home
        )
        for home in homes
    ]
    outcomes: list[str] = []

    async def move(booking_id: uuid.UUID, starts_at: datetime) -> None:
        await service.update_booking(pool, actor=actor, booking_id=booking_id, starts_at=starts_at)

    async def writer(booking_id: uuid.UUID, home: datetime) -> None:
        for _ in range(10):
            try:
                await move(booking_id, hot)
            except BookingConflict:
                outcomes.append("conflict")
                continue
            except psycopg.Error as error:
                outcomes.append(error.sqlstate or "error")
                continue
            outcomes.append("moved")
            await move(booking_id, home)

    await asyncio.wait_for(
        asyncio.gather(*(writer(b.id, home) for b, home in zip(bookings, homes, strict=True))),
        timeout=60,
    )
    assert set(outcomes) <= {"moved", "conflict"}, outcomes
    assert outcomes.count("moved") >= 1
    assert await deadlocks(db) == deadlocks_before


def deadlock() -> DBAPIError:
    return DBAPIError("INSERT ...", {}, psycopg.errors.DeadlockDetected("deadlock detected"))


async def test_a_deadlock_victim_runs_again_a_bounded_number_of_times(
    db: async_sessionmaker[AsyncSession],
) -> None:
    # given work that PostgreSQL picks as a deadlock victim twice
    calls = 0

    async def work(session: AsyncSession) -> int:
        nonlocal calls
        calls += 1
        if calls <= 2:
            raise deadlock()
        return int((await session.execute(text("SELECT 42"))).scalar_one())

    # then the third run's result comes back
    assert await in_transaction(db, work, attempts=3) == 42
    assert calls == 3

    # while with two attempts the deadlock reaches the caller
    calls = 0
    with pytest.raises(DBAPIError):
        await in_transaction(db, work, attempts=2)
    assert calls == 2


async def test_other_database_errors_are_not_retried(
    db: async_sessionmaker[AsyncSession],
) -> None:
    calls = 0

    async def work(session: AsyncSession) -> None:
        nonlocal calls
        calls += 1
        await session.execute(text("SELECT 1 / 0"))

    with pytest.raises(DBAPIError):
        await in_transaction(db, work)
    assert calls == 1
