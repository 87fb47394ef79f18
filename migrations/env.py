"""Alembic environment: the models' metadata, one migration run at a time."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine, pool, text

from bookit_graphql.db import Base, sqlalchemy_url
from bookit_graphql.models import load_all

load_all()
config = context.config
target_metadata = Base.metadata

# Indexes the models cannot describe (an expression with an operator class);
# the migrations keep them, and autogenerate must not propose to drop them.
HAND_MADE_INDEXES = {"ix_services_search_trgm", "ix_bookings_service_id_busy"}


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, other: object
) -> bool:
    return not (type_ == "index" and name in HAND_MADE_INDEXES)


# Several API replicas may start at once; a session lock makes the others wait
# for the first one's migrations instead of racing it.
MIGRATION_LOCK = 7_310_001


def run_migrations() -> None:
    url = config.get_main_option("sqlalchemy.url") or sqlalchemy_url(
        os.environ.get("DATABASE_URL") or "postgresql://"
    )
    if url == "postgresql+psycopg://":
        raise SystemExit("set DATABASE_URL, or run `bookit migrate` for the embedded database")
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
        connection.commit()
        try:
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                compare_type=True,
                include_object=include_object,
            )
            with context.begin_transaction():
                context.run_migrations()
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
            connection.commit()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run them against a database")
run_migrations()
