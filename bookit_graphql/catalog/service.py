"""The catalogue's rules: who sees which services, their free time, the admin's changes."""

from __future__ import annotations

import functools
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo

import psycopg.errors
from sqlalchemy import (
    ColumnElement,
    Numeric,
    Select,
    String,
    bindparam,
    cast,
    func,
    literal_column,
    select,
)
from sqlalchemy import delete as sql_delete
from sqlalchemy import update as sql_update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute
from strawberry.types.unset import UNSET, UnsetType

from bookit_graphql.catalog import schedule
from bookit_graphql.catalog.loaders import SlotQuery
from bookit_graphql.catalog.models import Service
from bookit_graphql.catalog.schedule import Rules, Weekday
from bookit_graphql.db import Reads, contains_pattern
from bookit_graphql.errors import BadUserInput, NotFound
from bookit_graphql.pagination import Listing, filtered
from bookit_graphql.permissions import Role
from bookit_graphql.users.models import User

T = TypeVar("T")

MAX_TITLE = 200
MAX_DESCRIPTION = 5000
MIN_MINUTES, MAX_MINUTES = 5, 1440  # a service's duration, and the step of the slot grid
MAX_WINDOW = timedelta(days=31)
DEFAULT_STEP_MINUTES = 30

# Spelled exactly as the expression of the trigram index ix_services_search_trgm
# (migration 0002); the planner only uses the index for an identical expression.
SEARCH_TEXT = Service.title + literal_column("' '", String) + Service.description

# The average rating, with services without reviews ranked as 0.
RATING = func.coalesce(
    cast(Service.rating_total, Numeric) / func.nullif(Service.review_count, 0), 0
)

SORT_KEYS: dict[str, ColumnElement[Any] | QueryableAttribute[Any]] = {
    "title": Service.title,
    "price": Service.price,
    "created_at": Service.created_at,
    "rating": RATING,
}

NO_SUCH_SERVICE = "No such service."

Deletion = Literal["deleted", "deactivated"]
# What PostgreSQL says when a DELETE would orphan a row that refers to it
# (bookings.service_id is ON DELETE RESTRICT: 23001; NO ACTION would be 23503).
REFERENCED = (psycopg.errors.RestrictViolation, psycopg.errors.ForeignKeyViolation)


@dataclass(frozen=True)
class Bookable:
    """An active service's booking rules, as a write judges by them, and their version.

    A write sends its verdict with `version`, and the statement refuses a verdict
    whose version is no longer the service's (bookit_rules_version, migration
    0007), so a process may keep these as long as it likes.
    """

    version: str
    rules: Rules
    duration_minutes: int


BOOKABLE = (
    "SELECT s.*, bookit_rules_version(s) AS version FROM services AS s "
    "WHERE s.id = %(id)s AND s.is_active"
)
KEPT_RULES = 10_000  # services whose rules a process keeps (the least recently used go)
_kept: OrderedDict[uuid.UUID, Bookable] = OrderedDict()


async def bookable(reads: Reads, service_id: uuid.UUID) -> Bookable | None:
    """The rules of an active service, kept by this process after the first read; None if
    no active service has this id."""
    found = _kept.get(service_id)
    if found is not None:
        _kept.move_to_end(service_id)
        return found
    row = await reads.row(BOOKABLE, {"id": service_id})
    if row is None:
        return None
    found = Bookable(row["version"], Rules.of(SimpleNamespace(**row)), row["duration_minutes"])
    _kept[service_id] = found
    if len(_kept) > KEPT_RULES:
        _kept.popitem(last=False)
    return found


def forget_bookable(service_id: uuid.UUID) -> None:
    """Read the service's rules again next time: a statement found them changed."""
    _kept.pop(service_id, None)


def is_admin(user: User | None) -> bool:
    return user is not None and user.role == Role.ADMIN


def services_filter(
    *,
    viewer: User | None,
    q: str | None = None,
    price_min: Decimal | None = None,
    price_max: Decimal | None = None,
    active: bool | None = None,
) -> dict[str, Any]:
    """The checked filters of the services the viewer may see, by column test."""
    if not is_admin(viewer):
        active = True  # only admins may see (or ask for) inactive services
    found: dict[str, Any] = {}
    if active is not None:
        found["active"] = active
    if q and q.strip():
        found["q"] = contains_pattern(q)
    if price_min is not None:
        found["price_min"] = price_min
    if price_max is not None:
        found["price_max"] = price_max
    return found


def services_listing(
    filters: dict[str, Any], *, sort: str = "created_at", descending: bool = False
) -> Listing:
    """The services that pass `filters` (from services_filter), sorted by `sort`."""
    keys = [SORT_KEYS[sort], Service.id]
    return Listing(_services_query(tuple(filters)), keys, filters, descending)


