"""`bookit serve --workers N`: several processes behind one port, stopped by one SIGTERM."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import SECRET, free_port, wait_until_healthy

SERVICES = "query { services(first: 1) { totalCount } }"


def test_two_workers_serve_and_stop_on_sigterm(database_url: str, tmp_path: Path) -> None:
    # given `bookit serve --workers 2` on the test database
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": SECRET,
        "LOG_LEVEL": "WARNING",
    }
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bookit_graphql",
                "serve",
                "--workers",
                "2",
                "--port",
                str(port),
            ],
            env=env,
            stdout=output,
            stderr=output,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_healthy(base, process, log, timeout=60)

        # when clients query it, on fresh connections
        answers = [
            httpx.post(f"{base}/graphql", json={"query": SERVICES}, timeout=10).json()
            for _ in range(6)
        ]

        # then every answer is right, and one SIGTERM stops all of it
        assert answers == [{"data": {"services": {"totalCount": 0}}}] * 6
    finally:
        process.terminate()
        code = process.wait(timeout=30)
    assert code == 0, log.read_text()
