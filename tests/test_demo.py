"""`bookit demo-data`: sizes, determinism, the database's rules, the logins it prints."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import date, timedelta
from types import SimpleNamespace
from typing import Any

import bcrypt
import psycopg
import pytest

from bookit_graphql import demo
from bookit_graphql.catalog.schedule import Rules
from bookit_graphql.cli import parser
from bookit_graphql.config import Settings
from bookit_graphql.db import create_engine, create_session_factory, migrate
from bookit_graphql.permissions import Role
from bookit_graphql.users import auth
from tests.factories import rows_on

SEED = 7
SCALE = 0.05  # 50 users, 10 services (1 inactive), 1,000 bookings, 400 reviews
TODAY = date(2026, 11, 25)  # fixed, so that two runs on different days compare equal


@dataclass(frozen=True)
class Loaded:
    url: str
    result: demo.Result


@pytest.fixture
def fresh_database(make_database: Any) -> str:
    url: str = make_database()
    migrate(url)
    return url


@pytest.fixture(scope="module")
async def loaded(make_database: Any) -> Loaded:
    url: str = make_database()
    migrate(url)
    result = await demo.load(url, bcrypt_rounds=4, seed=SEED, scale=SCALE, today=TODAY)
    return Loaded(url, result)


async def fetch(url: str, query: str, *params: object) -> list[tuple[Any, ...]]:
    async with await psycopg.AsyncConnection.connect(demo.libpq_url(url)) as connection:
        return await (await connection.execute(query, params or None)).fetchall()


async def scalar(url: str, query: str, *params: object) -> Any:
    return (await fetch(url, query, *params))[0][0]


async def log_in(url: str, settings: Settings, email: str, password: str) -> Any:
    engine = create_engine(url, pool_size=1)
    try:
        async with create_session_factory(engine).begin() as session:
            tokens = await auth.login(session, settings=settings, email=email, password=password)
            return tokens.user
    finally:
        await engine.dispose()


async def test_counts_follow_the_scale(loaded: Loaded) -> None:
    expected = demo.Counts(users=50, services=10, bookings=1_000, reviews=400)
    assert demo.Counts.at(SCALE) == expected
    assert demo.Counts.at(1) == demo.Counts(1_000, 200, 20_000, 8_000)
    assert loaded.result.counts == expected
    found = await fetch(
        loaded.url,
        "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM services),"
        " (SELECT count(*) FROM bookings), (SELECT count(*) FROM reviews),"
        " (SELECT count(*) FROM services WHERE NOT is_active)",
    )
    assert found == [(50, 10, 1_000, 400, 1)]


async def test_one_seed_gives_the_same_rows_ids_included(
    loaded: Loaded, make_database: Any
) -> None:
    # given a second fresh database
    url = make_database()
    migrate(url)

    # when the same seed and scale are loaded there
    await demo.load(url, bcrypt_rounds=4, seed=SEED, scale=SCALE, today=TODAY)

    # then every row is the same, but for the salted password hashes
    for query in (
        "SELECT id, email, full_name, role, is_active, created_at FROM users ORDER BY id",
        "SELECT * FROM services ORDER BY id",
        "SELECT * FROM bookings ORDER BY id",
        "SELECT * FROM reviews ORDER BY id",
    ):
        assert await fetch(url, query) == await fetch(loaded.url, query), query
    # and another seed gives other ids
    ids = {row.id for row in demo.generate(SEED, SCALE, TODAY).bookings}
    assert ids.isdisjoint(row.id for row in demo.generate(SEED + 1, SCALE, TODAY).bookings)


async def test_no_service_has_more_active_bookings_at_once_than_seats(loaded: Loaded) -> None:
    # the most bookings keeping one moment busy (buffers included) is reached at
    # some booking's busy start
    overfull = await scalar(
        loaded.url,
        "SELECT count(*) FROM bookings a JOIN services s ON s.id = a.service_id"
        " WHERE a.status <> 'CANCELLED' AND s.capacity < (SELECT count(*) FROM bookings b"
        "  WHERE b.service_id = a.service_id AND b.status <> 'CANCELLED'"
        "  AND tstzrange(b.busy_starts_at, b.busy_ends_at, '[)') @> a.busy_starts_at)",
    )
    assert overfull == 0
    # and the classes do fill some slots with several people
    shared = await scalar(
        loaded.url,
        "SELECT count(*) FROM (SELECT service_id, starts_at FROM bookings"
        " WHERE status <> 'CANCELLED' GROUP BY 1, 2 HAVING count(*) > 1) x",
    )
    assert shared > 0


async def test_every_booking_keeps_the_rules_of_its_service(loaded: Loaded) -> None:
    rows = await fetch(
        loaded.url,
        "SELECT s.time_zone, s.weekly_hours, s.closures, s.buffer_before_minutes,"
        " s.buffer_after_minutes, s.min_notice_minutes, s.max_advance_days, s.capacity,"
        " b.starts_at, b.ends_at, b.busy_starts_at, b.busy_ends_at, b.exclusive"
        " FROM bookings b JOIN services s ON s.id = b.service_id",
    )
    zones = set()
    for row in rows:
        service = SimpleNamespace(**dict(zip(RULE_COLUMNS, row[:8], strict=True)))
        zones.add(service.time_zone)
        rules = Rules.of(service)
        starts, ends, busy_starts, busy_ends, exclusive = row[8:]
        # judged as when it was made, a little before its notice ran out
        made = starts - rules.notice - timedelta(minutes=1)
        assert rules.refusal(starts, ends, now=made) is None, row
        assert (busy_starts, busy_ends) == rules.busy(starts, ends)
        assert exclusive == (rules.capacity == 1)
    assert {"Europe/Berlin", "America/New_York"} <= zones
    salons = await fetch(
        loaded.url,
        "SELECT weekly_hours, closures FROM services WHERE title LIKE '%haircut%' LIMIT 1",
    )
    hours, closures = salons[0]
    assert {h["day"] for h in hours} == {"TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY"}
    assert [(h["opens"], h["closes"]) for h in hours][:2] == [
        ("09:00", "13:00"),
        ("14:00", "18:00"),
    ]
    assert any(c["date"].endswith("-12-25") for c in closures)


RULE_COLUMNS = (
    "time_zone weekly_hours closures buffer_before_minutes buffer_after_minutes"
    " min_notice_minutes max_advance_days capacity"
).split()


async def test_statuses_fit_the_time_and_the_service(loaded: Loaded) -> None:
    rows = await fetch(
        loaded.url,
        "SELECT b.starts_at < %s AS over, b.status::text, s.is_active, count(*)"
        " FROM bookings b JOIN services s ON s.id = b.service_id GROUP BY 1, 2, 3",
        TODAY,
    )
    statuses = {(over, status) for over, status, _, _ in rows}
    assert statuses == {
        (True, "COMPLETED"),
        (True, "CANCELLED"),
        (False, "PENDING"),
        (False, "CONFIRMED"),
        (False, "CANCELLED"),
    }
    # an inactive service has history only
    assert all(active for over, _, active, _ in rows if not over)
    # durations are 15 to 180 minutes and every booking lasts its service's duration
    wrong = await scalar(
        loaded.url,
        "SELECT count(*) FROM bookings b JOIN services s ON s.id = b.service_id"
        " WHERE b.ends_at - b.starts_at <> make_interval(mins => s.duration_minutes)"
        " OR s.duration_minutes NOT BETWEEN 15 AND 180",
    )
    assert wrong == 0


async def test_reviews_are_of_completed_bookings_by_their_owners(loaded: Loaded) -> None:
    wrong = await scalar(
        loaded.url,
        "SELECT count(*) FROM reviews r LEFT JOIN bookings b ON b.id = r.booking_id"
        " WHERE b.id IS NULL OR b.status <> 'COMPLETED' OR r.user_id <> b.user_id"
        " OR r.service_id <> b.service_id OR r.created_at <= b.ends_at",
    )
    assert wrong == 0
    average = await scalar(loaded.url, "SELECT avg(rating) FROM reviews")
    assert average > 3.8  # skewed positive


async def test_service_stats_equal_the_real_aggregates(loaded: Loaded) -> None:
    wrong = await scalar(
        loaded.url,
        "SELECT count(*) FROM services s LEFT JOIN"
        " (SELECT service_id, count(*) AS n, sum(rating) AS total FROM reviews GROUP BY 1) a"
        " ON a.service_id = s.id"
        " WHERE s.review_count <> coalesce(a.n, 0) OR s.rating_total <> coalesce(a.total, 0)",
    )
    assert wrong == 0
    assert await scalar(loaded.url, "SELECT sum(review_count) FROM services") == 400


async def test_the_printed_credentials_log_in(loaded: Loaded, settings: Settings) -> None:
    result = loaded.result
    printed = demo.summary(result, graphiql="http://127.0.0.1:8000/graphql")
    for text in (result.admin.password, result.user.password, result.bulk_password):
        assert text in printed
    assert "http://127.0.0.1:8000/graphql" in printed

    admin = await log_in(loaded.url, settings, "admin@bookit.example", result.admin.password)
    assert admin.role is Role.ADMIN
    user = await log_in(loaded.url, settings, "user@bookit.example", result.user.password)
    assert user.role is Role.USER
    assert result.bulk_example is not None
    assert result.bulk_example in printed
    await log_in(loaded.url, settings, result.bulk_example, result.bulk_password)
    # the demo user has bookings to look at
    assert await scalar(loaded.url, "SELECT count(*) FROM bookings WHERE user_id = %s", user.id)


async def test_refuses_a_database_with_data_unless_forced(fresh_database: str) -> None:
    # given a database with one account
    url = fresh_database
    async with rows_on(url) as rows:
        await rows.user(email="ann@example.com", full_name="Ann")

    # when the demo data is loaded without --force, then it refuses and changes nothing
    with pytest.raises(demo.NotEmpty, match="--force"):
        await demo.load(url, bcrypt_rounds=4, scale=0.01, today=TODAY)
    assert await fetch(url, "SELECT email FROM users") == [("ann@example.com",)]
    assert await scalar(url, "SELECT count(*) FROM services") == 0

    # when forced, then the old rows are gone and the demo data is there
    result = await demo.load(url, bcrypt_rounds=4, scale=0.01, force=True, today=TODAY)
    assert result.deleted == {"users": 1}
    assert "deleted the previous data" in demo.summary(result, graphiql="http://x/graphql")
    assert await scalar(url, "SELECT count(*) FROM users WHERE email = 'ann@example.com'") == 0
    assert await scalar(url, "SELECT count(*) FROM users") == demo.Counts.at(0.01).users


def test_the_command_prints_logins_and_refuses_a_second_run(fresh_database: str) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if k != "SECRET_KEY"},
        "DATABASE_URL": fresh_database,
        "BCRYPT_ROUNDS": "4",
        "LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "bookit_graphql", "demo-data", "--scale", "0.01"]

    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "10 users, 2 services" in first.stdout
    password = re.search(r"admin@bookit\.example\s+password (\S+)", first.stdout)
    assert password is not None, first.stdout
    with psycopg.connect(demo.libpq_url(fresh_database)) as connection:
        row = connection.execute(
            "SELECT password_hash, role::text FROM users WHERE email = 'admin@bookit.example'"
        ).fetchone()
    assert row is not None
    assert bcrypt.checkpw(password[1].encode(), row[0].encode())
    assert row[1] == "ADMIN"

    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 1
    assert "--force" in second.stderr
    assert "Traceback" not in second.stderr


def test_the_scale_is_checked_by_the_parser() -> None:
    args = parser().parse_args(["demo-data", "--seed", "3", "--scale", "0.5", "--force"])
    assert (args.seed, args.scale, args.force) == (3, 0.5, True)
    for bad in ("0", "-1", "eleven", "11"):
        with pytest.raises(SystemExit):
            parser().parse_args(["demo-data", "--scale", bad])
