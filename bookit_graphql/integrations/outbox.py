"""The event log as an outbox: each consumer's durable position, advanced with its work.

A consumer (webhooks, notifications) turns events into rows of its own work
(deliveries, messages). `advance` locks the consumer's row with FOR UPDATE
SKIP LOCKED, so one instance at a time fans the next events out and the
others go on with sending; it writes the work and the new position in one
transaction: a crash keeps both or neither, and unique keys on the work make
a replay harmless. Event ids follow commit order (bookings/events.py), so
reading past the position never skips an event that commits later.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bookit_graphql.bookings import events
from bookit_graphql.bookings.events import Event, events_after
from bookit_graphql.integrations.models import OutboxConsumer

CONSUMERS = ("webhooks", "notifications")

Handler = Callable[[AsyncSession, list[Event]], Awaitable[None]]


async def advance(
    session_factory: async_sessionmaker[AsyncSession], consumer: str, handle: Handler
) -> int:
    """Hand the next page of events to `handle`; how many (0 if another instance is at it)."""
    async with session_factory.begin() as session:
        # A consumer without a row starts at the log's beginning: at least once.
        await session.execute(
            insert(OutboxConsumer).values(name=consumer, position=0).on_conflict_do_nothing()
        )
        position = await session.scalar(
            select(OutboxConsumer.position)
            .where(OutboxConsumer.name == consumer)
            .with_for_update(skip_locked=True)
        )
        if position is None:
            return 0
        found = await events_after(session, position)
        if not found:
            return 0
        await handle(session, found)
        await session.execute(
            update(OutboxConsumer)
            .where(OutboxConsumer.name == consumer)
            .values(position=found[-1].id, updated_at=func.now())
        )
        return len(found)


async def prune(
    session_factory: async_sessionmaker[AsyncSession], *, retention_days: int, now: datetime
) -> int:
    """Delete events older than the retention that every consumer has passed; how many."""
    async with session_factory.begin() as session:
        positions = (
            await session.execute(
                select(OutboxConsumer.name, OutboxConsumer.position).where(
                    OutboxConsumer.name.in_(CONSUMERS)
                )
            )
        ).all()
        known = {name: position for name, position in positions}
        if set(known) != set(CONSUMERS):
            return 0  # a consumer that never ran has passed nothing
        return await events.prune(
            session, older_than=now - timedelta(days=retention_days), through=min(known.values())
        )
