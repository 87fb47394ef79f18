"""Structured JSON logs, and one log line per request with its request id."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import sys
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bookit_graphql import tracing

log = logging.getLogger("bookit.request")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = getattr(record, "fields", {})
        if record.exc_info:
            fields = {**fields, "exception": self.formatException(record.exc_info)}
        message = record.getMessage()
        return json_line(record.created, record.levelname, record.name, message, fields)


def json_line(
    created: float,
    level: str,
    logger: str,
    message: str,
    fields: dict[str, Any],
    ids: dict[str, str] | None = None,
) -> str:
    """One log line: the time, level, logger and message, the trace's ids, then `fields`.

    `ids` are the trace's, taken where the line was logged (else now: tracing.current_ids).
    """
    payload = {
        "ts": timestamp(created),
        "level": level,
        "logger": logger,
        "message": message,
        **(tracing.current_ids() if ids is None else ids),
        **fields,
    }
    return orjson.dumps(payload, default=str).decode()


_second: tuple[int, str] = (0, "")  # the last whole second written, and its text


def timestamp(created: float) -> str:
    """`datetime.fromtimestamp(created, UTC).isoformat()`, the date and time made once a second.

    The same rounding (to the nearest microsecond, half to even) and the same
    form (no fraction when it is zero).
    """
    global _second
    fraction, whole = math.modf(created)
    seconds, micros = int(whole), round(fraction * 1e6)
    if micros >= 1_000_000:
        seconds, micros = seconds + 1, micros - 1_000_000
    second = _second
    if second[0] != seconds or not second[1]:
        second = _second = (
            seconds,
            datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        )
    if micros:
        return f"{second[1]}.{micros:06d}+00:00"
    return f"{second[1]}+00:00"


class JsonLines(logging.Handler):
    """Each record as a JSON line on `stream`, written by a thread of its own.

    The writer thread wakes every `interval` seconds and writes what gathered in
    one call, so the event loop neither waits on the stream nor makes a system
    call per line. `emit` formats a record where it is logged (its message and
    exception are of that moment); `add` keeps a line's parts and the writer
    formats it, many at a time while that code is hot: a request's line costs
    the loop about 1 us instead of 8 formatted there. `flush` writes the rest at
    once: the app's lifespan calls it at shutdown, and logging.shutdown at exit.
    With `backlog` lines waiting (the stream stuck), further lines are dropped,
    and counted in a line of their own when the stream takes lines again.
    """

    def __init__(self, stream: TextIO, *, interval: float = 0.05, backlog: int = 100_000) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.stream, self.interval, self.backlog = stream, interval, backlog
        self._lines: list[str | tuple[Any, ...]] = []  # a line, or json_line's arguments
        self._dropped = 0
        # Never self.lock: logging.shutdown holds it while it calls flush and close.
        self._keeping = threading.Lock()  # the lines kept
        self._writing = threading.Lock()  # one write at a time, so lines stay in order
        self._stop = threading.Event()
        self.writer = threading.Thread(target=self._write_forever, name="bookit-log", daemon=True)
        self.writer.start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self._keep(line)

    def add(self, level: str, logger: str, message: str, fields: dict[str, Any]) -> None:
        """A line of this moment, formatted by the writer (`fields` must not change after)."""
        self._keep((time.time(), level, logger, message, fields, tracing.current_ids()))

    def _keep(self, line: str | tuple[Any, ...]) -> None:
        with self._keeping:
            if len(self._lines) < self.backlog:
                self._lines.append(line)
            else:
                self._dropped += 1

    def flush(self) -> None:
        with self._writing:
            with self._keeping:
                kept, self._lines = self._lines, []
                dropped, self._dropped = self._dropped, 0
            lines = [line if isinstance(line, str) else _formatted(line) for line in kept]
            if dropped:
                notice = {"dropped": dropped}
                lines.append(
                    json_line(time.time(), "WARNING", log.name, "log lines dropped", notice)
                )
            if lines:
                with contextlib.suppress(OSError, ValueError):  # a broken or closed stream
                    self.stream.write("\n".join(lines) + "\n")
                    self.stream.flush()

    def close(self) -> None:
        self._stop.set()
        if self.writer is not threading.current_thread():
            self.writer.join()
        self.flush()
        super().close()

    def _write_forever(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush()


def _formatted(parts: tuple[Any, ...]) -> str:
    try:
        return json_line(*parts)
    except (TypeError, orjson.JSONEncodeError) as error:  # a field orjson cannot write
        created, level, logger, message = parts[:4]
        return json_line(created, level, logger, message, {"unwritable": str(error)}, parts[5])


def configure_logging(level: str, stream: TextIO | None = None) -> None:
    """JSON lines on stderr (or `stream`), written off the event loop (JsonLines)."""
    # What a LogRecord gathers that no line shows: the caller's file and line, the
    # thread, the process (the logging HOWTO's "Optimization").
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    root = logging.getLogger()
    for old in root.handlers:
        if isinstance(old, JsonLines):
            old.close()  # its lines first
    root.handlers[:] = [JsonLines(sys.stderr if stream is None else stream)]
    root.setLevel(level)


def flush() -> None:
    """Write the log lines still waiting (the root logger's handlers')."""
    for handler in logging.getLogger().handlers:
        handler.flush()


def _only_sink(logger: logging.Logger) -> JsonLines | None:
    """The JsonLines that `logger`'s records go to, if they go to it alone, unfiltered."""
    found: list[logging.Handler] = []
    current: logging.Logger | None = logger
    while current is not None:
        if current.filters:
            return None
        found += current.handlers
        current = current.parent if current.propagate else None
    sink = found[0] if len(found) == 1 else None
    if isinstance(sink, JsonLines) and not sink.filters and sink.level <= logging.INFO:
        return sink
    return None


def _log_request(fields: dict[str, Any]) -> None:
    """The request's line; straight to JsonLines when that is its only handler.

    A LogRecord and logging's dispatch cost the event loop more than the line
    itself (about 12 us of a 200 us `{ __typename }`). Any other handler (of an
    application embedding BookIt, pytest's caplog) gets the record as usual.
    """
    sink = _only_sink(log)
    if sink is None:
        log.info("request", extra={"fields": fields})
    else:
        sink.add("INFO", log.name, "request", fields)


def new_request_id() -> str:
    """`uuid.uuid4().hex`, the same 122 random bits and version and variant bits,
    without making a UUID object (2 us of a 300 us read)."""
    random = bytearray(os.urandom(16))
    random[6] = random[6] & 0x0F | 0x40  # version 4
    random[8] = random[8] & 0x3F | 0x80  # the RFC 4122 variant
    return random.hex()


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
        request_id = given if REQUEST_ID.match(given) else new_request_id()
        record: dict[str, Any] = {
            "request_id": request_id,
            "method": scope.get("method", "WEBSOCKET"),
            "path": scope["path"],
        }
        state = scope.setdefault("state", {})
        state["request_id"], state["log"] = request_id, record
        if scope["type"] == "websocket":
            # A socket's messages pass as they are (send_with_id is for HTTP's start);
            # the server's own send is for frames sent from no request's task
            # (direct.Direct.push).
            state["send"] = send
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
            await self.app(scope, receive, send_with_id if scope["type"] == "http" else send)
        finally:
            record["duration_ms"] = round((time.perf_counter() - started) * 1000, 2)
            if log.isEnabledFor(logging.INFO):
                _log_request(record)
