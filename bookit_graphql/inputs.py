"""Input values before execution: no NUL in any String, and the input field an error is about.

A NUL character cannot be stored in PostgreSQL text, and nothing a client
means to say contains one; so it is refused in every String input, literal or
variable, passwords included (which are only ever hashed, and would otherwise
be the one place that accepts it), before any resolver runs. Other types keep
their own rules: an ID with a NUL is just an id that names nothing.

`extensions.field` of a BAD_USER_INPUT that arises before execution names the
argument or input field that the bad value fills: for `$input.price`,
`price`; for a variable used as `input: {startsAt: $when}`, `startsAt`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    ArgumentNode,
    DocumentNode,
    GraphQLError,
    GraphQLInputType,
    GraphQLSchema,
    Node,
    ObjectFieldNode,
    StringValueNode,
    TypeInfo,
    TypeInfoVisitor,
    VariableNode,
    Visitor,
    get_named_type,
    get_nullable_type,
    is_input_object_type,
    is_list_type,
    visit,
)
from graphql.utilities import get_operation_ast, type_from_ast
from strawberry.extensions import SchemaExtension

from bookit_graphql.errors import BadUserInput

NUL = "\x00"
NUL_MESSAGE = "Text cannot contain NUL characters."
_NAME = r"[_A-Za-z][_0-9A-Za-z]*"
# graphql-core's message for a variable that fails coercion, with the path in its value
_VARIABLE = re.compile(rf"^Variable '\$(?P<name>{_NAME})'(?: has invalid value at (?P<path>\S+):)?")
_PATH_NAME = re.compile(rf"\.({_NAME})")
# ...and for a missing or unknown field of an input object, that field
_NAMED_FIELD = re.compile(rf"to include (?:required|unknown) field '({_NAME})'")


@dataclass
class _Names(Visitor):
    """What each value node and variable of a document fills: an argument or input field."""

    type_info: TypeInfo | None = None
    of_value: dict[int, str] = field(default_factory=dict)  # id(value node) -> name
    of_variable: dict[str, str] = field(default_factory=dict)  # its first use
    nul: tuple[str, Node] | None = None  # the first String literal holding a NUL
    _names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()

    def enter_argument(self, node: ArgumentNode, *_: Any) -> None:
        self._enter(node)

    def enter_object_field(self, node: ObjectFieldNode, *_: Any) -> None:
        self._enter(node)

    def leave_argument(self, node: ArgumentNode, *_: Any) -> None:
        self._names.pop()

    def leave_object_field(self, node: ObjectFieldNode, *_: Any) -> None:
        self._names.pop()

    def _enter(self, node: ArgumentNode | ObjectFieldNode) -> None:
        self._names.append(node.name.value)
        self.of_value[id(node.value)] = node.name.value

    def enter_variable(self, node: VariableNode, *_: Any) -> None:
        if self._names:  # not the `$x` of a variable definition
            self.of_variable.setdefault(node.name.value, self._names[-1])

    def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
        if self.nul is None and NUL in node.value and self.type_info is not None:
            type_ = self.type_info.get_input_type()
            if type_ is not None and get_named_type(type_).name == "String":
                self.nul = (self._names[-1] if self._names else "", node)


def names(document: DocumentNode, schema: GraphQLSchema | None = None) -> _Names:
    """Walk `document` once (with its types if `schema` is given, to find NUL literals)."""
    if schema is None:
        found = _Names()
        visit(document, found)
        return found
    type_info = TypeInfo(schema)
    found = _Names(type_info=type_info)
    visit(document, TypeInfoVisitor(type_info, found))
    return found


def field_of(error: GraphQLError, document: DocumentNode | None) -> str | None:
    """The argument or input field that a pre-execution error's bad value was meant for."""
    match = _VARIABLE.match(error.message)
    if match is not None:
        named = _NAMED_FIELD.search(error.message)
        if named is not None:
            return named[1]
        in_value = _PATH_NAME.findall(match["path"] or "")
        if in_value:
            return str(in_value[-1])
        if document is None:
            return None
        return names(document).of_variable.get(match["name"], match["name"])
    if document is not None and error.nodes:
        return names(document).of_value.get(id(error.nodes[0]))
    return None


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, dict):
        return any(_has_nul(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


def _nul_in(value: Any, type_: GraphQLInputType, name: str) -> str | None:
    """The input field of the first String in `value` (of `type_`) that holds a NUL."""
    nullable = get_nullable_type(type_)
    if is_list_type(nullable):
        items = value if isinstance(value, list) else [value]
        return next(
            (found for item in items if (found := _nul_in(item, nullable.of_type, name))), None
        )
    if is_input_object_type(nullable):
        if not isinstance(value, dict):
            return None
        fields = nullable.fields
        return next(
            (
                found
                for key, item in value.items()
                if key in fields and (found := _nul_in(item, fields[key].type, key))
            ),
            None,
        )
    if isinstance(value, str) and NUL in value and get_named_type(nullable).name == "String":
        return name
    return None


def _variable_nuls(
    schema: GraphQLSchema, document: DocumentNode, operation: str | None, variables: dict[str, Any]
) -> Iterator[tuple[str, Node]]:
    chosen = get_operation_ast(document, operation)
    if chosen is None:  # no such operation: execution says so
        return
    used = names(document).of_variable
    for definition in chosen.variable_definitions or ():
        name = definition.variable.name.value
        type_ = type_from_ast(schema, definition.type)
        if name in variables and type_ is not None:
            found = _nul_in(variables[name], type_, used.get(name, name))  # type: ignore[arg-type]
            if found is not None:
                yield found, definition


def find_nul(
    schema: GraphQLSchema,
    document: DocumentNode,
    query: str | None,
    operation: str | None,
    variables: dict[str, Any] | None,
) -> GraphQLError | None:
    """A BAD_USER_INPUT for the first String input holding a NUL, or None."""
    where: tuple[str, Node] | None = None
    # a literal can hold a NUL only as an escape (\u0000, \u{0}); most documents have none
    if query is None or "\\u" in query:
        where = names(document, schema).nul
    if where is None and variables and _has_nul(variables):
        where = next(_variable_nuls(schema, document, operation, variables), None)
    if where is None:
        return None
    name, node = where
    refused = BadUserInput(NUL_MESSAGE, field=name or None)
    return GraphQLError(NUL_MESSAGE, node, original_error=refused)


class TextInputs(SchemaExtension):
    """Refuses a NUL in any String input after validation (which QueryLimits runs) and
    before execution."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if not context.pre_execution_errors and context.graphql_document is not None:
            refused = find_nul(
                context.schema._schema,
                context.graphql_document,
                context.query,
                context.operation_name,
                context.variables,
            )
            if refused is not None:
                context.pre_execution_errors = [refused]
        yield
