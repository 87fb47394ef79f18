"""`bookit demo-data`: a realistic, deterministic data set, loaded with COPY in seconds.

Same seed, same scale and same day: same rows, ids included. Times are laid
out around today (UTC) so that the past is past and the future is future
whenever the command runs; only the bcrypt hashes (salted) and the printed
passwords (random, never derived from the seed) differ between runs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import itertools
import random
import re
import secrets
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow
from psycopg.types.json import Jsonb

from bookit_graphql.bookings.models import Booking, BookingStatus
from bookit_graphql.catalog.models import Service
from bookit_graphql.catalog.schedule import Rules
from bookit_graphql.db import Base
from bookit_graphql.models import load_all
from bookit_graphql.permissions import Role
from bookit_graphql.reviews.models import Review
from bookit_graphql.users.models import User
from bookit_graphql.users.passwords import hash_password

ADMIN_EMAIL = "admin@bookit.example"
USER_EMAIL = "user@bookit.example"
DEFAULT_SEED = 1
MAX_SCALE = 10.0

# The data set at scale 1.
USERS, SERVICES, BOOKINGS, REVIEWS = 1_000, 200, 20_000, 8_000
PAST_DAYS, FUTURE_DAYS = 180, 60

# Popularity spread of services and activity of users; the clip keeps every
# service's bookings well inside the slots its timeline has.
POPULARITY = (0.3, 3.0)
DEMO_USER_WEIGHT = 2.0  # the demo user books a little more than most, so there is plenty to see


class DemoDataError(Exception):
    """The demo data cannot be loaded here; the message says why and what to do."""


class NotEmpty(DemoDataError):
    """The database already holds BookIt data and --force was not given."""


class Password(enum.Enum):
    ADMIN = "admin"
    USER = "user"
    BULK = "bulk"


# ---------------------------------------------------------------- the data set


@dataclass(frozen=True)
class Counts:
    users: int
    services: int
    bookings: int
    reviews: int

    @classmethod
    def at(cls, scale: float) -> Counts:
        """The sizes for `scale` (1: about 1,000 users and 20,000 bookings)."""
        return cls(
            users=max(2, round(USERS * scale)),  # the admin and the demo user at least
            services=max(1, round(SERVICES * scale)),
            bookings=round(BOOKINGS * scale),
            reviews=round(REVIEWS * scale),
        )


@dataclass(frozen=True, slots=True)
class UserRow:
    id: uuid.UUID
    email: str
    full_name: str
    role: Role
    is_active: bool
    created_at: datetime
    password: Password


@dataclass(frozen=True, slots=True)
class ServiceRow:
    id: uuid.UUID
    title: str
    description: str
    price: Decimal
    duration_minutes: int
    is_active: bool
    created_at: datetime
    quality: float  # the mean rating its reviews lean to (not stored)
    popularity: float  # its share of the bookings (not stored)
    # its booking rules, under the column names of services (see Schedule)
    time_zone: str = "UTC"
    weekly_hours: tuple[dict[str, str], ...] = ()
    closures: tuple[dict[str, str | None], ...] = ()
    buffer_before_minutes: int = 0
    buffer_after_minutes: int = 0
    min_notice_minutes: int = 0
    max_advance_days: int = 365
    capacity: int = 1


@dataclass(frozen=True, slots=True)
class BookingRow:
    id: uuid.UUID
    service_id: uuid.UUID
    user_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    status: BookingStatus
    created_at: datetime
    updated_at: datetime
    busy_starts_at: datetime
    busy_ends_at: datetime


@dataclass(frozen=True, slots=True)
class ReviewRow:
    id: uuid.UUID
    booking_id: uuid.UUID
    service_id: uuid.UUID
    user_id: uuid.UUID
    rating: int
    comment: str | None
    created_at: datetime


@dataclass(frozen=True)
class DataSet:
    users: list[UserRow]
    services: list[ServiceRow]
    bookings: list[BookingRow]
    reviews: list[ReviewRow]

    @property
    def counts(self) -> Counts:
        return Counts(len(self.users), len(self.services), len(self.bookings), len(self.reviews))


def generate(seed: int, scale: float, today: date) -> DataSet:
    """The demo rows: a pure function of its arguments (one seeded Random, used in order)."""
    rng = random.Random(seed)
    target = Counts.at(scale)
    anchor = datetime(today.year, today.month, today.day, tzinfo=UTC)
    users = _users(rng, target.users, anchor)
    services = _services(rng, target.services, anchor)
    bookings = _bookings(rng, target.bookings, users, services, anchor)
    reviews = _reviews(rng, target.reviews, bookings, services, anchor)
    return DataSet(users, services, bookings, reviews)


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _before(rng: random.Random, moment: datetime, low: timedelta, high: timedelta) -> datetime:
    """A moment between `high` and `low` before `moment`, to the second."""
    return moment - timedelta(
        seconds=rng.randint(int(low.total_seconds()), int(high.total_seconds()))
    )


def _between(rng: random.Random, start: datetime, end: datetime) -> datetime:
    return start + timedelta(seconds=rng.randint(0, max(0, int((end - start).total_seconds()))))


def _users(rng: random.Random, count: int, anchor: datetime) -> list[UserRow]:
    rows = [
        UserRow(
            _uuid(rng),
            ADMIN_EMAIL,
            "Ada Admin",
            Role.ADMIN,
            True,
            anchor - timedelta(days=1000),
            Password.ADMIN,
        ),
        UserRow(
            _uuid(rng),
            USER_EMAIL,
            "Dana Demo",
            Role.USER,
            True,
            anchor - timedelta(days=400),
            Password.USER,
        ),
    ]
    taken = {ADMIN_EMAIL, USER_EMAIL}
    for _ in range(count - len(rows)):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        local, domain = f"{_ascii(first)}.{_ascii(last)}", rng.choice(DOMAINS)
        email = f"{local}@{domain}"
        for number in itertools.count(2):
            if email not in taken:
                break
            email = f"{local}{number}@{domain}"
        taken.add(email)
        rows.append(
            UserRow(
                _uuid(rng),
                email,
                f"{first} {last}",
                Role.USER,
                rng.random() >= 0.015,  # a few deactivated accounts
                # before any booking of theirs was made
                _before(rng, anchor, timedelta(days=211), timedelta(days=900)),
                Password.BULK,
            )
        )
    return rows


def _ascii(name: str) -> str:
    return re.sub(r"[^a-z]", "", unicodedata.normalize("NFKD", name).lower())


def _services(rng: random.Random, count: int, anchor: datetime) -> list[ServiceRow]:
    combos = [
        (offer, provider, trade)
        for trade, (providers, offers) in enumerate(CATALOGUE)
        for offer in offers
        for provider in providers
    ]
    rng.shuffle(combos)
    inactive = set(rng.sample(range(count), max(1, count // 25) if count >= 5 else 0))
    rows = []
    for index in range(count):
        offer, provider, trade = combos[index % len(combos)]
        branch, _ = divmod(index, len(combos))
        title = f"{offer.name} at {provider}"
        if branch:  # more services than combinations: another branch of the same business
            title += f" ({CITIES[(branch - 1) % len(CITIES)]})"
        duration = rng.choice(offer.durations)
        extras = " ".join(rng.sample(EXTRAS, rng.randint(1, 2)))
        rows.append(
            ServiceRow(
                _uuid(rng),
                title,
                f"{offer.blurb} {extras}",
                _price(rng, offer.hourly, duration),
                duration,
                index not in inactive,
                _before(rng, anchor, timedelta(days=230), timedelta(days=1000)),
                quality=rng.uniform(3.6, 5.0),
                popularity=min(POPULARITY[1], max(POPULARITY[0], rng.lognormvariate(0, 0.6))),
                **SCHEDULES[trade % len(SCHEDULES)].rules(anchor),
            )
        )
    return rows


@dataclass(frozen=True)
class Schedule:
    """How a kind of business takes bookings."""

    time_zone: str
    days: str  # first letters of its open weekdays, Monday first: "-TWTFS-"
    hours: tuple[tuple[str, str], ...]
    holidays: tuple[tuple[int, int, str], ...]  # month, day, name: closed every year
    buffer_before_minutes: int = 0
    buffer_after_minutes: int = 0
    min_notice_minutes: int = 0
    capacity: int = 1

    def rules(self, anchor: datetime) -> dict[str, Any]:
        weekly = tuple(
            {"day": day, "opens": opens, "closes": closes}
            for day, letter in zip(WEEKDAY_NAMES, self.days, strict=True)
            if letter != "-"
            for opens, closes in self.hours
        )
        closures = tuple(
            {"date": date(year, month, day).isoformat(), "reason": name}
            for year in (anchor.year - 1, anchor.year, anchor.year + 1)
            for month, day, name in self.holidays
        )
        return {
            "time_zone": self.time_zone,
            "weekly_hours": weekly,
            "closures": closures,
            "buffer_before_minutes": self.buffer_before_minutes,
            "buffer_after_minutes": self.buffer_after_minutes,
            "min_notice_minutes": self.min_notice_minutes,
            "capacity": self.capacity,
        }


WEEKDAY_NAMES = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
GERMAN_HOLIDAYS = (
    (1, 1, "Neujahr"),
    (5, 1, "Tag der Arbeit"),
    (10, 3, "Tag der Deutschen Einheit"),
    (12, 24, "Heiligabend"),
    (12, 25, "1. Weihnachtstag"),
    (12, 26, "2. Weihnachtstag"),
    (12, 31, "Silvester"),
)
US_HOLIDAYS = (
    (1, 1, "New Year's Day"),
    (7, 4, "Independence Day"),
    (11, 11, "Veterans Day"),
    (12, 25, "Christmas Day"),
)
UK_HOLIDAYS = ((1, 1, "New Year's Day"), (12, 25, "Christmas Day"), (12, 26, "Boxing Day"))

# One per trade of TRADES, in its order.
SCHEDULES = (
    # salons: Tuesday to Saturday with a lunch break, a little clean-up between clients
    Schedule("Europe/Berlin", "-TWTFS-", (("09:00", "13:00"), ("14:00", "18:00")),
             GERMAN_HOLIDAYS, buffer_after_minutes=10, min_notice_minutes=60),
    # spas: every day but Sunday, time to turn the room round
    Schedule("Europe/Berlin", "MTWTFS-", (("10:00", "20:00"),), GERMAN_HOLIDAYS,
             buffer_after_minutes=15, min_notice_minutes=120),
    # clinics: Monday to Friday in New York, a lunch hour, notes written after each patient
    Schedule("America/New_York", "MTWTF--", (("08:00", "12:00"), ("13:00", "17:00")),
             US_HOLIDAYS, buffer_before_minutes=5, buffer_after_minutes=10,
             min_notice_minutes=240),
    # gyms: group classes of 12, early to late
    Schedule("Europe/Berlin", "MTWTFSS", (("07:00", "21:00"),), GERMAN_HOLIDAYS, capacity=12),
    # schools: classes of 12, afternoons and Saturdays
    Schedule("America/New_York", "MTWTFS-", (("12:00", "20:00"),), US_HOLIDAYS, capacity=12),
    # home services: travel time on both sides
    Schedule("America/Chicago", "MTWTF--", (("08:00", "18:00"),), US_HOLIDAYS,
             buffer_before_minutes=30, buffer_after_minutes=30, min_notice_minutes=1440),
    # consultants: office hours in London
    Schedule("Europe/London", "MTWTF--", (("09:00", "12:30"), ("13:30", "17:30")),
             UK_HOLIDAYS, buffer_after_minutes=15),
    # pet care: a rinse of the table after each animal
    Schedule("Europe/Berlin", "MTWTFS-", (("08:00", "18:00"),), GERMAN_HOLIDAYS,
             buffer_after_minutes=15),
)  # fmt: skip


def _price(rng: random.Random, hourly: tuple[int, int], minutes: int) -> Decimal:
    """A shop's kind of price: 12.50 or 44.90, scaled with the length."""
    if hourly == (0, 0):
        return Decimal("0.00")
    raw = rng.uniform(*hourly) * minutes / 60
    if raw < 20:
        return (Decimal(round(raw * 2)) / 2).quantize(Decimal("0.01"))
    return Decimal(round(raw / 5) * 5) - Decimal("0.10")


