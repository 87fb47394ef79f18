"""graphql-http's GraphQL-over-HTTP audit suite against a live `bookit serve`.

Every MUST and every SHOULD audit has to pass; MAY audits are only reported.
The audits run in Node (tests/http_audit/audit.mjs); the npm packages are
pinned by tests/http_audit/package-lock.json and installed here on first use.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

AUDIT_DIR = Path(__file__).parent / "http_audit"
INSTALL_TIMEOUT = 300
AUDIT_TIMEOUT = 120


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"`{name}` is not on PATH: the GraphQL-over-HTTP audit needs Node.js (>= 18) and npm",
            pytrace=False,
        )
    return path


def installed() -> bool:
    """Whether node_modules holds the graphql-http version that the lock file pins."""
    lock = json.loads((AUDIT_DIR / "package-lock.json").read_text())
    pinned = lock["packages"]["node_modules/graphql-http"]["version"]
    manifest = AUDIT_DIR / "node_modules" / "graphql-http" / "package.json"
    return manifest.is_file() and json.loads(manifest.read_text())["version"] == pinned


def install_audit_suite() -> None:
    if installed():
        return
    done = subprocess.run(
        [tool("npm"), "ci", "--no-audit", "--no-fund"],
        cwd=AUDIT_DIR,
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(
            f"npm ci in {AUDIT_DIR} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}",
            pytrace=False,
        )


def run_audits(endpoint: str) -> list[dict[str, str]]:
    done = subprocess.run(
        [tool("node"), "audit.mjs", endpoint],
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
