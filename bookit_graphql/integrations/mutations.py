"""Mutations of webhook endpoints (admins only)."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry
from strawberry.types import Info

from bookit_graphql.context import Context
from bookit_graphql.integrations import webhooks
from bookit_graphql.integrations.types import (
    CreateWebhookEndpointInput,
    CreateWebhookEndpointPayload,
    RotateWebhookSecretPayload,
    UpdateWebhookEndpointInput,
    WebhookDelivery,
    WebhookEndpoint,
)
from bookit_graphql.permissions import admin_only
from bookit_graphql.scalars import parse_id


@strawberry.type
class IntegrationMutations:
    @strawberry.mutation(
        extensions=admin_only(),
        description="A new endpoint; its signing secret is in the answer, and nowhere else.",
    )
    async def create_webhook_endpoint(
        self, info: Info[Context, None], input: CreateWebhookEndpointInput
    ) -> CreateWebhookEndpointPayload:
        ctx = info.context
        async with ctx.session_factory.begin() as session:
            endpoint, secret = await webhooks.create_endpoint(
                session,
                settings=ctx.settings,
                url=input.url,
                event_types=input.event_types,
                service_id=input.service_id,
                description=input.description,
            )
        return CreateWebhookEndpointPayload(secret=secret, endpoint=WebhookEndpoint.of(endpoint))

    @strawberry.mutation(extensions=admin_only(), description="Change an endpoint.")
    async def update_webhook_endpoint(
        self, info: Info[Context, None], id: strawberry.ID, input: UpdateWebhookEndpointInput
    ) -> WebhookEndpoint:
        ctx = info.context
        async with ctx.session_factory.begin() as session:
            endpoint = await webhooks.update_endpoint(
                session,
                settings=ctx.settings,
                endpoint_id=parse_id(id),
                url=input.url,
                event_types=input.event_types,
                service_id=input.service_id or None,
                clear_service=input.service_id is None,
                description=input.description,
                is_active=input.is_active,
            )
        return WebhookEndpoint.of(endpoint)

    @strawberry.mutation(
        extensions=admin_only(), description="Delete an endpoint and its delivery log."
    )
    async def delete_webhook_endpoint(self, info: Info[Context, None], id: strawberry.ID) -> bool:
        async with info.context.session_factory.begin() as session:
            await webhooks.delete_endpoint(session, endpoint_id=parse_id(id))
        return True

    @strawberry.mutation(
        extensions=admin_only(),
        description="A new signing secret; the previous one keeps signing beside it for 24 hours.",
    )
    async def rotate_webhook_secret(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> RotateWebhookSecretPayload:
        ctx = info.context
        async with ctx.session_factory.begin() as session:
            endpoint, secret = await webhooks.rotate_secret(
                session, settings=ctx.settings, endpoint_id=parse_id(id), now=datetime.now(UTC)
            )
        expires = endpoint.previous_secret_expires_at
        assert expires is not None
        return RotateWebhookSecretPayload(
            secret=secret, previous_secret_expires_at=expires, endpoint=WebhookEndpoint.of(endpoint)
        )

    @strawberry.mutation(
        extensions=admin_only(),
        description="Send one `webhook.test` event now, whatever the endpoint's filters.",
    )
    async def send_test_webhook(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> WebhookDelivery:
        async with info.context.session_factory.begin() as session:
            delivery = await webhooks.send_test(
                session, endpoint_id=parse_id(id), now=datetime.now(UTC)
            )
        return WebhookDelivery.of(delivery)

    @strawberry.mutation(
        extensions=admin_only(),
        description="One more attempt of a delivery, now, with the same `webhook-id`.",
    )
    async def redeliver_webhook(
        self, info: Info[Context, None], delivery_id: strawberry.ID
    ) -> WebhookDelivery:
        async with info.context.session_factory.begin() as session:
            delivery = await webhooks.redeliver(session, delivery_id=parse_id(delivery_id))
        return WebhookDelivery.of(delivery)
