"""The outbox across processes: two `bookit serve` on one database double nothing, and a
worker killed mid-delivery loses nothing (the delivery repeats with the same webhook-id)."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bookit_graphql.integrations.models import WebhookDelivery, WebhookEndpoint
from tests.bookings.support import at
from tests.conftest import Server
from tests.factories import Rows
from tests.helpers import Account, gql
from tests.integrations.conftest import Receiver
from tests.integrations.test_webhooks import CREATE

BOOK = "mutation($i: CreateBookingInput!) { createBooking(input: $i) { id } }"


async def wait_for(check: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_two_instances_share_the_outbox_without_doubling(
    start_server: Callable[..., Server],
    client: httpx.AsyncClient,
    admin: Account,
    alice: Account,
    rows: Rows,
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    # given two servers on one database, each running its worker
    servers = [
        start_server(f"s{i}.log", BOOKIT_DATA_DIR=str(tmp_path / f"d{i}"), BOOKIT_WORKER="on")
        for i in range(2)
    ]
    for path in ("/a", "/b", "/c"):
        made = await gql(client, CREATE, {"input": {"url": receiver.url(path)}}, token=admin.token)
        receiver.secrets[path] = [made["data"]["createWebhookEndpoint"]["secret"]]
    service_ids = await rows.services(*({"title": f"S{i}"} for i in range(4)))
    # when 40 bookings are made through both servers at once
    async with httpx.AsyncClient(timeout=30) as http:

        async def book(n: int) -> None:
            server = servers[n % 2]
            response = await http.post(
                f"{server.base}/graphql",
                json={
                    "query": BOOK,
                    "variables": {"i": {"serviceId": service_ids[n % 4], "startsAt": at(2 * n)}},
                },
                headers=alice.headers,
            )
            assert "errors" not in response.json(), response.text

        await asyncio.gather(*(book(n) for n in range(40)))
    # then each endpoint receives each booking once, verified, in the log's order
    await wait_for(lambda: all(len(receiver.at(p)) >= 40 for p in ("/a", "/b", "/c")))
    await asyncio.sleep(1.5)  # a doubled delivery would have arrived by now
    for path in ("/a", "/b", "/c"):
        got = receiver.at(path)
        assert len(got) == 40, path
        assert len({r.id for r in got}) == 40
        assert len({r.payload["data"]["booking"]["id"] for r in got}) == 40
        assert all(r.verified == {receiver.secrets[path][0]: True} for r in got)


async def test_a_worker_killed_mid_delivery_loses_nothing(
    start_server: Callable[..., Server],
    client: httpx.AsyncClient,
    admin: Account,
    alice: Account,
    rows: Rows,
    receiver: Receiver,
    db: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    # given one server whose delivery hangs at the receiver
    first = start_server("first.log", BOOKIT_DATA_DIR=str(tmp_path / "d1"), BOOKIT_WORKER="on")
    made = await gql(client, CREATE, {"input": {"url": receiver.url("/k")}}, token=admin.token)
    receiver.secrets["/k"] = [made["data"]["createWebhookEndpoint"]["secret"]]
    receiver.hold["/k"] = threading.Event()
    service_id = await rows.service()
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(
            f"{first.base}/graphql",
            json={"query": BOOK, "variables": {"i": {"serviceId": service_id, "startsAt": at(1)}}},
            headers=alice.headers,
        )
    assert "errors" not in response.json()
    await wait_for(lambda: receiver.waiting.get("/k") == 1)  # the request is in flight
    # when the server is killed (SIGKILL) mid-delivery, before the receiver answers
    first.process.send_signal(signal.SIGKILL)
    first.process.wait()
    receiver.hold.pop("/k").set()  # the receiver got it, but nobody hears its answer
    await wait_for(lambda: len(receiver.at("/k")) == 1)
    async with db() as session:
        delivery = await session.scalar(select(WebhookDelivery))
    assert delivery is not None
    assert delivery.status == "PENDING"
    assert delivery.attempts == 0
    # and its lease runs out (LEASE_SECONDS; brought forward here) and another server starts
    async with db.begin() as session:
        await session.execute(update(WebhookEndpoint).values(lease_until=None))
    start_server("second.log", BOOKIT_DATA_DIR=str(tmp_path / "d2"), BOOKIT_WORKER="on")
    # then the delivery is made again, with the same webhook-id: at least once
    await wait_for(lambda: len(receiver.at("/k")) == 2)
    got = receiver.at("/k")
    assert {r.id for r in got} == {f"msg_{delivery.id.hex}"}
    assert all(r.verified == {receiver.secrets["/k"][0]: True} for r in got)

    async def succeeded() -> bool:
        async with db() as session:
            done = await session.scalar(select(WebhookDelivery))
        return done is not None and done.status == "SUCCEEDED" and done.attempts == 1

    deadline = time.monotonic() + 30
    while not await succeeded():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
