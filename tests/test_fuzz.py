"""Fuzzing /graphql: generated operations, valid or not, never get a server error or a leak.

Hypothesis and hypothesis-graphql generate the requests first (derandomized, so
a run is reproducible); the test then sends them in-process, as an anonymous
caller, a user and an admin, and checks every answer. The default budget keeps
CI fast; `BOOKIT_FUZZ_EXAMPLES=20000 .venv/bin/pytest tests/test_fuzz.py` runs
a longer campaign.
"""

from __future__ import annotations

import json
import os
import random
import time
import urllib.parse
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import graphql
import httpx
import hypothesis_graphql
import pytest
from hypothesis import strategies as st
from hypothesis_graphql import nodes
from sqlalchemy import update

from bookit_graphql.config import Settings
from bookit_graphql.permissions import Role
from bookit_graphql.users import auth
from bookit_graphql.users.models import User
from tests.conftest import SECRET
from tests.factories import Rows
from tests.figures import report
from tests.helpers import PASSWORD, generate, gql

T = TypeVar("T")

BUDGET = int(os.environ.get("BOOKIT_FUZZ_EXAMPLES", "1000"))
ROOT = Path(__file__).resolve().parent.parent
SDL = (ROOT / "schema.graphql").read_text()
SCHEMA = graphql.build_schema(SDL)
OPERATIONS = (ROOT / "tests" / "contract" / "operations.graphql").read_text()
# each operation and fragment of the contract, as its own text
DEFINITIONS = [
    OPERATIONS[d.loc.start : d.loc.end] for d in graphql.parse(OPERATIONS).definitions if d.loc
]

# Each family's share of the budget.
SHARES = {
    "queries": 0.18,
    "mutations": 0.20,
    "negative": 0.12,
    "variables": 0.30,  # the cheapest to make, and the deepest into the services
    "garbage": 0.12,
    "http": 0.08,
}
ROLES = ("anonymous", "user", "admin")

CODES = {
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "NOT_FOUND",
    "BAD_USER_INPUT",
    "BOOKING_CONFLICT",
    "INVALID_STATE",
    "ALREADY_EXISTS",
    "RATE_LIMITED",
    "QUERY_TOO_COMPLEX",
    "GRAPHQL_PARSE_FAILED",
    "GRAPHQL_VALIDATION_FAILED",
    "SERVICE_UNAVAILABLE",
}
# Text that must never reach a client: stacks, SQL, driver names, secrets, hashes.
LEAKS = (
    "Traceback",
    'File "',
    "psycopg",
    "sqlalchemy",
    "SELECT ",
    "INSERT ",
    "UPDATE ",
    "DELETE FROM",
    "$2b$",
    SECRET,
)


@dataclass
class Probe:
    """One request: who sends it, and what."""

    family: str
    role: str
    json: Any = None  # a JSON body (any JSON value), or
    content: bytes | None = None  # raw bytes with `content_type`
    content_type: str = "application/json"
    method: str = "POST"
    accept: str | None = None

    def describe(self, limit: int = 300) -> str:
        shown = self.content if self.content is not None else self.json
        return f"{self.family}/{self.role} {self.method} {self.accept} {shown!r:.{limit}}"


# ------------------------------------------------------------------ values


def weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """One of `choices`, each as often as its weight (st.one_of counts a strategy once)."""
    pool = [strategy for weight, strategy in choices for _ in range(weight)]
    return st.sampled_from(pool).flatmap(lambda strategy: strategy)


def future(days: int) -> datetime:
    return (datetime.now(UTC) + timedelta(days=days)).replace(minute=0, second=0, microsecond=0)


def date_times() -> st.SearchStrategy[str]:
    """Valid future instants mostly, and near misses: no offset, past, far, not a date."""
    hours = st.integers(min_value=-48, max_value=24 * 60)
    valid = hours.map(lambda h: (future(1) + timedelta(hours=h)).isoformat())
    return weighted(
        (4, valid),
        (1, hours.map(lambda h: (future(1) + timedelta(hours=h)).replace(tzinfo=None).isoformat())),
        (1, st.sampled_from(["9999-12-31T23:59:59+00:00", "0001-01-01T00:00:00-23:59", "now"])),
        (1, st.text(max_size=30)),
    )


