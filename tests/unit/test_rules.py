"""The pure rules, no database: booking states and times, filters, slots, cursors, scalars."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bookit_graphql.bookings import service as bookings
from bookit_graphql.bookings.models import BookingStatus
from bookit_graphql.catalog import service as catalog
from bookit_graphql.catalog.models import Service
from bookit_graphql.db import contains_pattern
from bookit_graphql.errors import BadUserInput, Forbidden
from bookit_graphql.pagination import decode_cursor, encode_cursor
from bookit_graphql.permissions import Role
from bookit_graphql.schema import schema
from bookit_graphql.users.models import User

NOW = datetime.now(UTC)
SOON = (NOW + timedelta(days=2)).replace(microsecond=0)
ADMIN = User(id=uuid.uuid4(), role=Role.ADMIN)
ANN = User(id=uuid.uuid4(), role=Role.USER)
# hypothesis takes naive bounds, and gives aware values in the given zone
aware = st.datetimes(
    min_value=datetime(1900, 1, 1),  # noqa: DTZ001
    max_value=datetime(2200, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
)

# ---------------------------------------------------------------- booking states


def test_nothing_leaves_cancelled_or_completed_and_open_states_can_end() -> None:
    assert bookings.TRANSITIONS[BookingStatus.CANCELLED] == frozenset()
    assert bookings.TRANSITIONS[BookingStatus.COMPLETED] == frozenset()
    for state in bookings.OPEN:
        assert BookingStatus.CANCELLED in bookings.TRANSITIONS[state]
    assert set(bookings.TRANSITIONS) == set(BookingStatus)


def test_every_state_is_reachable_from_pending_and_nothing_goes_back() -> None:
    # given the admin's transitions, when walked from PENDING
    order = [BookingStatus.PENDING, BookingStatus.CONFIRMED, BookingStatus.COMPLETED]
    seen, todo = {BookingStatus.PENDING}, [BookingStatus.PENDING]
    while todo:
        for after in bookings.TRANSITIONS[todo.pop()] - seen:
            seen.add(after)
            todo.append(after)
    # then every state is reached, and no transition goes back along the way
    assert seen == set(BookingStatus)
    for before, afters in bookings.TRANSITIONS.items():
        for after in afters - {BookingStatus.CANCELLED}:
            assert order.index(after) > order.index(before)


# ---------------------------------------------------------------- booking times


def test_the_end_defaults_to_the_duration_and_must_follow_the_start() -> None:
    assert bookings._check_times(SOON, None, duration_minutes=90) == (
        SOON,
        SOON + timedelta(minutes=90),
    )
    for end, field in ((SOON, "endsAt"), (SOON + timedelta(hours=25), "endsAt")):
        with pytest.raises(BadUserInput) as refused:
            bookings._check_times(SOON, end, duration_minutes=60)
        assert refused.value.extensions["field"] == field
    with pytest.raises(BadUserInput) as past:
        bookings._check_times(NOW - timedelta(minutes=1), None, duration_minutes=60)
    assert past.value.extensions["field"] == "startsAt"


def test_a_start_at_the_end_of_time_is_bad_input_not_an_overflow() -> None:
    with pytest.raises(BadUserInput):
        bookings._check_times(datetime.max.replace(tzinfo=UTC), None, duration_minutes=60)


# ---------------------------------------------------------------- filters


def test_a_user_sees_their_own_bookings_only() -> None:
    assert bookings.bookings_filter(actor=ANN) == {"user_id": ANN.id}
    assert bookings.bookings_filter(actor=ANN, user_id=str(ANN.id)) == {"user_id": ANN.id}
    for other in (str(ADMIN.id), "not-a-uuid"):
        with pytest.raises(Forbidden):
            bookings.bookings_filter(actor=ANN, user_id=other)
    assert bookings.bookings_filter(actor=ADMIN) == {}
    assert bookings.bookings_filter(actor=ADMIN, user_id="junk") == {"user_id": None}


@given(start=aware, offset=st.integers(min_value=-14 * 60, max_value=14 * 60))
def test_filter_times_come_out_in_utc(start: datetime, offset: int) -> None:
    local = start.astimezone(timezone(timedelta(minutes=offset)))
    found = bookings.bookings_filter(actor=ADMIN, from_=local)
    assert found["from"] == start
    assert found["from"].utcoffset() == timedelta(0)


def test_a_window_ends_after_it_starts() -> None:
    with pytest.raises(BadUserInput) as refused:
        bookings.bookings_filter(actor=ADMIN, from_=SOON, to=SOON)
    assert refused.value.extensions["field"] == "to"
    found = bookings.bookings_filter(actor=ADMIN, from_=SOON, to=SOON + timedelta(seconds=1))
    assert set(found) == {"from", "to"}


def test_only_admins_see_inactive_services() -> None:
    for viewer in (None, ANN):
        assert catalog.services_filter(viewer=viewer, active=False) == {"active": True}
    assert catalog.services_filter(viewer=ADMIN) == {}
    assert catalog.services_filter(viewer=ADMIN, active=False) == {"active": False}
    assert catalog.services_filter(viewer=ADMIN, q="  ") == {}
    found = catalog.services_filter(viewer=ADMIN, q="yoga", price_min=Decimal("1"))
    assert found == {"q": "%yoga%", "price_min": Decimal("1")}


@given(st.text(max_size=200))
def test_a_search_pattern_takes_wildcards_literally(text: str) -> None:
    pattern = contains_pattern(text)
    assert pattern.startswith("%")
    assert pattern.endswith("%")
    inner = pattern[1:-1]
    # every %, _ and \ of the text is escaped: unescaping gives the stripped text back
    unescaped, i = [], 0
    while i < len(inner):
        if inner[i] == "\\":
            assert inner[i + 1] in "\\%_"
            i += 1
        else:
            assert inner[i] not in "%_"
        unescaped.append(inner[i])
        i += 1
    assert "".join(unescaped) == text.strip()


def test_a_search_is_at_most_200_characters() -> None:
    with pytest.raises(BadUserInput):
        contains_pattern("x" * 201)


# ---------------------------------------------------------------- slots


# A transient row has no column defaults yet: the rules of a new service.
NEW_RULES = {
    "time_zone": "UTC",
    "weekly_hours": [],
    "closures": [],
    "buffer_before_minutes": 0,
    "buffer_after_minutes": 0,
    "min_notice_minutes": 0,
    "max_advance_days": 365,
    "capacity": 1,
}


def test_a_slot_window_is_checked() -> None:
    service = Service(id=uuid.uuid4(), duration_minutes=45, **NEW_RULES)
    key = catalog.slot_query(service, start=SOON, end=SOON + timedelta(days=31), step_minutes=5)
    assert (key.duration_minutes, key.step_minutes) == (45, 5)
    for end, step, field in (
        (SOON, 30, "to"),
        (SOON + timedelta(days=31, seconds=1), 30, "to"),
        (SOON + timedelta(hours=1), 4, "stepMinutes"),
        (SOON + timedelta(hours=1), 1441, "stepMinutes"),
    ):
        with pytest.raises(BadUserInput) as refused:
            catalog.slot_query(service, start=SOON, end=end, step_minutes=step)
        assert refused.value.extensions["field"] == field


# ---------------------------------------------------------------- cursors

cursor_values = st.tuples(
    aware, st.uuids(), st.decimals(allow_nan=False, allow_infinity=False, places=2), st.text()
)
CURSOR_TYPES = [datetime, uuid.UUID, Decimal, str]


@given(cursor_values)
def test_a_cursor_gives_back_its_values(values: tuple[datetime, uuid.UUID, Decimal, str]) -> None:
    cursor = encode_cursor(values)
    assert "=" not in cursor
    assert decode_cursor(cursor, CURSOR_TYPES) == list(values)


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not a cursor",
        encode_cursor(["x"]),  # too few values
        encode_cursor(["2026-01-01T00:00:00", str(uuid.uuid4()), "1", "a"]),  # naive time
        encode_cursor([NOW, "not-a-uuid", "1", "a"]),
        encode_cursor([NOW, uuid.uuid4(), "one", "a"]),
        encode_cursor([NOW, uuid.uuid4(), "1", 7]),  # a number where text belongs
    ],
)
def test_a_foreign_cursor_is_bad_input_on_after(cursor: str) -> None:
    with pytest.raises(BadUserInput) as refused:
        decode_cursor(cursor, CURSOR_TYPES)
    assert refused.value.extensions["field"] == "after"


# ---------------------------------------------------------------- scalars

DATETIME = schema.get_type_by_name("DateTime")
MONEY = schema.get_type_by_name("Decimal")


@given(aware, st.integers(min_value=-14 * 60, max_value=14 * 60))
def test_a_datetime_goes_out_in_utc_and_comes_back_the_same(moment: datetime, offset: int) -> None:
    local = moment.astimezone(timezone(timedelta(minutes=offset)))
    text = DATETIME.serialize(local)
    assert text.endswith("+00:00")
    assert DATETIME.parse_value(text) == moment


@pytest.mark.parametrize("value", ["2026-12-01T09:00:00", "tomorrow", 1700000000, None])
def test_a_datetime_needs_an_offset(value: object) -> None:
    with pytest.raises(BadUserInput):
        DATETIME.parse_value(value)


@pytest.mark.parametrize(
    ("given_", "parsed"), [("49.9", Decimal("49.90")), (5, Decimal("5.00")), ("0", Decimal("0"))]
)
def test_money_has_two_decimals(given_: object, parsed: Decimal) -> None:
    assert MONEY.parse_value(given_) == parsed
    assert MONEY.serialize(parsed) == f"{parsed:.2f}"


@pytest.mark.parametrize("value", ["-1", "1.234", "abc", "NaN", "Infinity", "100000000", 1.5, True])
def test_money_refuses_what_is_not_money(value: object) -> None:
    with pytest.raises(BadUserInput):
        MONEY.parse_value(value)
