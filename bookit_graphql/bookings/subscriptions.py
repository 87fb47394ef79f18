"""`bookingChanged`: booking events after a cursor from the log, then live ones."""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Any

import strawberry
from sqlalchemy import Select, bindparam, select
from sqlalchemy.exc import SQLAlchemyError
from starlette.websockets import WebSocket
from strawberry.types import Info

from bookit_graphql import compiled, sql
from bookit_graphql.bookings import models
from bookit_graphql.bookings.events import PAGE, Event, EventHub, Filter, events_after
from bookit_graphql.bookings.models import BookingEventKind
from bookit_graphql.bookings.types import Booking
from bookit_graphql.compiled import Compiler, Unknown
from bookit_graphql.context import Context
from bookit_graphql.direct import Direct
from bookit_graphql.errors import CursorExpired, NotFound, ServiceUnavailable
from bookit_graphql.pagination import Listing, decode_cursor, encode_cursor
from bookit_graphql.permissions import Role, authenticated
from bookit_graphql.scalars import parse_id

# Close code for a subscriber that could not keep up (RFC 6455 "try again later").
TOO_SLOW = 1013


@strawberry.type
class BookingChange(sql.Object[Event]):
    cursor: str = sql.cursor(
        models.BookingEvent.id, description="Pass it as `after` to resume after this event."
    )
    kind: BookingEventKind = sql.column(models.BookingEvent.kind)
    occurred_at: datetime = sql.column(models.BookingEvent.occurred_at)
    booking: Booking = sql.snapshot(
        models.BookingEvent.booking,
        "bookings",
        description="The booking as it stood right after the change (for DELETED, before it).",
    )


@functools.cache
def _event_query() -> Select[Any]:
    return select(models.BookingEvent).where(models.BookingEvent.id == bindparam("id"))


def _listing(event: Event) -> Listing:
    """The event's row, as the compiler reads it."""
    return Listing(_event_query(), [models.BookingEvent.id], {"id": event.id})


MISSING_EVENT = "No such event."


def _optional_id(value: strawberry.ID | None) -> uuid.UUID | None:
    if value is None:
        return None
    parsed = parse_id(value)
    if parsed is None:
        raise NotFound("No such service or booking.")
    return parsed


@strawberry.type
class BookingSubscriptions:
    @strawberry.subscription(
        extensions=authenticated(),
        description="Changes of bookings (the caller's own; all for an admin), narrowed by "
        "service or booking. With `after` (an event's cursor), the events after it come first "
        "from the log, in order, then live ones: none lost, none twice.",
    )
    async def booking_changed(
        self,
        info: Info[Context, None],
        service_id: strawberry.ID | None = None,
        booking_id: strawberry.ID | None = None,
        after: str | None = None,
    ) -> AsyncGenerator[BookingChange, None]:
        context = info.context
        viewer = context.user
        assert viewer is not None  # guaranteed by @authenticated
        if context.hub is None or not context.hub.connected:
            raise ServiceUnavailable()
        hub = context.hub.listener(EventHub)
        service, booking = _optional_id(service_id), _optional_id(booking_id)
        last = decode_cursor(after, [int])[0] if after is not None else None
        owner = None if viewer.role == Role.ADMIN else viewer.id

        def accepts(event: Event) -> bool:
            return (
                (owner is None or event.user_id == owner)
                and (service is None or event.service_id == service)
                and (booking is None or event.booking_id == booking)
            )

        compiler = Compiler.of(info)
        direct = _direct(info, compiler)

        async def deliver(event: Event) -> BookingChange | None:
            """The change to yield, or None when it went to the socket directly."""
            nonlocal direct
            if direct is not None and compiler is not None:
                direct = await _send(direct, compiler, event)
                if direct is not None:
                    return None
            return await _change(context, compiler, event)

        def prepare(event: Event) -> asyncio.Future[str] | None:
            """The event's payload, started by the hub before it queues the event."""
            if direct is None or compiler is None:
                return None
            try:
                return compiler.share_payload(
                    _listing(event), shared=event.related, missing=MISSING_EVENT
                )
            except Unknown:
                return None

        def push(event: Event, ready: asyncio.Future[str] | None) -> bool:
            """Send a live event from the hub's task, if the payload that prepare started
            is built; False to have it queued for deliver (EventHub._dispatch)."""
            nonlocal last
            if last is not None and event.id <= last:
                return True  # replayed already
            if direct is None or ready is None or not ready.done():
                return False
            if ready.cancelled() or ready.exception() is not None:
                return False  # deliver reports its failure
            if not direct.push(ready.result()):
                return False
            last = event.id
            return True

        # Subscribe before reading the log: whatever commits from now on reaches
        # the queue, whatever committed before is in the log; ids weed out twins.
        subscriber = hub.subscribe(accepts, prepare, push)
        try:
            if last is not None:
                await _check_retained(context, after=last)
                async for event in _replay(context, after=last, accepts=accepts):
                    last = event.id
                    if (change := await deliver(event)) is not None:
                        yield change
            while True:
                queued = await subscriber.next()
                if queued is None:  # the hub cut us off: we fell too far behind
                    await _disconnect_slow(context, last)
                    return
                if last is not None and queued.id <= last:
                    continue
                last = queued.id
                if (change := await deliver(queued)) is not None:
                    yield change
        finally:
            hub.unsubscribe(subscriber)


