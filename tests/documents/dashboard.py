"""The dashboard's documents as its script defines them, evaluated by Node.

`python -m tests.documents.dashboard` writes bookit_graphql's manifest of them
(static/admin/persisted-documents.json) after operations.js changes.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

from bookit_graphql import documents
from tests.node import node

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


def manifest_text() -> str:
    """The manifest of the dashboard's documents, as GraphQL Code Generator writes one."""
    manifest = {
        "sha256:" + hashlib.sha256(text.encode()).hexdigest(): text
        for text in dashboard_documents()
    }
    return json.dumps(manifest, indent=2) + "\n"


if __name__ == "__main__":
    MANIFEST.write_text(manifest_text())
    print(f"wrote {MANIFEST}")  # noqa: T201
