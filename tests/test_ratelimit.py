"""Rate limits on login, register and refreshToken: per address, per account, and they expire.

The app's limiter runs on a clock that the tests move; nothing sleeps. The
counts live in PostgreSQL, so two limiters (or two servers) on one database
share them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from bookit_graphql.app import create_app
from bookit_graphql.config import ConfigError, Rate, Settings
from bookit_graphql.db import Reads
from bookit_graphql.errors import RateLimited
from bookit_graphql.ratelimit import RateLimiter
from tests.conftest import SECRET, Server
from tests.helpers import LOGIN, PASSWORD, REGISTER, codes

REFRESH = """
mutation Refresh($refreshToken: String!) {
  refreshToken(refreshToken: $refreshToken) { refreshToken }
}
"""
WRONG = "wrong password!"
ACCOUNT = Rate(3, 900)  # 3 attempts per account in 15 minutes
ADDRESS = Rate(10, 60)  # 10 per address and field in a minute


class Clock:
    """PostgreSQL's clock, as the limiter sees it, moved by the test."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Limited:
    """An app with small rate limits, and clients at several addresses."""

    def __init__(self, app: Any, clock: Clock) -> None:
        self.app, self.clock = app, clock
        self.clients: dict[str, httpx.AsyncClient] = {}

    def at(self, address: str) -> httpx.AsyncClient:
        if address not in self.clients:
            transport = httpx.ASGITransport(app=self.app, client=(address, 40000))
            self.clients[address] = httpx.AsyncClient(
                transport=transport, base_url="http://bookit.test"
            )
        return self.clients[address]


@pytest.fixture
async def limited(database_url: str) -> AsyncIterator[Limited]:
    settings = Settings(
        secret_key=SECRET,
        bcrypt_rounds=4,
        rate_limit_login=ACCOUNT,
        rate_limit_register=ACCOUNT,
        rate_limit_refresh=ACCOUNT,
        rate_limit_address=ADDRESS,
    )
    app = create_app(settings, database_url)
    clock = Clock()
    app.state.rate_limiter = RateLimiter(app.state.reads, clock=clock)
    subject = Limited(app, clock)
    yield subject
    for client in subject.clients.values():
        await client.aclose()
    await app.state.reads.close()
    await app.state.engine.dispose()


async def send(client: httpx.AsyncClient, query: str, variables: dict[str, Any]) -> httpx.Response:
    return await client.post("/graphql", json={"query": query, "variables": variables})


def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> Any:
    return send(client, LOGIN, {"input": {"email": email, "password": password}})


def register(client: httpx.AsyncClient, email: str) -> Any:
    return send(
        client, REGISTER, {"input": {"email": email, "password": PASSWORD, "fullName": "A"}}
    )


def refused(response: httpx.Response) -> int:
    """The retry delay of a RATE_LIMITED answer (and check its shape)."""
    assert response.status_code == 429, response.text
    body = response.json()
    assert codes(body) == ["RATE_LIMITED"]
    retry_after: int = body["errors"][0]["extensions"]["retryAfter"]
    assert response.headers["retry-after"] == str(retry_after)
    assert retry_after > 0
    return retry_after


async def test_failed_logins_per_account_are_limited_then_expire(limited: Limited) -> None:
    # given an account, and three wrong passwords for it from three addresses
    assert (await register(limited.at("10.0.0.1"), "ann@example.com")).status_code == 200
    for n in range(3):
        wrong = await login(limited.at(f"10.0.1.{n}"), "ann@example.com", WRONG)
        assert codes(wrong.json()) == ["UNAUTHENTICATED"]

    # then the account refuses everyone, even with the right password, for the window
    limited.clock.advance(100)
    assert refused(await login(limited.at("10.0.2.1"), "ANN@example.com")) == 800
    assert refused(await login(limited.at("10.0.0.1"), "ann@example.com")) == 800
    # another account is not concerned
    assert (await register(limited.at("10.0.0.1"), "bob@example.com")).status_code == 200
    assert (await login(limited.at("10.0.0.1"), "bob@example.com")).status_code == 200

    # refused attempts are not counted: the window ends 15 minutes after the last failure
    for _ in range(5):
        limited.clock.advance(150)
        refused(await login(limited.at("10.0.2.1"), "ann@example.com", WRONG))
    limited.clock.advance(50)  # 900 s after the failures
    ok = await login(limited.at("10.0.0.1"), "ann@example.com")
    assert ok.status_code == 200
    assert ok.json()["data"]["login"]["accessToken"]


