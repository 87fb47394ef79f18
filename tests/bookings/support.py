"""Documents and helpers that the bookings tests share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx

from tests.helpers import gql

BOOKING_FIELDS = """
fragment BookingFields on Booking {
  id
  startsAt
  endsAt
  status
  createdAt
  updatedAt
  service { id title price durationMinutes }
  user { id email fullName }
  review { id rating comment }
}
"""
CREATE_BOOKING = (
    BOOKING_FIELDS
    + """
mutation CreateBooking($input: CreateBookingInput!) {
  createBooking(input: $input) { ...BookingFields }
}
"""
)
BOOKINGS = (
    BOOKING_FIELDS
    + """
query Bookings($filter: BookingFilter, $first: Int, $after: String) {
  bookings(filter: $filter, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { ...BookingFields } }
  }
}
"""
)
BOOKING = (
    BOOKING_FIELDS
    + """
query Booking($id: ID!) {
  booking(id: $id) { ...BookingFields }
}
"""
)
RESCHEDULE_BOOKING = (
    BOOKING_FIELDS
    + """
mutation RescheduleBooking($id: ID!, $startsAt: DateTime!, $endsAt: DateTime) {
  updateBooking(id: $id, input: { startsAt: $startsAt, endsAt: $endsAt }) { ...BookingFields }
}
"""
)
SET_BOOKING_STATUS = (
    BOOKING_FIELDS
    + """
mutation SetBookingStatus($id: ID!, $status: BookingStatus!) {
  updateBooking(id: $id, input: { status: $status }) { ...BookingFields }
}
"""
)
DELETE_BOOKING = "mutation DeleteBooking($id: ID!) { deleteBooking(id: $id) }"

# A week ahead on the hour: far enough in the future for every rule, and the
# same for every test of a run.
BASE = (datetime.now(UTC) + timedelta(days=7)).replace(minute=0, second=0, microsecond=0)


def at(hours: float, *, offset_hours: int = 0) -> str:
    """BASE + `hours`, as an ISO string with the given UTC offset."""
    moment = BASE + timedelta(hours=hours)
    return moment.astimezone(timezone(timedelta(hours=offset_hours))).isoformat()


async def book(
    client: httpx.AsyncClient,
    token: str,
    service_id: str,
    starts_at: str,
    ends_at: str | None = None,
    *,
    key: str | None = None,
) -> dict[str, Any]:
    """The response body of createBooking."""
    booking_input: dict[str, Any] = {"serviceId": service_id, "startsAt": starts_at}
    if ends_at is not None:
        booking_input["endsAt"] = ends_at
    if key is not None:
        booking_input["idempotencyKey"] = key
    return await gql(client, CREATE_BOOKING, {"input": booking_input}, token=token)


async def booked(
    client: httpx.AsyncClient,
    token: str,
    service_id: str,
    starts_at: str,
    ends_at: str | None = None,
) -> dict[str, Any]:
    """A booking that must succeed."""
    body = await book(client, token, service_id, starts_at, ends_at)
    assert "errors" not in body, body
    booking: dict[str, Any] = body["data"]["createBooking"]
    return booking


def only_error(body: dict[str, Any]) -> dict[str, Any]:
    """The one error of a response."""
    assert len(body.get("errors", [])) == 1, body
    error: dict[str, Any] = body["errors"][0]
    return error
