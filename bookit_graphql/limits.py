"""Query limits: how much a document may ask for, checked before any of it runs.

The parser stops at `max_tokens` tokens (and as many comments) and at
`max_body_bytes` characters. Then, before graphql-core's validation (whose
overlapping-fields check is quadratic in repeated fields), `check` walks the
operations once, each fragment once, and refuses:

- depth: more than `max_depth` fields nested on one path (`{ me { id } }` is 2);
  introspection (`__schema`, `__type`) is left to graphql-core's
  MaxIntrospectionDepthRule, which is run here too;
- aliases: more than `max_aliases` aliased fields, counted per use of a fragment;
- directives: more than `max_directives` directives on one field, fragment or
  operation (a valid document has at most two there: `@include` and `@skip`);
- fields: more than `max_fields` fields selected at one level, fragments
  included (field duplication);
- cost: more than `max_cost`, an upper bound on the values in the response. A
  field costs 1; a list that takes `first` (default 20, at most 100) multiplies
  the cost of its selection by the page size that the operation asks for, with
  the request's variables (a size out of range lists nothing: its resolver
  refuses it); a field that declares `items(...)` in its metadata multiplies it
  by what that function of its arguments says (`availableSlots`: the number of
  slots that its window and step allow).

Each refusal is a QueryTooComplex, which errors.py turns into QUERY_TOO_COMPLEX.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

from graphql import (
    DocumentNode,
    ExecutableDefinitionNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInt,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    Node,
    OperationDefinitionNode,
    SelectionNode,
    SelectionSetNode,
    StringValueNode,
    VariableDefinitionNode,
    VariableNode,
    get_named_type,
    validate,
)
from graphql.validation import MaxIntrospectionDepthRule
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document
from strawberry.types.field import StrawberryField

from bookit_graphql.config import Settings
from bookit_graphql.errors import QueryTooComplex
from bookit_graphql.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

INTROSPECTION = {"__schema": "__Schema", "__type": "__Type"}  # the fields and their types
ITEMS = "bookit.items"  # the key of items() in a field's metadata

# How many times a field may return its selection, from its arguments: by their
# GraphQL names, an Int as an int (or None), anything else as the request gave it.
Items = Callable[[Mapping[str, object]], int]


def items(count: Items) -> dict[str, Items]:
    """Field metadata that declares a field's page size: `strawberry.field(metadata=items(f))`."""
    return {ITEMS: count}


@dataclass(frozen=True)
class Limits:
    max_depth: int
    max_aliases: int
    max_directives: int
    max_fields: int
    max_tokens: int
    max_cost: int
    max_source_length: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            max_depth=settings.max_depth,
            max_aliases=settings.max_aliases,
            max_directives=settings.max_directives,
            max_fields=settings.max_fields,
            max_tokens=settings.max_tokens,
            max_cost=settings.max_cost,
            # a character is at least one byte: the body limit bounds WebSocket documents too
            max_source_length=settings.max_body_bytes,
        )

    @property
    def parse_options(self) -> dict[str, int]:
        return {
            "max_lexical_tokens": self.max_tokens,
            "max_comments": self.max_tokens,
            "max_source_length": self.max_source_length,
        }


def too_complex(message: str, node: Node | None, *, limit: str) -> GraphQLError:
    return GraphQLError(message, node, original_error=QueryTooComplex(message, limit=limit))


def check(
    schema: GraphQLSchema,
    document: DocumentNode,
    variables: Mapping[str, Any] | None,
    limits: Limits,
) -> list[GraphQLError]:
    """The limit that `document` exceeds (with these variables), if any: at most one error."""
    return _checked(schema, document, variables, limits)[0]


def _checked(
    schema: GraphQLSchema,
    document: DocumentNode,
    variables: Mapping[str, Any] | None,
    limits: Limits,
) -> tuple[list[GraphQLError], set[str]]:
    """check()'s errors, and the variables whose values the walk read to find them."""
    walk = _Walk(schema, document, variables or {}, limits)
    try:
        walk.all()
    except _Exceeded as exceeded:
        return [too_complex(exceeded.message, exceeded.node, limit=exceeded.limit)], walk.read
    except RecursionError:  # a long chain of fragments
        return [too_complex("The document is nested too deeply.", None, limit="depth")], walk.read
    if walk.introspects and validate(schema, document, [MaxIntrospectionDepthRule]):
        message = "The introspection query is nested too deeply."
        return [too_complex(message, None, limit="introspection")], walk.read
    return [], walk.read


class _Exceeded(Exception):
    def __init__(self, limit: str, message: str, node: Node | None) -> None:
        super().__init__(message)
        self.limit, self.message, self.node = limit, message, node


class _Size(NamedTuple):
    """What a selection set asks for."""

    depth: int  # fields nested on its longest path
    aliases: int  # aliased fields, fragments counted at each use
    fields: int  # fields selected at its own level, through fragments
    cost: int  # an upper bound on the values it returns


_NOTHING = _Size(0, 0, 0, 0)
_LEAF = _Size(1, 0, 1, 1)
_ALIASED_LEAF = _Size(1, 1, 1, 1)


