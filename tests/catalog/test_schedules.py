"""A service's booking rules, sent as the contract's own documents (schedules.graphql):
set and read back, refused when malformed, and obeyed by availableSlots and the bookings."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select

from bookit_graphql.bookings import models
from tests.bookings.support import CREATE_BOOKING, RESCHEDULE_BOOKING
from tests.catalog.helpers import create_service
from tests.helpers import Account, codes

SCHEDULES = (Path(__file__).parent.parent / "contract" / "schedules.graphql").read_text()
BERLIN = ZoneInfo("Europe/Berlin")
WEEKDAYS = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]


async def send(
    client: httpx.AsyncClient, operation: str, token: str | None = None, **variables: Any
) -> dict[str, Any]:
    """The body of the contract's `operation`, sent as clients send it."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.post(
        "/graphql",
        json={"query": SCHEDULES, "operationName": operation, "variables": variables},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def set_rules(
    client: httpx.AsyncClient, admin: Account, service_id: str, **rules: Any
) -> dict[str, Any]:
    body = await send(client, "SetServiceRules", admin.token, id=service_id, input=rules)
    assert "errors" not in body, body
    found: dict[str, Any] = body["data"]["setServiceRules"]
    return found


def next_weekday(weekday: int, *, after_days: int = 2) -> date:
    """The first date on `weekday` (0 is Monday) at least `after_days` from today in UTC."""
    day = datetime.now(UTC).date() + timedelta(days=after_days)
    return day + timedelta(days=(weekday - day.weekday()) % 7)


def berlin(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BERLIN)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


async def book(
    client: httpx.AsyncClient, who: Account, service_id: str, starts: datetime, **extra: Any
) -> dict[str, Any]:
    given = {"serviceId": service_id, "startsAt": iso(starts), **extra}
    return await _post(client, CREATE_BOOKING, {"input": given}, who)


async def _post(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any], who: Account
) -> dict[str, Any]:
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {who.token}"},
    )
    body: dict[str, Any] = response.json()
    return body


SALON = {
    "timeZone": "Europe/Berlin",
    "weeklyHours": [
        {"day": day, "opens": opens, "closes": closes}
        for day in WEEKDAYS[1:6]
        for opens, closes in (("09:00", "12:30"), ("13:30", "18:00"))
    ],
    "bufferBeforeMinutes": 10,
    "bufferAfterMinutes": 15,
    "minNoticeMinutes": 120,
    "maxAdvanceDays": 60,
    "capacity": 1,
}


# ------------------------------------------------------------------ the rules


async def test_a_new_service_is_open_around_the_clock_in_utc(
    client: httpx.AsyncClient, admin: Account, reads: str
) -> None:
    service = await create_service(client, admin)
    body = await send(client, "ServiceRules", id=service["id"])
    assert body["data"]["service"] == {
        "id": service["id"],
        "durationMinutes": 60,
        "timeZone": "UTC",
        "weeklyHours": [],
        "closures": [],
        "bufferBeforeMinutes": 0,
        "bufferAfterMinutes": 0,
        "minNoticeMinutes": 0,
        "maxAdvanceDays": 365,
        "capacity": 1,
    }


async def test_rules_are_set_read_back_and_omitted_ones_stay(
    client: httpx.AsyncClient, admin: Account, reads: str
) -> None:
    # given a salon's rules, the hours given out of order
    service = await create_service(client, admin)
    rules = {**SALON, "weeklyHours": list(reversed(SALON["weeklyHours"]))}
    # when they are set
    set_ = await set_rules(client, admin, service["id"], **rules)
    # then they read back sorted by day and time, the same through the mutation and a query
    expected = {**SALON, "id": service["id"], "closures": []}
    assert set_ == expected
    read = (await send(client, "ServiceRules", id=service["id"]))["data"]["service"]
    assert read == {**expected, "durationMinutes": 60}
    # and a later change of one rule leaves the others as they are
    changed = await set_rules(client, admin, service["id"], capacity=12)
    assert changed == {**expected, "capacity": 12}
    # and [] opens it around the clock again
    assert (await set_rules(client, admin, service["id"], weeklyHours=[]))["weeklyHours"] == []


