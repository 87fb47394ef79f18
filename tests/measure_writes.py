"""Server CPU per createBooking, in process: `python tests/measure_writes.py [N]`.

Not a test (pytest collects test_*.py only) and not the benchmark (bench/): a
quick figure to compare two commits back to back on one machine. It starts an
embedded PostgreSQL, migrates it with the code on the path (PYTHONPATH=/work/main
measures main), and sends N createBooking requests for free slots straight into
the ASGI application, one at a time, then the same number into a raw endpoint
(Starlette + psycopg: one statement inserting the booking and its event, then
NOTIFY). It prints the process CPU and the wall time per request of each: the
client here is a bare ASGI call, so nearly all the CPU is the server's.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bookit_graphql.app import create_app
from bookit_graphql.config import Settings
from bookit_graphql.db import libpq_url, migrate
from bookit_graphql.embedded import embedded_database

CREATE = (
    "mutation($input: CreateBookingInput!) "
    "{ createBooking(input: $input) { id startsAt endsAt status } }"
)
REGISTER = "mutation($input: RegisterInput!) { register(input: $input) { accessToken } }"
RAW = """
WITH booking AS (
    INSERT INTO bookings (id, service_id, user_id, starts_at, ends_at, busy_starts_at,
                          busy_ends_at, exclusive)
    VALUES (%(id)s, %(service_id)s, %(user_id)s, %(starts_at)s, %(ends_at)s, %(starts_at)s,
            %(ends_at)s, true)
    ON CONFLICT DO NOTHING RETURNING *
), event AS (
    INSERT INTO booking_events (kind, type, booking_id, service_id, user_id, booking)
    SELECT 'CREATED', 'booking.created', b.id, b.service_id, b.user_id, to_jsonb(b)
    FROM booking AS b RETURNING id
)
SELECT json_build_object('data', json_build_object('createBooking', json_build_object(
    'id', b.id, 'startsAt', b.starts_at, 'endsAt', b.ends_at, 'status', b.status)))::text,
    pg_notify('booking_events', (SELECT id FROM event)::text)
FROM booking AS b
"""


async def call(app: Any, body: bytes, token: str | None) -> bytes:
    headers = [(b"host", b"bookit.test"), (b"content-type", b"application/json")]
    if token:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("bookit.test", 80),
    }
    sent = False
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return b"".join(chunks)


def raw_app(url: str) -> tuple[Starlette, AsyncConnectionPool]:
    pool = AsyncConnectionPool(libpq_url(url), min_size=2, open=False, kwargs={"autocommit": True})

    async def endpoint(request: Request) -> Response:
        variables = json.loads(await request.body())["variables"]["input"]
        async with pool.connection() as connection:
            row = await (await connection.execute(RAW, variables)).fetchone()
        assert row is not None
        return Response(row[0], media_type="application/json")

    return Starlette(routes=[Route("/graphql", endpoint, methods=["POST"])]), pool


async def measure(n: int, url: str) -> None:
    logging.basicConfig(level=logging.WARNING)
    settings = Settings(secret_key="x" * 48, bcrypt_rounds=4, rate_limit=False)
    app = create_app(settings, url)
    registered = json.loads(
        await call(
            app,
            json.dumps(
                {
                    "query": REGISTER,
                    "variables": {
                        "input": {
                            "email": "m@example.com",
                            "password": "correct horse battery",
                            "fullName": "M",
                        }
                    },
                }
            ).encode(),
            None,
        )
    )
    token = registered["data"]["register"]["accessToken"]
    with psycopg.connect(libpq_url(url), autocommit=True) as db:
        service_id, user_id = (
            str(uuid.uuid4()),
            db.execute("SELECT id FROM users").fetchone()[0],  # type: ignore[index]
        )
        db.execute(
            "INSERT INTO services (id, title, price, duration_minutes) VALUES (%s, 'S', 10, 30)",
            (service_id,),
        )
    base = (datetime.now(UTC) + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    slot = iter(range(100_000))

    def body() -> bytes:
        starts = base + timedelta(minutes=30 * next(slot))
        variables = {"input": {"serviceId": service_id, "startsAt": starts.isoformat()}}
        return json.dumps({"query": CREATE, "variables": variables}).encode()

    async def run(label: str, target: Any, make: Any, token: str | None) -> None:
        for _ in range(30):  # warm: caches, prepared statements, pools
            answer = await call(target, make(), token)
            assert b'"errors"' not in answer, answer
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(n):
            answer = await call(target, make(), token)
            assert b'"errors"' not in answer, answer
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print(f"{label}: {1000 * cpu / n:.2f} ms CPU, {1000 * wall / n:.2f} ms wall per request")  # noqa: T201

    raw, pool = raw_app(url)
    await pool.open()

    def raw_body() -> bytes:
        starts = base + timedelta(minutes=30 * next(slot))
        variables = {
            "id": str(uuid.uuid4()),
            "service_id": service_id,
            "user_id": str(user_id),
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(minutes=30)).isoformat(),
        }
        return json.dumps({"variables": {"input": variables}}).encode()

    def me() -> bytes:
        return json.dumps({"query": "{ me { id } }"}).encode()

    for _ in range(2):  # alternate, the machine is noisy
        await run("bookit createBooking", app, body, token)
        await run("raw one-statement write", raw, raw_body, None)
        await run("bookit { me { id } } (the floor of an authenticated request)", app, me, token)
    await pool.close()
    await app.state.reads.close()
    await app.state.engine.dispose()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    folder = Path(tempfile.mkdtemp(prefix="bkm", dir="/tmp"))
    try:
        with embedded_database(folder) as url:
            migrate(url)
            asyncio.run(measure(n, url))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
