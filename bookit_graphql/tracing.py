"""OpenTelemetry traces: a span per GraphQL operation, with children for its SQL statements.

Off unless OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_TRACES_EXPORTER says where to send
them (Settings.tracing); then `start()` sets `tracer`, and nothing else in the
package touches OpenTelemetry while `tracer` is None: the request path pays
one check of it, and does not even import the SDK. The exporter reads the rest
of OpenTelemetry's own variables (OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_HEADERS...).

Spans follow the semantic conventions for GraphQL servers (a SERVER span named
by the operation's type, its name as `graphql.operation.name`) and for database
clients (a CLIENT span per statement, named by its first keyword; the statement
text with its placeholders, never the parameters). A `traceparent` header on
the request makes the operation a child of the caller's span.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from strawberry.extensions import SchemaExtension

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer
    from sqlalchemy.ext.asyncio import AsyncEngine

tracer: Tracer | None = None  # None: tracing is off
_provider: TracerProvider | None = None
OPERATION = "GraphQL Operation"  # the span's name until the type is known (or if never)
DB_SYSTEM = "postgresql"


def start(provider: TracerProvider | None = None) -> None:
    """Trace from now on: to `provider`, or as OpenTelemetry's environment variables say."""
    global tracer, _provider
    if provider is None:
        if tracer is not None:
            return
        provider = _configured_provider()
    _provider = provider
    tracer = provider.get_tracer("bookit_graphql")


def stop() -> None:
    """Send what is left and trace no more."""
    global tracer, _provider
    if _provider is not None:
        _provider.shutdown()
    tracer, _provider = None, None


def _configured_provider() -> TracerProvider:
    import os

    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SpanExporter,
    )

    exporter: SpanExporter
    if os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() == "console":
        exporter = ConsoleSpanExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over this default
    resource = Resource.create({"service.name": "bookit"})
    if os.environ.get("OTEL_SERVICE_NAME"):
        resource = Resource.create()
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)  # so that other libraries' spans join ours
    return provider


# -- the ids a log line carries -------------------------------------------------------


def current_ids() -> dict[str, str]:
    """The current span's trace and span ids (hex, as OpenTelemetry writes them), or {}."""
    if tracer is None:
        return {}
    from opentelemetry import trace

    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return {}
    return {
        "trace_id": format(span_context.trace_id, "032x"),
        "span_id": format(span_context.span_id, "016x"),
    }


# -- the operation span -----------------------------------------------------------------


class OperationSpan(SchemaExtension):
    """One SERVER span around each operation: parse, validation and execution.

    In the schema only while tracing is on (schema.build_schema).
    """

    def on_operation(self) -> Iterator[None]:
        from opentelemetry import context, propagate, trace

        assert tracer is not None
        execution = self.execution_context
        request = getattr(execution.context, "request", None)
        headers = getattr(request, "headers", None)
        parent = propagate.extract(headers) if headers is not None else None
        span = tracer.start_span(OPERATION, context=parent, kind=trace.SpanKind.SERVER)
        token = context.attach(trace.set_span_in_context(span))
        ids = span.get_span_context()
        log = getattr(execution.context, "log", None)
        if isinstance(log, dict):  # the request's log line (logs.RequestLog) names the trace
            log["trace_id"] = format(ids.trace_id, "032x")
            log["span_id"] = format(ids.span_id, "016x")
        try:
            yield
        finally:
            _describe(span, execution)
            span.end()
            context.detach(token)


def _describe(span: Span, execution: Any) -> None:
    from opentelemetry.trace import Status, StatusCode

    operation_type = operation_type_of(execution)
    if operation_type is not None:
        span.update_name(operation_type)
        span.set_attribute("graphql.operation.type", operation_type)
    name = execution.operation_name
    if name:
        span.set_attribute("graphql.operation.name", name)
    result = execution.result
    errors = (result.errors if result is not None else None) or execution.pre_execution_errors
    if errors:
        codes = sorted({str((error.extensions or {}).get("code")) for error in errors})
        span.set_attribute("bookit.error_codes", codes)
        span.set_attribute("error.type", codes[0])
        span.set_status(Status(StatusCode.ERROR))


def operation_type_of(execution: Any) -> str | None:
    """ "query", "mutation" or "subscription"; None if the document did not parse."""
    if execution.graphql_document is None:
        return None
    try:
        return str(execution.operation_type.value)
    except Exception:  # no such operation in the document: graphql-core reports it
        return None


# -- SQL spans -----------------------------------------------------------------------


@contextlib.contextmanager
def statement_span(statement: str) -> Iterator[None]:
    """A CLIENT span for one statement, if an operation is being traced (else nothing)."""
    span = _statement_span(statement)
    if span is None:
        yield
        return
    from opentelemetry import trace

    with trace.use_span(span, end_on_exit=True):
        yield


def _statement_span(statement: str) -> Span | None:
    from opentelemetry import trace

    if tracer is None or not trace.get_current_span().is_recording():
        return None  # a statement outside any operation (the listener, /readyz) goes untraced
    keyword = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "SQL"
    return tracer.start_span(
        keyword,
        kind=trace.SpanKind.CLIENT,
        attributes={
            "db.system.name": DB_SYSTEM,
            "db.operation.name": keyword,
            "db.query.text": statement,
        },
    )


def instrument(engine: AsyncEngine) -> None:
    """A span for each statement of the engine's (SQLAlchemy's cursor events)."""
    from sqlalchemy import event

    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "before_cursor_execute")
    def _before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        span = _statement_span(statement)
        if span is not None:
            conn.info.setdefault("bookit_spans", []).append(span)

    @event.listens_for(sync_engine, "after_cursor_execute")
    def _after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        spans = conn.info.get("bookit_spans")
        if spans:
            spans.pop().end()

    @event.listens_for(sync_engine, "handle_error")
    def _failed(context: Any) -> None:
        from opentelemetry.trace import Status, StatusCode

        spans = context.connection.info.get("bookit_spans") if context.connection else None
        if spans:
            span = spans.pop()
            span.record_exception(context.original_exception)
            span.set_status(Status(StatusCode.ERROR))
            span.end()
