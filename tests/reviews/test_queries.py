"""`reviews` (own, or all for an admin) and the batched pages behind Service.reviews."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from bookit_graphql import sql
from bookit_graphql.catalog.types import Service
from bookit_graphql.context import Loader
from bookit_graphql.pagination import decode_cursor, encode_cursor
from bookit_graphql.sql import PageKey as ReviewPageKey
from tests.conftest import StatementCounter
from tests.helpers import codes, gql, make_admin, register, sign_up
from tests.reviews.conftest import Reviewer, ReviewRows

REVIEWS = """
query Reviews($filter: ReviewFilter, $first: Int, $after: String) {
  reviews(filter: $filter, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id rating createdAt author { id fullName } service { id } } }
  }
}
"""
# Service.reviews, reached through the reviews' own services
SERVICES_OF_REVIEWS = """
query ($first: Int, $reviewsFirst: Int, $reviewsAfter: String) {
  reviews(first: $first) {
    edges { node { service {
      id
      reviews(first: $reviewsFirst, after: $reviewsAfter) {
        totalCount
        pageInfo { hasNextPage endCursor }
        edges { cursor node { id author { id fullName } service { id title } } }
      }
    } } }
  }
}
"""
SAME_TIME = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)


async def ids(client: httpx.AsyncClient, token: str, **variables: Any) -> list[str]:
    body = await gql(client, REVIEWS, variables, token=token)
    assert "errors" not in body, body
    return [edge["node"]["id"] for edge in body["data"]["reviews"]["edges"]]


@pytest.fixture
async def two_users_reviews(client: httpx.AsyncClient, reviewer: Reviewer, rows: ReviewRows) -> Any:
    """Ann reviewed two services, Bob one of them: ids by name."""
    bob = await sign_up(client, "bob@example.com", full_name="Bob")
    other_service = await rows.service(title="Haircut")
    ann, bob_id = reviewer.user_id, bob.id
    return {
        "bob": bob,
        "other_service": other_service,
        "ann_massage": await rows.review(user_id=ann, service_id=reviewer.service_id),
        "ann_haircut": await rows.review(user_id=ann, service_id=other_service),
        "bob_massage": await rows.review(user_id=bob_id, service_id=reviewer.service_id),
    }


# ---------------------------------------------------------------- reviews


async def test_reviews_needs_a_caller(client: httpx.AsyncClient) -> None:
    body = await gql(client, REVIEWS)
    assert codes(body) == ["UNAUTHENTICATED"]


async def test_a_user_lists_their_own_reviews_only(
    client: httpx.AsyncClient, reviewer: Reviewer, two_users_reviews: Any
) -> None:
    given = two_users_reviews
    own = {given["ann_massage"], given["ann_haircut"]}
    assert set(await ids(client, reviewer.token)) == own
    # a userId filter cannot show a user anyone else's
    bobs = await ids(client, reviewer.token, filter={"userId": given["bob"].id})
    assert set(bobs) == own
    # serviceId narrows their own
    narrowed = await ids(client, reviewer.token, filter={"serviceId": reviewer.service_id})
    assert narrowed == [given["ann_massage"]]
    assert await ids(client, given["bob"].token) == [given["bob_massage"]]


async def test_an_admin_lists_everyones_and_filters(
    client: httpx.AsyncClient, database_url: str, reviewer: Reviewer, two_users_reviews: Any
) -> None:
    given = two_users_reviews
    token = (await make_admin(client, database_url, "admin@example.com")).token

    everyone = await ids(client, token)
    assert set(everyone) == {given["ann_massage"], given["ann_haircut"], given["bob_massage"]}
    by_service = await ids(client, token, filter={"serviceId": reviewer.service_id})
    assert set(by_service) == {given["ann_massage"], given["bob_massage"]}
    by_user = await ids(client, token, filter={"userId": reviewer.user_id})
    assert set(by_user) == {given["ann_massage"], given["ann_haircut"]}
    both = {"userId": given["bob"].id, "serviceId": given["other_service"]}
    assert await ids(client, token, filter=both) == []
    # ids that name nothing match nothing, they are no error
    for unknown in (str(uuid.uuid4()), "not-a-uuid"):
        assert await ids(client, token, filter={"serviceId": unknown}) == []
        assert await ids(client, token, filter={"userId": unknown}) == []


async def test_reviews_page_through_every_row_once_newest_first(
    client: httpx.AsyncClient, reviewer: Reviewer, rows: ReviewRows
) -> None:
    # given 7 reviews, 4 of them written at the same instant (the id breaks the tie)
    for n in range(7):
        created_at = SAME_TIME if n < 4 else None
        await rows.review(
            user_id=reviewer.user_id, service_id=reviewer.service_id, created_at=created_at
        )

    # when Ann pages through them 3 at a time
    seen: list[dict[str, Any]] = []
    after = None
    while True:
        body = await gql(client, REVIEWS, {"first": 3, "after": after}, token=reviewer.token)
        page = body["data"]["reviews"]
        assert page["totalCount"] == 7
        seen += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
        assert after == page["edges"][-1]["cursor"]

    # then she sees each once, newest first
    assert len(seen) == len({node["id"] for node in seen}) == 7
    order = [(datetime.fromisoformat(node["createdAt"]), node["id"]) for node in seen]
    assert order == sorted(order, reverse=True)


async def test_reviews_page_size_and_cursor_are_checked(
    client: httpx.AsyncClient, reviewer: Reviewer
) -> None:
    too_many = await gql(client, REVIEWS, {"first": 101}, token=reviewer.token)
    assert codes(too_many) == ["BAD_USER_INPUT"]
    assert too_many["errors"][0]["extensions"]["field"] == "first"
    for cursor in ("not-a-cursor", encode_cursor(["x", "y"]), encode_cursor([1])):
        bad = await gql(client, REVIEWS, {"after": cursor}, token=reviewer.token)
        assert codes(bad) == ["BAD_USER_INPUT"], cursor
        assert bad["errors"][0]["extensions"]["field"] == "after"


# ---------------------------------------------------------------- Service.reviews


async def test_service_reviews_page_through_every_row_once(
    client: httpx.AsyncClient, reviewer: Reviewer, rows: ReviewRows
) -> None:
    # given 5 reviews of Ann's service, 3 at the same instant
    for n in range(5):
        created_at = SAME_TIME if n < 3 else None
        await rows.review(
            user_id=reviewer.user_id, service_id=reviewer.service_id, created_at=created_at
        )

    seen: list[str] = []
    after = None
    while True:
        variables = {"first": 1, "reviewsFirst": 2, "reviewsAfter": after}
        body = await gql(client, SERVICES_OF_REVIEWS, variables, token=reviewer.token)
        assert "errors" not in body, body
        page = body["data"]["reviews"]["edges"][0]["node"]["service"]["reviews"]
        assert page["totalCount"] == 5  # the service's review_count
        seen += [edge["node"]["id"] for edge in page["edges"]]
        assert all(edge["node"]["service"]["id"] == reviewer.service_id for edge in page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen)) == 5

    # the pages are those of `reviews`, and their cursors have its format
    listed = await ids(client, reviewer.token, first=5)
    assert seen == listed


async def test_service_reviews_page_size_and_cursor_are_checked(
    client: httpx.AsyncClient, reviewer: Reviewer, rows: ReviewRows
) -> None:
    await rows.review(user_id=reviewer.user_id, service_id=reviewer.service_id)
    for variables, field in (
        ({"reviewsFirst": 101}, "first"),
        ({"reviewsFirst": -1}, "first"),
        ({"reviewsAfter": "not-a-cursor"}, "after"),
    ):
        body = await gql(client, SERVICES_OF_REVIEWS, variables, token=reviewer.token)
        assert codes(body) == ["BAD_USER_INPUT"], variables
        assert body["errors"][0]["extensions"]["field"] == field


async def test_service_reviews_of_many_services_cost_one_statement(
    client: httpx.AsyncClient,
    reviewer: Reviewer,
    rows: ReviewRows,
    statements: StatementCounter,
    reads: str,
) -> None:
    # given Ann's reviews of 6 services, 3 reviews each, by 3 authors
    others = [await register(client, f"u{n}@example.com") for n in range(2)]
    authors = [reviewer.user_id, *(other["user"]["id"] for other in others)]
    for n in range(6):
        service_id = await rows.service(title=f"Service {n}")
        for author in authors:
            await rows.review(user_id=author, service_id=service_id)

    # when Ann lists her 6 reviews, each with 2 reviews of its service and their authors
    statements.clear()
    body = await gql(client, SERVICES_OF_REVIEWS, {"reviewsFirst": 2}, token=reviewer.token)
    assert "errors" not in body, body
    services = [edge["node"]["service"] for edge in body["data"]["reviews"]["edges"]]
    assert len(services) == 6
    assert all(len(s["reviews"]["edges"]) == 2 for s in services)
    assert all(s["reviews"]["totalCount"] == 3 for s in services)

    # then: authentication 1, and the compiled read 1; resolved: the page of reviews 1,
    # its services 1, the 6 pages of their reviews 1, the authors 1; no COUNT for
    # totalCount, no statement per service
    expected = 2 if reads == "compiled" else 5
    assert statements.count == expected, "\n\n".join(statements.statements)
    if reads == "resolved":
        assert sum("LATERAL" in sent for sent in statements.statements) == 1
    assert not any("select count(" in sent.lower() for sent in statements.statements)


async def test_one_batch_of_pages_of_mixed_sizes_and_cursors_is_one_statement(
    app: Any, reviewer: Reviewer, rows: ReviewRows, statements: StatementCounter
) -> None:
    # given two services with 4 and 2 reviews, 2 of the first at the same instant
    massage = uuid.UUID(reviewer.service_id)
    haircut = uuid.UUID(await rows.service(title="Haircut"))
    made = [
        await rows.review(
            user_id=reviewer.user_id,
            service_id=str(massage),
            created_at=SAME_TIME if n < 2 else None,
        )
        for n in range(4)
    ]
    await rows.review(user_id=reviewer.user_id, service_id=str(haircut))
    await rows.review(user_id=reviewer.user_id, service_id=str(haircut))

    # Service.reviews' loader, made from its declaration (sql.children)
    declaration = Service.__strawberry_definition__.get_field("reviews").metadata[sql.KEY]
    pages_by_service = declaration.loader
    loader: Loader[ReviewPageKey, Any] = pages_by_service(app.state.session_factory)
    whole_rows, _ = await loader.load(ReviewPageKey(massage, limit=10))
    newest_first = [row.id for row in whole_rows]
    assert set(map(str, newest_first)) == set(made)
    second = whole_rows[1]

    # when one batch asks for pages of different sizes and cursors, one service twice
    keys = [
        ReviewPageKey(massage, limit=2),
        ReviewPageKey(massage, limit=2, after=(second.created_at, second.id)),
        ReviewPageKey(haircut, limit=5),
        ReviewPageKey(haircut, limit=0),
        ReviewPageKey(uuid.uuid4(), limit=3),
    ]
    statements.clear()
    loader = pages_by_service(app.state.session_factory)
    pages = [
        SimpleNamespace(rows=rows, has_next_page=more)
        for rows, more in await asyncio.gather(*(loader.load(key) for key in keys))
    ]

    # then one statement answers them all, each page in its key's place
    assert statements.count == 1
    assert [row.id for row in pages[0].rows] == newest_first[:2]
    assert pages[0].has_next_page
    assert [row.id for row in pages[1].rows] == newest_first[2:4]
    assert not pages[1].has_next_page
    assert len(pages[2].rows) == 2
    assert not pages[2].has_next_page
    assert (pages[3].rows, pages[3].has_next_page) == ([], True)
    assert (pages[4].rows, pages[4].has_next_page) == ([], False)
    # and the cursors the pages make are those of pagination.keyset_page
    cursor = encode_cursor((second.created_at, second.id))
    assert decode_cursor(cursor, [datetime, uuid.UUID]) == [second.created_at, second.id]