class _Walk:
    """Sizes each operation of a document, and each fragment once (a fragment bomb stays linear).

    Raises _Exceeded at the first limit it finds over.
    """

    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        variables: Mapping[str, Any],
        limits: Limits,
    ) -> None:
        self.schema = schema
        self.limits = limits
        self.operations = [
            d for d in document.definitions if isinstance(d, OperationDefinitionNode)
        ]
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.given = variables
        self.variables: Mapping[str, Any] = variables
        self.sized: dict[str, _Size] = {}
        # the sizes of fragments, per set of variable defaults (operations may differ in them)
        self.memos: dict[tuple[tuple[str, object], ...], dict[str, _Size]] = {}
        self.entered: set[str] = set()  # fragments being sized: a cycle counts nothing
        self.introspects = False
        self.read: set[str] = set()  # the variables whose values a decision took

    def all(self) -> None:
        for operation in self.operations:
            self.directives(operation)
            defaults: dict[str, object] = {}
            for variable in operation.variable_definitions or ():
                self.directives(variable)
                if variable.default_value is not None:
                    defaults[variable.variable.name.value] = _literal(variable.default_value)
            self.variables = {**defaults, **self.given}
            self.sized = self.memos.setdefault(tuple(sorted(defaults.items())), {})
            root = self.schema.get_root_type(operation.operation)
            self.operation(operation, self.selections(operation.selection_set, root))
        for name in self.fragments:  # unused ones too: validation reads them all
            self.fragment(name)

    def operation(self, node: OperationDefinitionNode, size: _Size) -> None:
        limits = self.limits
        name = f"'{node.name.value}'" if node.name else "The operation"
        if size.depth > limits.max_depth:
            message = f"{name} is {size.depth} fields deep; at most {limits.max_depth}."
            raise _Exceeded("depth", message, node)
        if size.aliases > limits.max_aliases:
            message = f"{name} uses {size.aliases} aliases; at most {limits.max_aliases}."
            raise _Exceeded("aliases", message, node)
        if size.cost > limits.max_cost:
            message = (
                f"{name} may cost {size.cost} (each field 1, lists multiplied by their page "
                f"size); at most {limits.max_cost}."
            )
            raise _Exceeded("cost", message, node)

    def directives(
        self, node: SelectionNode | ExecutableDefinitionNode | VariableDefinitionNode
    ) -> None:
        if node.directives and len(node.directives) > self.limits.max_directives:
            message = (
                f"{len(node.directives)} directives in one place; "
                f"at most {self.limits.max_directives}."
            )
            raise _Exceeded("directives", message, node)

    def selections(
        self, selection_set: SelectionSetNode | None, parent: GraphQLNamedType | None
    ) -> _Size:
        if selection_set is None:
            return _NOTHING
        depth = aliases = fields = cost = 0
        for selection in selection_set.selections:
            self.directives(selection)
            if isinstance(selection, FieldNode):
                size = self.field(selection, parent)
                fields += 1
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                within = self.schema.get_type(condition.name.value) if condition else parent
                size = self.selections(selection.selection_set, within)
                fields += size.fields
            elif isinstance(selection, FragmentSpreadNode):
                size = self.fragment(selection.name.value)
                fields += size.fields
            depth = max(depth, size.depth)
            aliases += size.aliases
            cost += size.cost
            if fields > self.limits.max_fields:
                message = (
                    f"{fields} fields selected at one level; at most {self.limits.max_fields}."
                )
                raise _Exceeded("fields", message, selection_set)
        return _Size(depth, aliases, fields, cost)

    def fragment(self, name: str) -> _Size:
        if name in self.sized:
            return self.sized[name]
        definition = self.fragments.get(name)
        if definition is None or name in self.entered:  # unknown or cyclic: validation says so
            return _NOTHING
        self.directives(definition)
        self.entered.add(name)
        within = self.schema.get_type(definition.type_condition.name.value)
        size = self.sized[name] = self.selections(definition.selection_set, within)
        self.entered.discard(name)
        return size

    def field(self, node: FieldNode, parent: GraphQLNamedType | None) -> _Size:
        if node.selection_set is None:
            return _ALIASED_LEAF if node.alias else _LEAF
        alias = 1 if node.alias else 0
        name = node.name.value
        if name in INTROSPECTION:  # its depth is MaxIntrospectionDepthRule's to judge
            self.introspects = True
            inner = self.selections(node.selection_set, self.schema.get_type(INTROSPECTION[name]))
            return _Size(1, alias + inner.aliases, 1, 1 + inner.cost)
        definition = (
            parent.fields.get(name)
            if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType)
            else None
        )
        if definition is None:  # validation refuses it
            inner = self.selections(node.selection_set, None)
            return _Size(1 + inner.depth, alias + inner.aliases, 1, 1 + inner.cost)
        inner = self.selections(node.selection_set, get_named_type(definition.type))
        items = self.items(node, definition)
        return _Size(1 + inner.depth, alias + inner.aliases, 1, 1 + items * inner.cost)

    def items(self, node: FieldNode, definition: GraphQLField) -> int:
        """How many times a field's selection may be returned."""
        declared = definition.extensions.get("strawberry-definition")
        count: Items | None = (
            declared.metadata.get(ITEMS) if isinstance(declared, StrawberryField) else None
        )
        arguments = {}
        for argument in node.arguments or ():
            name = argument.name.value
            known = definition.args.get(name)
            # unknown: validation refuses it; and only `first` counts without `items(...)`
            if known is not None and (count is not None or name == "first"):
                value = self.value(argument.value)
                is_int = get_named_type(known.type) is GraphQLInt
                arguments[name] = _integer(value) if is_int else value
        if count is not None:
            return count(arguments)
        if "first" not in definition.args:
            return 1
        first = arguments.get("first")
        if not isinstance(first, int):
            return DEFAULT_PAGE_SIZE
        # out of range, the field is BAD_USER_INPUT (as the contract says) and lists nothing
        return first if 0 <= first <= MAX_PAGE_SIZE else 0

    def value(self, node: object) -> object:
        if isinstance(node, VariableNode):
            self.read.add(node.name.value)
            return self.variables.get(node.name.value)
        return _literal(node)


