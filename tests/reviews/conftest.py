"""What the reviews tests stand on: a reviewer with a completed booking, and the rows beside.

Users come through the API; services and bookings are other domains', so they
are inserted as rows (tests/factories.py) rather than through their mutations.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bookit_graphql.bookings.models import Booking, BookingStatus
from bookit_graphql.catalog.models import Service
from bookit_graphql.reviews.models import Review
from tests.factories import Rows
from tests.helpers import sign_up


@dataclass
class Reviewer:
    """A registered user with a token, and one completed booking of theirs."""

    token: str
    user_id: str
    booking_id: str
    service_id: str


class ReviewRows(Rows):
    """The factories, and what the reviews tests read back or change directly."""

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
            return int(await session.scalar(select(func.count()).select_from(Review)) or 0)


@pytest.fixture
def rows(db: async_sessionmaker[AsyncSession]) -> ReviewRows:
    return ReviewRows(db)


@pytest.fixture
async def reviewer(client: httpx.AsyncClient, rows: ReviewRows) -> Reviewer:
    """Ann, with a completed booking of a service of her own."""
    ann = await sign_up(client, "ann@example.com", full_name="Ann Reviewer")
    service_id = await rows.service(title="Deep tissue massage")
    booking_id = await rows.booking(user_id=ann.id, service_id=service_id)
    return Reviewer(ann.token, ann.id, booking_id, service_id)
