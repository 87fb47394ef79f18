"""bcrypt hashing, off the event loop and below it in priority, with the length rule."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import bcrypt

from bookit_graphql.errors import BadUserInput, ServiceUnavailable

MIN_BYTES, MAX_BYTES = 8, 72
# A hash costs the CPU a quarter of a second (cost 12). In threads of the
# default pool, four concurrent logins took four fifths of a core from the
# event loop, and every other request waited (the benchmark's L1: S1's p99
# rose more than tenfold). bcrypt gets its own few threads, niced and idle-class below the
# loop, so logins take the CPU that requests leave; and the hashes running or
# waiting are at most HASHING_BUDGET rounds of work (a hash of cost c is 2**c;
# the budget is eight cost-12 hashes, two seconds, a thread): past it a login is
# refused at once (SERVICE_UNAVAILABLE, HTTP 503 with Retry-After) rather than
# queued behind seconds of others.
HASHING_THREADS = max(1, min(4, os.cpu_count() or 1))
HASHING_NICE = 10
HASHING_BUDGET = HASHING_THREADS * 8 * 2**12
T = TypeVar("T")


def _below_the_event_loop() -> None:
    if sys.platform == "linux":  # there, a thread has a nice value and a policy of its own
        thread = threading.get_native_id()
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, thread, HASHING_NICE)
        # SCHED_IDLE: a hash gives way the moment the loop wakes. A nice value only
        # weighs shares: under EEVDF (Linux 6.6+) a woken loop could still wait out a
        # hash's slice, and S1's p99 in the login storm was 1.5 to 1.56 times its own
        with contextlib.suppress(OSError, AttributeError):
            os.sched_setscheduler(thread, os.SCHED_IDLE, os.sched_param(0))


_hashing = ThreadPoolExecutor(
    HASHING_THREADS, thread_name_prefix="bcrypt", initializer=_below_the_event_loop
)


BUSY = "Too many logins at once; retry in a few seconds."


class Budget:
    """Hashing work running or waiting, in bcrypt rounds, up to `limit`.

    With nothing running any hash is taken, so that BCRYPT_ROUNDS above the
    budget (a cost of 17 and more) slows logins down but never refuses them all.
    """

    def __init__(self, limit: int) -> None:
        self.limit, self.used = limit, 0
        self._lock = threading.Lock()

    def take(self, amount: int) -> bool:
        with self._lock:
            if self.used and self.used + amount > self.limit:
                return False
            self.used += amount
            return True

    def give(self, amount: int) -> None:
        with self._lock:
            self.used -= amount


_budget = Budget(HASHING_BUDGET)


async def _off_the_loop(work: Callable[..., T], *args: object, rounds: int) -> T:
    """`work(*args)` in a hashing thread, if the budget has room for a hash of `rounds`."""
    budget, amount = _budget, 2**rounds
    if not budget.take(amount):
        raise ServiceUnavailable(BUSY)
    try:
        done = asyncio.get_running_loop().run_in_executor(
            _hashing, _then_give, budget, amount, work, *args
        )
    except BaseException:
        budget.give(amount)
        raise
    return await done


def _then_give(budget: Budget, amount: int, work: Callable[..., T], *args: object) -> T:
    """Run `work`, then give its share back: when it ends, even if its caller was cancelled."""
    try:
        return work(*args)
    finally:
        budget.give(amount)


def cost_of(hashed: str) -> int:
    """The cost (log2 rounds) a bcrypt hash was made with: `$2b$12$...` is 12."""
    return int(hashed.split("$")[2])


def check_length(password: str, *, field: str) -> None:
    size = len(password.encode())
    if not MIN_BYTES <= size <= MAX_BYTES:
        raise BadUserInput(
            f"A password is {MIN_BYTES} to {MAX_BYTES} bytes long (UTF-8).", field=field
        )


async def hash_password(password: str, *, rounds: int) -> str:
    salt = bcrypt.gensalt(rounds)
    hashed = await _off_the_loop(bcrypt.hashpw, password.encode(), salt, rounds=rounds)
    return hashed.decode()


@functools.cache
def _dummy_hash(rounds: int) -> bytes:
    return bcrypt.hashpw(b"not a password of anyone", bcrypt.gensalt(rounds))


async def verify_password(password: str, hashed: str | None, *, rounds: int) -> bool:
    """Whether `password` matches `hashed`, costing the same when `hashed` is None.

    Checking against a dummy hash of the same cost for an unknown account keeps
    login time from telling which emails exist.
    """
    candidate = password.encode()[:MAX_BYTES]  # longer never matches: it was never stored
    target = hashed.encode() if hashed else await _off_the_loop(_dummy_hash, rounds, rounds=rounds)
    matches = await _off_the_loop(bcrypt.checkpw, candidate, target, rounds=rounds)
    return matches and hashed is not None and len(password.encode()) <= MAX_BYTES
