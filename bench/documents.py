"""The GraphQL documents the benchmark sends: the contract's own operations."""

from __future__ import annotations

from collections.abc import Mapping

SERVICE_FIELDS = """
fragment ServiceFields on Service {
  id title description price durationMinutes isActive averageRating reviewCount
  createdAt updatedAt
}"""

BOOKING_FIELDS = """
fragment BookingFields on Booking {
  id startsAt endsAt status createdAt updatedAt
  service { id title price durationMinutes }
  user { id email fullName }
  review { id rating comment }
}"""

REVIEW_FIELDS = """
fragment ReviewFields on Review {
  id rating comment createdAt updatedAt
  author { id fullName }
  booking { id }
  service { id title }
}"""

TOKENS = """
fragment Tokens on AuthPayload {
  accessToken refreshToken tokenType expiresIn
  user { id email fullName role }
}"""

SERVICES = (
    """
query Services($filter: ServiceFilter, $orderBy: ServiceOrder, $first: Int, $after: String) {
  services(filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { ...ServiceFields } }
  }
}"""
    + SERVICE_FIELDS
)

SERVICE = (
    """
query Service($id: ID!, $reviewsFirst: Int, $reviewsAfter: String) {
  service(id: $id) {
    ...ServiceFields
    reviews(first: $reviewsFirst, after: $reviewsAfter) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { cursor node { ...ReviewFields } }
    }
  }
}"""
    + SERVICE_FIELDS
    + REVIEW_FIELDS
)

BOOKINGS = (
    """
query Bookings($filter: BookingFilter, $first: Int, $after: String) {
  bookings(filter: $filter, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { ...BookingFields } }
  }
}"""
    + BOOKING_FIELDS
)

CREATE_BOOKING = (
    """
mutation CreateBooking($input: CreateBookingInput!) {
  createBooking(input: $input) { ...BookingFields }
}"""
    + BOOKING_FIELDS
)

LOGIN = (
    """
mutation Login($input: LoginInput!) {
  login(input: $input) { ...Tokens }
}"""
    + TOKENS
)

BOOKING_CHANGES = (
    """
subscription BookingChanges($serviceId: ID, $bookingId: ID, $after: String) {
  bookingChanged(serviceId: $serviceId, bookingId: $bookingId, after: $after) {
    cursor
    kind
    occurredAt
    booking { ...BookingFields }
  }
}"""
    + BOOKING_FIELDS
)


def body(query: str, operation: str, variables: Mapping[str, object]) -> dict[str, object]:
    return {"query": query, "operationName": operation, "variables": variables}
