"""The catalogue's documents (as the client contract spells them) and test data helpers."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bookit_graphql.bookings import models as bookings
from bookit_graphql.bookings.models import BookingStatus
from bookit_graphql.catalog import models as catalog
from tests.helpers import gql

SERVICE_FIELDS = """
fragment ServiceFields on Service {
  id
  title
  description
  price
  durationMinutes
  isActive
  averageRating
  reviewCount
  createdAt
  updatedAt
}
"""
SERVICES = (
    """
query Services($filter: ServiceFilter, $orderBy: ServiceOrder, $first: Int, $after: String) {
  services(filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { ...ServiceFields } }
  }
}
"""
    + SERVICE_FIELDS
)
SERVICE = """
query Service($id: ID!) {
  service(id: $id) { id title isActive }
}
"""
SERVICE_AVAILABILITY = """
query ServiceAvailability($id: ID!, $from: DateTime!, $to: DateTime!, $stepMinutes: Int) {
  service(id: $id) {
    id
    durationMinutes
    availableSlots(from: $from, to: $to, stepMinutes: $stepMinutes) { startsAt endsAt }
  }
}
"""
CREATE_SERVICE = (
    """
mutation CreateService($input: CreateServiceInput!) {
  createService(input: $input) { ...ServiceFields }
}
"""
    + SERVICE_FIELDS
)
UPDATE_SERVICE = (
    """
mutation UpdateService($id: ID!, $input: UpdateServiceInput!) {
  updateService(id: $id, input: $input) { ...ServiceFields }
}
"""
    + SERVICE_FIELDS
)
DELETE_SERVICE = """
mutation DeleteService($id: ID!) {
  deleteService(id: $id)
}
"""

UNKNOWN_IDS = ("8d5e4d4e-0000-4000-8000-000000000000", "not-a-uuid", "")


async def create_service(client: httpx.AsyncClient, token: str, **fields: Any) -> dict[str, Any]:
    """A service made through the API; title, price and duration have defaults."""
    given = {"title": "Massage", "price": "50.00", "durationMinutes": 60, **fields}
    body = await gql(client, CREATE_SERVICE, {"input": given}, token=token)
    assert "errors" not in body, body
    service: dict[str, Any] = body["data"]["createService"]
    return service


async def add_services(
    db: async_sessionmaker[AsyncSession], *rows: dict[str, Any]
) -> list[catalog.Service]:
    """Services inserted in one transaction (so they share created_at)."""
    services = [
        catalog.Service(
            title=row.get("title", "Service"),
            description=row.get("description", ""),
            price=Decimal(row.get("price", "10.00")),
            duration_minutes=row.get("duration_minutes", 60),
            is_active=row.get("is_active", True),
        )
        for row in rows
    ]
    async with db.begin() as session:
        session.add_all(services)
    return services


async def set_review_stats(
    db: async_sessionmaker[AsyncSession], service_id: uuid.UUID, *, count: int, total: int
) -> None:
    """What the reviews trigger keeps, set directly."""
    async with db.begin() as session:
        await session.execute(
            update(catalog.Service)
            .where(catalog.Service.id == service_id)
            .values(review_count=count, rating_total=total)
        )


async def add_booking(
    db: async_sessionmaker[AsyncSession],
    *,
    service_id: uuid.UUID | str,
    user_id: uuid.UUID | str,
    starts_at: datetime,
    ends_at: datetime,
    status: BookingStatus = BookingStatus.CONFIRMED,
) -> bookings.Booking:
    """A booking row, inserted as the bookings API would (the API is not used here)."""
    booking = bookings.Booking(
        service_id=uuid.UUID(str(service_id)),
        user_id=uuid.UUID(str(user_id)),
        starts_at=starts_at,
        ends_at=ends_at,
        status=status,
    )
    async with db.begin() as session:
        session.add(booking)
    return booking
