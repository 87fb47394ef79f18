"""Schedules: a service's zone, hours, closures, buffers, notice, horizon and seats.

Every existing service stays as it was: open around the clock in UTC, one
seat, no buffers. Every existing booking keeps exactly its own time
(busy = its start to its end) and holds it alone, so the exclusion constraint
keeps refusing what it refused before; it now reads the stored busy range and
only exclusive bookings, and a GiST index serves the count of overlapping
bookings of services with several seats.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SERVICE_CHECKS = {
    "buffers_range": "buffer_before_minutes BETWEEN 0 AND 240 "
    "AND buffer_after_minutes BETWEEN 0 AND 240",
    "notice_range": "min_notice_minutes BETWEEN 0 AND 43200",
    "advance_range": "max_advance_days BETWEEN 1 AND 1095",
    "capacity_range": "capacity BETWEEN 1 AND 1000",
}
BUSY = "tstzrange(busy_starts_at, busy_ends_at, '[)')"


def upgrade() -> None:
    op.add_column(
        "services", sa.Column("time_zone", sa.String(64), server_default="UTC", nullable=False)
    )
    for name in ("weekly_hours", "closures"):
        op.add_column(
            "services",
            sa.Column(
                name,
                postgresql.JSONB(astext_type=sa.Text()),
                server_default=sa.text("'[]'::jsonb"),
                nullable=False,
            ),
        )
    for name, default in (
        ("buffer_before_minutes", "0"),
        ("buffer_after_minutes", "0"),
        ("min_notice_minutes", "0"),
        ("max_advance_days", "365"),
        ("capacity", "1"),
    ):
        op.add_column(
            "services", sa.Column(name, sa.Integer(), server_default=default, nullable=False)
        )
    for name, condition in SERVICE_CHECKS.items():
        op.create_check_constraint(op.f(f"ck_services_{name}"), "services", condition)

    op.add_column("bookings", sa.Column("busy_starts_at", sa.DateTime(timezone=True)))
    op.add_column("bookings", sa.Column("busy_ends_at", sa.DateTime(timezone=True)))
    op.add_column(
        "bookings",
        sa.Column("exclusive", sa.Boolean(), server_default=sa.true(), nullable=False),
    )
    op.execute("UPDATE bookings SET busy_starts_at = starts_at, busy_ends_at = ends_at")
    op.alter_column("bookings", "busy_starts_at", nullable=False)
    op.alter_column("bookings", "busy_ends_at", nullable=False)
    op.create_check_constraint(
        op.f("ck_bookings_busy_covers_booking"),
        "bookings",
        "busy_starts_at <= starts_at AND busy_ends_at >= ends_at",
    )
    op.drop_constraint("ex_bookings_no_overlap", "bookings")
    op.execute(
        "ALTER TABLE bookings ADD CONSTRAINT ex_bookings_no_overlap EXCLUDE USING gist "
        f"(service_id WITH =, {BUSY} WITH &&) WHERE (status <> 'CANCELLED' AND exclusive)"
    )
    op.execute(
        f"CREATE INDEX ix_bookings_service_id_busy ON bookings USING gist (service_id, {BUSY}) "
        "WHERE status <> 'CANCELLED'"
    )


def downgrade() -> None:
    # Overlapping bookings of services with several seats cannot go back under
    # the old constraint: refuse rather than lose bookings.
    op.execute(
        """
        DO $$ BEGIN
          IF EXISTS (SELECT FROM bookings WHERE NOT exclusive AND status <> 'CANCELLED') THEN
            RAISE EXCEPTION 'bookings of services with several seats exist: cannot downgrade';
          END IF;
        END $$
        """
    )
    op.drop_index("ix_bookings_service_id_busy", "bookings")
    op.drop_constraint("ex_bookings_no_overlap", "bookings")
    op.execute(
        "ALTER TABLE bookings ADD CONSTRAINT ex_bookings_no_overlap EXCLUDE USING gist "
        "(service_id WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&) "
        "WHERE (status <> 'CANCELLED')"
    )
    op.drop_constraint(op.f("ck_bookings_busy_covers_booking"), "bookings")
    for name in ("exclusive", "busy_ends_at", "busy_starts_at"):
        op.drop_column("bookings", name)
    for name in SERVICE_CHECKS:
        op.drop_constraint(op.f(f"ck_services_{name}"), "services")
    for name in (
        "capacity",
        "max_advance_days",
        "min_notice_minutes",
        "buffer_after_minutes",
        "buffer_before_minutes",
        "closures",
        "weekly_hours",
        "time_zone",
    ):
        op.drop_column("services", name)
