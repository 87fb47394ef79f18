"""Mutations of reviews: the owner of a completed booking reviews it, once."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from bookit_graphql import compiled
from bookit_graphql.context import Context
from bookit_graphql.permissions import authenticated
from bookit_graphql.reviews import service
from bookit_graphql.reviews.types import CreateReviewInput, Review, UpdateReviewInput
from bookit_graphql.scalars import parse_id


@strawberry.type
class ReviewMutations:
    @strawberry.mutation(
        extensions=authenticated(),
        description="Review one of the caller's completed bookings; one review per booking.",
    )
    async def create_review(self, info: Info[Context, None], input: CreateReviewInput) -> Review:
        ctx = info.context
        assert ctx.user is not None  # guaranteed by @authenticated
        review = await service.create_review(
            ctx.reads,
            actor=ctx.user,
            booking_id=parse_id(input.booking_id),
            rating=input.rating,
            comment=input.comment,
        )
        listing = service.review_listing(review_id=review.id)
        return Review.of(await compiled.written(info, listing, review, missing="No such review."))

    @strawberry.mutation(
        extensions=authenticated(),
        description="The author changes their review: `comment` null clears it, omitted keeps it.",
    )
    async def update_review(
        self, info: Info[Context, None], id: strawberry.ID, input: UpdateReviewInput
    ) -> Review:
        ctx = info.context
        assert ctx.user is not None
        async with ctx.session_factory.begin() as session:
            review = await service.update_review(
                session,
                actor=ctx.user,
                review_id=parse_id(id),
                rating=input.rating,
                comment=input.comment,
            )
        return Review.of(review)

    @strawberry.mutation(
        extensions=authenticated(), description="Delete a review: its author, or an admin."
    )
    async def delete_review(self, info: Info[Context, None], id: strawberry.ID) -> bool:
        ctx = info.context
        assert ctx.user is not None
        async with ctx.session_factory.begin() as session:
            await service.delete_review(session, actor=ctx.user, review_id=parse_id(id))
        return True