def _direct(info: Info[Context, None], compiler: Compiler | None) -> Direct | None:
    """Where this subscription may send its events' `next` payloads itself (direct.Direct).

    Compiled, an event's payload is the same JSON text for every subscriber with
    the same selection and audience (Compiler.shared_payload): graphql-core's
    execution of it for each subscriber would only build it again. Not with a
    directive on the field itself (@skip there would leave `data` empty).
    """
    if compiler is None or info._raw_info.field_nodes[0].directives:
        return None
    return Direct.current()


async def _send(direct: Direct, compiler: Compiler, event: Event) -> Direct | None:
    """Send the event's shared payload; None, having sent nothing, if it cannot be compiled."""
    try:
        payload = await compiler.shared_payload(
            _listing(event), shared=event.related, missing=MISSING_EVENT
        )
    except Unknown:
        return None  # _change resolves it, and counts the fallback
    await direct.next(payload)
    return direct


async def _change(context: Context, compiler: Compiler | None, event: Event) -> BookingChange:
    """The event as this subscriber's selection wants it.

    Compiled (compiled.py), it is built once per event for every subscriber of
    this process that has the same selection; otherwise it is resolved per
    subscriber, with the related rows read once per event (_fresh_loaders).
    """
    if compiler is not None:
        try:
            found = await compiler.shared(
                _listing(event), shared=event.related, missing=MISSING_EVENT
            )
            return BookingChange.of(found)
        except Unknown as unknown:
            compiled.fell_back("bookingChanged", unknown)
    await _fresh_loaders(context, event)
    return BookingChange.of(event)


async def _fresh_loaders(context: Context, event: Event) -> None:
    """Forget what the loaders hold, and prime them with the booking's related rows.

    Those rows are read once per event for all of this process's subscribers
    (the first one to get the event reads them), not once per subscriber: with
    1,000 subscribers that was 3,000 statements per change. If the read fails,
    the loaders read for themselves, as before.
    """
    context.clear_loaders()
    task = event.related.get("rows")
    if task is None:
        booking = sql.restore("bookings", event.booking)
        task = event.related["rows"] = asyncio.ensure_future(
            sql.read_related(context.session_factory, Booking, booking)
        )
    try:
        primed = await asyncio.shield(task)
    except (SQLAlchemyError, OSError):
        return
    for loader, key, row in primed:
        context.loader(loader).prime(key, row)


async def _check_retained(context: Context, *, after: int) -> None:
    """CursorExpired if events after `after` have been pruned (events.prune)."""
    async with context.session_factory() as session:
        pruned = await session.scalar(select(models.BookingEventRetention.pruned_through))
    if pruned is not None and after < pruned:
        raise CursorExpired()


async def _replay(context: Context, *, after: int, accepts: Filter) -> AsyncGenerator[Event, None]:
    """Logged events after `after`, in order, in pages."""
    while True:
        async with context.session_factory() as session:
            page = await events_after(session, after)
        for event in page:
            after = event.id
            if event.kind is not None and accepts(event):
                yield event
        if len(page) < PAGE:
            return


async def _disconnect_slow(context: Context, last: int | None) -> None:
    websocket = context.request
    if isinstance(websocket, WebSocket):
        resume = f" after {encode_cursor([last])}" if last is not None else ""
        await websocket.close(TOO_SLOW, f"subscriber too slow: resubscribe{resume}")
