"""GraphQL types of the catalogue."""

from __future__ import annotations

import datetime as dt
import enum
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from bookit_graphql import sql
from bookit_graphql.catalog import models, service
from bookit_graphql.catalog.loaders import AvailableSlotsLoader
from bookit_graphql.catalog.schedule import Weekday, local_start
from bookit_graphql.context import Context
from bookit_graphql.limits import items
from bookit_graphql.pagination import Connection
from bookit_graphql.scalars import LocalTime

if TYPE_CHECKING:
    from bookit_graphql.reviews.types import Review


strawberry.enum(Weekday)


@strawberry.type
class TimeSlot:
    starts_at: datetime
    ends_at: datetime
    local_start: str = strawberry.field(
        description='The start as wall-clock time in the zone asked for: "2027-03-28T09:00".'
    )
    seats_left: int = strawberry.field(description="How many more bookings this slot takes.")


@strawberry.type(description="One opening interval of a weekday, in the service's time zone.")
class OpeningHours:
    day: Weekday = sql.key("day")
    opens: LocalTime = sql.key("opens")
    closes: LocalTime = sql.key("closes")


@strawberry.type(description="A whole local day on which the service is closed.")
class Closure:
    date: dt.date = sql.key("date")
    reason: str | None = sql.key("reason")


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
    time_zone: str = sql.column(
        models.Service.time_zone, description="The IANA zone of its hours, e.g. Europe/Berlin."
    )
    weekly_hours: list[OpeningHours] = sql.json_list(
        models.Service.weekly_hours,
        description="When it is open, by day and time; none: open around the clock.",
    )
    closures: list[Closure] = sql.json_list(
        models.Service.closures, description="Whole local days it is closed, by date."
    )
    buffer_before_minutes: int = sql.column(
        models.Service.buffer_before_minutes,
        description="Time kept free before each booking (preparation).",
    )
    buffer_after_minutes: int = sql.column(
        models.Service.buffer_after_minutes,
        description="Time kept free after each booking (clean-up).",
    )
    min_notice_minutes: int = sql.column(
        models.Service.min_notice_minutes,
        description="A booking starts at least this long after it is made.",
    )
    max_advance_days: int = sql.column(
        models.Service.max_advance_days,
        description="A booking starts at most this many times 24 hours after it is made.",
    )
    capacity: int = sql.column(
        models.Service.capacity, description="How many active bookings may overlap (seats)."
    )
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
        description="Bookable starts in [`from`, `to`) where a booking of `durationMinutes` "
        "fits: on a `stepMinutes` grid (default 30, also when null) from each opening's time "
        "in the service's zone (from `from` for a service open around the clock), within "
        "its notice and horizon, with a seat left and its buffers free. `timeZone` (default: "
        "the service's) only changes `localStart`. The window is at most 31 days.",
        metadata=items(service.slot_count),
    )
    async def available_slots(
        root: models.Service,
        info: Info[Context, None],
        from_: Annotated[datetime, strawberry.argument(name="from")],
        to: datetime,
        step_minutes: int | None = service.DEFAULT_STEP_MINUTES,
        time_zone: str | None = None,
    ) -> list[TimeSlot]:
        query = service.slot_query(root, start=from_, end=to, step_minutes=step_minutes)
        view = service.view_zone(root, time_zone)
        slots = await info.context.loader(AvailableSlotsLoader).load(query)
        return [
            TimeSlot(
                starts_at=slot.starts_at,
                ends_at=slot.ends_at,
                local_start=local_start(slot.starts_at, view),
                seats_left=slot.seats_left,
            )
            for slot in slots
        ]


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


@strawberry.input(description="One opening interval: `closes` after `opens` (24:00 allowed).")
class OpeningHoursInput:
    day: Weekday
    opens: LocalTime
    closes: LocalTime


@strawberry.input(description="The booking rules to change; omitted ones stay as they are.")
class ServiceRulesInput:
    time_zone: str | None = strawberry.UNSET
    weekly_hours: list[OpeningHoursInput] | None = strawberry.field(
        default=strawberry.UNSET, description="Replaces all of them; [] is open around the clock."
    )
    buffer_before_minutes: int | None = strawberry.UNSET
    buffer_after_minutes: int | None = strawberry.UNSET
    min_notice_minutes: int | None = strawberry.UNSET
    max_advance_days: int | None = strawberry.UNSET
    capacity: int | None = strawberry.UNSET
