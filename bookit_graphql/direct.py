"""Direct: a graphql-transport-ws operation's `next` frames sent from payloads encoded
already (view.py sets it per operation; bookings/subscriptions.py sends through it)."""

from __future__ import annotations

from contextvars import ContextVar

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import Operation

from bookit_graphql.context import Context


class Direct:
    """Sends one graphql-transport-ws operation's `next` frames from payloads encoded already.

    A subscription whose results its subscribers share (bookingChanged) hands the
    payload's JSON text here instead of yielding a result that graphql-core would
    execute, the extensions inspect and Strawberry encode, once per subscriber:
    the frame is the same text, `{"id":..,"type":"next","payload":..}`, and it
    is sent in the same order, from the operation's own task.
    """

    def __init__(self, operation: Operation[Context, None], websocket: WebSocket) -> None:
        self.operation, self.websocket = operation, websocket
        self.prefix = '{"id":' + orjson.dumps(operation.id).decode() + ',"type":"next","payload":'

    @staticmethod
    def current() -> Direct | None:
        """The operation this task runs, if it runs on graphql-transport-ws."""
        return DIRECT.get()

    async def next(self, payload: str) -> None:
        if self.operation.completed:  # as Operation.send_operation_message
            return
        try:
            await self.websocket.send_text(f"{self.prefix}{payload}}}")
        except WebSocketDisconnect as error:  # as Strawberry's send_json
            raise WebSocketDisconnected from error


DIRECT: ContextVar[Direct | None] = ContextVar("DIRECT", default=None)
