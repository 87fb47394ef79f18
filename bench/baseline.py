"""The raw baseline: the benchmark's operations by hand, the least work for the same bytes.

A minimal Starlette app on uvicorn (uvloop, httptools, like `bookit serve`),
one psycopg connection pool, and for each operation one hand-written SQL
statement whose value is the response body: compact JSON concatenated by
PostgreSQL, byte for byte what BookIt answers (the benchmark checks that before
it measures, and says so when only the JSON is equal); Python passes the bytes
through. The same rules on the way: the bearer token is verified (signature,
expiry, a live session of an active user, in the same statement), anonymous
callers see active services only, a booking writes its event row under the
event log's lock and NOTIFYs in the same statement as its insert (the
exclusion constraint deciding), and logins verify bcrypt off the event loop.
It knows only the benchmark's operations, by operationName: that is the limit
a Python server on this database can reach.

    python -m bench.baseline --port 8001   (DATABASE_URL, SECRET_KEY from the environment)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import bcrypt
import jwt
import orjson
import psycopg
import uvicorn
from psycopg.rows import namedtuple_row
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bookit_graphql.catalog.schedule import Rules, local_start
from bookit_graphql.users import passwords

EVENT_LOG_LOCK = 7_310_002  # the same key as bookit_graphql.bookings.events
ISSUER, AUDIENCE = "bookit", "bookit-api"


def iso(column: str) -> str:
    """SQL for a timestamptz as Python's isoformat() in UTC: BookIt's DateTime output."""
    utc = f"({column} AT TIME ZONE 'UTC')"
    return (
        f"to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN "
        f"date_part('microseconds', {column})::int %% 1000000 <> 0 "
        f"THEN to_char({utc}, '.US') ELSE '' END || '+00:00'"
    )


def cursor(*columns: str) -> str:
    """SQL for BookIt's cursor: unpadded base64url of a JSON list of strings."""
    raw = f"convert_to(json_build_array({', '.join(columns)})::text, 'UTF8')"
    return f"rtrim(translate(replace(encode({raw}, 'base64'), E'\\n', ''), '+/', '-_'), '=')"


def string(sql: str) -> str:
    """SQL for a text column as a JSON string (PostgreSQL escapes it as orjson does)."""
    return f"to_json({sql})::text"


def quoted(sql: str) -> str:
    """SQL for a value whose text needs no escaping (a uuid, a number, a date) as a JSON string."""
    return f"'\"' || {sql} || '\"'"


def obj(*pairs: tuple[str, str]) -> str:
    """SQL concatenating a compact JSON object: each pair is a key and SQL for its JSON text."""
    parts = [f"'{',' if n else ''}\"{key}\":' || {value}" for n, (key, value) in enumerate(pairs)]
    return "'{' || " + " || ".join(parts) + " || '}'"


def nullable(sql: str, column: str) -> str:
    return f"CASE WHEN {column} IS NULL THEN 'null' ELSE {sql} END"


def edges(rows: str, node: str, order: str) -> str:
    """SQL aggregating `rows` into a connection's edges (each with the row's cursor `c`)."""
    return (
        f"'[' || coalesce(string_agg({obj(('cursor', quoted('c')), ('node', node))}, ',' "
        f"ORDER BY {order}), '') || ']'"
    )


def end_cursor(order: str) -> str:
    return f"coalesce('\"' || (array_agg(c ORDER BY {order}))[count(*)] || '\"', 'null')"


def service_fields(s: str) -> str:
    # orjson writes a float with at least one decimal: 4.0, 3.57
    rating = f"round({s}.rating_total::numeric / {s}.review_count, 2)::float8"
    return obj(
        ("id", quoted(f"{s}.id")),
        ("title", string(f"{s}.title")),
        ("description", string(f"{s}.description")),
        ("price", quoted(f"{s}.price")),
        ("durationMinutes", f"{s}.duration_minutes::text"),
        ("isActive", f"{s}.is_active::text"),
        (
            "averageRating",
            f"CASE WHEN {s}.review_count = 0 THEN 'null' WHEN {rating} = trunc({rating}) "
            f"THEN {rating}::text || '.0' ELSE {rating}::text END",
        ),
        ("reviewCount", f"{s}.review_count::text"),
        ("createdAt", quoted(iso(f"{s}.created_at"))),
        ("updatedAt", quoted(iso(f"{s}.updated_at"))),
    )


