"""Direct: a graphql-transport-ws operation's `next` frames sent from payloads encoded
already (view.py sets it per operation; bookings/subscriptions.py sends through it)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator
from contextvars import ContextVar
from typing import Any

import orjson
from starlette.types import Send
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import Operation

from bookit_graphql.context import Context


class Direct:
    """Sends one graphql-transport-ws operation's `next` frames from payloads encoded already.

    A subscription whose results its subscribers share (bookingChanged) hands the
    payload's JSON text here instead of yielding a result that graphql-core would
    execute, the extensions inspect and Strawberry encode, once per subscriber:
    the frame is the same text, `{"id":..,"type":"next","payload":..}`, and it
    is sent in the same order.

    `next` sends from the operation's own task, through Starlette's WebSocket.
    `push` sends from the event hub's task, with the server's own `send` (what
    logs.RequestLog was given: the layers in between change nothing of a socket's
    messages), so that one event reaches 1,000 idle subscribers without waking
    1,000 tasks (bookings/events.py, EventHub._dispatch).
    """

    def __init__(
        self, operation: Operation[Context, None], websocket: WebSocket, send: Send | None = None
    ) -> None:
        self.operation, self.websocket, self.send = operation, websocket, send
        self.prefix = '{"id":' + orjson.dumps(operation.id).decode() + ',"type":"next","payload":'
        # a frame that `push` began and the socket's flow control holds (see push)
        self.pending: asyncio.Future[None] | None = None

    @staticmethod
    def current() -> Direct | None:
        """The operation this task runs, if it runs on graphql-transport-ws."""
        return DIRECT.get()

    async def next(self, payload: str) -> None:
        if self.pending is not None:  # push's frame first
            pending, self.pending = self.pending, None
            try:
                await pending
            except OSError as error:  # as Starlette's send, then Strawberry's send_json
                raise WebSocketDisconnected from error
        if self.operation.completed:  # as Operation.send_operation_message
            return
        try:
            await self.websocket.send_text(f"{self.prefix}{payload}}}")
        except WebSocketDisconnect as error:  # as Strawberry's send_json
            raise WebSocketDisconnected from error

    def push(self, payload: str) -> bool:
        """`next` without waiting, from a task that is not the operation's: False if it
        cannot (then nothing was sent, and `next` must send it, failing as it fails).

        It steps the server's `send` once, as a task started eagerly would
        (Python 3.12's eager_start): a send that does not wait (the socket
        takes the frame) is done then, with no task; one that waits (the
        client reads too slowly) goes on in a task, `pending`, which `next`
        waits for before its own frame, and until it is done `push` declines.
        """
        task = self.operation.task
        if self.operation.completed or (task is not None and (task.cancelling() or task.done())):
            # as next, or as the operation's task that a client's `complete` (or the
            # socket's close) cancelled: it would send nothing more
            return True
        if (
            self.send is None
            or self.pending is not None
            or self.websocket.application_state != WebSocketState.CONNECTED
        ):
            return False
        message = {"type": "websocket.send", "text": f"{self.prefix}{payload}}}"}
        sending: Coroutine[Any, Any, None] = self.send(message)  # type: ignore[assignment]
        try:
            waiting = sending.send(None)
        except StopIteration:
            return True
        except Exception:  # the server refused it before writing (a closed socket)
            return False
        self.pending = pending = asyncio.ensure_future(_rest(sending, waiting))
        pending.add_done_callback(self._sent)
        return True

    def _sent(self, pending: asyncio.Future[None]) -> None:
        # A failure stays for `next` to raise (and is retrieved here, so that asyncio
        # does not report it unretrieved if no event comes after it).
        if pending is self.pending and not pending.cancelled() and pending.exception() is None:
            self.pending = None


async def _rest(coroutine: Coroutine[Any, Any, None], waiting: Any) -> None:
    """The rest of `coroutine`, which yielded `waiting` (a future) when first stepped."""
    await _Resume(coroutine, waiting)


class _Resume:
    def __init__(self, coroutine: Coroutine[Any, Any, None], waiting: Any) -> None:
        self.coroutine, self.waiting = coroutine, waiting

    def __await__(self) -> Generator[Any, None, None]:
        try:
            yield self.waiting  # the task waits for it, as it would have for the coroutine
        except BaseException:
            self.coroutine.close()
            raise
        yield from self.coroutine.__await__()  # resumed: what it waited for is done


DIRECT: ContextVar[Direct | None] = ContextVar("DIRECT", default=None)
