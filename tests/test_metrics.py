"""GET /metrics: operations by type, name and outcome, errors by code, pools, workers."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bookit_graphql import documents
from bookit_graphql.app import create_app
from bookit_graphql.config import ConfigError, Settings
from bookit_graphql.schema import schema
from tests.bookings.support import at, book, booked
from tests.bookings.wsclient import Socket
from tests.conftest import SECRET, Server, free_port, wait_until_healthy
from tests.factories import Rows
from tests.helpers import Account, codes, gql, register

SERVICES = "query Services { services(first: 2) { totalCount } }"
INVALID_SERVICES = "query Services { services(first: 2) { noSuchField } }"
CLIENT_NAMED = "query MyVeryOwnName%d { services(first: 1) { totalCount } }"
ME = "query Me { me { id } }"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, family: str, /, **labels: str) -> float:
    return samples.get((family, frozenset(labels.items())), 0.0)


def total(samples: Samples, family: str, /, **labels: str) -> float:
    """The sum over every series of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, got), v in samples.items() if n == family and wanted <= got)


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return parse(response.text)


async def test_operations_are_counted_by_type_name_and_outcome(
    client: httpx.AsyncClient, db: async_sessionmaker[AsyncSession]
) -> None:
    # given Services registered as a trusted document, and the counts so far
    services = documents.checked(SERVICES, schema._schema)
    async with db.begin() as session:
        await documents.add(session, [services], source="manifest")
    before = await scrape(client)

    # when a client sends three good Services by id, one invalid one, a Me without
    # a token, and five operations each under a name of its own
    for _ in range(3):
        answer = await client.post("/graphql", json={"documentId": services.id})
        assert "errors" not in answer.json()
    assert codes(await gql(client, INVALID_SERVICES)) == ["GRAPHQL_VALIDATION_FAILED"]
    assert codes(await gql(client, ME)) == ["UNAUTHENTICATED"]
    for n in range(5):
        assert "errors" not in await gql(client, CLIENT_NAMED % n)
    after = await scrape(client)

    def delta(family: str, /, **labels: str) -> float:
        return value(after, family, **labels) - value(before, family, **labels)

    # then each is counted once under its outcome: the trusted document under its
    # name, and free-form text (whatever it calls itself) under `unregistered`
    operations = "bookit_graphql_operations_total"
    assert delta(operations, type="query", name="Services", outcome="success") == 3
    assert delta(operations, type="query", name="unregistered", outcome="rejected") == 1
    assert delta(operations, type="query", name="unregistered", outcome="error") == 1
    assert delta(operations, type="query", name="unregistered", outcome="success") == 5
    assert not [labels for (name, labels) in after if "MyVeryOwnName" in str(labels)]
    # (Me may be counted under its name by earlier tests that sent it by id, not here)
    assert delta(operations, type="query", name="Me", outcome="error") == 0
    # with their durations in the histogram
    histogram = "bookit_graphql_operation_duration_seconds"
    labels = {"type": "query", "name": "Services", "outcome": "success"}
    assert delta(f"{histogram}_count", **labels) == 3
    assert delta(f"{histogram}_bucket", le="+Inf", **labels) == 3
    assert delta(f"{histogram}_bucket", le="10.0", **labels) == 3
    assert 0 < delta(f"{histogram}_sum", **labels) < 30
    # and the errors by code
    assert delta("bookit_graphql_errors_total", code="GRAPHQL_VALIDATION_FAILED") == 1
    assert delta("bookit_graphql_errors_total", code="UNAUTHENTICATED") == 1


async def test_a_document_that_does_not_parse_is_rejected_of_unknown_type(
    client: httpx.AsyncClient,
) -> None:
    before = await scrape(client)
    body = await gql(client, "query Services { services(first: 2) {")
    assert codes(body) == ["GRAPHQL_PARSE_FAILED"]
    after = await scrape(client)
    # no document, so no operation name known: nothing a client wrote becomes a label
    labels = {"type": "unknown", "name": "unregistered", "outcome": "rejected"}
    name = "bookit_graphql_operations_total"
    assert value(after, name, **labels) - value(before, name, **labels) == 1


