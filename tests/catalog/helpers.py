"""The catalogue's documents (as the client contract spells them), and createService."""

from __future__ import annotations

from typing import Any

import httpx

from tests.helpers import Account, gql

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


async def create_service(
    client: httpx.AsyncClient, admin: Account, **fields: Any
) -> dict[str, Any]:
    """A service made through the API by `admin`; title, price and duration have defaults."""
    given = {"title": "Massage", "price": "50.00", "durationMinutes": 60, **fields}
    body = await gql(client, CREATE_SERVICE, {"input": given}, token=admin.token)
    assert "errors" not in body, body
    service: dict[str, Any] = body["data"]["createService"]
    return service
