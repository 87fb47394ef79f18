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

createBooking and updateBooking are one statement each, a function of
migration 0007 (bookit_create_booking, bookit_update_booking) run on the
psycopg pool in a transaction of its own; its docstring says why a function
and not a CTE. Writers racing for one slot can deadlock on the constraint
(40P01: each waits for the other's uncommitted index entry; 8 clients on one
slot managed 1.2 inserts/s here), so every write that puts a time range into
the constraint's index first takes a transaction-scoped advisory lock on its
service (bookit_timetable_lock): the writers of one service queue instead of
deadlocking, and those of different services never wait on each other.
Creation inserts with `ON CONFLICT DO NOTHING`, which never raises, and a
reschedule catches the constraint's refusal in a subtransaction, so that the
function can go on to find what was in the way. A deadlock is retried anyway
(`Reads.write`), for writers that do not come through here.

What the service's rules make of a time (catalog.schedule) is judged here, in
Python, with the rules this process keeps of the service (catalog.service's
`bookable`); the statement takes the verdict only if the service's rules are
still of the version it was made with, and otherwise answers `stale` (the
rules are read again and the verdict made again). A statement reads the
service row after any lock it waits for, as the ORM statements did, so a
verdict is never older than the one a separate read would have given.
"""

from __future__ import annotations

import functools
import hashlib
import json
import uuid
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Select,
    bindparam,
    delete,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from bookit_graphql import sql
from bookit_graphql.bookings import events, models
from bookit_graphql.bookings.models import BookingEventKind, BookingStatus
from bookit_graphql.catalog.schedule import Rules
from bookit_graphql.catalog.service import Bookable, bookable, forget_bookable
from bookit_graphql.db import Answer, Reads
from bookit_graphql.errors import (
    BadUserInput,
    BookingConflict,
    BookItError,
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


# The write functions of migration 0007; their outcomes are the cases below.
CREATE = (
    "SELECT r.outcome, r.conflict_starts_at, r.conflict_ends_at, (r.booking).* "
    "FROM bookit_create_booking(%(id)s, %(user_id)s, %(service_id)s, %(starts_at)s, "
    "%(ends_at)s, %(busy_starts_at)s, %(busy_ends_at)s, %(exclusive)s, %(capacity)s, %(key)s, "
    f"%(hash)s, %(version)s, %(refused)s, {WRITE_ATTEMPTS}, "
    f"{events.sql_literal(events.TYPES[BookingEventKind.CREATED])}, {events.LOG_ARGUMENTS}) AS r"
)
UPDATE = (
    "SELECT r.outcome, r.version, r.conflict_starts_at, r.conflict_ends_at, (r.booking).* "
    "FROM bookit_update_booking(%(id)s, %(user_id)s, %(admin)s, %(status)s::booking_status, "
    "%(status_from)s::booking_status[], %(move)s, %(start_given)s, "
    f"ARRAY[{', '.join(events.sql_literal(s) for s in OPEN)}]::booking_status[], "
    "%(now)s, %(version)s, %(basis)s, %(refused)s, %(rules_refused)s, %(starts_at)s, %(ends_at)s, "
    f"%(busy_starts_at)s, %(busy_ends_at)s, %(exclusive)s, %(capacity)s, {WRITE_ATTEMPTS}, "
    f"{events.sql_literal(events.TYPES[BookingEventKind.CANCELLED])}, %(changed_type)s, "
    f"{events.sql_literal(events.update_type(None))}, {events.LOG_ARGUMENTS}) AS r"
)


async def create_booking(
    reads: Reads,
    *,
    actor: User,
    service_id: uuid.UUID | None,
    starts_at: datetime,
    ends_at: datetime | None = None,
    idempotency_key: str | None = None,
    answer: Answer | None = None,
) -> models.Booking:
    """Book an active service's time for the actor; it stays PENDING until an admin confirms.

    `ends_at` defaults to `starts_at` plus the service's duration. A retry with
    the same `idempotency_key` and input returns the first call's booking, even
    after its time has passed or its service was deactivated.

    One statement (bookit_create_booking): the replay, then the verdict of the
    service's rules made here, used only if the rules are still those it was
    made with, then the insert that the seat count and the constraints decide.
    A verdict is made even when it is a refusal, and raised only once the
    statement has found no earlier booking with the key, so that a retry gets
    its booking whatever became of the service or the time. With `answer`, the
    statement selects it too, over the booking it made or found (db.Answer).
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
    params: dict[str, Any] = {
        "user_id": actor.id,
        "service_id": service_id,
        "key": idempotency_key,
        "hash": request_hash,
    }
    statement = CREATE
    if answer is not None:
        statement = answer.statement(CREATE, "r.booking", ("created", "replay"))
        params.update(answer.params)
    for _ in range(WRITE_ATTEMPTS):
        known = await bookable(reads, service_id)
        refusal: BookItError | None = None
        times: tuple[datetime | None, datetime | None] = (None, None)
        busy: tuple[datetime | None, datetime | None] = (None, None)
        try:
            if known is None:
                raise NotFound("No such service.")
            times = _check_times(starts_at, ends_at, duration_minutes=known.duration_minutes)
            busy = _bookable(known.rules, *times)
        except BookItError as error:
            refusal = error
        row = await reads.write(
            statement,
            {
                **params,
                "id": uuid.uuid4(),
                "starts_at": times[0],
                "ends_at": times[1],
                "busy_starts_at": busy[0],
                "busy_ends_at": busy[1],
                "exclusive": known is not None and known.rules.capacity == 1,
                "capacity": None if known is None else known.rules.capacity,
                "version": None if known is None else known.version,
                "refused": refusal is not None,
            },
        )
        outcome = row["outcome"]
        if outcome == "stale":
            forget_bookable(service_id)
            continue
        if outcome == "refused":
            assert refusal is not None
            raise refusal
        booking = _booking(row)
        if answer is not None:
            answer.text = row["answer__"]
        if outcome == "replay":
            if booking.request_hash != request_hash:
                raise BadUserInput(
                    "This idempotency key was already used with another input.",
                    field="idempotencyKey",
                )
            return booking
        if outcome == "created":
            return booking
        raise _conflict(row)
    raise BookingConflict()  # the rules changed under every attempt