async def test_booking_conflicts_and_refused_requests_are_counted(
    client: httpx.AsyncClient, alice: Account, bob: Account, rows: Rows
) -> None:
    # given Alice's booking
    service_id = await rows.service()
    await booked(client, alice.token, service_id, at(10))
    before = await scrape(client)

    # when Bob asks for the same hour, and someone posts a form
    assert codes(await book(client, bob.token, service_id, at(10))) == ["BOOKING_CONFLICT"]
    form = await client.post("/graphql", content=b"query=x", headers={"Content-Type": "text/plain"})
    assert form.status_code == 415
    after = await scrape(client)

    # then the conflict is counted as one, and each refusal under its code
    errors = "bookit_graphql_errors_total"
    assert (
        value(after, errors, code="BOOKING_CONFLICT")
        - value(before, errors, code="BOOKING_CONFLICT")
        == 1
    )
    conflicts = "bookit_booking_conflicts_total"
    assert value(after, conflicts) - value(before, conflicts) == 1
    assert (
        value(after, errors, code="BAD_USER_INPUT") - value(before, errors, code="BAD_USER_INPUT")
        == 1
    )
    labels = {"type": "mutation", "name": "unregistered", "outcome": "error"}  # free text
    operations = "bookit_graphql_operations_total"
    assert value(after, operations, **labels) - value(before, operations, **labels) == 1


async def test_pool_use_and_the_declared_families_are_there(client: httpx.AsyncClient) -> None:
    # given a read on each pool (a compiled read, and a registration through the ORM)
    await gql(client, SERVICES)
    await register(client, "pools@example.com")

    # when scraped
    samples = await scrape(client)

    # then both pools tell their size and use, and the families without events yet show 0
    assert value(samples, "bookit_db_pool_max_connections", pool="reads") == 20
    assert value(samples, "bookit_db_pool_max_connections", pool="orm") == 20
    reads = total(samples, "bookit_db_pool_connections", pool="reads")
    assert reads >= 1  # open connections, idle between requests
    assert value(samples, "bookit_db_pool_connections", pool="reads", state="in_use") == 0
    assert ("bookit_db_pool_waiting", frozenset({("pool", "reads")})) in samples
    assert value(samples, "bookit_db_pool_connections", pool="orm", state="idle") >= 1
    assert value(samples, "bookit_db_pool_connections", pool="orm", state="in_use") == 0
    for family, outcomes in (
        ("bookit_webhook_deliveries_total", ("succeeded", "retrying", "failed")),
        ("bookit_email_deliveries_total", ("sent", "retrying", "failed")),
    ):
        for outcome in outcomes:
            assert (family, frozenset({("outcome", outcome)})) in samples
    assert ("bookit_subscriptions_open", frozenset()) in samples
    assert ("bookit_rate_limit_refusals_total", frozenset()) in samples


async def test_metrics_off_serves_and_counts_nothing(
    settings: Settings, database_url: str, client: httpx.AsyncClient
) -> None:
    # given an app with BOOKIT_METRICS=off beside the usual one
    quiet = create_app(replace(settings, metrics=False), database_url)
    transport = httpx.ASGITransport(app=quiet)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://quiet.test") as other:
            before = await scrape(client)
            # when it answers operations
            for _ in range(2):
                assert "errors" not in await gql(other, SERVICES)
            assert codes(await gql(other, ME)) == ["UNAUTHENTICATED"]
            # then it has no /metrics, and counted nothing
            assert (await other.get("/metrics")).status_code == 404
        after = await scrape(client)
    finally:
        await quiet.state.reads.close()
        await quiet.state.engine.dispose()
    name = "bookit_graphql_operations_total"
    assert total(after, name) == total(before, name)


def test_the_settings_read_from_the_environment() -> None:
    assert Settings.from_env({}).metrics is True
    assert Settings.from_env({"BOOKIT_METRICS": "off"}).metrics is False
    assert Settings.from_env({"BOOKIT_METRICS_PORT": "9100"}).metrics_port == 9100
    with pytest.raises(ConfigError, match="BOOKIT_METRICS_PORT"):
        Settings.from_env({"BOOKIT_METRICS_PORT": "70000"})


# -- real servers ------------------------------------------------------------------


def scrape_url(url: str) -> Samples:
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200, response.text
    return parse(response.text)


