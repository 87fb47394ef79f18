"""Prometheus metrics: the families, what counts them, and the scrape of GET /metrics.

Counted once per operation (schema.ContractErrors) and once per refused request
(view.error_response), never per field. Every label's values are bounded
whatever clients send: operation names are those of trusted documents
(documents.py) or `unregistered`, error codes are the contract's.

With several worker processes (`bookit serve --workers N`), `bookit serve`
points PROMETHEUS_MULTIPROC_DIR at a fresh folder before the workers start, and
prometheus-client keeps each worker's values in files there; a scrape, whichever
worker answers it, adds them up.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import Awaitable, Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric
    from sqlalchemy.ext.asyncio import AsyncEngine

    from bookit_graphql.db import Reads
    from bookit_graphql.documents import Document

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
UNREGISTERED = "unregistered"  # free-form text
ANONYMOUS = "anonymous"  # a trusted document whose operation has no name
UNKNOWN_TYPE = "unknown"  # the document did not parse: no operation type to tell
SAMPLE_INTERVAL = 1.0  # seconds between a worker's pool samples (multiprocess mode)

# -- the families -----------------------------------------------------------------

# no `_created` series beside each counter (half the lines, and nothing reads them)
disable_created_metrics()  # type: ignore[no-untyped-call]

OPERATIONS = Counter(
    "bookit_graphql_operations",
    "GraphQL operations by type, trusted document's name and outcome (success, error, rejected).",
    ["type", "name", "outcome"],
)
DURATION = Histogram(
    "bookit_graphql_operation_duration_seconds",
    "GraphQL operations' time from parse to result (a subscription's: its whole life).",
    ["type", "name", "outcome"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
ERRORS = Counter("bookit_graphql_errors", "Errors answered, by extensions.code.", ["code"])
SUBSCRIPTIONS = Gauge(
    "bookit_subscriptions_open",
    "GraphQL operations running over WebSocket (subscriptions).",
    multiprocess_mode="livesum",
)
BOOKING_CONFLICTS = Counter(
    "bookit_booking_conflicts", "Bookings refused with BOOKING_CONFLICT (the slot was taken)."
)
RATE_LIMITED = Counter("bookit_rate_limit_refusals", "Attempts refused with RATE_LIMITED.")
COMPILED_FALLBACKS = Counter(
    "bookit_compiled_fallbacks",
    "Reads of a root field resolved field by field because the compiler did not know "
    "a selected field (compiled.py).",
    ["field"],
)
# Webhook and email deliveries, by the outcome of each attempt: told by the
# integrations' outbox through `record_delivery` (app.py wires it).
WEBHOOK_DELIVERIES = Counter(
    "bookit_webhook_deliveries", "Webhook delivery attempts by outcome.", ["outcome"]
)
EMAIL_DELIVERIES = Counter(
    "bookit_email_deliveries", "Email notification attempts by outcome.", ["outcome"]
)
DELIVERIES = {
    "webhook": (WEBHOOK_DELIVERIES, ("succeeded", "retrying", "failed")),
    "email": (EMAIL_DELIVERIES, ("sent", "retrying", "failed")),
}
for _family, _outcomes in DELIVERIES.values():
    for _outcome in _outcomes:
        _family.labels(outcome=_outcome)  # present, at zero, before the first delivery


def record_delivery(channel: str, outcome: str) -> None:
    """One delivery attempt's outcome on `channel` ("webhook" or "email")."""
    family, known = DELIVERIES[channel]
    if outcome in known:  # the labels stay few whatever a caller says
        family.labels(outcome=outcome).inc()


# Database pools, sampled when scraped (and every SAMPLE_INTERVAL in a worker of several).
POOL_CONNECTIONS = Gauge(
    "bookit_db_pool_connections",
    "Connections of a pool (orm: SQLAlchemy's; reads: compiled reads') by state.",
    ["pool", "state"],
    multiprocess_mode="livesum",
)
POOL_MAX = Gauge(
    "bookit_db_pool_max_connections",
    "The most connections a pool may open.",
    ["pool"],
    multiprocess_mode="livesum",
)
POOL_WAITING = Gauge(
    "bookit_db_pool_waiting",
    "Requests waiting for a connection of the reads pool.",
    ["pool"],
    multiprocess_mode="livesum",
)


# -- counting -----------------------------------------------------------------------

# (type, name, outcome) -> the two children: labels() costs a lock and a lookup each
# time, and this set is bounded (4 types x trusted documents' names x 3 outcomes).
_children: dict[tuple[str, str, str], tuple[Any, Any]] = {}


