"""createReview, updateReview and deleteReview over HTTP: who may, what is kept, races."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from bookit_graphql.bookings.models import BookingStatus
from bookit_graphql.db import libpq_url
from bookit_graphql.errors import AlreadyExists
from bookit_graphql.reviews import service
from bookit_graphql.users.models import User
from tests.conftest import StatementCounter
from tests.helpers import codes, gql, make_admin, sign_up
from tests.reviews.conftest import Reviewer, ReviewRows

REVIEW_FIELDS = """
fragment ReviewFields on Review {
  id
  rating
  comment
  createdAt
  updatedAt
  author { id fullName }
  booking { id }
  service { id title reviewCount averageRating }
}
"""
CREATE_REVIEW = (
    """
mutation CreateReview($input: CreateReviewInput!) {
  createReview(input: $input) { ...ReviewFields }
}
"""
    + REVIEW_FIELDS
)
UPDATE_REVIEW = (
    """
mutation UpdateReview($id: ID!, $input: UpdateReviewInput!) {
  updateReview(id: $id, input: $input) { ...ReviewFields }
}
"""
    + REVIEW_FIELDS
)
DELETE_REVIEW = "mutation DeleteReview($id: ID!) { deleteReview(id: $id) }"

UNKNOWN_IDS = (str(uuid.uuid4()), "not-a-uuid", "")


async def create(
    client: httpx.AsyncClient, token: str | None, booking_id: str, rating: int = 5, **more: Any
) -> dict[str, Any]:
    variables = {"input": {"bookingId": booking_id, "rating": rating, **more}}
    return await gql(client, CREATE_REVIEW, variables, token=token)


async def created(client: httpx.AsyncClient, reviewer: Reviewer, **more: Any) -> dict[str, Any]:
    body = await create(client, reviewer.token, reviewer.booking_id, **more)
    assert "errors" not in body, body
    review: dict[str, Any] = body["data"]["createReview"]
    return review


def field_of(body: dict[str, Any]) -> str | None:
    field: str | None = body["errors"][0]["extensions"].get("field")
    return field


# ---------------------------------------------------------------- createReview


async def test_the_owner_reviews_a_completed_booking(
    client: httpx.AsyncClient, reviewer: Reviewer, rows: ReviewRows
) -> None:
    # given Ann's completed booking, when she reviews it
    review = await created(client, reviewer, rating=4, comment="  Firm and friendly.  ")

    # then the review is hers, of that booking and its service, its comment stripped
    assert review["rating"] == 4
    assert review["comment"] == "Firm and friendly."
    assert review["author"] == {"id": reviewer.user_id, "fullName": "Ann Reviewer"}
    assert review["booking"] == {"id": reviewer.booking_id}
    assert review["service"]["id"] == reviewer.service_id
    assert review["createdAt"].endswith("+00:00")
    assert review["updatedAt"] == review["createdAt"]
    # and the service's statistics follow, in the same transaction
    assert review["service"]["reviewCount"] == 1
    assert review["service"]["averageRating"] == 4.0
    assert await rows.stats(reviewer.service_id) == (1, 4)


async def test_a_comment_is_optional_and_blank_means_none(
    client: httpx.AsyncClient, reviewer: Reviewer, rows: ReviewRows
) -> None:
    review = await created(client, reviewer, comment=" \n\t ")
    assert review["comment"] is None

    other = await rows.booking(user_id=reviewer.user_id, service_id=reviewer.service_id)
    body = await create(client, reviewer.token, other, rating=3)
    assert body["data"]["createReview"]["comment"] is None


async def test_create_review_needs_a_caller(client: httpx.AsyncClient, reviewer: Reviewer) -> None:
    body = await create(client, None, reviewer.booking_id)
    assert codes(body) == ["UNAUTHENTICATED"]
    assert body["data"] is None


async def test_unknown_and_other_peoples_bookings_are_not_found(
    client: httpx.AsyncClient, reviewer: Reviewer, rows: ReviewRows
) -> None:
    # given Bob, and Ann's booking that he does not own
    bob = await sign_up(client, "bob@example.com")

    # when he reviews it, or ids that name nothing, then nothing is found
    for booking_id in (reviewer.booking_id, *UNKNOWN_IDS):
        body = await create(client, bob.token, booking_id)
        assert codes(body) == ["NOT_FOUND"], booking_id
    assert await rows.review_count() == 0


async def test_an_admin_may_not_review_someone_elses_booking(
    client: httpx.AsyncClient, database_url: str, reviewer: Reviewer, rows: ReviewRows
) -> None:
    # an admin knows the booking exists, so it is FORBIDDEN rather than NOT_FOUND
    admin = await make_admin(client, database_url, "admin@example.com")
    body = await create(client, admin.token, reviewer.booking_id)
    assert codes(body) == ["FORBIDDEN"]
    assert await rows.review_count() == 0


@pytest.mark.parametrize(
    "status", [BookingStatus.PENDING, BookingStatus.CONFIRMED, BookingStatus.CANCELLED]
)
async def test_only_a_completed_booking_can_be_reviewed(
    client: httpx.AsyncClient, reviewer: Reviewer, rows: ReviewRows, status: BookingStatus
) -> None:
    await rows.set_status(reviewer.booking_id, status)
    body = await create(client, reviewer.token, reviewer.booking_id)
    assert codes(body) == ["INVALID_STATE"]
    assert await rows.stats(reviewer.service_id) == (0, 0)


async def test_a_booking_is_reviewed_once(
    client: httpx.AsyncClient, reviewer: Reviewer, rows: ReviewRows
) -> None:
    await created(client, reviewer, rating=5)
    body = await create(client, reviewer.token, reviewer.booking_id, rating=1)
    assert codes(body) == ["ALREADY_EXISTS"]
    assert field_of(body) == "bookingId"
    assert await rows.stats(reviewer.service_id) == (1, 5)


async def test_concurrent_reviews_of_one_booking_make_one(
    client: httpx.AsyncClient, reviewer: Reviewer, rows: ReviewRows
) -> None:
    # when the same booking is reviewed by several requests at once
    bodies = await asyncio.gather(
        *(create(client, reviewer.token, reviewer.booking_id, rating=r) for r in range(1, 6))
    )

    # then one wins and the others are told that the review exists
    outcomes = sorted(codes(body)[0] if "errors" in body else "OK" for body in bodies)
    assert outcomes == ["ALREADY_EXISTS"] * 4 + ["OK"]
    assert await rows.review_count() == 1
    assert (await rows.stats(reviewer.service_id))[0] == 1


@dataclass
class OpenTransaction:
    """Runs a write function's statement in a transaction that the test commits."""

    connection: psycopg.AsyncConnection[Any]

    async def write(self, sql: str, params: dict[str, Any]) -> dict[str, Any] | None:
        cursor = self.connection.cursor(row_factory=dict_row)
        return await (await cursor.execute(sql, params)).fetchone()


