"""The fast path: a query seen before answered without Strawberry's request machinery.

A request names its document by text, or by a trusted document's id
(`documentId`, or an APQ hash without text: documents.resolve, as the full path
resolves it; free-form text in required mode, an APQ registration and a refused
id are the full path's). The first time the view sees a query text (with its
operationName) it makes a `Plan`: the document parsed within the token limits,
its operation chosen. Every request for it skips Strawberry's body parsing,
parse cache, extensions and result processing: its limits, validation
(schema.validation_rules) and NUL check are looked up as QueryLimits and
TextInputs do (limits.kept_for keeps their results per document, and the limits'
per variables; the plan keeps its document, so each is computed once), the
caller is authenticated, and graphql-core executes the document with the same
executor, so the resolvers, their arguments and the permission directives run as
they always do. A compiled field (compiled.py) then arrives as the JSON text
that PostgreSQL wrote, and orjson writes it into the response as it is
(orjson.Fragment): PostgreSQL's bytes reach the client without being decoded.

A document of one root field (the usual read) is not given to an executor at
all: building graphql-core's executor and its incremental machinery cost about
a fifth of such a request. The plan calls the field's resolver as the executor
would (`_direct`: the variables and arguments coerced by graphql-core's own
functions, the resolver as Strawberry wrapped it, with its permissions and
argument conversion), and a compiled answer is the data. Anything else it gives
or raises (an error, a value for the resolvers to complete) goes to graphql-core
as the ordinary path would have it, the root field answering what it gave
(Replay) instead of running its statements again.

Errors of the execution (a variable, a permission, NOT_FOUND, a cursor, a
database that is down) are answered here by the full path's own code:
ContractErrors codes them, sets the status and the log record and counts the
operation, and the view's process_result and create_response write them. A
request refused before execution (a limit, validation, a NUL), a mutation or
subscription, a batch, a streaming Accept, a document that does not parse,
tracing, or anything unusual in the body takes the full path, which answers it
exactly as it always has. tests/test_fast.py checks status, headers, bytes, log
record and metrics with the path on and off (BOOKIT_FAST_PATH).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLField,
    GraphQLObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    VariableValues,
    execute,
    get_argument_values,
    get_operation_ast,
    get_variable_values,
    parse,
)
from graphql.pyutils import Path
from starlette.requests import Request
from starlette.responses import Response
from strawberry.execution import optimized_is_awaitable
from strawberry.schema.schema import _OperationContextAwareGraphQLResolveInfo, validate_document
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.field import StrawberryField
from strawberry.types.graphql import OperationType as Operation

from bookit_graphql import documents, tracing
from bookit_graphql.compiled import Completed, Executor
from bookit_graphql.errors import BookItError
from bookit_graphql.inputs import find_nul
from bookit_graphql.limits import Limits, check_kept, kept_for
from bookit_graphql.ratelimit import RateLimit
from bookit_graphql.schema import ContractErrors

if TYPE_CHECKING:
    from bookit_graphql.view import GraphQLView

JSON = "application/json"
# what a request body it answers may hold: the text, or a trusted document's id
FIELDS = {"query", "variables", "operationName", "documentId", "extensions"}
MAX_PLANS = 500  # distinct (query, operationName) kept; then forgotten, and made again
MAX_PLANNED_LENGTH = 32_000  # characters: a longer document takes the full path (memory)
MAX_KEPT_COERCIONS = 64  # distinct variables a plan keeps coerced; then forgotten
MAX_KEPT_VARIABLES = 2_000  # characters of their repr: longer ones are coerced each time
PLAIN = frozenset({str, int, float, bool, type(None)})  # coerced values kept as they are
# How requests went: "fast" answered here; "full" left to the full path; of the fast,
# "direct" by the root field's resolver alone, "replayed" completed by graphql-core.
SERVED: Counter[str] = Counter()


@dataclass(frozen=True, slots=True)
class Root:
    """The one root field of a plan that calls its resolver itself (FastPath._direct)."""

    node: FieldNode
    key: str  # its response key
    field: GraphQLField
    parent: GraphQLObjectType  # Query
    fragments: dict[str, FragmentDefinitionNode]
    path: Path


@dataclass(frozen=True, slots=True)
class Plan:
    """A query document made ready once: parsed, its operation chosen, validated."""

    document: DocumentNode
    operation: OperationDefinitionNode
    # the name metrics and the log give it (Strawberry's ExecutionContext.operation_name)
    name: str | None
    # its one root field, when the plan may call that field's resolver itself (direct)
    root: Root | None = None
    # its variables as graphql-core coerced them, by the request's (repr), when they are
    # plain scalars: the same variables are coerced once (a fifteenth of a direct read)
    coerced: dict[str, VariableValues] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a root field's resolver gave (`value`) or raised (`error`), to be completed by
    graphql-core (Replay) when it is not a compiled answer."""

    key: str
    value: Any = None
    error: Exception | None = None


