"""Reads answered by one SQL statement that builds their JSON.

Resolved field by field, a page of 50 bookings costs Python an ORM object per
row and some 800 field completions (docs/benchmarks.md). A root field that
reads a `Listing` (the domain's SQLAlchemy query) calls `connection(info, ...)`
or `one(info, ...)` here: when every field the request selects below it
declares its SQL (sql.py), PostgreSQL builds the field's whole value in one
statement (response keys in selection order, scalars as scalars.SQL_FORMATS
writes them, related rows as correlated subqueries) and it is returned as
`Completed`, which `Executor` passes through instead of completing it field by
field. The statement writes the JSON text byte for byte as orjson would write
the resolvers' answer (compact, orjson's escapes and floats), so over HTTP the
text goes into the response as it is (orjson.Fragment), and the fast path
(fast.py) answers with PostgreSQL's own bytes. This module knows GraphQL
(selections, fragments, aliases, @skip/@include, variables, connections,
scalars) and no domain.

Whatever it cannot compile (a field without SQL, such as `availableSlots`; an
argument that is not a literal or a variable; a directive other than
@skip/@include; an invalid nested argument, whose error the resolvers word)
raises `Unknown`, and the field is resolved the ordinary way, by the resolvers
and loaders, from the same listing. Each fallback is logged at debug level
with the field that caused it and counted in `FALLBACKS`.

The SQL text holds no client input: response keys are GraphQL names, and
values are bound parameters. It is cached per field node, variables and
listing, so a repeated request compiles nothing.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import orjson
from graphql import (
    BooleanValueNode,
    FieldNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLField,
    GraphQLObjectType,
    GraphQLScalarType,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    NullValueNode,
    ObjectValueNode,
    OperationType,
    SelectionNode,
    StringValueNode,
    ValueNode,
    VariableNode,
    get_named_type,
)
from sqlalchemy import Column, bindparam, func, literal_column, tuple_
from sqlalchemy.dialects.postgresql import psycopg as psycopg_dialect
from sqlalchemy.sql.util import ClauseAdapter
from sqlalchemy.sql.visitors import iterate
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types import Info

from bookit_graphql import metrics, sql
from bookit_graphql.context import Context
from bookit_graphql.db import WRITTEN, Answer, CheckFailed
from bookit_graphql.errors import BadUserInput, NotFound
from bookit_graphql.pagination import (
    Connection,
    Listing,
    cursor_sql,
    decode_cursor,
    keyset_page,
    page_size,
)
from bookit_graphql.permissions import Role
from bookit_graphql.scalars import JSON_FORMATS, SQL_FORMATS, UNESCAPED_FORMATS

log = logging.getLogger(__name__)

DIALECT = psycopg_dialect.dialect()  # type: ignore[no-untyped-call]
# SQL and its constant parameters per (field node, variables, listing): see Compiler._cached
_COMPILED: dict[tuple[Any, ...], tuple[FieldNode, str | None, dict[str, Any]]] = {}
# Reads that could not be compiled, by the field that stopped them: a missed
# compilation is visible (and tests/test_sql.py fails on a field without SQL).
FALLBACKS: collections.Counter[str] = collections.Counter()
_PARAM = re.compile(r"%\((\w+)\)s")
MARK = "/* compiled */"  # in every compiled statement


class Unknown(Exception):
    """The selection holds something the compiler does not know: resolve it as usual."""


@dataclass(frozen=True, slots=True)
class Completed:
    """A field's value, already in its response shape."""

    value: Any


class Executor(StrawberryGraphQLCoreExecutionContext):
    """graphql-core's executor, passing `Completed` values through as they are."""

    def complete_value(
        self,
        return_type: Any,
        field_details_list: Any,
        info: Any,
        path: Any,
        result: Any,
        position_context: Any,
    ) -> Any:
        if type(result) is Completed:
            return result.value
        return super().complete_value(
            return_type, field_details_list, info, path, result, position_context
        )


# -- what the root fields call --------------------------------------------------


async def connection(
    info: Info[Context, None], listing: Listing, *, first: int | None, after: str | None
) -> Any:
    """A page of the listing as the field's Connection: compiled if it can be, else resolved."""
    compiler = Compiler.of(info)
    if compiler is not None:
        try:
            return await compiler.connection(listing, first=first, after=after)
        except Unknown as unknown:
            await _fall_back(info, unknown)
    page = await keyset_page(info.context.session_factory, listing, first=first, after=after)
    return Connection.of(page)


