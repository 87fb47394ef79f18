"""Integrations: webhook endpoints and deliveries, notifications, outbox positions.

The booking event log gains the webhook `type` of each event and the review of
a review.created event (whose `kind` is NULL: it is no change of the booking).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "booking_event_retention",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pruned_through", sa.BigInteger(), nullable=False),
        sa.Column(
            "pruned_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.CheckConstraint("id = 1", name=op.f("ck_booking_event_retention_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_booking_event_retention")),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("booking_id", sa.Uuid(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "BOOKING_RECEIVED",
                "BOOKING_CONFIRMED",
                "BOOKING_RESCHEDULED",
                "BOOKING_CANCELLED",
                "REMINDER",
                name="notification_kind",
            ),
            nullable=False,
        ),
        sa.Column(
            "channel",
            sa.Enum("EMAIL", name="notification_channel"),
            server_default="EMAIL",
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum("PENDING", "SENT", "FAILED", "WITHDRAWN", name="notification_status"),
            server_default="PENDING",
            nullable=False,
        ),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("booking", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "send_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint(
            "booking_id", "kind", "sequence", name="uq_notifications_booking_kind_sequence"
        ),
    )
    op.create_index(
        "ix_notifications_created_at_id", "notifications", ["created_at", "id"], unique=False
    )
    op.create_index(
        "ix_notifications_due",
        "notifications",
        ["send_at"],
        unique=False,
        postgresql_where=sa.text("status = 'PENDING'"),
    )
    op.create_index(
        "ix_notifications_user_id_created_at",
        "notifications",
        ["user_id", "created_at", "id"],
        unique=False,
    )
    op.create_table(
        "outbox_consumers",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_outbox_consumers")),
    )
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("description", sa.String(length=500), server_default="", nullable=False),
        sa.Column(
            "event_types",
            postgresql.ARRAY(sa.String(length=40)),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
        sa.Column("service_id", sa.Uuid(), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("disabled_reason", sa.String(length=200), nullable=True),
        sa.Column("secret", sa.LargeBinary(), nullable=False),
        sa.Column("previous_secret", sa.LargeBinary(), nullable=True),
        sa.Column("previous_secret_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(length=80), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_webhook_endpoints_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoints")),
    )
    op.create_index(
        "ix_webhook_endpoints_created_at_id",
        "webhook_endpoints",
        ["created_at", "id"],
        unique=False,
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("endpoint_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=True),
        sa.Column("event_type", sa.String(length=40), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("PENDING", "SUCCEEDED", "FAILED", name="webhook_delivery_status"),
            server_default="PENDING",
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("attempt_limit", sa.Integer(), nullable=False),
        sa.Column("last_response_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=True,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoints.id"],
            name=op.f("fk_webhook_deliveries_endpoint_id_webhook_endpoints"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        sa.UniqueConstraint("endpoint_id", "event_id", name="uq_webhook_deliveries_endpoint_event"),
    )
    op.create_index(
        "ix_webhook_deliveries_due",
        "webhook_deliveries",
        ["endpoint_id", "seq"],
        unique=False,
        postgresql_where=sa.text("status = 'PENDING'"),
    )
    op.create_index(
        "ix_webhook_deliveries_endpoint_id_seq",
        "webhook_deliveries",
        ["endpoint_id", "seq"],
        unique=False,
    )
    # existing events get their type from their kind, then the column has no default
    op.add_column(
        "booking_events",
        sa.Column("type", sa.String(length=40), server_default="booking.updated", nullable=False),
    )
    op.execute(
        "UPDATE booking_events SET type = CASE kind WHEN 'CREATED' THEN 'booking.created' "
        "WHEN 'CANCELLED' THEN 'booking.cancelled' WHEN 'DELETED' THEN 'booking.deleted' "
        "ELSE 'booking.rescheduled' END"
    )
    op.alter_column("booking_events", "type", server_default=None)
    # The consumers start where the log is now: integrations hear of what comes next.
    op.execute(
        "INSERT INTO outbox_consumers (name, position) "
        "SELECT name, coalesce((SELECT max(id) FROM booking_events), 0) "
        "FROM (VALUES ('webhooks'), ('notifications')) AS consumers (name)"
    )
    op.add_column(
        "booking_events",
        sa.Column("review", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )
    op.alter_column(
        "booking_events",
        "kind",
        existing_type=postgresql.ENUM(
            "CREATED", "UPDATED", "CANCELLED", "DELETED", name="booking_event_kind"
        ),
        nullable=True,
    )


def downgrade() -> None:
    op.execute("DELETE FROM booking_events WHERE kind IS NULL")
    op.alter_column(
        "booking_events",
        "kind",
        existing_type=postgresql.ENUM(
            "CREATED", "UPDATED", "CANCELLED", "DELETED", name="booking_event_kind"
        ),
        nullable=False,
    )
    op.drop_column("booking_events", "review")
    op.drop_column("booking_events", "type")
    op.drop_index("ix_webhook_deliveries_endpoint_id_seq", table_name="webhook_deliveries")
    op.drop_index(
        "ix_webhook_deliveries_due",
        table_name="webhook_deliveries",
        postgresql_where=sa.text("status = 'PENDING'"),
    )
    op.drop_table("webhook_deliveries")
    op.drop_index("ix_webhook_endpoints_created_at_id", table_name="webhook_endpoints")
    op.drop_table("webhook_endpoints")
    op.drop_table("outbox_consumers")
    op.drop_index("ix_notifications_user_id_created_at", table_name="notifications")
    op.drop_index(
        "ix_notifications_due",
        table_name="notifications",
        postgresql_where=sa.text("status = 'PENDING'"),
    )
    op.drop_index("ix_notifications_created_at_id", table_name="notifications")
    op.drop_table("notifications")
    op.drop_table("booking_event_retention")
    for name in (
        "webhook_delivery_status",
        "notification_kind",
        "notification_channel",
        "notification_status",
    ):
        sa.Enum(name=name).drop(op.get_bind())
