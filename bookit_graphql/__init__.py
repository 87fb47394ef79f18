"""BookIt: a GraphQL API for a bookings platform."""
