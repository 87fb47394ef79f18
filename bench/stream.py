"""F3: N subscribers to `bookingChanged`, R changes a second for D seconds.

The client shares its core with PostgreSQL, so it must cost far less per
delivery than the server: each socket is a bare asyncio Protocol that only
splits frames and keeps (arrival time, payload); the JSON is read after the
run. The client reports its own CPU share and its event loop's lag (how late
a 5 ms timer fired), so that a client that falls behind is not mistaken for a
slow server.

Latency of a delivery: its arrival minus the event's `occurredAt` (the
server's now() in the booking's transaction, just before its commit).
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from bench import documents
from bench.clients import percentile

TEXT, CLOSE, PING, PONG = 0x1, 0x8, 0x9, 0xA


def frame(opcode: int, payload: bytes) -> bytes:
    """A client frame: final, masked (RFC 6455 wants a client's frames masked)."""
    mask = os.urandom(4)
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return header + mask + masked


class Socket(asyncio.Protocol):
    """One graphql-transport-ws socket: the handshake, then frames as they come."""

    def __init__(self, host: str, path: str) -> None:
        self.host, self.path = host, path
        self.buffer = bytearray()
        self.upgraded = asyncio.get_running_loop().create_future()  # the 101 answer
        self.messages: list[tuple[float, bytes]] = []
        self.closed: bytes | None = None
        self.first = asyncio.get_running_loop().create_future()  # the first text message
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n".encode()
        )

    def send(self, message: dict[str, Any]) -> None:
        assert self.transport is not None
        self.transport.write(frame(TEXT, orjson.dumps(message)))

    def data_received(self, data: bytes) -> None:
        now = time.time()
        buffer = self.buffer
        buffer += data
        if not self.upgraded.done():
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buffer.startswith(b"HTTP/1.1 101"):
                self._fail(bytes(buffer[:end]))
                return
            del buffer[: end + 4]
            self.upgraded.set_result(None)
        while len(buffer) >= 2:
            opcode, size = buffer[0] & 0x0F, buffer[1] & 0x7F
            start = 2
            if size == 126:
                if len(buffer) < 4:
                    return
                size, start = struct.unpack_from("!H", buffer, 2)[0], 4
            elif size == 127:
                if len(buffer) < 10:
                    return
                size, start = struct.unpack_from("!Q", buffer, 2)[0], 10
            if len(buffer) < start + size:
                return
            payload = bytes(buffer[start : start + size])
            del buffer[: start + size]
            if opcode == TEXT:
                self.messages.append((now, payload))
                if not self.first.done():
                    self.first.set_result(payload)
            elif opcode == PING:
                assert self.transport is not None
                self.transport.write(frame(PONG, payload))
            elif opcode == CLOSE:
                self._fail(payload)

    def _fail(self, why: bytes) -> None:
        self.closed = why
        for waiting in (self.upgraded, self.first):
            if not waiting.done():
                waiting.set_exception(RuntimeError(f"refused: {why!r}"))
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closed is None:
            self._fail(b"connection lost")


