"""Structured JSON logs, and one log line per request with its request id."""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bookit_graphql import tracing

log = logging.getLogger("bookit.request")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **tracing.current_ids(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(payload, default=str).decode()


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


class RequestLog:
    """ASGI middleware: gives each request an id and logs it once when it ends.

    The id comes from `X-Request-ID` when that is sane, and is echoed back. The
    GraphQL layer adds the operation name, the user id and the error codes to
    the record it finds in `scope["state"]["log"]`. Headers and bodies are never
    logged, so no password or token can end up in a log.
    """

    def __init__(self, app: ASGIApp, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
        self.app = app
        self.headers = headers  # added to every HTTP response that has none of that name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if REQUEST_ID.match(given) else uuid.uuid4().hex
        record: dict[str, Any] = {
            "request_id": request_id,
            "method": scope.get("method", "WEBSOCKET"),
            "path": scope["path"],
        }
        state = scope.setdefault("state", {})
        state["request_id"], state["log"] = request_id, record
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                record["status"] = message["status"]
                headers = [*message.get("headers", ()), (b"x-request-id", request_id.encode())]
                present = {name.lower() for name, _ in headers}
                headers.extend(pair for pair in self.headers if pair[0] not in present)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            record["duration_ms"] = round((time.perf_counter() - started) * 1000, 2)
            log.info("request", extra={"fields": record})
