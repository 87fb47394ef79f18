"""The raw baseline: the benchmark's operations by hand, PostgreSQL building the JSON.

A minimal Starlette app on uvicorn (uvloop, httptools, like `bookit serve`),
one psycopg connection pool, one hand-written SQL statement per read that
returns the response body as built by PostgreSQL; Python only passes bytes
through. It answers the same documents with the same JSON as BookIt (the
benchmark checks that before it measures), with the same rules on the way:
the bearer token is verified (signature, expiry, a live session of an active
user), anonymous callers see active services only, bookings take the same
advisory locks and write the same event row and NOTIFY, and logins verify
bcrypt off the event loop. It knows only the benchmark's operations, by
operationName: that is the limit a Python server on this database can reach.

    python -m bench.baseline --port 8001   (DATABASE_URL, SECRET_KEY from the environment)
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
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


def service_fields(s: str) -> str:
    return (
        f"'id', {s}.id, 'title', {s}.title, 'description', {s}.description, "
        f"'price', {s}.price::text, 'durationMinutes', {s}.duration_minutes, "
        f"'isActive', {s}.is_active, "
        f"'averageRating', round({s}.rating_total::numeric / nullif({s}.review_count, 0), 2), "
        f"'reviewCount', {s}.review_count, "
        f"'createdAt', {iso(f'{s}.created_at')}, 'updatedAt', {iso(f'{s}.updated_at')}"
    )


# A live access token's user, if its session is live and the user active.
VIEWER = """viewer AS (
  SELECT u.id, u.role::text AS role FROM users u JOIN auth_sessions a ON a.user_id = u.id
  WHERE u.id = %(user_id)s AND u.is_active AND a.id = %(session_id)s AND a.revoked_at IS NULL
)"""

SERVICES = f"""
WITH page AS (
  SELECT s.*, {cursor(iso("s.created_at"), "s.id::text")} AS cursor FROM services s
  WHERE s.is_active ORDER BY s.created_at, s.id LIMIT %(first)s + 1
), kept AS (SELECT * FROM page ORDER BY created_at, id LIMIT %(first)s)
SELECT json_build_object('data', json_build_object('services', json_build_object(
  'totalCount', (SELECT count(*) FROM services WHERE is_active),
  'pageInfo', json_build_object(
    'hasNextPage', (SELECT count(*) FROM page) > %(first)s,
    'endCursor', (SELECT cursor FROM kept ORDER BY created_at DESC, id DESC LIMIT 1)),
  'edges', (SELECT coalesce(json_agg(json_build_object(
      'cursor', k.cursor, 'node', json_build_object({service_fields("k")}))
    ORDER BY k.created_at, k.id), '[]') FROM kept k))))::text
"""

BOOKINGS = f"""
WITH {VIEWER}, visible AS NOT MATERIALIZED (
  SELECT b.* FROM bookings b, viewer v WHERE v.role = 'ADMIN' OR b.user_id = v.id
), page AS (
  SELECT * FROM visible ORDER BY starts_at, id LIMIT %(first)s + 1
), kept AS (SELECT * FROM page ORDER BY starts_at, id LIMIT %(first)s)
SELECT EXISTS (SELECT FROM viewer), json_build_object('data', json_build_object(
 'bookings', json_build_object(
  'totalCount', (SELECT count(*) FROM visible),
  'pageInfo', json_build_object(
    'hasNextPage', (SELECT count(*) FROM page) > %(first)s,
    'endCursor', (SELECT {cursor(iso("starts_at"), "id::text")} FROM kept
                  ORDER BY starts_at DESC, id DESC LIMIT 1)),
  'edges', (SELECT coalesce(json_agg(json_build_object(
      'cursor', {cursor(iso("b.starts_at"), "b.id::text")},
      'node', json_build_object(
        'id', b.id, 'startsAt', {iso("b.starts_at")}, 'endsAt', {iso("b.ends_at")},
        'status', b.status, 'createdAt', {iso("b.created_at")},
        'updatedAt', {iso("b.updated_at")},
        'service', json_build_object('id', s.id, 'title', s.title, 'price', s.price::text,
                                     'durationMinutes', s.duration_minutes),
        'user', json_build_object('id', u.id, 'email', u.email, 'fullName', u.full_name),
        'review', CASE WHEN r.id IS NOT NULL THEN
          json_build_object('id', r.id, 'rating', r.rating, 'comment', r.comment) END))
    ORDER BY b.starts_at, b.id), '[]')
    FROM kept b JOIN services s ON s.id = b.service_id JOIN users u ON u.id = b.user_id
    LEFT JOIN reviews r ON r.booking_id = b.id))))::text
