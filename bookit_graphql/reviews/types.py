"""GraphQL types of reviews."""

from __future__ import annotations

import uuid
from datetime import datetime

import strawberry
from strawberry.types import Info

from bookit_graphql.bookings.loaders import BookingsByIdLoader
from bookit_graphql.bookings.types import Booking
from bookit_graphql.catalog.loaders import ServicesByIdLoader
from bookit_graphql.catalog.types import Service
from bookit_graphql.context import Context
from bookit_graphql.pagination import Connection
from bookit_graphql.permissions import Role
from bookit_graphql.reviews import models
from bookit_graphql.users.loaders import UsersByIdLoader


@strawberry.type(description="The public face of a review's author: no email, no role.")
class ReviewAuthor:
    id: strawberry.ID
    full_name: str


@strawberry.type
class Review:
    id: strawberry.ID
    rating: int
    comment: str | None
    created_at: datetime
    updated_at: datetime
    booking_id: strawberry.Private[uuid.UUID]
    service_id: strawberry.Private[uuid.UUID]
    user_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_row(cls, row: models.Review) -> Review:
        return cls(
            id=strawberry.ID(str(row.id)),
            rating=row.rating,
            comment=row.comment,
            created_at=row.created_at,
            updated_at=row.updated_at,
            booking_id=row.booking_id,
            service_id=row.service_id,
            user_id=row.user_id,
        )

    @strawberry.field
    async def author(self, info: Info[Context, None]) -> ReviewAuthor:
        row = await info.context.loader(UsersByIdLoader).load(self.user_id)
        assert row is not None  # a foreign key
        return ReviewAuthor(id=strawberry.ID(str(row.id)), full_name=row.full_name)

    @strawberry.field(description="The reviewed booking: visible to its owner and admins only.")
    async def booking(self, info: Info[Context, None]) -> Booking | None:
        viewer = info.context.user
        if viewer is None or (viewer.id != self.user_id and viewer.role != Role.ADMIN):
            return None
        row = await info.context.loader(BookingsByIdLoader).load(self.booking_id)
        return Booking.from_row(row) if row else None

    @strawberry.field
    async def service(self, info: Info[Context, None]) -> Service:
        row = await info.context.loader(ServicesByIdLoader).load(self.service_id)
        assert row is not None  # a foreign key
        return Service.from_row(row)


ReviewConnection = Connection[Review]


@strawberry.input
class CreateReviewInput:
    booking_id: strawberry.ID
    rating: int = strawberry.field(description="1 to 5.")
    comment: str | None = strawberry.field(default=None, description="Up to 2,000 characters.")


@strawberry.input
class UpdateReviewInput:
    rating: int | None = None
    comment: str | None = strawberry.UNSET


@strawberry.input
class ReviewFilter:
    service_id: strawberry.ID | None = None
    user_id: strawberry.ID | None = None