# Each read is one statement whose one value is the response body, compact JSON
# concatenated by PostgreSQL, byte for byte what BookIt answers (the bench checks
# that). The page is read once, LIMIT first: with no `after`, hasNextPage is
# totalCount > first, which the answer counts anyway.
SERVICES = f"""
SELECT '{{"data":{{"services":' || {
    obj(
        ("totalCount", "t.n::text"),
        ("pageInfo", obj(("hasNextPage", "(t.n > %(first)s)::text"),
                         ("endCursor", end_cursor("p.created_at, p.id")))),
        ("edges", edges("p", service_fields("p"), "p.created_at, p.id")),
    )
} || '}}}}'
FROM (SELECT count(*) AS n FROM services WHERE is_active) t LEFT JOIN LATERAL (
  SELECT s.*, {cursor(iso("s.created_at"), "s.id::text")} AS c FROM services s
  WHERE s.is_active ORDER BY s.created_at, s.id LIMIT %(first)s
) p ON true
GROUP BY t.n
"""  # fmt: skip

# S2: the viewer (a live session of an active user) beside the page; an admin
# sees every booking, a user their own. The count is a plain count(*) of what
# the viewer sees; each row's service, user and review by primary key.
BOOKINGS = f"""
SELECT '{{"data":{{"bookings":' || {
    obj(
        ("totalCount", "v.n::text"),
        ("pageInfo", obj(("hasNextPage", "(v.n > %(first)s)::text"),
                         ("endCursor", end_cursor("p.starts_at, p.id")))),
        ("edges", edges("p", obj(
            ("id", quoted("p.id")),
            ("startsAt", quoted(iso("p.starts_at"))),
            ("endsAt", quoted(iso("p.ends_at"))),
            ("status", quoted("p.status")),
            ("createdAt", quoted(iso("p.created_at"))),
            ("updatedAt", quoted(iso("p.updated_at"))),
            ("service", "p.service"),
            ("user", "p.usr"),
            ("review", "p.review"),
        ), "p.starts_at, p.id")),
    )
} || '}}}}'
FROM (
  SELECT u.id, u.role = 'ADMIN' AS admin, CASE WHEN u.role = 'ADMIN'
    THEN (SELECT count(*) FROM bookings) ELSE (SELECT count(*) FROM bookings WHERE user_id = u.id)
    END AS n
  FROM users u JOIN auth_sessions a ON a.user_id = u.id
  WHERE u.id = %(user_id)s AND u.is_active AND a.id = %(session_id)s AND a.revoked_at IS NULL
) v LEFT JOIN LATERAL (
  SELECT b.*, {cursor(iso("b.starts_at"), "b.id::text")} AS c,
    (SELECT {obj(("id", quoted("s.id")), ("title", string("s.title")), ("price", quoted("s.price")),
                 ("durationMinutes", "s.duration_minutes::text"))}
     FROM services s WHERE s.id = b.service_id) AS service,
    (SELECT {obj(("id", quoted("u.id")), ("email", string("u.email")),
                 ("fullName", string("u.full_name")))}
     FROM users u WHERE u.id = b.user_id) AS usr,
    coalesce((SELECT {obj(("id", quoted("r.id")), ("rating", "r.rating::text"),
                          ("comment", nullable(string("r.comment"), "r.comment")))}
              FROM reviews r WHERE r.booking_id = b.id), 'null') AS review
  FROM bookings b WHERE v.admin OR b.user_id = v.id
  ORDER BY b.starts_at, b.id LIMIT %(first)s
) p ON true
GROUP BY v.n
"""  # fmt: skip

# S3: an active service and a page of its reviews, newest first; anonymous
# callers see no review's booking. totalCount is the service's review_count.
SERVICE = f"""
SELECT '{{"data":{{"service":' || left({service_fields("s")}, -1) || ',"reviews":' || {
    obj(
        ("totalCount", "s.review_count::text"),
        ("pageInfo", obj(("hasNextPage", "(s.review_count > %(first)s)::text"),
                         ("endCursor", end_cursor("r.created_at DESC, r.id DESC")))),
        ("edges", edges("r", obj(
            ("id", quoted("r.id")),
            ("rating", "r.rating::text"),
            ("comment", nullable(string("r.comment"), "r.comment")),
            ("createdAt", quoted(iso("r.created_at"))),
            ("updatedAt", quoted(iso("r.updated_at"))),
            ("author", "r.author"),
            ("booking", "'null'"),
            ("service", obj(("id", quoted("s.id")), ("title", string("s.title")))),
        ), "r.created_at DESC, r.id DESC")),
    )
} || '}}}}}}'
FROM services s LEFT JOIN LATERAL (
  SELECT r.*, {cursor(iso("r.created_at"), "r.id::text")} AS c,
    (SELECT {obj(("id", quoted("u.id")), ("fullName", string("u.full_name")))}
     FROM users u WHERE u.id = r.user_id) AS author
  FROM reviews r WHERE r.service_id = s.id
  ORDER BY r.created_at DESC, r.id DESC LIMIT %(first)s
) r ON true
WHERE s.id = %(id)s AND s.is_active
GROUP BY s.id
"""  # fmt: skip


