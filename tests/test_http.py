"""The HTTP surface: health, readiness, GET, request ids, logs, masking, production mode."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from bookit_graphql.app import create_app
from bookit_graphql.config import Settings
from bookit_graphql.users import service
from tests.helpers import codes, gql, make_admin, register

UNREACHABLE = "postgresql://postgres@127.0.0.1:1/nothing"


async def test_healthz_and_readyz(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert ready.json()["revision"] == ready.json()["head"]


async def test_without_a_database_requests_fail_fast_with_503(settings: Settings) -> None:
    app = create_app(settings, UNREACHABLE)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bookit.test") as client:
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/readyz")).status_code == 503
        response = await client.post(
            "/graphql",
            json={
                "query": 'mutation { login(input: {email: "a@b.cd", password: "12345678"}) '
                "{ accessToken } }"
            },
        )
        assert response.status_code == 503
        assert codes(response.json()) == ["SERVICE_UNAVAILABLE"]
        assert "127.0.0.1" not in response.text
        authed = await client.post(
            "/graphql", json={"query": "{ me { id } }"}, headers={"Authorization": "Bearer x.y.z"}
        )
        assert authed.status_code in (401, 503)
    await app.state.reads.close()
    await app.state.engine.dispose()


async def test_get_runs_queries_but_never_mutations(client: httpx.AsyncClient) -> None:
    query = await client.get("/graphql", params={"query": "{ __typename }"})
    assert query.status_code == 200
    assert query.json() == {"data": {"__typename": "Query"}}
    mutation = (
        'mutation { register(input: {email: "g@example.com", password: "12345678", '
        'fullName: "G"}) { accessToken } }'
    )
    refused = await client.get("/graphql", params={"query": mutation})
    assert 400 <= refused.status_code < 500
    login = await client.post(
        "/graphql",
        json={
            "query": 'mutation { login(input: {email: "g@example.com", password: "12345678"}) '
            "{ accessToken } }"
        },
    )
    assert codes(login.json()) == ["UNAUTHENTICATED"]  # the GET made no account


async def test_graphiql_for_browsers(client: httpx.AsyncClient) -> None:
    page = await client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "graphiql" in page.text.lower()


async def test_request_id_is_echoed_or_made(client: httpx.AsyncClient) -> None:
    given = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    made = await client.get("/healthz", headers={"X-Request-ID": "bad id\nwith newline"})
    assert len(made.headers["x-request-id"]) == 32


async def test_one_json_log_line_per_request_without_secrets(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    account = await register(client, "log@example.com")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="bookit.request"):
        await client.post(
            "/graphql",
            json={"query": "query Me { me { id } nope: me { email } }"},
            headers={"Authorization": f"Bearer {account['accessToken']}", "X-Request-ID": "r-1"},
        )
        await client.post(
            "/graphql",
            json={"query": "query Who { me { id } }"},
            headers={"X-Request-ID": "r-2"},
        )
    records = [r for r in caplog.records if r.name == "bookit.request"]
    assert len(records) == 2
    first, second = (getattr(r, "fields") for r in records)  # noqa: B009
    assert first["request_id"] == "r-1"
    assert first["operation"] == "Me"
    assert first["user_id"] == account["user"]["id"]
    assert first["status"] == 200
    assert first["duration_ms"] >= 0
    assert second["errors"] == ["UNAUTHENTICATED"]
    from bookit_graphql.logs import JsonFormatter

    lines = [JsonFormatter().format(r) for r in caplog.records]
    assert all(json.loads(line) for line in lines)
    assert not any(account["accessToken"] in line for line in lines)


async def test_unexpected_errors_are_masked_and_logged(
    client: httpx.AsyncClient,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    admin = await make_admin(client, database_url, "admin@example.com")

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("SELECT password_hash FROM users -- internal detail")

    monkeypatch.setattr(service, "users_listing", broken)
    with caplog.at_level(logging.ERROR):
        response = await client.post(
            "/graphql",
            json={"query": "{ users { totalCount } }"},
            headers={**admin.headers, "X-Request-ID": "r-9"},
        )
    assert response.status_code == 200
    body = response.json()
    assert codes(body) == ["INTERNAL_SERVER_ERROR"]
    assert body["errors"][0]["message"] == "Unexpected error."
    assert "SELECT" not in response.text
    assert "Traceback" not in response.text
    assert any("r-9" in record.getMessage() for record in caplog.records)


async def test_production_turns_off_introspection_and_graphiql(database_url: str) -> None:
    settings = Settings.from_env(
        {"BOOKIT_ENV": "production", "SECRET_KEY": "p" * 40, "BCRYPT_ROUNDS": "4"}
    )
    app = create_app(settings, database_url)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bookit.test") as client:
        body = await gql(client, "{ __schema { types { name } } }")
        assert set(codes(body)) == {"GRAPHQL_VALIDATION_FAILED"}
        assert "data" not in body
        page = await client.get("/graphql", headers={"Accept": "text/html"})
        assert page.status_code == 404
    await app.state.reads.close()
    await app.state.engine.dispose()


async def test_parse_and_validation_errors_carry_codes(client: httpx.AsyncClient) -> None:
    assert codes(await gql(client, "{ me { id }")) == ["GRAPHQL_PARSE_FAILED"]
    assert codes(await gql(client, "{ nothing }")) == ["GRAPHQL_VALIDATION_FAILED"]
    body = await gql(client, "query($f: Int) { users(first: $f) { totalCount } }", {"f": "x"})
    assert codes(body) == ["BAD_USER_INPUT"]


async def test_graphql_response_media_type(client: httpx.AsyncClient) -> None:
    headers = {"Accept": "application/graphql-response+json"}
    bad = await client.post("/graphql", json={"query": "{ me { id }"}, headers=headers)
    assert bad.status_code == 400
    assert bad.headers["content-type"].startswith("application/graphql-response+json")
    assert "data" not in bad.json()
    good = await client.post("/graphql", json={"query": "{ __typename }"}, headers=headers)
    assert good.status_code == 200
    assert good.json() == {"data": {"__typename": "Query"}}
