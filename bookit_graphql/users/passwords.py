"""bcrypt hashing, off the event loop, with the contract's length rule."""

from __future__ import annotations

import asyncio
import functools

import bcrypt

from bookit_graphql.errors import BadUserInput

MIN_BYTES, MAX_BYTES = 8, 72


def check_length(password: str, *, field: str) -> None:
    size = len(password.encode())
    if not MIN_BYTES <= size <= MAX_BYTES:
        raise BadUserInput(
            f"A password is {MIN_BYTES} to {MAX_BYTES} bytes long (UTF-8).", field=field
        )


async def hash_password(password: str, *, rounds: int) -> str:
    salt = bcrypt.gensalt(rounds)
    hashed = await asyncio.to_thread(bcrypt.hashpw, password.encode(), salt)
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
    target = hashed.encode() if hashed else await asyncio.to_thread(_dummy_hash, rounds)
    matches = await asyncio.to_thread(bcrypt.checkpw, candidate, target)
    return matches and hashed is not None and len(password.encode()) <= MAX_BYTES
