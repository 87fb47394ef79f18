"""Trusted documents over HTTP and WebSocket: documentId, Apollo APQ, required mode."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

import httpx
import pytest
import websockets
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bookit_graphql import documents
from bookit_graphql.app import create_app
from bookit_graphql.config import ConfigError, Settings
from bookit_graphql.schema import schema
from tests.bookings.support import at, book
from tests.bookings.wsclient import Socket
from tests.conftest import Server
from tests.documents.support import contract_documents, dashboard_documents, manifest_of
from tests.factories import Rows
from tests.helpers import PASSWORD, Account, codes, make_admin, register
from tests.test_metrics import scrape, value

CONTRACT = contract_documents()
SERVICES = CONTRACT["Services"]
LOGIN = CONTRACT["Login"]
FREE_TEXT = "query Services { services(first: 1) { totalCount } }"
OPERATIONS = "bookit_graphql_operations_total"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def apq(text: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha(text)}}


async def post(client: httpx.AsyncClient, body: dict[str, Any], **headers: str) -> httpx.Response:
    return await client.post("/graphql", json=body, headers=headers)


async def registered(db: async_sessionmaker[AsyncSession], *texts: str) -> list[str]:
    """Register the contract documents `texts` as `bookit documents add` does; their ids."""
    checked = [documents.checked(text, schema._schema) for text in texts]
    async with db.begin() as session:
        await documents.add(session, checked, source="manifest")
    return [document.id for document in checked]


async def stored(db: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    async with db() as session:
        rows = await session.execute(
            select(documents.TrustedDocument.id, documents.TrustedDocument.source)
        )
        return {id: source for id, source in rows}


@pytest.fixture
async def app_with(
    settings: Settings, database_url: str
) -> AsyncIterator[Callable[..., httpx.AsyncClient]]:
    """Clients of further app instances on the same database, with settings of their own."""
    apps: list[Any] = []
    clients: list[httpx.AsyncClient] = []

    def make(**changes: Any) -> httpx.AsyncClient:
        application = create_app(replace(settings, **changes), database_url)
        apps.append(application)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=application), base_url="http://bookit.test"
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()
    for application in apps:
        await application.state.reads.close()
        await application.state.engine.dispose()


# -- documentId ----------------------------------------------------------------------


async def test_contract_operations_run_by_document_id_in_a_post_and_a_get(
    client: httpx.AsyncClient, db: async_sessionmaker[AsyncSession], rows: Rows
) -> None:
    # given the contract's Services and Login registered, and a service
    services_id, login_id = await registered(db, SERVICES, LOGIN)
    await rows.service(title="Massage")
    by_text = (await post(client, {"query": SERVICES, "variables": {"first": 5}})).json()

    # when a client sends their ids instead of their text, by POST and by GET
    posted = await post(client, {"documentId": services_id, "variables": {"first": 5}})
    got = await client.get(
        "/graphql", params={"documentId": services_id, "variables": json.dumps({"first": 5})}
    )

    # then both answer as the text does
    assert posted.status_code == got.status_code == 200
    assert posted.json() == got.json() == by_text
    assert by_text["data"]["services"]["edges"][0]["node"]["title"] == "Massage"
    # and a GET never runs a mutation, by id either: no account is made by it
    await register(client, "ann@example.com")
    variables = json.dumps({"input": {"email": "ann@example.com", "password": PASSWORD}})
    refused = await client.get("/graphql", params={"documentId": login_id, "variables": variables})
    assert 400 <= refused.status_code < 500
    assert "data" not in refused.json() or refused.json().get("data") is None
    logged_in = await post(client, {"documentId": login_id, "variables": json.loads(variables)})
    assert logged_in.json()["data"]["login"]["user"]["email"] == "ann@example.com"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"documentId": "sha256:" + "A" * 64}, "documentId"),  # uppercase hex
        ({"documentId": "sha256:" + "0" * 63}, "documentId"),
        ({"documentId": "md5:" + "0" * 32}, "documentId"),
        ({"documentId": 42}, "documentId"),
        ({"documentId": "sha256:" + sha(FREE_TEXT) + "\n"}, "documentId"),
        ({"documentId": "sha256:" + sha(FREE_TEXT), "query": FREE_TEXT}, "documentId"),
        ({"extensions": {"persistedQuery": {"version": 2, "sha256Hash": "0" * 64}}}, None),
        ({"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "xyz"}}}, None),
        ({"extensions": {"persistedQuery": "yes"}}, None),
        ({"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64 + "\n"}}}, None),
    ],
)
async def test_malformed_ids_are_bad_user_input(
    client: httpx.AsyncClient, body: dict[str, Any], field: str | None
) -> None:
    response = await post(client, body)
    assert response.status_code == 200
    answer = response.json()
    assert codes(answer) == ["BAD_USER_INPUT"]
    assert "data" not in answer
    extensions = answer["errors"][0]["extensions"]
    assert extensions["field"].startswith(field or "extensions.persistedQuery")
    # the new media type: a 4xx for a request refused before it ran
    strict = await post(client, body, accept="application/graphql-response+json")
    assert strict.status_code == 400
    assert codes(strict.json()) == ["BAD_USER_INPUT"]


async def test_an_unknown_id_is_persisted_query_not_found(client: httpx.AsyncClient) -> None:
    for accept in ("application/json", "application/graphql-response+json"):
        response = await post(client, {"documentId": "sha256:" + "0" * 64}, accept=accept)
        assert response.status_code == 200
        assert response.json() == {
            "errors": [
                {
                    "message": "PersistedQueryNotFound",
                    "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"},
                }
            ]
        }


# -- Apollo APQ ----------------------------------------------------------------------------


async def test_apq_not_found_then_registered_then_found(
    client: httpx.AsyncClient, db: async_sessionmaker[AsyncSession]
) -> None:
    # when an Apollo client sends the hash alone
    first = await post(client, {"extensions": apq(FREE_TEXT)})
    # then it is told to send the query
    assert first.status_code == 200
    assert first.json()["errors"][0]["message"] == "PersistedQueryNotFound"
    assert codes(first.json()) == ["PERSISTED_QUERY_NOT_FOUND"]

    # when it retries with the query and the hash (development: registration allowed)
    second = await post(client, {"query": FREE_TEXT, "extensions": apq(FREE_TEXT)})
    assert second.json() == {"data": {"services": {"totalCount": 0}}}
    assert await stored(db) == {"sha256:" + sha(FREE_TEXT): "apq"}

    # then the hash alone runs it, by POST and by GET (extensions as a JSON parameter)
    third = await post(client, {"extensions": apq(FREE_TEXT)})
    got = await client.get("/graphql", params={"extensions": json.dumps(apq(FREE_TEXT))})
    assert third.json() == got.json() == second.json()
    # and so does its documentId
    by_id = await post(client, {"documentId": "sha256:" + sha(FREE_TEXT)})
    assert by_id.json() == second.json()


async def test_apq_refuses_a_hash_that_is_not_the_texts(
    client: httpx.AsyncClient, db: async_sessionmaker[AsyncSession]
) -> None:
    other = "query Other { services(first: 2) { totalCount } }"
    response = await post(client, {"query": FREE_TEXT, "extensions": apq(other)})
    assert codes(response.json()) == ["BAD_USER_INPUT"]
    assert response.json()["errors"][0]["extensions"]["field"] == (
        "extensions.persistedQuery.sha256Hash"
    )
    assert await stored(db) == {}  # nothing registered under either hash


async def test_apq_does_not_register_an_invalid_document(
    client: httpx.AsyncClient, db: async_sessionmaker[AsyncSession]
) -> None:
    invalid = "query Bad { services(first: 1) { noSuchField } }"
    response = await post(client, {"query": invalid, "extensions": apq(invalid)})
    assert codes(response.json()) == ["GRAPHQL_VALIDATION_FAILED"]
    assert await stored(db) == {}


async def test_apq_registration_can_be_turned_off(
    app_with: Callable[..., httpx.AsyncClient], db: async_sessionmaker[AsyncSession]
) -> None:
    client = app_with(apq_register=False)
    # the retry runs, as free text, and registers nothing: the next hash is unknown again
    retry = await post(client, {"query": FREE_TEXT, "extensions": apq(FREE_TEXT)})
    assert retry.json() == {"data": {"services": {"totalCount": 0}}}
    assert await stored(db) == {}
    again = await post(client, {"extensions": apq(FREE_TEXT)})
    assert codes(again.json()) == ["PERSISTED_QUERY_NOT_FOUND"]


def test_the_settings_of_trusted_documents() -> None:
    assert Settings.from_env({}).trusted_documents == "optional"
    assert Settings.from_env({}).apq_register is True
    production = {"BOOKIT_ENV": "production"}
    assert Settings.from_env(production).apq_register is False
    assert Settings.from_env({**production, "BOOKIT_APQ_REGISTER": "on"}).apq_register is True
    given = Settings.from_env({"BOOKIT_TRUSTED_DOCUMENTS": "Required"})
    assert given.trusted_documents == "required"
    with pytest.raises(ConfigError, match="BOOKIT_TRUSTED_DOCUMENTS"):
        Settings.from_env({"BOOKIT_TRUSTED_DOCUMENTS": "strict"})


# -- instances -----------------------------------------------------------------------------


async def test_a_document_registered_on_one_instance_runs_on_another(
    client: httpx.AsyncClient, app_with: Callable[..., httpx.AsyncClient]
) -> None:
    # given a second instance on the same database, which does not know the document yet
    other = app_with()
    document_id = "sha256:" + sha(FREE_TEXT)
    missed = await post(other, {"documentId": document_id})
    assert codes(missed.json()) == ["PERSISTED_QUERY_NOT_FOUND"]

    # when the first instance registers it (an APQ retry)
    await post(client, {"query": FREE_TEXT, "extensions": apq(FREE_TEXT)})

    # then the second finds it: its miss was not remembered
    found = await post(other, {"documentId": document_id})
    assert found.json() == {"data": {"services": {"totalCount": 0}}}


async def test_the_cache_is_bounded_and_keeps_what_it_is_asked_for(
    app: Any, db: async_sessionmaker[AsyncSession]
) -> None:
    texts = [f"query Q{n} {{ services(first: {n + 1}) {{ totalCount }} }}" for n in range(5)]
    ids = await registered(db, *texts)
    registry = documents.Registry(app.state.reads, app.state.session_factory, entries=3)
    for id in ids:
        assert (await registry.get(id)) is not None
    assert list(registry._cache) == ids[2:]  # the three most recent
    assert (await registry.get(ids[2])) is not None  # a hit moves it to the end
    assert list(registry._cache) == [ids[3], ids[4], ids[2]]
    assert (await registry.get("sha256:" + "1" * 64)) is None
    assert "sha256:" + "1" * 64 not in registry._cache


# -- required mode ---------------------------------------------------------------------------


async def test_required_mode_takes_ids_and_admins_text_only(
    client: httpx.AsyncClient,
    app_with: Callable[..., httpx.AsyncClient],
    db: async_sessionmaker[AsyncSession],
    database_url: str,
) -> None:
    # given an instance that accepts only trusted documents, and Services registered
    strict = app_with(trusted_documents="required")
    [services_id] = await registered(db, SERVICES)
    alice = Account.of(await register(client, "alice@example.com"))
    admin = await make_admin(client, database_url, "admin@example.com")

    # then anonymous and user free text is refused, before it runs
    for headers in ({}, alice.headers):
        refused = await post(strict, {"query": FREE_TEXT}, **headers)
        assert refused.status_code == 200
        assert codes(refused.json()) == ["PERSISTED_QUERY_NOT_IN_LIST"]
        assert "data" not in refused.json()
    # and an APQ retry registers nothing for them
    retry = await post(strict, {"query": FREE_TEXT, "extensions": apq(FREE_TEXT)})
    assert codes(retry.json()) == ["PERSISTED_QUERY_NOT_IN_LIST"]
    assert set(await stored(db)) == {services_id}
    # an unknown id is not found, a registered one runs for anyone
    unknown = await post(strict, {"documentId": "sha256:" + "0" * 64})
    assert codes(unknown.json()) == ["PERSISTED_QUERY_NOT_FOUND"]
    by_id = await post(strict, {"documentId": services_id, "variables": {"first": 1}})
    assert by_id.json()["data"]["services"]["totalCount"] == 0
    # and an admin's free text runs (GraphiQL, scripts)
    allowed = await post(strict, {"query": FREE_TEXT}, **admin.headers)
    assert allowed.json() == {"data": {"services": {"totalCount": 0}}}
    # a bad token is refused as such, never taken for an admin's
    bad = await post(strict, {"query": FREE_TEXT}, authorization="Bearer nope")
    assert bad.status_code == 401


async def test_the_dashboard_signs_in_by_its_shipped_documents_in_required_mode(
    client: httpx.AsyncClient, app_with: Callable[..., httpx.AsyncClient]
) -> None:
    # given an admin's account and an instance that accepts only trusted documents
    strict = app_with(trusted_documents="required")
    await register(client, "admin@example.com")
    # when the dashboard signs in as it does: the Login of its operations.js, by id
    shipped = manifest_of(dashboard_documents())
    [login_id] = [id for id, text in shipped.items() if text.startswith("mutation Login(")]
    variables = {"input": {"email": "admin@example.com", "password": PASSWORD}}
    response = await post(strict, {"documentId": login_id, "variables": variables})
    # then it gets its tokens, though nothing was registered in the database
    assert response.json()["data"]["login"]["user"]["email"] == "admin@example.com"
    # and every document that the dashboard sends is one the package knows
    assert documents.package_documents().keys() == shipped.keys()


def test_the_shipped_manifest_is_the_dashboards_script() -> None:
    from tests.documents.support import MANIFEST, manifest_text

    # (python -m tests.documents.support writes it again)
    assert MANIFEST.read_text() == manifest_text()


# -- metrics -----------------------------------------------------------------------------


async def test_operations_are_labelled_by_the_trusted_documents_name(
    client: httpx.AsyncClient, db: async_sessionmaker[AsyncSession]
) -> None:
    [services_id] = await registered(db, SERVICES)
    before = await scrape(client)

    # when Services runs twice by id, and its own text (and a made-up name) as free text
    for _ in range(2):
        assert "errors" not in (await post(client, {"documentId": services_id})).json()
    assert "errors" not in (await post(client, {"query": SERVICES})).json()
    assert "errors" not in (await post(client, {"query": FREE_TEXT})).json()
    not_found = await post(client, {"documentId": "sha256:" + "0" * 64})
    assert codes(not_found.json()) == ["PERSISTED_QUERY_NOT_FOUND"]
    after = await scrape(client)

    def delta(family: str, /, **labels: str) -> float:
        return value(after, family, **labels) - value(before, family, **labels)

    # then the trusted document is labelled by its name, free-form text `unregistered`
    assert delta(OPERATIONS, type="query", name="Services", outcome="success") == 2
    assert delta(OPERATIONS, type="query", name="unregistered", outcome="success") == 2
    assert delta("bookit_graphql_errors_total", code="PERSISTED_QUERY_NOT_FOUND") == 1


# -- WebSocket -------------------------------------------------------------------------------


async def test_a_subscription_by_document_id(
    live_server: str,
    db: async_sessionmaker[AsyncSession],
    rows: Rows,
) -> None:
    # given BookingChanges registered, and Ann subscribed by its id
    changes = CONTRACT["BookingChanges"]
    [changes_id] = await registered(db, changes)
    ws = live_server.replace("http://", "ws://") + "/graphql"
    async with httpx.AsyncClient(base_url=live_server, timeout=10) as http:
        ann = Account.of(await register(http, "ann@example.com"))
        service_id = await rows.service(title="Massage")
        socket = await Socket.connect(ws, ann.token)
        await socket.connection.send(
            json.dumps({"id": "1", "type": "subscribe", "payload": {"documentId": changes_id}})
        )
        unknown = {"documentId": "sha256:" + "0" * 64}
        await socket.connection.send(
            json.dumps({"id": "2", "type": "subscribe", "payload": unknown})
        )
        refused = await socket.receive()
        assert (refused["id"], refused["type"]) == ("2", "error")
        assert refused["payload"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"

        # when she books
        assert "errors" not in await book(http, ann.token, service_id, at(10))

        # then the subscription by id tells her
        change = await socket.next_change()
        assert change["kind"] == "CREATED"
        assert change["booking"]["service"]["title"] == "Massage"
        await socket.connection.send(json.dumps({"id": "1", "type": "complete"}))
        await socket.connection.close()

        # and, once done, it is counted under its trusted document's name
        labels = {"type": "subscription", "name": "BookingChanges", "outcome": "success"}
        for _ in range(50):
            if value(await scrape(http), OPERATIONS, **labels) == 1:
                break
            await asyncio.sleep(0.1)
        assert value(await scrape(http), OPERATIONS, **labels) == 1


async def test_a_socket_in_required_mode_refuses_a_users_free_text(
    start_server: Callable[..., Server],
    client: httpx.AsyncClient,
    db: async_sessionmaker[AsyncSession],
) -> None:
    server = start_server("strict.log", BOOKIT_TRUSTED_DOCUMENTS="required")
    ann = Account.of(await register(client, "ann@example.com"))  # on another instance
    socket = await Socket.connect(server.ws, ann.token)
    await socket.subscribe("1")  # the contract's BookingChanges, as text
    refused = await socket.receive()
    assert refused["type"] == "error"
    assert refused["payload"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_IN_LIST"
    await socket.connection.close()
    async with db() as session:
        count = await session.scalar(select(func.count()).select_from(documents.TrustedDocument))
    assert count == 0


async def test_the_legacy_protocol_takes_ids_and_refuses_free_text_in_required_mode(
    start_server: Callable[..., Server],
    client: httpx.AsyncClient,
    db: async_sessionmaker[AsyncSession],
    rows: Rows,
) -> None:
    # given a strict server that also speaks graphql-ws, and BookingChanges registered
    server = start_server(
        "legacy.log", BOOKIT_TRUSTED_DOCUMENTS="required", BOOKIT_LEGACY_GRAPHQL_WS="on"
    )
    [changes_id] = await registered(db, CONTRACT["BookingChanges"])
    ann = Account.of(await register(client, "ann@example.com"))  # on another instance
    service_id = await rows.service(title="Massage")
    async with websockets.connect(server.ws, subprotocols=["graphql-ws"]) as connection:  # type: ignore[list-item]

        async def receive() -> dict[str, Any]:
            message: dict[str, Any] = json.loads(await asyncio.wait_for(connection.recv(), 10))
            return message

        init = {"type": "connection_init", "payload": ann.headers}
        await connection.send(json.dumps(init))
        assert await receive() == {"type": "connection_ack"}
        # when Ann starts the subscription as text, then by id
        text = {"query": CONTRACT["BookingChanges"]}
        await connection.send(json.dumps({"type": "start", "id": "a", "payload": text}))
        refused = await receive()
        await connection.send(
            json.dumps({"type": "start", "id": "b", "payload": {"documentId": changes_id}})
        )
        await asyncio.sleep(0.5)
        assert "errors" not in await book(client, ann.token, service_id, at(10))

        # then the text is refused, and the one by id tells her of her booking
        assert (refused["type"], refused["id"]) == ("error", "a")
        assert refused["payload"]["extensions"]["code"] == "PERSISTED_QUERY_NOT_IN_LIST"
        data = await receive()
        assert (data["type"], data["id"]) == ("data", "b")
        assert data["payload"]["data"]["bookingChanged"]["kind"] == "CREATED"
