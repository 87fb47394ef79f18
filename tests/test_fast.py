"""The fast path (fast.py) answers exactly what the full path answers: a differential test.

Two apps share one database loaded with the demo data, one with BOOKIT_FAST_PATH
on, the other off. Every operation of every contract file (with representative
variables, missing ids, bad variables and refusals), test_compiled's cases and
a set of odd requests go to both, as an anonymous caller, a user, an admin and
a bad token, with the same X-Request-ID; the status, the headers, the body
bytes, the access-log record and the operations metric must be the same, and
every success of a query must have been served by the fast path
(`fast.SERVED`), so that the comparison cannot pass by both apps taking the
full path.
"""

from __future__ import annotations

import gc
import logging
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import graphql
import httpx
import orjson
import psycopg
import pytest

from bookit_graphql import demo, documents, fast, metrics
from bookit_graphql.app import create_app
from bookit_graphql.config import Settings
from bookit_graphql.db import libpq_url, migrate
from tests.conftest import SECRET, StatementCounter
from tests.documents.support import contract_documents
from tests.helpers import LOGIN, gql
from tests.test_compiled import (
    CASES,
    SCALE,
    TODAY,
    UNKNOWN_ID,
    bind,
    end_cursor,
    find_known,
)

ROOT = Path(__file__).resolve().parent.parent
CONTRACT_FILES = sorted((ROOT / "tests" / "contract").glob("*.graphql"))
CALLERS = ("anonymous", "user", "admin", "bad token")
DAY = {"from": "2026-12-01T00:00:00Z", "to": "2026-12-02T00:00:00Z"}

# Variables for the contract's operations that test_compiled's cases do not cover;
# each operation not named here is also sent with no variables at all.
VARIABLES: dict[str, list[dict[str, Any]]] = {
    "ServiceRules": [{"id": "<popular>"}, {"id": UNKNOWN_ID}, {"id": 5}],
    "Slots": [
        {"id": "<popular>", **DAY},
        {"id": "<popular>", **DAY, "timeZone": "Europe/Berlin"},
        {"id": "<popular>", **DAY, "timeZone": "Nowhere/Zone"},
        {"id": "<popular>", "from": "yesterday", "to": DAY["to"]},
    ],
    "WebhookEndpoints": [{"first": 5}, {"first": "five"}],
    "WebhookDeliveries": [{"endpointId": UNKNOWN_ID}, {"endpointId": "nope", "status": "SENT"}],
    "MyNotifications": [{"first": 3}, {"first": 101}],
    "Me": [{"unused": 1}],
    "Services": [{"first": 2**40}, {"orderBy": {"field": "NOPE"}}, {"filter": {"q": "a\u0000b"}}],
    "Service": [{"id": None}, {"id": ["<popular>"]}],
    "CreateBooking": [{"input": {"serviceId": UNKNOWN_ID}}],
}

