"""The client contract: tests/contract mirrors ../shared/contract, and its built sections validate.

tests/contract is a copy of the shared contract folder, file by file, so that a
plain clone can run the suite; `schema.graphql` must accept every operation of
every `*.graphql` file in it except the sections that are not built yet.
"""

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
CONTRACT = ROOT / "tests" / "contract"
SHARED = ROOT.parent / "shared" / "contract"
SCHEMA = build_schema((ROOT / "schema.graphql").read_text())

# Contract files whose section the server does not offer yet, and where that
# work is tracked. The change that builds a section takes its file off this list
# (test_not_built_files_do_not_validate_yet fails until it does).
NOT_BUILT: dict[str, str] = {}  # every section is built
BUILT = sorted(p.name for p in CONTRACT.glob("*.graphql") if p.name not in NOT_BUILT)

DOCUMENT = parse((CONTRACT / "operations.graphql").read_text())


def fragments_of(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


def operations_of(document: DocumentNode) -> dict[str, OperationDefinitionNode]:
    return {
        d.name.value: d
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode) and d.name is not None
    }


FRAGMENTS = fragments_of(DOCUMENT)
OPERATIONS = operations_of(DOCUMENT)


def spreads(node: Node) -> set[str]:
    found: set[str] = set()

    class Collect(Visitor):
        def enter_fragment_spread(self, spread: FragmentSpreadNode, *_: object) -> None:
            found.add(spread.name.value)

    visit(node, Collect())
    return found


def with_fragments(
    operation: OperationDefinitionNode,
    fragments: dict[str, FragmentDefinitionNode] = FRAGMENTS,
) -> DocumentNode:
    """The operation and every fragment it reaches, directly or through others."""
    used, todo = set(), spreads(operation)
    while todo:
        name = todo.pop()
        if name not in used:
            used.add(name)
            todo |= spreads(fragments[name])
    return DocumentNode(definitions=(operation, *(fragments[name] for name in sorted(used))))


def built_operations() -> list[tuple[str, str]]:
    """(file, operation name) of every operation of the built contract files."""
    found = []
    for file in BUILT:
        document = parse((CONTRACT / file).read_text())
        found += [(file, name) for name in sorted(operations_of(document))]
    return found


def test_the_contract_folder_mirrors_the_shared_one() -> None:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent (a plain clone): tests/contract is the contract")
    # then the same files, byte for byte
    shared = sorted(p.name for p in SHARED.iterdir() if p.is_file())
    copied = sorted(p.name for p in CONTRACT.iterdir() if p.is_file())
    assert copied == shared, f"tests/contract should hold exactly the files of {SHARED}"
    differ = [
        name for name in shared if (SHARED / name).read_bytes() != (CONTRACT / name).read_bytes()
    ]
    assert differ == [], f"copy these from {SHARED} into tests/contract: {differ}"


def test_operations_graphql_is_built() -> None:
    assert "operations.graphql" in BUILT
    assert OPERATIONS, "operations.graphql holds no named operation"


@pytest.mark.parametrize(("file", "name"), built_operations())
def test_operation_validates_against_schema_file(file: str, name: str) -> None:
    # given the operation of a built contract file, with the fragments it uses
    document = parse((CONTRACT / file).read_text())
    operation = with_fragments(operations_of(document)[name], fragments_of(document))
    # then schema.graphql accepts it
    assert validate(SCHEMA, operation) == []


def test_not_built_files_do_not_validate_yet() -> None:
    # given each contract file listed as not built (none today), then it exists...
    for file in sorted(NOT_BUILT):
        path = CONTRACT / file
        assert path.is_file(), f"NOT_BUILT names {file}, which tests/contract does not hold"
        # ...and the schema does not accept it yet (else: take it off NOT_BUILT)
        errors = validate(SCHEMA, parse(path.read_text()))
        assert errors, f"{file} validates: its section is built, take it off NOT_BUILT"
    # and every other file has operations, each validated by the test above
    assert all(operations_of(parse((CONTRACT / file).read_text())) for file in BUILT)
