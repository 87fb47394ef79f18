"""GraphQL types of bookings."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from bookit_graphql.bookings import models
from bookit_graphql.bookings.models import BookingStatus
from bookit_graphql.catalog.loaders import ServicesByIdLoader
from bookit_graphql.catalog.types import Service
from bookit_graphql.context import Context
from bookit_graphql.pagination import Connection
from bookit_graphql.users.loaders import UsersByIdLoader
from bookit_graphql.users.types import User

if TYPE_CHECKING:
    from bookit_graphql.reviews.types import Review

# The GraphQL enums are the models' own classes, marked here: the models know no Strawberry.
strawberry.enum(models.BookingStatus)
strawberry.enum(models.BookingEventKind)


@strawberry.type
class Booking:
    id: strawberry.ID
    starts_at: datetime
    ends_at: datetime
    status: BookingStatus
    created_at: datetime
    updated_at: datetime
    service_id: strawberry.Private[uuid.UUID]
    user_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_row(cls, row: models.Booking) -> Booking:
        return cls(
            id=strawberry.ID(str(row.id)),
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            status=row.status,
            created_at=row.created_at,
            updated_at=row.updated_at,
            service_id=row.service_id,
            user_id=row.user_id,
        )

    @strawberry.field
    async def service(self, info: Info[Context, None]) -> Service:
        row = await info.context.loader(ServicesByIdLoader).load(self.service_id)
        assert row is not None  # a foreign key
        return Service.from_row(row)

    @strawberry.field(description="Who booked it (the caller, or anyone for an admin).")
    async def user(self, info: Info[Context, None]) -> User:
        row = await info.context.loader(UsersByIdLoader).load(self.user_id)
        assert row is not None  # a foreign key
        return User.from_row(row)

    @strawberry.field(description="Its review, once the owner has written one.")
    async def review(
        self, info: Info[Context, None]
    ) -> Annotated[Review, strawberry.lazy("bookit_graphql.reviews.types")] | None:
        from bookit_graphql.reviews.loaders import ReviewsByBookingIdLoader
        from bookit_graphql.reviews.types import Review

        row = await info.context.loader(ReviewsByBookingIdLoader).load(uuid.UUID(self.id))
        return Review.from_row(row) if row else None


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