async def test_successful_logins_do_not_count_per_account(limited: Limited) -> None:
    client = limited.at("10.0.0.1")
    await register(client, "ann@example.com")
    for _ in range(6):  # more than the account's 3
        assert "errors" not in (await login(client, "ann@example.com")).json()
    # two typos and the owner still gets in
    for _ in range(2):
        assert codes((await login(client, "ann@example.com", WRONG)).json()) == ["UNAUTHENTICATED"]
    assert "errors" not in (await login(client, "ann@example.com")).json()


async def test_attempts_per_address_are_limited_per_field(limited: Limited) -> None:
    # given ten failed logins for ten accounts from one address within a minute
    noisy = limited.at("10.0.0.66")
    for n in range(10):
        assert (await login(noisy, f"user{n}@example.com", WRONG)).status_code == 200
    # then that address is refused for the rest of the minute
    limited.clock.advance(20)
    assert refused(await login(noisy, "other@example.com", WRONG)) == 40
    # its other fields keep their own count; other addresses are not concerned
    assert (await register(noisy, "new@example.com")).status_code == 200
    quiet = await login(limited.at("10.0.0.67"), "other@example.com", WRONG)
    assert codes(quiet.json()) == ["UNAUTHENTICATED"]
    limited.clock.advance(40)
    assert codes((await login(noisy, "other@example.com", WRONG)).json()) == ["UNAUTHENTICATED"]


async def test_aliases_count_one_attempt_each(limited: Limited) -> None:
    # a wrong password stops a mutation at its first field; right ones run on, each counted
    await register(limited.at("10.0.0.1"), "ann@example.com")
    fields = " ".join(
        f'a{n}: login(input: {{email: "ann@example.com", password: "{PASSWORD}"}}) {{ expiresIn }}'
        for n in range(12)
    )
    response = await send(limited.at("10.0.0.2"), f"mutation {{ {fields} }}", {})
    refused(response)
    assert response.json()["errors"][0]["path"] == ["a10"]  # the eleventh, over 10 per address


async def test_registrations_per_email_are_limited(limited: Limited) -> None:
    assert (await register(limited.at("10.0.0.1"), "ann@example.com")).status_code == 200
    for n in range(2):
        again = await register(limited.at(f"10.0.1.{n}"), "ANN@example.com")
        assert codes(again.json()) == ["ALREADY_EXISTS"]
    refused(await register(limited.at("10.0.2.1"), "ann@example.com"))


async def test_refreshes_per_session_are_limited(limited: Limited) -> None:
    client = limited.at("10.0.0.1")
    token = (await register(client, "ann@example.com")).json()["data"]["register"]["refreshToken"]
    # a forged token naming the same session costs the session nothing
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload}.{signature[::-1]}"
    for _ in range(3):
        bad = await send(limited.at("10.6.6.6"), REFRESH, {"refreshToken": forged})
        assert codes(bad.json()) == ["UNAUTHENTICATED"]
    # three rotations pass, the fourth waits
    for _ in range(3):
        body = (await send(client, REFRESH, {"refreshToken": token})).json()
        token = body["data"]["refreshToken"]["refreshToken"]
    refused(await send(client, REFRESH, {"refreshToken": token}))
    limited.clock.advance(900)
    assert "errors" not in (await send(client, REFRESH, {"refreshToken": token})).json()


async def test_turned_off_for_trusted_load_tests(database_url: str) -> None:
    settings = Settings.from_env({"SECRET_KEY": SECRET, "BOOKIT_RATE_LIMIT": "off"})
    assert settings.rate_limit is False
    app = create_app(settings, database_url)
    assert app.state.rate_limiter is None
    await app.state.engine.dispose()


