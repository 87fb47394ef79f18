"""Manifests as GraphQL Code Generator writes them: of the contract's operations, and
of the dashboard's documents as its script defines them (evaluated by Node).

`python -m tests.documents.support` writes bookit_graphql's manifest of the
dashboard's documents (static/admin/persisted-documents.json) after
operations.js changes.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

from graphql import (
    FragmentDefinitionNode,
    FragmentSpreadNode,
    Node,
    OperationDefinitionNode,
    parse,
    print_ast,
    visit,
)
from graphql.language import Visitor

from bookit_graphql import documents
from tests.node import node

CONTRACT = Path(__file__).parents[1] / "contract"

PACKAGE = Path(documents.__file__).parent
OPERATIONS = PACKAGE / "static" / "admin" / "operations.js"
MANIFEST = PACKAGE / documents.PACKAGE_MANIFEST

PRINT_EXPORTS = """
const operations = await import(process.argv[1]);
console.log(JSON.stringify(Object.values(operations).filter((v) => typeof v === "string")));
"""


def dashboard_documents() -> list[str]:
    """Every document that operations.js exports, exactly as the browser sees it."""
    printed = subprocess.run(
        [node(), "--input-type=module", "-e", PRINT_EXPORTS, OPERATIONS.as_uri()],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    texts: list[str] = json.loads(printed)
    return texts


def manifest_of(texts: list[str]) -> dict[str, str]:
    """`{"sha256:<hex>": "<document>"}`: the key is the SHA-256 of the value."""
    return {"sha256:" + hashlib.sha256(text.encode()).hexdigest(): text for text in texts}


def manifest_text() -> str:
    """The manifest of the dashboard's documents, as GraphQL Code Generator writes one."""
    return json.dumps(manifest_of(dashboard_documents()), indent=2) + "\n"


def contract_documents() -> dict[str, str]:
    """Each contract operation by name, printed with the fragments it uses (as codegen's
    client preset writes a document: the operation, then its fragments)."""
    definitions = [
        definition
        for path in sorted(CONTRACT.glob("*.graphql"))
        for definition in parse(path.read_text()).definitions
    ]
    fragments = {d.name.value: d for d in definitions if isinstance(d, FragmentDefinitionNode)}

    def used(node: Node, seen: dict[str, FragmentDefinitionNode]) -> None:
        class Spreads(Visitor):
            def enter_fragment_spread(self, spread: FragmentSpreadNode, *_: object) -> None:
                name = spread.name.value
                if name not in seen:
                    seen[name] = fragments[name]
                    used(fragments[name], seen)

        visit(node, Spreads())

    printed = {}
    for operation in definitions:
        if isinstance(operation, OperationDefinitionNode) and operation.name:
            seen: dict[str, FragmentDefinitionNode] = {}
            used(operation, seen)
            parts = [operation, *seen.values()]
            printed[operation.name.value] = "\n\n".join(print_ast(part) for part in parts)
    return printed


if __name__ == "__main__":
    MANIFEST.write_text(manifest_text())
    print(f"wrote {MANIFEST}")  # noqa: T201
