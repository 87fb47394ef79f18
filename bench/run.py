"""`python -m bench`: the whole benchmark in one run, on this machine, stopped by pid.

1. a fresh data folder under /tmp, filled by `bookit demo-data` (bcrypt cost 12);
2. its embedded PostgreSQL restarted with pg_stat_statements (statements per request),
   and what PostGraphile's default preset needs added to it (bench/postgraphile.py);
3. `bookit serve` as a user runs it (its defaults: the access log at INFO, metrics
   on, rate limits on) but for the settings in BOOKIT below, the raw baseline
   (bench/baseline.py) and PostGraphile 5, one process each, on the server core
   (with --metrics-off, a second `bookit serve` with BOOKIT_METRICS=off too);
   wrk, the asyncio clients and PostgreSQL on the other;
4. a check of the answers to the reads: the baseline's bytes equal BookIt's (or
   their JSON, reported as such), PostGraphile's equal once names are normalised;
5. the scenarios against each server in turn; then (unless --no-profile) py-spy
   on `bookit serve` during one more run of S1 to S3 and W1; results to
   bench/results/*.json and docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import platform
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil
import psycopg

from bench import clients, documents, postgraphile, profile, report, stack, stream
from bench.load import Wrk, booking_script, login_script, result, static_script

READS = ("S1", "S2", "S3", "S4")
ALL = ("S1", "S2", "S3", "S4", "L1", "W1", "W2", "F1", "F3", "F2")
PROFILED = ("S1", "S2", "S3", "W1")

# What `bookit serve` is given beyond its defaults, each because the load needs it:
BOOKIT = {
    # L1 logs in from one address without a pause (the default is 30 a minute);
    # the per-account limits stay on (they count failed logins)
    "BOOKIT_RATE_LIMIT_ADDRESS": "1000000/1m",
    "BOOKIT_MAX_COST": str(documents.MAX_COST),  # S4's request (documents.py)
    "ACCESS_TOKEN_EXPIRE": "120",  # minutes: the run's tokens outlive a full run
}


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="BookIt against a raw baseline, measured in one run."
    )
    parser.add_argument("--duration", type=float, default=10, help="seconds per run (10)")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of warm-up (3)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (16)")
    parser.add_argument(
        "--quick", action="store_true", help="3 s runs, 1 s warm-up, fewer W2 rounds and events"
    )
    parser.add_argument("--scenarios", default=",".join(ALL), help=f"of {','.join(ALL)}")
    parser.add_argument("--subscribers", type=int, default=1000, help="F1 subscribers (1000)")
    parser.add_argument("--changes", type=int, default=20, help="F1 burst of changes (20)")
    parser.add_argument("--rate", type=float, default=20, help="F3 changes a second (20)")
    parser.add_argument("--steady", type=float, default=10, help="F3 seconds of changes (10)")
    parser.add_argument(
        "--webhook-changes", type=int, default=1000, help="F2 bookings, each to 10 endpoints (1000)"
    )
    parser.add_argument("--scale", type=float, default=1.0, help="demo-data scale (1)")
    parser.add_argument(
        "--soak", type=float, default=0, help="also run S1 this many seconds, sampling RSS"
    )
    parser.add_argument(
        "--metrics-off",
        action="store_true",
        help="also measure a second BookIt with BOOKIT_METRICS=off (what the metrics cost)",
    )
    parser.add_argument(
        "--profile",
        action=argparse.BooleanOptionalAction,
        default=True,
        help=f"py-spy on bookit serve during one more run of each of {','.join(PROFILED)} "
        "(on: the doc shows where a missed target's time goes)",
    )
    parser.add_argument("--no-doc", action="store_true", help="do not write docs/benchmarks.md")
    parser.add_argument("--note", default="", help="a line for the results (what changed)")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.warmup = 3, 1
        args.changes = min(args.changes, 5)
        args.webhook_changes = min(args.webhook_changes, 100)
    args.scenarios = [name.strip().upper() for name in args.scenarios.split(",") if name.strip()]
    unknown = set(args.scenarios) - set(ALL)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    return args


def machine() -> dict[str, Any]:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


class Bench:
    def __init__(self, args: argparse.Namespace, url: str, wrk: Wrk, folder: Path) -> None:
        self.args, self.url, self.wrk, self.folder = args, url, wrk, folder
        self.statements = stack.Statements(url)
        self.postmaster = stack.postmaster(url)
        self.results: dict[str, Any] = {}

    def measure(
        self, server: stack.Server, name: str, runner: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        """Run a scenario, with the server's RSS, the cores' load and the statements."""
        self.statements.reset()
        cpu, started = server.cpu_seconds(), time.monotonic()
        pg_before = stack.postgres_cpu(self.postmaster)
        try:
            found = runner()
        except Exception as failure:  # one broken scenario must not lose the others
            print(f"  {name:<3} {server.name:<8} FAILED: {failure!r}", flush=True)  # noqa: T201
            return {"failed": repr(failure)}
        cpu, wall = server.cpu_seconds() - cpu, time.monotonic() - started
        pg = sum(
            seconds - pg_before.get(pid, 0)
            for pid, seconds in stack.postgres_cpu(self.postmaster).items()
        )
        settle(found)
        every, queries = self.statements.counts()
        requests = max(1, found.get("requests", 1))
        found["statements_per_request"] = round(every / requests, 2)
        found["queries_per_request"] = round(queries / requests, 2)
        found["rss_mb"] = round(server.rss_mb(), 1)
        # the server process's own CPU: per request, and the share of its core it used
        found["server_cpu_ms"] = round(1000 * cpu / requests, 2)
        found["server_busy_pct"] = round(100 * cpu / wall, 1)
        found["postgres_cpu_ms"] = round(1000 * pg / requests, 2)  # all of its processes
        print(f"  {name:<3} {server.name:<8} {report.line(found)}", flush=True)  # noqa: T201
        return found

    def wrk_read(self, server: stack.Server, name: str, script: str) -> dict[str, Any]:
        args = self.args
        warm = self.wrk.run(f"{name}-warm", script, server.url, connections=args.connections,
                            seconds=args.warmup)  # fmt: skip
        settle(warm)
        return self.measure(
            server,
            name,
            lambda: self.wrk.run(
                name, script, server.url, connections=args.connections, seconds=args.duration
            ),
        )


def settle(found: dict[str, Any]) -> None:
    """Let the requests still in flight when wrk stopped finish (they count as statements)."""
    time.sleep(min(10.0, found.get("p99_ms", 0) / 1000 + 0.3))


def request_for(server: stack.Server, body: dict[str, Any]) -> dict[str, Any] | None:
    """A read's request in the server's dialect (None: PostGraphile is not asked it)."""
    return postgraphile.body(body) if server.name == "postgraphile" else body


def same_answers(
    servers: list[stack.Server], requests: dict[str, tuple[dict[str, Any], str | None]]
) -> dict[str, dict[str, str]]:
    """How each server's answer to each read compares with BookIt's (the first server's).

    "bytes": the same bytes; "json": the same JSON in other bytes (reported, not
    fatal); "normalised": PostGraphile's, equal after postgraphile.normalise().
    Anything else raises: a run that compares different answers measures nothing.
    """
    verdict: dict[str, dict[str, str]] = {}
    for name, (body, token) in requests.items():
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        expected = httpx.post(servers[0].url, json=body, headers=headers, timeout=60).content
        if b'"errors"' in expected:
            raise RuntimeError(f"{name} failed on {servers[0].name}: {expected[:2000]!r}")
        verdict[name] = {}
        for server in servers[1:]:
            asked = request_for(server, body)
            if asked is None:
                verdict[name][server.name] = "not asked"
                continue
            found = httpx.post(server.url, json=asked, headers=headers, timeout=60).content
            if server.name == "postgraphile":
                postgraphile.check(name, orjson.loads(expected), orjson.loads(found))
                verdict[name][server.name] = "normalised"
            elif found == expected:
                verdict[name][server.name] = "bytes"
            elif orjson.loads(found) == orjson.loads(expected):
                verdict[name][server.name] = "json"
            else:
                raise RuntimeError(
                    f"{name}: {server.name} answers other JSON than {servers[0].name}:\n"
                    f"{found[:2000]!r}\nagainst\n{expected[:2000]!r}"
                )
    return verdict


def main(argv: list[str] | None = None) -> None:
    args = arguments(argv)
    server_core, client_core = stack.cores()
    os.sched_setaffinity(0, {client_core})  # this process, PostgreSQL and wrk
    stack.raise_open_files()
    wrk = Wrk(stack.ensure_wrk(), Path())
    folder = Path(tempfile.mkdtemp(prefix="bkb", dir="/tmp"))  # socket paths stay short
    wrk.scripts = folder
    secret = secrets.token_urlsafe(48)
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "BCRYPT_ROUNDS", "BOOKIT_ENV")
    }
    env.update(BOOKIT, BOOKIT_DATA_DIR=str(folder), SECRET_KEY=secret, PYTHONPATH=str(stack.ROOT))
    env.pop("LOG_LEVEL", None)  # the default, INFO: the access log is part of a request
    started = datetime.now(UTC)
    print(f"data folder {folder}; servers on core {server_core}, clients on {client_core}")  # noqa: T201
    servers: list[stack.Server] = []
    try:
        graphile = postgraphile.install()
        print("bookit demo-data ...", flush=True)  # noqa: T201
        demo = stack.load_demo_data(env, args.scale)
        with stack.postgres(folder) as url:
            env["DATABASE_URL"] = url
            postgraphile.prepare(url)
            bookit_port, baseline_port = stack.free_port(), stack.free_port()
            bookit = stack.start(
                "bookit",
                [sys.executable, "-m", "bookit_graphql", "serve", "--port", str(bookit_port)],
                env,
                folder / "bookit.log",
                bookit_port,
            )
            servers.append(bookit)
            baseline = stack.start(
                "baseline",
                [sys.executable, "-m", "bench.baseline", "--port", str(baseline_port)],
                env,
                folder / "baseline.log",
                baseline_port,
            )
            servers.append(baseline)
            graphile_port = stack.free_port()
            servers.append(
                stack.start(
                    "postgraphile",
                    postgraphile.command(graphile),
                    postgraphile.environment(env, url, graphile_port),
                    folder / "postgraphile.log",
                    graphile_port,
                )
            )
            if args.metrics_off:
                quiet_port = stack.free_port()
                servers.append(
                    stack.start(
                        "bookit-nometrics",
                        [
                            sys.executable,
                            "-m",
                            "bookit_graphql",
                            "serve",
                            "--port",
                            str(quiet_port),
                        ],
                        # one worker is enough: the first server delivers the webhooks (F2)
                        {**env, "BOOKIT_METRICS": "off", "BOOKIT_WORKER": "off"},
                        folder / "bookit-nometrics.log",
                        quiet_port,
                    )
                )
            if "F2" in args.scenarios:
                # the receiver is a client: on the client core, beside wrk and PostgreSQL
                receiver_port = stack.free_port()
                servers.append(
                    stack.start(
                        "receiver",
                        [sys.executable, "-m", "bench.receiver", "--port", str(receiver_port)],
                        env,
                        folder / "receiver.log",
                        receiver_port,
                        core=client_core,
                    )
                )
            bench = Bench(args, url, wrk, folder)
            results = run_scenarios(bench, servers, demo)
            output = {
                "date": started.isoformat(timespec="seconds"),
                "machine": machine(),
                "settings": {
                    "duration_s": args.duration,
                    "warmup_s": args.warmup,
                    "connections": args.connections,
                    "quick": args.quick,
                    "scale": args.scale,
                    "server_core": server_core,
                    "client_core": client_core,
                    "bookit_env": BOOKIT,
                },
                "note": args.note,
                "metrics_off": args.metrics_off,
                "commit": report.commit(),
                "results": results,
            }
            bench.statements.close()
    finally:
        for server in reversed(servers):
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)
    saved = report.save(output, write_doc=not args.no_doc)
    print(report.table(output))  # noqa: T201
    print(f"results: {saved}")  # noqa: T201


def run_scenarios(bench: Bench, servers: list[stack.Server], demo: stack.Demo) -> dict[str, Any]:
    args = bench.args
    bookit = servers[0]
    receiver = next((server for server in servers if server.name == "receiver"), None)
    servers = [server for server in servers if server is not receiver]
    with psycopg.connect(bench.url) as connection:
        rows = connection.execute(
            "SELECT id::text, duration_minutes FROM services WHERE is_active "
            "ORDER BY review_count DESC, id LIMIT 16"
        ).fetchall()
        # The writes book services of their own, copies of those 16 with the
        # default rules (open around the clock, one seat, no buffers, a year
        # ahead): there the baseline's plain insert keeps the same rule as
        # BookIt, and the demo's hours, closures and notice refuse nothing.
        writable = connection.execute(
            "INSERT INTO services (id, title, description, price, duration_minutes) "
            "SELECT gen_random_uuid(), 'Bench ' || title, description, price, duration_minutes "
            "FROM services WHERE id = ANY(%s::uuid[]) RETURNING id::text, duration_minutes",
            ([service for service, _ in rows],),
        ).fetchall()
        emails = [
            email
            for (email,) in connection.execute(
                "SELECT email FROM users WHERE role = 'USER' AND is_active "
                "AND email <> 'user@bookit.example' ORDER BY email LIMIT 16"
            )
        ]
    detail_id = rows[0][0]
    services = [service for service, _ in writable]
    step = -(-max(minutes for _, minutes in writable) * 60 // 3600) * 3600  # whole hours
    print("logging in the admin and 16 users (bcrypt cost 12) ...", flush=True)  # noqa: T201
    tokens = asyncio.run(
        clients.logins(
            bookit.url,
            [(demo.admin_email, demo.admin_password)]
            + [(email, demo.bulk_password) for email in emails],
        )
    )
    admin, users = tokens[0], tokens[1:]
    reads = {
        "S1": (documents.body(documents.SERVICES, "Services", {"first": 50}), None),
        "S2": (documents.body(documents.BOOKINGS, "Bookings", {"first": 50}), admin),
        "S3": (
            documents.body(documents.SERVICE, "Service", {"id": detail_id, "reviewsFirst": 20}),
            None,
        ),
    }
    slots = {"first": 50, **documents.next_week(datetime.now(UTC))}
    reads["S4"] = (documents.body(documents.SERVICE_SLOTS, "ServiceSlots", slots), None)
    results: dict[str, Any] = {"same_answers": same_answers(servers, reads)}
    print(f"answers compared with BookIt's: {results['same_answers']}", flush=True)  # noqa: T201
    results["page_size"] = page_size_check(bench, servers, admin, detail_id)
    print(f"statements at 5 and 50 items: {results['page_size']}", flush=True)  # noqa: T201
    for name in [n for n in READS if n in args.scenarios]:
        body, token = reads[name]
        results[name] = {}
        for server in servers:
            asked = request_for(server, body)
            if asked is not None:
                script = static_script(asked, token)
                results[name][server.name] = bench.wrk_read(server, name, script)
    # PostGraphile is an anchor for the reads: the writes and logins are BookIt's rules
    servers = [server for server in servers if server.name != "postgraphile"]
    if "L1" in args.scenarios:
        results["L1"] = {
            server.name: login_storm(bench, server, emails, demo) for server in servers
        }
    if "W1" in args.scenarios:
        results["W1"] = {}
        for index, server in enumerate(servers):
            script = booking_script(
                documents.CREATE_BOOKING,
                services,
                users,
                base=int(ahead(2 + 60 * index).timestamp()),
                step_seconds=step,
            )
            results["W1"][server.name] = bench.measure(
                server,
                "W1",
                functools.partial(
                    bench.wrk.run,
                    "W1",
                    script,
                    server.url,
                    connections=args.connections,
                    seconds=args.duration,
                ),
            )
    if "W2" in args.scenarios:
        rounds = 5 if args.quick else 20
        results["W2"] = {}
        for index, server in enumerate(servers):
            results["W2"][server.name] = bench.measure(
                server,
                "W2",
                functools.partial(
                    asyncio.run,
                    clients.contention(
                        server.url,
                        service_id=services[1],
                        tokens=users,
                        rounds=rounds,
                        bookers=50,
                        base=ahead(130 + 25 * index),
                    ),
                ),
            )
    for name in [n for n in ("F1", "F3") if n in args.scenarios]:
        burst = name == "F1"
        results[name] = {
            "bookit": bench.measure(
                bookit,
                name,
                functools.partial(
                    asyncio.run,
                    stream.fanout(
                        http_url=bookit.url,
                        ws_url=bookit.url.replace("http://", "ws://"),
                        admin_token=admin,
                        booker_token=users[0],
                        service_id=services[2 if burst else 3],
                        subscribers=args.subscribers,
                        changes=args.changes if burst else int(args.rate * args.steady),
                        rate=None if burst else args.rate,
                        base=ahead(190 if burst else 200),
                        step_seconds=6 * 3600 if burst else step,
                        rss=bookit.rss_mb,
                        server_cpu=bookit.cpu_seconds,
                        commits=stream.commit_times(bench.url),
                    ),
                ),
            )
        }
    if "F2" in args.scenarios and receiver is not None:
        results["F2"] = {
            variant: bench.measure(
                bookit,
                "F2",
                functools.partial(
                    asyncio.run,
                    clients.webhooks(
                        url=bookit.url,
                        receiver=receiver.base,
                        admin_token=admin,
                        booker_token=users[0],
                        endpoints=10,
                        changes=args.webhook_changes,
                        fail_half=variant == "failing",
                        label=variant,
                        wait_seconds=600,
                    ),
                ),
            )
            for variant in ("healthy", "failing")
        }
    if args.soak:
        results["M1"] = soak(bench, bookit, reads["S1"][0], args.soak)
    if args.profile:
        scripts = {name: static_script(*reads[name]) for name in READS}
        scripts["W1"] = booking_script(
            documents.CREATE_BOOKING, services, users, base=int(ahead(250).timestamp()),
            step_seconds=step,
        )  # fmt: skip
        results["profiles"] = {
            name: profiled(bench, bookit, name, scripts[name])
            for name in PROFILED
            if name in args.scenarios
        }
    return results


def profiled(bench: Bench, server: stack.Server, name: str, script: str) -> dict[str, Any]:
    """One more run of a scenario, py-spy sampling the server all along: its top entries."""
    seconds = bench.args.duration
    output = bench.folder / f"profile-{name}.txt"
    sampler = profile.record(server.pid, seconds + 0.5, output)
    time.sleep(0.5)  # attached before the load starts
    found = bench.wrk.run(f"{name}-profile", script, server.url,
                          connections=bench.args.connections, seconds=seconds)  # fmt: skip
    said, _ = sampler.communicate(timeout=60)
    if sampler.returncode != 0 or not output.is_file():
        return {"failed": f"py-spy exited with {sampler.returncode}: {said[-500:]}"}
    top = profile.top(output)
    print(f"  {name:<3} profiled: {top['samples']} samples at {found['rps']:.0f} req/s", flush=True)  # noqa: T201
    return {**top, "rps": found["rps"]}


def ahead(days: int) -> datetime:
    """09:00 UTC `days` after tomorrow: inside the write services' one-year horizon.

    W1 takes about 15 days of slots a server, W2 a day a round, F1 5 days, F3 a slot
    of `step` per change (200 changes of at most 2 hours: 17 days)."""
    day = datetime.now(UTC).date() + timedelta(days=1 + days)
    return datetime(day.year, day.month, day.day, 9, tzinfo=UTC)


def page_size_check(
    bench: Bench, servers: list[stack.Server], admin: str, detail_id: str
) -> dict[str, Any]:
    """Statements of one request of each read at a small and a large page, per server."""
    pages: dict[str, Callable[[int], tuple[dict[str, Any], str | None]]] = {
        "S1": lambda n: (documents.body(documents.SERVICES, "Services", {"first": n}), None),
        "S2": lambda n: (documents.body(documents.BOOKINGS, "Bookings", {"first": n}), admin),
        "S3": lambda n: (
            documents.body(documents.SERVICE, "Service", {"id": detail_id, "reviewsFirst": n}),
            None,
        ),
        "S4": lambda n: (
            documents.body(
                documents.SERVICE_SLOTS,
                "ServiceSlots",
                {"first": n, **documents.next_week(datetime.now(UTC))},
            ),
            None,
        ),
    }
    found: dict[str, Any] = {}
    for name, make in pages.items():
        for server in servers:
            counts = []
            for size in (5, 50):
                given, token = make(size)
                body = request_for(server, given)
                if body is None:
                    break
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                httpx.post(server.url, json=body, headers=headers, timeout=60)  # warm
                seen = []
                for _ in range(3):  # the least of three: BookIt's listener polls now and then
                    bench.statements.reset()
                    httpx.post(server.url, json=body, headers=headers, timeout=60)
                    seen.append(bench.statements.counts()[1])
                counts.append(min(seen))
            if counts:
                found.setdefault(name, {})[server.name] = counts
    return found


def login_storm(
    bench: Bench, server: stack.Server, emails: list[str], demo: stack.Demo
) -> dict[str, Any]:
    """L1: S1 alone, then S1 with 4 connections logging in all the while."""
    args = bench.args
    s1 = static_script(documents.body(documents.SERVICES, "Services", {"first": 50}))
    logins = login_script(documents.LOGIN, emails, demo.bulk_password)
    bench.wrk.run("L1-warm", s1, server.url, connections=args.connections, seconds=args.warmup)
    alone = bench.wrk.run("L1-alone", s1, server.url, connections=args.connections,
                          seconds=args.duration)  # fmt: skip

    def storm() -> dict[str, Any]:
        storming = bench.wrk.start("L1-logins", logins, server.url, connections=4,
                                   seconds=args.duration + 1)  # fmt: skip
        time.sleep(0.5)  # the storm is on before S1 starts
        measured = bench.wrk.run("L1-s1", s1, server.url, connections=args.connections,
                                 seconds=args.duration)  # fmt: skip
        measured["logins"] = result(storming)
        return measured

    found = bench.measure(server, "L1", storm)
    found["alone"] = alone
    found["p99_factor"] = round(found["p99_ms"] / alone["p99_ms"], 2) if alone["p99_ms"] else None
    return found


def soak(
    bench: Bench, server: stack.Server, body: dict[str, Any], seconds: float
) -> dict[str, Any]:
    """M1: S1 for `seconds`, the server's RSS sampled every 10 s."""
    script = static_script(body)
    process = bench.wrk.start("M1", script, server.url, connections=bench.args.connections,
                              seconds=seconds)  # fmt: skip
    samples = []
    started = time.monotonic()
    while process.poll() is None:
        samples.append((round(time.monotonic() - started), round(server.rss_mb(), 1)))
        time.sleep(10)
    found = result(process)
    found["rss_samples"] = samples
    found["rss_mb"] = round(server.rss_mb(), 1)
    return found


def dumps(value: Any) -> str:
    return json.dumps(value, indent=2)