@functools.cache
def _services_query(names: tuple[str, ...]) -> Select[Any]:
    """One query object per set of filters, their values as parameters (see Listing)."""
    tests: dict[str, Callable[[Any], ColumnElement[bool]]] = {
        "active": Service.is_active.__eq__,
        "q": lambda pattern: SEARCH_TEXT.ilike(pattern, escape="\\"),
        "price_min": Service.price.__ge__,
        "price_max": Service.price.__le__,
    }
    return filtered(select(Service), tests, names)


def service_listing(*, service_id: uuid.UUID | None, viewer: User | None) -> Listing:
    """The service, if the viewer may know it: inactive ones are admins' only."""
    return Listing(_service_query(is_admin(viewer)), [Service.id], {"id": service_id})


@functools.cache
def _service_query(admin: bool) -> Select[Any]:
    query = select(Service).where(Service.id == bindparam("id"))
    return query if admin else query.where(Service.is_active)


def slot_count(arguments: Mapping[str, object]) -> int:
    """At most how many slots availableSlots lists for its arguments, unchecked: its cost.

    `from` and `to` are the request's strings, `stepMinutes` an int or None.
    """
    window = MAX_WINDOW
    start, end = arguments.get("from"), arguments.get("to")
    try:
        if isinstance(start, str) and isinstance(end, str):
            window = datetime.fromisoformat(end) - datetime.fromisoformat(start)
    except (ValueError, TypeError):  # malformed or naive: the scalar refuses it later
        window = MAX_WINDOW
    window = min(max(window, timedelta(0)), MAX_WINDOW)
    given = arguments.get("stepMinutes")
    step = given if isinstance(given, int) and given else DEFAULT_STEP_MINUTES
    step = min(max(step, MIN_MINUTES), MAX_MINUTES)
    return int(window / timedelta(minutes=step)) + 1


def slot_query(
    service: Service, *, start: datetime, end: datetime, step_minutes: int | None
) -> SlotQuery:
    """The checked key under which AvailableSlotsLoader finds the service's free slots.

    A null `step_minutes` is the default step, as an omitted one.
    """
    if step_minutes is None:
        step_minutes = DEFAULT_STEP_MINUTES
    if end <= start:
        raise BadUserInput("`to` must be after `from`.", field="to")
    if end - start > MAX_WINDOW:
        raise BadUserInput("The window is at most 31 days.", field="to")
    if not MIN_MINUTES <= step_minutes <= MAX_MINUTES:
        raise BadUserInput(
            f"`stepMinutes` is between {MIN_MINUTES} and {MAX_MINUTES}.", field="stepMinutes"
        )
    return SlotQuery(
        service_id=service.id,
        duration_minutes=service.duration_minutes,
        start=start,
        end=end,
        step_minutes=step_minutes,
        rules=Rules.of(service),
    )


def view_zone(service: Service, time_zone: str | None) -> ZoneInfo:
    """The zone in which availableSlots writes `localStart`: `time_zone`, else the service's."""
    return schedule.zone(service.time_zone if time_zone is None else time_zone)


async def set_service_rules(
    session: AsyncSession,
    *,
    service_id: uuid.UUID | None,
    time_zone: str | UnsetType | None = UNSET,
    weekly_hours: Sequence[tuple[Weekday, str, str]] | UnsetType | None = UNSET,
    buffer_before_minutes: int | UnsetType | None = UNSET,
    buffer_after_minutes: int | UnsetType | None = UNSET,
    min_notice_minutes: int | UnsetType | None = UNSET,
    max_advance_days: int | UnsetType | None = UNSET,
    capacity: int | UnsetType | None = UNSET,
) -> Service:
    """Change the given booking rules (UNSET leaves one as it is; None is refused).

    Existing bookings keep the times and buffers they were made with.
    """
    service = await _locked(session, service_id)
    if not isinstance(time_zone, UnsetType):
        service.time_zone = schedule.zone(_not_null(time_zone, "timeZone")).key
    if not isinstance(weekly_hours, UnsetType):
        service.weekly_hours = schedule.check_hours(_not_null(weekly_hours, "weeklyHours"))
    minutes = {
        "buffer_before_minutes": (buffer_before_minutes, schedule.BUFFER_RANGE),
        "buffer_after_minutes": (buffer_after_minutes, schedule.BUFFER_RANGE),
        "min_notice_minutes": (min_notice_minutes, schedule.NOTICE_RANGE),
        "max_advance_days": (max_advance_days, schedule.ADVANCE_RANGE),
        "capacity": (capacity, schedule.CAPACITY_RANGE),
    }
    for name, (value, bounds) in minutes.items():
        if not isinstance(value, UnsetType):
            field = _camel(name)
            setattr(
                service, name, schedule.check_minutes(_not_null(value, field), bounds, field=field)
            )
    await session.flush()
    return service