async def one(info: Info[Context, None], listing: Listing, *, missing: str) -> Any:
    """The listing's one row as the field's type, compiled if it can be; NotFound(`missing`)."""
    compiler = Compiler.of(info)
    if compiler is not None:
        try:
            return await compiler.one(listing, missing=missing)
        except Unknown as unknown:
            await _fall_back(info, unknown)
    async with info.context.session_factory() as session:
        row = (await session.execute(listing.query, listing.params)).scalars().first()
    if row is None:
        raise NotFound(missing)
    return row


async def written(info: Info[Context, None], listing: Listing, row: Any, *, missing: str) -> Any:
    """A mutation's answer about the row it has just written, read after its write
    committed: the row itself when the selection reads only its own columns; else the
    listing's row compiled, one statement for every related row the selection reaches
    (the loaders would send one each), or the row for the resolvers when it cannot be
    compiled. For a write whose answer reaches rows it changed besides its own
    (createReview: its service's statistics), which `answer` would read as they were."""
    compiler = Compiler.of(info)
    if compiler is None:
        return row
    try:
        type_ = compiler.root_type()
        selected = compiler.fields(type_.name, compiler.nodes).values()
        beyond = [
            nodes[0].name.value
            for nodes in selected
            if isinstance(
                sql.declared(type_.fields.get(nodes[0].name.value)), sql.RelatedOf | sql.ChildrenOf
            )
        ]
        if not beyond:
            return row
        return await compiler.one(listing, missing=missing)
    except Unknown as unknown:
        fell_back(info.field_name, unknown)
        return row


def answer(info: Info[Context, None]) -> Answer | None:
    """A mutation's answer about the row it writes, as SQL for the write's own statement
    to select (db.Answer, over the row named db.WRITTEN): no statement of its own.
    None when it cannot be compiled (the row then goes to the resolvers) or compiled
    reads are off.

    The answer's subqueries (the booking's service, user and review) read the
    statement's snapshot, taken as it starts, while the written row is the one the
    function returns. That suits a write that changes no row its answer reaches
    but the one it returns: createBooking and updateBooking (a booking that can
    change has no review, and no trigger follows its write). A review's write
    changes its service's statistics (a trigger): createReview could not use this.
    Against a concurrent writer, the related rows are as they were a moment before
    the write, rather than after it.
    """
    compiler = Compiler.of(info)
    if compiler is None:
        return None
    try:
        text, constants = compiler.answer_sql()
    except Unknown as unknown:
        fell_back(info.field_name, unknown)
        return None
    return Answer(text, {**constants, **compiler.viewer})


def answered(info: Info[Context, None], answer: Answer) -> Any:
    """The answer's JSON text (the write selected it) as the field's value."""
    assert answer.text is not None  # a write that answers has written (or found) its row
    if info.context.fragments:
        return Completed(orjson.Fragment(answer.text))
    return Completed(orjson.loads(answer.text))


# answer()'s SQL and constants per (field node, the variables its selection reads)
_ANSWERS: dict[tuple[Any, ...], tuple[FieldNode, str | None, dict[str, Any]]] = {}
# the variables that each field node's selection reads (fragments included)
_READS: dict[int, tuple[FieldNode, tuple[str, ...]]] = {}


async def _fall_back(info: Info[Context, None], unknown: Unknown) -> None:
    """fell_back, once a presumed caller's check (Context.check) has passed: a request
    that is refused (or answered again) counts no fallback."""
    context = info.context
    if context.check is not None and not await context.reads.settle(context.check):
        raise CheckFailed()
    fell_back(info.field_name, unknown)


def fell_back(root: str, unknown: Unknown) -> None:
    """Note that a read of the root field `root` is resolved, and the field that made it so."""
    field = str(unknown)
    FALLBACKS[field] += 1
    metrics.COMPILED_FALLBACKS.labels(root).inc()  # by root field: `field` may hold input
    log.debug("read of %s resolved, not compiled: %s", root, field)


