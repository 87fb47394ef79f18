"""Subscriptions as real clients speak them, against real `bookit serve` processes.

- The official `graphql-ws` npm client (graphql-transport-ws), run in Node from
  tests/ws_client/subscribe.mjs; its npm packages are pinned by
  tests/ws_client/package-lock.json and installed here on first use.
- The legacy `graphql-ws` subprotocol (subscriptions-transport-ws): refused by
  default, spoken when BOOKIT_LEGACY_GRAPHQL_WS turns it on.
- The per-socket subscription cap (BOOKIT_MAX_SUBSCRIPTIONS).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from tests.bookings.support import at, booked
from tests.bookings.wsclient import BOOKING_CHANGES, Socket
from tests.conftest import Server, spawn_server, wait_until_healthy
from tests.factories import Rows
from tests.helpers import register
from tests.node import node as node_binary
from tests.node import npm_ci

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:websockets")

CLIENT_DIR = Path(__file__).parent / "ws_client"
CLIENT_TIMEOUT = 20
SETTLE = 0.3  # seconds for the server to register a subscription it was just sent
LEGACY = "graphql-ws"


# ---------------------------------------------------------------- Node and npm


@pytest.fixture(scope="session")
def node() -> str:
    """The node binary, once the client's npm packages are installed."""
    npm_ci(CLIENT_DIR, ("graphql", "graphql-ws", "ws"))
    return node_binary()


class NodeSubscriber:
    """subscribe.mjs running in the background; its JSON lines as they come."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[dict[str, Any]] = []

    @classmethod
    async def start(cls, node: str, url: str, token: str, events: int) -> NodeSubscriber:
        process = await asyncio.create_subprocess_exec(
            node,
            "subscribe.mjs",
            url,
            token,
            str(events),
            str(CLIENT_TIMEOUT * 1000),
            cwd=CLIENT_DIR,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        return cls(process)

    async def wait_for(self, event: str, wait: float = CLIENT_TIMEOUT) -> dict[str, Any]:
        """Read lines until one of `event` (failing on the script's end)."""
        assert self.process.stdout is not None
        while True:
            raw = await asyncio.wait_for(self.process.stdout.readline(), wait)
            if not raw:
                stderr = await self._stderr()
                raise AssertionError(
                    f"subscribe.mjs ended before {event!r}: {self.lines}\n{stderr}"
                )
            line: dict[str, Any] = json.loads(raw)
            self.lines.append(line)
            if line["event"] == event:
                return line

    async def finish(self, wait: float = CLIENT_TIMEOUT + 5) -> int:
        """Wait for the script to exit; its exit code (all its lines in self.lines)."""
        assert self.process.stdout is not None
        rest = await asyncio.wait_for(self.process.stdout.read(), wait)
        self.lines += [json.loads(raw) for raw in rest.splitlines() if raw.strip()]
        code = await asyncio.wait_for(self.process.wait(), wait)
        if code not in (0, 1):
            raise AssertionError(
                f"subscribe.mjs exited {code}: {self.lines}\n{await self._stderr()}"
            )
        return code

    def of(self, event: str) -> list[dict[str, Any]]:
        return [line for line in self.lines if line["event"] == event]

    async def _stderr(self) -> str:
        assert self.process.stderr is not None
        return (await self.process.stderr.read()).decode()

    def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()


# ---------------------------------------------------------------- fixtures

# One server as configured by default, and one with the legacy protocol turned
# on and a cap of 2 subscriptions per socket; started together, once per module.
CONFIGURED = {"BOOKIT_LEGACY_GRAPHQL_WS": "true", "BOOKIT_MAX_SUBSCRIPTIONS": "2"}


@pytest.fixture(scope="module")
def servers(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Server]]:
    folder = tmp_path_factory.mktemp("ws-clients")
    started: dict[str, Server] = {}
    try:
        for name, extra in (("default", {}), ("configured", CONFIGURED)):
            started[name] = spawn_server(database_url, folder, f"{name}.log", **extra)
        for server in started.values():
            wait_until_healthy(server.base, server.process, server.log)
        yield started
    finally:
        for server in started.values():
            if server.process.poll() is None:
                server.process.terminate()  # both at once; stop() waits (and kills if need be)
        for server in started.values():
            server.stop()


