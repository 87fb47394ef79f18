"""Bookings of a service's time, never overlapping while active (the database says so)."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Enum,
    ForeignKey,
    Identity,
    Index,
    String,
    func,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB, ExcludeConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bookit_graphql.db import Base


class BookingStatus(enum.StrEnum):
    PENDING = "PENDING"
    CONFIRMED = "CONFIRMED"
    CANCELLED = "CANCELLED"
    COMPLETED = "COMPLETED"


ACTIVE = (BookingStatus.PENDING, BookingStatus.CONFIRMED, BookingStatus.COMPLETED)


class Booking(Base):
    __tablename__ = "bookings"
    __table_args__ = (
        # An empty range overlaps nothing: without this a zero-length booking
        # would slip past the exclusion constraint.
        CheckConstraint("starts_at < ends_at", name="starts_before_ends"),
        CheckConstraint(
            "busy_starts_at <= starts_at AND busy_ends_at >= ends_at", name="busy_covers_booking"
        ),
        # The rule against double booking: the busy times (buffers included) of
        # two active exclusive bookings of one service never overlap, whatever
        # races the application has. Bookings of a service with several seats
        # are counted under the service's lock instead (bookings/service.py);
        # their index, ix_bookings_service_id_busy, is made by migration 0005.
        ExcludeConstraint(
            (text("service_id"), "="),
            (text("tstzrange(busy_starts_at, busy_ends_at, '[)')"), "&&"),
            where=text("status <> 'CANCELLED' AND exclusive"),
            using="gist",
            name="ex_bookings_no_overlap",
        ),
        Index("ix_bookings_user_id_starts_at", "user_id", "starts_at"),
        Index("ix_bookings_service_id_starts_at", "service_id", "starts_at"),
        Index("ix_bookings_starts_at_id", "starts_at", "id"),
        # A client's retry key is unique per user.
        Index(
            "uq_bookings_user_id_idempotency_key",
            "user_id",
            "idempotency_key",
            unique=True,
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
    )
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id", ondelete="RESTRICT"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Written with the booking's time, from the rules in force then, so that a
    # later change of the rules never moves it: the time it keeps from other
    # bookings (its buffers around it), and whether it keeps it alone (its
    # service had one seat).
    busy_starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    busy_ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    exclusive: Mapped[bool] = mapped_column(default=True, server_default=true())
    status: Mapped[BookingStatus] = mapped_column(
        Enum(BookingStatus, name="booking_status"),
        default=BookingStatus.PENDING,
        server_default=BookingStatus.PENDING.value,
    )
    # `request_hash` tells a retry of the same input from a reuse of the key.
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class BookingEventKind(enum.StrEnum):
    CREATED = "CREATED"
    UPDATED = "UPDATED"
    CANCELLED = "CANCELLED"
    DELETED = "DELETED"


class BookingEvent(Base):
    """The log of booking changes, written in the transaction of each change.

    Ids follow commit order (see events.record): a reader that has seen event n
    has seen every event before it, which is what makes `after` replay exact.
    """

    __tablename__ = "booking_events"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    # What bookingChanged calls the change; NULL for an event that is not a change of
    # the booking itself (a review of it), which subscriptions skip.
    kind: Mapped[BookingEventKind | None] = mapped_column(
        Enum(BookingEventKind, name="booking_event_kind")
    )
    # What webhooks call it: booking.created, booking.rescheduled, booking.confirmed,
    # booking.cancelled, booking.completed, booking.deleted, review.created.
    type: Mapped[str] = mapped_column(String(40))
    # No foreign keys: the log outlives deleted bookings.
    booking_id: Mapped[uuid.UUID] = mapped_column(index=True)
    service_id: Mapped[uuid.UUID] = mapped_column(index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(index=True)
    # The booking as it stood right after the change (before it, for DELETED).
    booking: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # The review's columns, for review.created.
    review: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    occurred_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class BookingEventRetention(Base):
    """How far the log has been pruned (events.prune): one row, once anything was pruned.

    A subscription resuming after a cursor below `pruned_through` may have
    missed events, and is told so (CursorExpired) rather than left in silence.
    """

    __tablename__ = "booking_event_retention"
    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, default=1)
    pruned_through: Mapped[int] = mapped_column(BigInteger)
    pruned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
