"""The `bookit` command: serve, worker, migrate, create-admin, demo-data, documents,
export-schema."""

from __future__ import annotations

import argparse
import asyncio
import gc
import getpass
import logging
import os
import shutil
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bookit_graphql.config import ConfigError, Settings
from bookit_graphql.db import migrate
from bookit_graphql.errors import BookItError
from bookit_graphql.logs import configure_logging

if TYPE_CHECKING:
    from starlette.applications import Starlette

log = logging.getLogger("bookit")


@contextmanager
def database(settings: Settings) -> Iterator[str]:
    """DATABASE_URL, or the embedded PostgreSQL in the data folder (started or joined)."""
    if settings.database_url:
        yield settings.database_url
        return
    from bookit_graphql.embedded import embedded_database

    with embedded_database(settings.data_dir) as url:
        yield url


def serve(settings: Settings, args: argparse.Namespace) -> None:
    import uvicorn

    from bookit_graphql.app import create_app

    settings = settings.with_secret_key()
    host = args.host or settings.host
    port = args.port or settings.port
    # uvicorn re-raises the SIGTERM it caught once it has shut down; as an
    # exception it unwinds through `database`, which stops the embedded server.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_config": None,
        "access_log": False,
        "proxy_headers": True,
        "timeout_graceful_shutdown": 10,
        # A WebSocket message carries one document: the same cap as an HTTP body.
        "ws_max_size": settings.max_body_bytes,
        # permessage-deflate compresses every frame for each socket apart (some 13 us
        # of a `next` frame here): with 1,000 subscribers, more than the rest of a
        # delivery saves; a change's frame is some 600 bytes.
        "ws_per_message_deflate": False,
    }
    with database(settings) as url, _metrics_files(settings, args.workers):
        migrate(url)
        fields: dict[str, Any] = {"url": f"http://{host}:{port}/graphql", "workers": args.workers}
        if settings.metrics:
            fields["metrics"] = f"http://{host}:{settings.metrics_port or port}/metrics"
        log.info("serving", extra={"fields": fields})
        if args.workers > 1:
            # Each worker builds its own app (engine, listener) from the environment:
            # the database this process found or started, and its secret key.
            os.environ["DATABASE_URL"] = url
            os.environ["SECRET_KEY"] = settings.secret_key
            if settings.metrics and settings.metrics_port:
                from bookit_graphql import metrics

                metrics.serve_port(host, settings.metrics_port, metrics.Scrape())
            uvicorn.run(f"{__name__}:worker_app", factory=True, workers=args.workers, **options)
        else:
            app = create_app(settings, url)
            if settings.metrics and settings.metrics_port:
                from bookit_graphql import metrics

                metrics.serve_port(host, settings.metrics_port, app.state.metrics)
            settle_heap()
            uvicorn.run(app, **options)


@contextmanager
def _metrics_files(settings: Settings, workers: int) -> Iterator[None]:
    """With several workers, a fresh folder for their metric files, removed at the end.

    Set before any worker starts (prometheus-client reads it when imported).
    """
    if workers < 2 or not settings.metrics:
        yield
        return
    from bookit_graphql.metrics import MULTIPROC_DIR, fresh_multiprocess_dir

    folder = fresh_multiprocess_dir(settings.data_dir)
    os.environ[MULTIPROC_DIR] = str(folder)
    try:
        yield
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def worker_app() -> Starlette:
    """The app of one worker process of `bookit serve --workers N`."""
    from bookit_graphql.app import create_app

    settings = Settings.from_env()
    configure_logging(settings.log_level)
    if settings.database_url is None:
        raise ConfigError("a worker needs DATABASE_URL (set by `bookit serve`)")
    app = create_app(settings, settings.database_url)
    settle_heap()
    return app


# Young objects a serving process allocates (net) before the collector runs: with the
# default, 700, it runs every few requests, each time walking the objects of all the
# requests in flight.
GC_YOUNG = 10_000


def settle_heap() -> None:
    """Before a process serves: what it has built (modules, the schema, the mappers,
    some 160,000 objects) leaves the collector's view, and young collections are
    rarer. Measured on S3 under wrk: 11 % of the server's CPU was the collector's,
    and 0.218 ms of CPU a request became 0.188."""
    gc.collect()
    gc.freeze()  # none of it is garbage now, and most of it lives as long as the process
    gc.set_threshold(GC_YOUNG)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)


def worker(settings: Settings, args: argparse.Namespace) -> None:
    from bookit_graphql.integrations.worker import run_apart

    settings = settings.with_secret_key()
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    with database(settings) as url:
        migrate(url)
        log.info("integrations worker started")
        try:
            asyncio.run(run_apart(settings, url))  # returns on SIGTERM or SIGINT
        except SystemExit:  # SIGTERM before run_apart took the signal over
            pass
        log.info("integrations worker stopped")


def run_migrate(settings: Settings, args: argparse.Namespace) -> None:
    with database(settings) as url:
        migrate(url)
    print("database migrated to head")  # noqa: T201


def create_admin(settings: Settings, args: argparse.Namespace) -> None:
    from bookit_graphql.users.admin import create_admin as make_admin

    password = args.password or getpass.getpass("Password for the new admin: ")
    with database(settings) as url:
        migrate(url)
        user = asyncio.run(
            make_admin(
                url,
                settings=settings,
                email=args.email,
                password=password,
                full_name=args.full_name,
            )
        )
    print(f"admin {user.email} ({user.id}) is ready")  # noqa: T201


