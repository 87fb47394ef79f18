"""One LISTEN connection per process, shared by the domains that wait on a NOTIFY channel.

A domain registers a Listener for its channel (app.py does the wiring). The hub
reconnects for ever when the connection drops, and wakes every listener after
each notification and after every quiet `poll_interval`, so that a listener
which reads a log can catch up on what a lost notification did not say.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import psycopg

log = logging.getLogger(__name__)

LISTENER = "bookit-listener"  # application_name of the LISTEN connection


class Listener:
    """What a domain hangs on the hub: a channel, and what to do on it."""

    channel: ClassVar[str]

    async def connected(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """The hub (re)connected and listens; it reports itself connected after this."""

    async def woken(self, conn: psycopg.AsyncConnection[Any], payloads: list[str]) -> None:
        """After connecting, and after each notification or quiet interval: this channel's."""

    def stopped(self) -> None:
        """The hub stopped: nothing more will come."""


L = TypeVar("L", bound=Listener)


@dataclass
class Hub:
    conninfo: str
    poll_interval: float = 5.0
    connected: bool = False
    listeners: list[Listener] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    def add(self, listener: Listener) -> None:
        self.listeners.append(listener)

    def listener(self, cls: type[L]) -> L:
        """The registered listener of this class."""
        return next(found for found in self.listeners if isinstance(found, cls))

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="notification-hub")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for listener in self.listeners:
            listener.stopped()

    async def _run(self) -> None:
        delay = 0.1
        while True:
            try:
                await self._listen()
            except (psycopg.Error, OSError) as error:
                self.connected = False
                log.warning("notification listener lost its connection (%s); reconnecting", error)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            else:  # pragma: no cover - _listen only returns by raising
                delay = 0.1

    async def _listen(self) -> None:
        connect = psycopg.AsyncConnection.connect
        async with await connect(self.conninfo, autocommit=True, application_name=LISTENER) as conn:
            for listener in self.listeners:
                await conn.execute(f"LISTEN {listener.channel}")
            for listener in self.listeners:
                await listener.connected(conn)
            self.connected = True
            payloads: dict[str, list[str]] = {}
            while True:
                for listener in self.listeners:
                    await listener.woken(conn, payloads.get(listener.channel, []))
                # Wait for a notification, or a quiet interval (the safety net); the
                # connection cannot run a listener's query while the generator is
                # open, so it ends after the first one.
                payloads = {}
                async for note in conn.notifies(timeout=self.poll_interval, stop_after=1):
                    payloads.setdefault(note.channel, []).append(note.payload)
