"""The admin's createService, updateService and deleteService: roles, rules, deletion."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from bookit_graphql.bookings.models import BookingStatus
from tests.catalog.helpers import (
    CREATE_SERVICE,
    DELETE_SERVICE,
    SERVICE,
    SERVICES,
    UNKNOWN_IDS,
    UPDATE_SERVICE,
    create_service,
)
from tests.factories import Rows
from tests.helpers import Account, codes, gql

VALID = {"title": "Massage", "price": "50.00", "durationMinutes": 60}


async def test_an_admin_creates_a_service(client: httpx.AsyncClient, admin: Account) -> None:
    # when
    body = await gql(
        client,
        CREATE_SERVICE,
        {"input": {"title": "  Hot stone  ", "price": "49.9", "durationMinutes": 90}},
        token=admin.token,
    )
    # then: the title trimmed, the defaults filled in
    assert "errors" not in body, body
    made = body["data"]["createService"]
    assert made["title"] == "Hot stone"
    assert made["description"] == ""
    assert made["price"] == "49.90"
    assert made["durationMinutes"] == 90
    assert made["isActive"] is True
    assert made["averageRating"] is None
    assert made["reviewCount"] == 0
    assert made["createdAt"] == made["updatedAt"]
    assert (await gql(client, SERVICE, {"id": made["id"]}))["data"]["service"]["id"] == made["id"]


async def test_an_inactive_service_can_be_created(
    client: httpx.AsyncClient, admin: Account
) -> None:
    made = await create_service(client, admin, isActive=False, description="Soon.")
    assert made["isActive"] is False
    assert made["description"] == "Soon."
    assert (await gql(client, SERVICES))["data"]["services"]["totalCount"] == 0


@pytest.mark.parametrize(
    ("mutation", "variables"),
    [
        (CREATE_SERVICE, {"input": VALID}),
        (UPDATE_SERVICE, {"id": "{id}", "input": {"title": "New"}}),
        (DELETE_SERVICE, {"id": "{id}"}),
    ],
)
async def test_only_admins_change_the_catalogue(
    client: httpx.AsyncClient,
    admin: Account,
    alice: Account,
    mutation: str,
    variables: dict[str, Any],
) -> None:
    # given
    service = await create_service(client, admin, title="Kept")
    if "id" in variables:
        variables = {**variables, "id": service["id"]}
    # when
    anonymous = await gql(client, mutation, variables)
    as_user = await gql(client, mutation, variables, token=alice.token)
    # then
    assert codes(anonymous) == ["UNAUTHENTICATED"]
    assert codes(as_user) == ["FORBIDDEN"]
    assert anonymous["data"] is None
    body = await gql(client, SERVICES, token=admin.token)
    assert [edge["node"] for edge in body["data"]["services"]["edges"]] == [service]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"description": "x" * 5001}, "description"),
        ({"durationMinutes": 4}, "durationMinutes"),
        ({"durationMinutes": 1441}, "durationMinutes"),
        ({"durationMinutes": -60}, "durationMinutes"),
    ],
)
async def test_create_checks_its_input(
    client: httpx.AsyncClient, admin: Account, change: dict[str, Any], field: str
) -> None:
    body = await gql(client, CREATE_SERVICE, {"input": {**VALID, **change}}, token=admin.token)
    assert codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["field"] == field
    assert (await gql(client, SERVICES, token=admin.token))["data"]["services"]["totalCount"] == 0


@pytest.mark.parametrize("price", ["-1.00", "1.234", "abc", 1.5, None])
async def test_create_refuses_bad_money(
    client: httpx.AsyncClient, admin: Account, price: object
) -> None:
    body = await gql(
        client, CREATE_SERVICE, {"input": {**VALID, "price": price}}, token=admin.token
    )
    assert codes(body) == ["BAD_USER_INPUT"]


async def test_the_limits_themselves_are_allowed(client: httpx.AsyncClient, admin: Account) -> None:
    for fields in [
        {"title": "x" * 200, "description": "y" * 5000, "durationMinutes": 5, "price": "0"},
        {"title": "x", "durationMinutes": 1440, "price": "99999999.99"},
    ]:
        made = await create_service(client, admin, **fields)
        assert made["durationMinutes"] == fields["durationMinutes"]


async def test_update_changes_only_the_given_fields(
    client: httpx.AsyncClient, admin: Account
) -> None:
    # given
    made = await create_service(client, admin, title="Old", description="Kept.", price="10.00")
    # when
    body = await gql(
        client,
        UPDATE_SERVICE,
        {"id": made["id"], "input": {"title": " New ", "price": "12.50", "isActive": False}},
        token=admin.token,
    )
    # then
    assert "errors" not in body, body
    updated = body["data"]["updateService"]
    assert updated == {
        **made,
        "title": "New",
        "price": "12.50",
        "isActive": False,
        "updatedAt": updated["updatedAt"],
    }
    assert datetime.fromisoformat(updated["updatedAt"]) > datetime.fromisoformat(made["updatedAt"])
    # and an empty input changes nothing
    same = await gql(client, UPDATE_SERVICE, {"id": made["id"], "input": {}}, token=admin.token)
    assert same["data"]["updateService"] == updated


async def test_update_description_and_duration(client: httpx.AsyncClient, admin: Account) -> None:
    made = await create_service(client, admin, description="Before.")
    body = await gql(
        client,
        UPDATE_SERVICE,
        {"id": made["id"], "input": {"description": "", "durationMinutes": 30}},
        token=admin.token,
    )
    assert body["data"]["updateService"]["description"] == ""
    assert body["data"]["updateService"]["durationMinutes"] == 30


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": None}, "title"),
        ({"description": None}, "description"),
        ({"price": None}, "price"),
        ({"durationMinutes": None}, "durationMinutes"),
        ({"isActive": None}, "isActive"),
        ({"title": " "}, "title"),
        ({"description": "x" * 5001}, "description"),
        ({"durationMinutes": 2000}, "durationMinutes"),
    ],
)
async def test_update_checks_its_input(
    client: httpx.AsyncClient, admin: Account, change: dict[str, Any], field: str
) -> None:
    # given
    made = await create_service(client, admin)
    # when: a null on a field that cannot be empty, or a bad value
    body = await gql(
        client,
        UPDATE_SERVICE,
        {"id": made["id"], "input": {"title": "Ok", **change}},
        token=admin.token,
    )
    # then: nothing changed
    assert codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["field"] == field
    after = await gql(client, SERVICES, token=admin.token)
    assert after["data"]["services"]["edges"][0]["node"] == made


async def test_update_and_delete_of_unknown_ids_are_not_found(
    client: httpx.AsyncClient, admin: Account
) -> None:
    for unknown in UNKNOWN_IDS:
        update = await gql(
            client, UPDATE_SERVICE, {"id": unknown, "input": {"title": "X"}}, token=admin.token
        )
        assert codes(update) == ["NOT_FOUND"], unknown
        delete = await gql(client, DELETE_SERVICE, {"id": unknown}, token=admin.token)
        assert codes(delete) == ["NOT_FOUND"], unknown


async def test_a_service_without_bookings_is_deleted(
    client: httpx.AsyncClient, admin: Account
) -> None:
    # given
    made = await create_service(client, admin)
    # when
    body = await gql(client, DELETE_SERVICE, {"id": made["id"]}, token=admin.token)
    # then
    assert body == {"data": {"deleteService": "DELETED"}}
    assert codes(await gql(client, SERVICE, {"id": made["id"]}, token=admin.token)) == ["NOT_FOUND"]
    again = await gql(client, DELETE_SERVICE, {"id": made["id"]}, token=admin.token)
    assert codes(again) == ["NOT_FOUND"]


@pytest.mark.parametrize("status", list(BookingStatus))
async def test_a_service_with_bookings_is_deactivated(
    client: httpx.AsyncClient,
    admin: Account,
    alice: Account,
    rows: Rows,
    status: BookingStatus,
) -> None:
    # given: a booking in any status, even cancelled, is history to keep
    made = await create_service(client, admin)
    starts = datetime.now(UTC) + timedelta(days=3)
    await rows.booking(
        service_id=made["id"],
        user_id=alice.id,
        starts_at=starts,
        status=status,
    )
    # when
    body = await gql(client, DELETE_SERVICE, {"id": made["id"]}, token=admin.token)
    # then: kept, inactive, hidden from everyone but admins
    assert body == {"data": {"deleteService": "DEACTIVATED"}}
    as_admin = await gql(client, SERVICE, {"id": made["id"]}, token=admin.token)
    assert as_admin["data"]["service"]["isActive"] is False
    as_user = await gql(client, SERVICE, {"id": made["id"]}, token=alice.token)
    assert codes(as_user) == ["NOT_FOUND"]
    assert (await gql(client, SERVICES))["data"]["services"]["edges"] == []
    again = await gql(client, DELETE_SERVICE, {"id": made["id"]}, token=admin.token)
    assert again == {"data": {"deleteService": "DEACTIVATED"}}


async def test_concurrent_deletes_delete_once(client: httpx.AsyncClient, admin: Account) -> None:
    # given
    made = await create_service(client, admin)
    # when
    bodies = await asyncio.gather(
        *(gql(client, DELETE_SERVICE, {"id": made["id"]}, token=admin.token) for _ in range(5))
    )
    # then: the row lock lets one delete it; the others then find nothing
    outcomes = sorted(
        body["data"]["deleteService"] if body["data"] else codes(body)[0] for body in bodies
    )
    assert outcomes == ["DELETED", "NOT_FOUND", "NOT_FOUND", "NOT_FOUND", "NOT_FOUND"]