# S4: the page S1 lists, each service's rules and the busy times of its active
# bookings that can meet the window (their buffers included), in one statement;
# the slots are then proposed by the same rules engine as BookIt's (the work
# the answer needs), and the seats counted here.
SERVICE_SLOTS = """
WITH page AS (
  SELECT * FROM services WHERE is_active ORDER BY created_at, id LIMIT %(first)s
)
SELECT p.id::text AS id, p.duration_minutes, p.time_zone, p.weekly_hours, p.closures,
  p.buffer_before_minutes, p.buffer_after_minutes, p.min_notice_minutes,
  p.max_advance_days, p.capacity,
  ARRAY(SELECT ARRAY[b.busy_starts_at, b.busy_ends_at] FROM bookings b
        WHERE b.service_id = p.id AND b.status <> 'CANCELLED'
          AND tstzrange(b.busy_starts_at, b.busy_ends_at, '[)')
              && tstzrange(%(from)s - make_interval(mins => p.buffer_before_minutes),
                           %(to)s + make_interval(mins => p.buffer_after_minutes), '[)')
  ) AS busy
FROM page p ORDER BY p.created_at, p.id
"""

# W1: the booking and its event in one statement, as the issue's raw write: the
# viewer's live session, the active service, the insert (the exclusion constraint
# deciding: no row is a conflict), the event row under the event log's lock, its
# NOTIFY, and the response body. The bench's services are BookIt's defaults (open
# around the clock, one seat), so BookIt's schedule rules refuse nothing here.
CREATE_BOOKING = f"""
WITH viewer AS (
  SELECT u.id, u.email, u.full_name FROM users u JOIN auth_sessions a ON a.user_id = u.id
  WHERE u.id = %(user_id)s AND u.is_active AND a.id = %(session_id)s AND a.revoked_at IS NULL
), service AS (
  SELECT id, title, price, duration_minutes FROM services
  WHERE id = %(service_id)s AND is_active
), b AS (
  INSERT INTO bookings (id, service_id, user_id, starts_at, ends_at, busy_starts_at,
                        busy_ends_at, status)
  SELECT %(id)s, s.id, v.id, %(starts_at)s, e.ends_at, %(starts_at)s, e.ends_at, 'PENDING'
  FROM viewer v, service s,
    LATERAL (SELECT %(starts_at)s + make_interval(mins => s.duration_minutes) AS ends_at) e
  ON CONFLICT DO NOTHING RETURNING *
), e AS (
  INSERT INTO booking_events (kind, type, booking_id, service_id, user_id, booking)
  SELECT 'CREATED', 'booking.created', b.id, b.service_id, b.user_id,
    jsonb_build_object('id', b.id::text, 'service_id', b.service_id::text,
      'user_id', b.user_id::text, 'starts_at', {iso("b.starts_at")},
      'ends_at', {iso("b.ends_at")}, 'status', b.status::text,
      'created_at', {iso("b.created_at")}, 'updated_at', {iso("b.updated_at")})
  FROM b, (SELECT pg_advisory_xact_lock({EVENT_LOG_LOCK})) l
  RETURNING id
)
SELECT EXISTS (SELECT FROM viewer), EXISTS (SELECT FROM service), (
  SELECT '{{"data":{{"createBooking":' || {
    obj(
        ("id", quoted("b.id")),
        ("startsAt", quoted(iso("b.starts_at"))),
        ("endsAt", quoted(iso("b.ends_at"))),
        ("status", quoted("b.status")),
        ("createdAt", quoted(iso("b.created_at"))),
        ("updatedAt", quoted(iso("b.updated_at"))),
        ("service", obj(("id", quoted("s.id")), ("title", string("s.title")),
                        ("price", quoted("s.price")),
                        ("durationMinutes", "s.duration_minutes::text"))),
        ("user", obj(("id", quoted("v.id")), ("email", string("v.email")),
                     ("fullName", string("v.full_name")))),
        ("review", "'null'"),
    )
  } || '}}}}'
  FROM b, e, service s, viewer v, LATERAL (SELECT pg_notify('booking_events', e.id::text)) n
)
"""  # fmt: skip

