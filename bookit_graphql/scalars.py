"""The contract's scalars: DateTime (offset required, UTC out), Decimal money, Date and
LocalTime (a service's local calendar), ids."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, NewType

import strawberry

from bookit_graphql.errors import BadUserInput


def _parse_datetime(value: Any) -> datetime:
    if not isinstance(value, str):
        raise BadUserInput("A DateTime is an ISO 8601 string with a UTC offset.")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as error:
        raise BadUserInput(f"{value!r} is not an ISO 8601 date and time.") from error
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise BadUserInput(f"{value!r} has no UTC offset (for example +00:00).")
    return parsed


def _serialize_datetime(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def datetime_sql(expression: str) -> str:
    """_serialize_datetime in SQL, of a timestamptz: isoformat() in UTC (microseconds if any)."""
    utc = f"({expression} AT TIME ZONE 'UTC')"
    return (
        f"(to_char({utc}, CASE WHEN date_trunc('second', {expression}) = {expression} "
        "THEN 'YYYY-MM-DD\"T\"HH24:MI:SS' ELSE 'YYYY-MM-DD\"T\"HH24:MI:SS.US' END) "
        "|| '+00:00')"
    )


DateTime = strawberry.scalar(
    name="DateTime",
    description="ISO 8601 date and time with a UTC offset; always UTC on output.",
    serialize=_serialize_datetime,
    parse_value=_parse_datetime,
)

MAX_MONEY = Decimal("99999999.99")


def _parse_decimal(value: Any) -> Decimal:
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise BadUserInput('Money is a string such as "49.90".')
    try:
        amount = Decimal(str(value))
    except InvalidOperation as error:
        raise BadUserInput(f"{value!r} is not a decimal number.") from error
    if not amount.is_finite() or amount < 0 or amount > MAX_MONEY:
        raise BadUserInput(f"Money is between 0 and {MAX_MONEY}.")
    if amount != amount.quantize(Decimal("0.01")):
        raise BadUserInput("Money has at most two decimals.")
    return amount.quantize(Decimal("0.01"))


def _serialize_money(value: Any) -> str:
    return f"{Decimal(value):.2f}"


def money_sql(expression: str) -> str:
    """_serialize_money in SQL: the amount as text with two decimals."""
    return f"round(({expression})::numeric, 2)::text"


Money = strawberry.scalar(
    name="Decimal",
    description='Money as a string with two decimals, for example "49.90"; never negative.',
    serialize=_serialize_money,
    parse_value=_parse_decimal,
)


def _parse_date(value: Any) -> date:
    if not isinstance(value, str):
        raise BadUserInput('A Date is a string such as "2027-03-28".')
    try:
        if len(value) != 10:
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError as error:
        raise BadUserInput(f"{value!r} is not a date such as 2027-03-28.") from error


def _serialize_date(value: date | str) -> str:
    return value if isinstance(value, str) else value.isoformat()


def date_sql(expression: str) -> str:
    """_serialize_date in SQL, of a date."""
    return f"to_char({expression}, 'YYYY-MM-DD')"


Date = strawberry.scalar(
    name="Date",
    description='A calendar date, local to a service\'s time zone: "2027-03-28".',
    serialize=_serialize_date,
    parse_value=_parse_date,
)

# "HH:MM", as catalog.schedule reads it; its rules say where "24:00" may be.
LocalTime = NewType("LocalTime", str)

LocalTimeScalar = strawberry.scalar(
    name="LocalTime",
    description='Wall-clock time in a service\'s time zone, "HH:MM" from "00:00" to "24:00" '
    '("24:00" only as a closing time).',
    serialize=lambda value: _parse_local_time(value),
    parse_value=lambda value: _parse_local_time(value),
)


def _parse_local_time(value: Any) -> str:
    if not isinstance(value, str):
        raise BadUserInput('A LocalTime is a string such as "09:00".')
    hours, sep, minutes = value.partition(":")
    if not (
        sep
        and len(hours) == len(minutes) == 2
        and (hours + minutes).isdigit()
        and int(minutes) < 60
        and (int(hours) < 24 or value == "24:00")
    ):
        raise BadUserInput(f"{value!r} is not a local time from 00:00 to 24:00.")
    return value


def local_time_sql(expression: str) -> str:
    """The LocalTime of a `time` column in SQL."""
    return f"to_char({expression}, 'HH24:MI')"


SCALAR_MAP: dict[object, Any] = {
    datetime: DateTime,
    Decimal: Money,
    date: Date,
    LocalTime: LocalTimeScalar,
}


def id_sql(expression: str) -> str:
    """An ID is a string in JSON whatever its column (a UUID, or a bigint event id)."""
    return f"({expression})::text"


# How the compiled reads (compiled.py) write each scalar whose JSON is not
# PostgreSQL's own, by GraphQL name: beside each scalar's Python serializer.
SQL_FORMATS = {
    "DateTime": datetime_sql,
    "Decimal": money_sql,
    "Date": date_sql,
    "LocalTime": local_time_sql,
    "ID": id_sql,
}


def float_json(expression: str) -> str:
    """The JSON text of a Float, of a numeric expression, as orjson writes a Python float
    (`4.5`, `4.0`: PostgreSQL would write `4.50` or `4`), or NULL. Plain decimals
    only, which orjson writes for magnitudes from 1e-4 up to 1e16 (ratings, here).

    trim_scale drops the trailing zeros, and adding 0.0 gives a whole number its one
    decimal (a sum has the larger scale of the two): the expression is computed once.
    """
    return f"(trim_scale(({expression})::numeric) + 0.0)::text"


# Scalars whose JSON text the compiled reads write themselves (not strings), by name.
JSON_FORMATS = {"Float": float_json}

# The scalars of SQL_FORMATS whose text holds nothing that JSON escapes (digits,
# dashes, colons, dots, letters): the compiled reads quote it as it is, which is
# what to_json writes without its scan of every character. An ID's text depends
# on its column (compiled.py quotes the IDs of uuid and integer columns).
UNESCAPED_FORMATS = frozenset({"DateTime", "Decimal", "Date", "LocalTime"})


def parse_id(value: str) -> uuid.UUID | None:
    """The UUID behind an opaque ID, or None when it cannot name anything."""
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return None
