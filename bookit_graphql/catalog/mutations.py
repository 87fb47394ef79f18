"""Mutations of the catalogue: the admin's create, update and delete."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from bookit_graphql.catalog import service as catalog
from bookit_graphql.catalog.types import (
    CreateServiceInput,
    Service,
    ServiceDeletion,
    UpdateServiceInput,
)
from bookit_graphql.context import Context
from bookit_graphql.permissions import admin_only
from bookit_graphql.scalars import parse_id


@strawberry.type
class CatalogMutations:
    @strawberry.mutation(extensions=admin_only(), description="Add a service to the catalogue.")
    async def create_service(self, info: Info[Context, None], input: CreateServiceInput) -> Service:
        async with info.context.session_factory.begin() as session:
            row = await catalog.create_service(
                session,
                title=input.title,
                description=input.description,
                price=input.price,
                duration_minutes=input.duration_minutes,
                is_active=input.is_active,
            )
        return Service.of(row)

    @strawberry.mutation(
        extensions=admin_only(),
        description="Change the given fields of a service; omitted ones stay as they are.",
    )
    async def update_service(
        self, info: Info[Context, None], id: strawberry.ID, input: UpdateServiceInput
    ) -> Service:
        async with info.context.session_factory.begin() as session:
            row = await catalog.update_service(
                session,
                service_id=parse_id(id),
                title=input.title,
                description=input.description,
                price=input.price,
                duration_minutes=input.duration_minutes,
                is_active=input.is_active,
            )
        return Service.of(row)

    @strawberry.mutation(
        extensions=admin_only(),
        description="Delete a service; one with bookings is deactivated instead, to keep "
        "their history.",
    )
    async def delete_service(self, info: Info[Context, None], id: strawberry.ID) -> ServiceDeletion:
        async with info.context.session_factory.begin() as session:
            outcome = await catalog.delete_service(session, service_id=parse_id(id))
        return ServiceDeletion(outcome)
