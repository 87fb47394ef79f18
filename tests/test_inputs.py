"""Bad values refused before execution: `extensions.field` names the input, NUL is no text."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from graphql import print_ast
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bookit_graphql.users.models import User
from tests.helpers import PASSWORD, Account, gql
from tests.test_contract import OPERATIONS, with_fragments

SERVICE = "00000000-0000-4000-8000-000000000001"


def contract(name: str) -> str:
    return print_ast(with_fragments(OPERATIONS[name]))


def refused(body: dict[str, Any]) -> tuple[str, str | None]:
    """The one error's code and field (and no data: nothing ran)."""
    assert body.get("data") is None, body
    (error,) = body["errors"]
    return error["extensions"]["code"], error["extensions"].get("field")


@pytest.mark.parametrize(
    ("operation", "variables", "field"),
    [
        (
            "CreateService",
            {"input": {"title": "Yoga", "price": "-1", "durationMinutes": 60}},
            "price",
        ),
        (
            "CreateService",
            {"input": {"title": "Yoga", "price": "1.00", "durationMinutes": "an hour"}},
            "durationMinutes",
        ),
        (
            "CreateBooking",
            {"input": {"serviceId": SERVICE, "startsAt": "2027-01-04T09:00"}},
            "startsAt",
        ),
        # a variable of its own, filling an input field of a literal object
        ("RescheduleBooking", {"id": SERVICE, "startsAt": "2027-01-04T09:00"}, "startsAt"),
        (
            "RescheduleBooking",
            {"id": SERVICE, "startsAt": "2027-01-04T09:00Z", "endsAt": "tomorrow"},
            "endsAt",
        ),
        # a variable filling an argument
        (
            "ServiceAvailability",
            {"id": SERVICE, "from": "2027-01-04", "to": "2027-01-05T00:00:00+00:00"},
            "from",
        ),
        ("Bookings", {"filter": {"to": "2027-01-04 09:00"}}, "to"),
        ("Login", {"input": {"email": "ann@example.com"}}, "password"),  # missing
        ("Login", {}, "input"),
    ],
)
async def test_a_variable_that_fails_coercion_names_its_field(
    client: httpx.AsyncClient, admin: Account, operation: str, variables: Any, field: str
) -> None:
    body = await gql(client, contract(operation), variables, token=admin.token)
    assert refused(body) == ("BAD_USER_INPUT", field)


@pytest.mark.parametrize(
    ("document", "field"),
    [
        (
            'mutation { createService(input: {title: "Yoga", price: "-1", durationMinutes: 60}) '
            "{ id } }",
            "price",
        ),
        ('query { bookings(filter: {from: "2027-01-04T09:00"}) { totalCount } }', "from"),
    ],
)
async def test_a_literal_that_a_scalar_refuses_names_its_field(
    client: httpx.AsyncClient, admin: Account, document: str, field: str
) -> None:
    body = await gql(client, document, token=admin.token)
    assert refused(body) == ("BAD_USER_INPUT", field)


async def test_nul_is_refused_in_every_string_even_a_password(
    client: httpx.AsyncClient, alice: Account, db: async_sessionmaker[AsyncSession]
) -> None:
    nul = "correct\x00horse battery"
    cases: list[tuple[str, dict[str, Any], str]] = [
        (
            "Register",
            {"input": {"email": "new@example.com", "password": nul, "fullName": "N"}},
            "password",
        ),
        (
            "Register",
            {"input": {"email": "new@example.com", "password": PASSWORD, "fullName": "N\x00"}},
            "fullName",
        ),
        ("Login", {"input": {"email": alice.email, "password": nul}}, "password"),
        ("Refresh", {"refreshToken": alice.refresh_token + "\x00"}, "refreshToken"),
        ("UpdateMe", {"input": {"currentPassword": PASSWORD, "newPassword": nul}}, "newPassword"),
        ("Services", {"filter": {"q": "yo\x00ga"}}, "q"),
        ("Bookings", {"after": "\x00"}, "after"),
    ]
    for operation, variables, field in cases:
        body = await gql(client, contract(operation), variables, token=alice.token)
        assert refused(body) == ("BAD_USER_INPUT", field), operation
    # and as a literal, written as the escape that GraphQL allows
    literal = (
        'mutation { login(input: {email: "a@example.com", password: "a\\u0000bcdefgh"}) '
        "{ expiresIn } }"
    )
    assert refused(await gql(client, literal)) == ("BAD_USER_INPUT", "password")
    braced = 'query { services(filter: {q: "yo\\u{0}ga"}) { totalCount } }'
    assert refused(await gql(client, braced)) == ("BAD_USER_INPUT", "q")
    # nothing was written: no account, and alice's password is the one she had
    async with db() as session:
        assert await session.scalar(select(func.count()).select_from(User)) == 1
    login = await gql(
        client, contract("Login"), {"input": {"email": alice.email, "password": PASSWORD}}
    )
    assert login["data"]["login"]["accessToken"]


async def test_an_id_with_nul_is_an_id_that_names_nothing(client: httpx.AsyncClient) -> None:
    for document, variables in (
        (contract("Service"), {"id": "ab\x00cd"}),
        ('query { service(id: "ab\\u0000cd") { id } }', {}),
    ):
        body = await gql(client, document, variables)
        assert [e["extensions"]["code"] for e in body["errors"]] == ["NOT_FOUND"], body
