"""The rules of bookings: who may book, see, move, cancel and delete which booking, and when.

Whether the service takes bookings at a time at all (its hours, closures,
notice and horizon) is catalog.schedule's to say, the engine that also offers
availableSlots; it needs the service row only, so it costs no statement.

Overlaps are decided by the database, never by a check before the write. A
booking keeps its busy time (itself and its service's buffers, as they were
when it was written). Each write counts, in its own INSERT or UPDATE, the
active bookings whose busy time meets the new one, and writes nothing if they
fill the service's capacity; the per-service lock below makes that count
exact under any concurrency. Bookings of a one-seat service are `exclusive`,
and for them the exclusion constraint `ex_bookings_no_overlap` refuses an
overlap (SQLSTATE 23P01) even from a writer that bypasses all this.

Writers racing for one slot can deadlock on that constraint, though (40P01:
each waits for the other's uncommitted index entry; 8 clients on one slot
managed 1.2 inserts/s here), so every write that
puts a time range into the constraint's index first takes a transaction-scoped
advisory lock on its service (`_lock_timetable`): the writers of one service
queue instead of deadlocking, and those of different services never wait on
each other. Creation also inserts with `ON CONFLICT DO NOTHING`, which never
raises, so a conflict leaves the transaction usable to find out what was in the
way; a reschedule runs its UPDATE in a savepoint for the same reason. The
mutations retry a deadlock anyway (`db.in_transaction`), for writers that do
not come through here.
"""

from __future__ import annotations

import functools
import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    bindparam,
    cast,
    delete,
    func,
    literal,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bookit_graphql.bookings import events, models
from bookit_graphql.bookings.models import BookingEventKind, BookingStatus
from bookit_graphql.catalog.models import Service
from bookit_graphql.catalog.schedule import Rules
from bookit_graphql.errors import (
    BadUserInput,
    BookingConflict,
    Forbidden,
    InvalidState,
    NotFound,
    SlotUnavailable,
)
from bookit_graphql.pagination import Listing, filtered
from bookit_graphql.permissions import Role
from bookit_graphql.scalars import parse_id
from bookit_graphql.users.models import User

# Long enough for any appointment, a day-long workshop included; longer is
# almost surely a mistyped date, and would block the service's calendar.
MAX_LENGTH = timedelta(hours=24)
MAX_IDEMPOTENCY_KEY = 200  # the column's width
EXCLUSION_VIOLATION = "23P01"
# A write whose conflicting row vanishes before we can name it (deleted in
# between) tries again; this bounds how often.
WRITE_ATTEMPTS = 3

# An admin's transitions. Nothing leaves CANCELLED (its time may be someone
# else's by now) or COMPLETED (it happened).
TRANSITIONS: dict[BookingStatus, frozenset[BookingStatus]] = {
    BookingStatus.PENDING: frozenset({BookingStatus.CONFIRMED, BookingStatus.CANCELLED}),
    BookingStatus.CONFIRMED: frozenset({BookingStatus.COMPLETED, BookingStatus.CANCELLED}),
    BookingStatus.COMPLETED: frozenset(),
    BookingStatus.CANCELLED: frozenset(),
}
# The states in which an owner may still move or cancel a booking.
OPEN = (BookingStatus.PENDING, BookingStatus.CONFIRMED)