async def test_the_unique_constraint_decides_between_writers_that_both_passed_the_checks(
    client: httpx.AsyncClient, reviewer: Reviewer, app: Any, database_url: str
) -> None:
    # given two writers that both find the booking completed and unreviewed
    async with app.state.session_factory() as session:
        ann = await session.get_one(User, uuid.UUID(reviewer.user_id))

    async def review(reads: Any, rating: int) -> Any:
        return await service.create_review(
            reads,
            actor=ann,
            booking_id=uuid.UUID(reviewer.booking_id),
            rating=rating,
            comment=None,
        )

    async with await psycopg.AsyncConnection.connect(libpq_url(database_url)) as first:
        await review(OpenTransaction(first), 5)
        # when the second writes while the first has not committed yet
        racing = asyncio.create_task(review(app.state.reads, 1))
        await asyncio.sleep(0.2)
        assert not racing.done()  # it waits for the first to decide
        await first.commit()
        # then it gives way once the first commits
        with pytest.raises(AlreadyExists):
            await racing


async def test_rating_is_one_to_five(
    client: httpx.AsyncClient, reviewer: Reviewer, rows: ReviewRows
) -> None:
    for rating in (0, 6, -1, 2**31 - 1):
        body = await create(client, reviewer.token, reviewer.booking_id, rating=rating)
        assert codes(body) == ["BAD_USER_INPUT"], rating
        assert field_of(body) == "rating"
    for rating in (1, 5):
        booking_id = await rows.booking(user_id=reviewer.user_id, service_id=reviewer.service_id)
        body = await create(client, reviewer.token, booking_id, rating=rating)
        assert body["data"]["createReview"]["rating"] == rating