def test_two_workers_add_up(database_url: str, tmp_path: Path) -> None:
    # given `bookit serve --workers 2`
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": SECRET,
        "LOG_LEVEL": "WARNING",
        "BOOKIT_DATA_DIR": str(tmp_path / "data"),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bookit_graphql",
                "serve",
                "--workers",
                "2",
                "--port",
                str(port),
            ],
            env=env,
            stdout=output,
            stderr=output,
        )
    requests = 40
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_healthy(base, process, log, timeout=60)

        # when N operations arrive, each on a fresh connection (the kernel spreads them)
        for _ in range(requests):
            answer = httpx.post(f"{base}/graphql", json={"query": SERVICES}, timeout=10).json()
            assert answer == {"data": {"services": {"totalCount": 0}}}

        # then every scrape, whichever worker answers it, counts all N
        folder = tmp_path / "data" / "metrics" / str(process.pid)
        files = sorted(folder.glob("counter_*.db"))
        assert len(files) == 2, list(folder.iterdir())  # one per worker
        labels = {"type": "query", "name": "unregistered", "outcome": "success"}  # free text
        per_worker = [
            sum(
                sample.value
                for family in MultiProcessCollector.merge([str(path)])
                for sample in family.samples
                if sample.name == "bookit_graphql_operations_total" and sample.labels == labels
            )
            for path in files
        ]
        assert sum(per_worker) == requests, per_worker
        for _ in range(4):
            samples = scrape_url(f"{base}/metrics")
            assert value(samples, "bookit_graphql_operations_total", **labels) == requests
            histogram = "bookit_graphql_operation_duration_seconds_count"
            assert value(samples, histogram, **labels) == requests
            # each worker's pools, summed: two reads pools of 20
            assert value(samples, "bookit_db_pool_max_connections", pool="reads") == 40
    finally:
        process.terminate()
        code = process.wait(timeout=30)
    assert code == 0, log.read_text()
    # and the server's metric files went with it
    assert not (tmp_path / "data" / "metrics" / str(process.pid)).exists()


async def test_a_port_of_their_own_and_open_subscriptions(
    start_server: Callable[..., Server],
) -> None:
    # given a server with BOOKIT_METRICS_PORT
    metrics_port = free_port()
    server = start_server(BOOKIT_METRICS_PORT=str(metrics_port))
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    async with httpx.AsyncClient(base_url=server.base) as client:
        # then the API's port has no /metrics, the other port has them
        assert (await client.get("/metrics")).status_code == 404
        before = await asyncio.to_thread(scrape_url, url)
        assert value(before, "bookit_subscriptions_open") == 0

        # when Ann subscribes
        ann: dict[str, Any] = await register(client, "ann@example.com")
        socket = await Socket.connect(server.ws, ann["accessToken"])
        await socket.subscribe()
        await asyncio.sleep(0.3)
        during = await asyncio.to_thread(scrape_url, url)
        # and stops
        await socket.connection.send('{"id": "1", "type": "complete"}')
        await asyncio.sleep(0.3)
        after = await asyncio.to_thread(scrape_url, url)
        await socket.connection.close()

    # then the subscription was open while it ran, and counted when it ended
    assert value(during, "bookit_subscriptions_open") == 1
    assert value(after, "bookit_subscriptions_open") == 0
    # (free-form text, so `unregistered`: tests/documents count trusted documents by name)
    labels = {"type": "mutation", "name": "unregistered", "outcome": "success"}
    assert value(after, "bookit_graphql_operations_total", **labels) == 1
    labels = {"type": "subscription", "name": "unregistered", "outcome": "success"}
    assert value(after, "bookit_graphql_operations_total", **labels) == 1


async def test_delivery_outcomes_of_the_outbox_are_counted(client: httpx.AsyncClient) -> None:
    from bookit_graphql.integrations import outcomes

    # given the counts so far
    before = await scrape(client)

    # when the outbox reports attempts (as its worker does after each one)
    outcomes.record("webhook", "succeeded")
    outcomes.record("webhook", "retrying")
    outcomes.record("email", "sent")
    outcomes.record("email", "bounced-somewhere")  # not a known outcome: no new label

    # then each is counted once, under its channel and outcome
    after = await scrape(client)
    for family, outcome in (
        ("bookit_webhook_deliveries_total", "succeeded"),
        ("bookit_webhook_deliveries_total", "retrying"),
        ("bookit_email_deliveries_total", "sent"),
    ):
        grown = value(after, family, outcome=outcome) - value(before, family, outcome=outcome)
        assert grown == 1, (family, outcome)
    assert (
        "bookit_email_deliveries_total",
        frozenset({("outcome", "bounced-somewhere")}),
    ) not in after
