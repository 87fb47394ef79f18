"""Small helpers for driving the API as a client would."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

T = TypeVar("T")

REGISTER = """
mutation Register($input: RegisterInput!) {
  register(input: $input) { accessToken refreshToken tokenType expiresIn user { id email role } }
}
"""

LOGIN = """
mutation Login($input: LoginInput!) {
  login(input: $input) { accessToken refreshToken tokenType expiresIn user { id email role } }
}
"""

PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class Account:
    """A signed-in account (the `admin`, `alice` and `bob` fixtures)."""

    id: str
    email: str
    token: str  # the access token
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @classmethod
    def of(cls, payload: dict[str, Any]) -> Account:
        """From the payload of register or login."""
        user = payload["user"]
        return cls(user["id"], user["email"], payload["accessToken"], payload["refreshToken"])


async def gql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
    expect_status: int = 200,
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    assert response.status_code == expect_status, response.text
    body: dict[str, Any] = response.json()
    return body


def codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors", [])]


async def register(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD, full_name: str = "Test User"
) -> dict[str, Any]:
    body = await gql(
        client, REGISTER, {"input": {"email": email, "password": password, "fullName": full_name}}
    )
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"]["register"]
    return payload


async def sign_up(
    client: httpx.AsyncClient, email: str, *, full_name: str = "Test User"
) -> Account:
    """A new account, registered through the API, signed in."""
    return Account.of(await register(client, email, full_name=full_name))


async def make_admin(client: httpx.AsyncClient, database_url: str, email: str) -> Account:
    """Register an account, make it an admin in the database, and log in again."""
    from sqlalchemy import update

    from bookit_graphql.db import create_engine
    from bookit_graphql.permissions import Role
    from bookit_graphql.users.models import User

    await register(client, email)
    engine = create_engine(database_url, pool_size=1)
    async with engine.begin() as connection:
        await connection.execute(update(User).where(User.email == email).values(role=Role.ADMIN))
    await engine.dispose()
    body = await gql(client, LOGIN, {"input": {"email": email, "password": PASSWORD}})
    return Account.of(body["data"]["login"])


def generate(strategy: st.SearchStrategy[T], count: int) -> list[T]:
    """`count` values of `strategy`, the same ones on every run (derandomized)."""
    found: list[T] = []

    @settings(
        max_examples=max(count, 1),
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(value: T) -> None:
        found.append(value)

    collect()
    return found[:count]
