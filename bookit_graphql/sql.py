"""What each GraphQL field is in SQL, declared on the field itself.

A type names its fields' SQL where it defines them, in the metadata that
Strawberry keeps on a field (as strawberry_django's `only=`/`select_related=`
hints), and two readers use the one declaration:

- the resolvers: the types resolve from ORM rows, so a column field is the
  row's attribute, and a related row or a page of related rows is loaded by a
  generic loader made from the declaration (one statement per batch);
- the compiler (compiled.py), which writes the same fields as SQL that builds
  the response's JSON.

    declaration          a field that is                         resolved by
    column(expr)         a column or SQL expression of its row   the row's attribute
    related(fk)          the row a foreign key points at         RowsByColumn loader
    related(col, "t.c")  the row of table t whose c is col       RowsByColumn loader
    children("t.c", ...) a page of t's rows whose c is this row's PagesByColumn loader
    snapshot(col, table) a row of `table` kept as JSON in col    the JSON, read back
    json_list(col)       a list of objects kept as a JSON array  the JSON, as it is
    key("name")          a key of such an object                 the object's item
    cursor(col)          an opaque cursor of the column          encode_cursor

Other domains' tables are named by string ("reviews.service_id"), resolved
through the models' metadata when first used, so a type can point at a domain
that builds on it without importing it. A visibility rule (`OwnerOrAdmin`)
is one object that both the resolver and the compiled SQL apply.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar, Generic, Self, TypeVar, cast

import sqlalchemy
import strawberry
from sqlalchemy import Column as TableColumn
from sqlalchemy import Integer, Table, select, true, tuple_
from sqlalchemy import cast as cast_
from sqlalchemy import values as values_
from sqlalchemy.orm import Mapper, aliased
from strawberry.types import Info

from bookit_graphql.context import Loader
from bookit_graphql.db import Base
from bookit_graphql.pagination import Connection, Page, decode_cursor, encode_cursor, page_size
from bookit_graphql.permissions import Role

KEY = "bookit.sql"  # the key of a field's declaration in its Strawberry metadata

R = TypeVar("R")


class Object(Generic[R]):
    """A GraphQL type resolved from rows of R: `of(row)` is the row, typed as the type."""

    @classmethod
    def of(cls, row: R) -> Self:
        return cast(Self, row)


def table_column(spec: Any) -> TableColumn[Any]:
    """The table column of a mapped attribute or of a "table.column" string."""
    if isinstance(spec, str):
        table, name = spec.split(".")
        return Base.metadata.tables[table].c[name]
    return cast(TableColumn[Any], spec.property.columns[0])


@functools.cache
def mapper_of(table: Table) -> Mapper[Any]:
    for mapper in Base.registry.mappers:
        if mapper.local_table is table:
            return mapper
    raise LookupError(table.name)


@functools.cache
def attribute(col: TableColumn[Any]) -> str:
    """The Python name of a table column on its mapped class."""
    prop = mapper_of(col.table).get_property_by_column(col)
    return prop.key


# -- visibility ----------------------------------------------------------------


@dataclass(frozen=True)
class OwnerOrAdmin:
    """Visible to the user whose id is the row's `owner` column, and to admins; else null."""

    owner: str  # the column of the row that holds its user's id

    def allows(self, viewer: Any, row: Any) -> bool:
        return viewer is not None and (
            viewer.role == Role.ADMIN or getattr(row, self.owner) == viewer.id
        )

    def sql(self, alias: str) -> str:
        """The same test in SQL, on the row `alias`, with the viewer as parameters."""
        return f"(%(admin__)s OR {alias}.{self.owner} = %(viewer__)s)"


# -- declarations --------------------------------------------------------------


class Declared:
    """What a field is in SQL (the subclasses below)."""


@dataclass(frozen=True, eq=False)
class ColumnOf(Declared):
    expression: Any  # a mapped attribute, or an SQL expression of its class's table


@dataclass(frozen=True, eq=False)
class CursorOf(Declared):
    column: Any  # a mapped attribute


