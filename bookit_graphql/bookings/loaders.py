"""Batch loaders of bookings: one statement per batch, results in key order."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select

from bookit_graphql.bookings.models import Booking
from bookit_graphql.context import Loader


class BookingsByIdLoader(Loader[uuid.UUID, Booking | None]):
    async def batch_load_fn(self, keys: Sequence[uuid.UUID]) -> list[Booking | None]:
        async with self.session_factory() as session:
            rows = await session.scalars(select(Booking).where(Booking.id.in_(keys)))
            found = {row.id: row for row in rows}
        return [found.get(key) for key in keys]
