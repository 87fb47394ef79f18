"""Batch loaders of the catalogue: one statement per batch, results in key order."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Interval,
    Select,
    Uuid,
    bindparam,
    column,
    func,
    literal_column,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY

from bookit_graphql.context import Loader
from bookit_graphql.db import Base


@dataclass(frozen=True)
class SlotQuery:
    service_id: uuid.UUID
    duration_minutes: int
    start: datetime
    end: datetime
    step_minutes: int


Slot = tuple[datetime, datetime]  # starts, ends

TIMESTAMPTZ = DateTime(timezone=True)

# The batch's keys as rows, numbered so that each slot finds its key again.
_keys = (
    func.unnest(
        bindparam("service_ids", type_=ARRAY(Uuid)),
        bindparam("starts", type_=ARRAY(TIMESTAMPTZ)),
        bindparam("ends", type_=ARRAY(TIMESTAMPTZ)),
        bindparam("durations", type_=ARRAY(Interval)),
        bindparam("steps", type_=ARRAY(Interval)),
    )
    .table_valued(
        column("service_id", Uuid),
        column("window_start", TIMESTAMPTZ),
        column("window_end", TIMESTAMPTZ),
        column("duration", Interval),
        column("step", Interval),
        with_ordinality="n",
    )
    .render_derived(name="q")
)


def _range(starts: Any, ends: Any) -> ColumnElement[Any]:
    return func.tstzrange(starts, ends, literal_column("'[)'"))


@functools.cache
def free_slots() -> Select[Any]:
    """The free future slots of each key's window (built on first use: bookings build on
    the catalogue, so their table is named, not imported)."""
    bookings = Base.metadata.tables["bookings"].c
    # Each key's booked time in its window, as one multirange: one index probe per
    # key, instead of one per candidate slot. Spelled as the exclusion constraint
    # ex_bookings_no_overlap (a literal status, not a parameter), so that its
    # partial GiST index (service_id, range) answers the probe.
    booked = (
        select(
            func.coalesce(
                func.range_agg(_range(bookings.starts_at, bookings.ends_at)),
                func.tstzmultirange(),
            ).label("ranges")
        )
        .where(
            bookings.service_id == _keys.c.service_id,
            bookings.status != literal_column("'CANCELLED'"),
            _range(bookings.starts_at, bookings.ends_at).op("&&")(
                _range(_keys.c.window_start, _keys.c.window_end)
            ),
        )
        .lateral("booked")
    )
    # Intervals of whole minutes are absolute time: a DST switch in the client's
    # offsets does not bend the grid.
    starts = (
        func.generate_series(
            _keys.c.window_start, _keys.c.window_end - _keys.c.duration, _keys.c.step
        )
        .table_valued(column("starts_at", TIMESTAMPTZ))
        .render_derived(name="slot")
        .lateral()
    )
    ends = starts.c.starts_at + _keys.c.duration
    return (
        select(_keys.c.n, starts.c.starts_at, ends.label("ends_at"))
        .select_from(_keys.join(booked, true()).join(starts, true()))
        .where(
            starts.c.starts_at > func.now(),
            ~booked.c.ranges.bool_op("&&")(_range(starts.c.starts_at, ends)),
        )
        .order_by(_keys.c.n, starts.c.starts_at)
    )


class AvailableSlotsLoader(Loader[SlotQuery, list[Slot]]):
    """Free future slots of each query's window; ranges are half-open, `[)`."""

    async def batch_load_fn(self, keys: Sequence[SlotQuery]) -> list[list[Slot]]:
        params = {
            "service_ids": [key.service_id for key in keys],
            "starts": [key.start for key in keys],
            "ends": [key.end for key in keys],
            "durations": [timedelta(minutes=key.duration_minutes) for key in keys],
            "steps": [timedelta(minutes=key.step_minutes) for key in keys],
        }
        found: list[list[Slot]] = [[] for _ in keys]
        async with self.session_factory() as session:
            for n, starts_at, ends_at in await session.execute(free_slots(), params):
                found[n - 1].append((starts_at, ends_at))
        return found
