"""The layering, read from the import graph: core <- users <- catalog <- bookings <- reviews.

Every import counts: at module level, in a function, or under TYPE_CHECKING
(where only a later domain's GraphQL types may be named, for a field that refers
to them lazily: `strawberry.lazy("...")` is a string, not an import).
"""

from __future__ import annotations

import grimp
import pytest

PACKAGE = "bookit_graphql"
# each may import only those before it
DOMAINS = ("users", "catalog", "bookings", "reviews", "integrations")
# Composition roots: they put the domains together, so they import them all.
ROOTS = ("app", "schema", "cli", "demo", "models", "__main__")
# Context.user is a users row: context.py names its type for mypy, and never imports it.
TYPE_ONLY = {("context", "users.models")}


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(PACKAGE, include_external_packages=True)


@pytest.fixture(scope="module")
def run_time_graph() -> grimp.ImportGraph:
    return grimp.build_graph(PACKAGE, exclude_type_checking_imports=True)


def _domain(module: str) -> str | None:
    """The domain package of a module of the package, or None for a core module."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in DOMAINS else None


def _imports(graph: grimp.ImportGraph, importer: str) -> list[tuple[str, str]]:
    """What `importer` imports, each with where: 'bookit_graphql/x.py:12: from ... import ...'."""
    path = importer.replace(".", "/")
    details = [
        detail
        for imported in graph.find_modules_directly_imported_by(importer)
        for detail in graph.get_import_details(importer=importer, imported=imported)
    ]
    return [
        (d["imported"], f"{path}.py:{d['line_number']}: {d['line_contents']}")
        for d in sorted(details, key=lambda d: (d["line_number"], d["imported"]))
    ]


def _relative(module: str) -> str:
    return module.removeprefix(f"{PACKAGE}.")


def test_core_modules_import_no_domain(
    graph: grimp.ImportGraph, run_time_graph: grimp.ImportGraph
) -> None:
    offending = [
        where
        for importer in sorted(graph.find_children(PACKAGE))
        if _domain(importer) is None and _relative(importer) not in ROOTS
        for imported, where in _imports(graph, importer)
        if _domain(imported) is not None
        and not (
            (_relative(importer), _relative(imported)) in TYPE_ONLY
            and not run_time_graph.direct_import_exists(importer=importer, imported=imported)
        )
    ]
    assert not offending, "core modules import a domain:\n" + "\n".join(dict.fromkeys(offending))


def test_models_import_neither_strawberry_nor_permissions(graph: grimp.ImportGraph) -> None:
    forbidden = ("strawberry", f"{PACKAGE}.permissions")
    offending = [
        where
        for domain in DOMAINS
        for imported, where in _imports(graph, f"{PACKAGE}.{domain}.models")
        if imported.split(".")[0] == "strawberry" or imported in forbidden
    ]
    assert not offending, "models import Strawberry or permissions:\n" + "\n".join(offending)


def test_domains_depend_one_way(
    graph: grimp.ImportGraph, run_time_graph: grimp.ImportGraph
) -> None:
    """Only a GraphQL type of a later domain may be named, for mypy, under TYPE_CHECKING:
    the field that returns it says `Annotated[T, strawberry.lazy("...types")]`."""
    offending = []
    for rank, domain in enumerate(DOMAINS):
        later = DOMAINS[rank + 1 :]
        for importer in sorted(graph.find_descendants(f"{PACKAGE}.{domain}")):
            for imported, where in _imports(graph, importer):
                if _domain(imported) not in later:
                    continue
                at_run_time = run_time_graph.direct_import_exists(
                    importer=importer, imported=imported
                )
                if at_run_time or not imported.endswith(".types"):
                    offending.append(f"{domain} -> {_domain(imported)}: {where}")
    assert not offending, "a domain imports one to its right:\n" + "\n".join(offending)
