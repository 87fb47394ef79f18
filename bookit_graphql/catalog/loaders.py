"""Batch loaders of the catalogue: one statement per batch, results in key order."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from bookit_graphql.catalog.schedule import Rules
from bookit_graphql.context import Loader


@dataclass(frozen=True)
class SlotQuery:
    service_id: uuid.UUID
    duration_minutes: int
    start: datetime
    end: datetime
    step_minutes: int
    rules: Rules


@dataclass(frozen=True)
class Slot:
    starts_at: datetime
    ends_at: datetime
    seats_left: int


# Each candidate slot (one row per start that the rules allow) with the busy time
# it would keep; each key's active bookings whose busy time meets its window, as
# one array: one index probe per key, not one per candidate. Bookings build on
# the catalogue, so their table is named, not imported; the test is spelled as
# the partial GiST index ix_bookings_service_id_busy (a literal status).
FREE_SLOTS = text(
    """
    SELECT c.n, c.starts_at, c.capacity - CASE WHEN cardinality(k.booked) = 0 THEN 0 ELSE
             (SELECT count(*) FROM unnest(k.booked) AS b(busy)
              WHERE b.busy && tstzrange(c.busy_from, c.busy_until, '[)')) END AS seats
    FROM unnest(CAST(:key_n AS int[]), CAST(:key_service AS uuid[]),
                CAST(:key_from AS timestamptz[]), CAST(:key_until AS timestamptz[]))
         AS w(n, service_id, busy_from, busy_until)
    CROSS JOIN LATERAL (
        SELECT coalesce(array_agg(tstzrange(b.busy_starts_at, b.busy_ends_at, '[)')), '{}')
               AS booked
        FROM bookings b
        WHERE b.service_id = w.service_id AND b.status <> 'CANCELLED'
          AND tstzrange(b.busy_starts_at, b.busy_ends_at, '[)')
              && tstzrange(w.busy_from, w.busy_until, '[)')
    ) k
    JOIN unnest(CAST(:n AS int[]), CAST(:starts AS timestamptz[]),
                CAST(:busy_from AS timestamptz[]), CAST(:busy_until AS timestamptz[]),
                CAST(:capacity AS int[]))
         AS c(n, starts_at, busy_from, busy_until, capacity) ON c.n = w.n
    """
)


class AvailableSlotsLoader(Loader[SlotQuery, list[Slot]]):
    """The bookable slots of each query's window with a seat left; ranges are half-open, `[)`.

    The rules propose the slots (catalog.schedule, the engine that also judges a
    booking); one statement for the whole batch counts the bookings in the way.
    """

    async def batch_load_fn(self, keys: Sequence[SlotQuery]) -> list[list[Slot]]:
        now = datetime.now(UTC)
        params: dict[str, list[Any]] = {
            name: []
            for name in (
                "key_n key_service key_from key_until n starts busy_from busy_until capacity"
            ).split()
        }
        durations = []
        for n, key in enumerate(keys):
            duration = timedelta(minutes=key.duration_minutes)
            durations.append(duration)
            starts = key.rules.slots(
                key.start,
                key.end,
                duration=duration,
                step=timedelta(minutes=key.step_minutes),
                now=now,
            )
            if not starts:
                continue
            first, last = key.rules.busy(starts[0], starts[-1] + duration)
            params["key_n"].append(n)
            params["key_service"].append(key.service_id)
            params["key_from"].append(first)
            params["key_until"].append(last)
            for start in starts:
                busy = key.rules.busy(start, start + duration)
                params["n"].append(n)
                params["starts"].append(start)
                params["busy_from"].append(busy[0])
                params["busy_until"].append(busy[1])
                params["capacity"].append(key.rules.capacity)
        found: list[list[Slot]] = [[] for _ in keys]
        if not params["n"]:
            return found
        async with self.session_factory() as session:
            for n, starts_at, seats in await session.execute(FREE_SLOTS, params):
                if seats > 0:
                    found[n].append(Slot(starts_at, starts_at + durations[n], seats))
        for slots in found:
            slots.sort(key=lambda slot: slot.starts_at)
        return found