async def test_a_comment_holds_at_most_2000_characters(
    client: httpx.AsyncClient, reviewer: Reviewer, rows: ReviewRows
) -> None:
    for comment in ("é" * 2001, "bad \x00 byte"):
        body = await create(client, reviewer.token, reviewer.booking_id, comment=comment)
        assert codes(body) == ["BAD_USER_INPUT"], comment[:10]
        assert field_of(body) == "comment"
    assert await rows.review_count() == 0

    # 2,000 characters are fine, whatever surrounds them
    review = await created(client, reviewer, comment="  " + "é" * 2000 + "\n")
    assert review["comment"] == "é" * 2000


# ---------------------------------------------------------------- updateReview


async def test_the_author_edits_the_rating_and_the_comment(
    client: httpx.AsyncClient, reviewer: Reviewer, rows: ReviewRows
) -> None:
    review = await created(client, reviewer, rating=2, comment="Too short.")

    # a new rating, the comment left alone (omitted)
    body = await gql(
        client, UPDATE_REVIEW, {"id": review["id"], "input": {"rating": 4}}, token=reviewer.token
    )
    edited = body["data"]["updateReview"]
    assert (edited["rating"], edited["comment"]) == (4, "Too short.")
    assert datetime.fromisoformat(edited["updatedAt"]) > datetime.fromisoformat(review["updatedAt"])
    assert edited["createdAt"] == review["createdAt"]
    assert edited["service"]["averageRating"] == 4.0
    assert await rows.stats(reviewer.service_id) == (1, 4)

    # a new comment, the rating left alone (omitted, or null)
    body = await gql(
        client,
        UPDATE_REVIEW,
        {"id": review["id"], "input": {"rating": None, "comment": "  Just right.  "}},
        token=reviewer.token,
    )
    assert body["data"]["updateReview"]["rating"] == 4
    assert body["data"]["updateReview"]["comment"] == "Just right."

    # null clears the comment
    body = await gql(
        client,
        UPDATE_REVIEW,
        {"id": review["id"], "input": {"comment": None}},
        token=reviewer.token,
    )
    assert body["data"]["updateReview"]["comment"] is None
    assert await rows.stats(reviewer.service_id) == (1, 4)


async def test_an_edit_is_checked_like_a_review(
    client: httpx.AsyncClient, reviewer: Reviewer, rows: ReviewRows
) -> None:
    review = await created(client, reviewer, rating=3, comment="Fine.")
    for change, field in (({"rating": 0}, "rating"), ({"comment": "x" * 2001}, "comment")):
        body = await gql(
            client, UPDATE_REVIEW, {"id": review["id"], "input": change}, token=reviewer.token
        )
        assert codes(body) == ["BAD_USER_INPUT"]
        assert field_of(body) == field
    # nothing changed, the valid half of a refused edit included
    body = await gql(
        client,
        UPDATE_REVIEW,
        {"id": review["id"], "input": {"comment": "New.", "rating": 9}},
        token=reviewer.token,
    )
    assert codes(body) == ["BAD_USER_INPUT"]
    body = await gql(client, UPDATE_REVIEW, {"id": review["id"], "input": {}}, token=reviewer.token)
    assert (body["data"]["updateReview"]["rating"], body["data"]["updateReview"]["comment"]) == (
        3,
        "Fine.",
    )
    assert await rows.stats(reviewer.service_id) == (1, 3)


async def test_only_the_author_edits(
    client: httpx.AsyncClient, database_url: str, reviewer: Reviewer, rows: ReviewRows
) -> None:
    review = await created(client, reviewer, rating=2)
    variables = {"id": review["id"], "input": {"rating": 5}}

    # nobody: UNAUTHENTICATED; another user: NOT_FOUND; an admin: FORBIDDEN
    assert codes(await gql(client, UPDATE_REVIEW, variables)) == ["UNAUTHENTICATED"]
    bob = await sign_up(client, "bob@example.com")
    assert codes(await gql(client, UPDATE_REVIEW, variables, token=bob.token)) == ["NOT_FOUND"]
    admin = await make_admin(client, database_url, "admin@example.com")
    assert codes(await gql(client, UPDATE_REVIEW, variables, token=admin.token)) == ["FORBIDDEN"]
    assert await rows.stats(reviewer.service_id) == (1, 2)


async def test_editing_unknown_reviews_is_not_found(
    client: httpx.AsyncClient, reviewer: Reviewer
) -> None:
    for review_id in UNKNOWN_IDS:
        body = await gql(
            client, UPDATE_REVIEW, {"id": review_id, "input": {"rating": 3}}, token=reviewer.token
        )
        assert codes(body) == ["NOT_FOUND"], review_id


