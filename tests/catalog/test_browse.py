"""Browsing the catalogue: visibility, filters, every order both ways, pages, one service."""

from __future__ import annotations

import uuid
from decimal import Decimal
from fractions import Fraction
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bookit_graphql.catalog.models import Service
from tests.catalog.helpers import (
    SERVICE,
    SERVICES,
    UNKNOWN_IDS,
    create_service,
)
from tests.conftest import StatementCounter
from tests.factories import Rows
from tests.helpers import Account, codes, gql

SERVICE_WITH_REVIEWS = """
query Service($id: ID!, $reviewsFirst: Int, $reviewsAfter: String) {
  service(id: $id) {
    ...ServiceFields
    reviews(first: $reviewsFirst, after: $reviewsAfter) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { cursor node { id rating comment } }
    }
  }
}
fragment ServiceFields on Service {
  id title description price durationMinutes isActive averageRating reviewCount
  createdAt updatedAt
}
"""


async def titles(
    client: httpx.AsyncClient, variables: dict[str, Any], token: str | None = None
) -> list[str]:
    body = await gql(client, SERVICES, variables, token=token)
    assert "errors" not in body, body
    return [edge["node"]["title"] for edge in body["data"]["services"]["edges"]]


async def page_through(
    client: httpx.AsyncClient, order: dict[str, str], *, first: int, token: str | None = None
) -> list[str]:
    """Ids of every service, page by page, checking the page info on the way."""
    seen: list[str] = []
    after = None
    while True:
        body = await gql(
            client, SERVICES, {"orderBy": order, "first": first, "after": after}, token=token
        )
        assert "errors" not in body, body
        page = body["data"]["services"]
        assert len(page["edges"]) <= first
        seen += [edge["node"]["id"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return seen
        after = page["pageInfo"]["endCursor"]
        assert after == page["edges"][-1]["cursor"]


async def test_anyone_browses_services_with_every_field(
    client: httpx.AsyncClient, admin: Account
) -> None:
    # given
    made = await create_service(
        client,
        admin,
        title="Deep tissue massage",
        description="Sixty minutes.",
        price="49.90",
        durationMinutes=60,
    )
    # when
    body = await gql(client, SERVICES)
    # then
    assert "errors" not in body, body
    connection = body["data"]["services"]
    assert connection["totalCount"] == 1
    assert connection["pageInfo"] == {"hasNextPage": False, "endCursor": made_cursor(connection)}
    node = connection["edges"][0]["node"]
    assert node == made
    assert node["price"] == "49.90"
    assert node["averageRating"] is None
    assert node["reviewCount"] == 0
    assert node["createdAt"].endswith("+00:00")


def made_cursor(connection: dict[str, Any]) -> str:
    cursor: str = connection["edges"][-1]["cursor"]
    return cursor


@pytest.mark.parametrize(
    ("who", "active", "expected"),
    [
        ("anonymous", None, {"On"}),
        ("anonymous", False, {"On"}),
        ("user", None, {"On"}),
        ("user", False, {"On"}),
        ("admin", None, {"On", "Off"}),
        ("admin", True, {"On"}),
        ("admin", False, {"Off"}),
    ],
)
async def test_only_admins_see_inactive_services(
    client: httpx.AsyncClient,
    admin: Account,
    alice: Account,
    who: str,
    active: bool | None,
    expected: set[str],
) -> None:
    # given
    await create_service(client, admin, title="On")
    await create_service(client, admin, title="Off", isActive=False)
    token = {"anonymous": None, "user": alice.token, "admin": admin.token}[who]
    # when
    body = await gql(client, SERVICES, {"filter": {"active": active}}, token=token)
    # then
    assert {edge["node"]["title"] for edge in body["data"]["services"]["edges"]} == expected
    assert body["data"]["services"]["totalCount"] == len(expected)


async def test_filters_by_text_and_price(client: httpx.AsyncClient, rows: Rows) -> None:
    # given
    await rows.services(
        {"title": "Yoga", "description": "Relax and stretch", "price": "20.00"},
        {"title": "Thai massage", "description": "Traditional", "price": "60.00"},
        {"title": "Sauna 100%_hot", "description": "", "price": "15.50"},
        {"title": "Hidden yoga", "description": "", "price": "20.00", "is_active": False},
    )
    # when, then
    assert set(await titles(client, {"filter": {"q": "YOGA"}})) == {"Yoga"}
    assert set(await titles(client, {"filter": {"q": "tradition"}})) == {"Thai massage"}
    assert set(await titles(client, {"filter": {"q": "yoga relax"}})) == {"Yoga"}  # across both
    assert set(await titles(client, {"filter": {"q": "%_"}})) == {"Sauna 100%_hot"}  # literal
    assert set(await titles(client, {"filter": {"q": "  "}})) == {
        "Yoga",
        "Thai massage",
        "Sauna 100%_hot",
    }
    assert await titles(client, {"filter": {"q": "pilates"}}) == []
    assert set(await titles(client, {"filter": {"priceMin": "20.00"}})) == {"Yoga", "Thai massage"}
    assert set(await titles(client, {"filter": {"priceMax": "20"}})) == {"Yoga", "Sauna 100%_hot"}
    both = {"priceMin": "15.50", "priceMax": "15.50", "q": "sauna"}
    assert await titles(client, {"filter": both}) == ["Sauna 100%_hot"]


async def test_price_filter_refuses_bad_money(client: httpx.AsyncClient) -> None:
    for bad in ("-1", "1.234", "abc"):
        body = await gql(client, SERVICES, {"filter": {"priceMin": bad}})
        assert codes(body) == ["BAD_USER_INPUT"], bad


async def services_for_ordering(rows: Rows) -> list[dict[str, Any]]:
    """Seven services with ties in every sort key, made in three transactions."""
    specs: list[list[dict[str, Any]]] = [
        [
            {"title": "Bravo", "price": "30.00", "stats": (3, 13)},  # 13/3
            {"title": "Alpha", "price": "10.00", "stats": (6, 26)},  # 26/6 == 13/3
            {"title": "Charlie", "price": "30.00", "stats": (0, 0)},
        ],
        [
            {"title": "Bravo", "price": "20.00", "stats": (1, 5)},
            {"title": "Delta", "price": "10.00", "stats": (0, 0)},
        ],
        [
            {"title": "Alpha", "price": "20.00", "stats": (2, 9)},
            {"title": "Echo", "price": "30.00", "stats": (3, 13)},
        ],
    ]
    made: list[dict[str, Any]] = []
    for batch in specs:
        # the review stats as the reviews trigger keeps them
        ids = await rows.services(
            *(
                {
                    "title": spec["title"],
                    "price": spec["price"],
                    "review_count": spec["stats"][0],
                    "rating_total": spec["stats"][1],
                }
                for spec in batch
            )
        )
        async with rows.session_factory() as session:
            created = await session.scalar(select(Service.created_at).where(Service.id == ids[0]))
        for spec, service_id in zip(batch, ids, strict=True):
            count, total = spec["stats"]
            made.append(
                {
                    "id": uuid.UUID(service_id),
                    "title": spec["title"],
                    "price": Decimal(spec["price"]),
                    "created_at": created,  # one transaction's
                    "rating": Fraction(total, count) if count else Fraction(0),
                }
            )
    return made


@pytest.mark.parametrize("field", ["TITLE", "PRICE", "CREATED_AT", "RATING"])
@pytest.mark.parametrize("direction", ["ASC", "DESC"])
async def test_every_order_pages_through_all_services_once(
    client: httpx.AsyncClient, rows: Rows, field: str, direction: str
) -> None:
    # given
    services = await services_for_ordering(rows)
    key = field.lower()
    expected = sorted(services, key=lambda r: (r[key], r["id"]), reverse=direction == "DESC")
    # when
    for first in (1, 2, 3, 100):
        seen = await page_through(client, {"field": field, "direction": direction}, first=first)
        # then: sorted by the field, ties by id in the same direction, each once
        assert seen == [str(r["id"]) for r in expected], (field, direction, first)


async def test_default_order_is_oldest_first(client: httpx.AsyncClient, rows: Rows) -> None:
    services = await services_for_ordering(rows)
    expected = sorted(services, key=lambda r: (r["created_at"], r["id"]))
    assert await page_through(client, {"field": "CREATED_AT"}, first=4) == [
        str(r["id"]) for r in expected
    ]
    body = await gql(client, SERVICES)
    assert [e["node"]["id"] for e in body["data"]["services"]["edges"]] == [
        str(r["id"]) for r in expected
    ]


async def test_rating_comes_from_the_kept_review_stats(
    client: httpx.AsyncClient, rows: Rows
) -> None:
    # given
    await rows.service(title="Rated", review_count=3, rating_total=13)
    # when
    body = await gql(client, SERVICES)
    # then
    node = body["data"]["services"]["edges"][0]["node"]
    assert node["averageRating"] == 4.33
    assert node["reviewCount"] == 3


async def test_page_size_and_cursor_are_checked(client: httpx.AsyncClient, rows: Rows) -> None:
    # given
    await rows.services({"title": "One", "price": "1.00"}, {"title": "Two", "price": "2.00"})
    title_page = await gql(client, SERVICES, {"orderBy": {"field": "TITLE"}, "first": 1})
    title_cursor = title_page["data"]["services"]["pageInfo"]["endCursor"]
    # when, then
    for first in (101, -1):
        body = await gql(client, SERVICES, {"first": first})
        assert codes(body) == ["BAD_USER_INPUT"], first
        assert body["errors"][0]["extensions"]["field"] == "first"
    for order, after in [
        ({"field": "CREATED_AT"}, "not-a-cursor"),
        ({"field": "CREATED_AT"}, ""),
        ({"field": "PRICE"}, title_cursor),  # a cursor of another order
        ({"field": "RATING"}, title_cursor),
    ]:
        body = await gql(client, SERVICES, {"orderBy": order, "after": after})
        assert codes(body) == ["BAD_USER_INPUT"], (order, after)
        assert body["errors"][0]["extensions"]["field"] == "after"
    empty = await gql(client, SERVICES, {"first": 0})
    assert empty["data"]["services"]["edges"] == []
    assert empty["data"]["services"]["totalCount"] == 2


async def test_a_page_of_fifty_costs_one_statement_or_two(
    client: httpx.AsyncClient,
    rows: Rows,
    statements: StatementCounter,
    reads: str,
) -> None:
    # given
    await rows.services(*({"title": f"Service {n}"} for n in range(60)))
    statements.clear()
    # when
    body = await gql(client, SERVICES, {"first": 50})
    # then: the page and, because it was asked for, the count (compiled: in one statement)
    assert len(body["data"]["services"]["edges"]) == 50
    assert body["data"]["services"]["totalCount"] == 60
    assert statements.count == {"compiled": 1, "resolved": 2}[reads], statements.statements
    # without totalCount, the page alone
    statements.clear()
    await gql(client, "{ services(first: 50) { edges { node { id title price } } } }")
    assert statements.count == 1, statements.statements


async def test_one_service_by_id(client: httpx.AsyncClient, admin: Account) -> None:
    # given
    made = await create_service(client, admin, title="Facial")
    # when
    body = await gql(client, SERVICE_WITH_REVIEWS, {"id": made["id"], "reviewsFirst": 5})
    # then
    assert "errors" not in body, body
    service = body["data"]["service"]
    assert {k: v for k, v in service.items() if k != "reviews"} == made
    assert service["reviews"]["totalCount"] == 0
    assert service["reviews"]["edges"] == []


async def test_unknown_and_malformed_ids_are_not_found(client: httpx.AsyncClient) -> None:
    for unknown in (*UNKNOWN_IDS, str(uuid.uuid4())):
        body = await gql(client, SERVICE, {"id": unknown})
        assert codes(body) == ["NOT_FOUND"], unknown
        assert body["data"] == {"service": None}


async def test_an_inactive_service_is_not_found_except_for_admins(
    client: httpx.AsyncClient, admin: Account, alice: Account
) -> None:
    # given
    hidden = await create_service(client, admin, title="Retired", isActive=False)
    # when, then
    assert codes(await gql(client, SERVICE, {"id": hidden["id"]})) == ["NOT_FOUND"]
    as_user = await gql(client, SERVICE, {"id": hidden["id"]}, token=alice.token)
    assert codes(as_user) == ["NOT_FOUND"]
    as_admin = await gql(client, SERVICE, {"id": hidden["id"]}, token=admin.token)
    assert as_admin["data"]["service"] == {
        "id": hidden["id"],
        "title": "Retired",
        "isActive": False,
    }