def _integer(value: object) -> int | None:
    """`value` as GraphQL's Int takes it (a JSON 100.0 is 100), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value if isinstance(value, int) else None


def _literal(node: object) -> object:
    if isinstance(node, IntValueNode):
        return int(node.value)
    if isinstance(node, StringValueNode):
        return node.value
    return None


_kept: dict[tuple[int, int, Hashable], tuple[GraphQLSchema, DocumentNode, list[GraphQLError]]] = {}


def kept_for(
    schema: GraphQLSchema,
    document: DocumentNode,
    key: Hashable,
    compute: Callable[[], list[GraphQLError]],
) -> list[GraphQLError]:
    """compute()'s errors, kept per schema, document object and `key`.

    The parser cache hands out one document object per query text, so the
    object's identity is the key: hashing a document walks its whole tree
    (26 µs for the contract's Service query, on every request). The objects
    are kept with the errors, so that their ids cannot be reused meanwhile.
    """
    full = (id(schema), id(document), key)
    found = _kept.get(full)
    if found is None or found[0] is not schema or found[1] is not document:
        if len(_kept) >= 512:
            _kept.clear()
        found = _kept[full] = (schema, document, compute())
    return found[2]


# per document object (kept with it): the variables that its walks have read so far
_reads: dict[int, tuple[DocumentNode, tuple[str, ...]]] = {}


def check_kept(
    schema: GraphQLSchema,
    document: DocumentNode,
    variables: Mapping[str, Any] | None,
    limits: Limits,
) -> list[GraphQLError]:
    """check(), kept as kept_for keeps it, per document and the values of the variables that
    the walk reads (page sizes, a slot window) rather than of them all: a mutation's
    input, different on every call, changes no limit, and would make every call walk
    the document again.

    The walk is the same for the same values of the variables it read (it reads
    them in a fixed order), so a result is kept under the names of every variable
    any walk of the document has read so far, with their values as given (absent
    or null apart: a default stands only for an absent one).
    """
    given = variables or {}
    known = _reads.get(id(document))
    names = known[1] if known is not None and known[0] is document else ()

    def key(names: tuple[str, ...]) -> tuple[int, int, Hashable]:
        values = repr([(name, name in given, given.get(name)) for name in names])
        return (id(schema), id(document), ("limits", names, values))

    found = _kept.get(key(names))
    if found is not None and found[0] is schema and found[1] is document:
        return found[2]
    errors, read = _checked(schema, document, variables, limits)
    names = tuple(sorted(read.union(names)))
    if len(_reads) >= 512:
        _reads.clear()
    _reads[id(document)] = (document, names)
    if len(_kept) >= 512:
        _kept.clear()
    _kept[key(names)] = (schema, document, errors)
    return errors


class QueryLimits(SchemaExtension):
    """Parses within the token limits, checks the limits, then validates (cached).

    Replaces Strawberry's ValidationCache: the limits must come first, so that
    a hostile document never reaches the costly standard rules.
    """

    def __init__(self, limits: Limits) -> None:
        self.limits = limits

    def on_operation(self) -> Iterator[None]:
        cast(dict[str, Any], self.execution_context.parse_options).update(self.limits.parse_options)
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        assert context.graphql_document is not None
        schema = context.schema._schema
        document, variables, rules = (
            context.graphql_document,
            context.variables,
            context.validation_rules,
        )
        # the limits depend on the variables (a page size), validation on the rules
        # copies: a kept list is shared by every request, and errors get coded in place
        errors = list(check_kept(schema, document, variables, self.limits))
        if not errors:
            errors = list(
                kept_for(
                    schema,
                    document,
                    ("rules", tuple(rules)),
                    lambda: validate_document(schema, document, rules),
                )
            )
        context.pre_execution_errors = errors
        yield
