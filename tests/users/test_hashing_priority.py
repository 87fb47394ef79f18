"""bcrypt runs in its own threads, below the event loop in CPU priority (Linux)."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from bookit_graphql.users import passwords


@pytest.mark.skipif(sys.platform != "linux", reason="a per-thread nice value is Linux's")
async def test_hashes_run_in_niced_threads_off_the_event_loop() -> None:
    # when a password is hashed and checked
    hashed = await passwords.hash_password("correct horse battery", rounds=4)
    seen = await passwords._off_the_loop(
        lambda: (threading.current_thread().name, os.getpriority(os.PRIO_PROCESS, 0))
    )

    # then it happened in a bcrypt thread whose nice value is above the loop's
    assert await passwords.verify_password("correct horse battery", hashed, rounds=4)
    name, nice = seen
    assert name.startswith("bcrypt")
    assert nice >= os.getpriority(os.PRIO_PROCESS, 0) + passwords.HASHING_NICE