# Requests that are not a plain query: each must answer as the full path does.
ODD: list[tuple[str, dict[str, Any]]] = [
    ("not JSON", {"content": b"{nope", "headers": {"content-type": "application/json"}}),
    ("a JSON string", {"content": b'"query"', "headers": {"content-type": "application/json"}}),
    (
        "text/plain",
        {"content": b'{"query": "{ me { id } }"}', "headers": {"content-type": "text/plain"}},
    ),
    ("no query", {"json": {"variables": {}}}),
    ("a batch", {"json": [{"query": "{ __typename }"}, {"query": "{ __typename }"}]}),
    ("does not parse", {"json": {"query": "query {"}}),
    ("does not validate", {"json": {"query": "{ services { nope } }"}}),
    ("no such operation", {"json": {"query": "query A { __typename }", "operationName": "B"}}),
    (
        "two operations, none named",
        {"json": {"query": "query A { __typename } query B { me { id } }"}},
    ),
    ("operationName not a string", {"json": {"query": "{ __typename }", "operationName": 5}}),
    ("variables not an object", {"json": {"query": "{ __typename }", "variables": [1]}}),
    ("extensions", {"json": {"query": "{ __typename }", "extensions": {"x": 1}}}),
    ("a typename", {"json": {"query": "{ __typename }"}}),
    ("unknown keys", {"json": {"query": "{ __typename }", "documentId": "x"}}),
    (
        "a NUL in a literal",
        {"json": {"query": '{ services(filter: { q: "a\\u0000" }) { totalCount } }'}},
    ),
    (
        "too costly",
        {
            "json": {
                "query": "{ services(first: 100) { edges { node { reviews(first: 100) { "
                "edges { node { author { bookings: id } } } } } } } }"
            }
        },
    ),
    (
        "too deep",
        {
            "json": {
                "query": "{ bookings { edges { node { service { reviews { edges { node { booking { "
                "service { reviews { edges { node { id } } } } } } } } } } } } }"
            }
        },
    ),
    ("introspection", {"json": {"query": "{ __schema { queryType { name } } }"}}),
    ("a mutation", {"json": {"query": "mutation { logout { ok } }"}}),
    ("a subscription", {"json": {"query": "subscription { bookingChanged { event } }"}}),
    (
        "graphql-response+json",
        {
            "json": {"query": "{ services(first: 1) { totalCount } }"},
            "headers": {"accept": "application/graphql-response+json"},
        },
    ),
    (
        "graphql-response+json, refused",
        {
            "json": {"query": "{ bookings { totalCount } }"},
            "headers": {"accept": "application/graphql-response+json"},
        },
    ),
    (
        "graphql-response+json, bad variables",
        {
            "json": {
                "query": "query($n: Int) { services(first: $n) { totalCount } }",
                "variables": {"n": "x"},
            },
            "headers": {"accept": "application/graphql-response+json"},
        },
    ),
    (
        "event stream",
        {"json": {"query": "{ __typename }"}, "headers": {"accept": "text/event-stream"}},
    ),
    (
        "a non-compiled field",
        {
            "json": {
                "query": "{ services(first: 2) { edges { node { id availableSlots("
                'from: "2026-12-01T08:00:00Z", to: "2026-12-01T12:00:00Z") { startsAt } } } } }'
            }
        },
    ),
    (
        "two root fields",
        {
            "json": {
                "query": "{ __typename services(first: 2) { totalCount edges { cursor } } "
                "me { email } }"
            }
        },
    ),
    ("a page too large", {"json": {"query": "{ services(first: 101) { totalCount } }"}}),
]


def contract_requests() -> Iterator[tuple[str, dict[str, Any], bool]]:
    """(name, request body, whether a query) of every contract file's operations."""
    covered = {case.operation for case in CASES}
    for path in CONTRACT_FILES:
        text = path.read_text()
        for definition in graphql.parse(text).definitions:
            if not isinstance(definition, graphql.OperationDefinitionNode):
                continue
            assert definition.name is not None
            name = definition.name.value
            sets = [{}, *VARIABLES.get(name, [])]
            if name in covered:  # test_compiled's cases give it its variables as well
                sets += [dict(c.variables or {}) for c in CASES if c.operation == name]
            for variables in sets:
                shown = orjson.dumps(variables).decode()
                body = {"query": text, "operationName": name, "variables": variables}
                yield f"{path.name}:{name}{shown}", body, definition.operation.value == "query"


def written_requests() -> Iterator[tuple[str, dict[str, Any]]]:
    """test_compiled's hand-written documents (aliases, fragments, directives, errors)."""
    for case in CASES:
        if case.operation is None:
            yield case.name, {"query": case.document, "variables": dict(case.variables or {})}


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    log: dict[str, Any]
    operations: dict[tuple[str, ...], float]  # the operations metric's change


