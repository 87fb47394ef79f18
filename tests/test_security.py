"""Attacks in the spirit of the usual GraphQL scanners, each refused without a side effect.

Alias, field and directive overloading, circular fragments, introspection in
production, batches, GET and form CSRF, debug leaks, forged and misused tokens,
other users' ids in every argument that takes one (IDOR), and oversized or
unstorable text in every text input. The module reports how many attacks it
saw refused.
"""

from __future__ import annotations

import base64
import json
import uuid
import warnings
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import func, select

from bookit_graphql.app import create_app
from bookit_graphql.bookings import models as bookings
from bookit_graphql.catalog.models import Service
from bookit_graphql.config import Settings
from bookit_graphql.reviews.models import Review
from bookit_graphql.users import service as users_service
from bookit_graphql.users.models import User
from tests.conftest import SECRET, StatementCounter
from tests.factories import Rows
from tests.figures import report
from tests.helpers import LOGIN, PASSWORD, Account, make_admin, register, sign_up

REFUSED: Counter[str] = Counter()  # attacks refused, by kind
LEAKS = ("Traceback", 'File "', "psycopg", "sqlalchemy", "SELECT ", "INSERT ", "$2b$", SECRET)
TOO_COMPLEX = {"QUERY_TOO_COMPLEX"}


@pytest.fixture(scope="module", autouse=True)
def attacks_refused(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(REFUSED.items()))
    report(request.config, f"security: attacks refused: {sum(REFUSED.values())} ({kinds})")


def refused(kind: str, response: httpx.Response, codes: set[str], what: str = "") -> dict[str, Any]:
    """Check that `response` refuses the attack with one of `codes`, and count it."""
    body = checked(response)
    found = {error["extensions"]["code"] for error in body.get("errors") or []}
    assert found, f"{kind} {what}: not refused: {response.text[:500]}"
    assert found <= codes, f"{kind} {what}: {found} not in {codes}: {response.text[:500]}"
    REFUSED[kind] += 1
    return body


def checked(response: httpx.Response) -> dict[str, Any]:
    """The JSON body of an answer that shows no server error and leaks nothing."""
    assert response.status_code < 500, response.text[:500]
    for leak in LEAKS:
        assert leak not in response.text, f"{leak!r} leaked: {response.text[:500]}"
    body: dict[str, Any] = response.json()
    for error in body.get("errors") or []:
        extensions = error.get("extensions") or {}
        assert extensions.get("code") != "INTERNAL_SERVER_ERROR", response.text[:500]
        assert not {"exception", "stacktrace", "traceback"} & {k.lower() for k in extensions}
    return body


async def post(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )


# ------------------------------------------------------------------ query shape


async def test_alias_overloading_is_refused_before_anything_runs(
    client: httpx.AsyncClient, statements: StatementCounter
) -> None:
    # given 100 aliased logins (a password spray in one request) and 500 aliased reads
    spray = " ".join(
        f'a{i}: login(input: {{email: "victim@example.com", password: "guess-{i:04}"}})'
        " { accessToken }"
        for i in range(100)
    )
    reads = " ".join(f"a{i}: services {{ totalCount }}" for i in range(500))
    for document in (f"mutation {{ {spray} }}", f"{{ {reads} }}"):
        statements.clear()
        # when sent, then refused for its aliases, with no SQL run
        body = refused("alias overloading", await post(client, document), TOO_COMPLEX)
        assert "data" not in body
        assert statements.count == 0


async def test_field_duplication_is_refused(
    client: httpx.AsyncClient, statements: StatementCounter
) -> None:
    statements.clear()
    for document in (
        "{ " + "__typename " * 5000 + "}",
        "{ services { edges { node { " + "title " * 1500 + "} } } }",
    ):
        refused("field duplication", await post(client, document), TOO_COMPLEX)
    assert statements.count == 0


async def test_directive_overloading_is_refused(client: httpx.AsyncClient) -> None:
    for document in (
        "{ __typename " + "@include(if: true) " * 200 + "}",
        "{ __typename " + "@aa " * 500 + "}",  # unknown directives, repeated
        "query Q " + "@skip(if: false) " * 100 + "{ __typename }",
    ):
        refused("directive overloading", await post(client, document), TOO_COMPLEX)