async def create_booking(
    session: AsyncSession,
    *,
    actor: User,
    service_id: uuid.UUID | None,
    starts_at: datetime,
    ends_at: datetime | None = None,
    idempotency_key: str | None = None,
) -> models.Booking:
    """Book an active service's time for the actor; it stays PENDING until an admin confirms.

    `ends_at` defaults to `starts_at` plus the service's duration. A retry with
    the same `idempotency_key` and input returns the first call's booking, even
    after its time has passed or its service was deactivated.
    """
    if service_id is None:
        raise NotFound("No such service.")
    starts_at = _utc(starts_at, field="startsAt")
    ends_at = None if ends_at is None else _utc(ends_at, field="endsAt")
    request_hash = None
    if idempotency_key is not None:
        if not 1 <= len(idempotency_key) <= MAX_IDEMPOTENCY_KEY:
            raise BadUserInput(
                f"An idempotency key is 1 to {MAX_IDEMPOTENCY_KEY} characters.",
                field="idempotencyKey",
            )
        request_hash = _request_hash(service_id, starts_at, ends_at)
        earlier = await _replay(
            session, user_id=actor.id, key=idempotency_key, request_hash=request_hash
        )
        if earlier is not None:
            return earlier
    service = await session.scalar(
        select(Service).where(Service.id == service_id, Service.is_active)
    )
    if service is None:
        raise NotFound("No such service.")
    starts_at, ends_at = _check_times(starts_at, ends_at, duration_minutes=service.duration_minutes)
    rules = Rules.of(service)
    busy = _bookable(rules, starts_at, ends_at)

    await _lock_timetable(session, service_id)
    for _ in range(WRITE_ATTEMPTS):
        values: dict[str, Any] = {
            "id": uuid.uuid4(),
            "service_id": service_id,
            "user_id": actor.id,
            "starts_at": starts_at,
            "ends_at": ends_at,
            "busy_starts_at": busy[0],
            "busy_ends_at": busy[1],
            "exclusive": rules.capacity == 1,
            "status": BookingStatus.PENDING,
            "idempotency_key": idempotency_key,
            "request_hash": request_hash,
        }
        columns = models.Booking.__table__.c
        row = select(
            *(cast(literal(v, columns[k].type), columns[k].type) for k, v in values.items())
        )
        booking: models.Booking | None = await session.scalar(
            insert(models.Booking)
            .from_select(list(values), row.where(_seats_taken(service_id, busy) < rules.capacity))
            # Without a target it covers both the overlap and the idempotency key;
            # no row back means one of them, or the count of seats, said no.
            .on_conflict_do_nothing()
            .returning(models.Booking)
        )
        if booking is not None:
            await events.record(session, booking=booking, kind=BookingEventKind.CREATED)
            return booking
        if idempotency_key is not None:
            # a parallel retry with this key committed first
            earlier = await _replay(
                session, user_id=actor.id, key=idempotency_key, request_hash=request_hash
            )
            if earlier is not None:
                return earlier
        await _raise_conflict(session, service_id=service_id, busy=busy)
    raise BookingConflict()


def _bookable(rules: Rules, starts_at: datetime, ends_at: datetime) -> tuple[datetime, datetime]:
    """The busy time of a booking of [starts_at, ends_at) if the rules take it now,
    else SLOT_UNAVAILABLE with the reason."""
    reason = rules.refusal(starts_at, ends_at, now=_now())
    if reason is not None:
        raise SlotUnavailable(reason)
    return rules.busy(starts_at, ends_at)


def _seats_taken(
    service_id: uuid.UUID, busy: tuple[datetime, datetime], besides: uuid.UUID | None = None
) -> Any:
    """How many active bookings of the service keep time that meets `busy` (a subquery).

    Spelled as the partial GiST index ix_bookings_service_id_busy (a literal status).
    """
    other = aliased(models.Booking, name="other")
    query = select(func.count()).where(
        other.service_id == service_id,
        other.status != literal_column("'CANCELLED'"),
        _busy(other.busy_starts_at, other.busy_ends_at).op("&&")(_busy(*busy)),
    )
    if besides is not None:
        query = query.where(other.id != besides)
    return query.scalar_subquery()


def _busy(starts: Any, ends: Any) -> ColumnElement[Any]:
    return func.tstzrange(starts, ends, literal_column("'[)'"))


def bookings_filter(
    *,
    actor: User,
    status: BookingStatus | None = None,
    from_: datetime | None = None,
    to: datetime | None = None,
    service_id: str | None = None,
    user_id: str | None = None,
) -> dict[str, Any]:
    """The checked filters of the bookings the actor may see, by column test.

    `from_`/`to` keep the bookings that overlap that window. A malformed or
    unknown id in a filter matches nothing. A user sees their own bookings
    only: naming another user is FORBIDDEN.
    """
    if actor.role != Role.ADMIN:
        if user_id is not None and parse_id(user_id) != actor.id:
            raise Forbidden("Only an admin may see other users' bookings.")
        user_id = str(actor.id)
    found: dict[str, Any] = {}
    if user_id is not None:
        found["user_id"] = parse_id(user_id)
    if service_id is not None:
        found["service_id"] = parse_id(service_id)
    if status is not None:
        found["status"] = status
    if from_ is not None:
        found["from"] = _utc(from_, field="from")
    if to is not None:
        found["to"] = _utc(to, field="to")
    if from_ is not None and to is not None and found["to"] <= found["from"]:
        raise BadUserInput("`to` is after `from`.", field="to")
    return found


def bookings_listing(filters: dict[str, Any]) -> Listing:
    """The bookings that pass `filters` (from bookings_filter), by start time."""
    return Listing(_bookings_query(tuple(filters)), BOOKING_KEYS, filters)


BOOKING_KEYS = [models.Booking.starts_at, models.Booking.id]


@functools.cache
def _bookings_query(names: tuple[str, ...]) -> Select[Any]:
    """One query object per set of filters, their values as parameters (see Listing).

    An unknown id is a NULL parameter, which matches nothing.
    """
    tests = {
        "user_id": models.Booking.user_id.__eq__,
        "service_id": models.Booking.service_id.__eq__,
        "status": models.Booking.status.__eq__,
        "from": models.Booking.ends_at.__gt__,
        "to": models.Booking.starts_at.__lt__,
    }
    return filtered(select(models.Booking), tests, names)