@dataclass
class Twins:
    """The same app with the fast path on and off, on one database."""

    clients: dict[str, httpx.AsyncClient]  # "on", "off"
    counters: dict[str, StatementCounter]
    tokens: dict[str, str | None]
    known: dict[str, str]
    log: list[logging.LogRecord]
    url: str  # the shared database's
    logins: dict[str, dict[str, str]]  # the demo user's and the admin's email and password

    async def send(self, name: str, request: Mapping[str, Any], caller: str) -> Answer:
        kwargs = dict(request)
        headers = dict(kwargs.pop("headers", {}))
        headers["x-request-id"] = uuid.uuid4().hex  # the same id for both
        token = self.tokens[caller]
        if token is not None:
            headers["authorization"] = f"Bearer {token}"
        if "json" in kwargs:
            kwargs["json"] = bind(kwargs["json"], self.known)
        before = operations()
        self.log.clear()
        response = await self.clients[name].post("/graphql", headers=headers, **kwargs)
        records = [getattr(r, "fields", {}) for r in self.log if r.name == "bookit.request"]
        assert len(records) == 1, records
        log = {k: v for k, v in records[0].items() if k != "duration_ms"}
        after = operations()
        changed = {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}
        return Answer(
            response.status_code, response.headers.multi_items(), response.content, log, changed
        )

    async def both(
        self, request: Mapping[str, Any], caller: str, what: str, *, query: bool = True
    ) -> Answer:
        """Send the request to both apps; assert they answer the same; the fast app's answer.

        `query`: the request is a query the fast path may answer (if it succeeds).
        """
        served = fast.SERVED["fast"]
        on = await self.send("on", request, caller)
        took_fast = fast.SERVED["fast"] > served
        off = await self.send("off", request, caller)
        assert fast.SERVED["fast"] == served + took_fast  # the other app has no fast path
        what = f"{what} as {caller}"
        assert on.status == off.status, what
        # headers: the same names, values and order, but the request ids (each app's own)
        assert without_id(on.headers) == without_id(off.headers), what
        if on.body != off.body:  # errors of fields resolved concurrently come in any order
            assert same_errors(on.body, off.body), f"{what}\non:  {on.body!r}\noff: {off.body!r}"
        assert without_id(on.log) == without_id(off.log), what
        assert on.operations == off.operations, what
        # and every success of a query came by the fast path, nothing else
        success = (
            on.status == 200 and on.body.startswith(b'{"data":') and b'"errors"' not in on.body
        )
        assert took_fast == (success and query), what
        return on


def without_id(items: Any) -> Any:
    if isinstance(items, dict):
        return {k: v for k, v in items.items() if k != "request_id"}
    return [(k, v) for k, v in items if k.lower() != "x-request-id"]


def same_errors(a: bytes, b: bytes) -> bool:
    parsed = [orjson.loads(a), orjson.loads(b)]
    for body in parsed:
        body["errors"].sort(key=lambda error: orjson.dumps(error, option=orjson.OPT_SORT_KEYS))
    return parsed[0] == parsed[1]


def operations() -> dict[tuple[str, ...], float]:
    return {
        tuple(sample.labels.values()): sample.value
        for family in metrics.OPERATIONS.collect()
        for sample in family.samples
        if sample.name.endswith("_total")
    }


