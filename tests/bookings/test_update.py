"""updateBooking and deleteBooking: reschedules, status transitions, deletion, and who may."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bookit_graphql.bookings.models import BookingStatus
from bookit_graphql.catalog.models import Service
from tests.bookings.support import (
    BOOKING,
    DELETE_BOOKING,
    RESCHEDULE_BOOKING,
    SET_BOOKING_STATUS,
    at,
    booked,
    only_error,
)
from tests.factories import Rows
from tests.helpers import Account, codes, gql

CountBookings = Callable[..., Awaitable[int]]


async def reschedule(
    client: httpx.AsyncClient,
    token: str,
    booking_id: str,
    starts_at: str,
    ends_at: str | None = None,
) -> dict[str, Any]:
    variables = {"id": booking_id, "startsAt": starts_at, "endsAt": ends_at}
    return await gql(client, RESCHEDULE_BOOKING, variables, token=token)


async def set_status(
    client: httpx.AsyncClient, token: str, booking_id: str, status: str
) -> dict[str, Any]:
    return await gql(client, SET_BOOKING_STATUS, {"id": booking_id, "status": status}, token=token)


async def test_the_owner_reschedules_and_the_end_follows_the_duration(
    client: httpx.AsyncClient, alice: Account, rows: Rows
) -> None:
    # given a 90-minute booking
    service_id = await rows.service(duration_minutes=90)
    mine = await booked(client, alice.token, service_id, at(1))

    # when Alice moves its start only, in another offset
    body = await reschedule(client, alice.token, mine["id"], at(5, offset_hours=1))

    # then the end is the new start plus the duration, in UTC
    moved = body["data"]["updateBooking"]
    assert (moved["startsAt"], moved["endsAt"]) == (at(5), at(6.5))
    assert moved["status"] == "PENDING"
    assert moved["updatedAt"] >= mine["updatedAt"]

    # and with both ends given, both are kept
    body = await reschedule(client, alice.token, mine["id"], at(7), at(7.5))
    moved = body["data"]["updateBooking"]
    assert (moved["startsAt"], moved["endsAt"]) == (at(7), at(7.5))


async def test_only_the_end_may_move(
    client: httpx.AsyncClient, alice: Account, service_id: str
) -> None:
    mine = await booked(client, alice.token, service_id, at(1))
    body = await gql(
        client,
        "mutation($id: ID!, $e: DateTime) { updateBooking(id: $id, input: {endsAt: $e}) "
        "{ startsAt endsAt } }",
        {"id": mine["id"], "e": at(3)},
        token=alice.token,
    )
    assert body["data"]["updateBooking"] == {"startsAt": at(1), "endsAt": at(3)}


async def test_a_booking_may_move_onto_its_own_time(
    client: httpx.AsyncClient, alice: Account, service_id: str
) -> None:
    mine = await booked(client, alice.token, service_id, at(1))

    same = await reschedule(client, alice.token, mine["id"], at(1))
    shifted = await reschedule(client, alice.token, mine["id"], at(1.5))

    assert same["data"]["updateBooking"]["startsAt"] == at(1)
    assert shifted["data"]["updateBooking"]["startsAt"] == at(1.5)


async def test_a_reschedule_into_busy_time_is_a_conflict_and_changes_nothing(
    client: httpx.AsyncClient, alice: Account, bob: Account, service_id: str
) -> None:
    # given Bob's booking 3-4 and Alice's 1-2
    await booked(client, bob.token, service_id, at(3))
    mine = await booked(client, alice.token, service_id, at(1))

    # when Alice tries to move hers to 2:30-3:30
    body = await reschedule(client, alice.token, mine["id"], at(2.5))

    # then she learns which time is busy, and hers stays where it was
    assert only_error(body)["extensions"] == {
        "code": "BOOKING_CONFLICT",
        "conflictingRange": {"startsAt": at(3), "endsAt": at(4)},
    }
    body = await gql(client, BOOKING, {"id": mine["id"]}, token=alice.token)
    assert body["data"]["booking"] == mine


async def seats_taken(db: async_sessionmaker[AsyncSession], starts: str, ends: str) -> int:
    """Active bookings whose busy time meets [starts, ends)."""
    async with db() as session:
        found = await session.scalar(
            text(
                "SELECT count(*) FROM bookings WHERE status <> 'CANCELLED' "
                "AND tstzrange(busy_starts_at, busy_ends_at, '[)') "
                "&& tstzrange(CAST(:starts AS timestamptz), CAST(:ends AS timestamptz), '[)')"
            ),
            {"starts": starts, "ends": ends},
        )
    return int(found or 0)


async def test_a_reschedule_into_a_full_class_is_a_conflict_and_one_with_a_seat_left_is_not(
    client: httpx.AsyncClient,
    alice: Account,
    bob: Account,
    rows: Rows,
    db: async_sessionmaker[AsyncSession],
) -> None:
    # given a class of 2 seats, full at 10:00 (Alice and Bob), and Alice's 12:00
    class_id = await rows.service(capacity=2)
    await booked(client, alice.token, class_id, at(10))
    bobs = await booked(client, bob.token, class_id, at(10))
    later = await booked(client, alice.token, class_id, at(12))

    # when Alice moves her 12:00 into the full 10:00
    body = await reschedule(client, alice.token, later["id"], at(10))

    # then it is refused, the class still has 2, and hers stays at 12:00
    assert only_error(body)["extensions"]["code"] == "BOOKING_CONFLICT"
    assert await seats_taken(db, at(10), at(11)) == 2
    body = await gql(client, BOOKING, {"id": later["id"]}, token=alice.token)
    assert body["data"]["booking"] == later

    # when Bob moves his within the class's time (10:30, still beside Alice's 10:00):
    # his own seat is not counted against him
    body = await reschedule(client, bob.token, bobs["id"], at(10.5))
    assert body["data"]["updateBooking"]["startsAt"] == at(10.5), body

    # and when Alice moves her 12:00 to 11:00, where only Bob's 10:30 keeps a seat
    body = await reschedule(client, alice.token, later["id"], at(11))
    assert body["data"]["updateBooking"]["startsAt"] == at(11), body

    # then no moment of the class holds more than its 2 seats
    assert await seats_taken(db, at(10.5), at(10.5 + 1 / 60)) == 2
    assert await seats_taken(db, at(11), at(11.5)) == 2


@pytest.mark.parametrize(
    ("starts", "ends", "field"),
    [
        (at(-24 * 8), None, "startsAt"),  # yesterday
        (at(2), at(2), "endsAt"),
        (at(2), at(1), "endsAt"),
        (at(2), at(26.5), "endsAt"),
    ],
)
async def test_a_reschedule_validates_the_times(
    client: httpx.AsyncClient,
    alice: Account,
    service_id: str,
    starts: str,
    ends: str | None,
    field: str,
) -> None:
    mine = await booked(client, alice.token, service_id, at(1))
    body = await reschedule(client, alice.token, mine["id"], starts, ends)
    assert codes(body) == ["BAD_USER_INPUT"]
    assert only_error(body)["extensions"]["field"] == field


async def test_the_owner_cancels_once(
    client: httpx.AsyncClient, alice: Account, service_id: str
) -> None:
    mine = await booked(client, alice.token, service_id, at(1))

    body = await set_status(client, alice.token, mine["id"], "CANCELLED")
    assert body["data"]["updateBooking"]["status"] == "CANCELLED"

    # a cancelled booking neither cancels again nor moves
    again = await set_status(client, alice.token, mine["id"], "CANCELLED")
    moved = await reschedule(client, alice.token, mine["id"], at(5))
    assert codes(again) == codes(moved) == ["INVALID_STATE"]


@pytest.mark.parametrize("status", ["CONFIRMED", "COMPLETED", "PENDING"])
async def test_only_an_admin_sets_other_statuses(
    client: httpx.AsyncClient, alice: Account, service_id: str, status: str
) -> None:
    mine = await booked(client, alice.token, service_id, at(1))
    body = await set_status(client, alice.token, mine["id"], status)
    assert codes(body) == ["FORBIDDEN"]


async def test_an_admin_walks_a_booking_to_completed_and_no_further(
    client: httpx.AsyncClient, alice: Account, admin: Account, service_id: str
) -> None:
    mine = await booked(client, alice.token, service_id, at(1))
    token = admin.token

    # PENDING cannot skip CONFIRMED
    assert codes(await set_status(client, token, mine["id"], "COMPLETED")) == ["INVALID_STATE"]
    confirmed = await set_status(client, token, mine["id"], "CONFIRMED")
    assert confirmed["data"]["updateBooking"]["status"] == "CONFIRMED"

    # the owner may still move a confirmed booking
    moved = await reschedule(client, alice.token, mine["id"], at(3))
    assert moved["data"]["updateBooking"]["status"] == "CONFIRMED"

    completed = await set_status(client, token, mine["id"], "COMPLETED")
    assert completed["data"]["updateBooking"]["status"] == "COMPLETED"

    # a completed booking stays completed, for the admin as for the owner
    for status in ("CANCELLED", "PENDING", "CONFIRMED", "COMPLETED"):
        assert codes(await set_status(client, token, mine["id"], status)) == ["INVALID_STATE"]
    assert codes(await set_status(client, alice.token, mine["id"], "CANCELLED")) == [
        "INVALID_STATE"
    ]
    assert codes(await reschedule(client, alice.token, mine["id"], at(9))) == ["INVALID_STATE"]


@pytest.mark.parametrize("status", ["PENDING", "CONFIRMED", "COMPLETED", "CANCELLED"])
async def test_nothing_leaves_cancelled(
    client: httpx.AsyncClient,
    alice: Account,
    admin: Account,
    service_id: str,
    status: str,
) -> None:
    mine = await booked(client, alice.token, service_id, at(1))
    await set_status(client, admin.token, mine["id"], "CANCELLED")
    body = await set_status(client, admin.token, mine["id"], status)
    assert codes(body) == ["INVALID_STATE"]


async def test_an_admin_cancels_and_reschedules_anyones_booking(
    client: httpx.AsyncClient, alice: Account, admin: Account, service_id: str
) -> None:
    first = await booked(client, alice.token, service_id, at(1))
    second = await booked(client, alice.token, service_id, at(3))
    moved = await reschedule(client, admin.token, first["id"], at(5))
    cancelled = await set_status(client, admin.token, second["id"], "CANCELLED")
    assert moved["data"]["updateBooking"]["startsAt"] == at(5)
    assert cancelled["data"]["updateBooking"]["status"] == "CANCELLED"


async def test_another_users_booking_is_not_found_to_change_or_delete(
    client: httpx.AsyncClient,
    alice: Account,
    bob: Account,
    service_id: str,
    count_bookings: CountBookings,
) -> None:
    mine = await booked(client, alice.token, service_id, at(1))
    token = bob.token
    assert codes(await reschedule(client, token, mine["id"], at(5))) == ["NOT_FOUND"]
    assert codes(await set_status(client, token, mine["id"], "CANCELLED")) == ["NOT_FOUND"]
    assert codes(await gql(client, DELETE_BOOKING, {"id": mine["id"]}, token=token)) == [
        "NOT_FOUND"
    ]
    for unknown in ("8d5e4d4e-0000-4000-8000-000000000000", "nope"):
        assert codes(await set_status(client, token, unknown, "CANCELLED")) == ["NOT_FOUND"]
    body = await gql(client, BOOKING, {"id": mine["id"]}, token=alice.token)
    assert body["data"]["booking"] == mine
    assert await count_bookings() == 1


async def test_changes_need_authentication(
    client: httpx.AsyncClient, alice: Account, service_id: str
) -> None:
    mine = await booked(client, alice.token, service_id, at(1))
    assert codes(await set_status(client, "", mine["id"], "CANCELLED")) == ["UNAUTHENTICATED"]
    assert codes(await gql(client, DELETE_BOOKING, {"id": mine["id"]})) == ["UNAUTHENTICATED"]


async def test_a_booking_of_a_deactivated_service_can_be_cancelled_but_not_moved(
    client: httpx.AsyncClient,
    alice: Account,
    service_id: str,
    db: async_sessionmaker[AsyncSession],
) -> None:
    mine = await booked(client, alice.token, service_id, at(1))
    async with db.begin() as session:
        await session.execute(update(Service).values(is_active=False))
    assert codes(await reschedule(client, alice.token, mine["id"], at(5))) == ["INVALID_STATE"]
    body = await set_status(client, alice.token, mine["id"], "CANCELLED")
    assert body["data"]["updateBooking"]["status"] == "CANCELLED"


async def test_the_owner_deletes_a_booking_before_it_starts(
    client: httpx.AsyncClient,
    alice: Account,
    service_id: str,
    count_bookings: CountBookings,
) -> None:
    mine = await booked(client, alice.token, service_id, at(1))
    body = await gql(client, DELETE_BOOKING, {"id": mine["id"]}, token=alice.token)
    assert body == {"data": {"deleteBooking": True}}
    assert await count_bookings() == 0
    # and then it is gone
    body = await gql(client, DELETE_BOOKING, {"id": mine["id"]}, token=alice.token)
    assert codes(body) == ["NOT_FOUND"]


async def test_a_started_booking_is_the_admins_to_delete(
    client: httpx.AsyncClient,
    alice: Account,
    admin: Account,
    service_id: str,
    rows: Rows,
    count_bookings: CountBookings,
) -> None:
    # given Alice's booking that started ten minutes ago
    now = datetime.now(UTC)
    started = await rows.booking(
        service_id=service_id,
        user_id=alice.id,
        starts_at=now - timedelta(minutes=10),
        ends_at=now + timedelta(minutes=50),
        status=BookingStatus.CONFIRMED,
    )

    # then she can neither delete it nor move its end
    body = await gql(client, DELETE_BOOKING, {"id": started}, token=alice.token)
    assert codes(body) == ["INVALID_STATE"]
    body = await gql(
        client,
        "mutation($id: ID!, $e: DateTime) { updateBooking(id: $id, input: {endsAt: $e}) { id } }",
        {"id": started, "e": at(1)},
        token=alice.token,
    )
    assert codes(body) == ["INVALID_STATE"]
    assert await count_bookings() == 1

    # while an admin deletes it
    body = await gql(client, DELETE_BOOKING, {"id": started}, token=admin.token)
    assert body["data"]["deleteBooking"] is True
    assert await count_bookings() == 0
