"""The migrations match the models and go up and down on an empty database."""

from __future__ import annotations

from typing import Any

import psycopg
from alembic import command

from bookit_graphql.db import alembic_config, migrate


def tables(url: str) -> set[str]:
    from sqlalchemy import create_engine, inspect

    from bookit_graphql.db import sqlalchemy_url

    engine = create_engine(sqlalchemy_url(url))
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_no_model_change_lacks_a_migration(database_url: str) -> None:
    # `alembic check` raises when autogenerate would write a migration
    command.check(alembic_config(database_url))


def test_migrations_go_up_down_and_up_again(make_database: Any) -> None:
    url = make_database()
    migrate(url)
    assert {"users", "auth_sessions", "alembic_version"} <= tables(url)
    command.downgrade(alembic_config(url), "base")
    assert tables(url) == {"alembic_version"}
    migrate(url)
    command.check(alembic_config(url))


def test_emails_are_unique_regardless_of_case_in_the_database(database_url: str) -> None:
    from sqlalchemy import make_url

    from bookit_graphql.db import sqlalchemy_url

    url = make_url(sqlalchemy_url(database_url)).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False)) as connection:
        insert = (
            "INSERT INTO users (id, email, password_hash, full_name) "
            "VALUES (gen_random_uuid(), %s, 'x', 'x')"
        )
        connection.execute(insert, ("same@example.com",))
        for other in ("SAME@example.com", "same@example.com"):
            try:
                with connection.transaction():
                    connection.execute(insert, (other,))
            except psycopg.errors.IntegrityError:
                continue
            raise AssertionError(f"{other} was accepted beside same@example.com")
        connection.rollback()


def test_the_admins_reviews_list_reads_an_index_in_its_order(database_url: str) -> None:
    from sqlalchemy import make_url

    from bookit_graphql.db import sqlalchemy_url

    url = make_url(sqlalchemy_url(database_url)).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False)) as connection:
        # the table is empty here: ask for the plan that a large one would get
        connection.execute("SET enable_seqscan = off")
        for where in ("", "WHERE (created_at, id) < (now(), gen_random_uuid())"):
            plan = connection.execute(
                f"EXPLAIN SELECT * FROM reviews {where} ORDER BY created_at DESC, id DESC LIMIT 21"
            ).fetchall()
            text = "\n".join(row[0] for row in plan)
            assert "Index Scan Backward using ix_reviews_created_at_id" in text, text
            assert "Sort" not in text, text
        connection.rollback()