@pytest.fixture
def default_server(servers: dict[str, Server]) -> Server:
    return servers["default"]


@pytest.fixture
def configured_server(servers: dict[str, Server]) -> Server:
    """BOOKIT_LEGACY_GRAPHQL_WS=true, BOOKIT_MAX_SUBSCRIPTIONS=2."""
    return servers["configured"]


@pytest.fixture
async def http() -> AsyncIterator[Callable[[Server], httpx.AsyncClient]]:
    clients: dict[str, httpx.AsyncClient] = {}

    def client(server: Server) -> httpx.AsyncClient:
        if server.base not in clients:
            clients[server.base] = httpx.AsyncClient(base_url=server.base, timeout=30)
        return clients[server.base]

    yield client
    for opened in clients.values():
        await opened.aclose()


# ---------------------------------------------------------------- the official client


async def test_the_official_graphql_ws_client_receives_created_events(
    node: str,
    default_server: Server,
    http: Callable[[Server], httpx.AsyncClient],
    rows: Rows,
) -> None:
    server = default_server
    client = http(server)
    ann = await register(client, "ann@example.com", full_name="Ann")
    token = ann["accessToken"]
    service = await rows.service()

    subscriber = await NodeSubscriber.start(node, server.ws, token, events=2)
    try:
        await subscriber.wait_for("subscribed")
        made = [await booked(client, token, service, at(hours)) for hours in (1, 2)]
        assert await subscriber.finish() == 0, subscriber.lines
    finally:
        subscriber.kill()

    payloads = [line["payload"] for line in subscriber.of("next")]
    assert all("errors" not in payload for payload in payloads), payloads
    changes = [payload["data"]["bookingChanged"] for payload in payloads]
    assert [change["kind"] for change in changes] == ["CREATED", "CREATED"]
    assert [change["booking"]["id"] for change in changes] == [booking["id"] for booking in made]
    cursors = [change["cursor"] for change in changes]
    assert all(isinstance(cursor, str) and cursor for cursor in cursors)
    assert len(set(cursors)) == 2
    first = changes[0]["booking"]
    assert first["startsAt"] == made[0]["startsAt"]
    assert first["service"]["id"] == service
    assert first["user"] == {"id": ann["user"]["id"], "email": "ann@example.com", "fullName": "Ann"}
    assert first["review"] is None


async def test_the_official_client_sees_a_bad_token_closed_with_4403(
    node: str, default_server: Server
) -> None:
    subscribers = [
        await NodeSubscriber.start(node, default_server.ws, token, events=1)
        for token in ("not-a-token", "")
    ]
    try:
        codes = await asyncio.gather(*(subscriber.finish() for subscriber in subscribers))
    finally:
        for subscriber in subscribers:
            subscriber.kill()
    for code, subscriber in zip(codes, subscribers, strict=True):
        assert code == 1, subscriber.lines
        assert not subscriber.of("connected"), subscriber.lines
        assert [line["code"] for line in subscriber.of("closed")] == [4403], subscriber.lines
        assert [line["code"] for line in subscriber.of("error")] == [4403], subscriber.lines


# ---------------------------------------------------------------- the legacy protocol


async def test_the_legacy_protocol_is_refused_by_default(default_server: Server) -> None:
    server = default_server
    # Strawberry accepts the handshake without a subprotocol, then closes.
    async with websockets.connect(server.ws, subprotocols=[LEGACY]) as connection:  # type: ignore[list-item]
        assert connection.subprotocol is None
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(connection.recv(), 10)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
        4406,
        "Subprotocol not acceptable",
    )


