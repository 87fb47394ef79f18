"""A small graphql-transport-ws client for the subscription tests."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

PROTOCOL = "graphql-transport-ws"

BOOKING_CHANGES = """
subscription BookingChanges($serviceId: ID, $bookingId: ID, $after: String) {
  bookingChanged(serviceId: $serviceId, bookingId: $bookingId, after: $after) {
    cursor
    kind
    occurredAt
    booking { id startsAt endsAt status service { id title } user { id email } }
  }
}
"""


class Socket:
    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection

    @classmethod
    async def open(cls, url: str, token: str | None) -> Socket:
        """Connect and send connection_init; the caller checks the ack (or the close)."""
        connection = await websockets.connect(url, subprotocols=[PROTOCOL])  # type: ignore[list-item]
        payload = {"Authorization": f"Bearer {token}"} if token else {}
        await connection.send(json.dumps({"type": "connection_init", "payload": payload}))
        return cls(connection)

    @classmethod
    async def connect(cls, url: str, token: str) -> Socket:
        socket = await cls.open(url, token)
        assert (await socket.receive())["type"] == "connection_ack"
        return socket

    async def receive(self, wait: float = 10) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(self.connection.recv(), wait))
        return message

    async def subscribe(
        self, id: str = "1", *, query: str = BOOKING_CHANGES, **variables: Any
    ) -> None:
        await self.connection.send(
            json.dumps(
                {
                    "id": id,
                    "type": "subscribe",
                    "payload": {"query": query, "variables": variables},
                }
            )
        )

    async def next_change(self, wait: float = 10) -> dict[str, Any]:
        """The next bookingChanged payload (pings answered, other messages refused)."""
        while True:
            message = await self.receive(wait)
            if message["type"] == "ping":
                await self.connection.send(json.dumps({"type": "pong"}))
                continue
            assert message["type"] == "next", message
            assert "errors" not in message["payload"], message
            change: dict[str, Any] = message["payload"]["data"]["bookingChanged"]
            return change

    async def changes(self, count: int, wait: float = 15) -> list[dict[str, Any]]:
        return [await self.next_change(wait) for _ in range(count)]

    async def nothing_within(self, seconds: float) -> bool:
        try:
            message = await asyncio.wait_for(self.connection.recv(), seconds)
        except TimeoutError:
            return True
        raise AssertionError(f"unexpected message {message!r}")

    async def closed(self, wait: float = 10) -> tuple[int | None, str]:
        """Wait for the server to close the socket; its close code and reason."""
        try:
            while True:
                await asyncio.wait_for(self.connection.recv(), wait)
        except websockets.ConnectionClosed as closed:
            if closed.rcvd is None:
                return None, ""
            return closed.rcvd.code, closed.rcvd.reason

    async def close(self) -> None:
        await self.connection.close()
