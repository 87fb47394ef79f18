"""Query fields of reviews: `reviews` for the signed-in, and the public `Service.reviews`."""

from __future__ import annotations

import uuid
from datetime import datetime

import strawberry
from strawberry.types import Info

from bookit_graphql.catalog import models as catalog_models
from bookit_graphql.catalog.loaders import ServicesByIdLoader
from bookit_graphql.context import Context
from bookit_graphql.pagination import Page, decode_cursor, encode_cursor, page_size
from bookit_graphql.permissions import authenticated
from bookit_graphql.reviews import service
from bookit_graphql.reviews.loaders import ReviewPageKey, ReviewPagesByServiceLoader
from bookit_graphql.reviews.types import Review, ReviewConnection, ReviewFilter


@strawberry.type
class ReviewQueries:
    @strawberry.field(
        extensions=authenticated(),
        description="Reviews, newest first: all of them for an admin (filters `serviceId`, "
        "`userId`), the caller's own for a user (`userId` ignored).",
    )
    async def reviews(
        self,
        info: Info[Context, None],
        filter: ReviewFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> ReviewConnection:
        assert info.context.user is not None  # guaranteed by @authenticated
        filter = filter or ReviewFilter()
        page = await service.list_reviews(
            info.context.session_factory,
            actor=info.context.user,
            service_id=filter.service_id,
            user_id=filter.user_id,
            first=first,
            after=after,
        )
        return ReviewConnection.of(page, Review.from_row)


async def service_reviews(
    info: Info[Context, None],
    service_row: catalog_models.Service,
    *,
    first: int | None,
    after: str | None,
) -> ReviewConnection:
    """`Service.reviews`: a page of the service's reviews, newest first, for anyone.

    Pages of many services load in one statement (a loader), and totalCount is
    the service's own `review_count`, kept by a trigger: no COUNT.
    """
    key = ReviewPageKey(
        service_id=service_row.id,
        limit=page_size(first),
        after=_position(after) if after is not None else None,
    )
    found = await info.context.loader(ReviewPagesByServiceLoader).load(key)
    # Each review's `service` is this one: spare its loader a statement.
    info.context.loader(ServicesByIdLoader).prime(service_row.id, service_row)

    async def total() -> int:
        return service_row.review_count

    cursors = [encode_cursor((row.created_at, row.id)) for row in found.rows]
    page = Page(found.rows, cursors, found.has_next_page, total)
    return ReviewConnection.of(page, Review.from_row)


def _position(cursor: str) -> tuple[datetime, uuid.UUID]:
    created_at, review_id = decode_cursor(cursor, [datetime, uuid.UUID])
    return created_at, review_id