class Replay:
    """graphql-core middleware: the root field answers its Outcome instead of being
    resolved again (its statements ran once); every other field resolves as usual."""

    def __init__(self, outcome: Outcome) -> None:
        self.outcome = outcome

    def resolve(self, next_: Any, root: Any, info: Any, **args: Any) -> Any:
        if info.path.prev is None and info.path.key == self.outcome.key:
            if self.outcome.error is not None:
                raise self.outcome.error
            return self.outcome.value
        return next_(root, info, **args)


class FastPath:
    """Answers the plain successes of known queries for GraphQLView (view.py), with its
    hooks: get_context, authenticate, get_sub_response and create_response."""

    def __init__(self, view: GraphQLView, *, rules: tuple[Any, ...]) -> None:
        self.view = view
        self.core: GraphQLSchema = view.schema._schema  # type: ignore[attr-defined]
        self.settings = view.settings
        self.limits = Limits.from_settings(view.settings)
        self.rules = rules  # the validation rules of the full path (schema.validation_rules)
        self.plans: dict[tuple[str, str | None], Plan | None] = {}

    async def answer(self, request: Request, body: Any = None) -> Response | None:
        """The response to `request`, or None: the full path answers it.

        `body`: the request's JSON body as a step before this one read it (a trusted
        document resolved to its `query`); by default, the request's own.
        """
        started = time.perf_counter()
        found = await self._prepare(request, body)
        if found is None:
            SERVED["full"] += 1
            return None
        plan, query, variables, document = found
        # the trusted document, as the full path's execute_operation records it
        request.state.document_id = document.id if document is not None else None
        token = documents.current.set(document)
        try:
            return await self._answer(request, started, plan, query, variables)
        finally:
            documents.current.reset(token)

    async def _answer(
        self,
        request: Request,
        started: float,
        plan: Plan,
        query: str,
        variables: dict[str, Any] | None,
        *,
        presume: bool = True,
    ) -> Response:
        view = self.view
        sub_response = await view.get_sub_response(request)
        # the caller (InvalidToken: 401, as the full path answers it), presumed as its
        # session was last found, if it was: the first read checks it (Context.check)
        context = await view.get_context(request, sub_response, presume=presume)
        outcome = None
        if plan.root is not None:
            outcome = await self._direct(plan, plan.root, context, variables)
        if isinstance(outcome, ExecutionResult):
            done: Any = outcome
        else:
            executed = execute(
                self.core,
                plan.document,
                context_value=context,
                variable_values=variables,
                operation_name=plan.name,
                executor_class=Executor,
                is_awaitable=cast(Any, optimized_is_awaitable),
                middleware=[Replay(outcome)] if outcome is not None else None,
                operation_extensions=None,
            )
            done = await executed if isinstance(executed, Awaitable) else executed
        if not await context.reads.settle(context.check):
            # the presumed caller is not who it was (a session revoked, a user changed):
            # nothing it read is answered; the request is answered again, the caller
            # read afresh (InvalidToken: 401), with nothing of this run in its log
            context.log.pop("user_id", None)
            return await self._answer(request, started, plan, query, variables, presume=False)
        if isinstance(outcome, ExecutionResult):
            SERVED["direct"] += 1  # counted once the answer stands: not for a run answered again
        elif outcome is not None:
            SERVED["replayed"] += 1
        # what the full path's ContractErrors does as the operation ends: the errors'
        # codes, the status, the log record, the metrics (executing again would run
        # the statements twice: a database that is down would take twice as long)
        execution = ExecutionContext(
            query=query,
            schema=cast(Any, view.schema),
            allowed_operations=(Operation.QUERY,),
            context=context,
            variables=variables,
            provided_operation_name=plan.name,
            graphql_document=plan.document,
        )
        result = execution.result = ExecutionResult(data=done.data, errors=done.errors)
        contract = ContractErrors()
        contract.execution_context = execution  # as Strawberry hands it its own
        contract.finished(time.perf_counter() - started)
        if result.errors:
            SERVED["errors"] += 1
            answer = await view.process_result(request, result)
            view._handle_errors(result.errors, answer)
            return view.create_response(answer, sub_response)
        SERVED["fast"] += 1
        return view.create_response({"data": result.data}, sub_response)

    async def _direct(
        self, plan: Plan, root: Root, context: Any, variables: dict[str, Any] | None
    ) -> ExecutionResult | Outcome | None:
        """The root field's resolver called as graphql-core's executor calls it (its
        arguments coerced alike, its Strawberry wrapper, permissions and argument
        conversion included), without building an executor: the answer when it is a
        compiled one; else what it gave or raised (Outcome), for graphql-core to complete;
        None, when a variable or an argument is refused: graphql-core words that."""
        coerced = self._coerced(plan, variables)
        if coerced is None:
            return None
        node, field = root.node, root.field
        try:
            args = get_argument_values(field, node, coerced) if field.args or node.arguments else {}
        except GraphQLError:
            return None
        # the info that Strawberry's executor builds (a private class: tests/test_fast.py
        # compares the two)
        info = cast(Any, _OperationContextAwareGraphQLResolveInfo)(
            node.name.value,
            [node],
            field.type,
            root.parent,
            root.path,
            self.core,
            root.fragments,
            None,
            plan.operation,
            coerced.coerced,
            context,
            optimized_is_awaitable,
            None,  # abort_signal: execute's default
            None,  # async_helpers: no resolver uses them
            None,  # operation_extensions, as the executor is given them
        )
        try:
            result = cast(Any, field.resolve)(None, info, **args)
            if optimized_is_awaitable(result):
                result = await result
        except Exception as error:  # as graphql-core's execute_field catches it
            return Outcome(root.key, error=error)
        if type(result) is Completed:
            return ExecutionResult(data={root.key: result.value}, errors=None)
        return Outcome(root.key, value=result)

    def _coerced(self, plan: Plan, variables: dict[str, Any] | None) -> VariableValues | None:
        """The request's variables as graphql-core's executor coerces them; None when they
        are refused. Kept per plan when they are all plain scalars (which nothing can
        change), as the request sent them."""
        shown = repr(variables)
        found = plan.coerced.get(shown)
        if found is not None:
            return found
        coerced = get_variable_values(
            self.core, plan.operation.variable_definitions or (), variables or {}, max_errors=50
        )
        if isinstance(coerced, list):
            return None
        if len(shown) <= MAX_KEPT_VARIABLES and all(
            type(value) in PLAIN for value in coerced.coerced.values()
        ):
            if len(plan.coerced) >= MAX_KEPT_COERCIONS:
                plan.coerced.clear()
            plan.coerced[shown] = coerced
        return coerced

    async def _prepare(
        self, request: Request, data: Any
    ) -> tuple[Plan, str, dict[str, Any] | None, documents.Document | None] | None:
        """The plan, query and variables of a request the fast path may answer, or None."""
        if tracing.tracer is not None:  # the full path's spans
            return None
        headers = request.headers
        media_type = headers.get("content-type", "").partition(";")[0].strip().lower()
        if media_type != JSON or self.view._get_stream_transport_from_headers(headers):
            return None
        if data is None:
            try:
                data = json.loads(await request.body())  # as GraphQLView.parse_json reads it
            except ValueError:
                return None
        if not isinstance(data, dict) or not data.keys() <= FIELDS:
            return None
        document: documents.Document | None = None
        if "documentId" in data or "extensions" in data:
            extensions = data.get("extensions")
            if data.get("query") is not None or not (
                extensions is None
                or (isinstance(extensions, dict) and extensions.keys() == {"persistedQuery"})
            ):
                return None  # an APQ registration, other extensions, or a refusal: the full path's
            try:  # by id alone, which needs nothing of the caller
                resolved = await self.view.resolve(data, None)
            except BookItError:
                return None  # PERSISTED_QUERY_NOT_FOUND and the like, as the full path words them
            data = {**data, "query": resolved.query}
            document = resolved.document
        elif self.settings.trusted_documents == "required":
            return None  # free-form text: whether the caller is an admin, the full path sees
        query, variables, name = data.get("query"), data.get("variables"), data.get("operationName")
        if (
            not isinstance(query, str)
            or not isinstance(variables, dict | None)
            or not isinstance(name, str | None)
        ):
            return None
        plan = self.plan(query, name)
        if plan is None or self._refused(plan, query, variables):
            return None
        return plan, query, variables, document

    def plan(self, query: str, name: str | None) -> Plan | None:
        """The plan of a query document, made on first sight (parsed, its operation chosen);
        None: the full path's."""
        if len(query) > MAX_PLANNED_LENGTH:
            return None
        key = (query, name)
        if key in self.plans:
            return self.plans[key]
        if len(self.plans) >= MAX_PLANS:
            self.plans.clear()
        plan = self.plans[key] = self._make(query, name)
        return plan

    def _make(self, query: str, name: str | None) -> Plan | None:
        try:
            document = parse(query, **cast(Any, self.limits.parse_options))
        except GraphQLError:
            return None
        # without operationName, Strawberry names the first operation (even of several)
        first = next(
            (d for d in document.definitions if isinstance(d, OperationDefinitionNode)), None
        )
        if name is None and first is not None:
            name = _name(first)
        operation = get_operation_ast(document, name)
        if operation is None or operation.operation != OperationType.QUERY:
            return None
        query_type = self.core.query_type
        assert query_type is not None
        for selection in operation.selection_set.selections:
            if not isinstance(selection, FieldNode):
                return None  # a fragment at the root: nothing here to look at its fields
            field = query_type.fields.get(selection.name.value)
            if field is not None and _rate_limited(field):
                return None  # an attempt counted here would be counted again on a refusal
        return Plan(document, operation, name, _root(document, operation, query_type))

    def _refused(self, plan: Plan, query: str, variables: dict[str, Any] | None) -> bool:
        """Whether QueryLimits or TextInputs would refuse the request, checked as they check
        it and kept with their results: the limits first (with these variables), so that
        a hostile document never reaches the costly validation rules."""
        document = plan.document
        if check_kept(self.core, document, variables, self.limits) or kept_for(
            self.core,
            document,
            ("rules", self.rules),
            lambda: validate_document(self.core, document, self.rules),
        ):
            return True
        return find_nul(self.core, document, query, plan.name, variables) is not None


def _root(
    document: DocumentNode, operation: OperationDefinitionNode, query_type: GraphQLObjectType
) -> Root | None:
    """The root field that the plan may resolve itself: the only one, with a resolver,
    no directive (@skip, @include) and nothing that graphql-core's executor would treat
    apart (operation directives, fragment variables, introspection)."""
    selections = operation.selection_set.selections
    if len(selections) != 1 or operation.directives:
        return None
    node = selections[0]
    if not isinstance(node, FieldNode) or node.directives or node.name.value.startswith("__"):
        return None
    field = query_type.fields.get(node.name.value)
    if field is None or field.resolve is None:
        return None
    fragments = {}
    for definition in document.definitions:
        if isinstance(definition, FragmentDefinitionNode):
            if definition.variable_definitions:
                return None
            fragments[definition.name.value] = definition
    key = (node.alias or node.name).value
    return Root(node, key, field, query_type, fragments, Path(None, key, query_type.name))


def _rate_limited(field: Any) -> bool:
    declared = field.extensions.get("strawberry-definition")
    return isinstance(declared, StrawberryField) and any(
        isinstance(extension, RateLimit) for extension in declared.extensions
    )


def _name(operation: OperationDefinitionNode) -> str | None:
    return operation.name.value if operation.name else None
