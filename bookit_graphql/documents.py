"""Trusted documents: the registry (PostgreSQL, cached in process) and a request's id → text.

A document's id is `sha256:<64 lowercase hex>`, the SHA-256 of its exact text
(GraphQL-over-HTTP's persisted documents, GraphQL Code Generator's manifest
keys); Apollo's automatic persisted queries send the same hash without the
prefix. Documents are immutable by id, so any instance may cache one forever:
the cache is bounded, and a miss is never cached (another instance may
register the document a moment later).

`resolve` is the one step from a request's fields to the text to run and its
document: HTTP (view.py) and WebSocket subscribe messages both go through it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import OrderedDict
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import TYPE_CHECKING, Any

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    parse,
    validate,
)
from sqlalchemy import CheckConstraint, DateTime, String, Text, func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Mapped, mapped_column

from bookit_graphql.db import Base
from bookit_graphql.errors import BadUserInput, PersistedQueryNotFound, PersistedQueryNotInList

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from bookit_graphql.config import Settings
    from bookit_graphql.db import Reads

PREFIX = "sha256:"
ID_PATTERN = re.compile(r"^sha256:[0-9a-f]{64}$")
HASH_PATTERN = re.compile(r"^[0-9a-f]{64}$")
CACHE_ENTRIES = 1024
CACHE_CHARS = 8_000_000  # characters of text held at most (a document is at most a body)
# The dashboard's documents (static/admin/operations.js), known to every instance
# without registering them: it signs in anonymously, also when only trusted
# documents are accepted. tests/documents/ keeps the file equal to the script.
PACKAGE_MANIFEST = "static/admin/persisted-documents.json"


class TrustedDocument(Base):
    """A registered document: its text never changes, its id is its text's hash."""

    __tablename__ = "trusted_documents"
    __table_args__ = (CheckConstraint(f"id ~ '{ID_PATTERN.pattern}'", name="id_is_sha256"),)

    id: Mapped[str] = mapped_column(String(71), primary_key=True)
    body: Mapped[str] = mapped_column(Text)
    # the name of its one operation (NULL: anonymous, or several operations)
    operation_name: Mapped[str | None] = mapped_column(String(200))
    operation_type: Mapped[str] = mapped_column(String(20))  # query, mutation, subscription
    source: Mapped[str] = mapped_column(String(20))  # manifest, apq
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


@dataclass(frozen=True)
class Document:
    id: str
    text: str
    operation_name: str | None
    operation_type: str


# The trusted document of the operation running in this task (None: free-form text).
# Set around execution by view.py for HTTP and for each WebSocket operation (its task
# copies it); read by the metrics label (schema.ContractErrors).
current: ContextVar[Document | None] = ContextVar("trusted_document", default=None)


def document_id(text: str) -> str:
    return PREFIX + hashlib.sha256(text.encode()).hexdigest()


class InvalidDocument(BadUserInput):
    """Text that cannot be a trusted document: it does not parse or validate."""


def checked(text: str, schema: GraphQLSchema, *, expected_id: str | None = None) -> Document:
    """`text` as a Document, if it parses, validates against `schema` and (given
    `expected_id`) has that id; InvalidDocument otherwise."""
    if expected_id is not None and document_id(text) != expected_id:
        raise InvalidDocument(
            f"The hash {expected_id} is not the SHA-256 of its document's text "
            f"({document_id(text)}).",
            field="documentId",
        )
    try:
        parsed = parse(text)
    except GraphQLError as error:
        raise InvalidDocument(f"The document does not parse: {error.message}") from error
    errors = validate(schema, parsed)
    if errors:
        raise InvalidDocument(
            "The document does not validate against the schema: "
            + "; ".join(error.message for error in errors)
        )
    return Document(document_id(text), text, *_operation_of(parsed))


def _operation_of(parsed: DocumentNode) -> tuple[str | None, str]:
    """The name and type of a document's one operation (no name: several, or anonymous)."""
    operations = [d for d in parsed.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) != 1:
        return None, operations[0].operation.value if operations else "query"
    only = operations[0]
    return (only.name.value if only.name else None), only.operation.value


