"""Batch loaders of reviews: one statement per batch, results in key order."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import DateTime, Integer, Uuid, cast, column, func, literal, select, true, tuple_
from sqlalchemy import values as values_
from sqlalchemy.orm import aliased

from bookit_graphql.context import Loader
from bookit_graphql.reviews.models import Review

# Stand in for "no cursor": every review sorts before it, newest first.
_NO_CURSOR_AT = literal("infinity").cast(DateTime(timezone=True))
_NO_CURSOR_ID = literal(uuid.UUID(int=2**128 - 1), Uuid())


class ReviewsByBookingIdLoader(Loader[uuid.UUID, Review | None]):
    async def batch_load_fn(self, keys: Sequence[uuid.UUID]) -> list[Review | None]:
        async with self.session_factory() as session:
            rows = await session.scalars(select(Review).where(Review.booking_id.in_(keys)))
            found = {row.booking_id: row for row in rows}
        return [found.get(key) for key in keys]


@dataclass(frozen=True)
class ReviewPageKey:
    """One page of a service's reviews, newest first: `limit` of them after `after`.

    `after` is a decoded cursor, (created_at, id) of the last review already seen.
    """

    service_id: uuid.UUID
    limit: int
    after: tuple[datetime, uuid.UUID] | None = None


@dataclass(frozen=True)
class ReviewSlice:
    rows: list[Review]
    has_next_page: bool


class ReviewPagesByServiceLoader(Loader[ReviewPageKey, ReviewSlice]):
    """A page of reviews per (service, limit, cursor): one statement for the whole batch.

    Each key is a row of a VALUES list, joined LATERAL to its own newest-first
    index scan that stops after `limit + 1` rows. A window function
    (`row_number() OVER (PARTITION BY service_id ...)`) would give the same
    pages but reads every review of every service in the batch: measured on 50
    services of 2,000 reviews each, 90 ms against 7 ms for the same 1,050 rows.
    One row per key also lets keys of different limits and cursors, even two
    pages of one service, share the statement.
    """

    async def batch_load_fn(self, keys: Sequence[ReviewPageKey]) -> list[ReviewSlice]:
        wanted = values_(
            column("position", Integer),
            column("service_id", Uuid()),
            column("size", Integer),
            column("after_at", DateTime(timezone=True)),
            column("after_id", Uuid()),
            name="wanted",
        ).data(
            [
                (position, key.service_id, key.limit + 1, *(key.after or (None, None)))
                for position, key in enumerate(keys)
            ]
        )
        after_at = func.coalesce(cast(wanted.c.after_at, DateTime(timezone=True)), _NO_CURSOR_AT)
        after_id = func.coalesce(cast(wanted.c.after_id, Uuid()), _NO_CURSOR_ID)
        page = (
            select(Review)
            .where(
                Review.service_id == wanted.c.service_id,
                tuple_(Review.created_at, Review.id) < tuple_(after_at, after_id),
            )
            .order_by(Review.created_at.desc(), Review.id.desc())
            .limit(wanted.c.size)
            .lateral("page")
        )
        review = aliased(Review, page)
        query = (
            select(wanted.c.position, review)
            .select_from(wanted)
            .join(page, true())
            .order_by(wanted.c.position, review.created_at.desc(), review.id.desc())
        )
        found: list[list[Review]] = [[] for _ in keys]
        async with self.session_factory() as session:
            for position, row in await session.execute(query):
                found[position].append(row)
        return [
            ReviewSlice(rows=rows[: key.limit], has_next_page=len(rows) > key.limit)
            for key, rows in zip(keys, found, strict=True)
        ]
