"""The one-statement writes against the ORM path they replaced (tests/bookings/legacy.py).

Each scenario runs twice, each time on a world of its own built the same way
(users, services with rules, bookings, a review): once through today's ORM
functions in a transaction, once through the SQL functions on the psycopg
pool. What each call answered (the row, or the error's class, message and
extensions, from which errors.py makes the GraphQL error and HTTP status) and
what the database holds afterwards (the world's bookings, their events with
type and snapshot, reviews) must be the same, ids and times normalised.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bookit_graphql import sql
from bookit_graphql.bookings import service as bookings
from bookit_graphql.bookings.models import BookingStatus
from bookit_graphql.db import Reads, in_transaction
from bookit_graphql.errors import BookItError
from bookit_graphql.reviews import service as reviews
from bookit_graphql.users.models import User
from tests.bookings import legacy
from tests.bookings.support import BASE
from tests.factories import Rows

BERLIN_HOURS = [
    {"day": day, "opens": "09:00", "closes": "17:00"}
    for day in ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
]
# A booking that started half an hour before the run (the same in every world).
STARTED = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=30)
# Columns whose value is the writing transaction's now(): equal in kind, not in value.
NOW_COLUMNS = {"created_at", "updated_at", "occurred_at"}


@dataclass
class World:
    """What a scenario stands on; `ids` by label, so that two worlds compare."""

    ids: dict[str, str] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)

    def id(self, label: str) -> uuid.UUID:
        return uuid.UUID(self.ids[label])


async def build(rows: Rows, db: async_sessionmaker[AsyncSession]) -> World:
    world = World()
    ids = world.ids
    ids["alice"] = await rows.user(full_name="Alice")
    ids["bob"] = await rows.user(full_name="Bob")
    ids["admin"] = await rows.user(role="ADMIN", full_name="Admin")
    ids["one"] = await rows.service(title="One seat", buffer_after_minutes=15)
    ids["class"] = await rows.service(title="Class", capacity=2)
    ids["hours"] = await rows.service(
        title="Hours", time_zone="Europe/Berlin", weekly_hours=BERLIN_HOURS
    )
    ids["notice"] = await rows.service(title="Notice", min_notice_minutes=120, max_advance_days=30)
    ids["gone"] = await rows.service(title="Gone", is_active=False)
    hour = timedelta(hours=1)

    async def booking(label: str, service: str, user: str, **fields: Any) -> None:
        ids[label] = await rows.booking(service_id=ids[service], user_id=ids[user], **fields)

    await booking(
        "held",
        "one",
        "bob",
        starts_at=BASE + 10 * hour,
        status=BookingStatus.PENDING,
        busy_ends_at=BASE + 11 * hour + timedelta(minutes=15),
    )
    for seat in ("seat1", "seat2"):
        await booking(
            seat,
            "class",
            "bob",
            starts_at=BASE + 20 * hour,
            status=BookingStatus.PENDING,
            exclusive=False,
        )
    await booking(
        "mine",
        "one",
        "alice",
        starts_at=BASE + 30 * hour,
        status=BookingStatus.PENDING,
        busy_ends_at=BASE + 31 * hour + timedelta(minutes=15),
    )
    await booking(
        "confirmed", "one", "alice", starts_at=BASE + 50 * hour, status=BookingStatus.CONFIRMED
    )
    await booking(
        "cancelled", "one", "alice", starts_at=BASE + 40 * hour, status=BookingStatus.CANCELLED
    )
    await booking("started", "one", "alice", starts_at=STARTED, status=BookingStatus.CONFIRMED)
    for n, (label, user) in enumerate(
        (("done", "alice"), ("bobs_done", "bob"), ("reviewed", "alice"))
    ):
        await booking(label, "one", user, starts_at=BASE - (30 * 24 + n) * hour)  # COMPLETED
    ids["review"] = await rows.review(
        user_id=ids["alice"], service_id=ids["one"], booking_id=ids["reviewed"]
    )
    async with db() as session:
        for name in ("alice", "bob", "admin"):
            world.users[name] = await session.get_one(User, world.id(name))
    return world


class Legacy:
    """Today's ORM functions, each in a transaction as its mutation ran it."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self.session_factory = session_factory

    async def create(self, actor: User, **kw: Any) -> Any:
        return await in_transaction(
            self.session_factory, lambda s: legacy.create_booking(s, actor=actor, **kw)
        )

    async def update(self, actor: User, **kw: Any) -> Any:
        return await in_transaction(
            self.session_factory, lambda s: legacy.update_booking(s, actor=actor, **kw)
        )

    async def review(self, actor: User, **kw: Any) -> Any:
        async with self.session_factory.begin() as session:
            return await legacy.create_review(session, actor=actor, **kw)


