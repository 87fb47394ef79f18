"""The catalogue: services that people book."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import (
    CheckConstraint,
    ColumnElement,
    DateTime,
    Numeric,
    String,
    Text,
    cast,
    func,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column

from bookit_graphql.db import Base


class Service(Base):
    __tablename__ = "services"
    __table_args__ = (
        CheckConstraint("price >= 0", name="price_not_negative"),
        CheckConstraint("duration_minutes BETWEEN 5 AND 1440", name="duration_range"),
        CheckConstraint("review_count >= 0 AND rating_total >= 0", name="review_stats"),
        # the bounds of catalog.schedule, which words the errors
        CheckConstraint(
            "buffer_before_minutes BETWEEN 0 AND 240 AND buffer_after_minutes BETWEEN 0 AND 240",
            name="buffers_range",
        ),
        CheckConstraint("min_notice_minutes BETWEEN 0 AND 43200", name="notice_range"),
        CheckConstraint("max_advance_days BETWEEN 1 AND 1095", name="advance_range"),
        CheckConstraint("capacity BETWEEN 1 AND 1000", name="capacity_range"),
    )
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    price: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    duration_minutes: Mapped[int]
    is_active: Mapped[bool] = mapped_column(default=True, server_default=true(), index=True)
    # Kept by a trigger on reviews (migration 0002), so listing and ordering by
    # rating needs no aggregate.
    review_count: Mapped[int] = mapped_column(default=0, server_default="0")
    rating_total: Mapped[int] = mapped_column(default=0, server_default="0")
    # The booking rules (catalog/schedule.py). Hours and closures are lists that
    # are always read and written whole, kept as JSON in their GraphQL shape:
    # weekly_hours [{"day": "MONDAY", "opens": "09:00", "closes": "12:00"}] by day
    # and time, none meaning open around the clock; closures [{"date":
    # "2027-12-25", "reason": "Christmas"}] by date.
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    weekly_hours: Mapped[list[dict[str, str]]] = mapped_column(
        JSONB, default=list, server_default=text("'[]'::jsonb")
    )
    closures: Mapped[list[dict[str, str | None]]] = mapped_column(
        JSONB, default=list, server_default=text("'[]'::jsonb")
    )
    buffer_before_minutes: Mapped[int] = mapped_column(default=0, server_default="0")
    buffer_after_minutes: Mapped[int] = mapped_column(default=0, server_default="0")
    min_notice_minutes: Mapped[int] = mapped_column(default=0, server_default="0")
    max_advance_days: Mapped[int] = mapped_column(default=365, server_default="365")
    capacity: Mapped[int] = mapped_column(default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    @hybrid_property
    def average_rating(self) -> float | None:
        """The mean rating, half-up to 2 decimals: as PostgreSQL's round(numeric, 2)."""
        if not self.review_count:
            return None
        mean = Decimal(self.rating_total) / self.review_count
        return float(mean.quantize(Decimal("0.01"), ROUND_HALF_UP))

    @average_rating.inplace.expression
    @classmethod
    def _average_rating(cls) -> ColumnElement[Decimal | None]:
        return func.round(cast(cls.rating_total, Numeric) / func.nullif(cls.review_count, 0), 2)