@dataclass(frozen=True, eq=False)
class SnapshotOf(Declared):
    column: Any  # a JSON column of the row
    table: str  # the table whose row it holds


@dataclass(frozen=True, eq=False)
class JsonListOf(Declared):
    column: Any  # a JSON column of the row: an array of objects whose fields are `key`s


@dataclass(frozen=True, eq=False)
class KeyOf(Declared):
    key: str  # the key of the JSON object that holds the field, already in its output form


@dataclass(eq=False)
class RelatedOf(Declared):
    """The one row of `target`'s table whose `target` equals this row's `source`."""

    source_spec: Any
    target_spec: Any = None  # default: the table column that `source` is a foreign key to
    visible: OwnerOrAdmin | None = None

    @functools.cached_property
    def source(self) -> TableColumn[Any]:
        return table_column(self.source_spec)

    @functools.cached_property
    def target(self) -> TableColumn[Any]:
        if self.target_spec is not None:
            return table_column(self.target_spec)
        (foreign_key,) = self.source.foreign_keys
        return foreign_key.column

    @property
    def loader(self) -> type[RowsByColumn]:
        return rows_by(self.target)


@dataclass(eq=False)
class ChildrenOf(Declared):
    """A page of the rows of `target`'s table whose `target` equals this row's `source`."""

    target_spec: str
    source_spec: Any
    order: tuple[str, ...]  # columns of the target's table, the last unique
    total: Any  # a column of this row that counts them (kept by a trigger)
    descending: bool = False

    @functools.cached_property
    def source(self) -> TableColumn[Any]:
        return table_column(self.source_spec)

    @functools.cached_property
    def target(self) -> TableColumn[Any]:
        return table_column(self.target_spec)

    @functools.cached_property
    def keys(self) -> list[TableColumn[Any]]:
        return [self.target.table.c[name] for name in self.order]

    @functools.cached_property
    def loader(self) -> type[PagesByColumn]:
        return cast(type[PagesByColumn], type("PagesByColumn", (PagesByColumn,), {"of": self}))


def declared(field: Any) -> Declared | None:
    """The declaration on a Strawberry field, or a graphql-core field built from one."""
    definition = getattr(field, "extensions", None) or {}
    strawberry_field = definition.get("strawberry-definition", field)
    metadata = getattr(strawberry_field, "metadata", None) or {}
    found = metadata.get(KEY)
    return found if isinstance(found, Declared) else None


# -- field factories (each returns a Strawberry field) --------------------------


def column(expression: Any, **field: Any) -> Any:
    """A field that is the row's column `expression` (its attribute of the same name)."""
    return strawberry.field(metadata={KEY: ColumnOf(expression)}, **field)


def cursor(key: Any, **field: Any) -> Any:
    """An opaque cursor of the row's `key` column (pagination.encode_cursor)."""
    name = key.key

    def resolve(root: Any) -> str:
        return encode_cursor([getattr(root, name)])

    return strawberry.field(resolver=resolve, metadata={KEY: CursorOf(key)}, **field)


def snapshot(json_column: Any, table: str, **field: Any) -> Any:
    """A row of `table` as the JSON column `json_column` keeps it (read back by `restore`)."""
    name = json_column.key

    def resolve(root: Any) -> Any:
        return restore(table, getattr(root, name))

    return strawberry.field(
        resolver=resolve, metadata={KEY: SnapshotOf(json_column, table)}, **field
    )


def json_list(json_column: Any, **field: Any) -> Any:
    """A list of objects that the JSON column `json_column` keeps as an array, each in its
    response shape: the object type's fields are `key`s, and the JSON holds their values
    as the GraphQL scalars and enums write them."""
    name = json_column.key

    def resolve(root: Any) -> Any:
        return getattr(root, name)

    return strawberry.field(resolver=resolve, metadata={KEY: JsonListOf(json_column)}, **field)