async def test_closures_are_added_replaced_and_removed_by_date(
    client: httpx.AsyncClient, admin: Account, reads: str
) -> None:
    service = await create_service(client, admin)
    for day, reason in (("2027-12-25", "Christmas"), ("2027-01-01", None)):
        body = await send(
            client, "AddClosure", admin.token, serviceId=service["id"], date=day, reason=reason
        )
        assert "errors" not in body, body
    again = await send(
        client, "AddClosure", admin.token, serviceId=service["id"], date="2027-12-25", reason="X"
    )
    assert again["data"]["addClosure"]["closures"] == [
        {"date": "2027-01-01", "reason": None},
        {"date": "2027-12-25", "reason": "X"},
    ]
    read = await send(client, "ServiceRules", id=service["id"])
    assert read["data"]["service"]["closures"] == again["data"]["addClosure"]["closures"]
    removed = await send(
        client, "RemoveClosure", admin.token, serviceId=service["id"], date="2027-01-01"
    )
    assert removed["data"]["removeClosure"]["closures"] == [{"date": "2027-12-25", "reason": "X"}]
    # removing a day that is not closed changes nothing
    twice = await send(
        client, "RemoveClosure", admin.token, serviceId=service["id"], date="2027-01-01"
    )
    assert twice["data"]["removeClosure"]["closures"] == [{"date": "2027-12-25", "reason": "X"}]


@pytest.mark.parametrize(
    ("rules", "field"),
    [
        ({"timeZone": "Mars/Olympus_Mons"}, "timeZone"),
        ({"timeZone": "../../etc/passwd"}, "timeZone"),
        ({"timeZone": None}, "timeZone"),
        ({"weeklyHours": [{"day": "MONDAY", "opens": "10:00", "closes": "09:00"}]}, "weeklyHours"),
        ({"weeklyHours": [{"day": "MONDAY", "opens": "10:00", "closes": "10:00"}]}, "weeklyHours"),
        ({"weeklyHours": [{"day": "MONDAY", "opens": "24:00", "closes": "24:00"}]}, "weeklyHours"),
        (
            {
                "weeklyHours": [
                    {"day": "MONDAY", "opens": "09:00", "closes": "12:00"},
                    {"day": "MONDAY", "opens": "11:30", "closes": "13:00"},
                ]
            },
            "weeklyHours",
        ),
        ({"weeklyHours": None}, "weeklyHours"),
        ({"bufferBeforeMinutes": -1}, "bufferBeforeMinutes"),
        ({"bufferAfterMinutes": 241}, "bufferAfterMinutes"),
        ({"minNoticeMinutes": 43_201}, "minNoticeMinutes"),
        ({"maxAdvanceDays": 0}, "maxAdvanceDays"),
        ({"maxAdvanceDays": 1_096}, "maxAdvanceDays"),
        ({"capacity": 0}, "capacity"),
        ({"capacity": 1_001}, "capacity"),
        ({"capacity": None}, "capacity"),
    ],
)
async def test_malformed_rules_are_bad_input_naming_the_field(
    client: httpx.AsyncClient, admin: Account, rules: dict[str, Any], field: str
) -> None:
    service = await create_service(client, admin)
    body = await send(client, "SetServiceRules", admin.token, id=service["id"], input=rules)
    assert codes(body) == ["BAD_USER_INPUT"], body
    assert body["errors"][0]["extensions"]["field"] == field
    # and nothing changed
    read = await send(client, "ServiceRules", id=service["id"])
    assert read["data"]["service"]["timeZone"] == "UTC"
    assert read["data"]["service"]["weeklyHours"] == []


@pytest.mark.parametrize("value", ["9:00", "25:00", "12:60", "24:01", "noon", ""])
async def test_a_malformed_local_time_is_bad_input(
    client: httpx.AsyncClient, admin: Account, value: str
) -> None:
    service = await create_service(client, admin)
    rules = {"weeklyHours": [{"day": "MONDAY", "opens": value, "closes": "23:00"}]}
    body = await send(client, "SetServiceRules", admin.token, id=service["id"], input=rules)
    assert codes(body) == ["BAD_USER_INPUT"], body


