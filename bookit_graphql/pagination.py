"""Relay connections over keyset pagination: opaque cursors, `first` <= 100."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Generic, TypeVar

import strawberry
from sqlalchemy import ColumnElement, Select, func, select, tuple_
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

    The compiled reads (compiled.py) make the same cursors in SQL.
    """
    raw = json.dumps([_plain(value) for value in values], ensure_ascii=False)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


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
    """A list as SQL text, for the compiled reads (compiled.py).

    The rows of `table` for which every condition holds (SQL on the table's
    columns, with psycopg `%(name)s` parameters), ordered by `keys` (SQL, and
    the type of its value in a cursor), the last key unique.
    """

    table: str
    conditions: list[str]
    params: dict[str, Any]
    keys: list[tuple[str, type]]
    descending: bool = False

    @property
    def shape(self) -> tuple[object, ...]:
        """What its SQL text depends on: all but the parameters' values."""
        return self.table, tuple(self.conditions), tuple(self.keys), self.descending


@dataclass
class Page(Generic[R]):
    """One page of rows, the cursor of each, and whether more follow."""

    rows: list[R]
    cursors: list[str]
    has_next_page: bool
    total_count: Callable[[], Awaitable[int]]


async def keyset_page(
    session: AsyncSession,
    query: Select[Any],
    *,
    keys: Sequence[ColumnElement[Any] | QueryableAttribute[Any]],
    descending: bool = False,
    first: int | None,
    after: str | None,
    count: Callable[[], Awaitable[int]],
) -> Page[Any]:
    """Entities of `query` ordered by `keys` (unique together), after the cursor `after`.

    Fetches one row more than asked to learn whether another page follows.
    """
    limit = page_size(first)
    query = query.add_columns(*keys)
    if after is not None:
        start = decode_cursor(after, [key.type.python_type for key in keys])
        position = tuple_(*keys)
        query = query.where(position < tuple_(*start) if descending else position > tuple_(*start))
    order = [key.desc() if descending else key.asc() for key in keys]
    rows = list((await session.execute(query.order_by(*order).limit(limit + 1))).all())
    has_next = len(rows) > limit
    rows = rows[:limit]
    cursors = [encode_cursor(row[-len(keys) :]) for row in rows]
    return Page([row[0] for row in rows], cursors, has_next, count)


def counter(
    session_factory: Callable[[], AsyncSession], query: Select[Any]
) -> Callable[[], Awaitable[int]]:
    """A deferred COUNT(*) of `query`, run only if the client asks for totalCount."""

    async def total() -> int:
        async with session_factory() as session:
            counted = select(func.count()).select_from(query.order_by(None).subquery())
            return int((await session.execute(counted)).scalar_one())

    return total


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
    def of(cls, page: Page[Any], node: Callable[[Any], T]) -> Connection[T]:
        edges = [Edge(cursor=c, node=node(r)) for r, c in zip(page.rows, page.cursors, strict=True)]
        return cls(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next_page,
                end_cursor=page.cursors[-1] if page.cursors else None,
            ),
            count=page.total_count,
        )