async def test_circular_fragments_are_refused(
    client: httpx.AsyncClient, statements: StatementCounter
) -> None:
    cycles = (
        "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }",
        "{ ...A } fragment A on Query { __typename ...A }",
        "{ services { edges { node { ...S } } } } fragment S on Service { reviews { edges"
        " { node { service { ...S } } } } }",
    )
    statements.clear()
    for document in cycles:
        # a cycle is invalid GraphQL (NoFragmentCyclesRule), not merely too big
        refused("circular fragments", await post(client, document), {"GRAPHQL_VALIDATION_FAILED"})
    assert statements.count == 0


INTROSPECTION = "{ __schema { queryType { name } types { name fields { name } } } }"
DEEP_INTROSPECTION = (
    "{ __schema { types { fields { type { fields { type { fields { type { fields"
    " { type { name } } } } } } } } } } }"
)


@pytest.fixture
async def production(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app in production mode (introspection, GraphiQL, suggestions off)."""
    settings = Settings.from_env(
        {
            "BOOKIT_ENV": "production",
            "SECRET_KEY": "production-secret-key-of-at-least-32-bytes",
            "BCRYPT_ROUNDS": "4",
            "BOOKIT_RATE_LIMIT": "off",
        }
    )
    app = create_app(settings, database_url)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bookit.test") as client:
        yield client
    await app.state.reads.close()
    await app.state.engine.dispose()


async def test_introspection_in_development_but_not_in_production(
    client: httpx.AsyncClient, production: httpx.AsyncClient
) -> None:
    # given development: introspection answers, but not to any depth
    allowed = checked(await post(client, INTROSPECTION))
    assert allowed["data"]["__schema"]["queryType"]["name"] == "Query"
    refused("introspection", await post(client, DEEP_INTROSPECTION), TOO_COMPLEX)

    # given production: no introspection, no GraphiQL, no field suggestions
    for document in (
        INTROSPECTION,
        '{ __type(name: "User") { fields { name } } }',
        "query { a: __schema { types { name } } }",
        "{ ...F } fragment F on Query { __schema { types { name } } }",
    ):
        body = refused(
            "introspection", await post(production, document), {"GRAPHQL_VALIDATION_FAILED"}
        )
        assert "data" not in body
    assert checked(await post(production, "{ __typename }"))["data"] == {"__typename": "Query"}
    assert (await production.get("/graphql", headers={"Accept": "text/html"})).status_code == 404
    REFUSED["introspection"] += 1
    guess = refused(
        "introspection",
        await post(production, "{ servics { totalCount } }"),
        {"GRAPHQL_VALIDATION_FAILED"},
    )
    assert "Did you mean" not in json.dumps(guess)


# ------------------------------------------------------------------ transport


async def test_batches_are_refused(client: httpx.AsyncClient, statements: StatementCounter) -> None:
    login = {
        "query": LOGIN,
        "variables": {"input": {"email": "victim@example.com", "password": "guess"}},
    }
    statements.clear()
    response = await client.post("/graphql", json=[login] * 20)
    assert 400 <= response.status_code < 500
    body = refused("batch", response, TOO_COMPLEX | {"BAD_USER_INPUT"})
    assert "data" not in body
    assert statements.count == 0


REGISTER_INLINE = (
    'mutation { register(input: {email: "csrf@example.com", password: "12345678",'
    ' fullName: "Csrf"}) { accessToken } }'
)


async def test_mutations_only_over_post_with_json(
    client: httpx.AsyncClient, database_url: str
) -> None:
    victim = await register(client, "victim@example.com")
    token = victim["accessToken"]
    headers = {"Authorization": f"Bearer {token}"}
    # when a mutation comes over GET, or as a form or text/plain (no CORS preflight)
    attempts = [
        client.get("/graphql", params={"query": REGISTER_INLINE}),
        client.get(
            "/graphql",
            params={"query": 'mutation { updateMe(input: {fullName: "Pwned"}) { id } }'},
            headers=headers,
        ),
        client.post(
            "/graphql",
            content=json.dumps({"query": REGISTER_INLINE}),
            headers={"Content-Type": "text/plain"},
        ),
        client.post("/graphql", data={"query": REGISTER_INLINE}),
        client.post(
            "/graphql",
            content=json.dumps(
                {"query": 'mutation { updateMe(input: {fullName: "Pwned"}) { id } }'}
            ),
            headers={**headers, "Content-Type": "text/plain;charset=UTF-8"},
        ),
    ]
    for attempt in attempts:
        response = await attempt
        assert 400 <= response.status_code < 500, response.text
        refused("CSRF", response, {"BAD_USER_INPUT", "GRAPHQL_VALIDATION_FAILED"})

    # then none of them did anything
    me = checked(await post(client, "{ me { fullName } }", token=token))
    assert me["data"]["me"]["fullName"] == "Test User"
    login = checked(
        await post(client, LOGIN, {"input": {"email": "csrf@example.com", "password": "12345678"}})
    )
    assert login["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_unexpected_errors_leak_no_trace(
    client: httpx.AsyncClient, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = await make_admin(client, database_url, "admin@example.com")

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"SELECT password_hash FROM users WHERE key = '{SECRET}'")

    monkeypatch.setattr(users_service, "users_listing", broken)
    for document in (
        "{ users { totalCount } }",
        "query { users { totalCount } me { id } }",
        "query { users { totalCount } } # debug: true\n",
    ):
        response = await client.post(
            "/graphql",
            json={"query": document, "extensions": {"debug": True, "tracing": True}},
            headers={**admin.headers, "X-Debug": "1"},
        )
        assert response.status_code == 200
        for leak in (*LEAKS, "password_hash", "RuntimeError"):
            assert leak not in response.text
        errors = response.json()["errors"]
        assert [e["extensions"] for e in errors] == [{"code": "INTERNAL_SERVER_ERROR"}]
        assert errors[0]["message"] == "Unexpected error."
        assert "extensions" not in response.json() or "tracing" not in response.json()["extensions"]
        REFUSED["debug leak"] += 1


# ------------------------------------------------------------------ tokens


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def forged_tokens(access: str, other_user_id: str) -> dict[str, str]:
    """Tokens an attacker can make from one of their own (valid) access tokens."""
    claims = jwt.decode(access, options={"verify_signature": False})
    header, payload, signature = access.split(".")
    expired = {**claims, "exp": int((datetime.now(UTC) - timedelta(minutes=1)).timestamp())}
    with warnings.catch_warnings():  # the right key, but for another algorithm
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
        hs512 = jwt.encode(claims, SECRET, "HS512")
    return {
        "alg none": f"{b64({'alg': 'none', 'typ': 'JWT'})}.{payload}.",
        "alg None, signature kept": f"{b64({'alg': 'None', 'typ': 'JWT'})}.{payload}.{signature}",
        "wrong key": jwt.encode(claims, "an-attacker-key-that-is-long-enough-1234", "HS256"),
        "HS512 with the key": hs512,
        "expired": jwt.encode(expired, SECRET, "HS256"),
        "another user, signature kept": f"{header}.{b64({**claims, 'sub': other_user_id})}"
        f".{signature}",
        "no signature": f"{header}.{payload}.",
        "garbage": "not.a.token",
    }


REFRESH = "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken refreshToken } }"


async def test_forged_tokens_are_401(client: httpx.AsyncClient) -> None:
    alice = await sign_up(client, "alice@example.com")
    bob = await sign_up(client, "bob@example.com")
    for name, token in forged_tokens(alice.token, bob.id).items():
        response = await post(client, "{ me { email } }", token=token)
        assert response.status_code == 401, name
        assert response.headers["www-authenticate"] == "Bearer"
        refused("forged token", response, {"UNAUTHENTICATED"}, name)


async def test_tokens_of_one_kind_do_not_pass_for_the_other(client: httpx.AsyncClient) -> None:
    alice = await sign_up(client, "alice@example.com")
    # an access token as a refresh token
    body = refused(
        "token misuse",
        await post(client, REFRESH, {"t": alice.token}),
        {"UNAUTHENTICATED"},
    )
    assert body["data"] is None
    # a refresh token as an access token
    response = await post(client, "{ me { email } }", token=alice.refresh_token)
    assert response.status_code == 401
    refused("token misuse", response, {"UNAUTHENTICATED"})


async def test_a_spent_refresh_token_revokes_its_family(client: httpx.AsyncClient) -> None:
    alice = await sign_up(client, "alice@example.com")
    first = alice.refresh_token
    rotated = checked(await post(client, REFRESH, {"t": first}))["data"]["refreshToken"]
    # when the spent token is presented again (a thief, or the victim after a theft)
    refused("spent refresh token", await post(client, REFRESH, {"t": first}), {"UNAUTHENTICATED"})
    # then the whole family is revoked: the newer refresh token and its access token too
    refused(
        "spent refresh token",
        await post(client, REFRESH, {"t": rotated["refreshToken"]}),
        {"UNAUTHENTICATED"},
    )
    response = await post(client, "{ me { email } }", token=rotated["accessToken"])
    assert response.status_code == 401
    refused("spent refresh token", response, {"UNAUTHENTICATED"})


# ------------------------------------------------------------------ IDOR


@pytest.fixture
async def victims(
    client: httpx.AsyncClient, alice: Account, bob: Account, rows: Rows
) -> dict[str, Any]:
    """Alice (the attacker), and Bob's things: a future booking, a completed one, a review."""
    service_id = await rows.service(price="30.00")
    past = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    done = {
        owner: await rows.booking(
            service_id=service_id, user_id=account.id, starts_at=past + timedelta(hours=hour)
        )
        for owner, account, hour in (("bob", bob, 0), ("alice", alice, 2))
    }
    starts = (datetime.now(UTC) + timedelta(days=5)).replace(minute=0, second=0, microsecond=0)
    booked = checked(
        await post(
            client,
            "mutation($i: CreateBookingInput!) { createBooking(input: $i) { id } }",
            {"i": {"serviceId": service_id, "startsAt": starts.isoformat()}},
            token=bob.token,
        )
    )
    review = checked(
        await post(
            client,
            "mutation($i: CreateReviewInput!) { createReview(input: $i) { id } }",
            {"i": {"bookingId": done["bob"], "rating": 5, "comment": "Bob's own"}},
            token=bob.token,
        )
    )
    return {
        "alice": alice,
        "bob": bob,
        "service": service_id,
        "booking": booked["data"]["createBooking"]["id"],
        "completed": done["bob"],
        "alice_completed": done["alice"],
        "review": review["data"]["createReview"]["id"],
    }


# name: (document, variables with Bob's ids, codes that refuse it)
def idor_attacks(v: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any], set[str]]]:
    hidden = {"NOT_FOUND"}
    either = {"NOT_FOUND", "FORBIDDEN"}
    later = (datetime.now(UTC) + timedelta(days=9)).replace(minute=0, second=0, microsecond=0)
    return {
        "booking(id)": (
            "query($id: ID!) { booking(id: $id) { id user { email } } }",
            {"id": v["booking"]},
            hidden,
        ),
        "updateBooking (reschedule)": (
            "mutation($id: ID!, $s: DateTime!)"
            " { updateBooking(id: $id, input: {startsAt: $s}) { id } }",
            {"id": v["booking"], "s": later.isoformat()},
            hidden,
        ),
        "updateBooking (cancel)": (
            "mutation($id: ID!) { updateBooking(id: $id, input: {status: CANCELLED}) { id } }",
            {"id": v["booking"]},
            hidden,
        ),
        "updateBooking (confirm)": (
            "mutation($id: ID!) { updateBooking(id: $id, input: {status: CONFIRMED}) { id } }",
            {"id": v["booking"]},
            either,
        ),
        "deleteBooking": (
            "mutation($id: ID!) { deleteBooking(id: $id) }",
            {"id": v["booking"]},
            hidden,
        ),
        "createReview(bookingId)": (
            "mutation($i: CreateReviewInput!) { createReview(input: $i) { id } }",
            {"i": {"bookingId": v["completed"], "rating": 1, "comment": "Alice was here"}},
            either,
        ),
        "updateReview": (
            'mutation($id: ID!) { updateReview(id: $id, input: {rating: 1, comment: "x"}) { id } }',
            {"id": v["review"]},
            either,
        ),
        "deleteReview": (
            "mutation($id: ID!) { deleteReview(id: $id) }",
            {"id": v["review"]},
            either,
        ),
        "bookings(filter: {userId})": (
            "query($u: ID) { bookings(filter: {userId: $u}) { totalCount edges { node { id } } } }",
            {"u": v["bob"].id},
            either,
        ),
        "updateUser(id)": (
            "mutation($id: ID!) { updateUser(id: $id, input: {isActive: false}) { id } }",
            {"id": v["bob"].id},
            {"FORBIDDEN"},
        ),
    }