def _bookings(
    rng: random.Random,
    count: int,
    users: Sequence[UserRow],
    services: Sequence[ServiceRow],
    anchor: datetime,
) -> list[BookingRow]:
    """Per service, seats of the slots its rules offer, its buffers kept between them.

    Each service's grid steps by its duration and buffers, so no two bookings'
    busy times overlap; a class takes up to its capacity in one slot. Today is
    left out, so a booking is either over or yet to come whenever the command
    runs; inactive services have history only.
    """
    customers = [user for user in users if user.role is Role.USER]
    activity = [
        DEMO_USER_WEIGHT if user.email == USER_EMAIL else rng.lognormvariate(0, 0.7)
        for user in customers
    ]
    cumulative = list(itertools.accumulate(activity))
    seats = [_seats(service, anchor) for service in services]
    shares = _allocate(
        count,
        [service.popularity for service in services],
        [len(positions) for positions in seats],
    )
    rows = []
    for service, share, positions in zip(services, shares, seats, strict=True):
        length = timedelta(minutes=service.duration_minutes)
        for index in sorted(rng.sample(range(len(positions)), share)):
            starts = positions[index]
            status = _status(rng, over=starts < anchor)
            created = min(
                _before(rng, starts, timedelta(hours=2), timedelta(days=30)),
                _before(rng, anchor, timedelta(minutes=1), timedelta(days=3)),
            )
            if status is BookingStatus.PENDING:
                updated = created
            elif status is BookingStatus.CONFIRMED:
                updated = min(created + timedelta(seconds=rng.randint(600, 172_800)), anchor)
            elif status is BookingStatus.COMPLETED:
                updated = starts + length + timedelta(seconds=rng.randint(0, 7_200))
            else:
                updated = _between(rng, created, min(starts, anchor))
            user = rng.choices(customers, cum_weights=cumulative)[0]
            busy = Rules.of(service).busy(starts, starts + length)
            rows.append(
                BookingRow(
                    _uuid(rng),
                    service.id,
                    user.id,
                    starts,
                    starts + length,
                    status,
                    created,
                    updated,
                    *busy,
                )
            )
    return rows