class Records(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__(logging.INFO)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
async def twins(make_database: Any) -> AsyncIterator[Twins]:
    # given the demo data set, small, on a database of its own
    url: str = make_database()
    migrate(url)
    loaded = await demo.load(url, bcrypt_rounds=4, seed=7, scale=SCALE, today=TODAY)
    known = find_known(libpq_url(url))
    apps = {
        name: create_app(
            Settings(secret_key=SECRET, bcrypt_rounds=4, rate_limit=False, fast_path=flag), url
        )
        for name, flag in (("on", True), ("off", False))
    }
    counters = {name: StatementCounter() for name in apps}
    for name, app in apps.items():
        counters[name].attach(app)
    records: list[logging.LogRecord] = []
    handler = Records(records)
    logger = logging.getLogger("bookit.request")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    clients = {
        name: httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bookit.test"
        )
        for name, app in apps.items()
    }
    tokens: dict[str, str | None] = {"anonymous": None, "bad token": "junk"}
    logins = {}
    for caller, credentials in (("user", loaded.user), ("admin", loaded.admin)):
        login = logins[caller] = {"email": credentials.email, "password": credentials.password}
        body = await gql(clients["off"], LOGIN, {"input": login})
        tokens[caller] = body["data"]["login"]["accessToken"]
    twins = Twins(clients, counters, tokens, known, records, libpq_url(url), logins)
    contract = (ROOT / "tests" / "contract" / "operations.graphql").read_text()
    for name, operation, variables in (
        ("services_cursor", "Services", {"first": 3}),
        ("reviews_cursor", "Service", {"id": "<popular>", "reviewsFirst": 3}),
        ("bookings_cursor", "Bookings", {"first": 3}),
    ):
        request = {"query": contract, "operationName": operation, "variables": variables}
        headers = {"authorization": f"Bearer {tokens['admin']}"}
        response = await clients["off"].post("/graphql", json=bind(request, known), headers=headers)
        body = response.json()
        known[name] = str(end_cursor(body, reviews=name == "reviews_cursor"))
    try:
        yield twins
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        for client in clients.values():
            await client.aclose()
        for app in apps.values():
            await app.state.reads.close()
            await app.state.engine.dispose()


