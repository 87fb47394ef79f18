"""Query fields of the catalogue: `services`, `service`, and a service's free slots."""

from __future__ import annotations

import contextlib
from datetime import datetime

import strawberry
from strawberry.types import Info

from bookit_graphql.catalog import models
from bookit_graphql.catalog import service as catalog
from bookit_graphql.catalog.loaders import AvailableSlotsLoader
from bookit_graphql.catalog.types import (
    Service,
    ServiceConnection,
    ServiceFilter,
    ServiceOrder,
    ServiceOrderField,
    SortDirection,
    TimeSlot,
)
from bookit_graphql.compiled import Compiler, Unknown
from bookit_graphql.context import Context
from bookit_graphql.scalars import parse_id


@strawberry.type
class CatalogQueries:
    @strawberry.field(
        description="Services, oldest first unless `orderBy` says otherwise (the id breaks "
        "ties). Only admins see inactive ones."
    )
    async def services(
        self,
        info: Info[Context, None],
        filter: ServiceFilter | None = None,
        order_by: ServiceOrder | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> ServiceConnection:
        filter = filter or ServiceFilter()
        order = order_by or ServiceOrder(field=ServiceOrderField.CREATED_AT)
        descending = order.direction == SortDirection.DESC
        filters = catalog.services_filter(
            viewer=info.context.user,
            q=filter.q,
            price_min=filter.price_min,
            price_max=filter.price_max,
            active=filter.active,
        )
        with contextlib.suppress(Unknown):
            if compiler := Compiler.of(info):
                listing = catalog.services_listing(
                    filters, sort=order.field.value, descending=descending
                )
                return await compiler.connection(
                    listing, first=first, after=after, as_=ServiceConnection
                )
        query = catalog.services_query(filters)
        page = await catalog.list_services(
            info.context.session_factory,
            query,
            sort=order.field.value,
            descending=descending,
            first=first,
            after=after,
        )
        return ServiceConnection.of(page, Service.from_row)

    @strawberry.field(
        description="A service by id; NOT_FOUND if unknown or, for non-admins, inactive."
    )
    async def service(self, info: Info[Context, None], id: strawberry.ID) -> Service | None:
        service_id, viewer = parse_id(id), info.context.user
        with contextlib.suppress(Unknown):
            if compiler := Compiler.of(info):
                listing = catalog.service_listing(service_id=service_id, viewer=viewer)
                return await compiler.one(listing, missing=catalog.NO_SUCH_SERVICE, as_=Service)
        async with info.context.session_factory() as session:
            row = await catalog.get_service(session, service_id=service_id, viewer=viewer)
        return Service.from_row(row)


async def available_slots(
    info: Info[Context, None],
    row: models.Service,
    *,
    start: datetime,
    end: datetime,
    step_minutes: int,
) -> list[TimeSlot]:
    """Service.availableSlots: batched, so a page of services costs one statement."""
    query = catalog.slot_query(row, start=start, end=end, step_minutes=step_minutes)
    slots = await info.context.loader(AvailableSlotsLoader).load(query)
    return [TimeSlot(starts_at=starts_at, ends_at=ends_at) for starts_at, ends_at in slots]
