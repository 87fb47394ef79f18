"""GraphQL types of the catalogue."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from bookit_graphql.catalog import models
from bookit_graphql.catalog.service import slot_count
from bookit_graphql.context import Context
from bookit_graphql.limits import items
from bookit_graphql.pagination import Connection

if TYPE_CHECKING:
    from bookit_graphql.reviews.types import Review


@strawberry.type
class TimeSlot:
    starts_at: datetime
    ends_at: datetime


@strawberry.type
class Service:
    id: strawberry.ID
    title: str
    description: str
    price: Decimal
    duration_minutes: int
    is_active: bool
    average_rating: float | None = strawberry.field(
        description="Mean rating of its reviews, 2 decimals; null without reviews."
    )
    review_count: int
    created_at: datetime
    updated_at: datetime
    row: strawberry.Private[models.Service]

    @classmethod
    def from_row(cls, row: models.Service) -> Service:
        return cls(
            id=strawberry.ID(str(row.id)),
            title=row.title,
            description=row.description,
            price=row.price,
            duration_minutes=row.duration_minutes,
            is_active=row.is_active,
            average_rating=row.average_rating,
            review_count=row.review_count,
            created_at=row.created_at,
            updated_at=row.updated_at,
            row=row,
        )

    @strawberry.field(description="Reviews of this service, newest first.")
    async def reviews(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> Connection[Annotated[Review, strawberry.lazy("bookit_graphql.reviews.types")]]:
        from bookit_graphql.reviews.queries import service_reviews

        return await service_reviews(info, self.row, first=first, after=after)

    @strawberry.field(
        description="Start times on a `stepMinutes` grid (default 30) from `from` where a "
        "booking of `durationMinutes` fits before `to`; the window is at most 31 days.",
        metadata=items(slot_count),
    )
    async def available_slots(
        self,
        info: Info[Context, None],
        from_: Annotated[datetime, strawberry.argument(name="from")],
        to: datetime,
        step_minutes: int = 30,
    ) -> list[TimeSlot]:
        from bookit_graphql.catalog.queries import available_slots

        return await available_slots(info, self.row, start=from_, end=to, step_minutes=step_minutes)


ServiceConnection = Connection[Service]


@strawberry.enum
class ServiceOrderField(enum.Enum):
    TITLE = "title"
    PRICE = "price"
    CREATED_AT = "created_at"
    RATING = "rating"


@strawberry.enum
class SortDirection(enum.Enum):
    ASC = "asc"
    DESC = "desc"


@strawberry.enum(description="What deleteService did.")
class ServiceDeletion(enum.Enum):
    DELETED = strawberry.enum_value("deleted", description="It had no bookings: it is gone.")
    DEACTIVATED = strawberry.enum_value(
        "deactivated", description="It has bookings: kept for their history, hidden from users."
    )


@strawberry.input
class ServiceFilter:
    q: str | None = None
    price_min: Decimal | None = None
    price_max: Decimal | None = None
    active: bool | None = strawberry.field(
        default=None,
        description="Admins only: true active, false inactive, omitted all. "
        "Everyone else sees active services, whatever it says.",
    )


@strawberry.input
class ServiceOrder:
    field: ServiceOrderField
    direction: SortDirection = SortDirection.ASC


@strawberry.input
class CreateServiceInput:
    title: str
    price: Decimal
    duration_minutes: int
    description: str = ""
    is_active: bool = True


@strawberry.input
class UpdateServiceInput:
    title: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    price: Decimal | None = strawberry.UNSET
    duration_minutes: int | None = strawberry.UNSET
    is_active: bool | None = strawberry.UNSET