def demo_data(settings: Settings, args: argparse.Namespace) -> None:
    from bookit_graphql import demo

    if settings.production:
        # Demo accounts share passwords that are printed on the terminal.
        sys.exit("bookit: demo data is not for production (BOOKIT_ENV=production)")
    with database(settings) as url:
        migrate(url)
        try:
            result = asyncio.run(
                demo.load(
                    url,
                    bcrypt_rounds=settings.bcrypt_rounds,
                    seed=args.seed,
                    scale=args.scale,
                    force=args.force,
                )
            )
        except demo.DemoDataError as error:
            sys.exit(f"bookit: {error}")
    graphiql = f"http://{settings.host}:{settings.port}/graphql"
    print(demo.summary(result, graphiql=graphiql))  # noqa: T201


def _scale(value: str) -> float:
    from bookit_graphql.demo import MAX_SCALE

    try:
        scale = float(value)
    except ValueError:
        scale = -1
    if not 0 < scale <= MAX_SCALE:
        raise argparse.ArgumentTypeError(f"a number above 0 and at most {MAX_SCALE:g}")
    return scale


def _workers(value: str) -> int:
    try:
        workers = int(value)
    except ValueError:
        workers = 0
    if not 1 <= workers <= 64:
        raise argparse.ArgumentTypeError("a whole number from 1 to 64")
    return workers


def add_documents(settings: Settings, args: argparse.Namespace) -> None:
    """Register a GraphQL Code Generator manifest: all of its documents, or none."""
    from bookit_graphql import documents
    from bookit_graphql.schema import schema

    try:
        text = Path(args.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        sys.exit(f"bookit: cannot read {args.file}: {error}")
    checked = documents.check_manifest(text, schema._schema)
    with database(settings) as url:
        migrate(url)
        new = asyncio.run(documents.register_manifest(url, checked))
    print(f"{len(checked)} documents in {args.file}: {new} registered, {len(checked) - new} known")  # noqa: T201


def list_documents(settings: Settings, args: argparse.Namespace) -> None:
    from bookit_graphql import documents

    with database(settings) as url:
        migrate(url)
        rows = asyncio.run(documents.listed(url))
    for id, name, kind, source, created_at in rows:
        line = (
            f"{id}  {kind:<12} {name or '(anonymous)':<28} {source:<8} {created_at:%Y-%m-%d %H:%M}"
        )
        print(line)  # noqa: T201


def export_schema(settings: Settings, args: argparse.Namespace) -> None:
    from bookit_graphql.schema import schema

    Path(args.output).write_text(schema.as_str() + "\n")
    print(f"wrote {args.output}")  # noqa: T201


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="bookit", description="BookIt GraphQL API")
    commands = root.add_subparsers(dest="command", required=True)
    p = commands.add_parser("serve", help="migrate and serve the API")
    p.add_argument("--host", help="address to listen on (BOOKIT_HOST, default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port to listen on (BOOKIT_PORT, default 8000)")
    p.add_argument(
        "--workers",
        type=_workers,
        default=1,
        help="server processes (default 1); each has its own pool and event listener",
    )
    p.set_defaults(run=serve)
    p = commands.add_parser(
        "worker",
        help="run the integrations worker alone (webhooks, mail, retention); "
        "set BOOKIT_WORKER=off on the servers then",
    )
    p.set_defaults(run=worker)
    p = commands.add_parser("migrate", help="migrate the database to head")
    p.set_defaults(run=run_migrate)
    p = commands.add_parser("create-admin", help="create an admin, or promote an account")
    p.add_argument("--email", required=True)
    p.add_argument("--password", help="asked for when not given")
    p.add_argument("--full-name", default="Administrator")
    p.set_defaults(run=create_admin)
    p = commands.add_parser(
        "demo-data",
        help="fill the database with a deterministic demo data set and print its logins",
    )
    p.add_argument("--seed", type=int, default=1, help="same seed, same rows (default 1)")
    p.add_argument("--scale", type=_scale, default=1.0, help="1 is 1,000 users and 20,000 bookings")
    p.add_argument(
        "--force",
        action="store_true",
        help="if the database holds data, delete ALL of it first (empties every BookIt table)",
    )
    p.set_defaults(run=demo_data)
    p = commands.add_parser("documents", help="trusted documents: register a manifest, list")
    actions = p.add_subparsers(dest="action", required=True)
    p = actions.add_parser(
        "add",
        help="register the documents of a GraphQL Code Generator persisted-documents.json "
        "(all or none: a wrong hash or an invalid document refuses the file)",
    )
    p.add_argument("file", help='the manifest: {"sha256:<hex>": "<document>", ...}')
    p.set_defaults(run=add_documents)
    p = actions.add_parser("list", help="list the registered documents")
    p.set_defaults(run=list_documents)
    p = commands.add_parser("export-schema", help="write the GraphQL SDL")
    p.add_argument("--output", default="schema.graphql")
    p.set_defaults(run=export_schema)
    return root


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        configure_logging(settings.log_level)
        args.run(settings, args)
    except ConfigError as error:
        sys.exit(f"bookit: configuration error: {error}")
    except BookItError as error:
        sys.exit(f"bookit: {error}")
    except KeyboardInterrupt:
        sys.exit(130)