CONFLICT = f"""
SELECT {iso("starts_at")}, {iso("ends_at")} FROM bookings
WHERE service_id = %(service_id)s AND status <> 'CANCELLED' AND ends_at > %(starts_at)s
  AND starts_at < %(starts_at)s + (SELECT make_interval(mins => duration_minutes) FROM services
                                   WHERE id = %(service_id)s)
ORDER BY starts_at LIMIT 1
"""

LOGIN_USER = "SELECT id, email, full_name, role::text, is_active, password_hash FROM users "
LOGIN_USER += "WHERE email = %(email)s"
NEW_SESSION = """
INSERT INTO auth_sessions (id, user_id, refresh_jti, expires_at)
VALUES (%(id)s, %(user_id)s, %(jti)s, %(expires_at)s)
"""


def error(message: str, code: str, **extensions: Any) -> bytes:
    body = {
        "data": None,
        "errors": [{"message": message, "extensions": {"code": code, **extensions}}],
    }
    return orjson.dumps(body)


class Unauthenticated(Exception):
    pass


class Pool:
    """A fixed set of connections, each used by one request at a time."""

    def __init__(self, url: str, size: int) -> None:
        self.url, self.size = url, size
        self.idle: asyncio.Queue[psycopg.AsyncConnection[Any]] = asyncio.Queue()

    async def open(self) -> None:
        for _ in range(self.size):
            connection = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
            # as BookIt's reads (db.Reads): a custom plan of S2 sorts every booking
            await connection.execute("SET plan_cache_mode = force_generic_plan")
            self.idle.put_nowait(connection)

    async def close(self) -> None:
        while not self.idle.empty():
            await self.idle.get_nowait().close()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        connection = await self.idle.get()
        try:
            yield connection
        finally:
            self.idle.put_nowait(connection)


