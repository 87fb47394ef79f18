"""Service.availableSlots: an absolute-time grid, booked time left out, windows checked."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from bookit_graphql.bookings.models import BookingStatus
from tests.catalog.helpers import SERVICE_AVAILABILITY, create_service
from tests.conftest import StatementCounter
from tests.factories import Rows
from tests.helpers import Account, codes, gql


def next_eu_autumn_switch() -> date:
    """The next last Sunday of October (EU clocks go back at 01:00 UTC), days ahead."""
    today = datetime.now(UTC).date()
    for year in (today.year, today.year + 1):
        october_31 = date(year, 10, 31)
        sunday = october_31 - timedelta(days=(october_31.weekday() - 6) % 7)
        if sunday > today + timedelta(days=2):
            return sunday
    raise AssertionError("unreachable")


def a_future_day() -> date:
    return datetime.now(UTC).date() + timedelta(days=10)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


async def slots(
    client: httpx.AsyncClient,
    service_id: str,
    start: str,
    end: str,
    step: int | None = None,
    token: str | None = None,
) -> list[dict[str, str]]:
    variables: dict[str, Any] = {"id": service_id, "from": start, "to": end}
    if step is not None:
        variables["stepMinutes"] = step
    body = await gql(client, SERVICE_AVAILABILITY, variables, token=token)
    assert "errors" not in body, body
    found: list[dict[str, str]] = body["data"]["service"]["availableSlots"]
    return found


async def test_the_grid_stays_even_across_a_dst_switch(
    client: httpx.AsyncClient, admin: Account
) -> None:
    # given: a window from Saturday 22:00 summer time to Sunday 04:00 winter time
    service = await create_service(client, admin, durationMinutes=60)
    sunday = next_eu_autumn_switch()
    saturday = sunday - timedelta(days=1)
    start = f"{saturday.isoformat()}T22:00:00+02:00"  # 20:00 UTC
    end = f"{sunday.isoformat()}T04:00:00+01:00"  # 03:00 UTC, seven hours later
    # when
    found = await slots(client, service["id"], start, end)
    # then: every 30 minutes of absolute time, the last one ending at `to`, all in UTC
    first = at(saturday, 20)
    expected = [first + timedelta(minutes=30 * n) for n in range(13)]
    assert found == [
        {
            "startsAt": s.isoformat(),
            "endsAt": (s + timedelta(hours=1)).isoformat(),
        }
        for s in expected
    ]
    assert found[-1]["endsAt"] == at(sunday, 3).isoformat()


async def test_booked_time_is_left_out_and_cancelled_time_is_not(
    client: httpx.AsyncClient,
    admin: Account,
    alice: Account,
    rows: Rows,
) -> None:
    # given: 09:00-14:00 with a confirmed 10-11, a cancelled 12-13, a pending 13:30-14:00
    service = await create_service(client, admin, durationMinutes=60)
    day = a_future_day()
    for starts, ends, status in [
        (at(day, 10), at(day, 11), BookingStatus.CONFIRMED),
        (at(day, 12), at(day, 13), BookingStatus.CANCELLED),
        (at(day, 13, 30), at(day, 14), BookingStatus.PENDING),
    ]:
        await rows.booking(
            service_id=service["id"],
            user_id=alice.id,
            starts_at=starts,
            ends_at=ends,
            status=status,
        )
    # when
    found = await slots(client, service["id"], at(day, 9).isoformat(), at(day, 14).isoformat())
    # then: 09:00 ends exactly as 10:00 starts; 11:00 starts exactly as it ends ('[)')
    assert [slot["startsAt"] for slot in found] == [
        at(day, 9).isoformat(),
        at(day, 11).isoformat(),
        at(day, 11, 30).isoformat(),
        at(day, 12).isoformat(),
        at(day, 12, 30).isoformat(),
    ]


async def test_another_services_bookings_do_not_matter(
    client: httpx.AsyncClient,
    admin: Account,
    alice: Account,
    rows: Rows,
) -> None:
    busy = await create_service(client, admin, title="Busy", durationMinutes=60)
    free = await create_service(client, admin, title="Free", durationMinutes=60)
    day = a_future_day()
    await rows.booking(
        service_id=busy["id"],
        user_id=alice.id,
        starts_at=at(day, 9),
        ends_at=at(day, 10),
        status=BookingStatus.CONFIRMED,
    )
    window = (at(day, 9).isoformat(), at(day, 10).isoformat())
    assert await slots(client, busy["id"], *window) == []
    assert len(await slots(client, free["id"], *window)) == 1


async def test_only_future_starts_are_offered(client: httpx.AsyncClient, admin: Account) -> None:
    # given: a window from two hours ago to two hours ahead, on a five-minute grid
    service = await create_service(client, admin, durationMinutes=5)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    start, end = now - timedelta(hours=2), now + timedelta(hours=2)
    # when
    found = await slots(client, service["id"], start.isoformat(), end.isoformat(), step=5)
    # then
    starts = [datetime.fromisoformat(slot["startsAt"]) for slot in found]
    assert starts
    assert all(s > now - timedelta(seconds=1) for s in starts)
    assert starts[-1] == end - timedelta(minutes=5)


async def test_step_and_duration_shape_the_grid(client: httpx.AsyncClient, admin: Account) -> None:
    service = await create_service(client, admin, durationMinutes=90)
    day = a_future_day()
    found = await slots(
        client, service["id"], at(day, 9).isoformat(), at(day, 12).isoformat(), step=45
    )
    assert found == [
        {"startsAt": at(day, 9).isoformat(), "endsAt": at(day, 10, 30).isoformat()},
        {"startsAt": at(day, 9, 45).isoformat(), "endsAt": at(day, 11, 15).isoformat()},
        {"startsAt": at(day, 10, 30).isoformat(), "endsAt": at(day, 12).isoformat()},
    ]
    # a window shorter than the service has no slot
    short = await slots(client, service["id"], at(day, 9).isoformat(), at(day, 10).isoformat())
    assert short == []


@pytest.mark.parametrize(
    ("end_after_start", "step", "field"),
    [
        (timedelta(0), 30, "to"),
        (timedelta(hours=-1), 30, "to"),
        (timedelta(days=31, minutes=1), 30, "to"),
        (timedelta(hours=1), 4, "stepMinutes"),
        (timedelta(hours=1), 1441, "stepMinutes"),
        (timedelta(hours=1), -30, "stepMinutes"),
    ],
)
async def test_bad_windows_are_bad_input(
    client: httpx.AsyncClient, admin: Account, end_after_start: timedelta, step: int, field: str
) -> None:
    service = await create_service(client, admin)
    start = at(a_future_day(), 9)
    variables = {
        "id": service["id"],
        "from": start.isoformat(),
        "to": (start + end_after_start).isoformat(),
        "stepMinutes": step,
    }
    body = await gql(client, SERVICE_AVAILABILITY, variables)
    assert codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["field"] == field


async def test_the_limits_themselves_are_allowed(client: httpx.AsyncClient, admin: Account) -> None:
    service = await create_service(client, admin, durationMinutes=1440)
    start = at(a_future_day(), 0)
    month = (start + timedelta(days=31)).isoformat()
    assert len(await slots(client, service["id"], start.isoformat(), month, step=1440)) == 31
    hour = (start + timedelta(hours=1)).isoformat()
    assert await slots(client, service["id"], start.isoformat(), hour, step=5) == []


async def test_a_datetime_without_offset_is_bad_input(
    client: httpx.AsyncClient, admin: Account
) -> None:
    service = await create_service(client, admin)
    variables = {"id": service["id"], "from": "2030-01-01T09:00:00", "to": "2030-01-01T10:00Z"}
    assert codes(await gql(client, SERVICE_AVAILABILITY, variables)) == ["BAD_USER_INPUT"]


async def test_an_inactive_services_slots_are_not_found_to_users(
    client: httpx.AsyncClient, admin: Account, alice: Account
) -> None:
    service = await create_service(client, admin, isActive=False)
    day = a_future_day()
    variables = {"id": service["id"], "from": at(day, 9).isoformat(), "to": at(day, 10).isoformat()}
    as_user = await gql(client, SERVICE_AVAILABILITY, variables, token=alice.token)
    assert codes(as_user) == ["NOT_FOUND"]
    as_admin = await gql(client, SERVICE_AVAILABILITY, variables, token=admin.token)
    assert len(as_admin["data"]["service"]["availableSlots"]) == 1


SLOTS_OF_A_PAGE = """
query SlotsOfAPage($from: DateTime!, $to: DateTime!) {
  services(first: 50) {
    edges { node { id availableSlots(from: $from, to: $to, stepMinutes: 60) { startsAt } } }
  }
}
"""


async def test_a_page_of_services_gets_its_slots_in_one_statement(
    client: httpx.AsyncClient,
    admin: Account,
    alice: Account,
    rows: Rows,
    statements: StatementCounter,
) -> None:
    # given: 12 services, the first one booked 09-10
    services = [await create_service(client, admin, title=f"S{n}") for n in range(12)]
    day = a_future_day()
    await rows.booking(
        service_id=services[0]["id"],
        user_id=alice.id,
        starts_at=at(day, 9),
        ends_at=at(day, 10),
        status=BookingStatus.CONFIRMED,
    )
    statements.clear()
    # when
    variables = {"from": at(day, 9).isoformat(), "to": at(day, 12).isoformat()}
    body = await gql(client, SLOTS_OF_A_PAGE, variables)
    # then: the page, and one statement for every service's slots
    assert statements.count == 2, statements.statements
    nodes = {edge["node"]["id"]: edge["node"] for edge in body["data"]["services"]["edges"]}
    assert len(nodes) == 12
    assert len(nodes[services[0]["id"]]["availableSlots"]) == 2
    assert all(len(nodes[s["id"]]["availableSlots"]) == 3 for s in services[1:])


SLOTS_OF_A_WEEK = """
query SlotsOfAWeek($from: DateTime!, $to: DateTime!) {
  services(first: 50) {
    edges { node { id availableSlots(from: $from, to: $to, stepMinutes: 60) { startsAt } } }
  }
}
"""


async def test_a_week_of_slots_of_fifty_services_takes_two_statements(
    client: httpx.AsyncClient,
    admin: Account,
    alice: Account,
    rows: Rows,
    statements: StatementCounter,
) -> None:
    # given 50 services with hours in three zones, buffers and seats, some of them booked
    hours = [
        {"day": day, "opens": opens, "closes": closes}
        for day in ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY")
        for opens, closes in (("09:00", "12:00"), ("13:00", "17:30"))
    ]
    zones = ["Europe/Berlin", "America/New_York", "UTC"]
    ids = await rows.services(
        *(
            {
                "title": f"S{n}",
                "time_zone": zones[n % 3],
                "weekly_hours": hours,
                "capacity": 1 + n % 4,
                "buffer_after_minutes": 15 * (n % 2),
            }
            for n in range(50)
        )
    )
    day = a_future_day()
    for service_id in ids[:10]:
        for hour in (14, 15, 16):
            await rows.booking(
                service_id=service_id,
                user_id=alice.id,
                starts_at=at(day, hour),
                status=BookingStatus.CONFIRMED,
            )
    statements.clear()
    # when a week of every service's slots is asked for
    variables = {"from": at(day, 0).isoformat(), "to": at(day + timedelta(days=7), 0).isoformat()}
    body = await gql(client, SLOTS_OF_A_WEEK, variables)
    # then: the page, and one statement for every service's slots
    assert "errors" not in body, body
    assert statements.count == 2, statements.statements
    nodes = [edge["node"] for edge in body["data"]["services"]["edges"]]
    assert len(nodes) == 50
    # five days of 3 + 4 hourly starts, less what is booked
    assert all(20 <= len(node["availableSlots"]) <= 35 for node in nodes)