class OneStatement:
    """The package's functions on the psycopg pool."""

    def __init__(self, reads: Reads) -> None:
        self.reads = reads

    async def create(self, actor: User, **kw: Any) -> Any:
        return await bookings.create_booking(self.reads, actor=actor, **kw)

    async def update(self, actor: User, **kw: Any) -> Any:
        return await bookings.update_booking(self.reads, actor=actor, **kw)

    async def review(self, actor: User, **kw: Any) -> Any:
        return await reviews.create_review(self.reads, actor=actor, **kw)


Path = Legacy | OneStatement
Scenario = Callable[[Path, World], Awaitable[None]]
H = timedelta(hours=1)


def hours(n: float) -> datetime:
    return BASE + n * H


# Each scenario: its calls (their answers are recorded), and what the first answers.
SCENARIOS: dict[str, tuple[list[str], Callable[[World], list[tuple[str, str, dict[str, Any]]]]]] = {
    # name: (expected codes, calls as (actor, operation, arguments))
    "created": (
        ["ok"],
        lambda w: [("alice", "create", {"service_id": w.id("one"), "starts_at": hours(2)})],
    ),
    "created with an end": (
        ["ok"],
        lambda w: [
            (
                "alice",
                "create",
                {"service_id": w.id("one"), "starts_at": hours(2), "ends_at": hours(2.5)},
            )
        ],
    ),
    "overlap": (
        ["BOOKING_CONFLICT"],
        lambda w: [("alice", "create", {"service_id": w.id("one"), "starts_at": hours(10.5)})],
    ),
    "overlap with the buffer": (
        ["BOOKING_CONFLICT"],
        lambda w: [("alice", "create", {"service_id": w.id("one"), "starts_at": hours(11.1)})],
    ),
    "closed": (
        ["SLOT_UNAVAILABLE"],
        lambda w: [
            (
                "alice",
                "create",
                {"service_id": w.id("hours"), "starts_at": hours(24 - BASE.hour + 2)},
            )
        ],
    ),
    "too soon": (
        ["SLOT_UNAVAILABLE"],
        lambda w: [
            ("alice", "create", {"service_id": w.id("notice"), "starts_at": datetime.now(UTC) + H})
        ],
    ),
    "too far": (
        ["SLOT_UNAVAILABLE"],
        lambda w: [
            (
                "alice",
                "create",
                {"service_id": w.id("notice"), "starts_at": datetime.now(UTC) + 40 * 24 * H},
            )
        ],
    ),
    "a seat left": (
        ["ok"],
        lambda w: [("alice", "create", {"service_id": w.id("class"), "starts_at": hours(21)})],
    ),
    "capacity full": (
        ["BOOKING_CONFLICT"],
        lambda w: [("alice", "create", {"service_id": w.id("class"), "starts_at": hours(20.5)})],
    ),
    "replay": (
        ["ok", "ok"],
        lambda w: [
            (
                "alice",
                "create",
                {"service_id": w.id("one"), "starts_at": hours(3), "idempotency_key": "k1"},
            ),
            (
                "alice",
                "create",
                {"service_id": w.id("one"), "starts_at": hours(3), "idempotency_key": "k1"},
            ),
        ],
    ),
    "the same key from another user": (
        ["ok", "ok"],
        lambda w: [
            (
                "alice",
                "create",
                {"service_id": w.id("one"), "starts_at": hours(3), "idempotency_key": "k1"},
            ),
            (
                "bob",
                "create",
                {"service_id": w.id("one"), "starts_at": hours(5), "idempotency_key": "k1"},
            ),
        ],
    ),
    "key reused with another input": (
        ["ok", "BAD_USER_INPUT"],
        lambda w: [
            (
                "alice",
                "create",
                {"service_id": w.id("one"), "starts_at": hours(3), "idempotency_key": "k1"},
            ),
            (
                "alice",
                "create",
                {"service_id": w.id("one"), "starts_at": hours(4), "idempotency_key": "k1"},
            ),
        ],
    ),
    "key reused for a service that is gone": (
        ["ok", "BAD_USER_INPUT"],
        lambda w: [
            (
                "alice",
                "create",
                {"service_id": w.id("one"), "starts_at": hours(3), "idempotency_key": "k1"},
            ),
            (
                "alice",
                "create",
                {"service_id": w.id("gone"), "starts_at": hours(3), "idempotency_key": "k1"},
            ),
        ],
    ),
    "no such service": (
        ["NOT_FOUND", "NOT_FOUND", "NOT_FOUND"],
        lambda w: [
            ("alice", "create", {"service_id": uuid.uuid4(), "starts_at": hours(3)}),
            ("alice", "create", {"service_id": w.id("gone"), "starts_at": hours(3)}),
            ("alice", "create", {"service_id": None, "starts_at": hours(3)}),
        ],
    ),
    "invalid times": (
        ["BAD_USER_INPUT"] * 5,
        lambda w: [
            (
                "alice",
                "create",
                {"service_id": w.id("one"), "starts_at": hours(3), "ends_at": hours(2)},
            ),
            ("alice", "create", {"service_id": w.id("one"), "starts_at": hours(-24 * 8)}),
            (
                "alice",
                "create",
                {"service_id": w.id("one"), "starts_at": hours(3), "ends_at": hours(28)},
            ),
            (
                "alice",
                "create",
                {"service_id": w.id("one"), "starts_at": hours(3), "idempotency_key": ""},
            ),
            (
                "alice",
                "create",
                {"service_id": w.id("one"), "starts_at": hours(3), "idempotency_key": "k" * 201},
            ),
        ],
    ),
    "cancel": (
        ["ok", "INVALID_STATE"],
        lambda w: [
            ("alice", "update", {"booking_id": w.id("mine"), "status": BookingStatus.CANCELLED}),
            ("alice", "update", {"booking_id": w.id("mine"), "status": BookingStatus.CANCELLED}),
        ],
    ),
    "cancel a confirmed one, then book its time": (
        ["ok", "ok"],
        lambda w: [
            (
                "alice",
                "update",
                {"booking_id": w.id("confirmed"), "status": BookingStatus.CANCELLED},
            ),
            ("bob", "create", {"service_id": w.id("one"), "starts_at": hours(50)}),
        ],
    ),
    "another user's booking": (
        ["NOT_FOUND", "NOT_FOUND", "NOT_FOUND"],
        lambda w: [
            ("bob", "update", {"booking_id": w.id("mine"), "status": BookingStatus.CANCELLED}),
            ("bob", "update", {"booking_id": w.id("mine"), "starts_at": hours(60)}),
            ("bob", "update", {"booking_id": uuid.uuid4(), "status": BookingStatus.CANCELLED}),
        ],
    ),
    "a user sets a status": (
        ["FORBIDDEN", "INVALID_STATE"],
        lambda w: [
            ("alice", "update", {"booking_id": w.id("mine"), "status": BookingStatus.CONFIRMED}),
            ("alice", "update", {"booking_id": w.id("done"), "status": BookingStatus.CANCELLED}),
        ],
    ),
    "an admin walks the status": (
        ["INVALID_STATE", "ok", "ok", "INVALID_STATE"],
        lambda w: [
            ("admin", "update", {"booking_id": w.id("mine"), "status": BookingStatus.COMPLETED}),
            ("admin", "update", {"booking_id": w.id("mine"), "status": BookingStatus.CONFIRMED}),
            ("admin", "update", {"booking_id": w.id("mine"), "status": BookingStatus.COMPLETED}),
            ("admin", "update", {"booking_id": w.id("mine"), "status": BookingStatus.PENDING}),
        ],
    ),
    "an admin moves another's booking and confirms it": (
        ["ok", "ok"],
        lambda w: [
            ("admin", "update", {"booking_id": w.id("mine"), "starts_at": hours(60)}),
            (
                "admin",
                "update",
                {
                    "booking_id": w.id("held"),
                    "starts_at": hours(62),
                    "status": BookingStatus.CONFIRMED,
                },
            ),
        ],
    ),
    "reschedules": (
        ["ok", "ok", "ok", "BOOKING_CONFLICT", "SLOT_UNAVAILABLE"],
        lambda w: [
            ("alice", "update", {"booking_id": w.id("mine"), "starts_at": hours(30)}),  # unchanged
            ("alice", "update", {"booking_id": w.id("mine"), "starts_at": hours(33)}),
            ("alice", "update", {"booking_id": w.id("mine"), "ends_at": hours(33.5)}),
            ("alice", "update", {"booking_id": w.id("mine"), "starts_at": hours(9.5)}),
            ("admin", "update", {"booking_id": w.id("mine"), "starts_at": hours(24 * 400)}),
        ],
    ),
    "a booking of this process moved": (
        ["ok", "ok", "ok", "SLOT_UNAVAILABLE", "BOOKING_CONFLICT", "BAD_USER_INPUT", "ok"],
        lambda w: [
            ("alice", "create", {"service_id": w.id("one"), "starts_at": hours(70)}),
            ("alice", "update", {"booking_id": LAST, "starts_at": hours(71)}),
            ("alice", "update", {"booking_id": LAST, "starts_at": hours(71)}),  # unchanged
            ("alice", "update", {"booking_id": LAST, "starts_at": hours(24 * 400)}),
            ("alice", "update", {"booking_id": LAST, "starts_at": hours(10.5)}),
            ("alice", "update", {"booking_id": LAST, "starts_at": hours(-24 * 8)}),
            ("alice", "update", {"booking_id": LAST, "status": BookingStatus.CANCELLED}),
        ],
    ),
    "reschedules refused by state": (
        ["INVALID_STATE", "INVALID_STATE", "BAD_USER_INPUT", "BAD_USER_INPUT"],
        lambda w: [
            ("alice", "update", {"booking_id": w.id("cancelled"), "starts_at": hours(70)}),
            ("alice", "update", {"booking_id": w.id("started"), "ends_at": hours(1)}),
            ("alice", "update", {"booking_id": w.id("started"), "starts_at": hours(-24 * 8)}),
            (
                "alice",
                "update",
                {"booking_id": w.id("mine"), "starts_at": hours(33), "ends_at": hours(32)},
            ),
        ],
    ),
    "a move into a full class": (
        ["ok", "ok", "BOOKING_CONFLICT"],
        lambda w: [
            ("alice", "create", {"service_id": w.id("class"), "starts_at": hours(25)}),
            ("admin", "create", {"service_id": w.id("class"), "starts_at": hours(25.5)}),
            ("bob", "update", {"booking_id": w.id("seat1"), "starts_at": hours(25)}),
        ],
    ),
    "review": (
        ["ok", "ALREADY_EXISTS"],
        lambda w: [
            ("alice", "review", {"booking_id": w.id("done"), "rating": 5, "comment": " Great "}),
            ("alice", "review", {"booking_id": w.id("done"), "rating": 4, "comment": None}),
        ],
    ),
    "reviews refused": (
        [
            "NOT_FOUND",
            "FORBIDDEN",
            "INVALID_STATE",
            "ALREADY_EXISTS",
            "NOT_FOUND",
            "BAD_USER_INPUT",
        ],
        lambda w: [
            ("alice", "review", {"booking_id": w.id("bobs_done"), "rating": 5, "comment": None}),
            ("admin", "review", {"booking_id": w.id("bobs_done"), "rating": 5, "comment": None}),
            ("alice", "review", {"booking_id": w.id("mine"), "rating": 5, "comment": None}),
            ("alice", "review", {"booking_id": w.id("reviewed"), "rating": 5, "comment": None}),
            ("alice", "review", {"booking_id": None, "rating": 5, "comment": None}),
            ("alice", "review", {"booking_id": w.id("done"), "rating": 6, "comment": None}),
        ],
    ),
}


