"""Fixtures of the catalogue's tests: a direct session factory, an admin, a user."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bookit_graphql.db import create_engine, create_session_factory
from tests.helpers import make_admin, register


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on the test database, for arranging rows the API cannot (yet) make."""
    engine = create_engine(database_url, pool_size=1)
    yield create_session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def admin(client: httpx.AsyncClient, database_url: str) -> str:
    """An admin's access token."""
    payload = await make_admin(client, database_url, "admin@example.com")
    token: str = payload["accessToken"]
    return token


@pytest.fixture
async def user(client: httpx.AsyncClient) -> dict[str, Any]:
    """A plain user's register payload (accessToken, user.id...)."""
    return await register(client, "user@example.com")
