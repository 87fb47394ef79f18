"""`bookit documents add` with a manifest shaped as GraphQL Code Generator writes it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bookit_graphql import documents
from tests.conftest import SECRET
from tests.documents.support import contract_documents, manifest_of

BOOKIT = [sys.executable, "-m", "bookit_graphql"]


def bookit(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": SECRET}
    return subprocess.run(
        [*BOOKIT, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def write(folder: Path, manifest: dict[str, str]) -> str:
    path = folder / "persisted-documents.json"
    path.write_text(json.dumps(manifest, indent=2))
    return str(path)


async def stored(db: async_sessionmaker[AsyncSession]) -> dict[str, tuple[str | None, str, str]]:
    columns = (
        documents.TrustedDocument.id,
        documents.TrustedDocument.operation_name,
        documents.TrustedDocument.operation_type,
        documents.TrustedDocument.source,
    )
    async with db() as session:
        rows = await session.execute(select(*columns))
        return {id: (name, kind, source) for id, name, kind, source in rows}


async def test_a_manifest_of_the_contract_is_registered_once(
    database_url: str,
    tmp_path: Path,
    db: async_sessionmaker[AsyncSession],
    client: httpx.AsyncClient,
) -> None:
    # given the manifest that codegen writes for the contract's operations
    contract = contract_documents()
    manifest = manifest_of(list(contract.values()))
    path = write(tmp_path, manifest)

    # when it is added, and added again
    first = bookit(database_url, "documents", "add", path)
    again = bookit(database_url, "documents", "add", path)

    # then every document is registered once, with its operation's name and type
    assert first.returncode == 0, first.stderr
    assert f"{len(manifest)} documents in {path}: {len(manifest)} registered, 0 known" in (
        first.stdout
    )
    assert again.returncode == 0, again.stderr
    assert f": 0 registered, {len(manifest)} known" in again.stdout
    rows = await stored(db)
    assert set(rows) == set(manifest)
    login = documents.document_id(contract["Login"])
    assert rows[login] == ("Login", "mutation", "manifest")
    assert rows[documents.document_id(contract["BookingChanges"])][1] == "subscription"
    # and a client may send their ids
    services = documents.document_id(contract["Services"])
    answer = (await client.post("/graphql", json={"documentId": services})).json()
    assert answer["data"]["services"]["totalCount"] == 0
    # and `documents list` shows them
    listed = bookit(database_url, "documents", "list")
    assert listed.returncode == 0, listed.stderr
    assert len(listed.stdout.splitlines()) == len(manifest)
    assert any(login in line and "Login" in line for line in listed.stdout.splitlines())


async def test_a_manifest_with_a_wrong_hash_registers_nothing(
    database_url: str, tmp_path: Path, db: async_sessionmaker[AsyncSession]
) -> None:
    contract = contract_documents()
    manifest = manifest_of([contract["Services"], contract["Me"]])
    wrong = documents.document_id(contract["Login"])
    manifest[wrong] = contract["Register"]  # a key that is another document's hash

    added = bookit(database_url, "documents", "add", write(tmp_path, manifest))

    assert added.returncode != 0
    assert wrong in added.stderr
    assert "is not the SHA-256 of its document's text" in added.stderr
    assert "none registered" in added.stderr
    assert "Traceback" not in added.stderr
    assert await stored(db) == {}  # not even the good two


async def test_a_manifest_with_an_invalid_document_registers_nothing(
    database_url: str, tmp_path: Path, db: async_sessionmaker[AsyncSession]
) -> None:
    contract = contract_documents()
    invalid = "query Broken { services(first: 1) { noSuchField } }"
    unparsable = "query Half { services("
    manifest = manifest_of([contract["Services"], invalid, unparsable])

    added = bookit(database_url, "documents", "add", write(tmp_path, manifest))

    assert added.returncode != 0
    assert "2 of 3 documents refused" in added.stderr
    assert "does not validate against the schema" in added.stderr
    assert "noSuchField" in added.stderr
    assert "does not parse" in added.stderr
    assert "Traceback" not in added.stderr
    assert await stored(db) == {}


def test_a_file_that_is_no_manifest_is_refused(database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_text("{not json")
    added = bookit(database_url, "documents", "add", str(path))
    assert added.returncode != 0
    assert "The manifest is not JSON" in added.stderr
    missing = bookit(database_url, "documents", "add", str(tmp_path / "nowhere.json"))
    assert missing.returncode != 0
    assert "cannot read" in missing.stderr
    # and the other shapes, refused by the same reader
    for content, message in (
        ("[1, 2]", "A manifest is a JSON object"),
        ('{"sha256:00": {"query": "{ me { id } }"}}', "A manifest is a JSON object"),
        ('{"abc": "query { me { id } }"}', "is not a document id"),
    ):
        with pytest.raises(documents.InvalidDocument, match=message):
            documents.read_manifest(content)
