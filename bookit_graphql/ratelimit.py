"""Rate limits on the fields that declare one (RateLimit), per client address and per account.

Each limit is a sliding window: at most `attempts` in any `seconds`. A
refused attempt is not recorded, so a window empties `seconds` after the last
accepted attempt whatever an attacker keeps sending: nobody is locked out for
longer than one window after the attempts stop.

Every attempt counts against the client address; a field also names the
account that an attempt is on, from its arguments (users/mutations.py: login
per email, register per email, refreshToken per session).

The attempts live in PostgreSQL (the UNLOGGED table `rate_limit_attempts`), so
every instance and worker counts the same ones. One attempt is one statement,
`rate_limit_acquire(...)` (migration 0004): it takes a transaction-scoped
advisory lock per key, in one order, then counts and records. It is a
function rather than a plain statement because a statement's snapshot is
taken before it waits for a lock, so it would not see the attempts recorded
by the holder it waited for; each statement inside a function takes a fresh
one. Check and record are therefore atomic across instances: of any number of
racing attempts on a full key, none passes. A key's expired rows go when it is
next written; the others are swept once a minute by whichever process notices.

If the database cannot be reached the attempt fails (SERVICE_UNAVAILABLE):
the limited fields need the database anyway (SECURITY.md).
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, Index, Table, Text
from strawberry.extensions import FieldExtension
from strawberry.types import Info

from bookit_graphql.config import Rate, Settings
from bookit_graphql.db import Base, Reads
from bookit_graphql.errors import RateLimited, Unauthenticated

# The account an attempt is on, from the field's arguments; None: only the address counts.
Account = Callable[[Settings, dict[str, Any]], object | None]

attempts = Table(
    "rate_limit_attempts",
    Base.metadata,
    Column("key", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("ix_rate_limit_attempts_key_at", "key", "at"),
    Index("ix_rate_limit_attempts_expires_at", "expires_at"),
    prefixes=["UNLOGGED"],
)

ACQUIRE = (
    "SELECT wait, recorded_at FROM "
    "rate_limit_acquire(%(keys)s::text[], %(limits)s::integer[], %(windows)s::integer[], "
    "%(moment)s::timestamptz)"
)
# one row: two attempts on one key in the same microsecond are interchangeable
TAKE_BACK = """
DELETE FROM rate_limit_attempts WHERE ctid = (
    SELECT ctid FROM rate_limit_attempts WHERE key = %(key)s AND at = %(at)s LIMIT 1
) RETURNING 1
"""
SWEEP = """
WITH gone AS (
    DELETE FROM rate_limit_attempts
    WHERE expires_at <= coalesce(%(moment)s::timestamptz, clock_timestamp()) RETURNING 1
) SELECT count(*) FROM gone
"""
SWEEP_EVERY = 60.0  # seconds of this process's time between sweeps


class RateLimiter:
    """Sliding-window attempt logs in PostgreSQL, shared by every process on the database.

    `clock` stands in for PostgreSQL's clock (tests move it); by default the
    database's own time decides, the same for every instance whatever their
    clocks say.
    """

    def __init__(self, reads: Reads, *, clock: Callable[[], datetime] | None = None) -> None:
        self.reads = reads
        self.clock = clock
        self._next_sweep = 0.0

    async def acquire(self, limits: list[tuple[str, Rate]]) -> Attempt:
        """Record one attempt against every key, or refuse it (RateLimited) if any is full."""
        moment = self.clock() if self.clock else None
        row = await self.reads.row(
            ACQUIRE,
            {
                "keys": [key for key, _ in limits],
                "limits": [rate.attempts for _, rate in limits],
                "windows": [rate.seconds for _, rate in limits],
                "moment": moment,
            },
        )
        assert row is not None
        if row["wait"] > 0:
            seconds = max(1, math.ceil(row["wait"]))
            raise RateLimited(f"Too many attempts; retry in {seconds} s.", retryAfter=seconds)
        if time.monotonic() >= self._next_sweep:
            self._next_sweep = time.monotonic() + SWEEP_EVERY
            await self.sweep()
        return Attempt(self, row["recorded_at"])

    async def forget(self, key: str, at: datetime) -> None:
        await self.reads.value(TAKE_BACK, {"key": key, "at": at})

    async def sweep(self) -> int:
        """Delete every expired attempt (of keys not written since); how many went."""
        moment = self.clock() if self.clock else None
        gone: int = await self.reads.value(SWEEP, {"moment": moment})
        return gone


@dataclass(frozen=True)
class Attempt:
    limiter: RateLimiter
    at: datetime

    async def take_back(self, key: str) -> None:
        """Un-count this attempt for `key` (a successful login is no failed one)."""
        await self.limiter.forget(key, self.at)


class RateLimit(FieldExtension):
    """Puts a field under its rate limits: `rate` per account, the settings' per address."""

    def __init__(
        self,
        *,
        account: Account,
        rate: Callable[[Settings], Rate],
        failures_only: bool = False,  # per account, count only attempts refused as Unauthenticated
    ) -> None:
        self.account, self.rate, self.failures_only = account, rate, failures_only

    async def resolve_async(
        self, next_: Callable[..., Awaitable[Any]], source: Any, info: Info, **kwargs: Any
    ) -> Any:
        limiter: RateLimiter | None = info.context.rate_limiter
        if limiter is None:  # BOOKIT_RATE_LIMIT=off
            return await next_(source, info, **kwargs)
        settings: Settings = info.context.settings
        request = info.context.request
        name = info.python_name
        # the ASGI client: behind a proxy, uvicorn sets it from X-Forwarded-For,
        # and only for the proxies in FORWARDED_ALLOW_IPS
        address = request.client.host if request.client else "unknown"
        limits = [(f"{name}:address:{address}", settings.rate_limit_address)]
        key = self.account(settings, kwargs)
        account = (f"{name}:account:{key}", self.rate(settings)) if key is not None else None
        if account is not None:
            limits.append(account)
        attempt = await limiter.acquire(limits)
        failed = False
        try:
            return await next_(source, info, **kwargs)
        except Unauthenticated:
            failed = True
            raise
        finally:
            # not the owner's successes, nor attempts that failed for another
            # reason (a database outage)
            if self.failures_only and account is not None and not failed:
                await attempt.take_back(account[0])
