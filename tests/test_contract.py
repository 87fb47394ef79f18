"""Every operation of the client contract validates against schema.graphql."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    OperationDefinitionNode,
    build_schema,
    parse,
    validate,
)
from graphql.language import FragmentSpreadNode, Node, Visitor, visit

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "contract" / "operations.graphql"
SHARED = ROOT.parent / "shared" / "contract" / "operations.graphql"

DOCUMENT = parse(FIXTURE.read_text())
FRAGMENTS = {d.name.value: d for d in DOCUMENT.definitions if isinstance(d, FragmentDefinitionNode)}
OPERATIONS = {
    d.name.value: d
    for d in DOCUMENT.definitions
    if isinstance(d, OperationDefinitionNode) and d.name is not None
}


def spreads(node: Node) -> set[str]:
    found: set[str] = set()

    class Collect(Visitor):
        def enter_fragment_spread(self, spread: FragmentSpreadNode, *_: object) -> None:
            found.add(spread.name.value)

    visit(node, Collect())
    return found


def with_fragments(operation: OperationDefinitionNode) -> DocumentNode:
    """The operation and every fragment it reaches, directly or through others."""
    used, todo = set(), spreads(operation)
    while todo:
        name = todo.pop()
        if name not in used:
            used.add(name)
            todo |= spreads(FRAGMENTS[name])
    return DocumentNode(definitions=(operation, *(FRAGMENTS[name] for name in sorted(used))))


def test_the_fixture_is_the_shared_contract() -> None:
    if not SHARED.exists():  # a checkout without ../shared: the fixture is the contract
        return
    assert FIXTURE.read_text() == SHARED.read_text(), (
        "tests/contract/operations.graphql differs from ../shared/contract: copy it over"
    )


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_operation_validates_against_schema_file(name: str) -> None:
    schema = build_schema((ROOT / "schema.graphql").read_text())
    assert validate(schema, with_fragments(OPERATIONS[name])) == []
