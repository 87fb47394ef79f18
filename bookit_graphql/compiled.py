"""Reads answered by one SQL statement that builds their JSON.

Resolved field by field, a page of 50 bookings costs Python an ORM object per
row and some 800 field completions (docs/benchmarks.md). For the hot reads
(`services`, `bookings`, `service`) the resolver first asks `Compiler.of(info)`:
when every field the request selects below it is one this module knows, the
field's whole value is built by PostgreSQL in one statement (response keys in
selection order, values as the scalars write them, related rows as correlated
subqueries) and returned as `Completed`, which `Executor` passes through
instead of completing it field by field.

Whatever it does not know (a field missing from the tables below, such as
`availableSlots`; an argument that is not a literal or a variable; a directive
other than @skip/@include; an invalid nested argument, whose error the
resolvers word) raises `Unknown`, and the request is resolved the ordinary way,
by the resolvers and loaders. The filters and visibility rules are checked
once by the domains (`services_filter`, `bookings_filter`), which render them
both for the resolvers (SQLAlchemy) and for this module (a `Listing` of SQL
text); tests/test_compiled.py holds both ways to the same answers for every
contract query, hand-written selections and generated ones.

The SQL text holds no client input: response keys are GraphQL names, and the
only values written into it are integers, UUIDs and datetimes that Python
parsed; everything else is a bound parameter. Its text is cached per field
node and variables, so a repeated request compiles nothing.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import orjson
from graphql import (
    BooleanValueNode,
    FieldNode,
    FragmentSpreadNode,
    GraphQLObjectType,
    InlineFragmentNode,
    IntValueNode,
    NullValueNode,
    OperationType,
    SelectionNode,
    StringValueNode,
    ValueNode,
    VariableNode,
    get_named_type,
)
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types import Info

from bookit_graphql.context import Context
from bookit_graphql.errors import BadUserInput, NotFound
from bookit_graphql.pagination import Listing, decode_cursor, page_size
from bookit_graphql.permissions import Role

T = TypeVar("T")


# SQL per (field node, variables, listing): see Compiler._cached
_COMPILED: dict[tuple[int, str, str], tuple[FieldNode, str | None]] = {}


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


def iso(column: str) -> str:
    """A timestamptz as `DateTime` writes it: Python's isoformat() in UTC."""
    utc = f"({column} AT TIME ZONE 'UTC')"
    return (
        f"(to_char({utc}, CASE WHEN date_trunc('second', {column}) = {column} "
        f"THEN 'YYYY-MM-DD\"T\"HH24:MI:SS' ELSE 'YYYY-MM-DD\"T\"HH24:MI:SS.US' END) "
        "|| '+00:00')"
    )


# Each type's fields that are a column of its row (`{t}` is the row's alias).
COLUMNS: dict[str, dict[str, str]] = {
    "Service": {
        "id": "{t}.id",
        "title": "{t}.title",
        "description": "{t}.description",
        "price": "{t}.price::text",
        "durationMinutes": "{t}.duration_minutes",
        "isActive": "{t}.is_active",
        # as models.Service.average_rating: half-up to 2 decimals
        "averageRating": "round({t}.rating_total::numeric / nullif({t}.review_count, 0), 2)",
        "reviewCount": "{t}.review_count",
        "createdAt": iso("{t}.created_at"),
        "updatedAt": iso("{t}.updated_at"),
    },
    "Booking": {
        "id": "{t}.id",
        "startsAt": iso("{t}.starts_at"),
        "endsAt": iso("{t}.ends_at"),
        "status": "{t}.status",
        "createdAt": iso("{t}.created_at"),
        "updatedAt": iso("{t}.updated_at"),
    },
    "User": {
        "id": "{t}.id",
        "email": "{t}.email",
        "fullName": "{t}.full_name",
        "role": "{t}.role",
        "isActive": "{t}.is_active",
        "createdAt": iso("{t}.created_at"),
        "updatedAt": iso("{t}.updated_at"),
    },
    "ReviewAuthor": {"id": "{t}.id", "fullName": "{t}.full_name"},
    # a subscription's event: its own fields are parameters (see Compiler.event)
    "BookingChange": {
        "cursor": "%(cursor__)s::text",
        "kind": "%(kind__)s::text",
        "occurredAt": "%(occurred_at__)s::text",
    },
    "Review": {
        "id": "{t}.id",
        "rating": "{t}.rating",
        "comment": "{t}.comment",
        "createdAt": iso("{t}.created_at"),
        "updatedAt": iso("{t}.updated_at"),
    },
}