def _ids(requests: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    return [pytest.param(body, id=name) for name, body in requests]


@pytest.mark.parametrize(
    ("body", "query"), [pytest.param(b, q, id=name) for name, b, q in contract_requests()]
)
async def test_contract_operations_answer_the_same_both_ways(
    twins: Twins, body: dict[str, Any], query: bool
) -> None:
    # given an operation of the contract, and each caller in turn (but Logout's own:
    # it would end the session that the other tests' tokens belong to)
    for caller in CALLERS if body["operationName"] != "Logout" else ("anonymous", "bad token"):
        # when it goes to both apps, then they answer the same bytes (checked in `both`)
        await twins.both({"json": body}, caller, body["operationName"], query=query)


@pytest.mark.parametrize("body", _ids(list(written_requests())))
async def test_written_documents_answer_the_same_both_ways(
    twins: Twins, body: dict[str, Any]
) -> None:
    for caller in CALLERS:
        await twins.both({"json": body}, caller, body["query"][:40])


@pytest.mark.parametrize("request_", [pytest.param(r, id=name) for name, r in ODD])
async def test_odd_requests_answer_the_same_both_ways(
    twins: Twins, request_: dict[str, Any]
) -> None:
    text = str(request_)
    query = not any(
        word in text for word in ("mutation", "subscription", "documentId", "extensions")
    )
    for caller in CALLERS:
        await twins.both(request_, caller, text[:60], query=query)


async def test_the_fast_path_serves_the_benchmark_reads_and_a_repeat(twins: Twins) -> None:
    # given the three benchmark reads
    contract = (ROOT / "tests" / "contract" / "operations.graphql").read_text()
    reads = [
        ("Services", {"first": 50}, "anonymous"),
        ("Bookings", {"first": 50}, "admin"),
        ("Service", {"id": "<popular>", "reviewsFirst": 20}, "anonymous"),
    ]
    for operation, variables, caller in reads:
        body = {"query": contract, "operationName": operation, "variables": variables}
        # when each is sent twice, then both times by the fast path, with data
        for _ in range(2):
            served, direct = fast.SERVED["fast"], fast.SERVED["direct"]
            answer = await twins.both({"json": body}, caller, operation)
            assert fast.SERVED["fast"] == served + 1
            # with no executor: the root field's resolver, and its compiled answer
            assert fast.SERVED["direct"] == direct + 1
            data = orjson.loads(answer.body)["data"]
            assert data[operation[0].lower() + operation[1:]] is not None


async def test_a_fast_read_is_one_compiled_statement_whatever_its_page_size(
    twins: Twins,
) -> None:
    contract = (ROOT / "tests" / "contract" / "operations.graphql").read_text()
    counter = twins.counters["on"]
    for operation, sizes, caller, size_variable in (
        ("Services", (1, 10, 50), "anonymous", "first"),
        ("Bookings", (1, 10, 50), "admin", "first"),
        ("Service", (1, 5, 20), "anonymous", "reviewsFirst"),
    ):
        counts = []
        await twins.send("on", {"json": bookings_body(contract, 1)}, caller)  # a session seen
        for size in sizes:
            variables: dict[str, Any] = {size_variable: size}
            if operation == "Service":
                variables["id"] = "<popular>"
            body = {"query": contract, "operationName": operation, "variables": variables}
            # when the read goes by the fast path
            served = fast.SERVED["fast"]
            counter.clear()
            await twins.send("on", {"json": body}, caller)
            assert fast.SERVED["fast"] == served + 1, operation
            # then one compiled statement, which checks an authenticated caller's session
            compiled = [s for s in counter.statements if "/* compiled */" in s]
            assert len(compiled) == 1, (operation, size, counter.statements)
            counts.append(counter.count)
        assert counts == [1] * len(sizes), (operation, counts)


def bookings_body(contract: str, first: int) -> dict[str, Any]:
    return {"query": contract, "operationName": "Bookings", "variables": {"first": first}}


async def fresh_session(twins: Twins, caller: str) -> dict[str, str]:
    """A new session of the demo `caller`, seen by the fast path: its tokens."""
    body = await gql(twins.clients["off"], LOGIN, {"input": twins.logins[caller]})
    tokens: dict[str, str] = body["data"]["login"]
    twins.tokens["fresh"] = tokens["accessToken"]
    contract = (ROOT / "tests" / "contract" / "operations.graphql").read_text()
    await twins.both({"json": bookings_body(contract, 5)}, "fresh", "a first read")
    twins.counters["on"].clear()
    await twins.send("on", {"json": bookings_body(contract, 5)}, "fresh")
    assert twins.counters["on"].count == 1  # the session check in the page's statement
    return tokens


async def test_a_request_after_its_session_is_revoked_is_refused_as_before(
    twins: Twins,
) -> None:
    # given a session that the fast path has seen live (and checks within its reads)
    tokens = await fresh_session(twins, "user")
    contract = (ROOT / "tests" / "contract" / "operations.graphql").read_text()
    # when it logs out (the revocation commits), then its next read, and the one after,
    # is refused by both apps alike: status, headers, bytes, log record, metrics
    logout = {"query": contract, "operationName": "Logout"}
    logout["variables"] = {"refreshToken": tokens["refreshToken"]}
    assert (await twins.clients["off"].post("/graphql", json=logout)).status_code == 200
    for what in ("the next read", "a later read"):
        refused = await twins.both({"json": bookings_body(contract, 5)}, "fresh", what)
        assert refused.status == 401, refused.body
        assert refused.log.get("user_id") is None


async def test_a_user_changed_since_its_session_was_seen_is_read_afresh(
    twins: Twins,
) -> None:
    # given a session of the demo user that the fast path has seen live
    await fresh_session(twins, "user")
    contract = (ROOT / "tests" / "contract" / "operations.graphql").read_text()
    with psycopg.connect(twins.url, autocommit=True) as connection:
        user = connection.execute(
            "SELECT id FROM users WHERE email = %s", (twins.logins["user"]["email"],)
        ).fetchone()
        assert user is not None
        try:
            # when the user becomes an admin
            connection.execute("UPDATE users SET role = 'ADMIN' WHERE id = %s", user)
            # then its next read is an admin's (every booking), on both apps alike
            answer = await twins.both({"json": bookings_body(contract, 50)}, "fresh", "promoted")
            users = {edge["node"]["user"]["id"] for edge in edges_of(answer)}
            assert len(users) > 1, users
        finally:
            connection.execute("UPDATE users SET role = 'USER' WHERE id = %s", user)
        # and again a user's own, once demoted
        answer = await twins.both({"json": bookings_body(contract, 50)}, "fresh", "demoted")
        assert {edge["node"]["user"]["id"] for edge in edges_of(answer)} == {str(user[0])}


def edges_of(answer: Answer) -> list[dict[str, Any]]:
    edges: list[dict[str, Any]] = orjson.loads(answer.body)["data"]["bookings"]["edges"]
    return edges


async def test_errors_of_the_execution_are_answered_without_executing_again(
    twins: Twins,
) -> None:
    # given a service that does not exist, and a page size out of range
    contract = (ROOT / "tests" / "contract" / "operations.graphql").read_text()
    for operation, variables in (("Service", {"id": UNKNOWN_ID}), ("Services", {"first": 101})):
        body = {"query": contract, "operationName": operation, "variables": variables}
        # when it goes by the fast path
        answered = fast.SERVED["errors"]
        twins.counters["on"].clear()
        answer = await twins.both({"json": body}, "anonymous", operation)

        # then the fast path answered its error (as the full path would: `both`), having
        # run its statement once
        assert b'"errors"' in answer.body
        assert fast.SERVED["errors"] == answered + 1
        assert len(twins.counters["on"].statements) <= 1


async def test_a_root_field_not_answered_compiled_is_completed_without_resolving_again(
    twins: Twins,
) -> None:
    # given reads whose one root field a plan resolves itself: one that fails (NOT_FOUND,
    # a refusal of the anonymous caller) and one that is not compiled (availableSlots)
    contract = (ROOT / "tests" / "contract" / "operations.graphql").read_text()
    slots = (
        '{ services(first: 2) { edges { node { id availableSlots(from: "2026-12-01T08:00:00Z", '
        'to: "2026-12-01T12:00:00Z") { startsAt } } } } }'
    )
    for body, caller in (
        ({"query": contract, "operationName": "Service", "variables": {"id": UNKNOWN_ID}}, "user"),
        ({"query": contract, "operationName": "Bookings", "variables": {}}, "anonymous"),
        ({"query": slots}, "anonymous"),
    ):
        # when it goes by the fast path
        replayed, direct = fast.SERVED["replayed"], fast.SERVED["direct"]
        twins.counters["on"].clear()
        await twins.both({"json": body}, caller, str(body)[:60])
        on = list(twins.counters["on"].statements)
        twins.counters["off"].clear()
        await twins.send("off", {"json": body}, caller)
        # then graphql-core completed what the resolver gave (the same answer: `both`),
        # with each statement sent once, and none the full path does not send (a
        # known user's session check rides in the compiled read: one fewer)
        assert fast.SERVED["replayed"] == replayed + 1
        assert fast.SERVED["direct"] == direct
        assert len(on) == len(set(on)), on
        assert len(on) <= len(twins.counters["off"].statements), on


async def registered(twins: Twins) -> dict[str, str]:
    """Each contract operation registered as a trusted document (on the shared database):
    its id by operation name."""
    texts = contract_documents()
    app = twins.clients["off"]._transport.app  # type: ignore[attr-defined]
    schema = app.state.view.graphql_schema
    for text in texts.values():
        await app.state.documents.register(documents.checked(text, schema), source="manifest")
    return {name: documents.document_id(text) for name, text in texts.items()}


@pytest.mark.parametrize(
    ("body", "query"), [pytest.param(b, q, id=name) for name, b, q in contract_requests()]
)
async def test_contract_operations_by_document_id_answer_the_same_both_ways(
    twins: Twins, body: dict[str, Any], query: bool
) -> None:
    # given the contract's operations registered as trusted documents
    ids = await registered(twins)
    name = body["operationName"]
    by_id = {"documentId": ids[name], "variables": body["variables"]}
    for caller in CALLERS if name != "Logout" else ("anonymous", "bad token"):
        # when one is sent by its id to both apps, then they answer the same bytes, a
        # success of a query by the fast path, and counted under the document's name
        answer = await twins.both({"json": by_id}, caller, name, query=query)
        labels = {label for key in answer.operations for label in key}
        assert name in labels or not answer.operations, answer.operations


async def test_required_mode_holds_on_the_fast_path(make_database: Any) -> None:
    # given an app that accepts only trusted documents, with the fast path on
    url: str = make_database()
    migrate(url)
    settings = Settings(
        secret_key=SECRET,
        bcrypt_rounds=4,
        rate_limit=False,
        fast_path=True,
        trusted_documents="required",
    )
    app = create_app(settings, url)
    text = contract_documents()["Services"]
    schema = app.state.view.graphql_schema
    await app.state.documents.register(documents.checked(text, schema), source="manifest")
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://b.test") as client:
            # when an anonymous caller sends free-form text, then it is refused, fast path or not
            for _ in range(2):
                refused = await client.post("/graphql", json={"query": text})
                assert refused.json()["errors"][0]["extensions"]["code"] == (
                    "PERSISTED_QUERY_NOT_IN_LIST"
                )
            # and by the document's id, it is answered by the fast path
            served = fast.SERVED["fast"]
            by_id = {"documentId": documents.document_id(text), "variables": {"first": 1}}
            answered = await client.post("/graphql", json=by_id)
            assert answered.status_code == 200
            assert "errors" not in answered.json()
            assert fast.SERVED["fast"] == served + 1
    finally:
        await app.state.reads.close()
        await app.state.engine.dispose()


async def test_cors_and_the_request_log_are_the_same_on_the_direct_route(
    make_database: Any,
) -> None:
    # given two apps with CORS configured, one with the fast path (POST /graphql taken in
    # front of Starlette's routing) and one without
    url: str = make_database()
    migrate(url)
    apps = {
        flag: create_app(
            Settings(
                secret_key=SECRET,
                bcrypt_rounds=4,
                rate_limit=False,
                fast_path=flag,
                cors_origins=("https://app.example",),
            ),
            url,
        )
        for flag in (True, False)
    }
    records: list[logging.LogRecord] = []
    handler = Records(records)
    logger = logging.getLogger("bookit.request")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    query = {"query": "{ services(first: 1) { totalCount } }"}
    try:
        for headers in (
            {},
            {"origin": "https://app.example"},
            {"origin": "https://elsewhere.example"},
            {"origin": "https://app.example", "x-request-id": "given-id"},
        ):
            answers = []
            for flag, app in apps.items():
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://b.test") as c:
                    records.clear()
                    served = fast.SERVED["fast"]
                    response = await c.post("/graphql", json=query, headers=headers)
                    assert fast.SERVED["fast"] == served + flag
                logged = [getattr(r, "fields", {}) for r in records if r.name == logger.name]
                assert len(logged) == 1
                answers.append(
                    (
                        response.status_code,
                        without_id(response.headers.multi_items()),
                        response.content,
                        without_id({k: v for k, v in logged[0].items() if k != "duration_ms"}),
                        "given-id" if "x-request-id" in headers else None,
                        response.headers["x-request-id"] if "x-request-id" in headers else None,
                    )
                )
            # when each goes to both, then the same status, headers (CORS's included),
            # body and log record, and the request id a client gave is echoed by both
            assert answers[0] == answers[1], headers
            assert answers[0][4] == answers[0][5]
            assert ("access-control-allow-origin", "https://app.example") in answers[0][1] or (
                headers.get("origin") != "https://app.example"
            )
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        for app in apps.values():
            await app.state.reads.close()
            await app.state.engine.dispose()


async def test_plain_variables_are_coerced_once_per_plan(twins: Twins) -> None:
    # given the contract's Service (an ID and an Int) and Services (an input object)
    contract = (ROOT / "tests" / "contract" / "operations.graphql").read_text()
    app = twins.clients["on"]._transport.app  # type: ignore[attr-defined]
    path: fast.FastPath = app.state.view.fast
    for operation, variables, kept in (
        ("Service", {"id": "<popular>", "reviewsFirst": 2}, True),
        ("Services", {"first": 2, "filter": {"q": "a"}}, False),
    ):
        body = {"query": contract, "operationName": operation, "variables": variables}
        # when it is sent twice, the same both ways
        for _ in range(2):
            await twins.both({"json": body}, "anonymous", operation)
        # then plain scalars are kept coerced by the plan, an input object never
        plan = path.plans[(contract, operation)]
        assert plan is not None
        shown = repr(bind(variables, twins.known))
        assert (shown in plan.coerced) == kept, (operation, list(plan.coerced))


def spying(seen: dict[str, Any], name: str, resolve: Any) -> Any:
    """`resolve`, noting its info and arguments in seen[name]."""

    def spy(source: Any, info: Any, **args: Any) -> Any:
        seen[name] = (info, args)
        return resolve(source, info, **args)

    return spy


async def test_a_direct_resolver_gets_the_info_that_the_executor_gives(twins: Twins) -> None:
    # given the benchmark's S3 read, and a spy on `service`'s resolver in both apps
    contract = (ROOT / "tests" / "contract" / "operations.graphql").read_text()
    body = {
        "query": contract,
        "operationName": "Service",
        "variables": {"id": "<popular>", "reviewsFirst": 2},
    }
    seen: dict[str, Any] = {}
    fields = {}
    for name, client in twins.clients.items():
        app = client._transport.app  # type: ignore[attr-defined]
        field = app.state.view.graphql_schema.query_type.fields["service"]
        fields[name] = (field, field.resolve)

        field.resolve = spying(seen, name, field.resolve)
    try:
        # when it goes to both (directly to the resolver on one, by the executor on the other)
        direct = fast.SERVED["direct"]
        await twins.both({"json": body}, "user", "Service")
        assert fast.SERVED["direct"] == direct + 1
    finally:
        for field, resolve in fields.values():
            field.resolve = resolve

    # then the resolver had the same arguments and the same info, but the helpers for
    # asynchronous work, which no resolver uses
    def shown(info: Any) -> dict[str, Any]:
        return {
            "class": type(info),
            "field_name": info.field_name,
            "field_nodes": [graphql.print_ast(node) for node in info.field_nodes],
            "return_type": str(info.return_type),
            "parent_type": info.parent_type.name,
            "path": (info.path.as_list(), info.path.typename),
            "fragments": {k: graphql.print_ast(v) for k, v in info.fragments.items()},
            "root_value": info.root_value,
            "operation": graphql.print_ast(info.operation),
            "variable_values": info.variable_values,
            "context": type(info.context),
            "is_awaitable": info.is_awaitable,
            "abort_signal": info.abort_signal,
            "operation_extensions": info.operation_extensions,
            "fields": len(info),
        }

    (on, on_args), (off, off_args) = seen["on"], seen["off"]
    assert on_args == off_args
    assert shown(on) == shown(off)
    assert on.context.user is not None
    assert on.context.user.id == off.context.user.id


async def test_a_request_leaves_no_cycle_for_the_garbage_collector(twins: Twins) -> None:
    # given the S3 read, called as ASGI on the app with the fast path (the full path's
    # Strawberry execution makes cycles of its own)
    contract = (ROOT / "tests" / "contract" / "operations.graphql").read_text()
    variables = bind({"id": "<popular>", "reviewsFirst": 2}, twins.known)
    body = orjson.dumps({"query": contract, "operationName": "Service", "variables": variables})
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    app = twins.clients["on"]._transport.app  # type: ignore[attr-defined]

    async def call() -> None:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/graphql",
            "raw_path": b"/graphql",
            "root_path": "",
            "query_string": b"",
            "headers": [(b"host", b"b.test"), (b"content-type", b"application/json")],
            "client": ("127.0.0.1", 5000),
            "server": ("b.test", 80),
            "state": {},
        }
        await app(scope, receive, send)

    await call()  # its plan, limits and validation made, once
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(3):
            await call()
        # when the collector looks for cycles
        gc.collect()
        left = [type(found).__name__ for found in gc.garbage]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    # then the requests were answered, and no request's context was left to it
    assert statuses == [200] * 4
    assert "Context" not in left
    assert "Request" not in left