LAST = "the booking that the scenario made last"


async def answer(path: Path, world: World, actor: str, operation: str, kw: dict[str, Any]) -> Any:
    """What the call answered: the row's columns, or the error as errors.py sees it."""
    call = getattr(path, operation)
    if kw.get("booking_id") == LAST:
        kw = {**kw, "booking_id": world.id(LAST)}
    try:
        row = await call(world.users[actor], **kw)
    except BookItError as error:
        return {"error": type(error).__name__, "message": str(error), **error.extensions}
    if operation == "create":
        world.ids[LAST] = str(row.id)
    return sql.dump(row)


def code(answer: dict[str, Any]) -> str:
    if "error" not in answer:
        return "ok"
    from bookit_graphql import errors

    return str(getattr(errors, answer["error"]).code)


STORED = {
    "bookings": "SELECT * FROM bookings WHERE service_id = ANY(:services)",
    "events": "SELECT kind, type, booking_id, service_id, user_id, booking, review "
    "FROM booking_events WHERE service_id = ANY(:services) ORDER BY id",
    "reviews": "SELECT * FROM reviews WHERE service_id = ANY(:services)",
}


async def stored(db: async_sessionmaker[AsyncSession], world: World) -> dict[str, Any]:
    services = [world.id(s) for s in ("one", "class", "hours", "notice", "gone")]
    found = {}
    async with db() as session:
        for name, query in STORED.items():
            result = await session.execute(text(query), {"services": services})
            found[name] = [dict(row._mapping) for row in result]
    return found


