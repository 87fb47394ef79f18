"""Fixtures of the bookings tests: accounts, services and rows written straight to the database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bookit_graphql.bookings import models
from bookit_graphql.bookings.models import BookingStatus
from bookit_graphql.catalog.models import Service
from bookit_graphql.db import create_engine, create_session_factory
from tests.helpers import make_admin, register

MakeService = Callable[..., Awaitable[str]]


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on the test database, beside the API's own."""
    engine = create_engine(database_url, pool_size=2)
    yield create_session_factory(engine)
    await engine.dispose()


@pytest.fixture
def make_service(db: async_sessionmaker[AsyncSession]) -> MakeService:
    """Inserts a service row (createService belongs to the catalogue) and gives its id."""

    async def make(
        *, title: str = "Haircut", duration_minutes: int = 60, is_active: bool = True
    ) -> str:
        service = Service(
            title=title,
            price=Decimal("49.90"),
            duration_minutes=duration_minutes,
            is_active=is_active,
        )
        async with db.begin() as session:
            session.add(service)
        return str(service.id)

    return make


@pytest.fixture
async def service_id(make_service: MakeService) -> str:
    """An active service of 60 minutes."""
    return await make_service()


@pytest.fixture
async def alice(client: httpx.AsyncClient) -> dict[str, Any]:
    return await register(client, "alice@example.com", full_name="Alice")


@pytest.fixture
async def bob(client: httpx.AsyncClient) -> dict[str, Any]:
    return await register(client, "bob@example.com", full_name="Bob")


@pytest.fixture
async def admin(client: httpx.AsyncClient, database_url: str) -> dict[str, Any]:
    return await make_admin(client, database_url, "admin@example.com")


@pytest.fixture
def insert_booking(db: async_sessionmaker[AsyncSession]) -> Callable[..., Awaitable[str]]:
    """Writes a booking row directly, for states the API cannot reach (one that started)."""

    async def insert(
        *,
        service_id: str,
        user_id: str,
        starts_at: datetime,
        ends_at: datetime,
        status: BookingStatus = BookingStatus.PENDING,
    ) -> str:
        booking = models.Booking(
            service_id=uuid.UUID(service_id),
            user_id=uuid.UUID(user_id),
            starts_at=starts_at,
            ends_at=ends_at,
            status=status,
        )
        async with db.begin() as session:
            session.add(booking)
        return str(booking.id)

    return insert


@pytest.fixture
def count_bookings(db: async_sessionmaker[AsyncSession]) -> Callable[..., Awaitable[int]]:
    """How many booking rows there are (active ones only, if asked)."""

    async def count(*, active_only: bool = False) -> int:
        query = select(func.count()).select_from(models.Booking)
        if active_only:
            query = query.where(models.Booking.status != BookingStatus.CANCELLED)
        async with db() as session:
            return int((await session.execute(query)).scalar_one())

    return count
