"""The results of a run: bench/results/<date>.json and the Markdown of docs/benchmarks.md."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from bench.stack import ROOT

RESULTS = ROOT / "bench" / "results"
DOC = ROOT / "docs" / "benchmarks.md"
ANALYSIS = ROOT / "bench" / "analysis.md"  # the hand-written part of the doc

NAMES = {
    "S1": "S1 browse: `services(first: 50)`, every ServiceFields field, anonymous",
    "S2": "S2 bookings: an admin's `bookings(first: 50)` with BookingFields",
    "S3": "S3 detail: `service(id)` with `reviews(first: 20)` and their authors",
    "S4": "S4 slots: `services(first: 50)`, each with `availableSlots` of next week "
    "(stepMinutes 60, the demo's rules), anonymous",
    "L1": "L1 login storm: S1 while 4 connections log in (bcrypt cost 12)",
    "W1": "W1 book: `createBooking` on free slots, 16 users, 16 services",
    "W2": "W2 contention: 50 concurrent bookings of one slot per round (losers' latency)",
    "F1": "F1 fan-out: subscribers of `bookingChanged`, a burst of bookings",
    "F3": "F3 steady fan-out: subscribers of `bookingChanged`, bookings at a steady rate",
    "F2": "F2 webhooks: bookings delivered to 10 endpoints on a local receiver, healthy and "
    "failing the first attempt of every second delivery",
}


def commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    )
    return done.stdout.strip()


def line(found: dict[str, Any]) -> str:
    return (
        f"{found.get('rps', 0):8.1f} req/s  p50 {found.get('p50_ms', 0):7.2f} ms  "
        f"p99 {found.get('p99_ms', 0):7.2f} ms  RSS {found.get('rss_mb', 0):6.1f} MB  "
        f"SQL/req {found.get('queries_per_request', 0)} "
        f"({found.get('statements_per_request', 0)})  "
        f"CPU {found.get('server_cpu_ms', 0):.2f} ms/req "
        f"({found.get('server_busy_pct', 0):.0f} %), "
        f"PostgreSQL {found.get('postgres_cpu_ms', 0):.2f} ms/req"
    )


# The targets for BookIt's reads, as a share of the raw baseline's req/s in
# the same run; each read must also reach at least PostGraphile's share.
READ_TARGETS = {"S1": 0.8, "S2": 0.9, "S3": 0.7}
WRITE_TARGET = 0.5  # W1: createBooking against the raw one-statement write
L1_FACTOR = 1.5  # S1's p99 during the login storm against without
F1_P99_MS, F3_P99_MS = 1000, 250  # commit to client: a burst; a steady 20 changes a second


def _ratio(results: dict[str, Any], name: str, server: str = "bookit") -> float | None:
    """A server's req/s as a share of the raw baseline's in the same scenario."""
    pair = results.get(name, {})
    if server not in pair or "baseline" not in pair or not pair["baseline"].get("rps"):
        return None
    if "failed" in pair[server]:
        return None
    return float(pair[server]["rps"] / pair["baseline"]["rps"])


def table(output: dict[str, Any]) -> str:
    results = output["results"]
    rows = [
        "| scenario | server | req/s | p50 ms | p99 ms | server RSS MB | SQL queries/req "
        "(all statements) | server CPU ms/req | server core busy % | PostgreSQL CPU ms/req "
        "| share of raw req/s |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name in ("S1", "S2", "S3", "S4", "L1", "W1", "W2"):
        if name not in results:
            continue
        for server, found in results[name].items():
            ratio = _ratio(results, name, server)
            if "failed" in found:
                rows.append(f"| {name} | {server} | failed: {found['failed']} | | | | | | | | |")
                continue
            rows.append(
                f"| {name} | {server} | {found['rps']:,.0f} | {found['p50_ms']:.1f} | "
                f"{found['p99_ms']:.1f} | {found['rss_mb']:.0f} | "
                f"{found['queries_per_request']:g} ({found['statements_per_request']:g}) | "
                f"{found.get('server_cpu_ms', 0):.2f} | {found.get('server_busy_pct', 0):.0f} | "
                f"{found.get('postgres_cpu_ms', 0):.2f} | "
                f"{'' if server == 'baseline' or ratio is None else f'{ratio:.2f}'} |"
            )
    return "\n".join(rows)


def details(output: dict[str, Any]) -> str:
    results = output["results"]
    parts = []
    if "L1" in results:
        parts.append("**L1**, S1's latency alone and during the login storm:\n")
        parts.append("| server | S1 p99 alone ms | S1 p99 in storm ms | factor | S1 req/s alone "
                     "| S1 req/s in storm | logins/s | login p50 ms | login p99 ms |")  # fmt: skip
        parts.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for server, found in results["L1"].items():
            if "failed" in found:
                continue
            alone, logins = found["alone"], found["logins"]
            parts.append(
                f"| {server} | {alone['p99_ms']:.1f} | {found['p99_ms']:.1f} | "
                f"{found['p99_factor']} | {alone['rps']:,.0f} | {found['rps']:,.0f} | "
                f"{logins['rps']:.1f} | {logins['p50_ms']:.0f} | {logins['p99_ms']:.0f} |"
            )
        parts.append("")
    if "W1" in results:
        errors = {s: f.get("graphql_errors") for s, f in results["W1"].items()}
        parts.append(f"**W1** requests answered with an error (should be 0): {errors}.\n")
    if "W2" in results:
        parts.append("**W2**, per server: winners per round (must be 1 each), losers' latency:\n")
        parts.append("| server | rounds x bookers | winners per round | unexpected errors | "
                     "losers p50 ms | losers p99 ms | winner p50 ms | ms per round |")  # fmt: skip
        parts.append("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |")
        for server, found in results["W2"].items():
            if "failed" in found:
                parts.append(f"| {server} | failed: {found['failed']} | | | | | | |")
                continue
            winners = sorted(set(found["winners_per_round"]))
            parts.append(
                f"| {server} | {found['rounds']} x {found['bookers']} | "
                f"{', '.join(map(str, winners))} | {found['unexpected_errors']} | "
                f"{found['p50_ms']:.1f} | {found['p99_ms']:.1f} | "
                f"{found['winner_p50_ms']:.1f} | {found['round_ms']:.0f} |"
            )
        parts.append("")
    if "F1" in results and "failed" in results["F1"]["bookit"]:
        parts.append(f"**F1** failed: {results['F1']['bookit']['failed']}\n")
    elif "F1" in results:
        found = results["F1"]["bookit"]
        parts.append(
            f"**F1**, BookIt only (the baseline has no subscriptions): {found['subscribers']:,} "
            f"admin subscribers of the contract's `BookingChanges` (every BookingFields field), "
            f"connected in {found['connect_s']:.1f} s; a burst of {found['changes']} bookings: "
            f"{found['delivered']:,} of {found['expected']:,} deliveries in "
            f"{found['burst_s']:.1f} s ({found['deliveries_per_s']:,.0f}/s), latency from the "
            f"event's {_start(found)} to the client p50 {found['p50_ms']:,.0f} ms, "
            f"p99 {found['p99_ms']:,.0f} ms, max {found['max_ms']:,.0f} ms; "
            f"{found['closed_early']} sockets closed early. Server RSS idle "
            f"{found['idle_mb']:.0f} MB, subscribed {found['subscribed_mb']:.0f} MB, after the "
            f"burst {found['after_burst_mb']:.0f} MB; SQL queries per delivered event "
            f"{_per(found, 'queries')}.\n"
        )
    if "F3" in results and "failed" in results["F3"]["bookit"]:
        parts.append(f"**F3** failed: {results['F3']['bookit']['failed']}\n")
    elif "F3" in results:
        found = results["F3"]["bookit"]
        parts.append(
            f"**F3**, BookIt only: {found['subscribers']:,} admin subscribers of "
            f"`BookingChanges` and {found['changes']} bookings at {found['rate']:g} a second "
            f"(sent at {found['changes_per_s']:.1f}/s): {found['delivered']:,} of "
            f"{found['expected']:,} deliveries, {found['lost']} lost, {found['doubled']} "
            f"doubled; from the event's {_start(found)} to the client p50 "
            f"{found['p50_ms']:,.0f} ms, p99 {found['p99_ms']:,.0f} ms, max "
            f"{found['max_ms']:,.0f} ms. While delivering the server's core was "
            f"{found['delivery_server_busy_pct']:.0f} % busy, "
            f"{found['delivery_server_cpu_us']:.0f} us of CPU per delivery (bookings "
            f"included); the client (raw sockets, bench/stream.py) used "
            f"{found['client_cpu_pct']:.0f} % of its core, its event loop late by "
            f"{found['client_lag_p99_ms']:.0f} ms at p99.\n"
        )
    if "F2" in results:
        parts.append(
            "**F2**, BookIt only (the baseline has no webhooks): each booking of a service of "
            "its own is delivered to 10 endpoints on a local receiver (a Starlette process on "
            "the client core), counted there by `webhook-id`; latency from the event's "
            "`timestamp` (occurred_at, just before the booking's commit) to the accepted "
            "attempt's arrival; deliveries/s from the first booking sent to the last delivery. "
            "Failing: the receiver answers 500 to the first attempt of every second delivery, "
            "which the worker retries after about 5 s. Server CPU per delivery includes the "
            "bookings.\n"
        )
        parts.append("| variant | bookings | deliveries | delivered | lost | doubled | "
                     "attempts | bookings/s | deliveries/s | p50 ms | p99 ms | max ms | "
                     "server CPU ms/delivery |")  # fmt: skip
        parts.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | "
                     "---: | ---: | ---: |")  # fmt: skip
        for variant, found in results["F2"].items():
            if "failed" in found:
                parts.append(f"| {variant} | failed: {found['failed']} |" + " |" * 11)
                continue
            parts.append(
                f"| {variant} | {found['changes']:,} | {found['expected']:,} | "
                f"{found['delivered']:,} | {found['lost']} | {found['doubled']} | "
                f"{found['attempts']:,} | {found['bookings_per_s']:,.0f} | "
                f"{found['deliveries_per_s']:,.0f} | {found['p50_ms']:,.0f} | "
                f"{found['p99_ms']:,.0f} | {found['max_ms']:,.0f} | "
                f"{found.get('server_cpu_ms', 0):.2f} |"
            )
        parts.append("")
    if "page_size" in results:
        parts.append("**Statements per request at 5 and at 50 items** (one request each; "
                     "S3 pages its reviews, S4 its services):\n")  # fmt: skip
        for name, per_server in results["page_size"].items():
            described = "; ".join(f"{s} {a} → {b}" for s, (a, b) in per_server.items())
            parts.append(f"- {name}: {described}")
        parts.append("")
    if "M1" in results:
        found = results["M1"]
        samples = found["rss_samples"]
        parts.append(
            f"**M1 soak**: S1 on BookIt for {found['duration_us'] / 1e6:.0f} s at "
            f"{found['rps']:,.0f} req/s; RSS {samples[0][1] if samples else '?'} MB at the start, "
            f"{found['rss_mb']} MB at the end; samples (s, MB): {samples}.\n"
        )
    return "\n".join(parts)


def _start(found: dict[str, Any]) -> str:
    """Where a delivery's latency starts (bench/stream.py: the commit, where known)."""
    return "commit" if found.get("latency_from") == "commit" else "`occurredAt`"


