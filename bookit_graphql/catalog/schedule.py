"""When a service takes bookings: its hours in its own zone, closures, notice, horizon, buffers.

This is the one engine that decides what is bookable. `Rules.refusal` judges a
booking's time (createBooking and a reschedule call it), and `Rules.slots`
proposes the grid of availableSlots and keeps only the starts that the same
`_refusal` accepts, so an offered slot is never refused by its rules. Whether
a bookable time is still free (buffers, capacity) is the database's to say:
bookings.service writes it, catalog.loaders reads it.

Times are absolute (aware, UTC) except where a name says local: wall-clock
time in the service's zone, naive. A local time that does not exist (the hour
skipped by a spring-forward change) is never offered, and one that happens
twice (a fall-back change) is its first occurrence, so it is offered once.
"""

from __future__ import annotations

import bisect
import enum
import functools
import itertools
import zoneinfo
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from bookit_graphql.errors import BadUserInput

DAY_MINUTES = 24 * 60
BUFFER_RANGE = (0, 240)
NOTICE_RANGE = (0, 43_200)
ADVANCE_RANGE = (1, 1_095)
CAPACITY_RANGE = (1, 1_000)
MAX_REASON = 200


class Weekday(enum.StrEnum):
    """Days in `date.weekday()` order; each value is its name (as the JSON stores it)."""

    MONDAY = "MONDAY"
    TUESDAY = "TUESDAY"
    WEDNESDAY = "WEDNESDAY"
    THURSDAY = "THURSDAY"
    FRIDAY = "FRIDAY"
    SATURDAY = "SATURDAY"
    SUNDAY = "SUNDAY"


WEEKDAYS = list(Weekday)


class Reason(enum.StrEnum):
    """Why a time is not bookable (`extensions.reason` of SLOT_UNAVAILABLE)."""

    CLOSED = "CLOSED"
    TOO_SOON = "TOO_SOON"
    TOO_FAR = "TOO_FAR"


# -- local times and zones ------------------------------------------------------


def parse_local_time(value: str, *, closing: bool = False) -> int:
    """Minutes after midnight of "HH:MM" ("24:00" only as a closing time), or ValueError."""
    hours, sep, minutes = value.partition(":")
    if not (sep and len(hours) == 2 and len(minutes) == 2 and (hours + minutes).isdigit()):
        raise ValueError(f"{value!r} is not a local time such as 09:00.")
    total = int(hours) * 60 + int(minutes)
    if int(minutes) >= 60 or total > DAY_MINUTES or (total == DAY_MINUTES and not closing):
        raise ValueError(f"{value!r} is not a local time (24:00 only as a closing time).")
    return total


