"""Fixtures of the bookings tests: a service to book, and a count of the booking rows."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bookit_graphql.bookings import models
from bookit_graphql.bookings.models import BookingStatus
from tests.factories import Rows


@pytest.fixture
async def service_id(rows: Rows) -> str:
    """An active service of 60 minutes."""
    return await rows.service()


@pytest.fixture
def count_bookings(db: async_sessionmaker[AsyncSession]) -> Callable[..., Awaitable[int]]:
    """How many booking rows there are (active ones only, if asked)."""

    async def count(*, active_only: bool = False) -> int:
        query = select(func.count()).select_from(models.Booking)
        if active_only:
            query = query.where(models.Booking.status != BookingStatus.CANCELLED)
        async with db() as session:
            return int((await session.execute(query)).scalar_one())

    return count