@dataclass(frozen=True)
class Related:
    """A field that is one related row: `type` from `table` where `column` = this row's `of`."""

    type: str
    table: str
    column: str
    of: str
    owner_or_admin: bool = False  # visible only to the row's user and admins, else null


RELATED: dict[tuple[str, str], Related] = {
    ("Booking", "service"): Related("Service", "services", "id", "service_id"),
    ("Booking", "user"): Related("User", "users", "id", "user_id"),
    ("Booking", "review"): Related("Review", "reviews", "booking_id", "id"),
    ("Review", "author"): Related("ReviewAuthor", "users", "id", "user_id"),
    ("Review", "service"): Related("Service", "services", "id", "service_id"),
    # as reviews.types.Review.booking
    ("Review", "booking"): Related("Booking", "bookings", "id", "booking_id", owner_or_admin=True),
}


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def sql_value(value: datetime | uuid.UUID) -> str:
    """A parsed datetime or UUID written into SQL (never a client's raw text)."""
    if isinstance(value, datetime):
        return f"'{value.astimezone(UTC).isoformat()}'::timestamptz"
    return f"'{uuid.UUID(str(value))}'::uuid"


def cursor_sql(keys: Sequence[str], types: Sequence[type]) -> str:
    """SQL for pagination.encode_cursor of the keys (columns of the page)."""
    texts = [
        iso(key) if kind is datetime else key if kind is str else f"{key}::text"
        for key, kind in zip(keys, types, strict=True)
    ]
    raw = f"convert_to(json_build_array({', '.join(texts)})::text, 'UTF8')"
    return f"rtrim(translate(encode({raw}, 'base64'), E'+/\\n', '-_'), '=')"


