"""GraphQL types of the catalogue."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from bookit_graphql import sql
from bookit_graphql.catalog import models, service
from bookit_graphql.catalog.loaders import AvailableSlotsLoader
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
class Service(sql.Object[models.Service]):
    id: strawberry.ID = sql.column(models.Service.id)
    title: str = sql.column(models.Service.title)
    description: str = sql.column(models.Service.description)
    price: Decimal = sql.column(models.Service.price)
    duration_minutes: int = sql.column(models.Service.duration_minutes)
    is_active: bool = sql.column(models.Service.is_active)
    average_rating: float | None = sql.column(
        models.Service.average_rating,
        description="Mean rating of its reviews, 2 decimals; null without reviews.",
    )
    review_count: int = sql.column(models.Service.review_count)
    created_at: datetime = sql.column(models.Service.created_at)
    updated_at: datetime = sql.column(models.Service.updated_at)
    # reviews build on the catalogue: named by table, not imported
    reviews: Connection[Annotated[Review, strawberry.lazy("bookit_graphql.reviews.types")]] = (
        sql.children(
            "reviews.service_id",
            of=models.Service.id,
            order=("created_at", "id"),
            descending=True,
            total=models.Service.review_count,
            description="Reviews of this service, newest first.",
        )
    )

    @strawberry.field(
        description="Start times on a `stepMinutes` grid (default 30) from `from` where a "
        "booking of `durationMinutes` fits before `to`; the window is at most 31 days.",
        metadata=items(service.slot_count),
    )
    async def available_slots(
        root: models.Service,
        info: Info[Context, None],
        from_: Annotated[datetime, strawberry.argument(name="from")],
        to: datetime,
        step_minutes: int = 30,
    ) -> list[TimeSlot]:
        query = service.slot_query(root, start=from_, end=to, step_minutes=step_minutes)
        slots = await info.context.loader(AvailableSlotsLoader).load(query)
        return [TimeSlot(starts_at=starts_at, ends_at=ends_at) for starts_at, ends_at in slots]


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