def read_manifest(text: str) -> dict[str, str]:
    """A GraphQL Code Generator manifest (`{"sha256:<hex>": "<document>"}`), as a dict.

    Raises InvalidDocument for a file of another shape or a malformed id; does not
    check the hashes or the documents (that is `checked`'s).
    """
    try:
        manifest = json.loads(text)
    except ValueError as error:
        raise InvalidDocument(f"The manifest is not JSON: {error}") from error
    if not isinstance(manifest, dict) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in manifest.items()
    ):
        raise InvalidDocument('A manifest is a JSON object {"sha256:<hex>": "<document>", ...}.')
    for key in manifest:
        if ID_PATTERN.fullmatch(key) is None:
            raise InvalidDocument(f"{key!r} is not a document id (sha256:<64 lowercase hex>).")
    return manifest


def package_documents() -> dict[str, Document]:
    """The documents the package's own dashboard sends, by id."""
    text = resources.files("bookit_graphql").joinpath(PACKAGE_MANIFEST).read_text()
    return {
        key: Document(key, body, *_operation_of(parse(body)))
        for key, body in read_manifest(text).items()
    }


LOOKUP = "SELECT body, operation_name, operation_type FROM trusted_documents WHERE id = %(id)s"


class Registry:
    """The trusted documents: the package's, and those in PostgreSQL (cached here)."""

    def __init__(
        self,
        reads: Reads,
        session_factory: async_sessionmaker[AsyncSession],
        *,
        entries: int = CACHE_ENTRIES,
        chars: int = CACHE_CHARS,
    ) -> None:
        self.reads, self.session_factory = reads, session_factory
        self.pinned = package_documents()
        self.entries, self.chars = entries, chars
        self._cache: OrderedDict[str, Document] = OrderedDict()
        self._cached_chars = 0

    async def get(self, id: str) -> Document | None:
        """The document with this id, or None (asked of the database on every miss)."""
        found = self.pinned.get(id)
        if found is not None:
            return found
        found = self._cache.get(id)
        if found is not None:
            self._cache.move_to_end(id)
            return found
        row = await self.reads.row(LOOKUP, {"id": id})
        if row is None:
            return None
        found = Document(id, row["body"], row["operation_name"], row["operation_type"])
        self._remember(found)
        return found

    def _remember(self, document: Document) -> None:
        self._cache[document.id] = document
        self._cached_chars += len(document.text)
        while len(self._cache) > self.entries or self._cached_chars > self.chars:
            _, dropped = self._cache.popitem(last=False)
            self._cached_chars -= len(dropped.text)

    async def register(self, document: Document, *, source: str) -> None:
        """Store a checked document (a no-op if it is known already)."""
        async with self.session_factory.begin() as session:
            await add(session, [document], source=source)
        self._remember(document)


async def add(session: AsyncSession, documents: list[Document], *, source: str) -> int:
    """Insert checked documents, skipping those already there; how many were new."""
    if not documents:
        return 0
    rows = [
        {
            "id": d.id,
            "body": d.text,
            "operation_name": d.operation_name,
            "operation_type": d.operation_type,
            "source": source,
        }
        for d in documents
    ]
    statement = (
        insert(TrustedDocument)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(TrustedDocument.id)
    )
    return len((await session.execute(statement)).all())


def check_manifest(text: str, schema: GraphQLSchema) -> list[Document]:
    """Every document of a manifest, checked; InvalidDocument naming each one refused."""
    checked_documents, problems = [], []
    for key, body in read_manifest(text).items():
        try:
            checked_documents.append(checked(body, schema, expected_id=key))
        except InvalidDocument as error:
            problems.append(f"{key}: {error}")
    if problems:
        raise InvalidDocument(
            f"{len(problems)} of {len(checked_documents) + len(problems)} documents refused, "
            "none registered:\n  " + "\n  ".join(problems)
        )
    return checked_documents


async def register_manifest(url: str, manifest: list[Document]) -> int:
    """Store a manifest's checked documents in one transaction; how many were new."""
    from bookit_graphql.db import create_engine, create_session_factory

    engine = create_engine(url, pool_size=1)
    try:
        async with create_session_factory(engine).begin() as session:
            return await add(session, manifest, source="manifest")
    finally:
        await engine.dispose()


async def listed(url: str) -> list[tuple[str, str | None, str, str, datetime]]:
    """The registered documents: id, operation name and type, source, when, oldest first."""
    from sqlalchemy import select

    from bookit_graphql.db import create_engine, create_session_factory

    engine = create_engine(url, pool_size=1)
    columns = (
        TrustedDocument.id,
        TrustedDocument.operation_name,
        TrustedDocument.operation_type,
        TrustedDocument.source,
        TrustedDocument.created_at,
    )
    try:
        async with create_session_factory(engine)() as session:
            rows = await session.execute(
                select(*columns).order_by(TrustedDocument.created_at, TrustedDocument.id)
            )
            return [tuple(row) for row in rows]  # type: ignore[misc]
    finally:
        await engine.dispose()


