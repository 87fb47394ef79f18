"""db._positional converts a statement's parameters as psycopg itself does."""

from __future__ import annotations

import pytest
from psycopg import _queries

from bookit_graphql.db import _positional

STATEMENTS = [
    "SELECT 1",
    "SELECT %(a)s, %(b)s, %(a)s",
    "SELECT '100%%' || %(x)s WHERE y LIKE '%%' || %(name_2)s || '%%'",
    "SELECT " + " || ".join(f"%(p{i}__)s" for i in range(60)) + " -- " + "x" * 5000,
]


@pytest.mark.parametrize("statement", STATEMENTS)
def test_positional_is_psycopgs_conversion(statement: str) -> None:
    # given a statement with named parameters (one longer than psycopg caches)
    # when it is converted, then it is what psycopg sends, the names in its order
    query, names = _positional(statement)
    expected, _, order, _ = _queries._query2pg_nocache(statement.encode(), "utf-8")
    assert query.encode() == expected
    assert list(names) == (order or [])