def _per(found: dict[str, Any], kind: str) -> str:
    delivered = found.get("delivered") or 0
    per_request = found.get(f"{kind}_per_request", 0)  # measure() divided by "requests" (1)
    return f"{per_request / delivered:.2f}" if delivered else "n/a"


def anchors(output: dict[str, Any]) -> str:
    """Each read: BookIt's and PostGraphile's share of the raw limit, and CPU per request."""
    results = output["results"]
    answers = results.get("same_answers", {})
    rows = [
        "| read | BookIt / raw | PostGraphile / raw | BookIt / PostGraphile | server CPU ms/req: "
        "BookIt | PostGraphile | raw | answers against BookIt's |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for name in ("S1", "S2", "S3", "S4", "W1"):
        if name not in results:
            continue
        found = results[name]
        ours, theirs = _ratio(results, name), _ratio(results, name, "postgraphile")

        def cpu(server: str, found: dict[str, Any] = found) -> str:
            if server not in found or "failed" in found[server]:
                return "-"
            return f"{found[server].get('server_cpu_ms', 0):.2f}"

        compared = "; ".join(f"{s}: {v}" for s, v in answers.get(name, {}).items())
        rows.append(
            f"| {name} | {_fmt(ours)} | {_fmt(theirs)} | "
            f"{_fmt(ours / theirs if ours and theirs else None)} | {cpu('bookit')} | "
            f"{cpu('postgraphile')} | {cpu('baseline')} | {compared or '-'} |"
        )
    return "\n".join(rows)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _verdict(measured: float, target: float) -> str:
    """met, or missed by how much (the gap, and the factor that would close it)."""
    if measured >= target:
        return "met"
    if measured <= 0:
        return "missed"
    return f"missed by {target - measured:.2f} ({target / measured:.2f}x short)"


def missed(output: dict[str, Any]) -> list[str]:
    """The scenarios with a target missed in this run."""
    results, found = output["results"], []
    for name, target in READ_TARGETS.items():
        ours, theirs = _ratio(results, name), _ratio(results, name, "postgraphile")
        if ours is not None and (ours < target or (theirs is not None and ours < theirs)):
            found.append(name)
    ours = _ratio(results, "W1")
    if ours is not None and ours < WRITE_TARGET:
        found.append("W1")
    return found


def targets(output: dict[str, Any]) -> str:
    results = output["results"]
    rows = ["| target | measured | verdict |", "| --- | --- | --- |"]
    for name, target in READ_TARGETS.items():
        ours, theirs = _ratio(results, name), _ratio(results, name, "postgraphile")
        if ours is None:
            continue
        rows.append(f"| {name} ≥ {target:g} of the raw limit | {ours:.2f} | "
                    f"{_verdict(ours, target)} |")  # fmt: skip
        if theirs is not None:
            rows.append(f"| {name} ≥ PostGraphile's share of the raw limit | {ours:.2f} against "
                        f"{theirs:.2f} | {_verdict(ours, theirs)} |")  # fmt: skip
    ours = _ratio(results, "W1")
    if ours is not None:
        rows.append(f"| W1 `createBooking` ≥ {WRITE_TARGET:g} of the raw one-statement write | "
                    f"{ours:.2f} | {_verdict(ours, WRITE_TARGET)} |")  # fmt: skip
    if "page_size" in results:
        flat = all(
            per["bookit"][0] == per["bookit"][1]
            for per in results["page_size"].values()
            if "bookit" in per
        )
        rows.append(
            f"| BookIt's statements per request constant in page size | 5 vs 50 items, see below | "
            f"{'met' if flat else 'missed'} |"
        )
    if "L1" in results and "failed" not in results["L1"]["bookit"]:
        factor = results["L1"]["bookit"]["p99_factor"]
        verdict = "met" if factor is not None and factor < L1_FACTOR else "missed"
        rows.append(f"| L1 raises S1's p99 by less than {L1_FACTOR:g}x | {factor}x | {verdict} |")
    for name, limit, what in (
        ("F1", F1_P99_MS, "a burst of 20 changes to 1,000 subscribers"),
        ("F3", F3_P99_MS, "1,000 subscribers at 20 changes a second"),
    ):
        found = results.get(name, {}).get("bookit", {})
        if "p99_ms" in found:
            whole = found["lost"] == 0 and found["doubled"] == 0
            p99 = found["p99_ms"]
            verdict = (
                "missed (lost or doubled)"
                if not whole
                else "met"
                if p99 < limit
                else f"missed by {p99 - limit:,.0f} ms ({p99 / limit:.2f}x over)"
            )
            rows.append(f"| {name} {what}: commit-to-client p99 under {limit:,} ms | "
                        f"{p99:,.0f} ms, {found['lost']} lost | {verdict} |")  # fmt: skip
    for variant, found in results.get("F2", {}).items():
        if "failed" not in found:
            whole = found["lost"] == 0 and found["doubled"] == 0
            rows.append(
                f"| F2 {variant}: zero lost, zero doubled | {found['lost']} lost, "
                f"{found['doubled']} doubled | {'met' if whole else 'missed'} |"
            )
    if "M1" in results:
        samples = results["M1"]["rss_samples"]
        growth = samples[-1][1] - samples[min(1, len(samples) - 1)][1] if samples else 0
        verdict = "met" if growth < 10 else "missed"
        rows.append(f"| memory flat over the soak | {growth:+.1f} MB after warm-up | {verdict} |")
    else:
        rows.append("| memory flat over a 10-minute run | not run (`--soak 600`) | - |")
    return "\n".join(rows)


def profiles(output: dict[str, Any]) -> str:
    """py-spy's top entries for each scenario whose target was missed."""
    found = output["results"].get("profiles", {})
    parts = []
    for name in missed(output):
        top = found.get(name)
        if top is None:
            parts.append(f"**{name}**: target missed, not profiled in this run "
                         "(it ran with `--no-profile`).\n")  # fmt: skip
            continue
        if "failed" in top:
            parts.append(f"**{name}**: profiling failed: {top['failed']}\n")
            continue
        parts.append(
            f"**{name}**, `bookit serve` sampled by py-spy ({top['samples']:,} samples at "
            f"{top['rps']:,.0f} req/s, a run of its own after the measured ones); shares of "
            "the samples, on top of the stack (self; `Runner.run`'s own is the event loop, "
            "uvloop's C code) and anywhere in it (inclusive, less the main thread's spine):\n"
        )
        parts.append("| self % | function | inclusive % | function |")
        parts.append("| ---: | --- | ---: | --- |")
        for (own, own_share), (whole, whole_share) in zip(
            top["self"], top["inclusive"], strict=False
        ):
            parts.append(f"| {own_share} | `{own}` | {whole_share} | `{whole}` |")
        parts.append("")
    return "\n".join(parts)


def markdown(output: dict[str, Any]) -> str:
    settings, box = output["settings"], output["machine"]
    head = f"""# Benchmarks

Generated by `python -m bench{" --quick" if settings["quick"] else ""}` on {output["date"]} \
(commit {output["commit"]}){": " + output["note"] if output["note"] else ""}. Do not edit the \
numbers by hand: run the command again (bench/analysis.md holds the text after them).

Machine: {box["nproc"]} cores ({box["cpu"]}), {box["memory_gb"]} GB of memory, Linux \
{box["kernel"]}, Python {box["python"]}. One server process each; the servers run on \
core {settings["server_core"]}, wrk, the asyncio clients and PostgreSQL on core \
{settings["client_core"]} (`taskset`). wrk: {settings["connections"]} connections, \
{settings["duration_s"]:g} s per run after {settings["warmup_s"]:g} s of warm-up. Data: \
`bookit demo-data --scale {settings["scale"]:g}` (1,000 users, 200 services, 20,000 bookings, \
8,000 reviews at scale 1).

`bookit serve` runs with its defaults (the access log at INFO, metrics on, rate \
limits on) but for {_settings(settings)}. The raw baseline (bench/baseline.py) builds \
each read's bytes in one statement; PostGraphile 5 (bench/postgraphile/, the Amber \
preset, the bearer token verified with jsonwebtoken and its session checked live) \
reads the same database, to which the bench adds, in its own data folder only, an index \
on `services (created_at, id)` (the preset orders only by indexed columns) and the \
function `services_average_rating(services)` (BookIt's `averageRating`). PostGraphile is \
asked S1 to S3; S4 has no equivalent there (`availableSlots` is BookIt's rules engine).

"""
    scenarios = "\n".join(f"- {text}" for text in NAMES.values())
    body = (
        f"{head}## Against the raw limit and PostGraphile\n\n{anchors(output)}\n\n"
        f"## Results\n\n{table(output)}\n\n"
        "SQL queries per request are counted by pg_stat_statements (all clients, over the whole "
        "run, divided by the requests wrk completed); in brackets every statement that reached "
        "PostgreSQL, BEGIN, ROLLBACK and the pool's pre-ping `SELECT 1` included.\n\n"
        f"{details(output)}\n## Targets\n\n{targets(output)}\n\n{profiles(output)}\n"
        f"## Scenarios\n\n{scenarios}\n"
    )
    if ANALYSIS.exists():
        body += "\n" + ANALYSIS.read_text()
    return body


def _settings(settings: dict[str, Any]) -> str:
    given = settings.get("bookit_env")
    if given is None:  # results from before these were recorded
        return "BOOKIT_RATE_LIMIT=off and LOG_LEVEL=WARNING (older runs)"
    return ", ".join(f"`{key}={value}`" for key, value in given.items())


def save(output: dict[str, Any], *, write_doc: bool) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = output["date"].replace(":", "").replace("+0000", "Z")
    path = RESULTS / f"{stamp}.json"
    path.write_text(json.dumps(output, indent=2) + "\n")
    if write_doc:
        DOC.parent.mkdir(parents=True, exist_ok=True)
        DOC.write_text(markdown(output))
    return path


def main() -> None:
    """`python -m bench.report [RESULTS.json]`: docs/benchmarks.md again from a run's results
    (the newest by default), e.g. after editing bench/analysis.md."""
    import sys

    given = sys.argv[1:]
    path = Path(given[0]) if given else max(RESULTS.glob("*.json"))
    DOC.write_text(markdown(json.loads(path.read_text())))
    print(f"wrote {DOC} from {path}")  # noqa: T201


if __name__ == "__main__":
    main()
