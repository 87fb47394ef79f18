"""Rows that the reviews tests stand on: services and bookings, written through the models.

Users come through the API (tests.helpers.register); services and bookings are
other domains', so they are inserted as rows rather than through their mutations.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bookit_graphql.bookings.models import Booking, BookingStatus
from bookit_graphql.catalog.models import Service
from bookit_graphql.reviews.models import Review
from tests.helpers import register

LONG_AGO = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@dataclass
class Reviewer:
    """A registered user with a token, and one completed booking of theirs."""

    token: str
    user_id: str
    booking_id: str
    service_id: str


@dataclass
class Rows:
    session_factory: async_sessionmaker[AsyncSession]
    _slots: Iterator[int] = field(default_factory=itertools.count)

    async def service(self, title: str = "Massage", *, is_active: bool = True) -> str:
        async with self.session_factory.begin() as session:
            row = Service(title=title, price=Decimal("49.90"), duration_minutes=60)
            row.is_active = is_active
            session.add(row)
        return str(row.id)

    async def booking(
        self, *, user_id: str, service_id: str, status: BookingStatus = BookingStatus.COMPLETED
    ) -> str:
        # every booking gets its own hour, so none overlaps another
        starts_at = LONG_AGO + timedelta(hours=next(self._slots))
        async with self.session_factory.begin() as session:
            row = Booking(
                user_id=uuid.UUID(user_id),
                service_id=uuid.UUID(service_id),
                starts_at=starts_at,
                ends_at=starts_at + timedelta(hours=1),
                status=status,
            )
            session.add(row)
        return str(row.id)

    async def review(
        self,
        *,
        user_id: str,
        service_id: str,
        rating: int = 4,
        created_at: datetime | None = None,
    ) -> str:
        """A review written straight into the table (for pages of many, or of equal times)."""
        booking_id = await self.booking(user_id=user_id, service_id=service_id)
        async with self.session_factory.begin() as session:
            row = Review(
                booking_id=uuid.UUID(booking_id),
                service_id=uuid.UUID(service_id),
                user_id=uuid.UUID(user_id),
                rating=rating,
            )
            if created_at is not None:
                row.created_at = created_at
            session.add(row)
        return str(row.id)

    async def set_status(self, booking_id: str, status: BookingStatus) -> None:
        async with self.session_factory.begin() as session:
            await session.execute(
                update(Booking).where(Booking.id == uuid.UUID(booking_id)).values(status=status)
            )

    async def stats(self, service_id: str) -> tuple[int, int]:
        """The service's (review_count, rating_total), as the trigger keeps them."""
        async with self.session_factory() as session:
            found = await session.execute(
                select(Service.review_count, Service.rating_total).where(
                    Service.id == uuid.UUID(service_id)
                )
            )
            count, total = found.one()
        return count, total

    async def review_count(self) -> int:
        async with self.session_factory() as session:
            return len((await session.scalars(select(Review.id))).all())


@pytest.fixture
def rows(app: Any) -> Rows:
    return Rows(app.state.session_factory)


@pytest.fixture
async def reviewer(client: httpx.AsyncClient, rows: Rows) -> Reviewer:
    """Ann, with a completed booking of a service of her own."""
    registered = await register(client, "ann@example.com", full_name="Ann Reviewer")
    user_id = registered["user"]["id"]
    service_id = await rows.service("Deep tissue massage")
    booking_id = await rows.booking(user_id=user_id, service_id=service_id)
    return Reviewer(registered["accessToken"], user_id, booking_id, service_id)
