"""The booking event log: written with each change, fanned out to every instance.

Each change writes an event row in its own transaction and sends a NOTIFY,
which PostgreSQL delivers only on commit. Every process keeps one LISTEN
connection (hub.py), on which EventHub listens; a notification only wakes it
up to read the log past the last id it has seen, so a lost notification or a
dropped connection loses nothing: the next read catches up. Subscribers get events through bounded
queues; one that cannot keep up is cut off rather than allowed to grow memory.

Sequence values are handed out in statement order, not commit order: with
concurrent writers, event 11 could commit before event 10, and a reader that
saw 11 would skip 10 for ever. `record` therefore serializes the event writes
behind one transaction-scoped advisory lock, taken as the transaction's last
statement and held until its commit: ids then follow commit order.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from sqlalchemy import delete, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bookit_graphql import sql
from bookit_graphql.bookings.models import (
    Booking,
    BookingEvent,
    BookingEventKind,
    BookingEventRetention,
    BookingStatus,
)
from bookit_graphql.hub import Listener

CHANNEL = "booking_events"
EVENT_LOG_LOCK = 7_310_002  # pg_advisory_xact_lock key of the event log
PAGE = 500


# A client's retry key and its hash are the client's business, not the log's.
PRIVATE = ("idempotency_key", "request_hash")


def sql_literal(value: str) -> str:
    """A constant string of the code as an SQL literal (never a client's value)."""
    assert "'" not in value, value
    assert "%" not in value, value
    return f"'{value}'"


# The log's arguments of the write functions of migration 0007 (what a snapshot leaves
# out, the log's lock, its channel), spelled into their statements rather than sent.
LOG_ARGUMENTS = ", ".join(
    [
        f"ARRAY[{', '.join(map(sql_literal, PRIVATE))}]::text[]",
        str(EVENT_LOG_LOCK),
        sql_literal(CHANNEL),
    ]
)


def snapshot(booking: Booking) -> dict[str, Any]:
    """The booking's columns as the log keeps them (read back by sql.restore)."""
    return sql.dump(booking, exclude=PRIVATE)


# The webhook type of each kind of change (UPDATED says more: see update_type).
TYPES = {
    BookingEventKind.CREATED: "booking.created",
    BookingEventKind.UPDATED: "booking.rescheduled",
    BookingEventKind.CANCELLED: "booking.cancelled",
    BookingEventKind.DELETED: "booking.deleted",
}
REVIEW_CREATED = "review.created"


def update_type(status: BookingStatus | None) -> str:
    """What an UPDATED change is to an integration: the status it set (confirmed,
    completed), if it set one, else a reschedule.

    One change that both confirms and moves a booking is called confirmed.
    """
    if status == BookingStatus.CONFIRMED:
        return "booking.confirmed"
    if status == BookingStatus.COMPLETED:
        return "booking.completed"
    return "booking.rescheduled"


async def record(
    session: AsyncSession,
    *,
    booking: Booking,
    kind: BookingEventKind | None,
    type: str | None = None,
    review: dict[str, Any] | None = None,
) -> None:
    """Log a change of `booking`; call it last, right before the transaction commits.

    `kind` None is an event about the booking that is not a change of it (a
    review: `type` and `review` say which); subscriptions skip those.
    """
    if type is None:
        assert kind is not None
        type = TYPES[kind]
    await session.flush()
    await session.execute(select(func.pg_advisory_xact_lock(EVENT_LOG_LOCK)))
    event_id = await session.scalar(
        insert(BookingEvent)
        .values(
            kind=kind,
            type=type,
            review=review,
            booking_id=booking.id,
            service_id=booking.service_id,
            user_id=booking.user_id,
            booking=snapshot(booking),
        )
        .returning(BookingEvent.id)
    )
    await session.execute(select(func.pg_notify(CHANNEL, str(event_id))))


async def prune(session: AsyncSession, *, older_than: datetime, through: int) -> int:
    """Delete the events up to id `through` that occurred before `older_than`; how many.

    The caller says how far every reader of the log has got (`through`); the
    watermark in booking_event_retention lets a resuming subscription know.
    """
    deleted = await session.execute(
        delete(BookingEvent)
        .where(BookingEvent.id <= through, BookingEvent.occurred_at < older_than)
        .returning(BookingEvent.id)
    )
    ids = [row[0] for row in deleted]
    if ids:
        top = max(ids)
        await session.execute(
            pg_insert(BookingEventRetention)
            .values(id=1, pruned_through=top)
            .on_conflict_do_update(
                index_elements=["id"],
                set_={
                    "pruned_through": func.greatest(BookingEventRetention.pruned_through, top),
                    "pruned_at": func.now(),
                },
            )
        )
    return len(ids)


@dataclass(frozen=True)
class Event:
    id: int
    kind: BookingEventKind | None
    type: str
    booking_id: uuid.UUID
    service_id: uuid.UUID
    user_id: uuid.UUID
    booking: dict[str, Any]
    review: dict[str, Any] | None
    occurred_at: datetime
    # What the subscribers of this process share about the event (subscriptions.py).
    related: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_row(cls, row: Any) -> Event:
        """An event from a row of EVENT_COLUMNS."""
        values = dict(zip(EVENT_NAMES, row, strict=True))
        kind = values["kind"]
        return cls(**{**values, "kind": None if kind is None else BookingEventKind(kind)})


# The log's columns, in the order EVENT_COLUMNS selects them
EVENT_NAMES = [column.name for column in BookingEvent.__table__.columns]
EVENT_COLUMNS = ", ".join(EVENT_NAMES)
# A page of the log after a position: every reader's one query (psycopg parameters)
AFTER = f"SELECT {EVENT_COLUMNS} FROM booking_events WHERE id > %s ORDER BY id LIMIT {PAGE}"


async def events_after(session: AsyncSession, position: int) -> list[Event]:
    """The next page of the log after `position` (PAGE events at most), in order."""
    connection = await session.connection()
    cursor = await connection.exec_driver_sql(AFTER, (position,))
    return [Event.from_row(row) for row in cursor.all()]


Filter = Callable[[Event], bool]
# What a subscriber starts for an event before it is queued (the work that it
# shares with others: see EventHub._prepare), or None for nothing
Prepare = Callable[[Event], "asyncio.Future[Any] | None"]
PREPARE_WAIT = 5.0  # seconds the hub waits for an event's preparation before it queues it
# What a subscriber that waits with nothing queued does with an event at once, in
# the hub's task, given what its prepare started for it (if anything): True when
# that is done with it (sent, or seen already), False to have it queued as usual
# (see EventHub._dispatch)
Push = Callable[[Event, "asyncio.Future[Any] | None"], bool]


@dataclass(eq=False)
class Subscriber:
    accepts: Filter
    queue: asyncio.Queue[Event | None]
    prepare: Prepare | None = None
    push: Push | None = None
    overflowed: bool = False
    waiting: bool = False  # in next(): nothing of its own under way

    async def next(self) -> Event | None:
        """The next queued event; None when the hub cut this subscriber off."""
        self.waiting = True
        try:
            return await self.queue.get()
        finally:
            self.waiting = False


@dataclass
class EventHub(Listener):
    """Reads the log on each wake-up of the hub, fanning it out to local subscribers."""

    channel = CHANNEL
    queue_size: int = 1000
    position: int | None = None  # the last event id read from the log
    subscribers: set[Subscriber] = field(default_factory=set)

    def subscribe(
        self, accepts: Filter, prepare: Prepare | None = None, push: Push | None = None
    ) -> Subscriber:
        subscriber = Subscriber(accepts, asyncio.Queue(self.queue_size), prepare, push)
        self.subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)

    async def connected(self, conn: psycopg.AsyncConnection[Any]) -> None:
        if self.position is None:
            row = await (await conn.execute("SELECT max(id) FROM booking_events")).fetchone()
            self.position = (row[0] if row else None) or 0

    async def woken(self, conn: psycopg.AsyncConnection[Any], payloads: list[str]) -> None:
        await self._catch_up(conn)  # whatever committed since: a payload says no more

    def stopped(self) -> None:
        for subscriber in list(self.subscribers):
            self._cut_off(subscriber)

    async def _catch_up(self, conn: psycopg.AsyncConnection[Any]) -> None:
        while True:
            cursor = await conn.execute(AFTER, (self.position or 0,))
            rows = await cursor.fetchall()
            events = [Event.from_row(row) for row in rows]
            prepared = [self._prepare(event) for event in events]  # all started at once
            for event, started in zip(events, prepared, strict=True):
                if started:
                    # gather retrieves a failure that no subscriber might (one cut off)
                    works = asyncio.gather(*set(started.values()), return_exceptions=True)
                    await asyncio.wait([works], timeout=PREPARE_WAIT)
                self._dispatch(event, started)
                self.position = event.id
            if len(rows) < PAGE:
                return

    def _prepare(self, event: Event) -> dict[Subscriber, asyncio.Future[Any]]:
        """Start what the event's subscribers share, once for all (Subscriber.prepare):
        what each subscriber's prepare gave (the same future for many).

        The hub hands the event out when that is done (or after PREPARE_WAIT):
        1,000 subscribers then find their payload built, none waiting on it with a
        future of its own. Its failure is each subscriber's to report, not the hub's.
        """
        if event.kind is None:
            return {}
        return {
            subscriber: work
            for subscriber in self.subscribers
            if subscriber.prepare is not None and subscriber.accepts(event)
            if (work := subscriber.prepare(event)) is not None
        }

    def _dispatch(
        self, event: Event, prepared: dict[Subscriber, asyncio.Future[Any]] | None = None
    ) -> None:
        """Hand the event to each subscriber that accepts it: pushed (Subscriber.push)
        to one that waits with nothing queued, so its order holds, else queued.

        A push sends the frame from this task: 1,000 subscribers then cost no task
        wake-up each (some 14 % of a delivery's CPU), and the frame goes straight
        to the server's send (direct.Direct.push).
        """
        if event.kind is None:  # not a change of the booking (a review of it)
            return
        for subscriber in list(self.subscribers):
            if not subscriber.accepts(event):
                continue
            push = subscriber.push
            if (
                push is not None
                and subscriber.waiting
                and subscriber.queue.empty()
                and push(event, prepared.get(subscriber) if prepared else None)
            ):
                continue
            try:
                subscriber.queue.put_nowait(event)
            except asyncio.QueueFull:
                self._cut_off(subscriber)

    def _cut_off(self, subscriber: Subscriber) -> None:
        """Drop what a slow subscriber has not read and tell it to go (None)."""
        self.subscribers.discard(subscriber)
        subscriber.overflowed = True
        while not subscriber.queue.empty():
            subscriber.queue.get_nowait()
        subscriber.queue.put_nowait(None)