def _seats(service: ServiceRow, anchor: datetime) -> list[datetime]:
    """Start times of the service's bookable seats: each slot once per seat, by time."""
    rules = Rules.of(service)
    length = timedelta(minutes=service.duration_minutes)
    step = length + rules.buffer_before + rules.buffer_after
    windows = [(anchor - timedelta(days=PAST_DAYS), anchor)]
    if service.is_active:
        windows.append((anchor + timedelta(days=1), anchor + timedelta(days=FUTURE_DAYS + 1)))
    found = []
    for start, end in windows:
        # as the rules judged each booking when it was made: some time before it
        now = start - timedelta(minutes=rules.notice // timedelta(minutes=1) + 1)
        for starts in rules.slots(start, end, duration=length, step=step, now=now):
            found += [starts] * rules.capacity
    return found


def _status(rng: random.Random, *, over: bool) -> BookingStatus:
    draw = rng.random()
    if over:
        return BookingStatus.COMPLETED if draw < 0.9 else BookingStatus.CANCELLED
    if draw < 0.12:
        return BookingStatus.CANCELLED
    return BookingStatus.CONFIRMED if draw < 0.6 else BookingStatus.PENDING


def _allocate(total: int, weights: Sequence[float], caps: Sequence[int]) -> list[int]:
    """`total` split in proportion to `weights` (largest remainders first), none above its cap."""
    if total > sum(caps):
        raise DemoDataError("the services' timelines cannot hold that many bookings")
    shares = [weight * total / sum(weights) for weight in weights]
    counts = [min(int(share), cap) for share, cap in zip(shares, caps, strict=True)]
    order = sorted(range(len(shares)), key=lambda i: shares[i] - int(shares[i]), reverse=True)
    remaining = total - sum(counts)
    while remaining:
        for i in order:
            if remaining and counts[i] < caps[i]:
                counts[i] += 1
                remaining -= 1
    return counts


def _reviews(
    rng: random.Random,
    count: int,
    bookings: Sequence[BookingRow],
    services: Sequence[ServiceRow],
    anchor: datetime,
) -> list[ReviewRow]:
    """Reviews of completed bookings by their owners, at most one each, mostly kind."""
    quality = {service.id: service.quality for service in services}
    completed = [booking for booking in bookings if booking.status is BookingStatus.COMPLETED]
    chosen = sorted(
        rng.sample(completed, min(count, len(completed))), key=lambda b: (b.ends_at, b.id)
    )
    rows = []
    for booking in chosen:
        rating = min(5, max(1, round(rng.gauss(quality[booking.service_id], 0.85))))
        rows.append(
            ReviewRow(
                _uuid(rng),
                booking.id,
                booking.service_id,
                booking.user_id,
                rating,
                _comment(rng, rating),
                min(
                    booking.ends_at + timedelta(seconds=rng.randint(3_600, 864_000)),
                    _before(rng, anchor, timedelta(minutes=1), timedelta(hours=1)),
                ),
            )
        )
    return rows


def _comment(rng: random.Random, rating: int) -> str | None:
    if rng.random() < 0.35:
        return None
    opening = rng.choice(COMMENTS[rating])
    if rating >= 4 and rng.random() < 0.5:
        return f"{opening} {rng.choice(RECOMMENDATIONS)}"
    return opening


# ---------------------------------------------------------------- loading


@dataclass(frozen=True)
class Credentials:
    email: str
    password: str


@dataclass(frozen=True)
class Result:
    seed: int
    scale: float
    counts: Counts
    inactive_services: int
    inactive_users: int
    admin: Credentials
    user: Credentials
    bulk_password: str
    bulk_example: str | None
    deleted: dict[str, int]  # rows that --force removed first, by table
    seconds: float


async def load(
    url: str,
    *,
    bcrypt_rounds: int,
    seed: int = DEFAULT_SEED,
    scale: float = 1.0,
    force: bool = False,
    today: date | None = None,
) -> Result:
    """Fill a migrated database with the demo data, in one transaction.

    Refuses (NotEmpty) when any BookIt table has rows, unless `force`: then it
    empties every BookIt table first (TRUNCATE, in the same transaction, so a
    failure leaves the old data in place).
    """
    if not 0 < scale <= MAX_SCALE:
        raise DemoDataError(f"the scale is a number above 0 and at most {MAX_SCALE:g}")
    started = time.perf_counter()
    passwords = {kind: secrets.token_urlsafe(12) for kind in Password}
    async with await psycopg.AsyncConnection.connect(libpq_url(url)) as connection:
        async with connection.transaction():
            # First, so that a refusal is immediate and nothing else wastes time.
            deleted = await _make_room(connection, force=force)
            # bcrypt (once per distinct password) runs in threads while the rows are made.
            hashing = asyncio.gather(
                *(hash_password(password, rounds=bcrypt_rounds) for password in passwords.values())
            )
            data = await asyncio.to_thread(generate, seed, scale, today or datetime.now(UTC).date())
            hashes = dict(zip(passwords, await hashing, strict=True))
            await _copy_all(connection, data, hashes)
        # The bulk load and the rating trigger's updates leave stale statistics
        # and dead rows; a fresh ANALYZE gives the first queries good plans.
        await connection.set_autocommit(True)
        await connection.execute(sql.SQL("VACUUM (ANALYZE) {}").format(_names(LOADED)))

    bulk = [user for user in data.users if user.password is Password.BULK and user.is_active]
    return Result(
        seed=seed,
        scale=scale,
        counts=data.counts,
        inactive_services=sum(not service.is_active for service in data.services),
        inactive_users=sum(not user.is_active for user in data.users),
        admin=Credentials(ADMIN_EMAIL, passwords[Password.ADMIN]),
        user=Credentials(USER_EMAIL, passwords[Password.USER]),
        bulk_password=passwords[Password.BULK],
        bulk_example=bulk[0].email if bulk else None,
        deleted=deleted,
        seconds=time.perf_counter() - started,
    )


LOADED = [model.__tablename__ for model in (User, Service, Booking, Review)]


def libpq_url(url: str) -> str:
    """The database URL as libpq (psycopg) spells it, from SQLAlchemy's spelling or its own."""
    return re.sub(r"^postgresql\+psycopg://", "postgresql://", url)


def _names(tables: Iterable[str]) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(table) for table in tables)


