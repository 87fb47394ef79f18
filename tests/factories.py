"""Rows written straight into a test database: the data a test stands on, not what it tests.

Each method inserts one row (or several in one transaction) with sensible
defaults, takes keyword overrides for any column, commits, and gives the id as
the API spells it (a string). The `rows` fixture (tests/conftest.py) is one on
the test database; `rows_on(url)` makes one on another database.
"""

from __future__ import annotations

import functools
import itertools
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import bcrypt
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bookit_graphql.bookings import models as bookings
from bookit_graphql.catalog import models as catalog
from bookit_graphql.db import Base, create_engine, create_session_factory
from bookit_graphql.reviews import models as reviews
from bookit_graphql.users import models as users
from tests.helpers import PASSWORD

# Where bookings without a given time go: in the past, one hour each, so that
# none overlaps another and each may be COMPLETED (and so reviewed).
LONG_AGO = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@functools.cache
def password_hash() -> str:
    """A bcrypt hash of tests.helpers.PASSWORD (made once, cheaply)."""
    return bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()


@dataclass
class Rows:
    session_factory: async_sessionmaker[AsyncSession]
    _hours: Iterator[int] = field(default_factory=itertools.count)
    _emails: Iterator[int] = field(default_factory=itertools.count)

    async def service(self, **fields: Any) -> str:
        """An active service: "Massage", 49.90, 60 minutes."""
        (made,) = await self.services(fields)
        return made

    async def services(self, *rows: dict[str, Any]) -> list[str]:
        """Services inserted in one transaction (so that they share created_at)."""
        made = []
        for row in rows:
            fields = {"title": "Massage", "price": "49.90", "duration_minutes": 60, **row}
            made.append(catalog.Service(**{**fields, "price": Decimal(fields["price"])}))
        return await self._add(*made)

    async def user(self, **fields: Any) -> str:
        """An active USER whose password is tests.helpers.PASSWORD."""
        defaults = {
            "email": f"user{next(self._emails)}@example.com",
            "password_hash": password_hash(),
            "full_name": "Test User",
        }
        (made,) = await self._add(users.User(**{**defaults, **fields}))
        return made

    async def booking(
        self,
        *,
        service_id: str | uuid.UUID,
        user_id: str | uuid.UUID,
        starts_at: datetime | None = None,
        ends_at: datetime | None = None,
        status: bookings.BookingStatus = bookings.BookingStatus.COMPLETED,
        **fields: Any,
    ) -> str:
        """A booking of an hour; without `starts_at`, COMPLETED at an hour of its own long ago.

        Written directly, it reaches states that the API cannot (one that has
        started) and records no booking event.
        """
        if starts_at is None:
            starts_at = LONG_AGO + timedelta(hours=next(self._hours))
        if ends_at is None:
            ends_at = starts_at + timedelta(hours=1)
        # without buffers unless told: the time it keeps is its own
        fields = {"busy_starts_at": starts_at, "busy_ends_at": ends_at, **fields}
        row = bookings.Booking(
            service_id=uuid.UUID(str(service_id)),
            user_id=uuid.UUID(str(user_id)),
            starts_at=starts_at,
            ends_at=ends_at,
            status=status,
            **fields,
        )
        (made,) = await self._add(row)
        return made

    async def review(
        self,
        *,
        user_id: str | uuid.UUID,
        service_id: str | uuid.UUID,
        booking_id: str | uuid.UUID | None = None,
        rating: int = 4,
        created_at: datetime | None = None,
        **fields: Any,
    ) -> str:
        """A review of the booking (by default, of a new completed booking of the user's)."""
        if created_at is not None:
            fields["created_at"] = created_at
        if booking_id is None:
            booking_id = await self.booking(user_id=user_id, service_id=service_id)
        row = reviews.Review(
            booking_id=uuid.UUID(str(booking_id)),
            service_id=uuid.UUID(str(service_id)),
            user_id=uuid.UUID(str(user_id)),
            rating=rating,
            **fields,
        )
        (made,) = await self._add(row)
        return made

    async def _add(self, *rows: Base) -> list[str]:
        async with self.session_factory.begin() as session:
            session.add_all(rows)
            await session.flush()
            return [str(row.id) for row in rows]  # type: ignore[attr-defined]


@asynccontextmanager
async def rows_on(url: str) -> AsyncIterator[Rows]:
    """A Rows on the database at `url`, with its own small engine."""
    engine = create_engine(url, pool_size=2)
    try:
        yield Rows(create_session_factory(engine))
    finally:
        await engine.dispose()
