"""`bookit worker` as its own process beside `bookit serve`, and database faults under it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from bookit_graphql.db import libpq_url
from tests.bookings.support import at, booked
from tests.conftest import SECRET, Server
from tests.factories import Rows
from tests.figures import report
from tests.helpers import make_admin, sign_up
from tests.integrations.conftest import Receiver
from tests.integrations.test_webhooks import endpoint

# every client backend of the test database but the terminator's own
TERMINATE_ALL = """
SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid()
  AND backend_type = 'client backend'
"""


@dataclass
class WorkerProcess:
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self, timeout: float = 15) -> int:
        """SIGTERM, then SIGKILL if it does not stop in time; returns the exit code."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


@pytest.fixture
def start_worker(database_url: str, tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Starts `bookit worker` processes on the test database; stops them by pid."""
    started: list[WorkerProcess] = []

    def start(**extra_env: str) -> WorkerProcess:
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "SECRET_KEY": SECRET,
            "LOG_LEVEL": "WARNING",
            "BOOKIT_DATA_DIR": str(tmp_path / "worker-data"),
            **extra_env,
        }
        log = tmp_path / f"worker-{len(started)}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "bookit_graphql", "worker"],
                env=env,
                stdout=output,
                stderr=output,
            )
        found = WorkerProcess(process, log)
        started.append(found)
        return found

    yield start
    for found in started:
        found.stop()


async def arrived(receiver: Receiver, path: str, count: int, within: float = 30) -> None:
    """Wait until `path` has `count` distinct webhook-ids."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if len({r.id for r in receiver.at(path)}) >= count:
            return
        await asyncio.sleep(0.1)
    got = len({r.id for r in receiver.at(path)})
    raise AssertionError(f"{path}: {got} of {count} deliveries arrived in {within} s")


async def test_bookit_worker_apart_delivers_what_bookit_serve_records(
    start_server: Callable[..., Server],
    start_worker: Callable[..., WorkerProcess],
    database_url: str,
    rows: Rows,
    receiver: Receiver,
) -> None:
    # given `bookit serve` without a worker, and `bookit worker` apart on the same database
    server = start_server("serve.log", BOOKIT_WORKER="off")
    worker = start_worker()
    service_id = await rows.service(title="Apart")
    async with httpx.AsyncClient(base_url=server.base, timeout=10) as client:
        admin = await make_admin(client, database_url, "admin@example.com")
        alice = await sign_up(client, "alice@example.com", full_name="Alice")
        await endpoint(client, admin, receiver, "/apart")
        # when alice books
        booking = await booked(client, alice.token, service_id, at(1))
    # then the worker process delivers it, signed
    await arrived(receiver, "/apart", 1)
    (got,) = receiver.at("/apart")
    assert got.payload["type"] == "booking.created"
    assert got.payload["data"]["booking"]["id"] == booking["id"]
    assert list(got.verified.values()) == [True]
    # and both stop cleanly when asked, by pid
    assert worker.process.poll() is None
    assert worker.stop() == 0
    assert server.stop() == 0
    assert "Traceback" not in worker.log.read_text()


async def test_terminated_worker_connections_lose_no_delivery(
    start_server: Callable[..., Server],
    start_worker: Callable[..., WorkerProcess],
    database_url: str,
    rows: Rows,
    receiver: Receiver,
    request: pytest.FixtureRequest,
) -> None:
    # given three endpoints on a slowish receiver, and a burst of bookings
    server = start_server("serve.log", BOOKIT_WORKER="off")
    service_id = await rows.service(title="Burst")
    paths = ["/a", "/b", "/c"]
    bookings = []
    async with httpx.AsyncClient(base_url=server.base, timeout=10) as client:
        admin = await make_admin(client, database_url, "admin@example.com")
        alice = await sign_up(client, "alice@example.com", full_name="Alice")
        for path in paths:
            await endpoint(client, admin, receiver, path)
            receiver.delays[path] = [0.05] * 1000
        for hour in range(1, 41):
            bookings.append((await booked(client, alice.token, service_id, at(hour)))["id"])
    # when a worker sends them and, once the first have arrived, every connection of the
    # database is cut, again and again, while the rest are on their way
    worker = start_worker()
    started = time.monotonic()

    def sent() -> int:
        return sum(len({r.id for r in receiver.at(path)}) for path in paths)

    await arrived(receiver, paths[0], 1)
    terminated, during = 0, []
    async with await psycopg.AsyncConnection.connect(
        libpq_url(database_url), autocommit=True
    ) as db:
        for _ in range(8):
            during.append(sent())
            row = await (await db.execute(TERMINATE_ALL)).fetchone()
            terminated += row[0] if row else 0
            await asyncio.sleep(0.2)
    assert during[-1] < 3 * len(bookings)  # the cuts came mid-burst
    # then every booking reaches every endpoint (at least once, by webhook-id)
    for path in paths:
        await arrived(receiver, path, len(bookings), within=60)
    elapsed = time.monotonic() - started
    duplicates = 0
    for path in paths:
        got = receiver.at(path)
        assert {r.payload["data"]["booking"]["id"] for r in got} == set(bookings)
        per_id = Counter(r.id for r in got)
        assert len(per_id) == len(bookings)  # one webhook-id per event and endpoint
        duplicates += sum(n - 1 for n in per_id.values())
        assert all(all(r.verified.values()) for r in got)
    report(
        request.config,
        f"worker faults: {terminated} backends terminated while {during[0]} to {during[-1]} "
        f"of {3 * len(bookings)} deliveries had arrived; all "
        f"arrived in {elapsed:.1f} s, {duplicates} sent twice (at least once), none lost",
    )
    assert terminated > 0
    assert worker.process.poll() is None  # it lived through it
    assert "Traceback" not in worker.log.read_text()