class Compiler:
    """Turns one request's selection below a field into SQL that builds its JSON."""

    def __init__(self, info: Info[Context, None]) -> None:
        raw = info._raw_info  # graphql-core's info: the fragments, the parsed schema
        self.schema = raw.schema
        self.fragments = raw.fragments
        self.variables: dict[str, Any] = info.variable_values
        self.nodes: list[FieldNode] = raw.field_nodes
        self.operation = raw.operation.operation
        self.subscription = self.operation == OperationType.SUBSCRIPTION
        self.context = info.context
        viewer = info.context.user
        self.viewer: dict[str, Any] = {  # the statement's parameters about the caller
            "viewer__": viewer.id if viewer else None,
            "admin__": viewer is not None and viewer.role == Role.ADMIN,
        }
        self.constants: dict[str, Any] = {}  # parameters that the SQL text itself fixes
        self.aliases = 0
        self._statements: dict[int, tuple[str, dict[str, Any], Any]] = {}

    @classmethod
    def of(cls, info: Info[Context, None]) -> Compiler | None:
        """A compiler for this field, unless compiled reads are switched off."""
        return cls(info) if info.context.settings.compiled_reads else None

    # -- the reads -------------------------------------------------------------

    def answer_sql(self) -> tuple[str, dict[str, Any]]:
        """The JSON of the field's selection over the row db.WRITTEN, and its constants.

        Cached as `_cached` caches, but by the variables that the selection reads
        only: a mutation's input, different on every call, changes nothing below it.
        """
        node = self.nodes[0]
        reads = _READS.get(id(node))
        if reads is None or reads[0] is not node:
            if len(_READS) >= 1000:
                _READS.clear()
            reads = _READS[id(node)] = (node, tuple(sorted(self.variables_read(node))))
        key = (id(node), repr([(name, self.variables.get(name)) for name in reads[1]]))
        found = _ANSWERS.get(key)
        if found is None or found[0] is not node:
            self.constants = {}
            try:
                json = self._object(self.root_type(), WRITTEN, self.nodes)
                text: str | None = f"{MARK} {json}"
            except Unknown as unknown:
                text, self.constants = None, {"unknown": str(unknown)}
            if len(_ANSWERS) >= 1000:
                _ANSWERS.clear()
            found = _ANSWERS[key] = (node, text, self.constants)
        if found[1] is None:
            raise Unknown(found[2]["unknown"])
        return found[1], found[2]

    def variables_read(self, node: FieldNode) -> set[str]:
        """The variables named anywhere in the selection below `node`: in its fields'
        arguments and directives, and in the fragments it spreads."""
        found: set[str] = set()
        seen: set[str] = set()

        def values(value: ValueNode) -> None:
            if isinstance(value, VariableNode):
                found.add(value.name.value)
            elif isinstance(value, ListValueNode):
                for item in value.values:
                    values(item)
            elif isinstance(value, ObjectValueNode):
                for field in value.fields:
                    values(field.value)

        def visit(selections: Sequence[SelectionNode]) -> None:
            for selection in selections:
                for directive in selection.directives or ():
                    for argument in directive.arguments or ():
                        values(argument.value)
                if isinstance(selection, FieldNode):
                    for argument in selection.arguments or ():
                        values(argument.value)
                if isinstance(selection, FragmentSpreadNode):
                    name = selection.name.value
                    fragment = self.fragments.get(name)
                    if name not in seen and fragment is not None:
                        seen.add(name)
                        visit(fragment.selection_set.selections)
                elif selection.selection_set is not None:  # type: ignore[attr-defined]
                    visit(selection.selection_set.selections)  # type: ignore[attr-defined]

        if node.selection_set is not None:
            visit(node.selection_set.selections)
        return found

    async def connection(self, listing: Listing, *, first: int | None, after: str | None) -> Any:
        """A page of the listing as a Connection: see pagination.keyset_page."""
        limit = page_size(first)
        params = _plain(listing.params)
        if after is not None:
            values = decode_cursor(after, listing.key_types)
            params.update({f"after{i}__": value for i, value in enumerate(values)})

        def compile() -> str:
            total = f"(SELECT count(*) FROM ({self.query_sql(listing.query)}) counted__)"
            page = self._listing_page(listing, limit, after)
            return self._connection(
                self.root_type(), self.nodes, page=page, limit=limit, total=total
            )

        sql_text, constants = self._cached(compile, id(listing.query), limit, after is None)
        found = await self._read(sql_text, {**constants, **params, **self.viewer})
        return self._completed(found)

    async def one(self, listing: Listing, *, missing: str) -> Any:
        """The one row of the listing, as the field's object type; NotFound(`missing`) if none."""
        sql_text, params = self._one(listing)
        return await self._fetch(sql_text, params, missing=missing)

    async def shared(self, listing: Listing, *, shared: dict[Any, Any], missing: str) -> Any:
        """`one`, built once per `shared` (a dict that lives with a subscription's event)
        for every subscriber with the same selection and audience: 1,000 subscribers
        with one document cost one statement per event, not 1,000 executions."""
        sql_text, constants, key = self._one_sql(listing)
        task = shared.get(key)
        if task is None:
            params = {**constants, **_plain(listing.params), **self.viewer}
            task = shared[key] = asyncio.ensure_future(
                self._fetch(sql_text, params, missing=missing)
            )
        return await _share(task)

    async def shared_payload(
        self, listing: Listing, *, shared: dict[Any, Any], missing: str
    ) -> str:
        """`shared` as a streamed result's payload, `{"data": {<the field's key>: ...}}`,
        in JSON text encoded once for every subscriber with the same selection and
        audience: what each of them sends is that text in its own frame."""
        return cast(str, await _share(self.share_payload(listing, shared=shared, missing=missing)))

    def share_payload(
        self, listing: Listing, *, shared: dict[Any, Any], missing: str
    ) -> asyncio.Future[str]:
        """The task that builds shared_payload's text: started by the first to ask."""
        key = ("payload", self._one_sql(listing)[2])
        task = shared.get(key)
        if task is None:
            task = shared[key] = asyncio.ensure_future(
                self._encode(self.shared(listing, shared=shared, missing=missing))
            )
        return cast("asyncio.Future[str]", task)

    async def _encode(self, value: Awaitable[Completed]) -> str:
        node = self.nodes[0]
        found = await value
        return orjson.dumps({"data": {(node.alias or node.name).value: found.value}}).decode()

    def _one(self, listing: Listing) -> tuple[str, dict[str, Any]]:
        sql_text, constants, _ = self._one_sql(listing)
        return sql_text, {**constants, **_plain(listing.params), **self.viewer}

    def _one_sql(self, listing: Listing) -> tuple[str, dict[str, Any], Any]:
        """The SQL of `one`, its constants, and what names its answer among subscribers
        (shared): remembered by this compiler, which a subscription keeps for its events."""
        found = self._statements.get(id(listing.query))
        if found is not None:
            return found

        def compile() -> str:
            t = self._alias()
            json = self._object(self.root_type(), t, self.nodes)
            return f"{json} FROM ({self.query_sql(listing.query)}) {t}"

        sql_text, constants = self._cached(compile, id(listing.query))
        # Who sees the same answer to a statement that reads the viewer: every admin
        # alike (OwnerOrAdmin, the one rule that reads it, shows an admin all), else
        # each user their own.
        audience = True if self.viewer["admin__"] else self.viewer["viewer__"]
        key = (sql_text, audience) if "%(viewer__)s" in sql_text else sql_text
        found = self._statements[id(listing.query)] = (sql_text, constants, key)
        return found

    async def _fetch(self, sql_text: str, params: dict[str, Any], *, missing: str) -> Completed:
        found = await self._read(sql_text, params)
        if found is None:
            raise NotFound(missing)
        return self._completed(found)

    def _completed(self, found: str) -> Completed:
        """The JSON text as the field's value: passed through as it is over HTTP
        (orjson writes a Fragment unchanged), else decoded."""
        if self.context.fragments:
            return Completed(orjson.Fragment(found))
        return Completed(orjson.loads(found))

    def _cached(self, compile: Callable[[], str], *shape: Any) -> tuple[str, dict[str, Any]]:
        """compile() and its constants, or what they were for the same node, variables, shape.

        The parser cache hands out one document object per query text, so a
        node's identity names its selection; the node is kept with the SQL so
        that its id cannot be reused while cached. A selection the compiler
        does not know is remembered as such, with the field that stopped it.
        """
        node = self.nodes[0]
        key = (id(node), repr(sorted(self.variables.items())), shape)
        found = _COMPILED.get(key)
        if found is None or found[0] is not node:
            self.constants = {}
            try:
                text: str | None = compile()
            except Unknown as unknown:
                text, self.constants = None, {"unknown": str(unknown)}
            if len(_COMPILED) >= 1000:
                _COMPILED.clear()
            found = _COMPILED[key] = (node, text, self.constants)
        if found[1] is None:
            raise Unknown(found[2]["unknown"])
        return found[1], found[2]

    def root_type(self) -> GraphQLObjectType:
        """The object type of the field being compiled (a query's, a mutation's or a
        subscription's)."""
        root = {
            OperationType.QUERY: self.schema.query_type,
            OperationType.MUTATION: self.schema.mutation_type,
            OperationType.SUBSCRIPTION: self.schema.subscription_type,
        }[self.operation]
        assert root is not None
        return self.type_of(root.fields[self.nodes[0].name.value])

    async def _read(self, sql_text: str, params: dict[str, Any]) -> Any:
        """Runs `SELECT <sql>`: the JSON, as text (MARK tells a compiled read in a log).
        The statement also checks a presumed caller's session (Context.check), if no
        read has yet: an authenticated request is one round trip."""
        context = self.context
        return await context.reads.value(f"SELECT {MARK} {sql_text}", params, context.check)

    # -- SQL of SQLAlchemy ------------------------------------------------------

    def query_sql(self, query: Any) -> str:
        """A SQLAlchemy statement as SQL text; its constant parameters kept, renamed apart."""
        compiled = query.compile(dialect=DIALECT)
        # the named parameters without a value are the listing's, given per request
        given = {name for name, bind in compiled.binds.items() if bind.required}
        constants = {
            name: value
            for name, value in compiled.construct_params(dict.fromkeys(given)).items()
            if name not in given
        }
        prefix = self._alias()

        def rename(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in constants:
                return match.group(0)  # a listing's parameter, given per request
            self.constants[f"{prefix}{name}"] = _plain_value(constants[name])
            return f"%({prefix}{name})s"

        return _PARAM.sub(rename, str(compiled))

    def expression_sql(self, expression: Any, alias: str) -> str:
        """A column or SQL expression of one table, on the row `alias` of that table."""
        clause = _clause(expression)
        if isinstance(clause, Column):
            return f"{alias}.{clause.name}"
        tables = {c.table for c in iterate(clause) if isinstance(c, Column)}
        for table in tables:
            clause = ClauseAdapter(table.alias(alias)).traverse(clause)
        return _literal_sql(clause)

    def _listing_page(self, listing: Listing, limit: int, after: str | None) -> str:
        """The listing's rows after the cursor, `limit` and one more, numbered n__ from 1
        (pagination.keyset_page in SQL), each with its cursor as c__."""
        keys = list(listing.keys)
        query = listing.query
        if after is not None:
            start = [bindparam(f"after{i}__", type_=key.type) for i, key in enumerate(keys)]
            position = tuple_(*keys)
            query = query.where(
                position < tuple_(*start) if listing.descending else position > tuple_(*start)
            )
        order = [key.desc() if listing.descending else key.asc() for key in keys]
        texts = [
            (_literal_sql(_clause(key)), kind)
            for key, kind in zip(keys, listing.key_types, strict=True)
        ]
        query = (
            query.add_columns(
                literal_column(cursor_sql(texts)).label("c__"),
                func.row_number().over(order_by=order).label("n__"),
            )
            .order_by(*order)
            .limit(limit + 1)
        )
        return self.query_sql(query)

    # -- the selection ---------------------------------------------------------

    def type_of(self, field: GraphQLField) -> GraphQLObjectType:
        named = get_named_type(field.type)
        if not isinstance(named, GraphQLObjectType):
            raise Unknown(named.name)
        return named

    def fields(self, type_name: str, nodes: Sequence[FieldNode]) -> dict[str, list[FieldNode]]:
        """The selection below `nodes` on `type_name`: response key -> its field nodes."""
        found: dict[str, list[FieldNode]] = {}

        def visit(selections: Sequence[SelectionNode]) -> None:
            for selection in selections:
                if not self.included(selection):
                    continue
                if isinstance(selection, FieldNode):
                    key = (selection.alias or selection.name).value
                    found.setdefault(key, []).append(selection)
                elif isinstance(selection, InlineFragmentNode):
                    condition = selection.type_condition
                    if condition is None or self.applies(condition.name.value, type_name):
                        visit(selection.selection_set.selections)
                elif isinstance(selection, FragmentSpreadNode):
                    fragment = self.fragments[selection.name.value]
                    if self.applies(fragment.type_condition.name.value, type_name):
                        visit(fragment.selection_set.selections)
                else:
                    raise Unknown(type(selection).__name__)

        for node in nodes:
            if node.selection_set is not None:
                visit(node.selection_set.selections)
        return found

    def applies(self, condition: str, type_name: str) -> bool:
        """Whether a fragment on `condition` applies to the object type `type_name`.

        Only object types are compared; a condition on an interface or a union
        (the schema has none today) is left to graphql-core.
        """
        if condition == type_name:
            return True
        if not isinstance(self.schema.get_type(condition), GraphQLObjectType):
            raise Unknown(condition)
        return False

    def included(self, node: SelectionNode) -> bool:
        for directive in node.directives or ():
            name = directive.name.value
            arguments = directive.arguments or ()
            if name not in ("skip", "include") or len(arguments) != 1:
                raise Unknown(f"@{name}")
            condition = self.value(arguments[0].value)
            if condition is (name == "skip"):
                return False
        return True

    def value(self, node: ValueNode) -> Any:
        if isinstance(node, VariableNode):
            return self.variables.get(node.name.value)
        if isinstance(node, IntValueNode):
            return int(node.value)
        if isinstance(node, StringValueNode | BooleanValueNode):
            return node.value
        if isinstance(node, NullValueNode):
            return None
        raise Unknown(type(node).__name__)

    def argument(self, nodes: Sequence[FieldNode], name: str) -> Any:
        for argument in nodes[0].arguments or ():
            if argument.name.value == name:
                return self.value(argument.value)
        return None

    # -- JSON ------------------------------------------------------------------

    def _alias(self) -> str:
        self.aliases += 1
        return f"t{self.aliases}__"

    def _param(self, value: Any) -> str:
        name = f"p{len(self.constants)}__"
        self.constants[name] = _plain_value(value)
        return f"%({name})s"

    def _build(self, pairs: list[tuple[str, str]]) -> str:
        """The JSON text of an object, as orjson writes it: `{"key":value,...}`, keys in
        selection order (json_build_object would write `{"key" : value, ...}`).

        Each value is SQL of its JSON text, never NULL; a key is a GraphQL name,
        which JSON writes as it is.
        """
        if not pairs:
            return "'{}'"
        parts = []
        for i, (key, value) in enumerate(pairs):
            parts += [_literal(("{" if i == 0 else ",") + f'"{key}":'), value]
        return f"({' || '.join(parts)} || '}}')"

    def _object(self, type_: GraphQLObjectType, t: str, nodes: Sequence[FieldNode]) -> str:
        pairs = []
        for key, field_nodes in self.fields(type_.name, nodes).items():
            name = field_nodes[0].name.value
            if name == "__typename":
                pairs.append((key, _typename(type_)))
                continue
            field = type_.fields.get(name)
            declaration = sql.declared(field) if field is not None else None
            if field is None or declaration is None:
                raise Unknown(f"{type_.name}.{name}")
            pairs.append((key, self._field(type_, field, declaration, t, field_nodes)))
        return self._build(pairs)

    def _field(
        self,
        type_: GraphQLObjectType,
        field: GraphQLField,
        declaration: sql.Declared,
        t: str,
        nodes: Sequence[FieldNode],
    ) -> str:
        if isinstance(declaration, sql.ColumnOf):
            expression = self.expression_sql(declaration.expression, t)
            return self._scalar(field, expression, _python_type(declaration.expression))
        if isinstance(declaration, sql.CursorOf):
            column = sql.table_column(declaration.column)
            return _quoted(cursor_sql([(f"{t}.{column.name}", column.type.python_type)]))
        if isinstance(declaration, sql.SnapshotOf):
            r = self._alias()
            json = self._object(self.type_of(field), r, nodes)
            column = sql.table_column(declaration.column)
            row = f"json_populate_record(NULL::{declaration.table}, {t}.{column.name}::json)"
            return f"coalesce((SELECT {json} FROM {row} {r}), 'null')"
        if isinstance(declaration, sql.JsonListOf):
            e = self._alias()
            json = self._object(self.type_of(field), e, nodes)
            column = sql.table_column(declaration.column)
            items = f"jsonb_array_elements({t}.{column.name}) WITH ORDINALITY {e}(v, n)"
            return f"(SELECT {_array(json, f'{e}.n')} FROM {items})"
        if isinstance(declaration, sql.KeyOf):
            # a scalar in its output form already: jsonb writes it as json does
            return f"coalesce(({t}.v -> {_literal(declaration.key)})::text, 'null')"
        if isinstance(declaration, sql.RelatedOf):
            r = self._alias()
            json = self._object(self.type_of(field), r, nodes)
            target, source = declaration.target, declaration.source
            where = f"{r}.{target.name} = {t}.{source.name}"
            found = f"(SELECT {json} FROM {target.table.name} {r} WHERE {where})"
            if declaration.visible is not None:
                found = f"CASE WHEN {declaration.visible.sql(t)} THEN {found} END"
            return f"coalesce({found}, 'null')"
        if isinstance(declaration, sql.ChildrenOf):
            return self._children(field, declaration, t, nodes)
        raise Unknown(f"{type_.name}: {type(declaration).__name__}")

    def _scalar(self, field: GraphQLField, expression: str, kind: type | None) -> str:
        """The JSON text of a scalar or enum field's value, of an SQL expression whose
        values are of the Python type `kind` (None: unknown)."""
        named = get_named_type(field.type)
        if isinstance(named, GraphQLEnumType):
            return _quoted(expression)  # the column holds the enum's name: no escapes
        if not isinstance(named, GraphQLScalarType):
            raise Unknown(named.name)
        name = named.name
        written = JSON_FORMATS.get(name)
        if written is not None:
            return f"coalesce({written(expression)}, 'null')"
        format = SQL_FORMATS.get(name)
        text = format(expression) if format is not None else expression
        if name in UNESCAPED_FORMATS or (name == "ID" and kind in (uuid.UUID, int)):
            return _quoted(text)
        if (name, kind) in (("Int", int), ("Boolean", bool)):
            return _number(text)
        return _text(text)

    def _children(
        self, field: GraphQLField, of: sql.ChildrenOf, t: str, nodes: Sequence[FieldNode]
    ) -> str:
        """A page of child rows, as the declaration's loader (sql.PagesByColumn) reads it."""
        try:
            limit = page_size(self.argument(nodes, "first"))
            after = self.argument(nodes, "after")
            keys = of.keys
            start = decode_cursor(after, [k.type.python_type for k in keys]) if after else None
        except BadUserInput as error:  # the resolver reports it, with its path
            raise Unknown(f"{nodes[0].name.value}: {error}") from error
        table = of.target.table.name
        conditions = [f"{table}.{of.target.name} = {t}.{of.source.name}"]
        names = [f"{table}.{key.name}" for key in keys]
        if start is not None:
            compare = "<" if of.descending else ">"
            values = ", ".join(self._param(value) for value in start)
            conditions.append(f"({', '.join(names)}) {compare} ({values})")
        direction = " DESC" if of.descending else ""
        order = ", ".join(name + direction for name in names)
        cursor = cursor_sql(
            [(name, key.type.python_type) for name, key in zip(names, keys, strict=True)]
        )
        page = (
            f"SELECT {table}.*, {cursor} AS c__, row_number() OVER (ORDER BY {order}) AS n__ "
            f"FROM {table} WHERE {' AND '.join(conditions)} ORDER BY {order} LIMIT {limit + 1}"
        )
        total = f"{t}.{sql.table_column(of.total).name}"
        return self._connection(self.type_of(field), nodes, page=page, limit=limit, total=total)

    def _connection(
        self,
        connection: GraphQLObjectType,
        nodes: Sequence[FieldNode],
        *,
        page: str,
        limit: int,
        total: str,
    ) -> str:
        """A subquery of a Connection's JSON, aggregated over its page (SQL with n__ and c__).

        `GROUP BY ()` makes it one row whatever the page holds, even when the
        selection has no aggregate (only totalCount, only __typename, or nothing
        left after @skip), which would otherwise be one row per row of the page,
        or none for an empty page.
        """
        p = self._alias()
        kept = f"FILTER (WHERE {p}.n__ <= {limit})"
        cursor = f"{p}.c__"
        pairs = []
        for key, field_nodes in self.fields(connection.name, nodes).items():
            name = field_nodes[0].name.value
            if name == "__typename":
                found = _typename(connection)
            elif name == "totalCount":
                found = _number(total)
            elif name == "pageInfo":
                info = []
                info_type = self.type_of(connection.fields[name])
                for info_key, info_nodes in self.fields(info_type.name, field_nodes).items():
                    info_name = info_nodes[0].name.value
                    if info_name == "hasNextPage":
                        info.append((info_key, _number(f"count(*) > {limit}")))
                    elif info_name == "endCursor":
                        last = f"(array_agg({cursor} ORDER BY {p}.n__ DESC) {kept})[1]"
                        info.append((info_key, _quoted(last)))
                    elif info_name == "__typename":
                        info.append((info_key, _typename(info_type)))
                    else:
                        raise Unknown(f"{info_type.name}.{info_name}")
                found = self._build(info)
            elif name == "edges":
                edge_type = self.type_of(connection.fields[name])
                node_type = self.type_of(edge_type.fields["node"])
                edge = []
                for edge_key, edge_nodes in self.fields(edge_type.name, field_nodes).items():
                    edge_name = edge_nodes[0].name.value
                    if edge_name == "cursor":
                        edge.append((edge_key, _quoted(cursor)))
                    elif edge_name == "node":
                        edge.append((edge_key, self._object(node_type, p, edge_nodes)))
                    elif edge_name == "__typename":
                        edge.append((edge_key, _typename(edge_type)))
                    else:
                        raise Unknown(f"{edge_type.name}.{edge_name}")
                found = _array(self._build(edge), f"{p}.n__", kept)
            else:
                raise Unknown(f"{connection.name}.{name}")
            pairs.append((key, found))
        json = self._build(pairs)
        return f"(SELECT {json} FROM ({page}) {p} GROUP BY ())"


async def _share(task: asyncio.Future[Any]) -> Any:
    """The result of a task that several subscribers wait for: one of them cancelled
    does not cancel it for the others (shield), and one that comes when it is done
    takes its result without a future of its own."""
    if task.done():
        return task.result()
    return await asyncio.shield(task)


def _clause(expression: Any) -> Any:
    """The Core clause of a mapped attribute (or the expression itself), unannotated."""
    if hasattr(expression, "__clause_element__"):
        expression = expression.__clause_element__()
    return expression._deannotate() if hasattr(expression, "_deannotate") else expression


def _literal_sql(clause: Any) -> str:
    return str(clause.compile(dialect=DIALECT, compile_kwargs={"literal_binds": True}))


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _text(expression: str) -> str:
    """The JSON text of an SQL value, as orjson writes it (PostgreSQL escapes strings alike)."""
    return f"coalesce(to_json({expression})::text, 'null')"


def _quoted(expression: str) -> str:
    """The JSON string of SQL text that holds nothing JSON escapes (an enum's name, a
    uuid, a cursor's base64url, a date): to_json's text, without its scan of each
    character."""
    return f"""coalesce('"' || ({expression})::text || '"', 'null')"""


def _number(expression: str) -> str:
    """The JSON text of an SQL integer or boolean: its own text (`12`, `true`), as
    to_json writes it."""
    return f"coalesce(({expression})::text, 'null')"


def _python_type(expression: Any) -> type | None:
    """The Python type of a column's or SQL expression's values, if SQLAlchemy knows it."""
    try:
        found: type = _clause(expression).type.python_type
    except NotImplementedError:
        return None
    return found


def _typename(type_: GraphQLObjectType) -> str:
    return _literal(f'"{type_.name}"')


def _array(item: str, order: str, kept: str = "") -> str:
    """The JSON text of an array of `item`s (JSON texts) in `order`, aggregated: `[a,b]`
    (json_agg would write `[a, b]`)."""
    return f"coalesce('[' || string_agg({item}, ',' ORDER BY {order}) {kept} || ']', '[]')"


def _plain_value(value: Any) -> Any:
    """A parameter as psycopg takes it: an enum by its name (as SQLAlchemy's Enum stores it)."""
    return value.name if isinstance(value, enum.Enum) else value


def _plain(params: dict[str, Any]) -> dict[str, Any]:
    return {name: _plain_value(value) for name, value in params.items()}
