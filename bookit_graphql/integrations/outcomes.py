"""Each delivery outcome, counted here and told to whoever listens (the metrics, for one).

`record(channel, outcome)` is called once per attempt's outcome:
channel "webhook" with "succeeded", "retrying" (failed, will be retried) or
"failed" (given up, or the endpoint was disabled); channel "email" with
"sent", "retrying" or "failed".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

COUNTS: Counter[tuple[str, str]] = Counter()
LISTENERS: list[Callable[[str, str], None]] = []


def record(channel: str, outcome: str) -> None:
    COUNTS[channel, outcome] += 1
    for listener in LISTENERS:
        listener(channel, outcome)
