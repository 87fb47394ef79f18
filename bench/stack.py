"""The processes of a benchmark run: PostgreSQL, `bookit serve`, the baseline, wrk.

Everything runs on this machine and is stopped by pid. The servers are pinned
to SERVER_CORE; this process, its clients, wrk and PostgreSQL to CLIENT_CORE,
so that a server's own core measures what that server costs.
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import psycopg

SERVER_CORE, CLIENT_CORE = 0, 1
ROOT = Path(__file__).resolve().parent.parent
PRELOAD = "shared_preload_libraries = 'pg_stat_statements'\n"
# commit times, for F1/F3's latency from each booking's commit (bench/stream.py)
COMMIT_TIMES = "track_commit_timestamp = on\n"


# The cores this machine lets us use, read once: `python -m bench` then pins
# itself to the client core, and the servers must not inherit that.
CORES = sorted(os.sched_getaffinity(0))


def cores() -> tuple[int, int]:
    """(server core, client core); one core for both on a one-core machine."""
    if len(CORES) < 2:
        return CORES[0], CORES[0]
    return CORES[0], CORES[1]


def ensure_wrk() -> str:
    """The path of wrk, installed from Debian's packages when missing."""
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk is missing: apt-get install -y wrk", flush=True)  # noqa: T201
    apt = ["apt-get", "-y", "-q"] if os.geteuid() == 0 else ["sudo", "apt-get", "-y", "-q"]
    install = subprocess.run([*apt, "install", "wrk"], capture_output=True, check=False)
    if install.returncode != 0:
        subprocess.run([*apt[:-2], "update", "-q"], check=True, capture_output=True)
        subprocess.run([*apt, "install", "wrk"], check=True, capture_output=True)
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk could not be installed")
    return found


def raise_open_files() -> None:
    """As many file descriptors as allowed: 1,000 WebSockets need more than 1,024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Demo:
    admin_email: str
    admin_password: str
    bulk_password: str


def load_demo_data(env: dict[str, str], scale: float) -> Demo:
    """`bookit demo-data` into the data folder of `env`; the logins it printed."""
    done = subprocess.run(
        [sys.executable, "-m", "bookit_graphql", "demo-data", "--scale", str(scale)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"bookit demo-data failed:\n{done.stdout}\n{done.stderr}")
    admin = re.search(r"admin\s+(\S+)\s+password (\S+)", done.stdout)
    bulk = re.search(r"share the password (\S+)", done.stdout)
    if admin is None or bulk is None:
        raise RuntimeError(f"cannot read the logins in:\n{done.stdout}")
    return Demo(admin.group(1), admin.group(2), bulk.group(1))


@contextlib.contextmanager
def postgres(data_dir: Path) -> Iterator[str]:
    """The embedded server of `data_dir` with pg_stat_statements, pinned to the client core.

    `bookit demo-data` has made the folder (and stopped the server it started):
    preloading the extension needs a restart, which this start is.
    """
    from bookit_graphql.embedded import embedded_database

    conf = data_dir / "pg" / "postgresql.conf"
    for line in (PRELOAD, COMMIT_TIMES):
        if line not in conf.read_text():
            with conf.open("a") as handle:
                handle.write(line)
    with embedded_database(data_dir) as url:
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        main = postmaster(url)
        _, client = cores()
        for process in [main, *main.children()]:
            with contextlib.suppress(psutil.Error):
                process.cpu_affinity([client])  # backends forked later inherit it
        yield url


@dataclass
class Server:
    name: str
    base: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return f"{self.base}/graphql"

    def rss_mb(self) -> float:
        return _status_kb(self.pid, "VmRSS") / 1024

    def peak_mb(self) -> float:
        return _status_kb(self.pid, "VmHWM") / 1024

    def cpu_seconds(self) -> float:
        times = psutil.Process(self.pid).cpu_times()
        return float(times.user + times.system)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def start(
    name: str,
    command: list[str],
    env: dict[str, str],
    log: Path,
    port: int,
    *,
    core: int | None = None,
) -> Server:
    """`command` pinned to the server core (or `core`); waits for its /healthz."""
    server_core = cores()[0] if core is None else core
    with log.open("wb") as output:
        process = subprocess.Popen(
            ["taskset", "-c", str(server_core), *command],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    server = Server(name, f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{log.read_text()}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{server.base}/healthz", timeout=1).status_code == 200:
                pinned = psutil.Process(process.pid).cpu_affinity()
                if pinned != [server_core]:
                    server.stop()
                    raise RuntimeError(f"{name} runs on cores {pinned}, not {server_core}")
                return server
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"{name} did not become healthy:\n{log.read_text()}")


class Statements:
    """SQL statements that reached PostgreSQL, from pg_stat_statements."""

    def __init__(self, url: str) -> None:
        self.connection = psycopg.connect(url, autocommit=True)

    def reset(self) -> None:
        self.connection.execute("SELECT pg_stat_statements_reset()")

    def counts(self) -> tuple[int, int]:
        """(every statement, queries only: no BEGIN/COMMIT/ROLLBACK, no pool ping)."""
        rows = self.connection.execute(
            "SELECT query, calls FROM pg_stat_statements "
            "WHERE query NOT LIKE '%pg_stat_statements%'"
        ).fetchall()
        every = sum(calls for _, calls in rows)
        control = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SELECT \$?1\s*$|SELECT 1\s*$)", re.I)
        queries = sum(calls for query, calls in rows if not control.match(query))
        return every, queries

    def close(self) -> None:
        self.connection.close()


def postmaster(url: str) -> psutil.Process:
    """PostgreSQL's main process."""
    with psycopg.connect(url) as connection:
        row = connection.execute("SELECT pg_backend_pid()").fetchone()
        # while the backend lives: after the connection closes, it is gone
        return psutil.Process(row[0] if row else 0).parent()


def postgres_cpu(main: psutil.Process) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL process (the postmaster and its children)."""
    found = {}
    for process in [main, *main.children()]:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            found[process.pid] = times.user + times.system
    return found
