"""Rate limits on the fields that declare one (RateLimit), per client address and per account.

Each limit is a sliding window: at most `attempts` in any `seconds`. A
refused attempt is not recorded, so a window empties `seconds` after the last
accepted attempt whatever an attacker keeps sending: nobody is locked out for
longer than one window after the attempts stop.

Every attempt counts against the client address; a field also names the
account that an attempt is on, from its arguments (users/mutations.py: login
per email, register per email, refreshToken per session).

The counts live in this process's memory: with N server processes (instances
or workers), a client may make up to N times as many attempts (SECURITY.md).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from strawberry.extensions import FieldExtension
from strawberry.types import Info

from bookit_graphql.config import Rate, Settings
from bookit_graphql.errors import RateLimited, Unauthenticated

Key = tuple[Hashable, ...]
# The account an attempt is on, from the field's arguments; None: only the address counts.
Account = Callable[[Settings, dict[str, Any]], Hashable | None]


@dataclass
class _Log:
    rate: Rate
    times: deque[float] = field(default_factory=deque)

    def expire(self, now: float) -> None:
        while self.times and self.times[0] <= now - self.rate.seconds:
            self.times.popleft()


class RateLimiter:
    """Sliding-window attempt logs, kept in memory and bounded in size.

    Every key's log holds at most its rate's number of attempts, and logs whose
    window has passed are swept away; past `max_keys` live logs, the oldest
    are dropped (those keys start afresh rather than the process growing).
    """

    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000
    ) -> None:
        self.clock = clock
        self.max_keys = max_keys
        self._logs: dict[Key, _Log] = {}
        self._next_sweep = 0.0

    def acquire(self, limits: list[tuple[Key, Rate]]) -> Attempt:
        """Record one attempt against every key, or refuse it (RateLimited) if any is full.

        There is no await in here: on one event loop, check and record are atomic.
        """
        now = self.clock()
        wait = 0.0
        for key, rate in limits:
            log = self._logs.get(key)
            if log is not None:
                log.expire(now)
                if len(log.times) >= rate.attempts:
                    wait = max(wait, log.times[0] + rate.seconds - now)
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            raise RateLimited(f"Too many attempts; retry in {seconds} s.", retryAfter=seconds)
        for key, rate in limits:
            log = self._logs.get(key)
            if log is None:
                log = self._logs[key] = _Log(rate)
            log.times.append(now)
        if now >= self._next_sweep or len(self._logs) > self.max_keys:
            self._sweep(now)
        return Attempt(self, now)

    def forget(self, key: Key, at: float) -> None:
        log = self._logs.get(key)
        if log is not None and at in log.times:
            log.times.remove(at)

    def _sweep(self, now: float) -> None:
        for key in [key for key, log in self._logs.items() if not self._alive(log, now)]:
            del self._logs[key]
        while len(self._logs) > self.max_keys:
            del self._logs[next(iter(self._logs))]
        self._next_sweep = now + 60

    @staticmethod
    def _alive(log: _Log, now: float) -> bool:
        log.expire(now)
        return bool(log.times)


@dataclass(frozen=True)
class Attempt:
    limiter: RateLimiter
    at: float

    def take_back(self, key: Key) -> None:
        """Un-count this attempt for `key` (a successful login is no failed one)."""
        self.limiter.forget(key, self.at)


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
        limits: list[tuple[Key, Rate]] = [((name, "address", address), settings.rate_limit_address)]
        key = self.account(settings, kwargs)
        account = ((name, key), self.rate(settings)) if key is not None else None
        if account is not None:
            limits.append(account)
        attempt = limiter.acquire(limits)
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
                attempt.take_back(account[0])
