"""Query fields of integrations: the admins' webhooks, everyone's notifications."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from bookit_graphql import compiled
from bookit_graphql.context import Context
from bookit_graphql.integrations import notifications, webhooks
from bookit_graphql.integrations.models import WebhookDeliveryStatus
from bookit_graphql.integrations.types import (
    NotificationConnection,
    WebhookDeliveryConnection,
    WebhookEndpointConnection,
)
from bookit_graphql.permissions import admin_only, authenticated
from bookit_graphql.scalars import parse_id


@strawberry.type
class IntegrationQueries:
    @strawberry.field(extensions=admin_only(), description="Webhook endpoints, oldest first.")
    async def webhook_endpoints(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> WebhookEndpointConnection:
        connection: WebhookEndpointConnection = await compiled.connection(
            info, webhooks.endpoints_listing(), first=first, after=after
        )
        return connection

    @strawberry.field(
        extensions=admin_only(), description="An endpoint's delivery log, newest first."
    )
    async def webhook_deliveries(
        self,
        info: Info[Context, None],
        endpoint_id: strawberry.ID,
        status: WebhookDeliveryStatus | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> WebhookDeliveryConnection:
        async with info.context.session_factory() as session:
            endpoint = await webhooks.find_endpoint(session, parse_id(endpoint_id))
        listing = webhooks.deliveries_listing(endpoint_id=endpoint.id, status=status)
        connection: WebhookDeliveryConnection = await compiled.connection(
            info, listing, first=first, after=after
        )
        return connection

    @strawberry.field(
        extensions=authenticated(),
        description="The caller's notifications (everyone's for an admin), newest first; "
        "a scheduled reminder is PENDING until it is sent or withdrawn.",
    )
    async def notifications(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> NotificationConnection:
        assert info.context.user is not None  # guaranteed by @authenticated
        listing = notifications.notifications_listing(actor=info.context.user)
        connection: NotificationConnection = await compiled.connection(
            info, listing, first=first, after=after
        )
        return connection