# ---------------------------------------------------------------- deleteReview


async def test_the_author_deletes_a_review(
    client: httpx.AsyncClient, reviewer: Reviewer, rows: ReviewRows
) -> None:
    review = await created(client, reviewer, rating=5)
    body = await gql(client, DELETE_REVIEW, {"id": review["id"]}, token=reviewer.token)
    assert body == {"data": {"deleteReview": True}}
    assert await rows.stats(reviewer.service_id) == (0, 0)
    # it is gone: deleting it again finds nothing
    again = await gql(client, DELETE_REVIEW, {"id": review["id"]}, token=reviewer.token)
    assert codes(again) == ["NOT_FOUND"]


async def test_an_admin_deletes_any_review_and_other_users_none(
    client: httpx.AsyncClient, database_url: str, reviewer: Reviewer, rows: ReviewRows
) -> None:
    review = await created(client, reviewer, rating=1)
    variables = {"id": review["id"]}

    assert codes(await gql(client, DELETE_REVIEW, variables)) == ["UNAUTHENTICATED"]
    bob = await sign_up(client, "bob@example.com")
    assert codes(await gql(client, DELETE_REVIEW, variables, token=bob.token)) == ["NOT_FOUND"]
    assert await rows.stats(reviewer.service_id) == (1, 1)

    admin = await make_admin(client, database_url, "admin@example.com")
    body = await gql(client, DELETE_REVIEW, variables, token=admin.token)
    assert body == {"data": {"deleteReview": True}}
    assert await rows.stats(reviewer.service_id) == (0, 0)


async def test_deleting_unknown_reviews_is_not_found(
    client: httpx.AsyncClient, reviewer: Reviewer
) -> None:
    for review_id in UNKNOWN_IDS:
        body = await gql(client, DELETE_REVIEW, {"id": review_id}, token=reviewer.token)
        assert codes(body) == ["NOT_FOUND"], review_id


# ---------------------------------------------------------------- the service's statistics


async def test_the_services_rating_follows_creates_edits_and_deletes(
    client: httpx.AsyncClient, reviewer: Reviewer, rows: ReviewRows
) -> None:
    # given two reviews of one service, 5 and 2
    first = await created(client, reviewer, rating=5)
    bob = await sign_up(client, "bob@example.com")
    bobs_booking = await rows.booking(user_id=bob.id, service_id=reviewer.service_id)
    body = await create(client, bob.token, bobs_booking, rating=2)
    second = body["data"]["createReview"]
    assert (second["service"]["reviewCount"], second["service"]["averageRating"]) == (2, 3.5)

    # when Bob's 2 becomes a 4, then the mean is 4.5
    body = await gql(
        client,
        UPDATE_REVIEW,
        {"id": second["id"], "input": {"rating": 4}},
        token=bob.token,
    )
    assert body["data"]["updateReview"]["service"]["averageRating"] == 4.5
    assert await rows.stats(reviewer.service_id) == (2, 9)

    # when Ann's 5 goes, then only Bob's 4 counts; with none left, there is no mean
    await gql(client, DELETE_REVIEW, {"id": first["id"]}, token=reviewer.token)
    assert await rows.stats(reviewer.service_id) == (1, 4)
    await gql(client, DELETE_REVIEW, {"id": second["id"]}, token=bob.token)
    assert await rows.stats(reviewer.service_id) == (0, 0)


OWN_REVIEWS = (
    """
query OwnReviews { reviews(first: 5) { edges { node { ...ReviewFields } } } }
"""
    + REVIEW_FIELDS
)


async def test_a_review_with_its_related_rows_is_answered_by_one_compiled_read(
    client: httpx.AsyncClient, reviewer: Reviewer, statements: StatementCounter
) -> None:
    # when Ann's review is answered with its author, booking and service's statistics
    statements.clear()
    review = await created(client, reviewer, rating=4)
    # then the write is one statement, and the answer one compiled read after it committed
    sent = statements.statements
    assert len(sent) == 3, sent
    assert "bookit_create_review" in sent[1]
    assert "/* compiled */" in sent[2]
    assert "/* compiled */" not in sent[1]
    # and it is what the reviews query answers (itself checked against the resolvers)
    listed = await gql(client, OWN_REVIEWS, {}, token=reviewer.token)
    assert listed["data"]["reviews"]["edges"] == [{"node": review}]
    assert review["service"]["reviewCount"] == 1
