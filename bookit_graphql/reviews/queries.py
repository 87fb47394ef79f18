"""Query fields of reviews: `reviews` for the signed-in (`Service.reviews` is the catalogue's)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from bookit_graphql import compiled
from bookit_graphql.context import Context
from bookit_graphql.permissions import authenticated
from bookit_graphql.reviews import service
from bookit_graphql.reviews.types import ReviewConnection, ReviewFilter


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
        listing = service.reviews_listing(
            actor=info.context.user, service_id=filter.service_id, user_id=filter.user_id
        )
        connection: ReviewConnection = await compiled.connection(
            info, listing, first=first, after=after
        )
        return connection
