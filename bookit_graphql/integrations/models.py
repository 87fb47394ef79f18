"""Webhook endpoints and deliveries, notifications, and each consumer's place in the event log."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Enum,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from bookit_graphql.db import Base


class OutboxConsumer(Base):
    """A reader of booking_events that must not miss an event: how far it has got.

    The row is locked (FOR UPDATE SKIP LOCKED) by the one instance that fans
    the next events out, and `position` moves in the same transaction as the
    work it created: a crash either keeps both or neither.
    """

    __tablename__ = "outbox_consumers"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_created_at_id", "created_at", "id"),)
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(500), default="", server_default="")
    # empty: every type
    event_types: Mapped[list[str]] = mapped_column(
        ARRAY(String(40)), default=list, server_default=text("'{}'")
    )
    service_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("services.id", ondelete="CASCADE")
    )
    is_active: Mapped[bool] = mapped_column(default=True, server_default=text("true"))
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
    # Fernet tokens (crypto.py) of the `whsec_` secrets: the current one, and the one
    # it replaced, which keeps signing until `previous_secret_expires_at`.
    secret: Mapped[bytes] = mapped_column(LargeBinary)
    previous_secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Since when every attempt has failed (None after a success): five days disable it.
    failing_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Which worker sends this endpoint's deliveries, until when (worker.py).
    lease_owner: Mapped[str | None] = mapped_column(String(80))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class WebhookDeliveryStatus(enum.StrEnum):
    PENDING = "PENDING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class WebhookDelivery(Base):
    """One event for one endpoint: its body is fixed, its attempts counted."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # one delivery per endpoint and event, whichever instance fans it out
        UniqueConstraint("endpoint_id", "event_id", name="uq_webhook_deliveries_endpoint_event"),
        Index("ix_webhook_deliveries_endpoint_id_seq", "endpoint_id", "seq"),
        Index(
            "ix_webhook_deliveries_due",
            "endpoint_id",
            "seq",
            postgresql_where=text("status = 'PENDING'"),
        ),
    )
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    # the order of first attempts per endpoint: the events' order
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True))
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    # the booking_events id (no foreign key: the log is pruned); None for a test event
    event_id: Mapped[int | None] = mapped_column(BigInteger)
    event_type: Mapped[str] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text)  # the exact bytes signed and sent, every attempt
    status: Mapped[WebhookDeliveryStatus] = mapped_column(
        Enum(WebhookDeliveryStatus, name="webhook_delivery_status"),
        default=WebhookDeliveryStatus.PENDING,
        server_default=WebhookDeliveryStatus.PENDING.value,
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # attempts allowed in all: the schedule's, or one more after a redelivery
    attempt_limit: Mapped[int] = mapped_column(Integer)
    last_response_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    next_attempt_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class NotificationKind(enum.StrEnum):
    BOOKING_RECEIVED = "BOOKING_RECEIVED"
    BOOKING_CONFIRMED = "BOOKING_CONFIRMED"
    BOOKING_RESCHEDULED = "BOOKING_RESCHEDULED"
    BOOKING_CANCELLED = "BOOKING_CANCELLED"
    REMINDER = "REMINDER"


class NotificationChannel(enum.StrEnum):
    EMAIL = "EMAIL"


class NotificationStatus(enum.StrEnum):
    PENDING = "PENDING"
    SENT = "SENT"
    FAILED = "FAILED"
    WITHDRAWN = "WITHDRAWN"


class Notification(Base):
    """A message to a booking's user, sent once: unique per booking, kind and sequence."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint(
            "booking_id", "kind", "sequence", name="uq_notifications_booking_kind_sequence"
        ),
        Index("ix_notifications_user_id_created_at", "user_id", "created_at", "id"),
        Index("ix_notifications_created_at_id", "created_at", "id"),
        Index("ix_notifications_due", "send_at", postgresql_where=text("status = 'PENDING'")),
    )
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    # No foreign keys: a notification outlives a deleted booking (its cancellation).
    user_id: Mapped[uuid.UUID] = mapped_column()
    booking_id: Mapped[uuid.UUID] = mapped_column()
    kind: Mapped[NotificationKind] = mapped_column(Enum(NotificationKind, name="notification_kind"))
    channel: Mapped[NotificationChannel] = mapped_column(
        Enum(NotificationChannel, name="notification_channel"),
        default=NotificationChannel.EMAIL,
        server_default=NotificationChannel.EMAIL.value,
    )
    status: Mapped[NotificationStatus] = mapped_column(
        Enum(NotificationStatus, name="notification_status"),
        default=NotificationStatus.PENDING,
        server_default=NotificationStatus.PENDING.value,
    )
    # The calendar event's SEQUENCE (RFC 5545): grows with each change of the booking.
    sequence: Mapped[int] = mapped_column(Integer)
    # The booking as it stood at the change (events.snapshot)
    booking: Mapped[dict[str, Any]] = mapped_column(JSONB)
    send_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(String(500))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