async def test_limits_of_the_rules_are_allowed(client: httpx.AsyncClient, admin: Account) -> None:
    service = await create_service(client, admin)
    limits = {
        "weeklyHours": [
            {"day": "SUNDAY", "opens": "00:00", "closes": "12:00"},
            {"day": "SUNDAY", "opens": "12:00", "closes": "24:00"},
        ],
        "bufferBeforeMinutes": 240,
        "bufferAfterMinutes": 0,
        "minNoticeMinutes": 43_200,
        "maxAdvanceDays": 1_095,
        "capacity": 1_000,
    }
    found = await set_rules(client, admin, service["id"], **limits)
    assert {k: found[k] for k in limits} == limits


async def test_only_admins_set_rules(
    client: httpx.AsyncClient, admin: Account, alice: Account
) -> None:
    service = await create_service(client, admin)
    body = await send(
        client, "SetServiceRules", alice.token, id=service["id"], input={"capacity": 3}
    )
    assert codes(body) == ["FORBIDDEN"]
    closure = await send(client, "AddClosure", serviceId=service["id"], date="2027-12-25")
    assert codes(closure) == ["UNAUTHENTICATED"]
    missing = await send(
        client,
        "SetServiceRules",
        admin.token,
        id="8d5e4d4e-0000-4000-8000-000000000000",
        input={"capacity": 3},
    )
    assert codes(missing) == ["NOT_FOUND"]


# ------------------------------------------------------------------ slots and bookings


async def salon_slots(
    client: httpx.AsyncClient, service_id: str, day: date, time_zone: str | None = None
) -> list[dict[str, Any]]:
    window = {"from": iso(berlin(day, 0)), "to": iso(berlin(day + timedelta(days=1), 0))}
    body = await send(client, "Slots", id=service_id, timeZone=time_zone, **window)
    assert "errors" not in body, body
    found: list[dict[str, Any]] = body["data"]["service"]["availableSlots"]
    return found


async def test_slots_follow_the_hours_in_the_services_zone(
    client: httpx.AsyncClient, admin: Account
) -> None:
    # given a salon open 09:00-12:30 and 13:30-18:00, Berlin time, Tuesday to Saturday
    service = await create_service(client, admin, durationMinutes=60)
    await set_rules(client, admin, service["id"], **SALON)
    tuesday, monday = next_weekday(1), next_weekday(0)
    # when a Tuesday's slots are asked for
    found = await salon_slots(client, service["id"], tuesday)
    # then they start on the half hour from each opening, and end by its closing
    morning = [berlin(tuesday, 9) + timedelta(minutes=30 * n) for n in range(6)]
    afternoon = [berlin(tuesday, 13, 30) + timedelta(minutes=30 * n) for n in range(8)]
    assert [s["startsAt"] for s in found] == [iso(s) for s in morning + afternoon]
    assert found[0] == {
        "startsAt": iso(morning[0]),
        "endsAt": iso(morning[0] + timedelta(hours=1)),
        "localStart": f"{tuesday.isoformat()}T09:00",
        "seatsLeft": 1,
    }
    # and a Monday has none
    assert await salon_slots(client, service["id"], monday) == []


async def test_time_zone_changes_only_local_start(
    client: httpx.AsyncClient, admin: Account
) -> None:
    service = await create_service(client, admin)
    await set_rules(client, admin, service["id"], **SALON)
    tuesday = next_weekday(1)
    own = await salon_slots(client, service["id"], tuesday)
    tokyo = await salon_slots(client, service["id"], tuesday, "Asia/Tokyo")
    assert [(s["startsAt"], s["endsAt"], s["seatsLeft"]) for s in tokyo] == [
        (s["startsAt"], s["endsAt"], s["seatsLeft"]) for s in own
    ]
    expected = [
        datetime.fromisoformat(s["startsAt"]).astimezone(ZoneInfo("Asia/Tokyo")) for s in own
    ]
    assert [s["localStart"] for s in tokyo] == [e.strftime("%Y-%m-%dT%H:%M") for e in expected]
    body = await send(
        client,
        "Slots",
        id=service["id"],
        timeZone="Nowhere/Special",
        **{"from": iso(berlin(tuesday, 0)), "to": iso(berlin(tuesday, 23))},
    )
    assert codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["field"] == "timeZone"