class Baseline:
    def __init__(self, url: str, secret: str, bcrypt_rounds: int) -> None:
        self.pool = Pool(url, size=10)
        self.secret = secret
        self.bcrypt_rounds = bcrypt_rounds
        self.operations: dict[str, Callable[[dict[str, Any], str | None], Awaitable[bytes]]] = {
            "Services": self.services,
            "Bookings": self.bookings,
            "Service": self.service,
            "ServiceSlots": self.service_slots,
            "CreateBooking": self.create_booking,
            "Login": self.login,
        }

    def claims(self, header: str | None) -> dict[str, str]:
        if header is None:
            raise Unauthenticated()
        try:
            claims: dict[str, str] = jwt.decode(
                header.partition(" ")[2],
                self.secret,
                algorithms=["HS256"],
                issuer=ISSUER,
                audience=AUDIENCE,
            )
        except jwt.PyJWTError as failure:
            raise Unauthenticated() from failure
        if claims.get("typ") != "access":
            raise Unauthenticated()
        return {"user_id": claims["sub"], "session_id": claims["sid"]}

    async def one(self, sql: str, params: dict[str, Any]) -> tuple[Any, ...] | None:
        async with self.pool.connection() as connection:
            cursor = await connection.execute(sql.encode(), params)
            return await cursor.fetchone()

    async def services(self, variables: dict[str, Any], auth: str | None) -> bytes:
        row = await self.one(SERVICES, {"first": variables.get("first") or 20})
        return str(row[0] if row else "null").encode()

    async def service(self, variables: dict[str, Any], auth: str | None) -> bytes:
        params = {"id": variables["id"], "first": variables.get("reviewsFirst") or 20}
        row = await self.one(SERVICE, params)
        if row is None:
            return error("No such service.", "NOT_FOUND")
        return str(row[0]).encode()

    async def service_slots(self, variables: dict[str, Any], auth: str | None) -> bytes:
        start = datetime.fromisoformat(variables["from"])
        end = datetime.fromisoformat(variables["to"])
        step = timedelta(minutes=60)  # the document's stepMinutes
        params = {"first": variables.get("first") or 20, "from": start, "to": end}
        async with self.pool.connection() as connection:
            cursor = connection.cursor(row_factory=namedtuple_row)
            rows: list[Any] = await (
                await cursor.execute(SERVICE_SLOTS.encode(), params)
            ).fetchall()
        now = datetime.now(UTC)
        edges = []
        for row in rows:
            rules = Rules.of(row)
            duration = timedelta(minutes=row.duration_minutes)
            slots = []
            for starts in rules.slots(start, end, duration=duration, step=step, now=now):
                busy_from, busy_until = rules.busy(starts, starts + duration)
                taken = sum(1 for b in row.busy if b[0] < busy_until and b[1] > busy_from)
                if taken < rules.capacity:
                    slots.append(
                        {
                            "startsAt": starts.astimezone(UTC).isoformat(),
                            "localStart": local_start(starts, rules.tz),
                            "seatsLeft": rules.capacity - taken,
                        }
                    )
            edges.append({"node": {"id": row.id, "availableSlots": slots}})
        return orjson.dumps({"data": {"services": {"edges": edges}}})

    async def bookings(self, variables: dict[str, Any], auth: str | None) -> bytes:
        params = {**self.claims(auth), "first": variables.get("first") or 20}
        row = await self.one(BOOKINGS, params)
        if row is None:  # no live session of an active user
            raise Unauthenticated()
        return str(row[0]).encode()

    async def create_booking(self, variables: dict[str, Any], auth: str | None) -> bytes:
        claims = self.claims(auth)
        given = variables["input"]
        starts_at = datetime.fromisoformat(given["startsAt"])
        params = {
            **claims,
            "id": uuid.uuid4(),
            "service_id": uuid.UUID(given["serviceId"]),
            "starts_at": starts_at,
        }
        if starts_at <= datetime.now(UTC):
            return error("A booking starts in the future.", "BAD_USER_INPUT")
        async with self.pool.connection() as connection:
            found = await (await connection.execute(CREATE_BOOKING, params)).fetchone()
            viewer, service, body = found if found else (False, False, None)
            if not viewer:
                raise Unauthenticated()
            if not service:
                return error("No such service.", "NOT_FOUND")
            if body is None:
                busy = await (await connection.execute(CONFLICT, params)).fetchone()
                extensions = (
                    {"conflictingRange": {"startsAt": busy[0], "endsAt": busy[1]}} if busy else {}
                )
                return error(
                    "The time overlaps another booking of this service.",
                    "BOOKING_CONFLICT",
                    **extensions,
                )
        return str(body).encode()

    async def login(self, variables: dict[str, Any], auth: str | None) -> bytes:
        given = variables["input"]
        email, password = given["email"].strip().lower(), given["password"].encode()
        row = await self.one(LOGIN_USER, {"email": email})
        stored = row[5].encode() if row else bcrypt.hashpw(b"-", bcrypt.gensalt(4))
        # the same niced bcrypt threads as BookIt (bookit_graphql.users.passwords)
        matches = await passwords._off_the_loop(bcrypt.checkpw, password[:72], stored)
        if row is None or not matches or not row[4]:
            return error("Wrong email or password.", "UNAUTHENTICATED")
        user_id, session_id, jti = row[0], uuid.uuid4(), uuid.uuid4()
        now = datetime.now(UTC)
        refresh_expiry = now + timedelta(days=7)
        async with self.pool.connection() as connection:
            await connection.execute(
                NEW_SESSION,
                {"id": session_id, "user_id": user_id, "jti": jti, "expires_at": refresh_expiry},
            )
        common = {"iss": ISSUER, "aud": AUDIENCE, "sub": str(user_id), "sid": str(session_id)}
        access = {**common, "jti": str(uuid.uuid4()), "typ": "access", "iat": now}
        access["exp"] = now + timedelta(minutes=15)
        refresh = {**common, "jti": str(jti), "typ": "refresh", "iat": now, "exp": refresh_expiry}
        tokens = {
            "accessToken": jwt.encode(access, self.secret, algorithm="HS256"),
            "refreshToken": jwt.encode(refresh, self.secret, algorithm="HS256"),
            "tokenType": "Bearer",
            "expiresIn": 900,
            "user": {"id": str(user_id), "email": row[1], "fullName": row[2], "role": row[3]},
        }
        return orjson.dumps({"data": {"login": tokens}})

    async def graphql(self, request: Request) -> Response:
        body = orjson.loads(await request.body())
        operation = self.operations.get(body.get("operationName") or "")
        if operation is None:
            return Response(error("Unknown operation.", "BAD_REQUEST"), 400)
        try:
            payload = await operation(
                body.get("variables") or {}, request.headers.get("authorization")
            )
        except Unauthenticated:
            payload = error("The access token is invalid, expired or revoked.", "UNAUTHENTICATED")
            return Response(payload, 401, {"WWW-Authenticate": "Bearer"}, "application/json")
        return Response(payload, media_type="application/json")


def create_app(url: str, secret: str, bcrypt_rounds: int = 12) -> Starlette:
    baseline = Baseline(url, secret, bcrypt_rounds)

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await baseline.pool.open()
        yield
        await baseline.pool.close()

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/graphql", baseline.graphql, methods=["POST"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.baseline")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    from bookit_graphql.db import libpq_url

    app = create_app(libpq_url(os.environ["DATABASE_URL"]), os.environ["SECRET_KEY"])
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
