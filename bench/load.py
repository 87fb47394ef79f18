"""wrk runs: a Lua script per scenario, POSTing GraphQL documents; results as a dict."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.stack import cores

# done(): the summary as one JSON line; response() (writes only) counts GraphQL errors.
DONE = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function done(summary, latency, requests)
  local failed = 0
  for _, thread in ipairs(threads) do failed = failed + (thread:get("failed") or 0) end
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"max_us":%d,"socket_errors":%d,"non_2xx":%d,"timeouts":%d,"graphql_errors":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.connect + e.read + e.write, e.status, e.timeout,
    failed))
end
"""

COUNT_ERRORS = """
failed = 0
function response(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"', 1, true) then failed = failed + 1 end
end
"""


def _lua_string(value: str) -> str:
    return "[==[" + value + "]==]"


def static_script(body: dict[str, Any], token: str | None = None) -> str:
    """The same request over and over (the reads)."""
    lines = [
        'wrk.method = "POST"',
        f"wrk.body = {_lua_string(json.dumps(body, separators=(',', ':')))}",
        'wrk.headers["Content-Type"] = "application/json"',
    ]
    if token:
        lines.append(f'wrk.headers["Authorization"] = "Bearer {token}"')
    return "\n".join(lines) + "\n" + DONE


def booking_script(
    query: str, services: list[str], tokens: list[str], *, base: int, step_seconds: int
) -> str:
    """createBooking on a distinct free slot each time: services and users in turn.

    Request k books services[k % S] at base + (k // S) * step: no two requests
    overlap as long as `step_seconds` is at least the longest duration.
    """
    quoted = ", ".join(f'"{value}"' for value in services)
    bearer = ", ".join(f'"Bearer {value}"' for value in tokens)
    return f"""
local query = {_lua_string(json.dumps(query))}
local services = {{{quoted}}}
local tokens = {{{bearer}}}
local k = 0
function request()
  local service = services[(k % #services) + 1]
  local slot = math.floor(k / #services)
  local starts = os.date("!%Y-%m-%dT%H:%M:%S+00:00", {base} + slot * {step_seconds})
  local token = tokens[(k % #tokens) + 1]
  k = k + 1
  local body = '{{"query":' .. query .. ',"operationName":"CreateBooking","variables":' ..
    '{{"input":{{"serviceId":"' .. service .. '","startsAt":"' .. starts .. '"}}}}}}'
  return wrk.format("POST", "/graphql",
    {{["Content-Type"] = "application/json", ["Authorization"] = token}}, body)
end
{COUNT_ERRORS}
{DONE}"""


def login_script(query: str, emails: list[str], password: str) -> str:
    quoted = ", ".join(f'"{value}"' for value in emails)
    return f"""
local query = {_lua_string(json.dumps(query))}
local emails = {{{quoted}}}
local k = 0
function request()
  local email = emails[(k % #emails) + 1]
  k = k + 1
  local body = '{{"query":' .. query .. ',"operationName":"Login","variables":' ..
    '{{"input":{{"email":"' .. email .. '","password":"{password}"}}}}}}'
  return wrk.format("POST", "/graphql", {{["Content-Type"] = "application/json"}}, body)
end
{COUNT_ERRORS}
{DONE}"""


@dataclass
class Wrk:
    binary: str
    scripts: Path

    def start(
        self, name: str, script: str, url: str, *, connections: int, seconds: float
    ) -> subprocess.Popen[str]:
        """wrk on the client core, one thread (the core is one)."""
        path = self.scripts / f"{name}.lua"
        path.write_text(script)
        _, client = cores()
        command = [
            "taskset",
            "-c",
            str(client),
            self.binary,
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "30s",
            "-s",
            str(path),
            url,
        ]
        return subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )

    def run(
        self, name: str, script: str, url: str, *, connections: int, seconds: float
    ) -> dict[str, Any]:
        return result(self.start(name, script, url, connections=connections, seconds=seconds))


def result(process: subprocess.Popen[str]) -> dict[str, Any]:
    output, _ = process.communicate()
    for line in output.splitlines():
        if line.startswith("BENCH "):
            found: dict[str, Any] = json.loads(line[len("BENCH ") :])
            seconds = found["duration_us"] / 1e6
            found["rps"] = found["requests"] / seconds if seconds else 0.0
            found["p50_ms"] = found["p50_us"] / 1000
            found["p99_ms"] = found["p99_us"] / 1000
            return found
    raise RuntimeError(f"wrk printed no result:\n{output}")
