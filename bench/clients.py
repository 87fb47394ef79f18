"""The asyncio clients: logins, W2 (one slot, 50 bookers), F1 (1,000 subscribers), F2 (webhooks)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import websockets
from websockets.typing import Subprotocol

from bench import documents


def percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share / 100 * (len(ordered) - 1)))]


async def login(client: httpx.AsyncClient, url: str, email: str, password: str) -> str:
    variables = {"input": {"email": email, "password": password}}
    response = await client.post(url, json=documents.body(documents.LOGIN, "Login", variables))
    payload = response.json()
    if "errors" in payload:
        raise RuntimeError(f"login of {email} failed: {payload['errors']}")
    token: str = payload["data"]["login"]["accessToken"]
    return token


async def logins(url: str, credentials: list[tuple[str, str]]) -> list[str]:
    async with httpx.AsyncClient(timeout=120) as client:
        return list(
            await asyncio.gather(*(login(client, url, email, pw) for email, pw in credentials))
        )


async def contention(
    url: str, *, service_id: str, tokens: list[str], rounds: int, bookers: int, base: datetime
) -> dict[str, Any]:
    """W2: `rounds` times, `bookers` concurrent createBooking of one slot; one may win.

    Each round books a new slot; connections are opened before the first round
    so that a round measures the requests, not TCP handshakes.
    """
    limits = httpx.Limits(max_connections=bookers, max_keepalive_connections=bookers)
    winners: list[int] = []
    losers: list[float] = []
    winner_ms: list[float] = []
    unexpected = 0
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        health = url.rsplit("/", 1)[0] + "/healthz"
        await asyncio.gather(*(client.get(health) for _ in range(bookers)))

        async def book(token: str, starts: datetime) -> tuple[float, dict[str, Any]]:
            variables = {"input": {"serviceId": service_id, "startsAt": starts.isoformat()}}
            body = documents.body(documents.CREATE_BOOKING, "CreateBooking", variables)
            headers = {"Authorization": f"Bearer {token}"}
            started = time.perf_counter()
            try:
                response = await client.post(url, json=body, headers=headers)
            except httpx.TransportError:  # a kept-alive connection the server had closed
                started = time.perf_counter()
                response = await client.post(url, json=body, headers=headers)
            return (time.perf_counter() - started) * 1000, response.json()

        started = time.perf_counter()
        for round_ in range(rounds):
            starts = base + timedelta(days=round_)
            answers = await asyncio.gather(
                *(book(tokens[i % len(tokens)], starts) for i in range(bookers))
            )
            won = 0
            for elapsed, payload in answers:
                codes = [e.get("extensions", {}).get("code") for e in payload.get("errors", [])]
                if not codes:
                    won += 1
                    winner_ms.append(elapsed)
                elif codes == ["BOOKING_CONFLICT"]:
                    losers.append(elapsed)
                else:
                    unexpected += 1
            winners.append(won)
        seconds = time.perf_counter() - started
    return {
        "rounds": rounds,
        "bookers": bookers,
        "winners_per_round": winners,
        "unexpected_errors": unexpected,
        "requests": rounds * bookers,
        "rps": rounds * bookers / seconds,
        "p50_ms": percentile(losers, 50),
        "p99_ms": percentile(losers, 99),
        "winner_p50_ms": percentile(winner_ms, 50),
        "round_ms": seconds * 1000 / rounds,
    }


class Subscriber:
    """One graphql-transport-ws socket with one `bookingChanged` subscription."""

    def __init__(self, ws_url: str, token: str) -> None:
        self.ws_url, self.token = ws_url, token
        self.received: list[tuple[float, str, str]] = []  # (time, occurredAt, booking id)
        self.closed: str | None = None
        self.errors: list[str] = []
        self.task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()

    async def run(self) -> None:
        async with websockets.connect(
            self.ws_url,
            subprotocols=[Subprotocol("graphql-transport-ws")],
            max_queue=None,
            open_timeout=60,
        ) as socket:
            init = {"Authorization": f"Bearer {self.token}"}
            await socket.send(orjson.dumps({"type": "connection_init", "payload": init}).decode())
            ack = orjson.loads(await socket.recv())
            if ack.get("type") != "connection_ack":
                raise RuntimeError(f"no connection_ack: {ack}")
            query = documents.body(documents.BOOKING_CHANGES, "BookingChanges", {})
            await socket.send(
                orjson.dumps({"id": "1", "type": "subscribe", "payload": query}).decode()
            )
            self.ready.set()
            try:
                async for raw in socket:
                    now = time.time()
                    message = orjson.loads(raw)
                    if message.get("type") != "next":
                        self.closed = str(message)
                        return
                    if message["payload"].get("errors"):
                        self.errors.append(str(message["payload"]["errors"]))
                        continue
                    change = message["payload"]["data"]["bookingChanged"]
                    self.received.append((now, change["occurredAt"], change["booking"]["id"]))
            except websockets.ConnectionClosed as closed:
                self.closed = f"closed {closed.rcvd}"


async def fanout(
    *,
    http_url: str,
    ws_url: str,
    admin_token: str,
    booker_token: str,
    service_id: str,
    subscribers: int,
    changes: int,
    base: datetime,
    rss: Any,
    wait_seconds: float,
) -> dict[str, Any]:
    """F1: `subscribers` admin subscriptions, then a burst of `changes` bookings.

    Latency of a delivery: its receive time minus the event's occurredAt (the
    server's now() in the booking's transaction, just before its commit).
    """
    memory: dict[str, float] = {"idle_mb": rss()}
    clients = [Subscriber(ws_url, admin_token) for _ in range(subscribers)]
    opened = time.perf_counter()
    for start in range(0, subscribers, 50):  # in waves, not 1,000 handshakes at once
        batch = clients[start : start + 50]
        for client in batch:
            client.task = asyncio.create_task(client.run())
        await asyncio.wait_for(asyncio.gather(*(c.ready.wait() for c in batch)), 60)
    connect_seconds = time.perf_counter() - opened
    await asyncio.sleep(1)  # the last subscriptions reach the hub
    memory["subscribed_mb"] = rss()

    async with httpx.AsyncClient(timeout=60) as http:

        async def change(index: int) -> None:
            starts = base + timedelta(hours=6 * index)
            variables = {"input": {"serviceId": service_id, "startsAt": starts.isoformat()}}
            response = await http.post(
                http_url,
                json=documents.body(documents.CREATE_BOOKING, "CreateBooking", variables),
                headers={"Authorization": f"Bearer {booker_token}"},
            )
            if "errors" in response.json():
                raise RuntimeError(f"a change failed: {response.text}")

        burst_started = time.perf_counter()
        await asyncio.gather(*(change(i) for i in range(changes)))
        expected = subscribers * changes
        deadline = time.monotonic() + wait_seconds
        while time.monotonic() < deadline:
            if sum(len(c.received) for c in clients) >= expected:
                break
            await asyncio.sleep(0.05)
        delivered_seconds = time.perf_counter() - burst_started
    memory["after_burst_mb"] = rss()
    for client in clients:
        if client.task is not None:
            client.task.cancel()
    for client in clients:
        if client.task is not None:
            with contextlib.suppress(BaseException):
                await client.task
    latencies = [
        (received - datetime.fromisoformat(occurred).timestamp()) * 1000
        for client in clients
        for received, occurred, _ in client.received
    ]
    delivered = len(latencies)
    return {
        "subscribers": subscribers,
        "changes": changes,
        "expected": subscribers * changes,
        "delivered": delivered,
        "closed_early": sum(1 for c in clients if c.closed),
        "errors": sum(len(c.errors) for c in clients),
        "first_error": next((c.errors[0] for c in clients if c.errors), None),
        "connect_s": connect_seconds,
        "burst_s": delivered_seconds,
        "deliveries_per_s": delivered / delivered_seconds if delivered_seconds else 0.0,
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "max_ms": max(latencies, default=0.0),
        **memory,
    }


async def _graphql(
    client: httpx.AsyncClient, url: str, token: str, query: str, operation: str, variables: Any
) -> dict[str, Any]:
    response = await client.post(
        url,
        json=documents.body(query, operation, variables),
        headers={"Authorization": f"Bearer {token}"},
    )
    payload: dict[str, Any] = response.json()
    if "errors" in payload:
        raise RuntimeError(f"{operation} failed: {payload['errors']}")
    data: dict[str, Any] = payload["data"]
    return data


async def webhooks(
    *,
    url: str,
    receiver: str,
    admin_token: str,
    booker_token: str,
    endpoints: int,
    changes: int,
    fail_half: bool,
    label: str,
    wait_seconds: float,
    concurrency: int = 16,
) -> dict[str, Any]:
    """F2: `changes` bookings, each delivered to `endpoints` endpoints on the local receiver.

    A service of its own (open around the clock) and endpoints filtered to it,
    so that no other scenario's bookings reach them; deleted at the end. Waits
    until every (endpoint, booking) delivery was accepted once or `wait_seconds`
    passed, then a little longer, so that a late repeat still counts as doubled.
    Latency of a delivery: its accepted attempt's arrival minus the event's
    `timestamp` in the body (occurred_at: the server's now() in the booking's
    transaction, just before its commit); deliveries/s from the first booking
    sent to the last delivery accepted.
    """
    expected = endpoints * changes
    async with httpx.AsyncClient(timeout=60) as http:
        await http.post(f"{receiver}/reset", params={"fail": "1" if fail_half else "0"})
        service_input = {"title": f"F2 {label}", "price": "10.00", "durationMinutes": 60}
        service = await _graphql(
            http, url, admin_token, documents.CREATE_SERVICE, "CreateService",
            {"input": service_input},
        )  # fmt: skip
        service_id = service["createService"]["id"]
        endpoint_ids = []
        for n in range(endpoints):
            given = {"url": f"{receiver}/hooks/{n}", "serviceId": service_id,
                     "eventTypes": ["booking.created"], "description": f"F2 {label}"}  # fmt: skip
            made = await _graphql(
                http, url, admin_token, documents.CREATE_WEBHOOK_ENDPOINT,
                "CreateWebhookEndpoint", {"input": given},
            )  # fmt: skip
            endpoint_ids.append(made["createWebhookEndpoint"]["endpoint"]["id"])
        # whole hours from tomorrow on: 1,000 of them fit in the default 365-day horizon
        first_slot = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        first_slot += timedelta(days=1)
        gate = asyncio.Semaphore(concurrency)

        async def change(index: int) -> None:
            starts = first_slot + timedelta(hours=index)
            variables = {"input": {"serviceId": service_id, "startsAt": starts.isoformat()}}
            async with gate:
                await _graphql(http, url, booker_token, documents.CREATE_BOOKING,
                               "CreateBooking", variables)  # fmt: skip

        started = time.time()
        await asyncio.gather(*(change(i) for i in range(changes)))
        booked = time.time()
        deadline = time.monotonic() + wait_seconds
        attempts: list[list[Any]] = []
        while time.monotonic() < deadline:
            attempts = (await http.get(f"{receiver}/received")).json()
            if len({a[0] for a in attempts if a[4] == 200}) >= expected:
                break
            await asyncio.sleep(0.25)
        await asyncio.sleep(6)  # a repeat would come within a retry (5 s) and a poll (1 s)
        attempts = (await http.get(f"{receiver}/received")).json()
        for endpoint_id in endpoint_ids:
            await _graphql(http, url, admin_token, documents.DELETE_WEBHOOK_ENDPOINT,
                           "DeleteWebhookEndpoint", {"id": endpoint_id})  # fmt: skip
    accepted = [a for a in attempts if a[4] == 200]
    distinct = {a[0] for a in accepted}
    latencies = [(a[2] - datetime.fromisoformat(a[3]).timestamp()) * 1000 for a in accepted]
    last = max((a[2] for a in accepted), default=started)
    return {
        "endpoints": endpoints,
        "changes": changes,
        "fail_half": fail_half,
        "expected": expected,
        "delivered": len(distinct),
        "lost": expected - len(distinct),
        "doubled": len(accepted) - len(distinct),
        "attempts": len(attempts),
        "failed_attempts": sum(1 for a in attempts if a[4] != 200),
        "requests": max(1, len(accepted)),  # measure(): the server's CPU per delivery
        "bookings_per_s": changes / (booked - started) if booked > started else 0.0,
        "seconds": last - started,
        "deliveries_per_s": len(accepted) / (last - started) if last > started else 0.0,
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "max_ms": max(latencies, default=0.0),
    }


def utc(year: int) -> datetime:
    return datetime(year, 1, 1, 9, tzinfo=UTC)
