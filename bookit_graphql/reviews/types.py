"""GraphQL types of reviews."""

from __future__ import annotations

from datetime import datetime

import strawberry

from bookit_graphql import sql
from bookit_graphql.bookings.types import Booking
from bookit_graphql.catalog.types import Service
from bookit_graphql.pagination import Connection
from bookit_graphql.reviews import models
from bookit_graphql.users import models as users


@strawberry.type(description="The public face of a review's author: no email, no role.")
class ReviewAuthor(sql.Object[users.User]):
    id: strawberry.ID = sql.column(users.User.id)
    full_name: str = sql.column(users.User.full_name)


@strawberry.type
class Review(sql.Object[models.Review]):
    id: strawberry.ID = sql.column(models.Review.id)
    rating: int = sql.column(models.Review.rating)
    comment: str | None = sql.column(models.Review.comment)
    created_at: datetime = sql.column(models.Review.created_at)
    updated_at: datetime = sql.column(models.Review.updated_at)
    author: ReviewAuthor = sql.related(models.Review.user_id)
    booking: Booking | None = sql.related(
        models.Review.booking_id,
        visible=sql.OwnerOrAdmin("user_id"),
        description="The reviewed booking: visible to its owner and admins only.",
    )
    service: Service = sql.related(models.Review.service_id)


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