async def test_a_null_step_is_the_default_step(client: httpx.AsyncClient, admin: Account) -> None:
    service = await create_service(client, admin)
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    query = """
    query($id: ID!, $from: DateTime!, $to: DateTime!) { service(id: $id) {
      availableSlots(from: $from, to: $to, stepMinutes: null) { startsAt } } }
    """
    variables = {"id": service["id"], "from": iso(start), "to": iso(start + timedelta(hours=2))}
    body = await _post(client, query, variables, admin)
    assert "errors" not in body, body
    starts = [s["startsAt"] for s in body["data"]["service"]["availableSlots"]]
    assert starts == [iso(start + timedelta(minutes=m)) for m in (0, 30, 60)]


async def test_every_offered_slot_can_be_booked_and_no_other_time_can(
    client: httpx.AsyncClient, admin: Account, alice: Account
) -> None:
    # given a salon with buffers and a 25-minute service
    service = await create_service(client, admin, durationMinutes=25)
    await set_rules(client, admin, service["id"], **SALON)
    wednesday = next_weekday(2)
    offered = await salon_slots(client, service["id"], wednesday)
    # when alice books the first offered slot
    first = datetime.fromisoformat(offered[0]["startsAt"])
    made = await book(client, alice, service["id"], first)
    assert "errors" not in made, made
    # then the next slots that its buffers (10 before, 15 after) reach are no longer offered:
    # 09:00-09:25 keeps 08:50-09:40; a 09:30 booking would keep 09:20 on
    after = await salon_slots(client, service["id"], wednesday)
    starts = [datetime.fromisoformat(s["startsAt"]) for s in after]
    assert first not in starts
    assert berlin(wednesday, 9, 30) not in starts
    assert berlin(wednesday, 10) in starts
    # and every slot still offered can be booked, one after another (no buffer overlaps)
    for slot in after[::3]:
        body = await book(client, alice, service["id"], datetime.fromisoformat(slot["startsAt"]))
        assert "errors" not in body, (slot, body)
    # and a time inside the buffer of a booking is BOOKING_CONFLICT, naming that booking
    clash = await book(client, alice, service["id"], berlin(wednesday, 9, 30))
    assert codes(clash) == ["BOOKING_CONFLICT"]
    assert clash["errors"][0]["extensions"]["conflictingRange"] == {
        "startsAt": iso(first),
        "endsAt": iso(first + timedelta(minutes=25)),
    }


@pytest.mark.parametrize(
    ("when", "reason"),
    [
        (lambda tue, mon: berlin(mon, 10), "CLOSED"),  # a closed weekday
        (lambda tue, mon: berlin(tue, 8, 30), "CLOSED"),  # before opening
        (lambda tue, mon: berlin(tue, 12), "CLOSED"),  # runs into the lunch break
        (lambda tue, mon: berlin(tue, 17, 30), "CLOSED"),  # runs past closing
        (lambda tue, mon: berlin(tue + timedelta(days=63), 10), "TOO_FAR"),
    ],
)
async def test_a_time_the_rules_refuse_is_slot_unavailable_with_its_reason(
    client: httpx.AsyncClient, admin: Account, alice: Account, when: Any, reason: str
) -> None:
    service = await create_service(client, admin, durationMinutes=60)
    await set_rules(client, admin, service["id"], **SALON)
    body = await book(client, alice, service["id"], when(next_weekday(1), next_weekday(0)))
    assert codes(body) == ["SLOT_UNAVAILABLE"], body
    assert body["errors"][0]["extensions"]["reason"] == reason