def format_local_time(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@functools.cache
def zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def zone(name: str) -> zoneinfo.ZoneInfo:
    """The IANA zone `name`, or BAD_USER_INPUT on `timeZone`."""
    if name not in zone_names():
        raise BadUserInput(f"{name!r} is not an IANA time zone.", field="timeZone")
    return zoneinfo.ZoneInfo(name)


def exists(local: datetime, tz: zoneinfo.ZoneInfo) -> bool:
    """Whether the wall-clock time `local` happens in `tz` (not skipped by a change)."""
    aware = local.replace(tzinfo=tz)
    return aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == local


def to_utc(local: datetime, tz: zoneinfo.ZoneInfo) -> datetime:
    """The first moment whose wall-clock time in `tz` is `local`, or, for a time skipped by
    a change, the moment of the change (when the wall clock jumps over it)."""
    if exists(local, tz):
        return local.replace(tzinfo=tz, fold=0).astimezone(UTC)
    # In a gap, fold=1 maps with the offset after the change (too early) and fold=0
    # with the one before (too late); the change lies between, on a whole minute.
    low = local.replace(tzinfo=tz, fold=1).astimezone(UTC)
    high = local.replace(tzinfo=tz, fold=0).astimezone(UTC)
    while high - low > timedelta(minutes=1):
        middle = low + (high - low) / 2
        if middle.astimezone(tz).replace(tzinfo=None) >= local:
            high = middle
        else:
            low = middle
    return high.replace(second=0, microsecond=0)


def local_start(moment: datetime, tz: zoneinfo.ZoneInfo) -> str:
    """`moment` as wall-clock time in `tz`: "2027-03-28T09:00" (seconds only if any)."""
    local = moment.astimezone(tz)
    spec = "minutes" if not (local.second or local.microsecond) else "auto"
    return local.replace(tzinfo=None).isoformat(timespec=spec)


# -- the rules --------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Hours:
    """One opening interval of a weekday, in minutes after local midnight."""

    day: int  # 0 is Monday
    opens: int
    closes: int  # up to 24:00

    def json(self) -> dict[str, str]:
        return {
            "day": WEEKDAYS[self.day].value,
            "opens": format_local_time(self.opens),
            "closes": format_local_time(self.closes),
        }


@dataclass(frozen=True)
class Opening:
    """A time the service is open: one interval of its weekly hours on one local date."""

    starts: datetime
    ends: datetime
    local_opens: datetime  # where its slot grid starts
    local_closes: datetime


@dataclass(frozen=True)
class Rules:
    tz: zoneinfo.ZoneInfo
    hours: tuple[Hours, ...]  # none: open around the clock
    closures: frozenset[date]
    buffer_before: timedelta
    buffer_after: timedelta
    notice: timedelta
    horizon: timedelta
    capacity: int

    @classmethod
    def of(cls, service: Any) -> Rules:
        """The rules of a catalog.models.Service row."""
        return _rules(
            service.time_zone,
            _frozen(service.weekly_hours),
            tuple(c["date"] for c in service.closures),
            service.buffer_before_minutes,
            service.buffer_after_minutes,
            service.min_notice_minutes,
            service.max_advance_days,
            service.capacity,
        )

    def busy(self, starts: datetime, ends: datetime) -> tuple[datetime, datetime]:
        """The time a booking keeps from others: itself and its buffers."""
        return starts - self.buffer_before, ends + self.buffer_after

    def refusal(self, starts: datetime, ends: datetime, *, now: datetime) -> Reason | None:
        """Why a booking of [starts, ends) may not be made now, or None if it may."""
        openings = self.openings(starts, ends)
        return _refusal(self, openings, [o.starts for o in openings], starts, ends, now)

    def slots(
        self,
        start: datetime,
        end: datetime,
        *,
        duration: timedelta,
        step: timedelta,
        now: datetime,
    ) -> list[datetime]:
        """Starts of bookings of `duration` inside [start, end) that `refusal` accepts.

        With weekly hours, each opening's grid starts at its opening time and
        steps in local wall-clock time; around the clock, the grid starts at
        `start` and steps in absolute time (as before services had hours).
        """
        # Nothing outside (now, now + horizon] is bookable: this also keeps the
        # dates of a window near year 1 or 9999 from overflowing.
        first = max(start, now)
        last = min(end, now + self.horizon + duration)
        if last <= first:
            return []
        openings = self.openings(first, last)
        opening_starts = [o.starts for o in openings]
        candidates: Iterable[datetime]
        if self.hours:
            candidates = self._local_grid(openings, step)
        else:
            skip = -(-(first - start) // step)  # whole steps to the first one not before `first`
            candidates = _series(start + skip * step, last, step)
        found = []
        for starts in candidates:
            ends = starts + duration
            if starts < first or ends > last:
                continue
            if _refusal(self, openings, opening_starts, starts, ends, now) is None:
                found.append(starts)
        return found

    def openings(self, start: datetime, end: datetime) -> list[Opening]:
        """The openings that overlap [start, end), by start; around the clock, the parts
        of [start, end) outside closures."""
        first = start.astimezone(self.tz).date() - timedelta(days=1)
        last = end.astimezone(self.tz).date() + timedelta(days=1)
        days = _dates(first, last)
        found = []
        if not self.hours:
            starts = start
            for day in days:
                if day in self.closures:
                    midnight = datetime.combine(day, time())
                    closed = to_utc(midnight, self.tz), to_utc(midnight + timedelta(1), self.tz)
                    if closed[0] > starts:
                        found.append(Opening(starts, min(closed[0], end), starts, starts))
                    starts = max(starts, closed[1])
            if starts < end:
                found.append(Opening(starts, end, starts, starts))
            return [o for o in found if o.starts < o.ends]
        for day in days:
            if day in self.closures:
                continue
            midnight = datetime.combine(day, time())
            for hours in self.hours:
                if hours.day != day.weekday():
                    continue
                local_opens = midnight + timedelta(minutes=hours.opens)
                local_closes = midnight + timedelta(minutes=hours.closes)
                opening = Opening(
                    to_utc(local_opens, self.tz),
                    to_utc(local_closes, self.tz),
                    local_opens,
                    local_closes,
                )
                if opening.starts < end and opening.ends > start and opening.starts < opening.ends:
                    found.append(opening)
        return sorted(found, key=lambda o: o.starts)

    def _local_grid(self, openings: Sequence[Opening], step: timedelta) -> Iterator[datetime]:
        for opening in openings:
            local = opening.local_opens
            while local < opening.local_closes:
                if exists(local, self.tz):
                    yield local.replace(tzinfo=self.tz, fold=0).astimezone(UTC)
                local += step


def _refusal(
    rules: Rules,
    openings: Sequence[Opening],
    opening_starts: Sequence[datetime],
    starts: datetime,
    ends: datetime,
    now: datetime,
) -> Reason | None:
    """The rules' verdict on [starts, ends) given the openings around it (by start)."""
    i = bisect.bisect_right(opening_starts, starts) - 1
    if i < 0 or ends > openings[i].ends:
        return Reason.CLOSED
    if starts <= now or starts < now + rules.notice:
        return Reason.TOO_SOON
    if starts > now + rules.horizon:
        return Reason.TOO_FAR
    return None


def _series(start: datetime, end: datetime, step: timedelta) -> Iterator[datetime]:
    while start < end:
        yield start
        start += step


def _dates(first: date, last: date) -> list[date]:
    """The dates from `first` to `last`, kept inside the calendar."""
    first, last = max(first, date.min + timedelta(1)), min(last, date.max - timedelta(1))
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _frozen(hours: Sequence[Mapping[str, str]]) -> tuple[tuple[str, str, str], ...]:
    return tuple((h["day"], h["opens"], h["closes"]) for h in hours)


@functools.lru_cache(maxsize=4096)
def _rules(
    time_zone: str,
    hours: tuple[tuple[str, str, str], ...],
    closures: tuple[str, ...],
    buffer_before: int,
    buffer_after: int,
    notice: int,
    advance: int,
    capacity: int,
) -> Rules:
    """Rules from a row's stored values (parsed once per distinct set)."""
    return Rules(
        tz=zoneinfo.ZoneInfo(time_zone),
        hours=tuple(
            sorted(
                Hours(
                    WEEKDAYS.index(Weekday[day]),
                    parse_local_time(opens),
                    parse_local_time(closes, closing=True),
                )
                for day, opens, closes in hours
            )
        ),
        closures=frozenset(date.fromisoformat(d) for d in closures),
        buffer_before=timedelta(minutes=buffer_before),
        buffer_after=timedelta(minutes=buffer_after),
        notice=timedelta(minutes=notice),
        horizon=timedelta(days=advance),
        capacity=capacity,
    )


# -- checking an admin's input -----------------------------------------------------


def check_hours(hours: Iterable[tuple[Weekday, str, str]]) -> list[dict[str, str]]:
    """Weekly hours as stored (by day and time), or BAD_USER_INPUT on `weeklyHours`."""
    found = []
    for day, opens, closes in hours:
        try:
            interval = Hours(
                WEEKDAYS.index(day),
                parse_local_time(opens),
                parse_local_time(closes, closing=True),
            )
        except ValueError as error:
            raise BadUserInput(str(error), field="weeklyHours") from error
        if interval.closes <= interval.opens:
            raise BadUserInput(
                f"On {day.value}, {closes} is not after {opens}.", field="weeklyHours"
            )
        found.append(interval)
    found.sort()
    for before, after in itertools.pairwise(found):
        if before.day == after.day and after.opens < before.closes:
            raise BadUserInput(
                f"Two intervals of {WEEKDAYS[before.day].value} overlap.", field="weeklyHours"
            )
    return [h.json() for h in found]


def check_minutes(value: int, bounds: tuple[int, int], *, field: str) -> int:
    low, high = bounds
    if not low <= value <= high:
        raise BadUserInput(f"`{field}` is {low} to {high}.", field=field)
    return value