def test_rates_come_from_the_environment() -> None:
    defaults = Settings.from_env({})
    assert defaults.rate_limit is True
    assert defaults.rate_limit_login == Rate(10, 900)
    assert defaults.rate_limit_address == Rate(30, 60)
    settings = Settings.from_env(
        {
            "BOOKIT_RATE_LIMIT_LOGIN": "5/10m",
            "BOOKIT_RATE_LIMIT_REGISTER": "3/1h",
            "BOOKIT_RATE_LIMIT_REFRESH": "20/900",
            "BOOKIT_RATE_LIMIT_ADDRESS": "100/30s",
        }
    )
    assert settings.rate_limit_login == Rate(5, 600)
    assert settings.rate_limit_register == Rate(3, 3600)
    assert settings.rate_limit_refresh == Rate(20, 900)
    assert settings.rate_limit_address == Rate(100, 30)
    for bad in ("ten per minute", "0/1m", "5/0s", "5/1d"):
        with pytest.raises(ConfigError):
            Settings.from_env({"BOOKIT_RATE_LIMIT_LOGIN": bad})


@pytest.fixture
async def pools(database_url: str) -> AsyncIterator[Callable[[], Reads]]:
    """psycopg pools on the test database, as separate processes would have."""
    made: list[Reads] = []

    def make() -> Reads:
        made.append(Reads(database_url))
        return made[-1]

    yield make
    for reads in made:
        await reads.close()


async def test_expired_attempts_are_swept(pools: Callable[[], Reads]) -> None:
    clock = Clock()
    limiter = RateLimiter(pools(), clock=clock)
    rate = Rate(2, 60)
    for n in range(50):
        await limiter.acquire([(f"k{n}", rate)])
    clock.advance(30)
    await limiter.acquire([("fresh", rate)])
    assert await limiter.sweep() == 0  # nothing has expired yet
    clock.advance(31)
    assert await limiter.sweep() == 50  # the fifty keys, not the fresh one
    assert await limiter.reads.value("SELECT count(*) FROM rate_limit_attempts", {}) == 1


async def test_racing_attempts_on_two_instances_never_exceed_the_limit(
    pools: Callable[[], Reads],
) -> None:
    # given two limiters (two instances, each with its own pool) on one database
    first, second = RateLimiter(pools()), RateLimiter(pools())
    rate = Rate(5, 60)

    async def attempt(limiter: RateLimiter, n: int) -> bool:
        # every attempt also names a key of its own, so that the locks are taken in pairs
        try:
            await limiter.acquire([(f"own{n}", rate), ("shared", rate)])
        except RateLimited:
            return False
        return True

    # when 40 attempts on one key race, half through each
    results = await asyncio.gather(*(attempt(first if n % 2 else second, n) for n in range(40)))
    # then exactly five pass, and only theirs were recorded
    assert sum(results) == 5
    count = "SELECT count(*) FROM rate_limit_attempts WHERE key = %(key)s"
    assert await first.reads.value(count, {"key": "shared"}) == 5
    assert await first.reads.value("SELECT count(*) FROM rate_limit_attempts", {}) == 10


async def test_no_attempt_passes_uncounted_while_the_database_is_away(
    limited: Limited, database_url: str
) -> None:
    # given a limiter whose database cannot be reached (nothing listens on port 9)
    limited.app.state.rate_limiter = RateLimiter(Reads("postgresql://postgres@127.0.0.1:9/x"))
    # then the limited fields fail closed, as a retryable outage
    response = await login(limited.at("10.0.0.1"), "ann@example.com", WRONG)
    assert response.status_code == 503, response.text
    assert codes(response.json()) == ["SERVICE_UNAVAILABLE"]
    await limited.app.state.rate_limiter.reads.close()


def test_the_eleventh_failed_login_is_refused_on_either_instance(
    start_server: Callable[..., Server],
) -> None:
    # given two servers on one database, rate limits on (the defaults: 10 failed logins)
    servers = [start_server(f"server-{n}.log", BOOKIT_RATE_LIMIT="on") for n in range(2)]

    def login_at(server: Server, password: str) -> httpx.Response:
        body = {
            "query": LOGIN,
            "variables": {"input": {"email": "ann@example.com", "password": password}},
        }
        return httpx.post(f"{server.base}/graphql", json=body, timeout=10)

    # when ten wrong passwords for one email go to the two in turn
    for n in range(10):
        assert codes(login_at(servers[n % 2], WRONG).json()) == ["UNAUTHENTICATED"]
    # then the eleventh is refused whichever gets it
    for server in servers:
        response = login_at(server, WRONG)
        assert response.status_code == 429, response.text
        assert codes(response.json()) == ["RATE_LIMITED"]
        assert 890 < int(response.headers["retry-after"]) <= 900
