"""Query fields of bookings: `bookings` and `booking`, the caller's own (all, for an admin)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from bookit_graphql import compiled
from bookit_graphql.bookings import service
from bookit_graphql.bookings.types import Booking, BookingConnection, BookingFilter
from bookit_graphql.context import Context
from bookit_graphql.permissions import authenticated
from bookit_graphql.scalars import parse_id


@strawberry.type
class BookingQueries:
    @strawberry.field(
        extensions=authenticated(),
        description="Bookings by start time: the caller's own, everyone's for an admin. "
        "`from`/`to` keep those overlapping the window; an unknown id in a filter matches "
        "nothing; `userId` naming another user is FORBIDDEN to a non-admin.",
    )
    async def bookings(
        self,
        info: Info[Context, None],
        filter: BookingFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> BookingConnection:
        assert info.context.user is not None  # guaranteed by @authenticated
        filter = filter or BookingFilter()
        filters = service.bookings_filter(
            actor=info.context.user,
            status=filter.status,
            from_=filter.from_,
            to=filter.to,
            service_id=filter.service_id,
            user_id=filter.user_id,
        )
        listing = service.bookings_listing(filters)
        connection: BookingConnection = await compiled.connection(
            info, listing, first=first, after=after
        )
        return connection

    @strawberry.field(
        extensions=authenticated(),
        description="A booking of the caller's (any, for an admin); NOT_FOUND otherwise.",
    )
    async def booking(self, info: Info[Context, None], id: strawberry.ID) -> Booking | None:
        assert info.context.user is not None
        listing = service.booking_listing(actor=info.context.user, booking_id=parse_id(id))
        return Booking.of(await compiled.one(info, listing, missing="No such booking."))
