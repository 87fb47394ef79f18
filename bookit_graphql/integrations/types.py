"""GraphQL types of webhooks and notifications."""

from __future__ import annotations

from datetime import datetime

import strawberry

from bookit_graphql import sql
from bookit_graphql.integrations import models
from bookit_graphql.integrations.models import (
    NotificationChannel,
    NotificationKind,
    NotificationStatus,
    WebhookDeliveryStatus,
)
from bookit_graphql.pagination import Connection

strawberry.enum(models.WebhookDeliveryStatus)
strawberry.enum(models.NotificationKind)
strawberry.enum(models.NotificationChannel)
strawberry.enum(models.NotificationStatus)


@strawberry.type(description="Where BookIt posts signed webhooks (Standard Webhooks).")
class WebhookEndpoint(sql.Object[models.WebhookEndpoint]):
    id: strawberry.ID = sql.column(models.WebhookEndpoint.id)
    url: str = sql.column(models.WebhookEndpoint.url)
    description: str = sql.column(models.WebhookEndpoint.description)
    event_types: list[str] = sql.column(
        models.WebhookEndpoint.event_types, description="Empty: every type."
    )
    service_id: strawberry.ID | None = sql.column(models.WebhookEndpoint.service_id)
    is_active: bool = sql.column(models.WebhookEndpoint.is_active)
    disabled_reason: str | None = sql.column(models.WebhookEndpoint.disabled_reason)
    created_at: datetime = sql.column(models.WebhookEndpoint.created_at)


@strawberry.type(description="One event for one endpoint, and how its attempts went.")
class WebhookDelivery(sql.Object[models.WebhookDelivery]):
    id: strawberry.ID = sql.column(
        models.WebhookDelivery.id, description="Its `webhook-id` is `msg_` and this, unhyphenated."
    )
    event_id: strawberry.ID | None = sql.column(
        models.WebhookDelivery.event_id, description="The event's id in the log; null for a test."
    )
    event_type: str = sql.column(models.WebhookDelivery.event_type)
    status: WebhookDeliveryStatus = sql.column(models.WebhookDelivery.status)
    attempts: int = sql.column(models.WebhookDelivery.attempts)
    last_response_status: int | None = sql.column(models.WebhookDelivery.last_response_status)
    last_error: str | None = sql.column(models.WebhookDelivery.last_error)
    next_attempt_at: datetime | None = sql.column(models.WebhookDelivery.next_attempt_at)
    created_at: datetime = sql.column(models.WebhookDelivery.created_at)
    delivered_at: datetime | None = sql.column(models.WebhookDelivery.delivered_at)


@strawberry.type
class Notification(sql.Object[models.Notification]):
    id: strawberry.ID = sql.column(models.Notification.id)
    kind: NotificationKind = sql.column(models.Notification.kind)
    booking_id: strawberry.ID = sql.column(models.Notification.booking_id)
    channel: NotificationChannel = sql.column(models.Notification.channel)
    status: NotificationStatus = sql.column(models.Notification.status)
    sent_at: datetime | None = sql.column(models.Notification.sent_at)
    created_at: datetime = sql.column(models.Notification.created_at)


WebhookEndpointConnection = Connection[WebhookEndpoint]
WebhookDeliveryConnection = Connection[WebhookDelivery]
NotificationConnection = Connection[Notification]


@strawberry.type
class CreateWebhookEndpointPayload:
    secret: str = strawberry.field(description="The signing secret (`whsec_…`), shown only now.")
    endpoint: WebhookEndpoint


@strawberry.type
class RotateWebhookSecretPayload:
    secret: str = strawberry.field(description="The new signing secret, shown only now.")
    previous_secret_expires_at: datetime = strawberry.field(
        description="Until then the previous secret signs beside the new one."
    )
    endpoint: WebhookEndpoint


@strawberry.input
class CreateWebhookEndpointInput:
    url: str = strawberry.field(description="https:// (http:// too in development).")
    event_types: list[str] | None = strawberry.field(
        default=None, description="booking.created, booking.rescheduled, …; empty or omitted: all."
    )
    service_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only this service's events."
    )
    description: str | None = None


@strawberry.input
class UpdateWebhookEndpointInput:
    url: str | None = None
    event_types: list[str] | None = None
    service_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="null: every service's events."
    )
    description: str | None = None
    is_active: bool | None = strawberry.field(
        default=None, description="true re-enables a disabled endpoint."
    )
