"""Mutations of bookings: create, reschedule or change status, delete.

Each runs one transaction (again if PostgreSQL picks it as a deadlock victim),
so nothing is half-written when it fails: createBooking and updateBooking one
statement on the psycopg pool (bookings/service.py), deleteBooking an ORM session.
createBooking's and updateBooking's answer (their selection of the booking, its
service, user and review) is built by that same statement (compiled.answer).
"""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from bookit_graphql import compiled
from bookit_graphql.bookings import service
from bookit_graphql.bookings.types import Booking, CreateBookingInput, UpdateBookingInput
from bookit_graphql.context import Context
from bookit_graphql.db import in_transaction
from bookit_graphql.permissions import authenticated
from bookit_graphql.scalars import parse_id


@strawberry.type
class BookingMutations:
    @strawberry.mutation(
        extensions=authenticated(),
        description="Book an active service's time (PENDING until an admin confirms). "
        "BOOKING_CONFLICT, with the busy `conflictingRange`, when it overlaps an active "
        "booking of the service; a booking lasts at most 24 hours.",
    )
    async def create_booking(self, info: Info[Context, None], input: CreateBookingInput) -> Booking:
        actor = info.context.user
        assert actor is not None  # guaranteed by @authenticated
        answer = compiled.answer(info)
        row = await service.create_booking(
            info.context.reads,
            actor=actor,
            service_id=parse_id(input.service_id),
            starts_at=input.starts_at,
            ends_at=input.ends_at,
            idempotency_key=input.idempotency_key,
            answer=answer,
        )
        return Booking.of(row if answer is None else compiled.answered(info, answer))

    @strawberry.mutation(
        extensions=authenticated(),
        description="The owner reschedules or cancels a PENDING or CONFIRMED booking; an admin "
        "also moves anyone's and sets its status (PENDING → CONFIRMED → COMPLETED, or "
        "CANCELLED from PENDING or CONFIRMED).",
    )
    async def update_booking(
        self, info: Info[Context, None], id: strawberry.ID, input: UpdateBookingInput
    ) -> Booking:
        actor = info.context.user
        assert actor is not None
        answer = compiled.answer(info)
        row = await service.update_booking(
            info.context.reads,
            actor=actor,
            booking_id=parse_id(id),
            starts_at=input.starts_at,
            ends_at=input.ends_at,
            status=input.status,
            answer=answer,
        )
        return Booking.of(row if answer is None else compiled.answered(info, answer))

    @strawberry.mutation(
        extensions=authenticated(),
        description="Delete a booking: the owner's before it starts, anyone's for an admin.",
    )
    async def delete_booking(self, info: Info[Context, None], id: strawberry.ID) -> bool:
        actor = info.context.user
        assert actor is not None
        await in_transaction(
            info.context.session_factory,
            lambda session: service.delete_booking(session, actor=actor, booking_id=parse_id(id)),
        )
        return True