async def subscribe(url: str, token: str, variables: dict[str, Any]) -> Socket:
    """A socket with one `bookingChanged` subscription (sent once acknowledged)."""
    parts = urlsplit(url)
    loop = asyncio.get_running_loop()
    _, socket = await loop.create_connection(
        lambda: Socket(parts.netloc, parts.path or "/"), parts.hostname, parts.port
    )
    await asyncio.wait_for(socket.upgraded, 60)  # a frame sent before it may be lost
    socket.send({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
    ack = orjson.loads(await asyncio.wait_for(socket.first, 60))
    if ack.get("type") != "connection_ack":
        raise RuntimeError(f"no connection_ack: {ack}")
    socket.messages.clear()
    query = documents.body(documents.BOOKING_CHANGES, "BookingChanges", variables)
    socket.send({"id": "1", "type": "subscribe", "payload": query})
    return socket


class Lag:
    """How late a 5 ms timer fires on this event loop: the client's own delay."""

    def __init__(self) -> None:
        self.late_ms: list[float] = []
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(0.005)
            self.late_ms.append((time.perf_counter() - started - 0.005) * 1000)


async def fanout(
    *,
    http_url: str,
    ws_url: str,
    admin_token: str,
    booker_token: str,
    service_id: str,
    subscribers: int,
    changes: int,
    rate: float | None,
    base: datetime,
    step_seconds: int,
    rss: Callable[[], float],
    server_cpu: Callable[[], float],
    commits: Callable[[list[str]], dict[str, float]] = lambda booked: {},
    wait_seconds: float = 60,
) -> dict[str, Any]:
    """`subscribers` admin subscriptions, then `changes` createBooking: all at once (F1,
    `rate` None) or `rate` a second (F3), each `step_seconds` after the one before.

    `server_cpu()` is the server's CPU seconds so far: its share of a core and its
    CPU per delivery are those from the first change to the last delivery, without
    the connections and subscriptions before. `commits(booking ids)` is when each
    booking's event committed (commit_times), the start of its latency; where it
    is unknown, the event's `occurredAt` is (the transaction's start: later
    writers wait on the event log's lock, so that counts their wait too).
    """
    memory: dict[str, float] = {"idle_mb": rss()}
    opened = time.perf_counter()
    sockets: list[Socket] = []
    for start in range(0, subscribers, 50):  # in waves, not 1,000 handshakes at once
        count = min(50, subscribers - start)
        sockets += await asyncio.gather(*(subscribe(ws_url, admin_token, {}) for _ in range(count)))
    connect_seconds = time.perf_counter() - opened
    await asyncio.sleep(1)  # the last subscriptions reach the hub
    memory["subscribed_mb"] = rss()
    booked: list[str] = []
    lag = Lag()
    lag.task = asyncio.create_task(lag.run())
    limits = httpx.Limits(max_connections=20, max_keepalive_connections=20)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        await asyncio.gather(*(http.get(http_url) for _ in range(4)))  # connections open

        async def change(index: int) -> None:
            starts = base + timedelta(seconds=step_seconds * index)
            variables = {"input": {"serviceId": service_id, "startsAt": starts.isoformat()}}
            response = await http.post(
                http_url,
                json=documents.body(documents.CREATE_BOOKING, "CreateBooking", variables),
                headers={"Authorization": f"Bearer {booker_token}"},
            )
            payload = response.json()
            if "errors" in payload:
                raise RuntimeError(f"a change failed: {response.text}")
            booked.append(payload["data"]["createBooking"]["id"])

        cpu, server, started = time.process_time(), server_cpu(), time.time()
        tasks = []
        for index in range(changes):  # on a schedule, whatever the answers take
            if rate is not None:
                await asyncio.sleep(max(0.0, started + index / rate - time.time()))
            tasks.append(asyncio.create_task(change(index)))
        await asyncio.gather(*tasks)
        produced_seconds = time.time() - started
        expected = subscribers * changes
        deadline = time.monotonic() + wait_seconds
        while time.monotonic() < deadline:
            if sum(len(s.messages) for s in sockets) >= expected:
                break
            await asyncio.sleep(0.05)
    last = max((s.messages[-1][0] for s in sockets if s.messages), default=started)
    seconds = max(last - started, 1e-9)
    client_cpu, server = time.process_time() - cpu, server_cpu() - server
    lag.task.cancel()
    memory["after_burst_mb"] = rss()
    found = tally(sockets, set(booked), commits(booked))
    for socket in sockets:
        if socket.transport is not None:
            socket.transport.close()
    return {
        "subscribers": subscribers,
        "changes": changes,
        "rate": rate,
        "changes_per_s": changes / produced_seconds if produced_seconds else 0.0,
        "connect_s": connect_seconds,
        **found,
        "burst_s": seconds,  # from the first change sent to the last delivery
        "deliveries_per_s": found["delivered"] / seconds,
        "delivery_server_busy_pct": round(100 * server / seconds, 1),
        "delivery_server_cpu_us": round(1e6 * server / max(1, found["delivered"]), 1),
        "client_cpu_pct": round(100 * client_cpu / seconds, 1),
        "client_lag_p99_ms": percentile(lag.late_ms, 99),
        "client_lag_max_ms": max(lag.late_ms, default=0.0),
        **memory,
    }


def tally(sockets: list[Socket], booked: set[str], committed: dict[str, float]) -> dict[str, Any]:
    """Latencies (from `committed`, else from occurredAt), and what was lost, came
    twice or out of order (an event id below one received before), of the deliveries
    of `booked`."""
    latencies: list[float] = []
    from_occurred: list[float] = []
    lost = doubled = errors = reordered = 0
    first_error = None
    for socket in sockets:
        seen: set[str] = set()
        last = 0  # the event id of the socket's last delivery
        for arrived, raw in socket.messages:
            message = orjson.loads(raw)
            payload = message.get("payload") or {}
            if message.get("type") != "next" or payload.get("errors"):
                errors += 1
                first_error = first_error or raw.decode(errors="replace")
                continue
            change = payload["data"]["bookingChanged"]
            booking = change["booking"]["id"]
            if booking not in booked:
                continue
            if booking in seen:
                doubled += 1
                continue
            seen.add(booking)
            cursor = change["cursor"]
            (event_id,) = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
            reordered += event_id < last
            last = max(last, event_id)
            occurred = datetime.fromisoformat(change["occurredAt"]).timestamp()
            from_occurred.append((arrived - occurred) * 1000)
            latencies.append((arrived - committed.get(booking, occurred)) * 1000)
        lost += len(booked - seen)
    return {
        "expected": len(sockets) * len(booked),
        "delivered": len(latencies),
        "lost": lost,
        "doubled": doubled,
        "reordered": reordered,
        "errors": errors,
        "first_error": first_error,
        "closed_early": sum(1 for s in sockets if s.closed),
        "latency_from": "commit" if committed else "occurredAt",
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "max_ms": max(latencies, default=0.0),
        "occurred_p50_ms": percentile(from_occurred, 50),
        "occurred_p99_ms": percentile(from_occurred, 99),
    }


def commit_times(url: str) -> Callable[[list[str]], dict[str, float]]:
    """When each booking's first event committed (its row's xmin), by booking id; none
    unless the server runs with stack.COMMIT_TIMES (stack.postgres sets it)."""
    import psycopg

    def read(booked: list[str]) -> dict[str, float]:
        try:
            with psycopg.connect(url) as connection:
                rows = connection.execute(
                    "SELECT DISTINCT ON (booking_id) booking_id::text, "
                    "pg_xact_commit_timestamp(xmin) FROM booking_events "
                    "WHERE booking_id = ANY(%s::uuid[]) ORDER BY booking_id, id",
                    (booked,),
                ).fetchall()
        except psycopg.Error:  # track_commit_timestamp is off
            return {}
        return {booking: at.timestamp() for booking, at in rows if at is not None}

    return read


def main(argv: list[str] | None = None) -> None:
    """`python -m bench.stream --roots A,B`: F1 and F3 against servers of several checkouts.

    One database and one demo load for all, each server in turn on the server
    core (A, B, A, B ... for `--rounds`), so that their figures are back to back
    on a noisy machine. Prints one JSON line a run.
    """
    import argparse
    import json
    import secrets
    import shutil
    import sys
    import tempfile
    from datetime import UTC
    from pathlib import Path

    from bench import clients, stack
    from bench.run import ahead

    parser = argparse.ArgumentParser(prog="python -m bench.stream")
    parser.add_argument("--roots", required=True, help="checkouts whose server to run, by commas")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--changes", type=int, default=20, help="F1 burst (20)")
    parser.add_argument("--rate", type=float, default=20, help="F3 changes a second (20)")
    parser.add_argument("--steady", type=float, default=10, help="F3 seconds (10)")
    parser.add_argument("--scale", type=float, default=0.2)
    parser.add_argument("--scenarios", default="F1,F3")
    args = parser.parse_args(argv)
    roots = [Path(root).resolve() for root in args.roots.split(",")]
    scenarios = args.scenarios.upper().split(",")
    _, client_core = stack.cores()
    os.sched_setaffinity(0, {client_core})
    stack.raise_open_files()
    folder = Path(tempfile.mkdtemp(prefix="bkf", dir="/tmp"))
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "BCRYPT_ROUNDS")}
    env.update(BOOKIT_DATA_DIR=str(folder), BOOKIT_RATE_LIMIT="off", LOG_LEVEL="WARNING",
               SECRET_KEY=secrets.token_urlsafe(48), ACCESS_TOKEN_EXPIRE="120")  # fmt: skip
    try:
        demo = stack.load_demo_data({**env, "PYTHONPATH": str(roots[-1])}, args.scale)
        with stack.postgres(folder) as url:
            env["DATABASE_URL"] = url
            import psycopg

            with psycopg.connect(url) as connection:
                services = [
                    row[0]
                    for row in connection.execute(
                        "INSERT INTO services (id, title, price, duration_minutes) SELECT "
                        "gen_random_uuid(), 'F ' || n, 10, 60 FROM generate_series(1, %s) n "
                        "RETURNING id::text",
                        (2 * len(roots) * args.rounds,),
                    )
                ]
                (email,) = connection.execute(
                    "SELECT email FROM users WHERE role = 'USER' AND is_active "
                    "AND email <> 'user@bookit.example' ORDER BY email LIMIT 1"
                ).fetchone() or ("",)
            run = 0
            for round_ in range(args.rounds):
                for root in roots:
                    port = stack.free_port()
                    server = stack.start(
                        root.name,
                        # -P: the root's code (PYTHONPATH), not this folder's
                        [
                            sys.executable,
                            "-P",
                            "-m",
                            "bookit_graphql",
                            "serve",
                            "--port",
                            str(port),
                        ],
                        {**env, "PYTHONPATH": str(root)},
                        folder / f"{root.name}.log",
                        port,
                    )
                    try:
                        admin, booker = asyncio.run(
                            clients.logins(
                                server.url,
                                [(demo.admin_email, demo.admin_password),
                                 (email, demo.bulk_password)],
                            )
                        )  # fmt: skip
                        ws_url = server.url.replace("http://", "ws://")
                        for name in scenarios:
                            burst = name == "F1"
                            found = asyncio.run(
                                fanout(
                                    http_url=server.url, ws_url=ws_url, admin_token=admin,
                                    booker_token=booker, service_id=services[run + burst],
                                    subscribers=args.subscribers,
                                    changes=args.changes if burst else int(args.rate * args.steady),
                                    rate=None if burst else args.rate, base=ahead(10),
                                    step_seconds=3600, rss=server.rss_mb,
                                    server_cpu=server.cpu_seconds,
                                    commits=commit_times(url),
                                )
                            )  # fmt: skip
                            line = {"root": str(root), "round": round_, "scenario": name,
                                    "at": datetime.now(UTC).isoformat(), **found}  # fmt: skip
                            print(json.dumps(line), flush=True)  # noqa: T201
                    finally:
                        server.stop()
                    run += 2
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
