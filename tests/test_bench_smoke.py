"""The benchmark's reads, once each in-process: their SQL statements stay few and flat.

Not a benchmark: a CI check (a few seconds) that an N+1 fails, that a page of
50 costs the statements a page of 5 does, that bench/baseline.py still answers
BookIt's bytes and PostGraphile (bench/postgraphile/) the same data once
normalised, so the benchmark compares like with like.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

import httpx
import orjson
import psycopg
import pytest

from bench import documents, postgraphile, receiver, stack
from bench.baseline import Baseline
from bookit_graphql import demo
from bookit_graphql.app import create_app
from bookit_graphql.config import Settings
from bookit_graphql.db import libpq_url, migrate
from tests.conftest import SECRET, StatementCounter

SCALE = 0.3  # 300 users, 60 services, 6,000 bookings, 2,400 reviews: pages of 50 are full
TODAY = date(2026, 11, 25)

# What each read costs at any page size (BookIt; the baseline is one statement each).
# Compiled (compiled.py): one statement, the caller's session check in it for S2. Resolved:
# S1 the page and its totalCount; S2 the caller's session, the page, totalCount,
# then one batch each of services, users and reviews; S3 the service, one batch of
# review pages, one batch of authors. S4 compiles its page but not availableSlots
# (no SQL of its own), so it resolves: the page, then one batch of slots.
EXPECTED = {
    "compiled": {"S1": 1, "S2": 1, "S3": 1, "S4": 2},
    "resolved": {"S1": 2, "S2": 6, "S3": 3, "S4": 2},
}


@dataclass
class Bench:
    client: httpx.AsyncClient
    counter: StatementCounter
    baseline: Baseline
    admin_token: str
    detail_id: str
    app: Any
    url: str

    def request(self, name: str, size: int) -> tuple[dict[str, Any], str | None]:
        if name == "S1":
            return documents.body(documents.SERVICES, "Services", {"first": size}), None
        if name == "S2":
            body = documents.body(documents.BOOKINGS, "Bookings", {"first": size})
            return body, self.admin_token
        if name == "S4":
            week = documents.next_week(datetime.now(UTC))
            variables = {"first": size, **week}
            return documents.body(documents.SERVICE_SLOTS, "ServiceSlots", variables), None
        variables = {"id": self.detail_id, "reviewsFirst": size}
        return documents.body(documents.SERVICE, "Service", variables), None

    async def bookit_bytes(self, name: str, size: int) -> bytes:
        body, token = self.request(name, size)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.counter.clear()
        response = await self.client.post("/graphql", json=body, headers=headers)
        assert b'"errors"' not in response.content, response.text
        return response.content

    async def bookit(self, name: str, size: int) -> tuple[dict[str, Any], int]:
        """BookIt's answer and the statements it sent."""
        answer: dict[str, Any] = orjson.loads(await self.bookit_bytes(name, size))
        return answer, self.counter.count

    async def raw(self, name: str, size: int) -> bytes:
        body, token = self.request(name, size)
        operation = self.baseline.operations[str(body["operationName"])]
        variables = body["variables"]
        assert isinstance(variables, dict)
        return await operation(variables, f"Bearer {token}" if token else None)


@pytest.fixture(scope="module")
async def bench(make_database: Any) -> AsyncIterator[Bench]:
    # given the demo data set, small, on a database of its own
    url: str = make_database()
    migrate(url)
    loaded = await demo.load(url, bcrypt_rounds=4, seed=3, scale=SCALE, today=TODAY)
    with psycopg.connect(libpq_url(url)) as connection:
        row = connection.execute(
            "SELECT id::text FROM services WHERE is_active ORDER BY review_count DESC LIMIT 1"
        ).fetchone()
    assert row is not None
    settings = Settings(secret_key=SECRET, bcrypt_rounds=4, max_cost=documents.MAX_COST)
    app = create_app(settings, url)
    counter = StatementCounter()
    counter.attach(app)
    baseline = Baseline(libpq_url(url), SECRET, bcrypt_rounds=4)
    await baseline.pool.open()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bookit.test") as client:
        credentials = {"email": loaded.admin.email, "password": loaded.admin.password}
        login = documents.body(documents.LOGIN, "Login", {"input": credentials})
        token = (await client.post("/graphql", json=login)).json()["data"]["login"]
        yield Bench(client, counter, baseline, token["accessToken"], row[0], app, url)
    await baseline.pool.close()
    await app.state.reads.close()
    await app.state.engine.dispose()


