"""Query fields of the catalogue: `services` and `service`."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from bookit_graphql import compiled
from bookit_graphql.catalog import service as catalog
from bookit_graphql.catalog.types import (
    Service,
    ServiceConnection,
    ServiceFilter,
    ServiceOrder,
    ServiceOrderField,
    SortDirection,
)
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
        filters = catalog.services_filter(
            viewer=info.context.user,
            q=filter.q,
            price_min=filter.price_min,
            price_max=filter.price_max,
            active=filter.active,
        )
        listing = catalog.services_listing(
            filters, sort=order.field.value, descending=order.direction == SortDirection.DESC
        )
        connection: ServiceConnection = await compiled.connection(
            info, listing, first=first, after=after
        )
        return connection

    @strawberry.field(
        description="A service by id; NOT_FOUND if unknown or, for non-admins, inactive."
    )
    async def service(self, info: Info[Context, None], id: strawberry.ID) -> Service | None:
        listing = catalog.service_listing(service_id=parse_id(id), viewer=info.context.user)
        return Service.of(await compiled.one(info, listing, missing=catalog.NO_SUCH_SERVICE))
