"""Traces: one span per GraphQL operation, its SQL statements as children, ids in the logs."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from bookit_graphql import tracing
from bookit_graphql.app import create_app
from bookit_graphql.config import Settings
from bookit_graphql.logs import JsonFormatter
from tests.helpers import REGISTER, codes, gql

SERVICES = "query Services { services(first: 5) { totalCount edges { node { id title } } } }"
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    found = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(found))
    tracing.start(provider)
    yield found
    tracing.stop()


@pytest.fixture
async def traced(
    exporter: InMemorySpanExporter, settings: Settings, database_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app built while tracing is on."""
    app = create_app(settings, database_url)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://traced.test") as c:
            yield c
    finally:
        await app.state.reads.close()
        await app.state.engine.dispose()


def operations(spans: tuple[ReadableSpan, ...]) -> list[ReadableSpan]:
    return [span for span in spans if span.kind is SpanKind.SERVER]


def children(spans: tuple[ReadableSpan, ...], parent: ReadableSpan) -> list[ReadableSpan]:
    assert parent.context is not None
    return [
        span
        for span in spans
        if span.parent is not None and span.parent.span_id == parent.context.span_id
    ]


async def test_a_query_is_one_span_with_its_statements_below(
    traced: httpx.AsyncClient, exporter: InMemorySpanExporter
) -> None:
    # when a client reads the services (compiled: one statement on the reads pool)
    body = await gql(traced, SERVICES)
    assert "errors" not in body

    # then there is one operation span, named by its type, the name an attribute
    spans = exporter.get_finished_spans()
    (operation,) = operations(spans)
    assert operation.name == "query"
    assert operation.attributes is not None
    assert operation.attributes["graphql.operation.type"] == "query"
    assert operation.attributes["graphql.operation.name"] == "Services"
    assert operation.parent is None
    assert operation.status.status_code is StatusCode.UNSET
    # and every statement is its child, with the statement's text and no parameters
    below = children(spans, operation)
    assert below, [span.name for span in spans]
    assert len(below) == len(spans) - 1
    for span in below:
        assert span.kind is SpanKind.CLIENT
        assert span.name == "SELECT"
        assert span.attributes is not None
        assert span.attributes["db.system.name"] == "postgresql"
        assert "FROM services" in str(span.attributes["db.query.text"])
        assert span.context is not None
        assert operation.context is not None
        assert span.context.trace_id == operation.context.trace_id
        assert operation.start_time is not None
        assert span.start_time is not None
        assert operation.end_time is not None
        assert span.end_time is not None
        assert operation.start_time <= span.start_time <= span.end_time <= operation.end_time


async def test_a_mutation_through_the_orm_has_its_inserts_below(
    traced: httpx.AsyncClient, exporter: InMemorySpanExporter
) -> None:
    # when a client registers (SQLAlchemy: a transaction of inserts)
    variables = {"input": {"email": "t@example.com", "password": "long enough!", "fullName": "T"}}
    body = await gql(traced, REGISTER, variables)
    assert "errors" not in body

    # then the mutation span holds the INSERT into users
    spans = exporter.get_finished_spans()
    (operation,) = operations(spans)
    assert operation.name == "mutation"
    assert operation.attributes is not None
    assert operation.attributes["graphql.operation.name"] == "Register"
    below = children(spans, operation)
    inserts = [s for s in below if s.name == "INSERT"]
    assert inserts, [s.name for s in below]
    assert any("INSERT INTO users" in str((s.attributes or {})["db.query.text"]) for s in inserts)
    assert all(s.kind is SpanKind.CLIENT for s in below)


async def test_a_failed_operation_is_an_error_span_under_the_callers_trace(
    traced: httpx.AsyncClient, exporter: InMemorySpanExporter
) -> None:
    # when a caller that traces sends an operation that fails validation
    response = await traced.post(
        "/graphql",
        json={"query": "query Services { services { nope } }"},
        headers={"traceparent": TRACEPARENT},
    )
    assert codes(response.json()) == ["GRAPHQL_VALIDATION_FAILED"]

    # then the operation span continues the caller's trace, and says it failed
    (operation,) = operations(exporter.get_finished_spans())
    assert operation.context is not None
    assert operation.parent is not None
    assert format(operation.context.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"
    assert format(operation.parent.span_id, "016x") == "b7ad6b7169203331"
    assert operation.status.status_code is StatusCode.ERROR
    assert operation.attributes is not None
    assert operation.attributes["error.type"] == "GRAPHQL_VALIDATION_FAILED"


async def test_the_request_log_line_names_the_trace(
    traced: httpx.AsyncClient, exporter: InMemorySpanExporter
) -> None:
    # given the request log written as JSON
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("bookit.request")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        # when an operation is served
        assert "errors" not in await gql(traced, SERVICES)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)

    # then its log line carries the operation span's trace and span ids
    (operation,) = operations(exporter.get_finished_spans())
    assert operation.context is not None
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    (line,) = [line for line in lines if line.get("path") == "/graphql"]
    assert line["trace_id"] == format(operation.context.trace_id, "032x")
    assert line["span_id"] == format(operation.context.span_id, "016x")


def test_a_line_logged_inside_a_span_carries_its_ids(exporter: InMemorySpanExporter) -> None:
    assert tracing.tracer is not None
    record = logging.LogRecord("bookit", logging.ERROR, __file__, 1, "boom", None, None)
    with tracing.tracer.start_as_current_span("work") as span:
        line: dict[str, Any] = json.loads(JsonFormatter().format(record))
    assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")
    # and outside any span, none
    assert "trace_id" not in json.loads(JsonFormatter().format(record))


def test_tracing_is_off_unless_configured() -> None:
    assert not Settings.from_env({}).tracing
    assert Settings.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}).tracing
    assert Settings.from_env({"OTEL_TRACES_EXPORTER": "console"}).tracing
    assert not Settings.from_env(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "none"}
    ).tracing
    # and when off, serving does not even import OpenTelemetry
    probe = (
        "import sys, bookit_graphql.app, bookit_graphql.schema as s; "
        "assert not any(isinstance(e, type) and e.__name__ == 'OperationSpan' "
        "for e in s.schema.extensions); "
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"