@pytest.mark.parametrize("reads", ["compiled", "resolved"])
@pytest.mark.parametrize("name", ["S1", "S2", "S3", "S4"])
async def test_a_read_costs_the_same_statements_for_5_items_as_for_50(
    bench: Bench, name: str, reads: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given reads compiled to SQL, or resolved field by field
    view = bench.app.state.view
    monkeypatch.setattr(
        view, "settings", replace(view.settings, compiled_reads=reads == "compiled")
    )

    # when the read asks for 5, then for 50 items (after a first request: a token's
    # session is read apart the first time, then carried by the compiled read)
    await bench.bookit(name, 1)
    small, small_cost = await bench.bookit(name, 5)
    large, large_cost = await bench.bookit(name, 50)

    # then both pages are full, and cost the same few statements
    assert len(_edges(small)) == 5
    assert len(_edges(large)) == 50
    assert small_cost == large_cost == EXPECTED[reads][name], bench.counter.statements


@pytest.mark.parametrize("name", ["S1", "S2", "S3", "S4"])
async def test_the_baseline_answers_bookits_bytes(bench: Bench, name: str) -> None:
    for size in (5, 50):
        assert await bench.raw(name, size) == await bench.bookit_bytes(name, size)


@pytest.fixture(scope="module")
def graphile(bench: Bench, tmp_path_factory: pytest.TempPathFactory) -> Iterator[stack.Server]:
    # given PostGraphile 5 on the same database, as the benchmark starts it
    url = libpq_url(bench.url)
    folder = postgraphile.install()
    postgraphile.prepare(url)
    port = stack.free_port()
    env = postgraphile.environment({**os.environ, "SECRET_KEY": SECRET}, url, port)
    log = tmp_path_factory.mktemp("postgraphile") / "postgraphile.log"
    server = stack.start("postgraphile", postgraphile.command(folder), env, log, port)
    yield server
    server.stop()


@pytest.mark.parametrize("name", ["S1", "S2", "S3"])
async def test_postgraphile_answers_the_same_reads_once_normalised(
    bench: Bench, graphile: stack.Server, name: str
) -> None:
    for size in (5, 50):
        body, token = bench.request(name, size)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        asked = postgraphile.body(body)
        assert asked is not None
        async with httpx.AsyncClient(timeout=60) as client:
            theirs = (await client.post(graphile.url, json=asked, headers=headers)).json()
        ours, _ = await bench.bookit(name, size)
        postgraphile.check(name, ours, theirs)  # raises where they differ


async def test_postgraphile_refuses_a_token_that_is_not_bookits(
    bench: Bench, graphile: stack.Server
) -> None:
    body, _ = bench.request("S2", 5)
    forged = bench.admin_token[:-4] + ("AAAA" if not bench.admin_token.endswith("AAAA") else "BBBB")
    async with httpx.AsyncClient(timeout=60) as client:
        answer = await client.post(
            graphile.url,
            json=postgraphile.body(body),
            headers={"Authorization": f"Bearer {forged}"},
        )
    assert (
        answer.json()["errors"][0]["message"] == "The access token is invalid, expired or revoked."
    )
    assert "data" not in answer.json() or answer.json()["data"] is None


BOOKIT_S3 = {
    "data": {
        "service": {
            "id": "5f0c",
            "averageRating": 4.0,
            "createdAt": "2026-11-25T09:00:00+00:00",
            "reviews": {
                "totalCount": 1,
                "pageInfo": {"hasNextPage": False, "endCursor": "WyJhIl0"},
                "edges": [
                    {
                        "cursor": "WyJhIl0",
                        "node": {"id": "r1", "author": {"id": "u1"}, "booking": None},
                    }
                ],
            },
        }
    }
}
POSTGRAPHILE_S3 = {
    "data": {
        "serviceByRowId": {
            "rowId": "5f0c",
            "averageRating": "4.00",
            "createdAt": "2026-11-25T09:00:00.000000+00:00",
            "reviewsByServiceId": {
                "totalCount": 1,
                "pageInfo": {"hasNextPage": False, "endCursor": "WyJvdGhlciJd"},
                "edges": [
                    {
                        "cursor": "WyJvdGhlciJd",
                        "node": {"rowId": "r1", "userByUserId": {"rowId": "u1"}},
                    }
                ],
            },
        }
    }
}


def test_the_normalisation_equates_names_cursors_times_and_ratings() -> None:
    postgraphile.check("S3", BOOKIT_S3, POSTGRAPHILE_S3)


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (
            lambda s: s["reviewsByServiceId"].update(totalCount=2),
            "/data/service/reviews/totalCount",
        ),
        (lambda s: s.update(averageRating="4.10"), "/data/service/averageRating"),
        (lambda s: s["reviewsByServiceId"]["edges"].clear(), "/data/service/reviews/edges"),
        (lambda s: s["reviewsByServiceId"]["pageInfo"].update(endCursor=None), "endCursor"),
    ],
)
def test_the_normalisation_fails_loudly_where_the_answers_differ(change: Any, where: str) -> None:
    theirs = orjson.loads(orjson.dumps(POSTGRAPHILE_S3))
    change(theirs["data"]["serviceByRowId"])
    with pytest.raises(postgraphile.Differs, match=where):
        postgraphile.check("S3", BOOKIT_S3, theirs)


def _edges(answer: dict[str, Any]) -> list[Any]:
    data = answer["data"]
    connection = data.get("services") or data.get("bookings") or data["service"]["reviews"]
    edges: list[Any] = connection["edges"]
    return edges


async def test_the_webhook_receiver_fails_the_first_attempt_of_every_second_delivery() -> None:
    # given F2's receiver, told to fail half
    transport = httpx.ASGITransport(app=receiver.create_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://receiver.test") as client:
        await client.post("/reset", params={"fail": "1"})

        # when four deliveries arrive, then each of them again
        async def send(webhook_id: str) -> int:
            body = {"type": "booking.created", "timestamp": "2027-01-01T09:00:00+00:00"}
            headers = {"webhook-id": webhook_id}
            return (await client.post("/hooks/0", json=body, headers=headers)).status_code

        first = [await send(f"msg_{n}") for n in range(4)]
        again = [await send(f"msg_{n}") for n in range(4)]

        # then the second and fourth failed once, and every attempt is on record
        assert (first, again) == ([200, 500, 200, 500], [200] * 4)
        attempts = (await client.get("/received")).json()
        assert [(a[0], a[1], a[4]) for a in attempts[:2]] == [
            ("msg_0", "0", 200),
            ("msg_1", "0", 500),
        ]
