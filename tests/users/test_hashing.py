"""bcrypt: in its own few threads, below the event loop in CPU priority (Linux), a bounded
number at a time; and a login rehashes a password stored at another cost than BCRYPT_ROUNDS."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from dataclasses import replace
from typing import Any

import bcrypt
import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bookit_graphql.config import Settings
from bookit_graphql.errors import ServiceUnavailable
from bookit_graphql.users import auth, passwords
from bookit_graphql.users.models import User
from tests.helpers import LOGIN, PASSWORD, codes, gql, register


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread nice and policy are Linux's")
async def test_hashes_run_in_idle_priority_threads_off_the_event_loop() -> None:
    # when a password is hashed and checked
    hashed = await passwords.hash_password("correct horse battery", rounds=4)
    seen = await passwords._off_the_loop(
        lambda: (
            threading.current_thread().name,
            os.getpriority(os.PRIO_PROCESS, 0),
            os.sched_getscheduler(0),
        ),
        rounds=4,
    )

    # then it happened in a bcrypt thread whose nice value is above the loop's, and which
    # runs only when the loop's thread does not (SCHED_IDLE), while the loop stays as it was
    assert await passwords.verify_password("correct horse battery", hashed, rounds=4)
    name, nice, policy = seen
    assert name.startswith("bcrypt")
    assert nice >= os.getpriority(os.PRIO_PROCESS, 0) + passwords.HASHING_NICE
    assert policy == os.SCHED_IDLE
    assert os.sched_getscheduler(0) != os.SCHED_IDLE


async def test_past_the_bound_a_hash_is_refused_at_once_not_queued(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a tiny budget: two hashes of cost 4, both taken by hashes that do not end yet
    monkeypatch.setattr(passwords, "_budget", passwords.Budget(2 * 2**4))
    gate = threading.Event()
    held = [
        asyncio.ensure_future(passwords._off_the_loop(gate.wait, 10, rounds=4)) for _ in range(2)
    ]
    await asyncio.sleep(0.05)

    # when a third comes, it is refused with the contract's code, without waiting
    with pytest.raises(ServiceUnavailable) as refused:
        await asyncio.wait_for(passwords._off_the_loop(lambda: None, rounds=4), timeout=1)
    assert refused.value.code == "SERVICE_UNAVAILABLE"
    # and so is any hash of a higher cost, which alone is over the budget
    with pytest.raises(ServiceUnavailable):
        await passwords.hash_password("correct horse battery", rounds=6)

    # and once the two are done, hashing works again, and the budget is whole
    gate.set()
    assert await asyncio.gather(*held) == [True, True]
    assert await passwords._off_the_loop(lambda: 41, rounds=4) == 41
    assert passwords._budget.used == 0
    # and a hash over the whole budget still runs when nothing else does
    hashed = await passwords.hash_password("correct horse battery", rounds=6)
    assert await passwords.verify_password("correct horse battery", hashed, rounds=6)


async def test_a_login_storm_past_the_bound_gets_503_with_retry_after(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given an account, and every hashing slot taken (a storm of logins)
    await register(client, "storm@example.com")
    monkeypatch.setattr(passwords, "_budget", passwords.Budget(2**4))
    gate = threading.Event()
    held = asyncio.ensure_future(passwords._off_the_loop(gate.wait, 10, rounds=4))
    await asyncio.sleep(0.05)
    try:
        # when one more logs in
        answer = await client.post(
            "/graphql",
            json={
                "query": LOGIN,
                "variables": {"input": {"email": "storm@example.com", "password": PASSWORD}},
            },
        )
    finally:
        gate.set()
        await held

    # then it is told to come back, as the contract says for SERVICE_UNAVAILABLE
    assert answer.status_code == 503
    assert int(answer.headers["retry-after"]) > 0
    assert codes(answer.json()) == ["SERVICE_UNAVAILABLE"]
    assert answer.json()["errors"][0]["message"] == passwords.BUSY
    # and after the storm the same login works
    assert "errors" not in await gql(
        client, LOGIN, {"input": {"email": "storm@example.com", "password": PASSWORD}}
    )


async def test_a_login_rehashes_at_the_configured_cost(
    app: Any,
    client: httpx.AsyncClient,
    db: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given an account hashed at cost 4, and BCRYPT_ROUNDS raised to 5 since
    await register(client, "cost@example.com")
    assert passwords.cost_of(await stored_hash(db, "cost@example.com")) == 4
    view = app.state.view
    monkeypatch.setattr(view, "settings", replace(view.settings, bcrypt_rounds=5))

    # when a wrong password is tried, nothing changes
    wrong = {"input": {"email": "cost@example.com", "password": "not the password"}}
    assert codes(await gql(client, LOGIN, wrong)) == ["UNAUTHENTICATED"]
    assert passwords.cost_of(await stored_hash(db, "cost@example.com")) == 4

    # when the right one logs in, the stored hash is of cost 5 and still verifies
    right = {"input": {"email": "cost@example.com", "password": PASSWORD}}
    assert "errors" not in await gql(client, LOGIN, right)
    hashed = await stored_hash(db, "cost@example.com")
    assert passwords.cost_of(hashed) == 5
    assert bcrypt.checkpw(PASSWORD.encode(), hashed.encode())
    # and the next login keeps it (no rehash when the cost is right)
    assert "errors" not in await gql(client, LOGIN, right)
    assert await stored_hash(db, "cost@example.com") == hashed


async def test_a_rehash_loses_to_a_password_changed_meanwhile(
    settings: Settings, db: async_sessionmaker[AsyncSession], client: httpx.AsyncClient
) -> None:
    # given an account whose password another request changes while its login checks
    await register(client, "race@example.com")
    old = await stored_hash(db, "race@example.com")
    changed = bcrypt.hashpw(b"the new password", bcrypt.gensalt(4)).decode()
    async with db.begin() as session:
        user = await session.scalar(select(User).where(User.email == "race@example.com"))
        assert user is not None
        async with db.begin() as other:
            await other.execute(
                update(User).where(User.id == user.id).values(password_hash=changed)
            )
        # when the login's rehash (of the old password, at cost 5) is written
        await auth._rehash(
            session, settings=replace(settings, bcrypt_rounds=5), user=user, password=PASSWORD
        )
    # then the new password stays, and no error was raised
    assert old != changed == await stored_hash(db, "race@example.com")


async def stored_hash(db: async_sessionmaker[AsyncSession], email: str) -> str:
    async with db() as session:
        hashed = await session.scalar(select(User.password_hash).where(User.email == email))
    assert hashed is not None
    return hashed
