"""Production mode: introspection, GraphiQL and field suggestions off, each back on at will."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from bookit_graphql.app import create_app
from bookit_graphql.config import Settings
from tests.helpers import codes, gql

PRODUCTION = {"BOOKIT_ENV": "production", "SECRET_KEY": "p" * 40, "BCRYPT_ROUNDS": "4"}
TYPO = "{ services { edges { node { titel } } } }"
ENUM_TYPO = "query($role: Role) { users(filter: {role: $role}) { totalCount } }"
INTROSPECTION = "{ __schema { queryType { name } } }"

Client = Callable[..., Any]


@pytest.fixture
def app_client(database_url: str) -> Client:
    @asynccontextmanager
    async def open_client(**environ: str) -> AsyncIterator[httpx.AsyncClient]:
        settings = Settings.from_env(environ)
        app = create_app(settings, database_url)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bookit.test") as c:
            yield c
        await app.state.reads.close()
        await app.state.engine.dispose()

    return open_client


def test_production_turns_the_developer_aids_off() -> None:
    settings = Settings.from_env(PRODUCTION)
    assert (settings.introspection, settings.graphiql, settings.field_suggestions) == (
        False,
        False,
        False,
    )
    development = Settings.from_env({})
    assert (development.introspection, development.graphiql, development.field_suggestions) == (
        True,
        True,
        True,
    )
    back_on = Settings.from_env(
        {
            **PRODUCTION,
            "BOOKIT_INTROSPECTION": "true",
            "BOOKIT_GRAPHIQL": "true",
            "BOOKIT_FIELD_SUGGESTIONS": "true",
        }
    )
    assert (back_on.introspection, back_on.graphiql, back_on.field_suggestions) == (
        True,
        True,
        True,
    )


async def test_production_answers_with_codes_and_without_hints(app_client: Client) -> None:
    async with app_client(**PRODUCTION) as client:
        typo = await gql(client, TYPO)
        assert codes(typo) == ["GRAPHQL_VALIDATION_FAILED"]
        assert typo["errors"][0]["message"] == "Cannot query field 'titel' on type 'Service'."
        enum = await gql(client, ENUM_TYPO, {"role": "ADMN"})
        assert codes(enum) == ["BAD_USER_INPUT"]
        assert "Did you mean" not in enum["errors"][0]["message"]
        assert codes(await gql(client, "{ me { id }")) == ["GRAPHQL_PARSE_FAILED"]
        assert set(codes(await gql(client, INTROSPECTION))) == {"GRAPHQL_VALIDATION_FAILED"}
        assert (await gql(client, "{ __typename }"))["data"] == {"__typename": "Query"}
        aliased = await gql(client, "{ " + " ".join(f"a{n}: __typename" for n in range(99)) + " }")
        assert codes(aliased) == ["QUERY_TOO_COMPLEX"]
        page = await client.get("/graphql", headers={"Accept": "text/html"})
        assert page.status_code == 404


async def test_suggestions_in_development_or_when_turned_on(app_client: Client) -> None:
    for environ in ({}, {**PRODUCTION, "BOOKIT_FIELD_SUGGESTIONS": "true"}):
        async with app_client(**environ) as client:
            typo = await gql(client, TYPO)
            assert codes(typo) == ["GRAPHQL_VALIDATION_FAILED"]
            assert "Did you mean 'title'?" in typo["errors"][0]["message"]


async def test_introspection_and_graphiql_can_be_turned_back_on(app_client: Client) -> None:
    environ = {**PRODUCTION, "BOOKIT_INTROSPECTION": "true", "BOOKIT_GRAPHIQL": "true"}
    async with app_client(**environ) as client:
        body = await gql(client, INTROSPECTION)
        assert body["data"] == {"__schema": {"queryType": {"name": "Query"}}}
        page = await client.get("/graphql", headers={"Accept": "text/html"})
        assert page.status_code == 200
