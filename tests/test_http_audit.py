"""graphql-http's GraphQL-over-HTTP audit suite against a live `bookit serve`.

Every MUST and every SHOULD audit has to pass; MAY audits are only reported.
The audits run in Node (tests/http_audit/audit.mjs); the npm packages are
pinned by tests/http_audit/package-lock.json and installed here on first use.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.node import node, npm_ci

AUDIT_DIR = Path(__file__).parent / "http_audit"
AUDIT_TIMEOUT = 120


def install_audit_suite() -> None:
    npm_ci(AUDIT_DIR, ("graphql-http",))


def run_audits(endpoint: str) -> list[dict[str, str]]:
    done = subprocess.run(
        [node(), "audit.mjs", endpoint],
        cwd=AUDIT_DIR,
        capture_output=True,
        text=True,
        timeout=AUDIT_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, f"audit.mjs exited {done.returncode}:\n{done.stderr}"
    results = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert results, f"audit.mjs reported no audits:\n{done.stderr}"
    return results


def test_graphql_over_http_audits(live_server: str) -> None:
    install_audit_suite()
    results = run_audits(f"{live_server}/graphql")

    counts: dict[str, dict[str, int]] = {}
    for result in results:
        level = result["name"].split(" ", 1)[0]
        per_status = counts.setdefault(level, {})
        per_status[result["status"]] = per_status.get(result["status"], 0) + 1
    summary = "; ".join(
        f"{level}: " + ", ".join(f"{n} {status}" for status, n in sorted(per_status.items()))
        for level, per_status in sorted(counts.items())
    )
    print(f"\ngraphql-http audits: {len(results)} run; {summary}")  # noqa: T201
    for result in results:
        if result["status"] != "ok":
            print(f"  {result['status']:6} {result['id']} {result['name']}: {result['reason']}")  # noqa: T201

    failures = [
        f"{result['id']} {result['name']}: {result['status']}, {result['reason']}"
        for result in results
        if result["name"].startswith(("MUST", "SHOULD")) and result["status"] != "ok"
    ]
    assert not failures, "GraphQL-over-HTTP audits failed:\n" + "\n".join(failures)
