"""Mutations of the catalogue: the admin's create, update and delete, and booking rules."""

from __future__ import annotations

from datetime import date

import strawberry
from strawberry.types import Info

from bookit_graphql.catalog import service as catalog
from bookit_graphql.catalog.types import (
    CreateServiceInput,
    Service,
    ServiceDeletion,
    ServiceRulesInput,
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

    @strawberry.mutation(
        extensions=admin_only(),
        description="Set any of a service's booking rules; omitted ones stay as they are. "
        "Existing bookings are never touched.",
    )
    async def set_service_rules(
        self, info: Info[Context, None], id: strawberry.ID, input: ServiceRulesInput
    ) -> Service:
        hours = input.weekly_hours
        async with info.context.session_factory.begin() as session:
            row = await catalog.set_service_rules(
                session,
                service_id=parse_id(id),
                time_zone=input.time_zone,
                weekly_hours=hours
                if not isinstance(hours, list)
                else [(h.day, h.opens, h.closes) for h in hours],
                buffer_before_minutes=input.buffer_before_minutes,
                buffer_after_minutes=input.buffer_after_minutes,
                min_notice_minutes=input.min_notice_minutes,
                max_advance_days=input.max_advance_days,
                capacity=input.capacity,
            )
        return Service.of(row)

    @strawberry.mutation(
        extensions=admin_only(),
        description="Close a service for a whole local day (a holiday); again replaces the reason.",
    )
    async def add_closure(
        self,
        info: Info[Context, None],
        service_id: strawberry.ID,
        date: date,
        reason: str | None = None,
    ) -> Service:
        async with info.context.session_factory.begin() as session:
            row = await catalog.add_closure(
                session, service_id=parse_id(service_id), day=date, reason=reason
            )
        return Service.of(row)

    @strawberry.mutation(
        extensions=admin_only(),
        description="Open a service again on a day it was closed (nothing if it was not).",
    )
    async def remove_closure(
        self, info: Info[Context, None], service_id: strawberry.ID, date: date
    ) -> Service:
        async with info.context.session_factory.begin() as session:
            row = await catalog.remove_closure(session, service_id=parse_id(service_id), day=date)
        return Service.of(row)
