"""Retention: events that every consumer has passed and that are old enough are pruned; a
subscription resuming after a pruned cursor is told so, with a code."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bookit_graphql.bookings.models import BookingEvent
from bookit_graphql.integrations.models import OutboxConsumer
from bookit_graphql.integrations.worker import Worker
from bookit_graphql.pagination import encode_cursor
from tests.bookings.support import at, booked
from tests.bookings.wsclient import Socket
from tests.conftest import Server
from tests.factories import Rows
from tests.helpers import Account

Sessions = async_sessionmaker[AsyncSession]


async def count(db: Sessions) -> int:
    async with db() as session:
        return int(await session.scalar(select(func.count()).select_from(BookingEvent)) or 0)


async def test_old_events_that_every_consumer_passed_are_pruned(
    client: httpx.AsyncClient,
    alice: Account,
    rows: Rows,
    worker: Worker,
    db: Sessions,
    start_server: Callable[..., Server],
) -> None:
    # a server for the subscription, without a worker of its own: this test drives one
    live_server = start_server("s.log", BOOKIT_WORKER="off").base
    service_id = await rows.service()
    for hour in (1, 3, 5):
        await booked(client, alice.token, service_id, at(hour))
    # given three events, 31 days old, that no consumer has passed yet: kept
    async with db.begin() as session:
        await session.execute(
            text("UPDATE booking_events SET occurred_at = now() - interval '31 days'")
        )
        await session.execute(update(OutboxConsumer).values(position=0))
    worker._pruned_at = -1e9
    await worker.drain()  # fans out first, so the consumers pass them; prunes after
    assert await count(db) == 0
    # and a fresh event stays
    await booked(client, alice.token, service_id, at(7))
    worker._pruned_at = -1e9
    await worker.drain()
    assert await count(db) == 1
    # a subscription resuming after a pruned cursor gets BAD_USER_INPUT, reason EXPIRED
    socket = await Socket.connect(live_server.replace("http://", "ws://") + "/graphql", alice.token)
    await socket.subscribe(after=encode_cursor([1]))
    message = await socket.receive()
    assert message["type"] == "next", message
    (error,) = message["payload"]["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["reason"] == "EXPIRED"
    assert error["extensions"]["field"] == "after"
    await socket.close()


async def test_nothing_is_pruned_before_every_consumer_passed_it(
    client: httpx.AsyncClient, alice: Account, rows: Rows, worker: Worker, db: Sessions
) -> None:
    from datetime import UTC, datetime, timedelta

    from bookit_graphql.integrations import outbox

    service_id = await rows.service()
    await booked(client, alice.token, service_id, at(1))
    await worker.drain()
    async with db.begin() as session:
        await session.execute(
            update(OutboxConsumer).where(OutboxConsumer.name == "notifications").values(position=0)
        )
    later = datetime.now(UTC) + timedelta(days=40)
    assert await outbox.prune(db, retention_days=30, now=later) == 0
    assert await count(db) == 1