async def test_notice_closures_and_which_reason_wins(
    client: httpx.AsyncClient, admin: Account, alice: Account
) -> None:
    # given a service open around the clock with a day's notice, closed the day after tomorrow
    service = await create_service(client, admin, durationMinutes=60)
    await set_rules(client, admin, service["id"], minNoticeMinutes=1440, maxAdvanceDays=5)
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=3)
    closed_day = (datetime.now(UTC) + timedelta(days=2)).date()
    await send(client, "AddClosure", admin.token, serviceId=service["id"], date=str(closed_day))
    noon = datetime(closed_day.year, closed_day.month, closed_day.day, 12, tzinfo=UTC)
    # then: too soon; closed; closed wins over too far; too far
    assert (await book(client, alice, service["id"], soon))["errors"][0]["extensions"][
        "reason"
    ] == "TOO_SOON"
    assert (await book(client, alice, service["id"], noon))["errors"][0]["extensions"][
        "reason"
    ] == "CLOSED"
    await send(
        client,
        "AddClosure",
        admin.token,
        serviceId=service["id"],
        date=str(closed_day + timedelta(days=10)),
    )
    far_closed = noon + timedelta(days=10)
    assert (await book(client, alice, service["id"], far_closed))["errors"][0]["extensions"][
        "reason"
    ] == "CLOSED"
    far = noon + timedelta(days=8)
    assert (await book(client, alice, service["id"], far))["errors"][0]["extensions"][
        "reason"
    ] == "TOO_FAR"
    # and a booking across the closed day's midnight is closed too
    edge = noon.replace(hour=23, minute=30) - timedelta(days=1)
    assert codes(await book(client, alice, service["id"], edge)) == ["SLOT_UNAVAILABLE"]
    # and the slots of that closed day are none, the day after has some
    body = await send(
        client,
        "Slots",
        id=service["id"],
        **{"from": iso(noon - timedelta(hours=12)), "to": iso(noon + timedelta(hours=36))},
    )
    starts = [
        datetime.fromisoformat(s["startsAt"]) for s in body["data"]["service"]["availableSlots"]
    ]
    assert starts
    assert all(s.date() != closed_day for s in starts)
    assert all(
        (s + timedelta(hours=1)).date() != closed_day or s.date() != closed_day for s in starts
    )


async def test_a_reschedule_obeys_the_rules_too(
    client: httpx.AsyncClient, admin: Account, alice: Account
) -> None:
    service = await create_service(client, admin, durationMinutes=60)
    await set_rules(client, admin, service["id"], **SALON)
    tuesday = next_weekday(1)
    made = await book(client, alice, service["id"], berlin(tuesday, 10))
    booking_id = made["data"]["createBooking"]["id"]
    moved = await _post(
        client, RESCHEDULE_BOOKING, {"id": booking_id, "startsAt": iso(berlin(tuesday, 19))}, alice
    )
    assert codes(moved) == ["SLOT_UNAVAILABLE"]
    assert moved["errors"][0]["extensions"]["reason"] == "CLOSED"
    fine = await _post(
        client, RESCHEDULE_BOOKING, {"id": booking_id, "startsAt": iso(berlin(tuesday, 14))}, alice
    )
    assert "errors" not in fine, fine


async def test_changing_the_rules_never_moves_existing_bookings(
    client: httpx.AsyncClient, admin: Account, alice: Account, db: Any
) -> None:
    # given a booking 10:00-11:00 made without buffers
    service = await create_service(client, admin, durationMinutes=60)
    day = next_weekday(3)
    ten = datetime(day.year, day.month, day.day, 10, tzinfo=UTC)
    made = await book(client, alice, service["id"], ten)
    assert "errors" not in made
    # when the service gets an hour of buffer on both sides
    await set_rules(client, admin, service["id"], bufferBeforeMinutes=60, bufferAfterMinutes=60)
    # then the booking keeps the time it kept
    async with db() as session:
        row = await session.scalar(select(models.Booking))
    assert (row.busy_starts_at, row.busy_ends_at) == (ten, ten + timedelta(hours=1))
    # and a new booking keeps its own buffers clear of the old booking's time, no more
    assert codes(await book(client, alice, service["id"], ten + timedelta(hours=1))) == [
        "BOOKING_CONFLICT"
    ]
    later = await book(client, alice, service["id"], ten + timedelta(hours=2))
    assert "errors" not in later, later


async def test_seats_are_counted_and_offered(
    client: httpx.AsyncClient, admin: Account, alice: Account, bob: Account
) -> None:
    # given a class of 3 seats, around the clock
    service = await create_service(client, admin, durationMinutes=60)
    await set_rules(client, admin, service["id"], capacity=3)
    day = next_weekday(4)
    six = datetime(day.year, day.month, day.day, 18, tzinfo=UTC)
    window = {"from": iso(six), "to": iso(six + timedelta(hours=1))}
    for n, who in enumerate((alice, bob, alice)):
        body = await send(client, "Slots", id=service["id"], **window)
        assert body["data"]["service"]["availableSlots"][0]["seatsLeft"] == 3 - n
        assert "errors" not in await book(client, who, service["id"], six)
    # when it is full, the slot is not offered and a fourth booking is a conflict
    body = await send(client, "Slots", id=service["id"], **window)
    assert body["data"]["service"]["availableSlots"] == []
    assert codes(await book(client, bob, service["id"], six)) == ["BOOKING_CONFLICT"]
