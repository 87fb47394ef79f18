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
# rose more than tenfold). bcrypt gets its own few threads, niced below the
# loop, so logins take the CPU that requests leave; and at most HASHING_JOBS
# hashes run or wait: past that a login is refused at once (SERVICE_UNAVAILABLE,
# HTTP 503 with Retry-After) rather than queued behind seconds of others.
HASHING_THREADS = max(1, min(4, os.cpu_count() or 1))
HASHING_NICE = 10
HASHING_JOBS = 8 * HASHING_THREADS
T = TypeVar("T")


def _below_the_event_loop() -> None:
    if sys.platform == "linux":  # there, a thread has a nice value of its own
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASHING_NICE)


_hashing = ThreadPoolExecutor(
    HASHING_THREADS, thread_name_prefix="bcrypt", initializer=_below_the_event_loop
)


_jobs = threading.BoundedSemaphore(HASHING_JOBS)  # a slot per hash running or waiting
BUSY = "Too many logins at once; retry in a few seconds."


async def _off_the_loop(work: Callable[..., T], *args: object) -> T:
    if not _jobs.acquire(blocking=False):
        raise ServiceUnavailable(BUSY)
    try:
        done = asyncio.get_running_loop().run_in_executor(_hashing, _then_free, work, *args)
    except BaseException:
        _jobs.release()
        raise
    return await done


def _then_free(work: Callable[..., T], *args: object) -> T:
    """Run `work`, then free its slot: when it ends, even if its caller was cancelled."""
    try:
        return work(*args)
    finally:
        _jobs.release()


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
    hashed = await _off_the_loop(bcrypt.hashpw, password.encode(), salt)
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
    target = hashed.encode() if hashed else await _off_the_loop(_dummy_hash, rounds)
    matches = await _off_the_loop(bcrypt.checkpw, candidate, target)
    return matches and hashed is not None and len(password.encode()) <= MAX_BYTES
