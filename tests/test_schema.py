"""schema.graphql is the exported schema, and role checks show in it as directives."""

from __future__ import annotations

from pathlib import Path

from bookit_graphql.schema import schema

ROOT = Path(__file__).resolve().parent.parent


def test_schema_file_is_fresh() -> None:
    exported = schema.as_str() + "\n"
    on_disk = (ROOT / "schema.graphql").read_text()
    assert on_disk == exported, "schema.graphql is stale: run `bookit export-schema`"


def test_role_checks_are_visible_directives() -> None:
    sdl = (ROOT / "schema.graphql").read_text()
    assert "directive @authenticated on FIELD_DEFINITION" in sdl
    assert "directive @requiresRole(role: Role!) on FIELD_DEFINITION" in sdl
    assert "me: User! @authenticated" in sdl
    assert "@requiresRole(role: ADMIN)" in sdl.split("users(")[1].split("\n")[0]
