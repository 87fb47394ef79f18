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

from bookit_graphql.errors import BadUserInput

MIN_BYTES, MAX_BYTES = 8, 72
# A hash costs the CPU a quarter of a second (cost 12). In threads of the
# default pool, four concurrent logins took four fifths of a core from the
# event loop, and every other request waited (the benchmark's L1: S1's p99
# rose more than tenfold). bcrypt gets its own few threads, niced below the
# loop, so logins take the CPU that requests leave.
HASHING_THREADS = max(1, min(4, os.cpu_count() or 1))
HASHING_NICE = 10
T = TypeVar("T")


def _below_the_event_loop() -> None:
    if sys.platform == "linux":  # there, a thread has a nice value of its own
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASHING_NICE)


_hashing = ThreadPoolExecutor(
    HASHING_THREADS, thread_name_prefix="bcrypt", initializer=_below_the_event_loop
)


async def _off_the_loop(work: Callable[..., T], *args: object) -> T:
    return await asyncio.get_running_loop().run_in_executor(_hashing, work, *args)


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