def dates() -> st.SearchStrategy[str]:
    """Local dates mostly, and near misses."""
    return weighted(
        (4, st.dates().map(str)),
        (1, st.sampled_from(["2027-02-30", "2027-3-28", "9999-12-31", "0001-01-01", "today"])),
        (1, st.text(max_size=12)),
    )


def local_times() -> st.SearchStrategy[str]:
    """Wall-clock times mostly ("24:00" too), and near misses."""
    minutes = st.integers(min_value=0, max_value=24 * 60)
    return weighted(
        (4, minutes.map(lambda m: f"{m // 60:02d}:{m % 60:02d}")),
        (1, st.sampled_from(["9:00", "24:01", "12:60", "-01:00", "noon"])),
        (1, st.text(max_size=6)),
    )


def decimals() -> st.SearchStrategy[str]:
    return st.one_of(
        st.decimals(min_value=0, max_value=10_000, places=2).map(str),
        st.decimals(allow_nan=True, allow_infinity=True).map(str),
        st.sampled_from(["-1", "1e9", "0.001", "NaN", "1_000", "99999999999"]),
        st.text(max_size=12),
    )


def texts() -> st.SearchStrategy[str]:
    """Plausible text, any text, and the kinds that break servers: NUL, lone surrogates,
    LIKE and SQL syntax."""
    plausible = st.one_of(
        st.text("abcdefgh", min_size=1, max_size=8).map(lambda name: f"{name}@example.com"),
        st.text("abcdefghij klmnop", min_size=8, max_size=30),
    )
    return weighted(
        (3, plausible),
        (1, st.text(max_size=40)),
        (
            1,
            st.sampled_from(
                [
                    "",
                    " ",
                    "\x00",
                    "ann\x00@example.com",
                    "\ud800",
                    "%",
                    "_%\\",
                    "'; DROP TABLE users; --",
                    "ann@example.com",
                    "correct horse battery",
                    "é" * 40,
                    "x" * 3000,
                ]
            ),
        ),
    )


def json_values() -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        texts(),
    )
    return st.recursive(
        scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=3),
            st.dictionaries(st.text(max_size=10), children, max_size=3),
        ),
        max_leaves=6,
    )


def input_values(
    type_: graphql.GraphQLInputType, ids: st.SearchStrategy[str]
) -> st.SearchStrategy[Any]:
    """JSON variables for a GraphQL input type: plausible mostly, wrong-typed sometimes."""
    plausible: st.SearchStrategy[Any]
    nullable = not isinstance(type_, graphql.GraphQLNonNull)
    named = graphql.get_nullable_type(type_)
    if isinstance(named, graphql.GraphQLList):
        plausible = st.lists(input_values(named.of_type, ids), max_size=3)
    elif isinstance(named, graphql.GraphQLEnumType):
        plausible = st.sampled_from(list(named.values))
    elif isinstance(named, graphql.GraphQLInputObjectType):
        fields = {name: input_values(field.type, ids) for name, field in named.fields.items()}
        required = {
            name: fields.pop(name)
            for name, field in list(named.fields.items())
            if graphql.is_required_input_field(field)
        }
        plausible = st.fixed_dictionaries(required, optional=fields)
    else:
        assert isinstance(named, graphql.GraphQLScalarType)
        plausible = {
            "ID": ids,
            "String": texts(),
            "Int": st.one_of(st.integers(0, 60), st.integers(0, 60), st.integers()),
            "Float": st.floats(),
            "Boolean": st.booleans(),
            "DateTime": date_times(),
            "Decimal": decimals(),
            "Date": dates(),
            "LocalTime": local_times(),
        }[named.name]
    # mostly plausible, so that whole operations get past the types into the services
    return weighted((8, plausible), (1, json_values()), (1 if nullable else 0, st.none()))


# ------------------------------------------------------------------ families


def contract_operations() -> list[tuple[str, dict[str, graphql.GraphQLInputType]]]:
    """The contract's queries and mutations: name and variable types."""
    found = []
    for definition in graphql.parse(OPERATIONS).definitions:
        if not isinstance(definition, graphql.OperationDefinitionNode):
            continue
        if definition.operation == graphql.OperationType.SUBSCRIPTION:
            continue
        assert definition.name is not None
        variables = {
            var.variable.name.value: graphql.type_from_ast(SCHEMA, var.type)
            for var in definition.variable_definitions or ()
        }
        found.append((definition.name.value, variables))  # type: ignore[arg-type]
    return found


