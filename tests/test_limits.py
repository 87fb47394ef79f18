"""Query limits: every contract operation passes; hostile documents are QUERY_TOO_COMPLEX.

Refused before any resolver runs: the statement counter sees no SQL at all.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from graphql import get_introspection_query, parse

from bookit_graphql import limits
from bookit_graphql.config import ConfigError, Settings
from bookit_graphql.limits import Limits, check, check_kept
from bookit_graphql.schema import schema
from tests.bookings.wsclient import Socket
from tests.conftest import Server, StatementCounter
from tests.helpers import codes, register
from tests.test_contract import DOCUMENT, OPERATIONS, with_fragments

GRAPHQL_RESPONSE = "application/graphql-response+json"
LIMITS = Limits.from_settings(Settings())  # the defaults
# The largest pages and a 31-day window at the default 30-minute step.
CONTRACT_VARIABLES = {
    "first": 100,
    "reviewsFirst": 100,
    "from": "2026-12-01T00:00:00+00:00",
    "to": "2027-01-01T00:00:00+00:00",
}


def nested(levels: int) -> str:
    """service → reviews → edges → node → service → ...: 4 fields a round."""
    inner = "id"
    for _ in range(levels):
        inner = f"service {{ reviews(first: 1) {{ edges {{ node {{ {inner} }} }} }} }}"
    return f"{{ reviews(first: 1) {{ edges {{ node {{ {inner} }} }} }} }}"


def fragment_bomb(levels: int) -> str:
    """Each fragment spreads the next twice: 2**levels fields if expanded naively."""
    fragments = [f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)]
    return "{ ...F0 } " + " ".join(fragments) + f" fragment F{levels} on Query {{ __typename }}"


NESTED_PAGES = """
query($first: Int) {
  services(first: $first) {
    edges { node { reviews(first: $first) { edges { node { id rating comment } } } } }
  }
}
"""
SLOTS_OF_EVERY_SERVICE = """
query($first: Int) {
  services(first: $first) {
    edges {
      node {
        availableSlots(from: "2026-12-01T00:00:00+00:00", to: "2026-12-08T00:00:00+00:00") {
          startsAt
          endsAt
        }
      }
    }
  }
}
"""

# name: (document, variables, the limit that refuses it)
HOSTILE: dict[str, tuple[str, dict[str, Any], str]] = {
    "deep": (nested(3), {}, "depth"),
    "aliases": (
        "{ " + " ".join(f"a{i}: __typename" for i in range(50)) + " }",
        {},
        "aliases",
    ),
    "field duplication x1000": (
        "{ services { edges { node { " + "id " * 1000 + "} } } }",
        {},
        "fields",
    ),
    "directive overloading": (
        "{ __typename " + "@include(if: true) " * 50 + "}",
        {},
        "directives",
    ),
    "unknown directives": ("{ __typename " + "@aa " * 10 + "}", {}, "directives"),
    "huge token count": (
        "query($a: [Int] = [" + "1 " * 5000 + "]) { __typename }",
        {},
        "tokens",
    ),
    "comment flood": ("#\n" * 5000 + "{ __typename }", {}, "tokens"),
    "costly nesting": (NESTED_PAGES, {"first": 100}, "cost"),
    "costly nesting, literal page sizes": (
        "{ services(first: 100) { edges { node { reviews(first: 100) { totalCount } } } } }",
        {},
        "cost",
    ),
    "page size as a float": (NESTED_PAGES, {"first": 100.0}, "cost"),
    "page size as a default": (
        "query A($first: Int = 1) { __typename } "
        + NESTED_PAGES.replace("query(", "query B(").replace("Int)", "Int = 100)"),
        {},
        "cost",
    ),
    "slots of 50 services": (SLOTS_OF_EVERY_SERVICE, {"first": 50}, "cost"),
    "fragment bomb": (fragment_bomb(40), {}, "fields"),
    "circular introspection": (
        "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }",
        {},
        "introspection",
    ),
}


# ---------------------------------------------------------------- the contract passes


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_contract_operation_is_within_the_default_limits(name: str) -> None:
    document = with_fragments(OPERATIONS[name])
    assert check(schema._schema, document, CONTRACT_VARIABLES, LIMITS) == []


def test_the_whole_contract_document_parses_within_the_token_limit() -> None:
    source = (DOCUMENT.loc.source.body if DOCUMENT.loc else "") or ""
    document = parse(source, **LIMITS.parse_options)  # type: ignore[arg-type]
    assert check(schema._schema, document, CONTRACT_VARIABLES, LIMITS) == []


def test_graphiql_introspection_passes() -> None:
    query = get_introspection_query(
        descriptions=True,
        specified_by_url=True,
        directive_is_repeatable=True,
        schema_description=True,
        input_value_deprecation=True,
    )
    assert check(schema._schema, parse(query), {}, LIMITS) == []


def test_realistic_nesting_passes() -> None:
    """A page of services with their latest reviews, or a week of slots for a few."""
    document = parse(NESTED_PAGES)
    assert check(schema._schema, document, {}, LIMITS) == []  # 20 x 20: 2,081
    assert check(schema._schema, document, {"first": 40}, LIMITS) == []  # 8,161
    assert check(schema._schema, document, {"first": 50}, LIMITS) != []  # 12,701
    slots = parse(SLOTS_OF_EVERY_SERVICE)  # 337 slots a week, 2 values each
    assert check(schema._schema, slots, {"first": 10}, LIMITS) == []  # 6,781
    assert check(schema._schema, slots, {"first": 20}, LIMITS) != []  # 13,561


KEPT_PAGES = """
query($first: Int, $q: String, $input: CreateBookingInput!, $from: DateTime!) {
  services(first: $first, filter: { q: $q }) {
    edges { node { reviews(first: $first) { edges { node { id } } } } }
  }
  service(id: "x") { availableSlots(from: $from, to: "2026-12-08T00:00:00+00:00") { startsAt } }
}
"""


def test_kept_limits_follow_the_variables_the_walk_reads_and_no_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a document whose cost reads page sizes and a slot window, and other variables
    document = parse(KEPT_PAGES)
    walks: list[dict[str, Any]] = []
    walk = limits._checked

    def counted(*args: Any) -> Any:
        walks.append(dict(args[2] or {}))
        return walk(*args)

    monkeypatch.setattr(limits, "_checked", counted)
    base = {"first": 10, "from": "2026-12-01T00:00:00+00:00", "input": {"startsAt": "a"}}
    # when the limits are checked with the values the walk does not read changed
    for i in range(3):
        given = {**base, "q": f"query {i}", "input": {"startsAt": str(i)}}
        expected = walk(schema._schema, document, given, LIMITS)[0]  # not counted
        assert check_kept(schema._schema, document, given, LIMITS) == expected
    # then the document was walked once
    assert len(walks) == 1
    # and a page size, a window, or a page size given as null instead of absent, is walked
    # again, with what check says for it
    for given in (
        {**base, "first": 100},
        {**base, "from": "2026-11-01T00:00:00+00:00"},
        {key: value for key, value in base.items() if key != "first"},
        {**base, "first": None},
    ):
        kept = check_kept(schema._schema, document, given, LIMITS)
        assert kept == walk(schema._schema, document, given, LIMITS)[0]
    assert len(walks) == 5
    assert check_kept(schema._schema, document, {**base, "first": 100}, LIMITS) != []
    assert len(walks) == 5  # kept as well


# ---------------------------------------------------------------- hostile documents are refused


@pytest.mark.parametrize("name", sorted(HOSTILE))
async def test_hostile_document_is_too_complex(
    name: str, client: httpx.AsyncClient, statements: StatementCounter
) -> None:
    document, variables, limit = HOSTILE[name]
    statements.clear()
    started = time.perf_counter()
    response = await client.post("/graphql", json={"query": document, "variables": variables})
    elapsed = time.perf_counter() - started

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert codes(body) == ["QUERY_TOO_COMPLEX"], body
    assert body["errors"][0]["extensions"]["limit"] == limit
    assert "data" not in body
    assert statements.count == 0  # nothing ran
    assert elapsed < 1.0

    strict = await client.post(
        "/graphql",
        json={"query": document, "variables": variables},
        headers={"Accept": GRAPHQL_RESPONSE},
    )
    assert strict.status_code == 400
    assert strict.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    assert codes(strict.json()) == ["QUERY_TOO_COMPLEX"]
    assert "data" not in strict.json()


async def test_a_query_under_the_limits_runs(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", json={"query": NESTED_PAGES, "variables": {"first": 5}}
    )
    assert response.json() == {"data": {"services": {"edges": []}}}
    # a page size out of range is the contract's BAD_USER_INPUT, not a cost
    too_big = await client.post(
        "/graphql", json={"query": NESTED_PAGES, "variables": {"first": 101}}
    )
    assert codes(too_big.json()) == ["BAD_USER_INPUT"]


async def test_a_batch_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", json=[{"query": "{ __typename }"}, {"query": "{ __typename }"}]
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    assert codes(response.json()) == ["QUERY_TOO_COMPLEX"]
    assert response.json()["errors"][0]["extensions"]["limit"] == "operations"


async def test_an_oversized_body_is_refused_with_413(client: httpx.AsyncClient) -> None:
    padding = "x" * 150_000
    declared = await client.post(
        "/graphql", json={"query": "{ __typename }", "variables": {"pad": padding}}
    )
    assert declared.status_code == 413
    assert codes(declared.json()) == ["QUERY_TOO_COMPLEX"]
    assert declared.json()["errors"][0]["extensions"]["limit"] == "bodySize"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"query": "{ __typename }", "variables": {"pad": "'
        for _ in range(15):
            yield b"x" * 10_000
        yield b'"}}'

    streamed = await client.post(
        "/graphql", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert streamed.status_code == 413
    assert codes(streamed.json()) == ["QUERY_TOO_COMPLEX"]


async def test_limits_come_from_the_environment(database_url: str) -> None:
    from bookit_graphql.app import create_app

    settings = Settings.from_env(
        {
            "SECRET_KEY": "s" * 40,
            "BOOKIT_MAX_DEPTH": "2",
            "BOOKIT_MAX_ALIASES": "1",
            "BOOKIT_MAX_TOKENS": "25",
            "BOOKIT_MAX_COST": "5",
            "BOOKIT_MAX_BODY_BYTES": "200",
            "BOOKIT_MAX_DIRECTIVES": "1",
            "BOOKIT_MAX_FIELDS": "3",
        }
    )
    app = create_app(settings, database_url)
    transport = httpx.ASGITransport(app=app)
    refused = {
        "depth": '{ service(id: "x") { reviews(first: 0) { totalCount } } }',
        "aliases": "{ a: __typename b: __typename }",
        "tokens": "query($a: [Int] = [" + "1 " * 20 + "]) { __typename }",
        "cost": "{ services(first: 9) { totalCount } }",
        "directives": "{ __typename @skip(if: false) @include(if: true) }",
        "fields": "{ __typename __typename __typename __typename }",
        "bodySize": "{ __typename }" + " " * 200,
    }
    async with httpx.AsyncClient(transport=transport, base_url="http://bookit.test") as client:
        assert (await client.post("/graphql", json={"query": "{ __typename }"})).json() == {
            "data": {"__typename": "Query"}
        }
        for limit, query in refused.items():
            body = (await client.post("/graphql", json={"query": query})).json()
            assert codes(body) == ["QUERY_TOO_COMPLEX"], (limit, body)
            assert body["errors"][0]["extensions"]["limit"] == limit
    await app.state.engine.dispose()


def test_bad_limits_are_a_configuration_error() -> None:
    with pytest.raises(ConfigError):
        Settings.from_env({"BOOKIT_MAX_COST": "0"})
    with pytest.raises(ConfigError):
        Settings.from_env({"BOOKIT_MAX_DEPTH": "deep"})


# ---------------------------------------------------------------- over a WebSocket


async def test_limits_hold_over_websockets(start_server: Callable[..., Server]) -> None:
    server = start_server(BOOKIT_MAX_SUBSCRIPTIONS="1")
    async with httpx.AsyncClient(base_url=server.base, timeout=30) as client:
        token = (await register(client, "ws@example.com"))["accessToken"]
    socket = await Socket.connect(server.ws, token)
    try:
        # a costly document sent as a subscription is refused like over HTTP
        cycle = "booking { service { reviews { edges { node { %s } } } } }"
        deep = "subscription { bookingChanged { " + cycle % (cycle % "booking { id }") + " } }"
        await socket.connection.send(
            json.dumps({"id": "deep", "type": "subscribe", "payload": {"query": deep}})
        )
        refused = await socket.receive()
        assert refused["type"] == "error"
        assert [e["extensions"]["code"] for e in refused["payload"]] == ["QUERY_TOO_COMPLEX"]

        # one subscription too many: Strawberry's message, with the contract's code
        await socket.subscribe("1")
        await socket.subscribe("2")
        over = await socket.receive()
        assert over["id"] == "2"
        assert over["payload"][0]["message"] == "Subscription limit reached"
        assert over["payload"][0]["extensions"] == {
            "code": "QUERY_TOO_COMPLEX",
            "limit": "subscriptions",
        }
    finally:
        await socket.close()