def key(name: str, **field: Any) -> Any:
    """A field of an object kept in JSON (see json_list): the value of its key `name`."""

    def resolve(root: Any) -> Any:
        return root.get(name)

    return strawberry.field(resolver=resolve, metadata={KEY: KeyOf(name)}, **field)


def related(
    source: Any, target: Any = None, *, visible: OwnerOrAdmin | None = None, **field: Any
) -> Any:
    """A field that is one related row (None if there is none, or `visible` hides it)."""
    declaration = RelatedOf(source, target, visible)

    async def resolve(root: Any, info: Info) -> Any:
        if visible is not None and not visible.allows(info.context.user, root):
            return None
        value = getattr(root, attribute(declaration.source))
        return await info.context.loader(declaration.loader).load(value)

    return strawberry.field(resolver=resolve, metadata={KEY: declaration}, **field)


def children(
    target: str,
    *,
    of: Any,
    order: Sequence[str],
    total: Any,
    descending: bool = False,
    **field: Any,
) -> Any:
    """A field that is a Connection of the rows of another table that refer to this row.

    `total` is a column of this row that counts them (kept by a trigger), so that
    totalCount costs no statement per row on either path.
    """
    declaration = ChildrenOf(target, of, tuple(order), total, descending)

    async def resolve(
        root: Any, info: Info, first: int | None = None, after: str | None = None
    ) -> Any:
        keys = declaration.keys
        key = PageKey(
            parent=getattr(root, attribute(declaration.source)),
            limit=page_size(first),
            after=tuple(decode_cursor(after, [k.type.python_type for k in keys]))
            if after is not None
            else None,
        )
        rows, has_next = await info.context.loader(declaration.loader).load(key)
        # each child's way back to this row finds it without a statement
        info.context.loader(rows_by(declaration.source)).prime(key.parent, root)
        names = [attribute(k) for k in keys]
        cursors = [encode_cursor([getattr(row, name) for name in names]) for row in rows]
        counted = getattr(root, attribute(table_column(total)))

        async def count() -> int:
            return int(counted)

        return Connection.of(Page(rows, cursors, has_next, count))

    return strawberry.field(resolver=resolve, metadata={KEY: declaration}, **field)


# -- reading a snapshot back -----------------------------------------------------


def dump(row: Any, *, exclude: Sequence[str] = ()) -> dict[str, Any]:
    """A row as JSON-ready values, one per column of its table (but `exclude`)."""
    mapper = mapper_of(row.__table__)
    found = {}
    for col in row.__table__.columns:
        if col.name in exclude:
            continue
        value = getattr(row, mapper.get_property_by_column(col).key)
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, uuid.UUID | Decimal):
            value = str(value)
        found[col.name] = value
    return found


def restore(table: str, values: Mapping[str, Any]) -> Any:
    """A transient row of `table` from what `dump` made of it, or from a statement's columns
    (missing columns stay None)."""
    cls, columns = _restorer(table)
    kwargs = {}
    for name, key, kind in columns:
        if name not in values:
            continue
        value = values[name]
        if value is not None and not isinstance(value, kind):
            value = datetime.fromisoformat(value) if kind is datetime else kind(value)
        kwargs[key] = value
    return cls(**kwargs)


@functools.cache
def _restorer(table: str) -> tuple[type[Any], list[tuple[str, str, type[Any]]]]:
    """The mapped class of `table`, and each column's name, attribute and Python type."""
    mapped = Base.metadata.tables[table]
    mapper = mapper_of(mapped)
    columns = []
    for col in mapped.columns:
        try:
            kind = col.type.python_type
        except NotImplementedError:
            kind = object
        if not (kind is datetime or kind in (uuid.UUID, Decimal) or issubclass(kind, str)):
            kind = object  # kept as it comes (numbers, booleans, JSON)
        columns.append((col.name, mapper.get_property_by_column(col).key, kind))
    return mapper.class_, columns


