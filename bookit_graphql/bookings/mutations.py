"""Mutations of bookings."""

from __future__ import annotations

import strawberry


@strawberry.type
class BookingMutations:
    pass