# The service of each booking this process has written or seen written (a booking
# never changes service), so that a move can be judged before its statement.
KEPT_BOOKINGS = 100_000
_services: OrderedDict[uuid.UUID, uuid.UUID] = OrderedDict()


def _booking(row: dict[str, Any]) -> models.Booking:
    """The booking in a write function's row (the columns besides its outcome's)."""
    booking: models.Booking = sql.restore("bookings", row)
    if booking.id is not None:
        _services[booking.id] = booking.service_id
        _services.move_to_end(booking.id)
        if len(_services) > KEPT_BOOKINGS:
            _services.popitem(last=False)
    return booking


def _conflict(row: dict[str, Any]) -> BookingConflict:
    """BOOKING_CONFLICT naming the time of the first booking in the way (its own time, not
    its buffers), if the statement found one."""
    if row["conflict_starts_at"] is None:
        return BookingConflict()
    # the time only: who holds it is none of the caller's business
    return BookingConflict(
        conflictingRange={
            "startsAt": _iso(row["conflict_starts_at"]),
            "endsAt": _iso(row["conflict_ends_at"]),
        }
    )


def _bookable(rules: Rules, starts_at: datetime, ends_at: datetime) -> tuple[datetime, datetime]:
    """The busy time of a booking of [starts_at, ends_at) if the rules take it now,
    else SLOT_UNAVAILABLE with the reason."""
    reason = rules.refusal(starts_at, ends_at, now=_now())
    if reason is not None:
        raise SlotUnavailable(reason)
    return rules.busy(starts_at, ends_at)


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
    reads: Reads,
    *,
    actor: User,
    booking_id: uuid.UUID | None,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    status: BookingStatus | None = None,
    answer: Answer | None = None,
) -> models.Booking:
    """Reschedule a booking or change its status.

    The owner may move a PENDING or CONFIRMED booking to a future time (the end
    defaults to the new start plus the service's duration) or cancel it; an
    admin may also move anyone's and walk its status along `TRANSITIONS`.

    One statement (bookit_update_booking) judges the booking as it stands under
    its locks, by `_check_status`'s answers and OPEN, sent as data. A move is
    judged here, by its service's rules, which needs the booking's service: if
    this process has seen the booking (a booking never changes service), the
    verdict goes with the first statement; otherwise that statement answers
    `plan` with the booking and the version of its service's rules, and a
    second one sends the verdict. Either way the statement uses a verdict
    only if the booking and the rules are still those it was made for. With
    `answer`, the statement selects it too, over the booking as it leaves it
    (db.Answer).
    """
    if booking_id is None:
        raise NotFound("No such booking.")
    params: dict[str, Any] = {
        "id": booking_id,
        "user_id": actor.id,
        "admin": actor.role == Role.ADMIN,
        "status": status,
        "status_from": None,
        "move": starts_at is not None or ends_at is not None,
        "start_given": starts_at is not None,
        "now": _now(),
        "version": None,
        "basis": None,
        "refused": False,
        "rules_refused": False,
        "starts_at": None,
        "ends_at": None,
        "busy_starts_at": None,
        "busy_ends_at": None,
        "exclusive": None,
        "capacity": None,
        "changed_type": events.update_type(status),
    }
    if status is not None:  # the statuses from which _check_status lets it go
        params["status_from"] = [
            was for was in BookingStatus if _refusal(_check_status, actor, was, status) is None
        ]
    refusal: BookItError | None = None
    service_id = _services.get(booking_id)
    if starts_at is not None and service_id is not None:
        known = await bookable(reads, service_id)
        if known is not None:
            refusal = _plan_move(params, known, None, starts_at, ends_at)
    statement = UPDATE
    if answer is not None:
        statement = answer.statement(UPDATE, "r.booking", ("updated", "unchanged"))
        params.update(answer.params)
    for _ in range(WRITE_ATTEMPTS):
        row = await reads.write(statement, params)
        outcome = row["outcome"]
        if outcome == "not_found":
            raise NotFound("No such booking.")
        booking = _booking(row)
        if answer is not None:
            answer.text = row["answer__"]
        if outcome == "bad_status":
            assert status is not None
            _check_status(actor, booking.status, status)
            raise AssertionError("bookit_update_booking and _check_status disagree")
        if outcome == "not_open":
            raise InvalidState(f"A {booking.status.value} booking cannot be rescheduled.")
        if outcome == "inactive":
            raise InvalidState(
                "The service is no longer offered: the booking can only be cancelled."
            )
        if outcome == "started":
            raise InvalidState("The booking has started: it cannot be rescheduled.")
        if outcome == "plan":
            known = await bookable(reads, booking.service_id)
            if known is not None and known.version != row["version"]:
                forget_bookable(booking.service_id)
                known = await bookable(reads, booking.service_id)
            if known is not None:  # else deactivated since: the next statement says so
                refusal = _plan_move(params, known, booking.starts_at, starts_at, ends_at)
            continue
        if outcome == "refused":
            assert refusal is not None
            raise refusal
        if outcome in ("updated", "unchanged"):
            return booking
        raise _conflict(row)
    raise BookingConflict()  # the booking or its rules changed under every attempt