def operation_label(document: Document | None) -> str:
    """The name label of an operation: its trusted document's operation name, or
    `unregistered` for free-form text (whatever name the client gave it)."""
    if document is None:
        return UNREGISTERED
    return document.operation_name or ANONYMOUS


def observe_operation(operation_type: str, label: str, outcome: str, seconds: float) -> None:
    """One GraphQL operation done (`label` from operation_label): its count and duration."""
    key = (operation_type, label, outcome)
    children = _children.get(key)
    if children is None:
        children = _children[key] = (OPERATIONS.labels(*key), DURATION.labels(*key))
    children[0].inc()
    children[1].observe(seconds)


def count_errors(codes: Iterable[str]) -> None:
    """Errors answered (their contract codes), with the codes that have a family of their own."""
    for code in codes:
        ERRORS.labels(code).inc()
        if code == "BOOKING_CONFLICT":
            BOOKING_CONFLICTS.inc()
        elif code == "RATE_LIMITED":
            RATE_LIMITED.inc()


@contextlib.contextmanager
def open_subscription() -> Iterator[None]:
    SUBSCRIPTIONS.inc()
    try:
        yield
    finally:
        SUBSCRIPTIONS.dec()


# -- pools, read when scraped -----------------------------------------------------


class Pools:
    """The use of one app's two pools, written into the pool gauges."""

    def __init__(self, engine: AsyncEngine, reads: Reads) -> None:
        self.engine, self.reads = engine, reads

    def sample(self) -> None:
        pool: Any = self.engine.pool  # a QueuePool: size(), checkedout(), checkedin()
        POOL_CONNECTIONS.labels("orm", "in_use").set(pool.checkedout())
        POOL_CONNECTIONS.labels("orm", "idle").set(pool.checkedin())
        POOL_MAX.labels("orm").set(pool.size() + max(0, getattr(pool, "_max_overflow", 0)))
        stats = self.reads.pool.get_stats()
        size, idle = stats.get("pool_size", 0), stats.get("pool_available", 0)
        POOL_CONNECTIONS.labels("reads", "in_use").set(size - idle)
        POOL_CONNECTIONS.labels("reads", "idle").set(idle)
        POOL_MAX.labels("reads").set(self.reads.pool.max_size)
        POOL_WAITING.labels("reads").set(stats.get("requests_waiting", 0))


def multiprocess_mode() -> bool:
    return MULTIPROC_DIR in os.environ


class Scrape:
    """What a scrape answers: this process's metrics, or in multiprocess mode every
    worker's, taken after this process's pools have been sampled."""

    def __init__(self, pools: Pools | None = None) -> None:
        self.pools = pools
        if multiprocess_mode():
            self.source = CollectorRegistry()
            multiprocess.MultiProcessCollector(self.source)  # type: ignore[no-untyped-call]
        else:
            self.source = REGISTRY

    def collect(self) -> Iterable[Metric]:
        if self.pools is not None:
            self.pools.sample()
        yield from self.source.collect()


def endpoint(scraped: Collector) -> Callable[[Request], Awaitable[Response]]:
    async def metrics(request: Request) -> Response:
        return Response(generate_latest(scraped), media_type=CONTENT_TYPE_LATEST)

    return metrics


async def sample_forever(pools: Pools) -> None:
    """A worker's pool use, written to its files for the scrapes that another worker answers."""
    while True:
        pools.sample()
        await asyncio.sleep(SAMPLE_INTERVAL)


def process_exited() -> None:
    """Drop this worker's live gauges (open subscriptions, pools) from the sums."""
    if multiprocess_mode():
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


def fresh_multiprocess_dir(data_dir: Path) -> Path:
    """An empty folder for this server's workers' metric files, under the data folder.

    One per server process (a second `bookit serve` on the same folder keeps its
    own); the folders of servers that are gone are removed.
    """
    parent = data_dir / "metrics"
    parent.mkdir(parents=True, exist_ok=True)
    for old in parent.iterdir():
        if old.name.isdigit() and not _alive(int(old.name)):
            shutil.rmtree(old, ignore_errors=True)
    folder = parent / str(os.getpid())
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    return folder


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def serve_port(host: str, port: int, scraped: Collector) -> None:
    """GET /metrics on a port of its own (a thread of this process)."""
    from prometheus_client import start_http_server

    start_http_server(port, addr=host, registry=scraped)