async def _make_room(
    connection: psycopg.AsyncConnection[TupleRow], *, force: bool
) -> dict[str, int]:
    """Lock every BookIt table; refuse if one has rows, or (with `force`) empty them all."""
    load_all()
    ours = [table.name for table in Base.metadata.sorted_tables]
    cursor = await connection.execute(
        "SELECT relname FROM pg_class WHERE relname = ANY(%s) AND relkind IN ('r', 'p') "
        "AND pg_table_is_visible(oid)",
        (ours,),
    )
    present = {str(name) for (name,) in await cursor.fetchall()}
    tables = [table for table in ours if table in present]
    # ACCESS EXCLUSIVE up front when truncating: TRUNCATE needs it, and taking
    # it later would be a lock upgrade that can deadlock with a reader.
    mode = sql.SQL("ACCESS EXCLUSIVE" if force else "EXCLUSIVE")
    await connection.execute("SET LOCAL lock_timeout = '10s'")
    try:
        await connection.execute(sql.SQL("LOCK TABLE {} IN {} MODE").format(_names(tables), mode))
    except psycopg.errors.LockNotAvailable as error:
        raise DemoDataError(
            "the BookIt tables stayed busy for 10 seconds; try again when the server is idle"
        ) from error
    counting = sql.SQL("SELECT {}").format(
        sql.SQL(", ").join(
            sql.SQL("(SELECT count(*) FROM {})").format(sql.Identifier(table)) for table in tables
        )
    )
    row = await (await connection.execute(counting)).fetchone()
    # the outbox's positions (seeded by the migration) are bookkeeping, not data
    found = {
        table: int(n)
        for table, n in zip(tables, row or (), strict=True)
        if n and table != "outbox_consumers"
    }
    if found and not force:
        raise NotEmpty(
            f"the database already holds data ({_describe(found)}). "
            "`bookit demo-data --force` deletes ALL of it first: it empties every BookIt "
            f"table ({', '.join(tables)}) in the same transaction as the load."
        )
    if found:
        await connection.execute(sql.SQL("TRUNCATE {}").format(_names(tables)))
    return found