class Compiler:
    """Turns one request's selection below a field into SQL that builds its JSON."""

    def __init__(self, info: Info[Context, None]) -> None:
        raw = info._raw_info  # graphql-core's info: the fragments, the parsed schema
        self.schema = raw.schema
        self.fragments = raw.fragments
        self.variables: dict[str, Any] = info.variable_values
        self.nodes: list[FieldNode] = raw.field_nodes
        self.subscription = raw.operation.operation == OperationType.SUBSCRIPTION
        self.context = info.context
        viewer = info.context.user
        self.params: dict[str, Any] = {  # the statement's parameters besides the listing's
            "viewer__": viewer.id if viewer else None,
            "admin__": viewer is not None and viewer.role == Role.ADMIN,
        }
        self.aliases = 0

    @classmethod
    def of(cls, info: Info[Context, None]) -> Compiler | None:
        """A compiler for this field, unless compiled reads are switched off."""
        return cls(info) if info.context.settings.compiled_reads else None

    # -- the three reads -------------------------------------------------------

    async def connection(
        self, listing: Listing, *, first: int | None, after: str | None, as_: type[T]
    ) -> T:
        """A page of the listing as a Connection: see pagination.keyset_page."""
        limit = page_size(first)
        params = {**listing.params, **self.params}
        if after is not None:
            values = decode_cursor(after, [kind for _, kind in listing.keys])
            params.update({f"after{i}__": value for i, value in enumerate(values)})

        def compile() -> str:
            start = [f"%(after{i}__)s" for i in range(len(listing.keys))] if after else None
            where = " AND ".join(listing.conditions) or "true"
            json = self._connection(
                self.root_type(),
                self.nodes,
                listing=listing,
                limit=limit,
                after=start,
                total=f"(SELECT count(*) FROM {listing.table} WHERE {where})",
            )
            return f"{json}::text"

        sql = self._cached(compile, listing.shape, limit, after is None)
        return cast(T, Completed(orjson.loads(await self._read(sql, params))))

    async def one(self, listing: Listing, *, missing: str, as_: type[T]) -> T:
        """The one row of the listing, as the field's object type; NotFound(`missing`) if none."""

        def compile() -> str:
            json = self._object(self.root_type().name, listing.table, self.nodes)
            where = " AND ".join(listing.conditions)
            return f"({json})::text FROM {listing.table} WHERE {where}"

        sql = self._cached(compile, listing.shape)
        found = await self._read(sql, {**listing.params, **self.params})
        if found is None:
            raise NotFound(missing)
        return cast(T, Completed(orjson.loads(found)))

    async def event(self, params: dict[str, Any], *, shared: dict[Any, Any], as_: type[T]) -> T:
        """A subscription's event, from `params` alone, as the field's object type.

        Built once per `shared` (a dict that lives with the event) for every
        subscriber with the same selection, and the same viewer when the
        selection depends on it: 1,000 admins subscribed with one document
        cost one statement per event, not 1,000 executions.
        """

        def compile() -> str:
            return f"({self._object(self.root_type().name, 'NULL', self.nodes)})::text"

        sql = self._cached(compile, "event")
        key = (sql, *self.params.values()) if "%(viewer__)s" in sql else sql
        task = shared.get(key)
        if task is None:
            task = shared[key] = asyncio.ensure_future(
                self._completed({**params, **self.params}, sql)
            )
        return cast(T, await asyncio.shield(task))

    async def _completed(self, params: dict[str, Any], sql: str) -> Completed:
        return Completed(orjson.loads(await self._read(sql, params)))

    def _cached(self, compile: Callable[[], str], *shape: Any) -> str:
        """compile(), or what it gave for the same field node, variables and `shape`.

        The parser cache hands out one document object per query text, so a
        node's identity names its selection; the node is kept with the SQL so
        that its id cannot be reused while cached. A selection the compiler
        does not know is remembered as such.
        """
        node = self.nodes[0]
        key = (id(node), repr(sorted(self.variables.items())), repr(shape))
        found = _COMPILED.get(key)
        if found is None or found[0] is not node:
            try:
                sql: str | None = compile()
            except Unknown:
                sql = None
            if len(_COMPILED) >= 1000:
                _COMPILED.clear()
            found = _COMPILED[key] = (node, sql)
        if found[1] is None:
            raise Unknown(node.name.value)
        return found[1]

    def root_type(self) -> GraphQLObjectType:
        """The object type of the field being compiled (a query's or a subscription's)."""
        root = self.schema.subscription_type if self.subscription else self.schema.query_type
        assert root is not None
        return self.type_of(root, self.nodes[0].name.value)

    async def _read(self, sql: str, params: dict[str, Any]) -> Any:
        """Runs `SELECT <sql>` (JSON first, as text: orjson parses it faster than psycopg)."""
        return await self.context.reads.value(f"SELECT {sql}", params)

    def _page(self, listing: Listing, *, limit: int, after: list[str] | None, cursors: bool) -> str:
        """The listing's rows after `after` (SQL values), `limit` and one more, numbered n__
        from 1 (pagination.keyset_page in SQL); if `cursors`, each row's cursor as c__."""
        table, keys = listing.table, [sql for sql, _ in listing.keys]
        conditions = list(listing.conditions)
        if after is not None:
            compare = "<" if listing.descending else ">"
            conditions.append(f"({', '.join(keys)}) {compare} ({', '.join(after)})")
        direction = " DESC" if listing.descending else ""
        order = ", ".join(key + direction for key in keys)
        cursor = cursor_sql(keys, [kind for _, kind in listing.keys]) if cursors else "NULL"
        return (
            f"(SELECT {table}.*, {cursor} AS c__, row_number() OVER (ORDER BY {order}) AS n__ "
            f"FROM {table} WHERE {' AND '.join(conditions) or 'true'} "
            f"ORDER BY {order} LIMIT {limit + 1})"
        )

    # -- the selection ---------------------------------------------------------

    def type_of(self, parent: GraphQLObjectType, field: str) -> GraphQLObjectType:
        named = get_named_type(parent.fields[field].type)
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
                raise Unknown(name)
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

    def _build(self, pairs: list[tuple[str, str]]) -> str:
        if len(pairs) > 50:  # json_build_object takes at most 100 arguments
            raise Unknown("too many fields")
        return f"json_build_object({', '.join(f'{literal(k)}, {v}' for k, v in pairs)})"

    def _object(self, type_name: str, t: str, nodes: Sequence[FieldNode]) -> str:
        columns = COLUMNS[type_name]
        pairs = []
        for key, field_nodes in self.fields(type_name, nodes).items():
            name = field_nodes[0].name.value
            if name == "__typename":
                sql = literal(type_name)
            elif name in columns:
                sql = columns[name].format(t=t)
            elif (type_name, name) in RELATED:
                sql = self._related(RELATED[type_name, name], t, field_nodes)
            elif (type_name, name) == ("Service", "reviews"):
                sql = self._reviews(t, field_nodes)
            elif (type_name, name) == ("BookingChange", "booking"):
                # the booking as the event's snapshot has it (a deleted one has no row)
                r = self._alias()
                json = self._object("Booking", r, field_nodes)
                row = "json_populate_record(NULL::bookings, %(booking__)s::json)"
                sql = f"(SELECT {json} FROM {row} {r})"
            else:
                raise Unknown(f"{type_name}.{name}")
            pairs.append((key, sql))
        return self._build(pairs)

    def _related(self, related: Related, t: str, nodes: Sequence[FieldNode]) -> str:
        r = self._alias()
        json = self._object(related.type, r, nodes)
        where = f"{r}.{related.column} = {t}.{related.of}"
        sql = f"(SELECT {json} FROM {related.table} {r} WHERE {where})"
        if related.owner_or_admin:
            sql = f"CASE WHEN %(admin__)s OR {t}.user_id = %(viewer__)s THEN {sql} END"
        return sql

    def _reviews(self, t: str, nodes: Sequence[FieldNode]) -> str:
        """Service.reviews(first, after), newest first: as reviews.queries.service_reviews."""
        try:
            limit = page_size(self.argument(nodes, "first"))
            after = self.argument(nodes, "after")
            start = decode_cursor(after, [datetime, uuid.UUID]) if after is not None else None
        except BadUserInput as error:  # the resolver reports it, with its path
            raise Unknown("reviews") from error
        keys: list[tuple[str, type]] = [("reviews.created_at", datetime), ("reviews.id", uuid.UUID)]
        reviews = Listing("reviews", [f"reviews.service_id = {t}.id"], {}, keys, descending=True)
        connection = self.schema.get_type("ReviewConnection")
        assert isinstance(connection, GraphQLObjectType)
        return self._connection(
            connection,
            nodes,
            listing=reviews,
            limit=limit,
            after=[sql_value(value) for value in start] if start else None,
            total=f"{t}.review_count",  # kept by a trigger
        )

    def _connection(
        self,
        connection: GraphQLObjectType,
        nodes: Sequence[FieldNode],
        *,
        listing: Listing,
        limit: int,
        after: list[str] | None,
        total: str,
    ) -> str:
        """A subquery of a Connection's JSON, aggregated over its page.

        `GROUP BY ()` makes it one row whatever the page holds, even when the
        selection has no aggregate (only totalCount, only __typename, or nothing
        left after @skip), which would otherwise be one row per row of the page,
        or none for an empty page.
        """
        page = self._alias()
        kept = f"FILTER (WHERE {page}.n__ <= {limit})"
        cursor = f"{page}.c__"
        pairs = []
        for key, field_nodes in self.fields(connection.name, nodes).items():
            name = field_nodes[0].name.value
            if name == "__typename":
                sql = literal(connection.name)
            elif name == "totalCount":
                sql = total
            elif name == "pageInfo":
                info = []
                for info_key, info_nodes in self.fields("PageInfo", field_nodes).items():
                    info_name = info_nodes[0].name.value
                    if info_name == "hasNextPage":
                        info.append((info_key, f"count(*) > {limit}"))
                    elif info_name == "endCursor":
                        last = f"(array_agg({cursor} ORDER BY {page}.n__ DESC) {kept})[1]"
                        info.append((info_key, last))
                    elif info_name == "__typename":
                        info.append((info_key, literal("PageInfo")))
                    else:
                        raise Unknown(f"PageInfo.{info_name}")
                sql = self._build(info)
            elif name == "edges":
                edge_type = self.type_of(connection, name)
                node_type = self.type_of(edge_type, "node")
                edge = []
                for edge_key, edge_nodes in self.fields(edge_type.name, field_nodes).items():
                    edge_name = edge_nodes[0].name.value
                    if edge_name == "cursor":
                        edge.append((edge_key, cursor))
                    elif edge_name == "node":
                        edge.append((edge_key, self._object(node_type.name, page, edge_nodes)))
                    elif edge_name == "__typename":
                        edge.append((edge_key, literal(edge_type.name)))
                    else:
                        raise Unknown(f"{edge_type.name}.{edge_name}")
                rows = f"json_agg({self._build(edge)} ORDER BY {page}.n__) {kept}"
                sql = f"coalesce({rows}, '[]')"
            else:
                raise Unknown(f"{connection.name}.{name}")
            pairs.append((key, sql))
        json = self._build(pairs)
        rows = self._page(listing, limit=limit, after=after, cursors=cursor in json)
        return f"(SELECT {json} FROM {rows} {page} GROUP BY ())"