def mutate_text() -> st.SearchStrategy[str]:
    """A contract operation, cut, spliced and salted: mostly unparseable, sometimes not."""
    noise = st.one_of(
        st.text(max_size=20),
        st.sampled_from(
            [
                "{",
                "}",
                "(",
                ")",
                "...",
                "$",
                "@include(if: true)",
                "@skip",
                "#",
                '"',
                '"""',
                "\\u0000",
                "__schema { types { name } }",
                "fragment F on Query { ...F }",
                "query",
                "mutation",
                '$x: Int = "a"',
                ": ",
                "!",
            ]
        ),
    )

    @st.composite
    def splice(draw: st.DrawFn) -> str:
        text = draw(st.sampled_from(DEFINITIONS))
        for _ in range(draw(st.integers(1, 3))):
            start = draw(st.integers(0, len(text)))
            end = draw(st.integers(start, min(len(text), start + 40)))
            text = text[:start] + draw(noise) + text[end:]
        return text

    latin = st.binary(max_size=100).map(lambda raw: raw.decode("latin-1"))
    return st.one_of(splice(), splice(), st.text(max_size=200), latin)


def probes(ids: st.SearchStrategy[str]) -> dict[str, st.SearchStrategy[Probe]]:
    scalars = {
        "String": texts().map(nodes.String),
        "Int": st.one_of(st.integers(0, 60), st.integers(0, 60), st.integers()).map(nodes.Int),
        "ID": ids.map(nodes.String),
        "DateTime": st.one_of(date_times().map(nodes.String), st.integers().map(nodes.Int)),
        "Date": st.one_of(dates().map(nodes.String), st.integers().map(nodes.Int)),
        "LocalTime": st.one_of(local_times().map(nodes.String), st.integers().map(nodes.Int)),
        "Decimal": st.one_of(
            decimals().map(nodes.String),
            st.integers().map(nodes.Int),
            st.floats(0, 1e6).map(nodes.Float),
        ),
    }
    roles = st.sampled_from(ROLES)
    accept = st.sampled_from([None, "application/json", "application/graphql-response+json"])

    def documents(family: str, documents: st.SearchStrategy[str]) -> st.SearchStrategy[Probe]:
        return st.builds(
            lambda role, query, accept: Probe(family, role, {"query": query}, accept=accept),
            roles,
            documents,
            accept,
        )

    def operation(
        name: str, types: dict[str, graphql.GraphQLInputType]
    ) -> st.SearchStrategy[Probe]:
        values = {key: input_values(type_, ids) for key, type_ in types.items()}
        for key in values.keys() & {"after", "reviewsAfter"}:  # a made-up cursor is refused
            values[key] = weighted((4, st.none()), (1, values[key]))
        variables = st.fixed_dictionaries(
            values,
            optional={"stray": json_values()},  # a variable that the operation does not declare
        )
        return st.builds(
            lambda variables, role, accept: Probe(
                "variables",
                role,
                {"query": OPERATIONS, "operationName": name, "variables": variables},
                accept=accept,
            ),
            variables,
            roles,
            accept,
        )

    with_variables = st.one_of(*(operation(name, types) for name, types in contract_operations()))

    http = st.one_of(
        st.builds(lambda raw: Probe("http", "anonymous", content=raw), st.binary(max_size=200)),
        st.builds(lambda body: Probe("http", "user", body), json_values()),
        st.builds(
            lambda query, extra: Probe("http", "user", {"query": query, **extra}),
            json_values(),
            st.dictionaries(
                st.sampled_from(["variables", "operationName", "extensions"]), json_values()
            ),
        ),
        st.builds(  # batches
            lambda queries: Probe("http", "user", [{"query": q} for q in queries]),
            st.lists(st.sampled_from(["{ __typename }", "{ me { id } }"]), max_size=5),
        ),
        st.builds(  # forms and other media types
            lambda raw, media: Probe("http", "admin", content=raw, content_type=media),
            st.sampled_from(
                [b"query=%7B__typename%7D", b'{"query": "{ __typename }"}', b"--x\r\n"]
            ),
            st.sampled_from(
                [
                    "application/x-www-form-urlencoded",
                    "multipart/form-data; boundary=x",
                    "text/plain",
                    "",
                ]
            ),
        ),
        st.builds(  # GET, queries and mutations
            lambda query, role: Probe("http", role, {"query": query}, method="GET"),
            st.one_of(
                hypothesis_graphql.queries(SCHEMA, custom_scalars=scalars),
                hypothesis_graphql.mutations(SCHEMA, custom_scalars=scalars),
                st.text(max_size=50),
            ),
            roles,
        ),
    )
    # one root field per document: smaller documents, generated three times faster
    query_type, mutation_type = SCHEMA.query_type, SCHEMA.mutation_type
    assert query_type is not None
    assert mutation_type is not None
    queries = st.one_of(
        *(
            hypothesis_graphql.queries(SCHEMA, fields=[name], custom_scalars=scalars)
            for name in query_type.fields
        )
    )
    mutations = st.one_of(
        *(
            hypothesis_graphql.mutations(SCHEMA, fields=[name], custom_scalars=scalars)
            for name in mutation_type.fields
        )
    )
    negative = hypothesis_graphql.from_schema(
        SCHEMA, custom_scalars=scalars, mode=hypothesis_graphql.Mode.NEGATIVE
    )
    return {
        "queries": documents("queries", queries),
        "mutations": documents("mutations", mutations),
        "negative": documents("negative", negative),
        "variables": with_variables,
        "garbage": documents("garbage", mutate_text()),
        "http": http,
    }