def _plan_move(
    params: dict[str, Any],
    known: Bookable,
    basis: datetime | None,
    starts_at: datetime | None,
    ends_at: datetime | None,
) -> BookItError | None:
    """Judge a move by its service's rules, into `params`; the refusal, if any.

    `basis` is the booking's start, the move's when `starts_at` is None. The
    rules' verdict counts only if the times change (the statement knows).
    """
    params.update(version=known.version, basis=basis, refused=False, rules_refused=False)
    try:
        new_start, new_end = _check_times(
            basis if starts_at is None else _utc(starts_at, field="startsAt"),  # type: ignore[arg-type]
            None if ends_at is None else _utc(ends_at, field="endsAt"),
            duration_minutes=known.duration_minutes,
        )
    except BookItError as error:
        params["refused"] = True
        return error
    params.update(starts_at=new_start, ends_at=new_end)
    try:
        busy = _bookable(known.rules, new_start, new_end)
    except BookItError as error:
        params["rules_refused"] = True
        return error
    params.update(busy_starts_at=busy[0], busy_ends_at=busy[1])
    params.update(exclusive=known.rules.capacity == 1, capacity=known.rules.capacity)
    return None


def _check_status(actor: User, was: BookingStatus, status: BookingStatus) -> None:
    """Whether the actor may set a booking's status from `was` to `status` (else the error)."""
    if actor.role != Role.ADMIN:
        if status != BookingStatus.CANCELLED:
            raise Forbidden("Only an admin may set a booking's status other than CANCELLED.")
        if was not in OPEN:
            raise InvalidState(f"A {was.value} booking cannot be cancelled.")
    elif status not in TRANSITIONS[was]:
        raise InvalidState(f"A {was.value} booking cannot become {status.value}.")


def _refusal(check: Any, *args: Any) -> BookItError | None:
    """The error that `check(*args)` raises, or None."""
    try:
        check(*args)
    except BookItError as error:
        return error
    return None


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