class Normal:
    """Ids as labels (a new one by the order it first appears), now() as "now", other times
    as minutes after BASE, so that two worlds compare."""

    def __init__(self, world: World) -> None:
        self.labels = {v: k for k, v in world.ids.items()}

    def __call__(self, value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            return {k: self(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self(v, key) for v in value]
        if isinstance(value, uuid.UUID):
            value = str(value)
        if isinstance(value, datetime | str) and key in NOW_COLUMNS:
            return "now"
        if key == "request_hash" and value is not None:
            return "hash"  # of the input, whose service id is the world's
        if isinstance(value, str):
            try:
                uuid.UUID(value)
            except ValueError:
                pass
            else:
                return self.labels.setdefault(value, f"new{len(self.labels)}")
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                return value
        if isinstance(value, datetime):
            return f"BASE{(value - BASE) / timedelta(minutes=1):+g}min"
        if hasattr(value, "value"):  # an enum
            return value.value
        return value


def sorted_rows(rows: list[Any]) -> list[Any]:
    return sorted(rows, key=lambda row: json.dumps(row, sort_keys=True, default=str))


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[Reads]:
    reads = Reads(database_url, size=4)
    yield reads
    await reads.close()


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_the_one_statement_writes_answer_and_store_what_the_orm_path_did(
    name: str, rows: Rows, db: async_sessionmaker[AsyncSession], pool: Reads
) -> None:
    expected, calls = SCENARIOS[name]
    results = {}
    for path in (Legacy(db), OneStatement(pool)):
        # given a world of its own
        world = await build(rows, db)
        normal = Normal(world)
        # when the scenario's calls run, one after another
        answers = [
            await answer(path, world, actor, operation, kw) for actor, operation, kw in calls(world)
        ]
        found = await stored(db, world)
        results[type(path).__name__] = {
            "codes": [code(a) for a in answers],
            "answers": normal(answers),
            "bookings": sorted_rows(normal(found["bookings"])),
            "events": normal(found["events"]),
            "reviews": sorted_rows(normal(found["reviews"])),
        }
    then, now = results["Legacy"], results["OneStatement"]
    # then the ORM path answered what the scenario is about
    assert then["codes"] == expected
    # and the one-statement path answered the same and left the same rows
    assert now["codes"] == then["codes"]
    assert now["answers"] == then["answers"]
    assert now["bookings"] == then["bookings"]
    assert now["reviews"] == then["reviews"]
    assert now["events"] == then["events"]
