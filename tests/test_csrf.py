"""Cross-site safety: JSON-only POSTs, GET never mutates, CORS and WebSocket origins.

A page on another site can send a form, multipart or text/plain POST, or a GET,
without asking (no CORS preflight); it cannot send application/json. So a
mutation needs a JSON POST, and nothing else reaches the schema.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from bookit_graphql.app import create_app
from bookit_graphql.config import Settings
from tests.conftest import SECRET, Server
from tests.helpers import LOGIN, PASSWORD, codes, register

APP_ORIGIN = "https://app.example"
EVIL_ORIGIN = "https://evil.example"
REGISTER = (
    'mutation { register(input: {email: "csrf@example.com", password: "correct horse battery", '
    'fullName: "Victim"}) { accessToken } }'
)

MULTIPART = f'--x\r\nContent-Disposition: form-data; name="query"\r\n\r\n{REGISTER}\r\n--x--\r\n'


async def no_account_was_made(client: httpx.AsyncClient) -> None:
    login = await client.post(
        "/graphql",
        json={
            "query": LOGIN,
            "variables": {"input": {"email": "csrf@example.com", "password": PASSWORD}},
        },
    )
    assert codes(login.json()) == ["UNAUTHENTICATED"]


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/x-www-form-urlencoded", f"query={REGISTER}".encode()),
        (
            "multipart/form-data; boundary=x",
            MULTIPART.encode(),
        ),
        ("text/plain", json.dumps({"query": REGISTER}).encode()),
        ("text/plain; charset=utf-8", json.dumps({"query": REGISTER}).encode()),
        ("application/graphql", REGISTER.encode()),
        (None, json.dumps({"query": REGISTER}).encode()),
    ],
)
async def test_a_post_that_is_not_json_is_refused(
    client: httpx.AsyncClient, content_type: str | None, body: bytes
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = await client.post("/graphql", content=body, headers=headers)
    assert response.status_code == 415
    assert response.headers["content-type"].startswith("application/json")
    assert codes(response.json()) == ["BAD_USER_INPUT"]
    assert "application/json" in response.json()["errors"][0]["message"]
    await no_account_was_made(client)


async def test_json_with_a_charset_is_json(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql",
        content=json.dumps({"query": "{ __typename }"}).encode(),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.json() == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize("accept", ["application/json", "application/graphql-response+json"])
async def test_get_never_runs_a_mutation(client: httpx.AsyncClient, accept: str) -> None:
    alone = await client.get("/graphql", params={"query": REGISTER}, headers={"Accept": accept})
    assert 400 <= alone.status_code < 500
    assert codes(alone.json()) == ["BAD_USER_INPUT"]
    # nor one picked out of a document that also holds a query
    picked = await client.get(
        "/graphql",
        params={
            "query": f"query Q {{ __typename }} {REGISTER.replace('mutation', 'mutation M')}",
            "operationName": "M",
        },
        headers={"Accept": accept},
    )
    assert 400 <= picked.status_code < 500
    await no_account_was_made(client)
    query = await client.get("/graphql", params={"query": "{ __typename }"})
    assert query.json() == {"data": {"__typename": "Query"}}


# ---------------------------------------------------------------- CORS


@pytest.fixture
async def cors_client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        secret_key=SECRET, bcrypt_rounds=4, rate_limit=False, cors_origins=(APP_ORIGIN,)
    )
    app = create_app(settings, database_url)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bookit.test") as client:
        yield client
    await app.state.engine.dispose()


def preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }


async def test_cors_preflight_from_a_configured_origin(cors_client: httpx.AsyncClient) -> None:
    allowed = await cors_client.options("/graphql", headers=preflight(APP_ORIGIN))
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == APP_ORIGIN
    assert "POST" in allowed.headers["access-control-allow-methods"]
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()


async def test_cors_refuses_other_origins(cors_client: httpx.AsyncClient) -> None:
    refused = await cors_client.options("/graphql", headers=preflight(EVIL_ORIGIN))
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    # a simple request is answered, but without the header a browser needs to read it
    simple = await cors_client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"Origin": EVIL_ORIGIN}
    )
    assert "access-control-allow-origin" not in simple.headers
    mine = await cors_client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"Origin": APP_ORIGIN}
    )
    assert mine.headers["access-control-allow-origin"] == APP_ORIGIN


async def test_without_configured_origins_no_cors_headers(client: httpx.AsyncClient) -> None:
    response = await client.options("/graphql", headers=preflight(APP_ORIGIN))
    assert "access-control-allow-origin" not in response.headers


# ---------------------------------------------------------------- WebSocket origins


async def handshake(server: Server, token: str, origin: str | None) -> str:
    """The first message after connection_init (the handshake itself may be refused)."""
    async with websockets.connect(
        server.ws,
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        origin=origin,  # type: ignore[arg-type]
    ) as socket:
        init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
        await socket.send(json.dumps(init))
        message: str = json.loads(await socket.recv())["type"]
        return message


async def test_websocket_origins_are_checked(start_server: Callable[..., Server]) -> None:
    server = start_server(BOOKIT_CORS_ORIGINS=APP_ORIGIN)
    async with httpx.AsyncClient(base_url=server.base, timeout=30) as client:
        token = (await register(client, "ws@example.com"))["accessToken"]

    with pytest.raises(InvalidStatus) as refused:
        await handshake(server, token, EVIL_ORIGIN)
    assert refused.value.response.status_code == 403

    assert await handshake(server, token, APP_ORIGIN) == "connection_ack"
    assert await handshake(server, token, None) == "connection_ack"  # not a browser
