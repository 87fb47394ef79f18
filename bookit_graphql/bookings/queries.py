"""Query fields of bookings."""

from __future__ import annotations

import strawberry


@strawberry.type
class BookingQueries:
    pass