def _describe(rows: dict[str, int]) -> str:
    return ", ".join(f"{n:,} {table}" for table, n in rows.items())


async def _copy_all(
    connection: psycopg.AsyncConnection[TupleRow], data: DataSet, hashes: dict[Password, str]
) -> None:
    # COPY fires the reviews' row trigger, which keeps services.review_count
    # and rating_total: services start at 0 and end at the true aggregates.
    def updated(row: Any) -> object:
        return row.created_at

    await _copy(
        connection,
        User,
        data.users,
        password_hash=lambda u: hashes[u.password],
        updated_at=updated,
    )
    await _copy(connection, Service, data.services, updated_at=updated)
    capacities = {s.id: s.capacity for s in data.services}
    # a booking of a one-seat service is under the exclusion constraint
    await _copy(
        connection, Booking, data.bookings, exclusive=lambda b: capacities[b.service_id] == 1
    )
    await _copy(connection, Review, data.reviews, updated_at=updated)


def _plain(value: object) -> object:
    """A row's value as COPY takes it: an enum by its value, a list or dict as JSON."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list | dict | tuple):
        return Jsonb(list(value) if isinstance(value, tuple) else value)
    return value


async def _copy(
    connection: psycopg.AsyncConnection[TupleRow],
    model: type[Base],
    rows: Sequence[Any],
    **computed: Callable[[Any], object],
) -> None:
    """COPY `rows` (dataclasses) into the model's table: each column of the table that the
    rows have a field of, or that `computed` computes from a row; the others take their
    defaults. A column added to a model and to its row class is loaded with no more said."""
    if not rows:
        return
    table = Base.metadata.tables[model.__tablename__]
    fields = {field.name for field in dataclasses.fields(rows[0])}
    columns = [c.name for c in table.columns if c.name in fields or c.name in computed]
    extra = set(computed) - {c.name for c in table.columns}
    assert not extra, f"not columns of {table.name}: {extra}"
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), _names(columns)
    )
    async with connection.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            values = [
                computed[name](row) if name in computed else getattr(row, name) for name in columns
            ]
            await copy.write_row([_plain(value) for value in values])


def summary(result: Result, *, graphiql: str) -> str:
    """What the command prints: counts, time taken, the credentials and where to go next."""
    counts = result.counts
    lines = []
    if result.deleted:
        lines.append(f"--force: deleted the previous data first ({_describe(result.deleted)}).")
    lines += [
        f"Loaded the demo data (seed {result.seed}, scale {result.scale:g}) "
        f"in {result.seconds:.1f} s:",
        f"  {counts.users:,} users, {counts.services:,} services "
        f"({result.inactive_services} inactive), {counts.bookings:,} bookings, "
        f"{counts.reviews:,} reviews",
        "",
        "Sign in with (printed only now; the database keeps bcrypt hashes):",
        f"  admin       {result.admin.email:<24} password {result.admin.password}",
        f"  demo user   {result.user.email:<24} password {result.user.password}",
    ]
    if result.bulk_example:
        lines.append(
            f"  the other {counts.users - 2:,} users (e.g. {result.bulk_example}; "
            f"{result.inactive_users} are deactivated) share the password {result.bulk_password}"
        )
    lines += [
        "",
        f"Start the API with `bookit serve` and open GraphiQL at {graphiql}",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------- the words


@dataclass(frozen=True)
class Offer:
    name: str
    blurb: str
    durations: tuple[int, ...]  # minutes, 15 to 180
    hourly: tuple[int, int]  # price range per hour; (0, 0) is free


# A line `= a; b; c` starts a trade and names its businesses; each line after
# it is an offer: name | description | lengths in minutes | price per hour.
TRADES = """
= Studio Nova; The Parlour; Bloom Salon; Kasa Hair Lab; Copper & Comb
Women's haircut | Wash, cut and finish by a senior stylist. | 45 60 | 50-80
Men's haircut | Clipper or scissor cut with a hot-towel finish. | 30 45 | 40-60
Colour and highlights | Full colour, balayage or foils, with a gloss. | 90 120 150 180 | 55-85
Blow-dry and styling | Smooth, curls or an up-do for an evening out. | 30 45 | 45-65
Manicure | Shape, cuticle care and a polish of your choice. | 30 45 | 40-60
Pedicure | Soak, scrub, nail care and polish. | 45 60 | 40-60
Brow shaping | Wax or thread, finished with a tint if you like. | 15 30 | 50-80
= Harbour Wellness; Lindenhof Spa; Quiet Hours; Saltwater Retreat; Kinfolk Bodywork
Swedish massage | Long, flowing strokes to unwind body and mind. | 60 90 | 60-90
Deep tissue massage | Firm pressure for knots and tired muscles. | 45 60 90 | 65-95
Hot stone massage | Warm basalt stones and slow, deep strokes. | 75 90 | 70-100
Sports massage | Before or after training, aimed at the muscles you use. | 30 45 60 | 60-90
Reflexology | Pressure-point foot treatment, calm and restoring. | 30 45 60 | 50-75
Facial treatment | Cleanse, exfoliate, mask and massage for your skin type. | 45 60 75 | 60-95
Sauna and steam session | Private sauna, steam room and rest area. | 60 90 120 | 20-35
= Riverside Health; Clearwater Clinic; Northgate Practice; Open Door Clinic; Elm Street Health
Physiotherapy assessment | A first assessment and a plan for your recovery. | 45 60 | 70-100
Follow-up physiotherapy | Treatment and exercises that build on your plan. | 30 45 | 60-90
Dental check-up | Examination, advice and X-rays where needed. | 30 | 80-120
Teeth cleaning | Scale and polish by a dental hygienist. | 45 60 | 70-100
Nutrition consultation | A dietitian looks at what you eat and what you need. | 45 60 | 60-90
Eye test | A full eye examination by an optometrist. | 30 | 60-90
Osteopathy | Hands-on treatment of joints, muscles and posture. | 45 60 | 70-100
Introductory consultation | Meet the team and ask your questions, free of charge. | 15 | 0-0
= Iron & Oak Gym; Peak Performance; Core Collective; Hillside Sports Centre; Flow Studio
Personal training | One-to-one training planned around your goals. | 30 45 60 | 50-80
Private yoga class | A class for you alone, at your pace and level. | 60 75 90 | 55-85
Pilates reformer session | Strength and control on the reformer. | 50 55 | 45-70
Climbing introduction | Ropes, knots and the first routes, gear included. | 90 120 | 30-45
Boxing fundamentals | Stance, footwork and pad work with a coach. | 45 60 | 40-65
Running technique clinic | Video analysis and drills for an easier stride. | 60 90 | 45-70
Mobility session | Stretching and joint work for stiff backs and hips. | 30 45 | 40-60
Children's swimming lesson | Small groups, patient teachers, warm pool. | 30 45 | 25-40
= Maple Learning Studio; Brightside Academy; The Workshop; Lantern School; Open Studio
Piano lesson | For beginners and returners; all styles. | 30 45 60 | 45-70
Guitar lesson | Acoustic or electric, chords to solos. | 30 45 60 | 40-65
Singing lesson | Breathing, range and confidence. | 30 45 | 45-70
Maths tutoring | School and university maths, explained step by step. | 60 90 | 35-60
Spanish conversation | Speak from the first minute with a native speaker. | 45 60 | 30-50
Pottery workshop | Throw on the wheel; we fire and glaze your pieces. | 120 150 180 | 20-35
Watercolour class | Washes, layers and light, materials provided. | 90 120 | 20-35
Chess coaching | Openings, tactics and a review of your games. | 60 | 30-50
Portrait photography | Studio portraits, edited images within a week. | 30 60 90 | 90-140
= FixIt Crew; HomeHelp; Handy Neighbours; Green Street Services; Spotless & Sons
Plumbing call-out | Leaks, taps and blocked drains; parts extra. | 60 90 120 | 60-90
Electrical safety check | Inspection of the wiring, sockets and fuse box. | 60 90 | 60-85
Gardening visit | Mowing, pruning and weeding; green waste taken away. | 60 120 180 | 30-45
Deep clean | Kitchen, bathrooms and floors, top to bottom. | 120 180 | 30-45
Furniture assembly | Flat-pack built, levelled and fixed to the wall. | 60 90 120 | 35-55
Window cleaning | Inside and out, frames and sills included. | 45 60 90 | 30-45
Bike service | Gears, brakes and wheels checked and adjusted. | 45 60 90 | 40-60
IT help at home | Laptops, Wi-Fi and printers sorted at your place. | 60 90 | 55-85
= Ledger & Co.; Northbridge Partners; Harbour Consulting; The Advice Bureau; Startup Desk
Tax return consultation | Bring your papers; leave with a plan. | 60 90 | 80-130
Legal advice session | A first opinion from a qualified lawyer. | 30 60 | 120-180
CV review | Line-by-line feedback and a sharper profile. | 30 45 60 | 50-80
Career coaching | Find the next step and how to get there. | 60 90 | 70-110
Business plan review | Numbers, market and pitch, with written notes. | 60 90 120 | 90-140
= Happy Paws; Wagtail Pet Care; Furry Friends Centre; Muddy Boots Pets
Dog grooming | Bath, trim, nails and ears for dogs of every size. | 45 60 90 120 | 35-55
Cat grooming | Gentle brushing, bathing and a tidy trim. | 45 60 | 40-60
Vet consultation | A check-up or a look at what worries you. | 15 20 30 | 90-140
Puppy training | Sit, stay, recall and walking on a loose lead. | 45 60 | 40-60
Dog walking | An hour out in the park, alone or in a small group. | 60 | 18-25
"""


def _trades(text: str) -> list[tuple[list[str], list[Offer]]]:
    trades: list[tuple[list[str], list[Offer]]] = []
    for line in filter(None, map(str.strip, text.splitlines())):
        if line.startswith("="):
            trades.append(([name.strip() for name in line[1:].split(";")], []))
            continue
        name, blurb, durations, hourly = (part.strip() for part in line.split("|"))
        low, high = map(int, hourly.split("-"))
        trades[-1][1].append(Offer(name, blurb, tuple(map(int, durations.split())), (low, high)))
    return trades


CATALOGUE = _trades(TRADES)

EXTRAS = (
    "Please arrive ten minutes early.",
    "Free cancellation up to 24 hours before.",
    "Step-free access.",
    "Card and contactless payments only.",
    "Gift vouchers available.",
    "Parking behind the building.",
    "English and Spanish spoken.",
    "Ten minutes from the central station.",
)

CITIES = ("Northside", "Old Town", "Riverside", "Harbourfront", "West End")

COMMENTS: dict[int, tuple[str, ...]] = {
    5: (
        "Excellent from start to finish.",
        "Friendly, punctual and very professional.",
        "Exactly what I needed, thank you!",
        "Best in town, hands down.",
        "Went above and beyond.",
        "Lovely atmosphere and great attention to detail.",
    ),
    4: (
        "Very good, just a short wait at the start.",
        "Great service, a little pricey.",
        "Professional and pleasant; I left happy.",
        "Good value and easy to book.",
        "Solid work, would come back.",
    ),
    3: (
        "Fine, nothing special.",
        "Decent, but it felt rushed at the end.",
        "OK overall; the room was a bit cold.",
        "Started fifteen minutes late, otherwise fine.",
    ),
    2: (
        "Not what the description promised.",
        "Disorganised; they had lost my booking.",
        "Too expensive for what you get.",
    ),
    1: (
        "Very disappointing.",
        "Nobody was there when I arrived.",
        "Would not recommend.",
    ),
}

RECOMMENDATIONS = (
    "Would book again.",
    "Highly recommended!",
    "Already booked my next visit.",
    "Tell them I sent you.",
)

FIRST_NAMES = """
Olivia Liam Emma Noah Amelia Oliver Sophia Elijah Mia Lucas Chloé Mateo Zoë Hiroshi Aisha
Mohammed Priya Arjun Mei Wei Fatima Omar Ingrid Lars Sofía José Léa Hugo Ana Tomás Nia Kwame
Yuki Sven Freya Rafael Isabel Luca Giulia Marco Hannah Jonas Eva Niamh Seán Ayesha Ravi Leila
Daniel Grace Samuel Chloe Ethan Lily Jack Ella Adam Maya Ben Nora
""".split()

LAST_NAMES = """
Smith Jones García Müller Rossi Dubois Kowalski Nguyen Kim Tanaka Okafor Mensah Patel Singh Khan
Chen Wang Silva Santos Novak Hansen Johansson Larsen O'Brien Murphy Fischer Weber Moreau Bianchi
Romano Haddad Cohen Levi Ivanova Petrov Horvat Costa Ferreira Yilmaz Demir Andersson Nakamura
Sato Park Lee Brown Taylor Wilson Evans Walker Clarke Hughes Edwards Baker Wright Green
""".split()

DOMAINS = ("example.com", "example.org", "example.net")