async def add_closure(
    session: AsyncSession, *, service_id: uuid.UUID | None, day: date, reason: str | None = None
) -> Service:
    """Close the service on the local date `day` (again: the reason is replaced)."""
    if reason is not None and len(reason) > schedule.MAX_REASON:
        raise BadUserInput(f"A reason is at most {schedule.MAX_REASON} characters.", field="reason")
    service = await _locked(session, service_id)
    kept = [c for c in service.closures if c["date"] != day.isoformat()]
    service.closures = sorted(
        [*kept, {"date": day.isoformat(), "reason": reason}], key=lambda c: str(c["date"])
    )
    await session.flush()
    return service


async def remove_closure(
    session: AsyncSession, *, service_id: uuid.UUID | None, day: date
) -> Service:
    """Open the service again on `day` (nothing happens if it was not closed then)."""
    service = await _locked(session, service_id)
    service.closures = [c for c in service.closures if c["date"] != day.isoformat()]
    await session.flush()
    return service


async def _locked(session: AsyncSession, service_id: uuid.UUID | None) -> Service:
    service = await session.get(Service, service_id, with_for_update=True) if service_id else None
    if service is None:
        raise NotFound(NO_SUCH_SERVICE)
    return service


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.title() for part in rest)


async def create_service(
    session: AsyncSession,
    *,
    title: str,
    price: Decimal,
    duration_minutes: int,
    description: str = "",
    is_active: bool = True,
) -> Service:
    service = Service(
        title=_check_title(title),
        description=_check_description(description),
        price=price,
        duration_minutes=_check_duration(duration_minutes),
        is_active=is_active,
    )
    session.add(service)
    await session.flush()
    return service


async def update_service(
    session: AsyncSession,
    *,
    service_id: uuid.UUID | None,
    title: str | UnsetType | None = UNSET,
    description: str | UnsetType | None = UNSET,
    price: Decimal | UnsetType | None = UNSET,
    duration_minutes: int | UnsetType | None = UNSET,
    is_active: bool | UnsetType | None = UNSET,
) -> Service:
    """Change the given fields (UNSET leaves one as it is; None is refused: none is nullable)."""
    service = await _locked(session, service_id)
    if not isinstance(title, UnsetType):
        service.title = _check_title(_not_null(title, "title"))
    if not isinstance(description, UnsetType):
        service.description = _check_description(_not_null(description, "description"))
    if not isinstance(price, UnsetType):
        service.price = _not_null(price, "price")
    if not isinstance(duration_minutes, UnsetType):
        service.duration_minutes = _check_duration(_not_null(duration_minutes, "durationMinutes"))
    if not isinstance(is_active, UnsetType):
        service.is_active = _not_null(is_active, "isActive")
    await session.flush()
    return service


async def delete_service(session: AsyncSession, *, service_id: uuid.UUID | None) -> Deletion:
    """Delete a service that nothing refers to; deactivate one with bookings instead.

    The row lock makes a concurrent booking wait for this transaction (its
    foreign-key check needs a share lock on the service row); a booking that
    got in first makes the DELETE fail on the foreign key, and the savepoint
    lets the transaction carry on to deactivate. Asking the database rather
    than counting bookings first also keeps any other history that refers to
    the service.
    """
    locked = None
    if service_id is not None:
        locked = await session.scalar(
            select(Service.id).where(Service.id == service_id).with_for_update()
        )
    if locked is None:
        raise NotFound(NO_SUCH_SERVICE)
    try:
        async with session.begin_nested():
            await session.execute(sql_delete(Service).where(Service.id == locked))
    except IntegrityError as error:
        if not isinstance(error.orig, REFERENCED):
            raise
        await session.execute(
            sql_update(Service).where(Service.id == locked).values(is_active=False)
        )
        return "deactivated"
    return "deleted"


def _not_null(value: T | None, field: str) -> T:
    if value is None:
        raise BadUserInput(f"`{field}` cannot be null.", field=field)
    return value


def _check_title(title: str) -> str:
    title = title.strip()
    if not 1 <= len(title) <= MAX_TITLE:
        raise BadUserInput(f"A title is 1 to {MAX_TITLE} characters.", field="title")
    return title


def _check_description(description: str) -> str:
    if len(description) > MAX_DESCRIPTION:
        raise BadUserInput(
            f"A description is at most {MAX_DESCRIPTION} characters.", field="description"
        )
    return description


def _check_duration(minutes: int) -> int:
    if not MIN_MINUTES <= minutes <= MAX_MINUTES:
        raise BadUserInput(
            f"A duration is {MIN_MINUTES} to {MAX_MINUTES} minutes.", field="durationMinutes"
        )
    return minutes
