"""Services, bookings (no overlaps: an exclusion constraint) and reviews.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMPS = (
    ("created_at", "now()"),
    ("updated_at", "now()"),
)


def timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column(name, sa.DateTime(timezone=True), server_default=sa.text(default), nullable=False)
        for name, default in TIMESTAMPS
    ]


def upgrade() -> None:
    # btree_gist lets one GiST index mix `service_id =` with range overlap;
    # pg_trgm serves the case-insensitive text search of services.
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")

    op.create_table(
        "services",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("price", sa.Numeric(precision=10, scale=2), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("review_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("rating_total", sa.Integer(), server_default="0", nullable=False),
        *timestamps(),
        sa.CheckConstraint(
            "duration_minutes BETWEEN 5 AND 1440", name=op.f("ck_services_duration_range")
        ),
        sa.CheckConstraint("price >= 0", name=op.f("ck_services_price_not_negative")),
        sa.CheckConstraint(
            "review_count >= 0 AND rating_total >= 0", name=op.f("ck_services_review_stats")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_services")),
    )
    op.create_index(op.f("ix_services_is_active"), "services", ["is_active"])
    # Not in the models (an expression with an operator class): env.py tells
    # autogenerate to leave it alone.
    op.execute(
        "CREATE INDEX ix_services_search_trgm ON services "
        "USING gin ((title || ' ' || description) gin_trgm_ops)"
    )

    op.create_table(
        "bookings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "status",
            sa.Enum("PENDING", "CONFIRMED", "CANCELLED", "COMPLETED", name="booking_status"),
            server_default="PENDING",
            nullable=False,
        ),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=True),
        *timestamps(),
        # Two active bookings of one service never overlap; an empty range would
        # overlap nothing, hence the CHECK beside it.
        postgresql.ExcludeConstraint(
            (sa.text("service_id"), "="),
            (sa.text("tstzrange(starts_at, ends_at, '[)')"), "&&"),
            where=sa.text("status <> 'CANCELLED'"),
            using="gist",
            name="ex_bookings_no_overlap",
        ),
        sa.CheckConstraint("starts_at < ends_at", name=op.f("ck_bookings_starts_before_ends")),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_bookings_service_id_services"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_bookings_user_id_users"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bookings")),
    )
    op.create_index("ix_bookings_service_id_starts_at", "bookings", ["service_id", "starts_at"])
    op.create_index("ix_bookings_starts_at_id", "bookings", ["starts_at", "id"])
    op.create_index("ix_bookings_user_id_starts_at", "bookings", ["user_id", "starts_at"])
    op.create_index(
        "uq_bookings_user_id_idempotency_key",
        "bookings",
        ["user_id", "idempotency_key"],
        unique=True,
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
    )

    op.create_table(
        "reviews",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("booking_id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("rating", sa.SmallInteger(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        *timestamps(),
        sa.CheckConstraint("char_length(comment) <= 2000", name=op.f("ck_reviews_comment_length")),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name=op.f("ck_reviews_rating_range")),
        sa.ForeignKeyConstraint(
            ["booking_id"],
            ["bookings.id"],
            name=op.f("fk_reviews_booking_id_bookings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_reviews_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_reviews_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviews")),
        sa.UniqueConstraint("booking_id", name=op.f("uq_reviews_booking_id")),
    )
    op.create_index("ix_reviews_service_id_created_at", "reviews", ["service_id", "created_at"])
    op.create_index("ix_reviews_user_id_created_at", "reviews", ["user_id", "created_at"])

    # services.review_count and rating_total follow the reviews in the same
    # transaction, so a page of services needs no aggregate query.
    op.execute(
        """
        CREATE FUNCTION reviews_keep_service_stats() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP IN ('UPDATE', 'DELETE') THEN
                UPDATE services
                   SET review_count = review_count - 1, rating_total = rating_total - OLD.rating
                 WHERE id = OLD.service_id;
            END IF;
            IF TG_OP IN ('INSERT', 'UPDATE') THEN
                UPDATE services
                   SET review_count = review_count + 1, rating_total = rating_total + NEW.rating
                 WHERE id = NEW.service_id;
            END IF;
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER reviews_keep_service_stats "
        "AFTER INSERT OR DELETE OR UPDATE OF rating, service_id ON reviews "
        "FOR EACH ROW EXECUTE FUNCTION reviews_keep_service_stats()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER reviews_keep_service_stats ON reviews")
    op.execute("DROP FUNCTION reviews_keep_service_stats()")
    op.drop_table("reviews")
    op.drop_table("bookings")
    op.drop_table("services")
    sa.Enum(name="booking_status").drop(op.get_bind())
    # The extensions stay: other objects of the database may use them.
