"""Every field that a compiled read can reach declares its SQL (sql.py): no silent fallback.

A field added to a type without a declaration would make every read that
selects it resolve field by field instead of in one statement (15 to 55 ms of
server CPU per page instead of 2 to 3): this walk names it instead.
"""

from __future__ import annotations

from typing import Any

import pytest
import strawberry
from graphql import GraphQLObjectType, GraphQLSchema, get_named_type

from bookit_graphql import sql
from bookit_graphql.catalog import models
from bookit_graphql.pagination import Connection, Edge, PageInfo
from bookit_graphql.schema import build_schema

# The root fields whose reads compile.
ROOTS = {
    "Query": ("services", "service", "bookings", "booking", "reviews", "me", "users"),
    "Subscription": ("bookingChanged",),
}
# Fields resolved in Python by design, each with why.
RESOLVER_ONLY = {
    "Service.availableSlots": "free slots are computed by a batched SQL function per window",
}
# The connection types' own fields are the compiler's (pagination.py's generic types).
PLUMBING = (Connection, Edge, PageInfo)


def missing_sql(schema: GraphQLSchema, roots: dict[str, tuple[str, ...]]) -> list[str]:
    """`Type.field` of each field reachable from the roots that declares no SQL."""
    missing: list[str] = []
    seen: set[str] = set()

    def walk(type_: GraphQLObjectType) -> None:
        if type_.name in seen:
            return
        seen.add(type_.name)
        plumbing = _origin(type_) in PLUMBING
        for name, field in type_.fields.items():
            where = f"{type_.name}.{name}"
            if where in RESOLVER_ONLY:
                continue
            declaration = sql.declared(field)
            if not plumbing and declaration is None:
                missing.append(where)
            if isinstance(declaration, sql.ColumnOf):
                # the resolvers read the row's attribute of the field's own name
                python_name = field.extensions["strawberry-definition"].python_name
                assert declaration.expression.key == python_name, where
            named = get_named_type(field.type)
            if isinstance(named, GraphQLObjectType):
                walk(named)

    for root_name, fields in roots.items():
        root = schema.get_type(root_name)
        assert isinstance(root, GraphQLObjectType), root_name
        for name in fields:
            named = get_named_type(root.fields[name].type)
            assert isinstance(named, GraphQLObjectType), name
            walk(named)
    return missing


def _origin(type_: GraphQLObjectType) -> Any:
    definition = type_.extensions.get("strawberry-definition")
    origin = getattr(definition, "origin", None)
    concrete = getattr(definition, "concrete_of", None)
    return concrete.origin if concrete is not None else origin


def test_every_field_that_a_compiled_read_reaches_declares_its_sql() -> None:
    # given the served schema
    schema = build_schema()._schema

    # when every type reachable from the compiled roots is walked
    missing = missing_sql(schema, ROOTS)

    # then each field declares its SQL, or is on the named resolver-only list
    assert missing == [], f"fields without SQL (add sql.column/related/...): {missing}"


@strawberry.type
class Thing:
    title: str = sql.column(models.Service.title)
    plain: str


@strawberry.type
class ThingQuery:
    @strawberry.field
    def thing(self) -> Thing:
        raise NotImplementedError


def test_a_field_without_sql_is_named() -> None:
    # given a type with one declared field and one plain one
    schema = strawberry.Schema(ThingQuery)._schema

    # when it is walked, then the plain field is named
    assert missing_sql(schema, {"ThingQuery": ("thing",)}) == ["Thing.plain"]


@pytest.mark.parametrize("where", sorted(RESOLVER_ONLY))
def test_the_resolver_only_fields_exist(where: str) -> None:
    # a stale entry would hide a field of the same name added later
    type_name, field_name = where.split(".")
    type_ = build_schema()._schema.get_type(type_name)
    assert isinstance(type_, GraphQLObjectType)
    assert field_name in type_.fields