# ------------------------------------------------------------------ the run


class Accounts:
    """Tokens of a user and an admin, re-issued whenever the fuzzer revokes them."""

    def __init__(self, app: Any, settings: Settings) -> None:
        self.factory = app.state.session_factory
        self.settings = settings
        self.tokens: dict[str, str] = {}
        self.ids: dict[str, str] = {}
        self.reissued = 0

    async def make(self, role: str, email: str, user_role: Role = Role.USER) -> None:
        async with self.factory.begin() as session:
            made = await auth.register(
                session, settings=self.settings, email=email, password=PASSWORD, full_name=role
            )
            made.user.role = user_role
        self.tokens[role] = made.access_token
        self.ids[role] = str(made.user.id)

    async def reissue(self, role: str) -> None:
        """Reactivate the account, restore its role and log it in again (no rate limit)."""
        self.reissued += 1
        user_id = uuid.UUID(self.ids[role])
        user_role = Role.ADMIN if role == "admin" else Role.USER
        async with self.factory.begin() as session:
            await session.execute(
                update(User).where(User.id == user_id).values(is_active=True, role=user_role)
            )
            user = await session.get_one(User, user_id)
            tokens = await auth.start_session(session, settings=self.settings, user=user)
        self.tokens[role] = tokens.access_token


def check(probe: Probe, response: httpx.Response, findings: list[str], codes: Counter[str]) -> None:
    """Record what is wrong with one answer."""

    def finding(why: str) -> None:
        answer = f"{response.status_code} {response.text[:300]}"
        findings.append(f"{why}: {answer} <- {probe.describe()}")

    if response.status_code >= 500:
        finding("HTTP 5xx")
    sent = probe.content.decode(errors="replace") if probe.content else json.dumps(probe.json)
    for leak in LEAKS:
        # an error may quote what the client itself sent (an unknown input field's name)
        if leak in response.text and leak not in sent:
            finding(f"leaked {leak!r}")
    if probe.method == "GET" and response.headers.get("content-type", "").startswith("text/html"):
        return
    try:
        body = response.json()
    except json.JSONDecodeError:
        finding("not JSON")
        return
    if not isinstance(body, dict):
        finding("not a JSON object")
        return
    for error in body.get("errors") or []:
        extensions = error.get("extensions") or {}
        code = extensions.get("code")
        codes[str(code)] += 1
        if code == "INTERNAL_SERVER_ERROR":
            finding("INTERNAL_SERVER_ERROR")
        elif code not in CODES:
            finding(f"code {code!r} is not the contract's")
        if {"exception", "stacktrace", "traceback"} & {key.lower() for key in extensions}:
            finding("debug extensions")