async def test_another_users_ids_in_every_argument(
    client: httpx.AsyncClient, app: Any, victims: dict[str, Any]
) -> None:
    alice = victims["alice"].token
    secrets = (victims["booking"], victims["completed"], victims["bob"].email)
    for name, (document, variables, codes) in idor_attacks(victims).items():
        response = await post(client, document, variables, token=alice)
        body = refused("IDOR", response, codes, name)
        assert not any((body.get("data") or {}).values()), name
        assert not any(secret in response.text for secret in secrets), name

    # reviews(filter: {userId}) ignores another user's id: Alice sees only her own (none)
    own = checked(
        await post(
            client,
            "query($u: ID) { reviews(filter: {userId: $u}) { totalCount edges { node { id } } } }",
            {"u": victims["bob"].id},
            token=alice,
        )
    )
    assert own["data"]["reviews"]["totalCount"] == 0
    REFUSED["IDOR"] += 1
    # a public review shows no booking to anyone but its owner
    public = checked(
        await post(
            client,
            "query($id: ID!)"
            " { service(id: $id) { reviews { edges { node { booking { id } } } } } }",
            {"id": victims["service"]},
            token=alice,
        )
    )
    assert public["data"]["service"]["reviews"]["edges"] == [{"node": {"booking": None}}]
    REFUSED["IDOR"] += 1

    # and nothing of Bob's changed
    async with app.state.session_factory() as session:
        booking = await session.get(bookings.Booking, uuid.UUID(victims["booking"]))
        review = await session.get(Review, uuid.UUID(victims["review"]))
        reviews = await session.scalar(select(func.count()).select_from(Review))
        bob = await session.get(User, uuid.UUID(victims["bob"].id))
    assert booking is not None
    assert booking.status == bookings.BookingStatus.PENDING
    assert review is not None
    assert (review.rating, review.comment) == (5, "Bob's own")
    assert reviews == 1
    assert bob is not None
    assert bob.is_active


