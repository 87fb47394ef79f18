"""Service.reviews, public: anyone reads a service's reviews, and no booking or email leaks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from tests.conftest import StatementCounter
from tests.helpers import codes, gql, make_admin, register, sign_up
from tests.reviews.conftest import Reviewer, ReviewRows

# The contract's `Service` operation, as clients send it
SERVICE = """
query Service($id: ID!, $reviewsFirst: Int, $reviewsAfter: String) {
  service(id: $id) {
    id
    title
    averageRating
    reviewCount
    reviews(first: $reviewsFirst, after: $reviewsAfter) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { cursor node { ...ReviewFields } }
    }
  }
}

fragment ReviewFields on Review {
  id
  rating
  comment
  createdAt
  updatedAt
  author { id fullName }
  booking { id }
  service { id title }
}
"""
SERVICES = """
query ($reviewsFirst: Int) {
  services(first: 50) {
    edges { node { id reviews(first: $reviewsFirst) {
      totalCount
      edges { node { id rating author { id fullName } service { id } } }
    } } }
  }
}
"""
CREATE_REVIEW = """
mutation ($input: CreateReviewInput!) { createReview(input: $input) { id } }
"""


async def reviews_of(
    client: httpx.AsyncClient, service_id: str, token: str | None = None, **variables: Any
) -> dict[str, Any]:
    body = await gql(client, SERVICE, {"id": service_id, **variables}, token=token)
    assert "errors" not in body, body
    service: dict[str, Any] = body["data"]["service"]
    return service


async def test_anyone_reads_a_services_reviews_without_their_bookings(
    client: httpx.AsyncClient, database_url: str, reviewer: Reviewer
) -> None:
    # given Ann's review of her booking
    body = await gql(
        client,
        CREATE_REVIEW,
        {"input": {"bookingId": reviewer.booking_id, "rating": 5, "comment": "Superb."}},
        token=reviewer.token,
    )
    review_id = body["data"]["createReview"]["id"]

    # when someone without an account reads the service
    service = await reviews_of(client, reviewer.service_id)

    # then they see the review and its author's name, not the booking
    assert (service["reviewCount"], service["averageRating"]) == (1, 5.0)
    assert service["reviews"]["totalCount"] == 1
    node = service["reviews"]["edges"][0]["node"]
    assert node["id"] == review_id
    assert (node["rating"], node["comment"]) == (5, "Superb.")
    assert node["author"] == {"id": reviewer.user_id, "fullName": "Ann Reviewer"}
    assert node["booking"] is None
    assert node["service"] == {"id": reviewer.service_id, "title": "Deep tissue massage"}
    assert "ann@example.com" not in str(service)

    # another user does not see it either; Ann and admins do
    bob = await sign_up(client, "bob@example.com")
    admin = await make_admin(client, database_url, "admin@example.com")
    for token, expected in (
        (bob.token, None),
        (reviewer.token, {"id": reviewer.booking_id}),
        (admin.token, {"id": reviewer.booking_id}),
    ):
        seen = await reviews_of(client, reviewer.service_id, token)
        assert seen["reviews"]["edges"][0]["node"]["booking"] == expected


async def test_an_author_shows_no_email(client: httpx.AsyncClient, reviewer: Reviewer) -> None:
    query = (
        "query ($id: ID!) { service(id: $id) { reviews { edges { node { author { email } } } } } }"
    )
    body = await gql(client, query, {"id": reviewer.service_id})
    assert codes(body) == ["GRAPHQL_VALIDATION_FAILED"]


async def test_a_services_reviews_page_through_every_row_once(
    client: httpx.AsyncClient, reviewer: Reviewer, rows: ReviewRows
) -> None:
    # given 7 reviews of the service, rated 1 to 5 and round again
    for n in range(7):
        await rows.review(
            user_id=reviewer.user_id, service_id=reviewer.service_id, rating=n % 5 + 1
        )

    # when anyone pages through them 3 at a time
    seen: list[tuple[datetime, str]] = []
    after = None
    while True:
        service = await reviews_of(client, reviewer.service_id, reviewsFirst=3, reviewsAfter=after)
        page = service["reviews"]
        assert page["totalCount"] == service["reviewCount"] == 7
        seen += [
            (datetime.fromisoformat(edge["node"]["createdAt"]), edge["node"]["id"])
            for edge in page["edges"]
        ]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
        assert after == page["edges"][-1]["cursor"]

    # then each comes once, newest first
    assert len(seen) == len(set(seen)) == 7
    assert seen == sorted(seen, reverse=True)
    assert service["averageRating"] == round((1 + 2 + 3 + 4 + 5 + 1 + 2) / 7, 2)


async def test_a_service_with_its_reviews_costs_a_constant_few_statements(
    client: httpx.AsyncClient,
    reviewer: Reviewer,
    rows: ReviewRows,
    statements: StatementCounter,
    reads: str,
) -> None:
    # given 25 reviews by 5 authors
    authors = [reviewer.user_id]
    authors += [(await register(client, f"u{n}@example.com"))["user"]["id"] for n in range(4)]
    for n in range(25):
        await rows.review(user_id=authors[n % 5], service_id=reviewer.service_id)

    # when anyone reads the service with 20 reviews, their authors, bookings and service
    statements.clear()
    service = await reviews_of(client, reviewer.service_id, reviewsFirst=20)
    assert len(service["reviews"]["edges"]) == 20

    # then: the service, the page of reviews, the authors (compiled: one statement);
    # no COUNT, nothing per review
    expected = {"compiled": 1, "resolved": 3}[reads]
    assert statements.count == expected, "\n\n".join(statements.statements)

    # and Ann, signed in and shown her own bookings, adds the token and the bookings
    statements.clear()
    await reviews_of(client, reviewer.service_id, reviewer.token, reviewsFirst=20)
    expected = {"compiled": 2, "resolved": 5}[reads]
    assert statements.count == expected, "\n\n".join(statements.statements)


async def test_a_page_of_services_with_their_reviews_costs_the_same_for_any_number(
    client: httpx.AsyncClient,
    reviewer: Reviewer,
    rows: ReviewRows,
    statements: StatementCounter,
    reads: str,
) -> None:
    async def statements_for_services(count: int) -> int:
        while len(await service_ids()) < count:
            service_id = await rows.service(title="More")
            for rating in (3, 4):
                await rows.review(user_id=reviewer.user_id, service_id=service_id, rating=rating)
        statements.clear()
        body = await gql(client, SERVICES, {"reviewsFirst": 1})
        assert "errors" not in body, body
        services = body["data"]["services"]["edges"]
        assert len(services) == count
        return statements.count

    async def service_ids() -> list[str]:
        body = await gql(client, "{ services(first: 100) { edges { node { id } } } }")
        return [edge["node"]["id"] for edge in body["data"]["services"]["edges"]]

    # services, one batch of review pages, one batch of authors (compiled: one statement),
    # however many services
    expected = {"compiled": 1, "resolved": 3}[reads]
    assert await statements_for_services(2) == await statements_for_services(12) == expected
