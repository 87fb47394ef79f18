"""The asyncio clients: logins, W2 (one slot, 50 bookers), F2 (webhooks); F1 and F3 in stream.py."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bench import documents


def percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share / 100 * (len(ordered) - 1)))]


async def login(client: httpx.AsyncClient, url: str, email: str, password: str) -> str:
    """The access token; a login refused as busy (HTTP 503) is retried after Retry-After,
    as a client should."""
    variables = {"input": {"email": email, "password": password}}
    for _ in range(30):
        response = await client.post(url, json=documents.body(documents.LOGIN, "Login", variables))
        if response.status_code != 503:
            break
        await asyncio.sleep(float(response.headers.get("retry-after", "1")))
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