async def test_the_legacy_protocol_delivers_booking_events_when_turned_on(
    configured_server: Server,
    http: Callable[[Server], httpx.AsyncClient],
    rows: Rows,
) -> None:
    server = configured_server
    client = http(server)
    ann = await register(client, "ann@example.com")
    token = ann["accessToken"]
    service = await rows.service()

    async with websockets.connect(server.ws, subprotocols=[LEGACY]) as connection:  # type: ignore[list-item]
        assert connection.subprotocol == LEGACY

        async def receive() -> dict[str, Any]:
            raw = await asyncio.wait_for(connection.recv(), 10)
            assert isinstance(raw, str), (
                f"a binary frame, which JavaScript clients cannot parse: {raw!r}"
            )
            message: dict[str, Any] = json.loads(raw)
            return message

        await connection.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
        )
        assert await receive() == {"type": "connection_ack"}
        await connection.send(
            json.dumps(
                {"type": "start", "id": "a", "payload": {"query": BOOKING_CHANGES, "variables": {}}}
            )
        )
        # the current protocol still works beside it on the same server
        modern = await Socket.connect(server.ws, token)
        await modern.subscribe()
        await asyncio.sleep(SETTLE)

        made = await booked(client, token, service, at(1))
        message = await receive()
        assert message["type"] == "data", message
        assert message["id"] == "a"
        assert "errors" not in message["payload"], message
        change = message["payload"]["data"]["bookingChanged"]
        assert (change["kind"], change["booking"]["id"]) == ("CREATED", made["id"])
        assert change["cursor"]
        assert (await modern.next_change())["cursor"] == change["cursor"]

        await connection.send(json.dumps({"type": "stop", "id": "a"}))
        assert await receive() == {"type": "complete", "id": "a"}
        await modern.close()


async def test_the_legacy_protocol_refuses_a_bad_token_with_4403(
    configured_server: Server,
) -> None:
    # given the legacy protocol turned on
    async with websockets.connect(configured_server.ws, subprotocols=[LEGACY]) as connection:  # type: ignore[list-item]
        # when a client opens it with a token that is not one
        init = {"type": "connection_init", "payload": {"Authorization": "Bearer not-a-token"}}
        await connection.send(json.dumps(init))
        refused = json.loads(await asyncio.wait_for(connection.recv(), 10))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(connection.recv(), 10)
    # then it hears why, and the socket closes with the contract's code, as on graphql-transport-ws
    assert refused["type"] == "connection_error"
    assert refused["payload"]["reason"]
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403


# ---------------------------------------------------------------- the subscription cap


async def test_a_subscription_over_the_per_socket_cap_is_refused(
    configured_server: Server,
    http: Callable[[Server], httpx.AsyncClient],
    rows: Rows,
) -> None:
    server = configured_server
    client = http(server)
    ann = await register(client, "ann@example.com")
    token = ann["accessToken"]
    service = await rows.service()

    socket = await Socket.connect(server.ws, token)
    await socket.subscribe(id="1")
    await socket.subscribe(id="2")
    await socket.subscribe(id="3")
    refused = await socket.receive()
    assert refused["type"] == "error", refused
    assert refused["id"] == "3"
    assert [error["message"] for error in refused["payload"]] == ["Subscription limit reached"]
    await asyncio.sleep(SETTLE)

    # the first two keep working
    made = await booked(client, token, service, at(1))
    seen = {}
    for _ in range(2):
        message = await socket.receive()
        assert message["type"] == "next", message
        seen[message["id"]] = message["payload"]["data"]["bookingChanged"]["booking"]["id"]
    assert seen == {"1": made["id"], "2": made["id"]}
    assert await socket.nothing_within(0.3)

    # the cap counts subscriptions in flight: completing one frees its place
    await socket.connection.send(json.dumps({"id": "1", "type": "complete"}))
    await asyncio.sleep(SETTLE)
    await socket.subscribe(id="4")
    await asyncio.sleep(SETTLE)
    again = await booked(client, token, service, at(2))
    seen = {}
    for _ in range(2):
        message = await socket.receive()
        assert message["type"] == "next", message
        seen[message["id"]] = message["payload"]["data"]["bookingChanged"]["booking"]["id"]
    assert seen == {"2": again["id"], "4": again["id"]}
    await socket.close()
