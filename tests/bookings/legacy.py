"""The writes as they were before they became one statement each (issue 14), for the
differential test only: createBooking, updateBooking and createReview through ORM
sessions, statement by statement. Nothing in the package imports this.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, cast, func, literal, literal_column, select, update
from sqlalchemy import insert as core_insert
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bookit_graphql import sql
from bookit_graphql.bookings import models
from bookit_graphql.bookings.events import CHANNEL, EVENT_LOG_LOCK, REVIEW_CREATED, TYPES, snapshot
from bookit_graphql.bookings.models import Booking, BookingEvent, BookingEventKind, BookingStatus
from bookit_graphql.bookings.service import (
    MAX_IDEMPOTENCY_KEY,
    OPEN,
    TRANSITIONS,
    WRITE_ATTEMPTS,
    _check_times,
    _iso,
    _now,
    _request_hash,
    _utc,
)
from bookit_graphql.catalog.models import Service
from bookit_graphql.catalog.schedule import Rules
from bookit_graphql.errors import (
    AlreadyExists,
    BadUserInput,
    BookingConflict,
    Forbidden,
    InvalidState,
    NotFound,
    SlotUnavailable,
)
from bookit_graphql.permissions import Role
from bookit_graphql.reviews.models import Review
from bookit_graphql.reviews.service import check_rating, clean_comment
from bookit_graphql.users.models import User

EXCLUSION_VIOLATION = "23P01"


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
            await record(session, booking=booking, kind=BookingEventKind.CREATED)
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
            await record(session, booking=updated, kind=BookingEventKind.CANCELLED)
        else:
            type = update_type(was=was, now=updated)
            await record(session, booking=updated, kind=BookingEventKind.UPDATED, type=type)
        return updated
    raise BookingConflict()


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


def update_type(*, was: BookingStatus, now: Booking) -> str:
    """What an UPDATED change is to an integration: a new status, else a reschedule.

    One change that both confirms and moves a booking is called confirmed.
    """
    if now.status != was and now.status == BookingStatus.CONFIRMED:
        return "booking.confirmed"
    if now.status != was and now.status == BookingStatus.COMPLETED:
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
        core_insert(BookingEvent)
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


async def create_review(
    session: AsyncSession,
    *,
    actor: User,
    booking_id: uuid.UUID | None,
    rating: int,
    comment: str | None,
) -> Review:
    """The actor reviews their own completed booking, once.

    Another user's booking is NOT_FOUND to a user and FORBIDDEN to an admin,
    who may know that it exists.
    """
    rating = check_rating(rating)
    comment = clean_comment(comment)
    # FOR SHARE: the booking cannot leave COMPLETED until this review commits,
    # while concurrent reviewers of it still reach the unique constraint.
    booking = (
        await session.get(Booking, booking_id, with_for_update={"read": True})
        if booking_id
        else None
    )
    if booking is None or (booking.user_id != actor.id and actor.role != Role.ADMIN):
        raise NotFound("No such booking.")
    if booking.user_id != actor.id:
        raise Forbidden("Only the booking's owner reviews it.")
    if booking.status != BookingStatus.COMPLETED:
        raise InvalidState("Only a completed booking can be reviewed.")
    # The unique constraint decides between racing writers: the loser's insert
    # waits for the winner's commit, then inserts nothing.
    inserted = insert(Review).values(
        booking_id=booking.id,
        service_id=booking.service_id,
        user_id=actor.id,
        rating=rating,
        comment=comment,
    )
    review: Review | None = await session.scalar(
        inserted.on_conflict_do_nothing(constraint="uq_reviews_booking_id").returning(Review)
    )
    if review is None:
        raise AlreadyExists("This booking already has a review.", field="bookingId")
    # review.created for webhooks, in the one log (subscriptions skip it: kind None)
    await record(
        session,
        booking=booking,
        kind=None,
        type=REVIEW_CREATED,
        review=sql.dump(review),
    )
    return review