# -- a request's fields → the text to run -------------------------------------------


@dataclass(frozen=True)
class Resolved:
    query: str | None  # None: neither text nor id (Strawberry answers that)
    document: Document | None  # the trusted document, or None for free-form text


async def resolve(
    data: Mapping[str, Any],
    registry: Registry,
    settings: Settings,
    *,
    admin: bool,
    schema: GraphQLSchema,
) -> Resolved:
    """The query text and trusted document of a request's `query`, `documentId` and
    `extensions.persistedQuery`; raises a coded BookItError when refused.

    - `documentId` alone: the registered document, or PERSISTED_QUERY_NOT_FOUND.
      With `query` as well: refused (BAD_USER_INPUT), so that no text runs under
      an id that it does not have.
    - Apollo APQ (`extensions.persistedQuery.sha256Hash`): alone, the document
      or PERSISTED_QUERY_NOT_FOUND ("PersistedQueryNotFound", which Apollo's
      clients match); with `query`, the text must have that hash, and is
      registered when BOOKIT_APQ_REGISTER allows (and, when only trusted
      documents are accepted, the caller is an admin).
    - `query` alone is free-form text: PERSISTED_QUERY_NOT_IN_LIST when
      BOOKIT_TRUSTED_DOCUMENTS=required, unless the caller is an admin.
    """
    query = data.get("query")
    requested = data.get("documentId")
    apq = _apq_hash(data.get("extensions"))
    if requested is not None and apq is not None:
        raise BadUserInput("Send either documentId or extensions.persistedQuery, not both.")
    if requested is not None:
        if query is not None:
            raise BadUserInput("Send either documentId or query, not both.", field="documentId")
        if not isinstance(requested, str) or ID_PATTERN.fullmatch(requested) is None:
            raise BadUserInput(
                'documentId must be "sha256:" followed by 64 lowercase hex digits '
                "(the SHA-256 of the document's text).",
                field="documentId",
            )
        return Resolved(*await _registered(registry, requested))
    if apq is not None:
        wanted = PREFIX + apq
        if query is None:
            return Resolved(*await _registered(registry, wanted))
        if not isinstance(query, str):
            return Resolved(None, None)  # Strawberry's own message for a bad `query`
        if document_id(query) != wanted:
            raise BadUserInput(
                "extensions.persistedQuery.sha256Hash is not the SHA-256 of the query's text.",
                field="extensions.persistedQuery.sha256Hash",
            )
        known = await registry.get(wanted)
        if known is not None:
            return Resolved(known.text, known)
        trusted_only = settings.trusted_documents == "required"
        if settings.apq_register and (admin or not trusted_only):
            try:
                document = checked(query, schema)
            except InvalidDocument:  # not kept; run, so that it fails with its own code
                return Resolved(query, None)
            await registry.register(document, source="apq")
            return Resolved(document.text, document)
    if isinstance(query, str) and settings.trusted_documents == "required" and not admin:
        raise PersistedQueryNotInList()
    return Resolved(query, None)


async def _registered(registry: Registry, id: str) -> tuple[str, Document]:
    document = await registry.get(id)
    if document is None:
        raise PersistedQueryNotFound()
    return document.text, document


def _apq_hash(extensions: object) -> str | None:
    """The hash of Apollo's `extensions.persistedQuery`, if the request has one."""
    if not isinstance(extensions, dict) or "persistedQuery" not in extensions:
        return None
    persisted = extensions["persistedQuery"]
    field = "extensions.persistedQuery"
    if not isinstance(persisted, dict) or persisted.get("version") != 1:
        raise BadUserInput(
            'extensions.persistedQuery must be {"version": 1, "sha256Hash": "<64 hex>"}.',
            field=field,
        )
    sha = persisted.get("sha256Hash")
    if not isinstance(sha, str) or HASH_PATTERN.fullmatch(sha) is None:
        raise BadUserInput(
            "extensions.persistedQuery.sha256Hash must be 64 lowercase hex digits.",
            field=f"{field}.sha256Hash",
        )
    return sha
