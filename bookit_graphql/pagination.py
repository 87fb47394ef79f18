"""Relay connections over keyset pagination: opaque cursors, `first` <= 100."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Generic, TypeVar

import strawberry
from sqlalchemy import ColumnElement, Select, bindparam, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from bookit_graphql.errors import BadUserInput

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100

T = TypeVar("T")
R = TypeVar("R")


def page_size(first: int | None) -> int:
    if first is None:
        return DEFAULT_PAGE_SIZE
    if not 0 <= first <= MAX_PAGE_SIZE:
        raise BadUserInput(f"`first` must be between 0 and {MAX_PAGE_SIZE}.", field="first")
    return first


def encode_cursor(values: Sequence[Any]) -> str:
    """Unpadded base64url of a JSON list, spelled as PostgreSQL's `json_build_array()::text`.

    The compiled reads make the same cursors in SQL (cursor_sql).
    """
    raw = json.dumps([_plain(value) for value in values], ensure_ascii=False)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def cursor_sql(keys: Sequence[tuple[str, type]]) -> str:
    """encode_cursor in SQL, of the keys (SQL expressions, and their Python types).

    The values are written as _plain writes them: datetimes as the DateTime
    scalar does (scalars.datetime_sql), UUIDs and decimals as text, integers as numbers.
    """
    from bookit_graphql.scalars import datetime_sql

    texts = [
        datetime_sql(sql) if kind is datetime else sql if kind in (str, int) else f"{sql}::text"
        for sql, kind in keys
    ]
    raw = f"convert_to(json_build_array({', '.join(texts)})::text, 'UTF8')"
    return f"rtrim(translate(encode({raw}, 'base64'), E'+/\\n', '-_'), '=')"


def decode_cursor(cursor: str, types: Sequence[type]) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(values, list) or len(values) != len(types):
            raise ValueError(cursor)
        return [_typed(value, kind) for value, kind in zip(values, types, strict=True)]
    except (ValueError, TypeError, binascii.Error, InvalidOperation) as error:
        raise BadUserInput("`after` is not a cursor of this list.", field="after") from error


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    return value


def _typed(value: Any, kind: type) -> Any:
    if value is None:
        return None
    if kind is datetime:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError(value)
        return parsed
    if kind in (uuid.UUID, Decimal):
        return kind(str(value))
    if not isinstance(value, kind):
        raise TypeError(value)
    return value


@dataclass(frozen=True)
class Listing:
    """A list as the resolvers and the compiled reads (compiled.py) both read it.

    `query` is a domain's SQLAlchemy query whose values are named bind
    parameters (`bindparam(name)`), given in `params`; a domain builds one query
    object per shape (which filters apply), so the compiler can cache its SQL
    text by the object. The rows are ordered by `keys`, the last one unique.
    """

    query: Select[Any]
    keys: Sequence[ColumnElement[Any] | QueryableAttribute[Any]]
    params: dict[str, Any] = field(default_factory=dict)
    descending: bool = False

    @property
    def key_types(self) -> list[type]:
        return [key.type.python_type for key in self.keys]


def filtered(
    query: Select[Any],
    tests: Mapping[str, Callable[[Any], ColumnElement[bool]]],
    names: Sequence[str],
) -> Select[Any]:
    """`query` with the test of each filter in `names`, whose value is the bind parameter
    of the filter's own name: a Listing gives the values per request."""
    for name in names:
        query = query.where(tests[name](bindparam(name)))
    return query


@dataclass
class Page(Generic[R]):
    """One page of rows, the cursor of each, and whether more follow."""

    rows: list[R]
    cursors: list[str]
    has_next_page: bool
    total_count: Callable[[], Awaitable[int]]


async def keyset_page(
    session_factory: Callable[[], AsyncSession],
    listing: Listing,
    *,
    first: int | None,
    after: str | None,
) -> Page[Any]:
    """Entities of the listing's query in its order, after the cursor `after`.

    Fetches one row more than asked to learn whether another page follows; the
    total is a deferred COUNT(*), run only if the client asks for totalCount.
    """
    limit = page_size(first)
    keys = listing.keys
    query = listing.query.add_columns(*keys)
    if after is not None:
        start = decode_cursor(after, listing.key_types)
        position = tuple_(*keys)
        descending = listing.descending
        query = query.where(position < tuple_(*start) if descending else position > tuple_(*start))
    order = [key.desc() if listing.descending else key.asc() for key in keys]
    async with session_factory() as session:
        found = await session.execute(query.order_by(*order).limit(limit + 1), listing.params)
        rows = list(found.all())
    has_next = len(rows) > limit
    rows = rows[:limit]
    cursors = [encode_cursor(row[-len(keys) :]) for row in rows]

    async def total() -> int:
        async with session_factory() as session:
            counted = select(func.count()).select_from(listing.query.order_by(None).subquery())
            return int((await session.execute(counted, listing.params)).scalar_one())

    return Page([row[0] for row in rows], cursors, has_next, total)


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field
    async def total_count(self) -> int:
        return await self.count()

    @classmethod
    def of(cls, page: Page[Any]) -> Connection[T]:
        """The page as a Connection of its rows (the node types resolve from rows)."""
        edges = [Edge(cursor=c, node=r) for r, c in zip(page.rows, page.cursors, strict=True)]
        return cls(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next_page,
                end_cursor=page.cursors[-1] if page.cursors else None,
            ),
            count=page.total_count,
        )
