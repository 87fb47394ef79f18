"""Rate-limit attempts shared by every instance (UNLOGGED table, one function); reviews index.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# bookit_graphql/ratelimit.py calls it; its docstring says why it is a function.
ACQUIRE = """
CREATE FUNCTION rate_limit_acquire(
    keys text[], limits integer[], windows integer[], moment timestamptz,
    OUT wait double precision, OUT recorded_at timestamptz
) LANGUAGE plpgsql AS $$
DECLARE
    lock_key integer;
    i integer;
    nth timestamptz;
BEGIN
    -- every key's lock, in one order, so two attempts sharing keys cannot deadlock
    FOR lock_key IN SELECT DISTINCT hashtext(k) FROM unnest(keys) AS k ORDER BY 1 LOOP
        PERFORM pg_advisory_xact_lock(7310002, lock_key);
    END LOOP;
    -- Read after the locks: each statement of a function takes a fresh snapshot,
    -- so the counts below include every attempt recorded by the holders before us.
    recorded_at := coalesce(moment, clock_timestamp());
    wait := 0;
    FOR i IN 1 .. cardinality(keys) LOOP
        DELETE FROM rate_limit_attempts AS a
         WHERE a.key = keys[i] AND a.at <= recorded_at - make_interval(secs => windows[i]);
        -- the limits[i]-th latest attempt in the window: while it is there, the key is full
        SELECT a.at INTO nth FROM rate_limit_attempts AS a
         WHERE a.key = keys[i] AND a.at > recorded_at - make_interval(secs => windows[i])
         ORDER BY a.at DESC OFFSET limits[i] - 1 LIMIT 1;
        IF FOUND THEN
            wait := greatest(
                wait, extract(epoch FROM nth + make_interval(secs => windows[i]) - recorded_at)
            );
        END IF;
    END LOOP;
    IF wait = 0 THEN
        INSERT INTO rate_limit_attempts (key, at, expires_at)
        SELECT u.k, recorded_at, recorded_at + make_interval(secs => u.w)
          FROM unnest(keys, windows) AS u(k, w);
    END IF;
END
$$
"""


def upgrade() -> None:
    # UNLOGGED: no WAL for a write per attempt; a crash of PostgreSQL empties it
    op.create_table(
        "rate_limit_attempts",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        prefixes=["UNLOGGED"],
    )
    op.create_index(op.f("ix_rate_limit_attempts_key_at"), "rate_limit_attempts", ["key", "at"])
    op.create_index(
        op.f("ix_rate_limit_attempts_expires_at"), "rate_limit_attempts", ["expires_at"]
    )
    op.execute(ACQUIRE)
    # the admin's unfiltered `reviews` list: ORDER BY created_at DESC, id DESC
    op.create_index("ix_reviews_created_at_id", "reviews", ["created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_reviews_created_at_id", table_name="reviews")
    op.execute("DROP FUNCTION rate_limit_acquire(text[], integer[], integer[], timestamptz)")
    op.drop_table("rate_limit_attempts")
