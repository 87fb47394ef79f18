"""py-spy samples `bookit serve` while a scenario runs again (unless --no-profile).

py-spy (PyPI; installed into this Python's environment when missing) attaches to
the server's pid without pausing it (`--nonblocking`), on the client core, for a
run of its own after the measured ones, so that the figures are not its.
`top()` reads its raw output (one collapsed stack and its count a line) into
the functions with the most samples, on the stack's top (self) and anywhere in
it (inclusive): what docs/benchmarks.md shows for a missed target.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from bench.stack import cores

RATE = 250  # samples a second


def py_spy() -> str:
    beside = Path(sys.executable).parent / "py-spy"
    found = str(beside) if beside.is_file() else shutil.which("py-spy")
    if found:
        return found
    print("py-spy is missing: pip install py-spy", flush=True)  # noqa: T201
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "py-spy"], check=True)
    return str(beside) if beside.is_file() else "py-spy"


def record(pid: int, seconds: float, output: Path) -> subprocess.Popen[str]:
    """py-spy recording `pid` for `seconds`, pinned to the client core."""
    command = [
        "taskset", "-c", str(cores()[1]), py_spy(), "record", "--pid", str(pid),
        "--rate", str(RATE), "--duration", str(max(1, round(seconds))), "--format", "raw",
        "--nonblocking", "--output", str(output),
    ]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


LINE = re.compile(r":\d+\)$")


def frame(text: str) -> str:
    """`function (path:line)` without the line, so that a function's samples add up."""
    return LINE.sub(")", text.strip())


def top(path: Path, entries: int = 15) -> dict[str, Any]:
    """The functions with the most samples, self and inclusive, as shares of all samples."""
    own: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [frame(f) for f in stack.split(";")]
        samples = int(count)
        total += samples
        own[frames[-1]] += samples
        for name in set(frames):
            anywhere[name] += samples
    share = 100 / total if total else 0.0

    def ranked(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(name, round(n * share, 1)) for name, n in counter.most_common(entries)]

    # the main thread's spine (the module, uvicorn's run, the event loop's Runner.run)
    # is in each of its samples, and says nothing
    spine = 0.98 * max(anywhere.values(), default=0)
    inclusive = Counter({k: v for k, v in anywhere.items() if v < spine})
    return {"samples": total, "self": ranked(own), "inclusive": ranked(inclusive)}
