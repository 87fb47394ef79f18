"""GraphQL types of bookings."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from bookit_graphql import sql
from bookit_graphql.bookings import models
from bookit_graphql.bookings.models import BookingStatus
from bookit_graphql.catalog.types import Service
from bookit_graphql.pagination import Connection
from bookit_graphql.users.types import User

if TYPE_CHECKING:
    from bookit_graphql.reviews.types import Review

# The GraphQL enums are the models' own classes, marked here: the models know no Strawberry.
strawberry.enum(models.BookingStatus)
strawberry.enum(models.BookingEventKind)


@strawberry.type
class Booking(sql.Object[models.Booking]):
    id: strawberry.ID = sql.column(models.Booking.id)
    starts_at: datetime = sql.column(models.Booking.starts_at)
    ends_at: datetime = sql.column(models.Booking.ends_at)
    status: BookingStatus = sql.column(models.Booking.status)
    created_at: datetime = sql.column(models.Booking.created_at)
    updated_at: datetime = sql.column(models.Booking.updated_at)
    service: Service = sql.related(models.Booking.service_id)
    user: User = sql.related(
        models.Booking.user_id, description="Who booked it (the caller, or anyone for an admin)."
    )
    # reviews build on bookings: named by table, not imported
    review: Annotated[Review, strawberry.lazy("bookit_graphql.reviews.types")] | None = sql.related(
        models.Booking.id,
        "reviews.booking_id",
        description="Its review, once the owner has written one.",
    )


BookingConnection = Connection[Booking]


@strawberry.input
class CreateBookingInput:
    service_id: strawberry.ID
    starts_at: datetime
    ends_at: datetime | None = strawberry.field(
        default=None, description="Defaults to startsAt + the service's durationMinutes."
    )
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="A retry with the same key and input returns the first call's booking; "
        "the same key with another input is BAD_USER_INPUT.",
    )


@strawberry.input
class UpdateBookingInput:
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    status: BookingStatus | None = None


@strawberry.input(description="An unknown or malformed id matches nothing.")
class BookingFilter:
    status: BookingStatus | None = None
    from_: datetime | None = strawberry.field(
        default=None, name="from", description="Bookings that end after this moment."
    )
    to: datetime | None = strawberry.field(
        default=None, description="Bookings that start before this moment (after `from`)."
    )
    service_id: strawberry.ID | None = None
    user_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="Admins only: anyone else may name only themselves (FORBIDDEN otherwise).",
    )
