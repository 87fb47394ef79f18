"""The contract's scalars: DateTime (offset required, UTC out), Decimal money, ids."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

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

SCALAR_MAP: dict[object, Any] = {datetime: DateTime, Decimal: Money}


def id_sql(expression: str) -> str:
    """An ID is a string in JSON whatever its column (a UUID, or a bigint event id)."""
    return f"({expression})::text"


# How the compiled reads (compiled.py) write each scalar whose JSON is not
# PostgreSQL's own, by GraphQL name: beside each scalar's Python serializer.
SQL_FORMATS = {"DateTime": datetime_sql, "Decimal": money_sql, "ID": id_sql}


def parse_id(value: str) -> uuid.UUID | None:
    """The UUID behind an opaque ID, or None when it cannot name anything."""
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return None