async def read_related(session_factory: Any, type_: Any, row: Any) -> list[tuple[Any, Any, Any]]:
    """The rows that the `related` fields of the GraphQL type `type_` find for `row`,
    each with the loader and key to prime it under (a subscription reads them once
    per event for all its subscribers)."""
    found = []
    async with session_factory() as session:
        for field in type_.__strawberry_definition__.fields:
            declaration = field.metadata.get(KEY)
            if not isinstance(declaration, RelatedOf):
                continue
            key = getattr(row, attribute(declaration.source))
            model = mapper_of(declaration.target.table).class_
            target = await session.scalar(select(model).where(declaration.target == key))
            found.append((declaration.loader, key, target))
    return found


# -- generic loaders ------------------------------------------------------------


@functools.cache
def rows_by(key: TableColumn[Any]) -> type[RowsByColumn]:
    """The loader of rows by the (unique) column `key`: one class per column, so that every
    field that finds rows by it shares a request's batches and loaded rows."""
    return cast(type[RowsByColumn], type("RowsByColumn", (RowsByColumn,), {"key": key}))


class RowsByColumn(Loader[Any, Any]):
    """The row whose `key` column equals each key (None when there is none)."""

    key: ClassVar[TableColumn[Any]]

    async def batch_load_fn(self, keys: Sequence[Any]) -> list[Any]:
        model = mapper_of(self.key.table).class_
        name = attribute(self.key)
        async with self.session_factory() as session:
            rows = await session.scalars(select(model).where(self.key.in_(keys)))
            found = {getattr(row, name): row for row in rows}
        return [found.get(key) for key in keys]


@dataclass(frozen=True)
class PageKey:
    parent: Any
    limit: int
    after: tuple[Any, ...] | None = None  # a decoded cursor: the last row's keys


class PagesByColumn(Loader[PageKey, tuple[list[Any], bool]]):
    """A page of rows per (parent, limit, cursor): one statement for the whole batch.

    Each key is a row of a VALUES list, joined LATERAL to its own index scan that
    stops after `limit + 1` rows. A window function over the parents' rows would
    read every row of every parent: measured on 50 services of 2,000 reviews
    each, 90 ms against 7 ms for the same 1,050 rows.
    """

    of: ClassVar[ChildrenOf]

    async def batch_load_fn(self, keys: Sequence[PageKey]) -> list[tuple[list[Any], bool]]:
        of = self.of
        model = mapper_of(of.target.table).class_
        order = of.keys
        wanted = values_(
            sqlalchemy.column("position", Integer),
            sqlalchemy.column("parent", of.target.type),
            sqlalchemy.column("size", Integer),
            sqlalchemy.column("started", Integer),
            *(sqlalchemy.column(f"after{i}", key.type) for i, key in enumerate(order)),
            name="wanted",
        ).data(
            [
                (
                    position,
                    key.parent,
                    key.limit + 1,
                    int(key.after is not None),
                    *(key.after or (None,) * len(order)),
                )
                for position, key in enumerate(keys)
            ]
        )
        position = tuple_(*order)
        # cast: a VALUES column of NULLs alone would be text
        start = tuple_(*(cast_(wanted.c[f"after{i}"], key.type) for i, key in enumerate(order)))
        page = (
            select(model)
            .where(
                of.target == wanted.c.parent,
                (wanted.c.started == 0) | (position < start if of.descending else position > start),
            )
            .order_by(*(key.desc() if of.descending else key.asc() for key in order))
            .limit(wanted.c.size)
            .lateral("page")
        )
        row = aliased(model, page)
        query = (
            select(wanted.c.position, row)
            .select_from(wanted)
            .join(page, true())
            .order_by(
                wanted.c.position,
                *(page.c[k.name].desc() if of.descending else page.c[k.name] for k in order),
            )
        )
        found: list[list[Any]] = [[] for _ in keys]
        async with self.session_factory() as session:
            for index, item in await session.execute(query):
                found[index].append(item)
        return [
            (rows[: key.limit], len(rows) > key.limit)
            for key, rows in zip(keys, found, strict=True)
        ]