# ------------------------------------------------------------------ oversized and unstorable text


def text_inputs(v: dict[str, Any], admin: str) -> dict[str, tuple[str, Any, str | None, set[str]]]:
    """Every text input: name -> (document, variables builder, token, codes for bad text).

    The variables builder takes the text to put in that input.
    """
    alice = v["alice"].token
    bad = {"BAD_USER_INPUT"}
    starts = (datetime.now(UTC) + timedelta(days=20)).replace(minute=0, second=0, microsecond=0)
    register_doc = "mutation($i: RegisterInput!) { register(input: $i) { accessToken } }"
    login_doc = "mutation($i: LoginInput!) { login(input: $i) { accessToken } }"
    update_me = "mutation($i: UpdateMeInput!) { updateMe(input: $i) { id } }"
    create_service = "mutation($i: CreateServiceInput!) { createService(input: $i) { id } }"
    update_service = (
        "mutation($id: ID!, $i: UpdateServiceInput!) { updateService(id: $id, input: $i) { id } }"
    )
    service = {"title": "Sauna", "price": "10.00", "durationMinutes": 30}
    account = {"email": "new@example.com", "password": PASSWORD, "fullName": "New"}
    # login never says more than "wrong email or password" about an account
    login_codes = {"BAD_USER_INPUT", "UNAUTHENTICATED"}
    # a token too long is no token (UNAUTHENTICATED); one with a NUL is no text (BAD_USER_INPUT)
    token_codes = {"BAD_USER_INPUT", "UNAUTHENTICATED"}
    return {
        "register.email": (register_doc, lambda t: {"i": {**account, "email": t}}, None, bad),
        "register.password": (register_doc, lambda t: {"i": {**account, "password": t}}, None, bad),
        "register.fullName": (register_doc, lambda t: {"i": {**account, "fullName": t}}, None, bad),
        "login.email": (
            login_doc,
            lambda t: {"i": {"email": t, "password": PASSWORD}},
            None,
            login_codes,
        ),
        "login.password": (
            login_doc,
            lambda t: {"i": {"email": "alice@example.com", "password": t}},
            None,
            login_codes,
        ),
        "refreshToken": (REFRESH, lambda t: {"t": t}, None, token_codes),
        "logout.refreshToken": (
            "mutation($t: String) { logout(refreshToken: $t) }",
            lambda t: {"t": t},
            None,
            token_codes,
        ),
        "updateMe.fullName": (update_me, lambda t: {"i": {"fullName": t}}, alice, bad),
        "updateMe.email": (
            update_me,
            lambda t: {"i": {"email": t, "currentPassword": PASSWORD}},
            alice,
            bad,
        ),
        "updateMe.currentPassword": (
            update_me,
            lambda t: {"i": {"currentPassword": t, "newPassword": "a new password"}},
            alice,
            bad,
        ),
        "updateMe.newPassword": (
            update_me,
            lambda t: {"i": {"currentPassword": PASSWORD, "newPassword": t}},
            alice,
            bad,
        ),
        "createService.title": (
            create_service,
            lambda t: {"i": {**service, "title": t}},
            admin,
            bad,
        ),
        "createService.description": (
            create_service,
            lambda t: {"i": {**service, "description": t}},
            admin,
            bad,
        ),
        "updateService.title": (
            update_service,
            lambda t: {"id": v["service"], "i": {"title": t}},
            admin,
            bad,
        ),
        "updateService.description": (
            update_service,
            lambda t: {"id": v["service"], "i": {"description": t}},
            admin,
            bad,
        ),
        "updateUser.fullName": (
            "mutation($id: ID!, $i: UpdateUserInput!) { updateUser(id: $id, input: $i) { id } }",
            lambda t: {"id": v["bob"].id, "i": {"fullName": t}},
            admin,
            bad,
        ),
        "createBooking.idempotencyKey": (
            "mutation($i: CreateBookingInput!) { createBooking(input: $i) { id } }",
            lambda t: {
                "i": {
                    "serviceId": v["service"],
                    "startsAt": starts.isoformat(),
                    "idempotencyKey": t,
                }
            },
            alice,
            bad,
        ),
        "createReview.comment": (
            "mutation($i: CreateReviewInput!) { createReview(input: $i) { id } }",
            lambda t: {"i": {"bookingId": v["alice_completed"], "rating": 4, "comment": t}},
            alice,
            bad,
        ),
        "updateReview.comment": (
            "mutation($id: ID!, $t: String) { updateReview(id: $id, input: {comment: $t}) { id } }",
            lambda t: {"id": v["review"], "t": t},
            v["bob"].token,
            bad,
        ),
        "services.filter.q": (
            "query($q: String) { services(filter: {q: $q}) { totalCount } }",
            lambda t: {"q": t},
            None,
            bad,
        ),
        "users.filter.q": (
            "query($q: String) { users(filter: {q: $q}) { totalCount } }",
            lambda t: {"q": t},
            admin,
            bad,
        ),
    }


