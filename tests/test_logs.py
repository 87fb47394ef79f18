"""The JSON access log: one line per request, the same fields, written off the event loop."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import random
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import httpx
import pytest

from bookit_graphql import logs
from bookit_graphql.app import create_app
from bookit_graphql.config import Settings
from tests.conftest import Server

FIELDS = ["ts", "level", "logger", "message", "request_id", "method", "path", "operation"]


class Recording(io.StringIO):
    """A stream that remembers which thread wrote to it."""

    def __init__(self) -> None:
        super().__init__()
        self.writers: list[str] = []

    def write(self, text: str) -> int:
        self.writers.append(threading.current_thread().name)
        return super().write(text)

    def lines(self, logger: str | None = None) -> list[dict[str, object]]:
        found = [json.loads(line) for line in self.getvalue().splitlines()]
        return [line for line in found if logger is None or line["logger"] == logger]


@pytest.fixture
def root_alone() -> Iterator[logging.Logger]:
    """The root logger with no handler (pytest's own put back after the test)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    root.handlers[:] = []
    yield root
    for handler in root.handlers:
        handler.close()
    root.handlers[:], root.level = handlers, level


def wait_for(condition: object, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.01)


def test_the_timestamp_is_isoformat_in_utc() -> None:
    rng = random.Random(14)
    moments = [rng.uniform(1.7e9, 1.9e9) for _ in range(20_000)]
    moments += [1_796_000_000.0, 1_796_000_000.9999996, 1_796_000_000.0000004, time.time()]
    for moment in moments:
        assert logs.timestamp(moment) == datetime.fromtimestamp(moment, UTC).isoformat()


async def test_a_request_line_is_written_by_the_writer_thread(
    root_alone: logging.Logger, client: httpx.AsyncClient
) -> None:
    # given the logging that `bookit serve` configures, at its default level
    stream = Recording()
    logs.configure_logging("INFO", stream)
    (handler,) = root_alone.handlers
    assert isinstance(handler, logs.JsonLines)

    # when two requests are served
    one = await client.post(
        "/graphql", json={"query": "query Kind { __typename }"}, headers={"X-Request-ID": "r-41"}
    )
    two = await client.get("/healthz")
    wait_for(lambda: len(stream.lines("bookit.request")) >= 2)

    # then each has its line, with the fields in their order, written by the writer thread
    first, second = stream.lines("bookit.request")
    assert list(first) == [*FIELDS, "status", "duration_ms"]
    assert first["request_id"] == "r-41" == one.headers["x-request-id"]
    assert (first["level"], first["logger"], first["message"]) == (
        "INFO",
        "bookit.request",
        "request",
    )
    assert (first["method"], first["path"], first["operation"], first["status"]) == (
        "POST",
        "/graphql",
        "Kind",
        200,
    )
    assert datetime.fromisoformat(str(first["ts"])).tzinfo is not None
    assert second["request_id"] == two.headers["x-request-id"]
    assert second["path"] == "/healthz"
    assert set(stream.writers) == {"bookit-log"}
    assert threading.current_thread().name not in stream.writers


async def test_the_last_lines_are_written_when_the_app_shuts_down(
    root_alone: logging.Logger, settings: Settings, database_url: str
) -> None:
    # given a writer that would not wake by itself during the test
    stream = Recording()
    root_alone.handlers[:] = [logs.JsonLines(stream, interval=3600)]
    root_alone.setLevel(logging.INFO)
    app = create_app(settings, database_url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bookit.test") as c:
            # when a request is served and the app shuts down at once
            await c.get("/healthz", headers={"X-Request-ID": "last-one"})
            await asyncio.sleep(0.1)
            # then nothing was written while it served (the loop does not write)
            assert stream.getvalue() == ""

    # and its line is there once the lifespan has ended, written off the loop
    requests = stream.lines("bookit.request")
    assert [line["request_id"] for line in requests] == ["last-one"]
    assert threading.current_thread().name not in stream.writers


def test_a_stuck_stream_drops_lines_past_the_backlog_and_says_how_many() -> None:
    stream = Recording()
    handler = logs.JsonLines(stream, interval=3600, backlog=2)
    try:
        for n in range(5):
            handler.add("INFO", "test", "line", {"n": n})
        handler.flush()
    finally:
        handler.close()
    kept, dropped = stream.lines()[:2], stream.lines()[2]
    assert [line["n"] for line in kept] == [0, 1]
    assert list(kept[0]) == [*FIELDS[:4], "n"]
    assert (dropped["message"], dropped["dropped"], dropped["level"]) == (
        "log lines dropped",
        3,
        "WARNING",
    )


def test_any_other_handler_gets_the_request_record(root_alone: logging.Logger) -> None:
    # given JSON lines and another handler (an application embedding BookIt's)
    stream = Recording()
    logs.configure_logging("INFO", stream)
    caught: list[logging.LogRecord] = []
    other = logging.Handler()
    other.emit = caught.append  # type: ignore[method-assign]
    logs.log.addHandler(other)
    try:
        # when a request's line is logged
        logs._log_request({"request_id": "r-7", "status": 200})
        logs.flush()
    finally:
        logs.log.removeHandler(other)
    # then both have it, the same
    (record,) = caught
    assert record.fields == {"request_id": "r-7", "status": 200}  # type: ignore[attr-defined]
    (line,) = stream.lines()
    assert line["request_id"] == "r-7"
    assert list(line)[:4] == FIELDS[:4]


def test_a_field_that_cannot_be_written_does_not_lose_the_line() -> None:
    stream = Recording()
    handler = logs.JsonLines(stream, interval=3600)
    try:
        handler.add("INFO", "test", "big", {"n": 2**70})  # beyond what orjson writes
        handler.flush()
    finally:
        handler.close()
    (line,) = stream.lines()
    assert line["message"] == "big"
    assert "unwritable" in line


def test_bookit_serve_writes_the_last_line_before_it_exits(
    start_server: Callable[..., Server],
) -> None:
    # given `bookit serve` at its default log level
    server = start_server("info.log", LOG_LEVEL="INFO")

    # when it serves a request and is stopped right after
    answer = httpx.get(f"{server.base}/healthz", headers={"X-Request-ID": "before-sigterm"})
    assert server.stop() == 0

    # then that request's line is in its log, and every line is JSON
    lines = [json.loads(line) for line in server.log.read_text().splitlines()]
    (line,) = [one for one in lines if one.get("request_id") == "before-sigterm"]
    assert answer.headers["x-request-id"] == "before-sigterm"
    assert (line["path"], line["status"], line["logger"]) == ("/healthz", 200, "bookit.request")


def test_logging_shutdown_while_the_writer_writes_does_not_hang() -> None:
    # logging.shutdown (at exit) holds each handler's lock while it flushes and closes it
    for _ in range(30):
        handler = logs.JsonLines(io.StringIO(), interval=0.0001)
        for n in range(300):
            handler.add("INFO", "test", "line", {"n": n})
        exiting = threading.Thread(
            target=logging.shutdown, args=([weakref.ref(handler)],), daemon=True
        )
        exiting.start()
        exiting.join(5)
        assert not exiting.is_alive()
        assert not handler.writer.is_alive()


async def test_a_socket_gets_the_servers_own_send_and_keeps_its_request_id() -> None:
    # given the request log in front of an app that looks at what it was given
    seen: dict[str, object] = {}

    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        seen.update(scope=scope, send=send)

    async def server_send(message: dict[str, object]) -> None:
        pass

    async def receive() -> dict[str, object]:
        return {"type": "websocket.connect"}

    scope = {"type": "websocket", "path": "/graphql", "headers": [(b"x-request-id", b"ws-1")]}
    # when a socket comes in
    await logs.RequestLog(app)(scope, receive, server_send)
    # then the app has the server's send itself, also in the scope's state (the
    # frames that the event hub sends: direct.Direct.push), and the socket its id
    state = scope["state"]
    assert isinstance(state, dict)
    assert seen["send"] is server_send
    assert state["send"] is server_send
    assert state["request_id"] == "ws-1"


def test_a_request_id_made_here_is_a_uuid4_in_hex() -> None:
    # when ids are made for requests that bring none
    made = [logs.new_request_id() for _ in range(2000)]
    # then each is what uuid.uuid4().hex gives: 32 hex digits, version 4, RFC 4122 variant
    for one in made:
        parsed = uuid.UUID(hex=one)
        assert parsed.hex == one
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
    assert len(set(made)) == len(made)
