"""The rules of reviews: who writes, edits, deletes and sees them, and what they hold."""

from __future__ import annotations

import functools
import uuid
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types.unset import UNSET, UnsetType

from bookit_graphql import sql
from bookit_graphql.bookings import events
from bookit_graphql.db import Reads
from bookit_graphql.errors import AlreadyExists, BadUserInput, Forbidden, InvalidState, NotFound
from bookit_graphql.pagination import Listing, filtered
from bookit_graphql.permissions import Role
from bookit_graphql.reviews.models import MAX_COMMENT, Review
from bookit_graphql.scalars import parse_id
from bookit_graphql.users.models import User


def check_rating(rating: int) -> int:
    if not 1 <= rating <= 5:
        raise BadUserInput("The rating is a whole number from 1 to 5.", field="rating")
    return rating


def clean_comment(comment: str | None) -> str | None:
    """The comment as stored: stripped, and None when nothing is left."""
    if comment is None:
        return None
    comment = comment.strip()
    if len(comment) > MAX_COMMENT:
        raise BadUserInput(f"The comment has at most {MAX_COMMENT:,} characters.", field="comment")
    if "\x00" in comment:  # PostgreSQL text cannot hold it: refuse it rather than fail
        raise BadUserInput("The comment contains a NUL character.", field="comment")
    return comment or None


# The write function of migration 0007; its outcomes are the cases below.
CREATE = (
    "SELECT r.outcome, (r.review).* FROM bookit_create_review(%(id)s, %(booking_id)s, "
    "%(user_id)s, %(admin)s, %(rating)s, %(comment)s, "
    f"{events.sql_literal(events.REVIEW_CREATED)}, {events.LOG_ARGUMENTS}) AS r"
)


async def create_review(
    reads: Reads,
    *,
    actor: User,
    booking_id: uuid.UUID | None,
    rating: int,
    comment: str | None,
) -> Review:
    """The actor reviews their own completed booking, once.

    Another user's booking is NOT_FOUND to a user and FORBIDDEN to an admin,
    who may know that it exists. One statement (bookit_create_review): the
    booking read FOR SHARE, so that it cannot leave COMPLETED before the
    review commits, the insert that the unique constraint decides between
    racing reviewers, and review.created in the event log.
    """
    rating = check_rating(rating)
    comment = clean_comment(comment)
    if booking_id is None:
        raise NotFound("No such booking.")
    row = await reads.write(
        CREATE,
        {
            "id": uuid.uuid4(),
            "booking_id": booking_id,
            "user_id": actor.id,
            "admin": actor.role == Role.ADMIN,
            "rating": rating,
            "comment": comment,
        },
    )
    refusals = {
        "not_found": NotFound("No such booking."),
        "forbidden": Forbidden("Only the booking's owner reviews it."),
        "not_completed": InvalidState("Only a completed booking can be reviewed."),
        "exists": AlreadyExists("This booking already has a review.", field="bookingId"),
    }
    if row["outcome"] in refusals:
        raise refusals[row["outcome"]]
    review: Review = sql.restore("reviews", row)
    return review


async def update_review(
    session: AsyncSession,
    *,
    actor: User,
    review_id: uuid.UUID | None,
    rating: int | None = None,
    comment: str | UnsetType | None = UNSET,
) -> Review:
    """The author changes the rating or the comment.

    `rating` None leaves it; `comment` UNSET leaves it, None clears it. Another
    user's review is NOT_FOUND to a user and FORBIDDEN to an admin: admins
    delete reviews, only authors edit them.
    """
    review = await _locked_review(session, review_id=review_id, actor=actor)
    if review.user_id != actor.id:
        raise Forbidden("Only the author edits a review.")
    if rating is not None:
        review.rating = check_rating(rating)
    if not isinstance(comment, UnsetType):
        review.comment = clean_comment(comment)
    await session.flush()
    return review


async def delete_review(session: AsyncSession, *, actor: User, review_id: uuid.UUID | None) -> None:
    """The author or an admin deletes a review."""
    review = await _locked_review(session, review_id=review_id, actor=actor)
    await session.delete(review)
    await session.flush()


async def _locked_review(
    session: AsyncSession, *, review_id: uuid.UUID | None, actor: User
) -> Review:
    """The review, locked, if the actor may know it: theirs, or any for an admin."""
    review = await session.get(Review, review_id, with_for_update=True) if review_id else None
    if review is None or (review.user_id != actor.id and actor.role != Role.ADMIN):
        raise NotFound("No such review.")
    return review


def reviews_listing(*, actor: User, service_id: str | None, user_id: str | None) -> Listing:
    """The reviews that the actor may list, newest first: all for an admin, their own for a user.

    Filters take ids as the client sent them: one that names nothing matches
    nothing (a NULL parameter). A user's `user_id` filter is ignored: they only
    ever see their own.
    """
    filters: dict[str, Any] = {}
    if actor.role != Role.ADMIN:
        filters["user_id"] = actor.id
    elif user_id is not None:
        filters["user_id"] = parse_id(user_id)
    if service_id is not None:
        filters["service_id"] = parse_id(service_id)
    keys = [Review.created_at, Review.id]
    return Listing(_reviews_query(tuple(filters)), keys, filters, descending=True)


def review_listing(*, review_id: uuid.UUID) -> Listing:
    """The one review (anyone may read a review): createReview's answer."""
    return Listing(_review_query(), [Review.created_at, Review.id], {"id": review_id})


@functools.cache
def _review_query() -> Select[Any]:
    return select(Review).where(Review.id == bindparam("id"))


@functools.cache
def _reviews_query(names: tuple[str, ...]) -> Select[Any]:
    """One query object per set of filters, their values as parameters (see Listing)."""
    tests = {"user_id": Review.user_id.__eq__, "service_id": Review.service_id.__eq__}
    return filtered(select(Review), tests, names)
