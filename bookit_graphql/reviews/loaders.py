"""Batch loaders of reviews: one statement per batch, results in key order."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select

from bookit_graphql.context import Loader
from bookit_graphql.reviews.models import Review


class ReviewsByBookingIdLoader(Loader[uuid.UUID, Review | None]):
    async def batch_load_fn(self, keys: Sequence[uuid.UUID]) -> list[Review | None]:
        async with self.session_factory() as session:
            rows = await session.scalars(select(Review).where(Review.booking_id.in_(keys)))
            found = {row.booking_id: row for row in rows}
        return [found.get(key) for key in keys]
