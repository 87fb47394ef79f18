"""Daylight saving, proven: local hours stay and UTC moves; skipped local times are not
offered, repeated ones are offered once; and, for any zone and date, every offered slot
lies inside an opening interval in local time and outside the closures."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bookit_graphql.catalog.schedule import WEEKDAYS, Rules, _rules, exists
from tests.catalog.helpers import create_service
from tests.catalog.test_schedules import send, set_rules
from tests.helpers import Account

DAILY = [{"day": day.value, "opens": "09:00", "closes": "18:00"} for day in WEEKDAYS]
ALL_DAY = [{"day": day.value, "opens": "00:00", "closes": "24:00"} for day in WEEKDAYS]
LONG_BEFORE = datetime(2026, 12, 1, tzinfo=UTC)  # "now" for the engine's own tests


def rules(zone: str, hours: list[dict[str, str]], closures: tuple[str, ...] = ()) -> Rules:
    return _rules(
        zone,
        tuple((h["day"], h["opens"], h["closes"]) for h in hours),
        closures,
        0,
        0,
        0,
        1_095,
        1,
    )


def day_slots(r: Rules, day: date, *, step: int = 30, duration: int = 30) -> list[datetime]:
    """The slots of one local day."""
    start = datetime.combine(day, time(), tzinfo=r.tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=r.tz).astimezone(UTC)
    return r.slots(
        start,
        end,
        duration=timedelta(minutes=duration),
        step=timedelta(minutes=step),
        now=LONG_BEFORE,
    )


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# The 2027 changes (local dates) and the UTC of a 09:00 opening the day before, that day
# and the day after.
CHANGES = [
    (
        "Europe/Berlin",
        date(2027, 3, 28),
        ["2027-03-27T08:00", "2027-03-28T07:00", "2027-03-29T07:00"],
    ),
    (
        "Europe/Berlin",
        date(2027, 10, 31),
        ["2027-10-30T07:00", "2027-10-31T08:00", "2027-11-01T08:00"],
    ),
    (
        "America/New_York",
        date(2027, 3, 14),
        ["2027-03-13T14:00", "2027-03-14T13:00", "2027-03-15T13:00"],
    ),
    (
        "America/New_York",
        date(2027, 11, 7),
        ["2027-11-06T13:00", "2027-11-07T14:00", "2027-11-08T14:00"],
    ),
    (
        "Australia/Lord_Howe",
        date(2027, 4, 4),
        ["2027-04-02T22:00", "2027-04-03T22:30", "2027-04-04T22:30"],
    ),
    (
        "Australia/Lord_Howe",
        date(2027, 10, 3),
        ["2027-10-01T22:30", "2027-10-02T22:00", "2027-10-03T22:00"],
    ),
]


@pytest.mark.parametrize(("zone", "day", "nine"), CHANGES)
def test_local_hours_stay_and_utc_moves(zone: str, day: date, nine: list[str]) -> None:
    r = rules(zone, DAILY)
    for offset, expected in zip((-1, 0, 1), nine, strict=True):
        found = day_slots(r, day + timedelta(days=offset))
        assert found[0] == utc(expected), (zone, day, offset)
        # 09:00 to 18:00 local is 18 half hours whatever the offset
        assert len(found) == 18
        assert found[-1] == found[0] + timedelta(hours=8, minutes=30)


# Around the clock on the day of a change: how many half-hour starts exist (local
# times skipped are not offered, repeated ones once), and the local starts missing.
AROUND_THE_CLOCK = [
    ("Europe/Berlin", date(2027, 3, 28), 46, {"02:00", "02:30"}),
    ("Europe/Berlin", date(2027, 10, 31), 48, set()),
    ("America/New_York", date(2027, 3, 14), 46, {"02:00", "02:30"}),
    ("America/New_York", date(2027, 11, 7), 48, set()),
    ("Australia/Lord_Howe", date(2027, 10, 3), 47, {"02:00"}),
    ("Australia/Lord_Howe", date(2027, 4, 4), 48, set()),
]


@pytest.mark.parametrize(("zone", "day", "count", "missing"), AROUND_THE_CLOCK)
def test_skipped_local_times_are_not_offered_and_repeated_ones_once(
    zone: str, day: date, count: int, missing: set[str]
) -> None:
    r = rules(zone, ALL_DAY)
    found = day_slots(r, day)
    local = [s.astimezone(r.tz).strftime("%H:%M") for s in found]
    assert len(found) == count
    assert len(set(local)) == len(local)  # a repeated local time is offered once
    every = {f"{m // 60:02d}:{m % 60:02d}" for m in range(0, 1440, 30)}
    assert every - set(local) == missing
    # the repeated one is its first occurrence: the starts keep absolute order
    assert found == sorted(found)


def test_a_booking_across_a_change_is_judged_in_absolute_time() -> None:
    # Berlin, 28 March 2027: 01:30 to 03:30 local is one hour of absolute time
    r = rules("Europe/Berlin", [{"day": "SUNDAY", "opens": "01:00", "closes": "04:00"}])
    starts = datetime(2027, 3, 28, 1, 30, tzinfo=r.tz).astimezone(UTC)
    assert r.refusal(starts, starts + timedelta(hours=1), now=LONG_BEFORE) is None
    # 01:00 to 04:00 local that night is two hours: a 2.5-hour booking does not fit
    assert r.refusal(starts, starts + timedelta(hours=2), now=LONG_BEFORE) == "CLOSED"


zones = st.sampled_from(sorted(zoneinfo.available_timezones()))
minutes = st.integers(min_value=0, max_value=47).map(lambda n: n * 30)
intervals = st.tuples(st.integers(0, 6), minutes, st.integers(1, 20).map(lambda n: n * 30))


@settings(max_examples=150, deadline=None)
@given(
    zone=zones,
    first=st.dates(min_value=date(1990, 1, 1), max_value=date(2037, 12, 1)),
    wanted=st.lists(intervals, min_size=1, max_size=6),
    closed=st.sets(st.integers(0, 9), max_size=3),
    step=st.sampled_from([5, 15, 30, 45, 60]),
    duration=st.sampled_from([5, 30, 60, 90]),
)
def test_every_offered_slot_is_inside_an_opening_in_local_time_and_outside_closures(
    zone: str,
    first: date,
    wanted: list[tuple[int, int, int]],
    closed: set[int],
    step: int,
    duration: int,
) -> None:
    # given some weekly hours (overlapping ones dropped) and closures in a 10-day window
    hours: list[tuple[int, int, int]] = []
    for day, opens, length in sorted(wanted):
        closes = min(opens + length, 1440)
        if all(d != day or closes <= o or opens >= c for d, o, c in hours):
            hours.append((day, opens, closes))
    as_json = [
        {"day": WEEKDAYS[d].value, "opens": f"{o // 60:02d}:{o % 60:02d}",
         "closes": f"{c // 60:02d}:{c % 60:02d}"}
        for d, o, c in hours
    ]  # fmt: skip
    closures = tuple(str(first + timedelta(days=n)) for n in sorted(closed))
    r = rules(zone, as_json, closures)
    start = datetime.combine(first, time(), tzinfo=UTC)
    end = start + timedelta(days=10)
    now = start - timedelta(days=1)
    # when the slots are proposed
    found = r.slots(
        start, end, duration=timedelta(minutes=duration), step=timedelta(minutes=step), now=now
    )
    # then each starts at an existing local time inside one interval of its local day,
    # that day is not closed, the booking ends by the interval's end, and the rules take it
    assert found == sorted(set(found))
    for starts in found:
        local = starts.astimezone(r.tz).replace(tzinfo=None)
        assert exists(local, r.tz)
        assert str(local.date()) not in closures
        at = local.hour * 60 + local.minute
        inside = [(o, c) for d, o, c in hours if d == local.weekday() and o <= at < c]
        assert len(inside) == 1, (zone, local, hours)
        opens, closes = inside[0]
        midnight = datetime.combine(local.date(), time())
        assert (at - opens) % step == 0 or not exists(midnight + timedelta(minutes=opens), r.tz)
        end_local = starts + timedelta(minutes=duration)
        closes_at = r.openings(starts, end_local)
        assert any(o.starts <= starts and end_local <= o.ends for o in closes_at)
        assert r.refusal(starts, end_local, now=now) is None
        assert start <= starts
        assert end_local <= end


# ------------------------------------------------------------------ through the API


def next_change(zone: zoneinfo.ZoneInfo, *, forward: bool) -> date:
    """The next local date on which `zone` moves its clocks forward (or back)."""
    day = datetime.now(UTC).date() + timedelta(days=3)
    for _ in range(400):
        before = datetime.combine(day - timedelta(days=1), time(12), tzinfo=zone).utcoffset()
        after = datetime.combine(day, time(12), tzinfo=zone).utcoffset()
        assert before is not None
        assert after is not None
        if (after > before) if forward else (after < before):
            return day
        day += timedelta(days=1)
    raise AssertionError("no change within 400 days")


@pytest.mark.parametrize("forward", [True, False])
async def test_berlins_next_changes_through_the_api(
    client: httpx.AsyncClient, admin: Account, forward: bool, reads: str
) -> None:
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    service = await create_service(client, admin, durationMinutes=60)
    await set_rules(
        client,
        admin,
        service["id"],
        timeZone="Europe/Berlin",
        weeklyHours=DAILY,
        maxAdvanceDays=1095,
    )
    day = next_change(berlin, forward=forward)
    window: dict[str, Any] = {
        "from": datetime.combine(day - timedelta(days=1), time(), tzinfo=berlin).isoformat(),
        "to": datetime.combine(day + timedelta(days=2), time(), tzinfo=berlin).isoformat(),
    }
    body = await send(client, "Slots", id=service["id"], **window)
    slots = body["data"]["service"]["availableSlots"]
    firsts = {}
    for slot in slots:
        firsts.setdefault(slot["localStart"][:10], slot)
    # the first slot of each day opens at 09:00 local; in UTC an hour apart across the change
    assert [s["localStart"][11:] for s in firsts.values()] == ["09:00"] * 3
    hours = [datetime.fromisoformat(s["startsAt"]).hour for s in firsts.values()]
    assert hours == ([8, 7, 7] if forward else [7, 8, 8])
    assert len(slots) == 3 * 17  # 09:00 to 17:00 starts of an hour-long booking