async def send(client: httpx.AsyncClient, probe: Probe, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if probe.accept:
        headers["Accept"] = probe.accept
    if probe.method == "GET":
        params = {
            key: value if isinstance(value, str) else json.dumps(value)
            for key, value in probe.json.items()
        }
        # an unpaired surrogate goes out as the bytes a hostile client would send
        query = urllib.parse.urlencode(params, errors="surrogatepass")
        return await client.get(f"/graphql?{query}", headers=headers)
    if probe.content is not None:
        if probe.content_type:
            headers["Content-Type"] = probe.content_type
        return await client.post("/graphql", content=probe.content, headers=headers)
    # json.dumps escapes what httpx would refuse to encode (unpaired surrogates)
    headers["Content-Type"] = "application/json"
    return await client.post("/graphql", content=json.dumps(probe.json), headers=headers)


async def test_fuzzing_finds_no_server_error_and_no_leak(
    client: httpx.AsyncClient,
    app: Any,
    settings: Settings,
    database_url: str,
    rows: Rows,
    request: pytest.FixtureRequest,
) -> None:
    # given a user, an admin, another user, a service and bookings whose ids the fuzzer may use
    accounts = Accounts(app, settings)
    await accounts.make("user", "fuzz-user@example.com")
    await accounts.make("admin", "fuzz-admin@example.com", Role.ADMIN)
    await accounts.make("victim", "fuzz-victim@example.com")
    service_id = await rows.service(title="Fuzzed", price="10.00", duration_minutes=30)
    known = [service_id, accounts.ids["victim"]]
    for day, role in enumerate(("user", "victim"), start=2):
        body = await gql(
            client,
            "mutation($i: CreateBookingInput!) { createBooking(input: $i) { id } }",
            {"i": {"serviceId": service_id, "startsAt": future(day).isoformat()}},
            token=accounts.tokens[role],
        )
        known.append(body["data"]["createBooking"]["id"])
    ids = st.one_of(
        st.sampled_from(known), st.sampled_from(known), st.uuids().map(str), st.text(max_size=40)
    )

    # when the fuzzer's requests are sent, families interleaved
    started = time.monotonic()
    families = probes(ids)
    batch: list[Probe] = []
    for family, share in SHARES.items():
        wanted = round(BUDGET * share)
        # hypothesis repeats itself now and then: ask for more, keep distinct requests
        unique = {p.describe(limit=10**9): p for p in generate(families[family], wanted * 6 // 5)}
        batch.extend(list(unique.values())[:wanted])
    random.Random(7).shuffle(batch)
    generated = time.monotonic()
    findings: list[str] = []
    statuses: Counter[int] = Counter()
    codes: Counter[str] = Counter()
    answered: Counter[str] = Counter()  # per family, answers with data and no error
    for probe in batch:
        token = accounts.tokens.get(probe.role)
        try:
            response = await send(client, probe, token)
        except Exception as error:  # escaped the app: a real server answers 500
            findings.append(f"unhandled {type(error).__name__}: {probe.describe()}")
            statuses[500] += 1
            continue
        if response.status_code == 401 and token is not None:
            await accounts.reissue(probe.role)  # the fuzzer logged out or deactivated it
        statuses[response.status_code] += 1
        check(probe, response, findings, codes)
        if '"errors"' not in response.text and response.status_code == 200:
            answered[probe.family] += 1

    # then nothing failed on the server's side, and nothing leaked
    per_family = Counter(probe.family for probe in batch)
    report(
        request.config,
        f"fuzz: {len(batch)} distinct operations generated ("
        + ", ".join(f"{family} {count}" for family, count in per_family.items())
        + f"; budget {BUDGET}, BOOKIT_FUZZ_EXAMPLES to change it)",
        "fuzz: HTTP statuses " + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items())),
        "fuzz: answered without an error "
        + ", ".join(f"{family} {answered[family]}" for family in per_family),
        "fuzz: error codes " + ", ".join(f"{k}: {v}" for k, v in codes.most_common()),
        f"fuzz: generated in {generated - started:.1f} s, "
        f"sent in {time.monotonic() - generated:.1f} s; tokens re-issued: {accounts.reissued}",
        f"fuzz: server errors or leaks found: {len(findings)}",
    )
    assert len(batch) >= min(BUDGET, 1000)
    kinds = Counter(finding.partition(":")[0] for finding in findings)
    assert not findings, f"{kinds}\n" + "\n".join(findings[:10])
