"""createBooking: the rules of a new booking, overlaps decided by the database, idempotency."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bookit_graphql.catalog.models import Service
from tests.bookings.support import (
    CREATE_BOOKING,
    SET_BOOKING_STATUS,
    at,
    book,
    booked,
    only_error,
)
from tests.factories import Rows
from tests.helpers import Account, codes, gql

CountBookings = Callable[..., Awaitable[int]]


async def test_a_booking_ends_after_the_services_duration_by_default(
    client: httpx.AsyncClient, alice: Account, rows: Rows
) -> None:
    # given a 90-minute service
    service_id = await rows.service(title="Massage", duration_minutes=90)

    # when Alice books it at 11:00+02:00 without an end
    body = await book(client, alice.token, service_id, at(2, offset_hours=2))

    # then it runs 90 minutes, answered in UTC, pending, hers, without a review
    booking = body["data"]["createBooking"]
    assert booking["startsAt"] == at(2)
    assert booking["startsAt"].endswith("+00:00")
    assert booking["endsAt"] == at(3.5)
    assert booking["status"] == "PENDING"
    assert booking["createdAt"].endswith("+00:00")
    assert booking["service"] == {
        "id": service_id,
        "title": "Massage",
        "price": "49.90",
        "durationMinutes": 90,
    }
    assert booking["user"] == {
        "id": alice.id,
        "email": "alice@example.com",
        "fullName": "Alice",
    }
    assert booking["review"] is None


async def test_an_explicit_end_is_kept(
    client: httpx.AsyncClient, alice: Account, service_id: str
) -> None:
    booking = await booked(client, alice.token, service_id, at(1), at(1.25))
    assert (booking["startsAt"], booking["endsAt"]) == (at(1), at(1.25))


async def test_booking_needs_authentication(client: httpx.AsyncClient, service_id: str) -> None:
    body = await gql(
        client, CREATE_BOOKING, {"input": {"serviceId": service_id, "startsAt": at(1)}}
    )
    assert codes(body) == ["UNAUTHENTICATED"]
    assert body["data"] is None


@pytest.mark.parametrize(
    "which", ["unknown", "malformed", "empty", "inactive"], ids=lambda which: which
)
async def test_a_service_that_cannot_be_booked_is_not_found(
    client: httpx.AsyncClient,
    alice: Account,
    rows: Rows,
    count_bookings: CountBookings,
    which: str,
) -> None:
    service_id = {
        "unknown": "8d5e4d4e-0000-4000-8000-000000000000",
        "malformed": "not-a-uuid",
        "empty": "",
        "inactive": await rows.service(is_active=False),
    }[which]
    body = await book(client, alice.token, service_id, at(1))
    assert codes(body) == ["NOT_FOUND"]
    assert await count_bookings() == 0


@pytest.mark.parametrize(
    ("starts", "ends", "field"),
    [
        (at(-24 * 8), None, "startsAt"),  # yesterday (BASE is a week ahead)
        (at(1), at(1), "endsAt"),  # ends as it starts
        (at(2), at(1), "endsAt"),  # ends before it starts
        (at(1), at(25.01), "endsAt"),  # over 24 hours
    ],
)
async def test_times_are_validated(
    client: httpx.AsyncClient,
    alice: Account,
    service_id: str,
    count_bookings: CountBookings,
    starts: str,
    ends: str | None,
    field: str,
) -> None:
    body = await book(client, alice.token, service_id, starts, ends)
    assert codes(body) == ["BAD_USER_INPUT"]
    assert only_error(body)["extensions"]["field"] == field
    assert await count_bookings() == 0


async def test_a_booking_may_last_exactly_24_hours(
    client: httpx.AsyncClient, alice: Account, service_id: str
) -> None:
    booking = await booked(client, alice.token, service_id, at(1), at(25))
    assert booking["endsAt"] == at(25)


async def test_a_date_time_without_offset_is_bad_user_input(
    client: httpx.AsyncClient, alice: Account, service_id: str
) -> None:
    naive = at(1).removesuffix("+00:00")
    as_variable = await book(client, alice.token, service_id, naive)
    as_literal = await gql(
        client,
        f'mutation {{ createBooking(input: {{serviceId: "{service_id}", startsAt: "{naive}"}}) '
        "{ id } }",
        token=alice.token,
    )
    assert codes(as_variable) == ["BAD_USER_INPUT"]
    assert codes(as_literal) == ["BAD_USER_INPUT"]


async def test_an_overlap_is_a_conflict_naming_only_the_busy_time(
    client: httpx.AsyncClient,
    alice: Account,
    bob: Account,
    service_id: str,
    count_bookings: CountBookings,
) -> None:
    # given Alice's booking 10:00-11:00 (+00:00)
    await booked(client, alice.token, service_id, at(10))

    # when Bob asks for 10:30-11:30, written in another offset
    body = await book(client, bob.token, service_id, at(10.5, offset_hours=-5))

    # then he is told which time is busy, in UTC, and nothing about whose it is
    assert codes(body) == ["BOOKING_CONFLICT"]
    assert body["data"] is None
    extensions = only_error(body)["extensions"]
    assert extensions == {
        "code": "BOOKING_CONFLICT",
        "conflictingRange": {"startsAt": at(10), "endsAt": at(11)},
    }
    assert "alice" not in str(body).lower()
    assert await count_bookings() == 1


async def test_bookings_that_touch_do_not_overlap(
    client: httpx.AsyncClient, alice: Account, bob: Account, service_id: str
) -> None:
    await booked(client, alice.token, service_id, at(10))
    before = await booked(client, bob.token, service_id, at(9))
    after = await booked(client, bob.token, service_id, at(11))
    assert (before["endsAt"], after["startsAt"]) == (at(10), at(11))


async def test_other_services_are_free_at_the_same_time(
    client: httpx.AsyncClient, alice: Account, rows: Rows
) -> None:
    first, second = await rows.service(), await rows.service(title="Nails")
    await booked(client, alice.token, first, at(10))
    await booked(client, alice.token, second, at(10))


async def test_the_same_user_cannot_double_book_either(
    client: httpx.AsyncClient, alice: Account, service_id: str
) -> None:
    await booked(client, alice.token, service_id, at(10))
    body = await book(client, alice.token, service_id, at(10))
    assert codes(body) == ["BOOKING_CONFLICT"]


async def test_a_cancelled_booking_frees_its_time(
    client: httpx.AsyncClient, alice: Account, bob: Account, service_id: str
) -> None:
    # given Alice's booking, which she cancels
    mine = await booked(client, alice.token, service_id, at(10))
    body = await gql(
        client,
        SET_BOOKING_STATUS,
        {"id": mine["id"], "status": "CANCELLED"},
        token=alice.token,
    )
    assert body["data"]["updateBooking"]["status"] == "CANCELLED"

    # then Bob gets the time
    theirs = await booked(client, bob.token, service_id, at(10))
    assert theirs["startsAt"] == at(10)


async def test_a_retry_with_the_same_key_returns_the_first_booking(
    client: httpx.AsyncClient,
    alice: Account,
    service_id: str,
    count_bookings: CountBookings,
) -> None:
    # given a booking made with an idempotency key
    first = await book(client, alice.token, service_id, at(10), key="k-1")

    # when the client retries it, the same instant in another offset
    again = await book(client, alice.token, service_id, at(10, offset_hours=3), key="k-1")

    # then it gets the same booking, not a conflict, and there is one row
    assert "errors" not in again, again
    assert again["data"]["createBooking"] == first["data"]["createBooking"]
    assert await count_bookings() == 1


async def test_a_key_reused_with_another_input_is_bad_user_input(
    client: httpx.AsyncClient,
    alice: Account,
    rows: Rows,
    count_bookings: CountBookings,
) -> None:
    service_id, other_service = await rows.service(), await rows.service(title="Nails")
    await book(client, alice.token, service_id, at(10), key="k-1")
    for changed in (
        {"startsAt": at(12)},
        {"endsAt": at(10.5)},
        {"serviceId": other_service},
    ):
        booking_input = {
            "serviceId": service_id,
            "startsAt": at(10),
            "idempotencyKey": "k-1",
            **changed,
        }
        body = await gql(client, CREATE_BOOKING, {"input": booking_input}, token=alice.token)
        assert codes(body) == ["BAD_USER_INPUT"], changed
        assert only_error(body)["extensions"]["field"] == "idempotencyKey"
    assert await count_bookings() == 1


async def test_keys_belong_to_their_user(
    client: httpx.AsyncClient, alice: Account, bob: Account, service_id: str
) -> None:
    mine = await book(client, alice.token, service_id, at(10), key="shared")
    theirs = await book(client, bob.token, service_id, at(12), key="shared")
    assert mine["data"]["createBooking"]["id"] != theirs["data"]["createBooking"]["id"]


async def test_a_key_may_not_be_empty_or_huge(
    client: httpx.AsyncClient, alice: Account, service_id: str
) -> None:
    for key in ("", "k" * 201):
        body = await book(client, alice.token, service_id, at(10), key=key)
        assert codes(body) == ["BAD_USER_INPUT"]
        assert only_error(body)["extensions"]["field"] == "idempotencyKey"


async def test_a_retry_after_the_service_was_deactivated_still_returns_the_booking(
    client: httpx.AsyncClient,
    alice: Account,
    service_id: str,
    db: async_sessionmaker[AsyncSession],
) -> None:
    first = await book(client, alice.token, service_id, at(10), key="k-1")
    async with db.begin() as session:
        await session.execute(update(Service).values(is_active=False))
    again = await book(client, alice.token, service_id, at(10), key="k-1")
    assert again["data"]["createBooking"]["id"] == first["data"]["createBooking"]["id"]


async def test_twenty_parallel_retries_make_one_booking(
    client: httpx.AsyncClient,
    alice: Account,
    service_id: str,
    count_bookings: CountBookings,
) -> None:
    # when the same request with one key arrives 20 times at once
    bodies = await asyncio.gather(
        *(book(client, alice.token, service_id, at(10), key="k-20") for _ in range(20))
    )

    # then all get the one booking that exists
    assert all("errors" not in body for body in bodies), bodies
    assert len({body["data"]["createBooking"]["id"] for body in bodies}) == 1
    assert await count_bookings() == 1