def booking_listing(*, actor: User, booking_id: uuid.UUID | None) -> Listing:
    """The actor's booking (any, for an admin): as _find, for reads."""
    admin = actor.role == Role.ADMIN
    params = {"id": booking_id} if admin else {"id": booking_id, "owner": actor.id}
    return Listing(_booking_query(admin), BOOKING_KEYS, params)


@functools.cache
def _booking_query(admin: bool) -> Select[Any]:
    query = select(models.Booking).where(models.Booking.id == bindparam("id"))
    return query if admin else query.where(models.Booking.user_id == bindparam("owner"))


async def update_booking(
    session: AsyncSession,
    *,
    actor: User,
    booking_id: uuid.UUID | None,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    status: BookingStatus | None = None,
) -> models.Booking:
    """Reschedule a booking or change its status.

    The owner may move a PENDING or CONFIRMED booking to a future time (the end
    defaults to the new start plus the service's duration) or cancel it; an
    admin may also move anyone's and walk its status along `TRANSITIONS`.
    """
    found = await _find(session, actor=actor, booking_id=booking_id)
    booking_id, service_id = found.id, found.service_id
    await _lock_timetable(session, service_id)
    # Read again under the locks: the checks below judge the current state.
    booking = await _find(session, actor=actor, booking_id=booking_id, lock=True)
    new_status, new_start, new_end = booking.status, booking.starts_at, booking.ends_at
    moved: dict[str, Any] = {}  # a move's busy time and whether it keeps it alone
    capacity = None  # the seats a move must find

    if status is not None:
        if actor.role != Role.ADMIN:
            if status != BookingStatus.CANCELLED:
                raise Forbidden("Only an admin may set a booking's status other than CANCELLED.")
            if booking.status not in OPEN:
                raise InvalidState(f"A {booking.status.value} booking cannot be cancelled.")
        elif status not in TRANSITIONS[booking.status]:
            raise InvalidState(f"A {booking.status.value} booking cannot become {status.value}.")
        new_status = status

    if starts_at is not None or ends_at is not None:
        if booking.status not in OPEN:
            raise InvalidState(f"A {booking.status.value} booking cannot be rescheduled.")
        service = await session.get_one(Service, booking.service_id)
        if not service.is_active:
            raise InvalidState(
                "The service is no longer offered: the booking can only be cancelled."
            )
        if starts_at is None and booking.starts_at <= _now():
            raise InvalidState("The booking has started: it cannot be rescheduled.")
        new_start, new_end = _check_times(
            booking.starts_at if starts_at is None else _utc(starts_at, field="startsAt"),
            None if ends_at is None else _utc(ends_at, field="endsAt"),
            duration_minutes=service.duration_minutes,
        )
        if (new_start, new_end) != (booking.starts_at, booking.ends_at):
            rules = Rules.of(service)
            busy = _bookable(rules, new_start, new_end)
            moved = {"busy_starts_at": busy[0], "busy_ends_at": busy[1]}
            moved["exclusive"] = rules.capacity == 1
            capacity = rules.capacity

    if (new_status, new_start, new_end) == (booking.status, booking.starts_at, booking.ends_at):
        return booking
    was = booking.status
    for _ in range(WRITE_ATTEMPTS):
        try:
            # A savepoint: a refusal by the constraint must leave the transaction
            # usable to find the booking that was in the way.
            async with session.begin_nested():
                change = update(models.Booking).where(models.Booking.id == booking_id)
                if capacity is not None:
                    busy = moved["busy_starts_at"], moved["busy_ends_at"]
                    change = change.where(_seats_taken(service_id, busy, booking_id) < capacity)
                updated: models.Booking | None = await session.scalar(
                    change.values(
                        status=new_status, starts_at=new_start, ends_at=new_end, **moved
                    ).returning(models.Booking),
                    execution_options={"populate_existing": True},
                )
        except IntegrityError as error:
            if getattr(error.orig, "sqlstate", None) != EXCLUSION_VIOLATION:
                raise
            updated = None
        if updated is None:  # locked above, so still there: its seats are taken
            busy = moved.get("busy_starts_at", new_start), moved.get("busy_ends_at", new_end)
            await _raise_conflict(session, service_id=service_id, busy=busy, besides=booking_id)
            continue
        cancelled = new_status == BookingStatus.CANCELLED and was != BookingStatus.CANCELLED
        if cancelled:
            await events.record(session, booking=updated, kind=BookingEventKind.CANCELLED)
        else:
            type = events.update_type(was=was, now=updated)
            await events.record(session, booking=updated, kind=BookingEventKind.UPDATED, type=type)
        return updated
    raise BookingConflict()