"""

SERVICE = f"""
WITH s AS (SELECT * FROM services WHERE id = %(id)s AND is_active),
page AS (
  SELECT r.* FROM reviews r WHERE r.service_id = %(id)s
  ORDER BY r.created_at DESC, r.id DESC LIMIT %(first)s + 1
), kept AS (SELECT * FROM page ORDER BY created_at DESC, id DESC LIMIT %(first)s)
SELECT json_build_object('data', json_build_object('service', json_build_object(
  {service_fields("s")},
  'reviews', json_build_object(
    'totalCount', s.review_count,
    'pageInfo', json_build_object(
      'hasNextPage', (SELECT count(*) FROM page) > %(first)s,
      'endCursor', (SELECT {cursor(iso("created_at"), "id::text")} FROM kept
                    ORDER BY created_at, id LIMIT 1)),
    'edges', (SELECT coalesce(json_agg(json_build_object(
        'cursor', {cursor(iso("r.created_at"), "r.id::text")},
        'node', json_build_object(
          'id', r.id, 'rating', r.rating, 'comment', r.comment,
          'createdAt', {iso("r.created_at")}, 'updatedAt', {iso("r.updated_at")},
          'author', json_build_object('id', u.id, 'fullName', u.full_name),
          'booking', NULL, 'service', json_build_object('id', s.id, 'title', s.title)))
      ORDER BY r.created_at DESC, r.id DESC), '[]')
      FROM kept r JOIN users u ON u.id = r.user_id)))))::text
FROM s
"""

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

BOOKER = f"""
WITH {VIEWER}
SELECT v.id, s.duration_minutes FROM viewer v, services s
WHERE s.id = %(service_id)s AND s.is_active
"""

INSERT_BOOKING = f"""
WITH b AS (
  INSERT INTO bookings (id, service_id, user_id, starts_at, ends_at, busy_starts_at,
                        busy_ends_at, status)
  VALUES (%(id)s, %(service_id)s, %(user_id)s, %(starts_at)s, %(ends_at)s, %(starts_at)s,
          %(ends_at)s, 'PENDING')
  ON CONFLICT DO NOTHING RETURNING *
)
SELECT json_build_object('data', json_build_object('createBooking', json_build_object(
  'id', b.id, 'startsAt', {iso("b.starts_at")}, 'endsAt', {iso("b.ends_at")},
  'status', b.status, 'createdAt', {iso("b.created_at")}, 'updatedAt', {iso("b.updated_at")},
  'service', json_build_object('id', s.id, 'title', s.title, 'price', s.price::text,
                               'durationMinutes', s.duration_minutes),
  'user', json_build_object('id', u.id, 'email', u.email, 'fullName', u.full_name),
  'review', NULL)))::text,
  jsonb_build_object('id', b.id::text, 'service_id', b.service_id::text,
    'user_id', b.user_id::text, 'starts_at', {iso("b.starts_at")},
    'ends_at', {iso("b.ends_at")}, 'status', b.status::text,
    'created_at', {iso("b.created_at")}, 'updated_at', {iso("b.updated_at")})
FROM b JOIN services s ON s.id = b.service_id JOIN users u ON u.id = b.user_id
"""

RECORD_EVENT = """
WITH e AS (
  INSERT INTO booking_events (kind, type, booking_id, service_id, user_id, booking)
  VALUES ('CREATED', 'booking.created', %(id)s, %(service_id)s, %(user_id)s, %(snapshot)s)
  RETURNING id
)
SELECT pg_notify('booking_events', id::text) FROM e
"""

CONFLICT = f"""
SELECT {iso("starts_at")}, {iso("ends_at")} FROM bookings
WHERE service_id = %(service_id)s AND status <> 'CANCELLED'
  AND starts_at < %(ends_at)s AND ends_at > %(starts_at)s
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
            self.idle.put_nowait(await psycopg.AsyncConnection.connect(self.url, autocommit=True))

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
        if row is None or not row[0]:
            raise Unauthenticated()
        return str(row[1]).encode()

    async def create_booking(self, variables: dict[str, Any], auth: str | None) -> bytes:
        claims = self.claims(auth)
        given = variables["input"]
        service_id = uuid.UUID(given["serviceId"])
        starts_at = datetime.fromisoformat(given["startsAt"])
        async with self.pool.connection() as connection, connection.transaction():
            found = await (
                await connection.execute(BOOKER, {**claims, "service_id": service_id})
            ).fetchone()
            if found is None:
                return error("No such service.", "NOT_FOUND")
            user_id, minutes = found
            if starts_at <= datetime.now(UTC):
                return error("A booking starts in the future.", "BAD_USER_INPUT")
            params = {
                "id": uuid.uuid4(),
                "service_id": service_id,
                "user_id": user_id,
                "starts_at": starts_at,
                "ends_at": starts_at + timedelta(minutes=minutes),
            }
            digest = hashlib.blake2b(b"bookings:" + service_id.bytes, digest_size=8).digest()
            lock = int.from_bytes(digest, "big", signed=True)
            await connection.execute("SELECT pg_advisory_xact_lock(%s)", (lock,))
            inserted = await (await connection.execute(INSERT_BOOKING, params)).fetchone()
            if inserted is None:
                busy = await (await connection.execute(CONFLICT, params)).fetchone()
                extensions = (
                    {"conflictingRange": {"startsAt": busy[0], "endsAt": busy[1]}} if busy else {}
                )
                return error(
                    "The time overlaps another booking of this service.",
                    "BOOKING_CONFLICT",
                    **extensions,
                )
            await connection.execute("SELECT pg_advisory_xact_lock(%s)", (EVENT_LOG_LOCK,))
            snapshot = psycopg.types.json.Jsonb(inserted[1])
            await connection.execute(RECORD_EVENT, {**params, "snapshot": snapshot})
        return str(inserted[0]).encode()

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
