"""Seats and buffers under concurrency: the database decides, and never lets more than
`capacity` active bookings of a service keep overlapping time."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import strategies as st
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bookit_graphql.bookings import service
from bookit_graphql.bookings.models import BookingStatus
from bookit_graphql.catalog.models import Service
from bookit_graphql.db import Reads, create_engine, create_session_factory
from bookit_graphql.errors import BookingConflict, SlotUnavailable
from bookit_graphql.users.models import User
from tests.bookings.support import BASE, CREATE_BOOKING, at
from tests.bookings.test_races import Racer, race, racers  # noqa: F401 (a fixture)
from tests.factories import Rows
from tests.helpers import codes, generate

# The most active bookings of one service that keep one moment busy: the
# greatest number is reached at some booking's busy start.
MOST_AT_ONCE = text(
    """
    SELECT b.service_id, max((
        SELECT count(*) FROM bookings o
        WHERE o.service_id = b.service_id AND o.status <> 'CANCELLED'
          AND tstzrange(o.busy_starts_at, o.busy_ends_at, '[)') @> b.busy_starts_at
    )) AS most
    FROM bookings b WHERE b.status <> 'CANCELLED' GROUP BY b.service_id
    """
)


async def most_at_once(db: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    async with db() as session:
        return {str(r.service_id): int(r.most) for r in await session.execute(MOST_AT_ONCE)}


async def test_thirty_racers_for_five_seats_make_five_bookings_three_rounds(
    racers: list[Racer],  # noqa: F811
    rows: Rows,
    db: async_sessionmaker[AsyncSession],
) -> None:
    # given a class of 5 seats with 10 minutes of buffer after each booking
    class_id = await rows.service(capacity=5, buffer_after_minutes=10)
    for round_ in range(3):
        # when 30 users book one slot of it at once
        variables = [{"input": {"serviceId": class_id, "startsAt": at(10 + 3 * round_)}}] * 30
        bodies = await race(racers[:30], CREATE_BOOKING, variables)
        # then exactly 5 get a seat, 25 are told it is full, and nothing else happens
        won = [body for body in bodies if "errors" not in body]
        lost = [body for body in bodies if codes(body) == ["BOOKING_CONFLICT"]]
        assert (len(won), len(lost)) == (5, 25), [codes(body) for body in bodies]
        assert lost[0]["errors"][0]["extensions"]["conflictingRange"] == {
            "startsAt": at(10 + 3 * round_),
            "endsAt": at(11 + 3 * round_),
        }
    assert await most_at_once(db) == {class_id: 5}


async def test_fifty_racers_whose_buffers_overlap_make_one_booking(
    racers: list[Racer],  # noqa: F811
    rows: Rows,
    db: async_sessionmaker[AsyncSession],
) -> None:
    # given a one-seat service with 30 minutes of buffer on both sides
    service_id = await rows.service(buffer_before_minutes=30, buffer_after_minutes=30)
    # when 50 users book it at once, each a minute after the one before: every two
    # of these hours overlap, with their buffers
    variables = [
        {"input": {"serviceId": service_id, "startsAt": at(10 + n / 60)}} for n in range(50)
    ]
    bodies = await race(racers, CREATE_BOOKING, variables)
    # then one wins and 49 are BOOKING_CONFLICT
    won = [body for body in bodies if "errors" not in body]
    lost = [body for body in bodies if codes(body) == ["BOOKING_CONFLICT"]]
    assert (len(won), len(lost)) == (1, 49), [codes(body) for body in bodies]
    assert await most_at_once(db) == {service_id: 1}


WRITERS = 8


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url, pool_size=WRITERS)
    yield create_session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[Reads]:
    """The psycopg pool that the writes run on, a connection for every writer."""
    reads = Reads(database_url, size=WRITERS)
    yield reads
    await reads.close()


# A program: a service's seats and buffers, then rounds of writes sent at once.
# A write is ("create", start), ("move", which booking, start) or ("cancel", which),
# starts in quarter hours from BASE, each booking an hour long.
quarter = st.integers(min_value=0, max_value=8)
write = st.one_of(
    st.tuples(st.just("create"), quarter),
    st.tuples(st.just("move"), st.integers(0, 30), quarter),
    st.tuples(st.just("cancel"), st.integers(0, 30)),
)
programs = st.tuples(
    st.integers(min_value=1, max_value=3),
    st.sampled_from([0, 15, 30]),
    st.sampled_from([0, 15]),
    st.lists(st.lists(write, min_size=2, max_size=WRITERS), min_size=2, max_size=6),
)


async def test_interleaved_writes_never_overfill_a_service(
    rows: Rows,
    sessions: async_sessionmaker[AsyncSession],
    pool: Reads,
    db: async_sessionmaker[AsyncSession],
) -> None:
    admin_id = uuid.UUID(await rows.user(role="ADMIN"))
    async with sessions() as session:
        admin = await session.get_one(User, admin_id)
    outcomes: dict[str, int] = {}
    for capacity, before, after, rounds in generate(programs, 20):
        service_id = uuid.UUID(
            await rows.service(
                capacity=capacity, buffer_before_minutes=before, buffer_after_minutes=after
            )
        )
        made: list[uuid.UUID] = []

        async def run(
            step: tuple[Any, ...], service_id: uuid.UUID = service_id, made: list[uuid.UUID] = made
        ) -> str:
            async def work() -> Any:
                if step[0] == "create":
                    return await service.create_booking(
                        pool,
                        actor=admin,
                        service_id=service_id,
                        starts_at=BASE + timedelta(minutes=15 * step[1]),
                    )
                booking_id = made[step[1] % len(made)]
                if step[0] == "move":
                    return await service.update_booking(
                        pool,
                        actor=admin,
                        booking_id=booking_id,
                        starts_at=BASE + timedelta(minutes=15 * step[2]),
                    )
                return await service.update_booking(
                    pool, actor=admin, booking_id=booking_id, status=BookingStatus.CANCELLED
                )

            if step[0] != "create" and not made:
                return "skipped"
            try:
                booking = await work()
            except BookingConflict:
                return "conflict"
            except SlotUnavailable as refused:
                return str(refused.extensions["reason"])
            except Exception as error:  # an InvalidState: moving a cancelled booking
                return type(error).__name__
            if step[0] == "create":
                made.append(booking.id)
            return str(step[0])

        for writes in rounds:
            for outcome in await asyncio.gather(*(run(step) for step in writes)):
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
        found = await most_at_once(db)
        assert found.get(str(service_id), 0) <= capacity, (capacity, before, after, rounds)
    # the programs did reach every kind of outcome, conflicts included
    assert {"create", "move", "cancel", "conflict"} <= set(outcomes), outcomes
    assert set(outcomes) <= {"create", "move", "cancel", "conflict", "skipped", "InvalidState"}


async def test_a_service_that_drops_to_one_seat_keeps_its_bookings_and_takes_no_overlap(
    rows: Rows,
    sessions: async_sessionmaker[AsyncSession],
    pool: Reads,
    db: async_sessionmaker[AsyncSession],
) -> None:
    # given 3 bookings of one hour in a 3-seat class
    admin_id = uuid.UUID(await rows.user(role="ADMIN"))
    service_id = uuid.UUID(await rows.service(capacity=3))
    async with sessions() as session:
        admin = await session.get_one(User, admin_id)
    for _ in range(3):
        await service.create_booking(pool, actor=admin, service_id=service_id, starts_at=BASE)
    # when it becomes a one-seat service
    async with sessions.begin() as session:
        await session.execute(update(Service).where(Service.id == service_id).values(capacity=1))
    # then the 3 stay, and a new booking that overlaps them is refused (the count sees
    # them although the exclusion constraint does not: they are not exclusive)
    with pytest.raises(BookingConflict):
        await service.create_booking(
            pool, actor=admin, service_id=service_id, starts_at=BASE + timedelta(minutes=30)
        )
    assert await most_at_once(db) == {str(service_id): 3}
