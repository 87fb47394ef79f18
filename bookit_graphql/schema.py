"""The one GraphQL schema: Query, Mutation, and the extensions every request runs."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import strawberry
from graphql import ASTValidationRule, GraphQLError, specified_rules
from graphql.validation import NoSchemaIntrospectionCustomRule
from starlette.responses import Response
from strawberry.extensions import AddValidationRules, ParserCache, SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from bookit_graphql import documents, metrics, tracing
from bookit_graphql.bookings.mutations import BookingMutations
from bookit_graphql.bookings.queries import BookingQueries
from bookit_graphql.bookings.subscriptions import BookingSubscriptions
from bookit_graphql.catalog.mutations import CatalogMutations
from bookit_graphql.catalog.queries import CatalogQueries
from bookit_graphql.compiled import Executor
from bookit_graphql.config import Settings
from bookit_graphql.context import Context
from bookit_graphql.errors import HTTP_STATUS, SERVICE_RETRY_AFTER, coded
from bookit_graphql.inputs import TextInputs, field_of
from bookit_graphql.integrations.mutations import IntegrationMutations
from bookit_graphql.integrations.queries import IntegrationQueries
from bookit_graphql.limits import Limits, QueryLimits
from bookit_graphql.reviews.mutations import ReviewMutations
from bookit_graphql.reviews.queries import ReviewQueries
from bookit_graphql.scalars import SCALAR_MAP
from bookit_graphql.users.mutations import UserMutations
from bookit_graphql.users.queries import UserQueries

Query = merge_types(
    "Query", (UserQueries, CatalogQueries, BookingQueries, ReviewQueries, IntegrationQueries)
)
Mutation = merge_types(
    "Mutation",
    (UserMutations, CatalogMutations, BookingMutations, ReviewMutations, IntegrationMutations),
)
Subscription = merge_types("Subscription", (BookingSubscriptions,))


class ContractErrors(SchemaExtension):
    """Gives every error its contract code and the response its HTTP status, and counts
    the operation, its outcome, its time and its error codes (metrics.py)."""

    failed_in = "execute"

    def on_parse(self) -> Iterator[None]:
        yield
        if self.execution_context.pre_execution_errors:
            self.failed_in = "parse"

    def on_validate(self) -> Iterator[None]:
        yield
        errors = self.execution_context.pre_execution_errors
        if errors and self.failed_in == "execute":
            self.failed_in = "validate"
            # A subscription sends these before on_operation ends: code them now,
            # in the list that it sends (QueryLimits made it for this request).
            errors[:] = self._coded(errors)

    def on_operation(self) -> Iterator[None]:
        started, done = time.perf_counter(), False
        try:
            yield
            done = True
        finally:
            # also when a subscription ends by its client's `complete` (thrown in here)
            self.finished(time.perf_counter() - started, done=done)

    def finished(self, seconds: float, *, done: bool = True) -> None:
        """The operation has ended (`done`: with a result): code its errors, set the
        status, and count it. The fast path (fast.py) calls it too."""
        context = self.execution_context.context
        if isinstance(context, Context):
            codes = self._finish(context) if done else []
            if context.settings.metrics:
                self._count(codes, seconds)

    def on_stream_result(self, result: Any) -> Iterator[None]:
        """Each result a subscription streams gets its codes too (errors raised mid-stream,
        after on_operation has handed the stream over); those already coded stay as they are."""
        if getattr(result, "errors", None):
            result.errors = self._coded(result.errors)
        yield

    def _finish(self, context: Context) -> list[str]:
        """Code the errors, set the HTTP status and headers; the codes."""
        result = self.execution_context.result
        context.log["operation"] = self.execution_context.operation_name
        if result is None or not result.errors:
            return []
        result.errors = self._coded(result.errors)
        extensions = [error.extensions or {} for error in result.errors]
        codes = [str(extension.get("code")) for extension in extensions]
        context.log["errors"] = codes
        if isinstance(context.response, Response):
            for code in codes:
                if code in HTTP_STATUS:
                    context.response.status_code = HTTP_STATUS[code]
            waits = [e.get("retryAfter", 60) for e in extensions if e.get("code") == "RATE_LIMITED"]
            if "SERVICE_UNAVAILABLE" in codes:
                waits.append(SERVICE_RETRY_AFTER)
            if waits:
                context.response.headers["Retry-After"] = str(max(waits))
        return codes

    def _count(self, codes: list[str], seconds: float) -> None:
        execution = self.execution_context
        result = execution.result
        if not codes:
            outcome = "success"
        elif self.failed_in != "execute" or (
            result is not None
            and result.data is None
            and all(e.path is None for e in result.errors or ())
        ):
            outcome = "rejected"  # never executed: parse, validation, limits, variables
        else:
            outcome = "error"
        operation_type = tracing.operation_type_of(execution) or metrics.UNKNOWN_TYPE
        label = metrics.operation_label(documents.current.get())
        metrics.observe_operation(operation_type, label, outcome, seconds)
        metrics.count_errors(codes)

    def _coded(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        context = self.execution_context.context
        if not isinstance(context, Context):
            return errors
        return [
            self._with_field(
                coded(
                    error,
                    phase=self.failed_in,
                    request_id=context.request_id,
                    suggestions=context.settings.field_suggestions,
                )
            )
            for error in errors
        ]

    def _with_field(self, error: GraphQLError) -> GraphQLError:
        """A bad value refused before execution, with the input field it was meant for."""
        extensions = error.extensions or {}
        if extensions.get("code") != "BAD_USER_INPUT" or "field" in extensions or error.path:
            return error
        name = field_of(error, self.execution_context.graphql_document)
        if name is not None:
            error.extensions = {**extensions, "field": name}
        return error


class CachedParser(ParserCache):
    """ParserCache that lets a document that fails to parse reach Strawberry's own parse.

    Raised from the hook, the syntax error would skip the operation hooks and
    reach the client without its code; Strawberry's parse reports it properly.
    """

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        with contextlib.suppress(GraphQLError):
            context.graphql_document = self.cached_parse_document(
                context.query, **context.parse_options
            )
        yield


class BookItSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Nothing: ContractErrors logs the unexpected ones, with the request id."""


def extra_rules(settings: Settings) -> tuple[type[ASTValidationRule], ...]:
    """The validation rules run besides graphql-core's standard ones."""
    return () if settings.introspection else (NoSchemaIntrospectionCustomRule,)


def validation_rules(settings: Settings) -> tuple[type[ASTValidationRule], ...]:
    """Every rule that validates a document, in the order the full path runs them (the
    fast path's validation shares QueryLimits' cache through this tuple)."""
    return (*specified_rules, *extra_rules(settings))


def build_schema(settings: Settings | None = None) -> BookItSchema:
    settings = settings or Settings()
    limits = Limits.from_settings(settings)
    extensions: list[Any] = [
        ContractErrors,
        CachedParser,
        lambda: QueryLimits(limits),  # instead of ValidationCache: the limits come first
        TextInputs,  # after QueryLimits: on a valid document
    ]
    if extra_rules(settings):
        extensions.append(lambda: AddValidationRules(list(extra_rules(settings))))
    if tracing.tracer is not None:
        extensions.insert(0, tracing.OperationSpan)  # outermost: its span holds the others' work
    return BookItSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        execution_context_class=Executor,
        config=StrawberryConfig(scalar_map=SCALAR_MAP),
    )


schema = build_schema()