async def delete_booking(
    session: AsyncSession, *, actor: User, booking_id: uuid.UUID | None
) -> None:
    """Delete a booking: the owner's before it starts, anyone's for an admin."""
    booking = await _find(session, actor=actor, booking_id=booking_id, lock=True, for_delete=True)
    if actor.role != Role.ADMIN and booking.starts_at <= _now():
        raise InvalidState("The booking has started: it can no longer be deleted.")
    await session.execute(delete(models.Booking).where(models.Booking.id == booking.id))
    await events.record(session, booking=booking, kind=BookingEventKind.DELETED)


async def _find(
    session: AsyncSession,
    *,
    actor: User,
    booking_id: uuid.UUID | None,
    lock: bool = False,
    for_delete: bool = False,
) -> models.Booking:
    """The booking if the actor may know it exists, else NOT_FOUND.

    `lock` takes its row lock: FOR NO KEY UPDATE, which lets a review that
    references it be written meanwhile, or FOR UPDATE to delete it.
    """
    if booking_id is None:
        raise NotFound("No such booking.")
    query = select(models.Booking).where(models.Booking.id == booking_id)
    if actor.role != Role.ADMIN:
        query = query.where(models.Booking.user_id == actor.id)
    if lock:
        query = query.with_for_update(key_share=not for_delete).execution_options(
            populate_existing=True
        )
    booking = await session.scalar(query)
    if booking is None:
        raise NotFound("No such booking.")
    return booking


async def _lock_timetable(session: AsyncSession, service_id: uuid.UUID) -> None:
    """Queue this transaction behind the others writing this service's bookings.

    Held until commit or rollback (see the module's docstring for why).
    """
    digest = hashlib.blake2b(b"bookings:" + service_id.bytes, digest_size=8).digest()
    key = int.from_bytes(digest, "big", signed=True)
    await session.execute(select(func.pg_advisory_xact_lock(key)))


async def _raise_conflict(
    session: AsyncSession,
    *,
    service_id: uuid.UUID,
    busy: tuple[datetime, datetime],
    besides: uuid.UUID | None = None,
) -> None:
    """BOOKING_CONFLICT naming the time of the first booking in the way (its own time, not
    its buffers); returns if nothing is in the way any more."""
    query = select(models.Booking.starts_at, models.Booking.ends_at).where(
        models.Booking.service_id == service_id,
        models.Booking.status != BookingStatus.CANCELLED,
        models.Booking.busy_starts_at < busy[1],
        models.Booking.busy_ends_at > busy[0],
    )
    if besides is not None:
        query = query.where(models.Booking.id != besides)
    found = (await session.execute(query.order_by(models.Booking.starts_at).limit(1))).first()
    if found is not None:
        # the time only: who holds it is none of the caller's business
        raise BookingConflict(
            conflictingRange={"startsAt": _iso(found.starts_at), "endsAt": _iso(found.ends_at)}
        )


async def _replay(
    session: AsyncSession, *, user_id: uuid.UUID, key: str, request_hash: str | None
) -> models.Booking | None:
    """The booking made earlier with this key and the same input, or None if there is none."""
    earlier = await session.scalar(
        select(models.Booking).where(
            models.Booking.user_id == user_id, models.Booking.idempotency_key == key
        )
    )
    if earlier is not None and earlier.request_hash != request_hash:
        raise BadUserInput(
            "This idempotency key was already used with another input.", field="idempotencyKey"
        )
    return earlier


def _request_hash(service_id: uuid.UUID, starts_at: datetime, ends_at: datetime | None) -> str:
    """sha256 of the input as given, in UTC: an omitted `endsAt` stays omitted,
    so that a retry matches whatever the service's duration has become."""
    normalized = [str(service_id), _iso(starts_at), None if ends_at is None else _iso(ends_at)]
    return hashlib.sha256(json.dumps(normalized).encode()).hexdigest()


def _check_times(
    starts_at: datetime, ends_at: datetime | None, *, duration_minutes: int
) -> tuple[datetime, datetime]:
    """The booking's start and end (defaulted from the duration), or BAD_USER_INPUT."""
    if starts_at <= _now():
        raise BadUserInput("A booking starts in the future.", field="startsAt")
    if ends_at is None:
        try:
            ends_at = starts_at + timedelta(minutes=duration_minutes)
        except OverflowError as error:
            raise BadUserInput("startsAt is too far in the future.", field="startsAt") from error
    if ends_at <= starts_at:
        raise BadUserInput("A booking ends after it starts.", field="endsAt")
    if ends_at - starts_at > MAX_LENGTH:
        raise BadUserInput("A booking lasts at most 24 hours.", field="endsAt")
    return starts_at, ends_at


def _utc(value: datetime, *, field: str) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError as error:  # year 1 or 9999 pushed over the edge by its offset
        raise BadUserInput(f"`{field}` is out of range.", field=field) from error


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _now() -> datetime:
    return datetime.now(UTC)