async def test_oversized_and_unstorable_text_in_every_text_input(
    client: httpx.AsyncClient,
    app: Any,
    database_url: str,
    victims: dict[str, Any],
    request: pytest.FixtureRequest,
) -> None:
    admin = (await make_admin(client, database_url, "admin@example.com")).token
    settings: Settings = app.state.settings
    megabyte = "x" * 1_000_000
    # within the body limit (é is sent as \u00e9), over every field's own limit
    large, accented = "x" * (settings.max_body_bytes // 2), "é" * (settings.max_body_bytes // 16)
    inputs = text_inputs(victims, admin)
    accepted: list[tuple[str, str]] = []
    for name, (document, variables, token, codes) in inputs.items():
        # 1 MB: over the body limit, refused before it is parsed
        response = await post(client, document, variables(megabyte), token=token)
        assert response.status_code == 413, (name, response.text[:300])
        refused("oversized body", response, TOO_COMPLEX, name)
        # under the body limit but over the field's: refused by the field's rule
        for kind, text in (
            ("oversized text", large),
            ("oversized text", accented),
            ("unpaired surrogate", "ab\ud800cd"),
            ("NUL in text", "ab\x00cd@example.com"),
        ):
            # json.dumps escapes the surrogate, as a hostile client would send it
            body = json.dumps({"query": document, "variables": variables(text)})
            headers = {"Content-Type": "application/json"}
            if token:
                headers["Authorization"] = f"Bearer {token}"
            response = await client.post("/graphql", content=body, headers=headers)
            if not checked(response).get("errors"):
                accepted.append((name, kind))
                continue
            refused(kind, response, codes, name)

    # a long search finds nothing; NUL is refused everywhere, passwords included
    assert set(accepted) <= {
        ("services.filter.q", "oversized text"),
        ("users.filter.q", "oversized text"),
    }
    # and none of the refused text was stored
    async with app.state.session_factory() as session:
        users = await session.scalar(select(func.count()).select_from(User))
        services = await session.scalar(select(func.count()).select_from(Service))
        reviews = await session.scalar(select(func.count()).select_from(Review))
        booked = await session.scalar(select(func.count()).select_from(bookings.Booking))
    assert (users, services, reviews, booked) == (3, 1, 1, 3)
    report(
        request.config,
        f"security: {len(inputs)} text inputs, each sent 1 MB, "
        f"{settings.max_body_bytes // 2:,} characters, NUL and an unpaired surrogate; "
        "accepted harmlessly: "
        + (", ".join(f"{kind} in {name}" for name, kind in sorted(set(accepted))) or "none"),
    )
