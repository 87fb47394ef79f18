"""Emails to a booking's user, with a calendar invite that follows the booking.

From the log (outbox.advance): a change of a booking becomes at most one
notification, unique per (booking, kind, sequence), so a replay adds nothing;
`sequence` is the calendar event's SEQUENCE and grows with every change. A
reminder is scheduled 24 hours before the start (not for a booking made less
than 24 hours ahead), and withdrawn when the booking is cancelled, deleted or
moved (the move schedules a new one).
"""

from __future__ import annotations

import functools
import html
import uuid
from datetime import UTC, datetime, timedelta, tzinfo
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import icalendar
from sqlalchemy import Select, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from bookit_graphql.bookings.events import Event
from bookit_graphql.bookings.models import BookingEventKind, BookingStatus
from bookit_graphql.catalog.models import Service
from bookit_graphql.integrations.models import Notification, NotificationKind, NotificationStatus
from bookit_graphql.pagination import Listing
from bookit_graphql.permissions import Role
from bookit_graphql.users.models import User

REMIND_BEFORE = timedelta(hours=24)
ATTEMPTS = 5
RETRY = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2))

# What each change of a booking tells its user.
KINDS = {
    "booking.created": NotificationKind.BOOKING_RECEIVED,
    "booking.confirmed": NotificationKind.BOOKING_CONFIRMED,
    "booking.rescheduled": NotificationKind.BOOKING_RESCHEDULED,
    "booking.cancelled": NotificationKind.BOOKING_CANCELLED,
    # a booking deleted while still open is gone from the calendar too
    "booking.deleted": NotificationKind.BOOKING_CANCELLED,
}
SUBJECTS = {
    NotificationKind.BOOKING_RECEIVED: "Booking received: {title}",
    NotificationKind.BOOKING_CONFIRMED: "Booking confirmed: {title}",
    NotificationKind.BOOKING_RESCHEDULED: "Booking moved: {title}",
    NotificationKind.BOOKING_CANCELLED: "Booking cancelled: {title}",
    NotificationKind.REMINDER: "Reminder: {title} tomorrow",
}


def _time(value: Any) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


async def fan_out(session: AsyncSession, found: list[Event]) -> None:
    """The notifications of these events, in order."""
    for event in found:
        if event.kind is None:
            continue  # a review: nothing to tell the booking's user
        kind = KINDS.get(event.type)
        if kind is None:
            continue
        opened = event.booking["status"] in (BookingStatus.PENDING, BookingStatus.CONFIRMED)
        if event.kind == BookingEventKind.DELETED and not opened:
            continue  # it was cancelled or completed before: its user knows
        if event.type != "booking.created":
            await _withdraw_reminders(session, event.booking_id)
        sequence = await session.scalar(
            select(func.coalesce(func.max(Notification.sequence) + 1, 0)).where(
                Notification.booking_id == event.booking_id,
                Notification.kind != NotificationKind.REMINDER,
            )
        )
        rows = [_row(event, kind, sequence, send_at=event.occurred_at)]
        starts_at = _time(event.booking["starts_at"])
        if kind in (NotificationKind.BOOKING_RECEIVED, NotificationKind.BOOKING_RESCHEDULED) and (
            starts_at - event.occurred_at >= REMIND_BEFORE
        ):
            rows.append(_row(event, NotificationKind.REMINDER, sequence, starts_at - REMIND_BEFORE))
        await session.execute(insert(Notification).values(rows).on_conflict_do_nothing())


def _row(
    event: Event, kind: NotificationKind, sequence: int | None, send_at: datetime
) -> dict[str, Any]:
    # every row names every column: a multi-row INSERT takes its columns from the first
    return {
        "id": uuid.uuid4(),
        "user_id": event.user_id,
        "booking_id": event.booking_id,
        "kind": kind,
        "sequence": sequence or 0,
        "booking": event.booking,
        "send_at": send_at,
    }


async def _withdraw_reminders(session: AsyncSession, booking_id: uuid.UUID) -> None:
    await session.execute(
        update(Notification)
        .where(
            Notification.booking_id == booking_id,
            Notification.kind == NotificationKind.REMINDER,
            Notification.status == NotificationStatus.PENDING,
        )
        .values(status=NotificationStatus.WITHDRAWN)
    )


def notifications_listing(*, actor: User) -> Listing:
    """The actor's notifications (everyone's for an admin), newest first."""
    admin = actor.role == Role.ADMIN
    keys = [Notification.created_at, Notification.id]
    params = {} if admin else {"user_id": actor.id}
    return Listing(_notifications_query(admin), keys, params, descending=True)


@functools.cache
def _notifications_query(admin: bool) -> Select[Any]:
    query = select(Notification)
    return query if admin else query.where(Notification.user_id == bindparam("user_id"))


def retry_at(attempts: int, now: datetime) -> datetime | None:
    """When to send again after `attempts` failed tries, or None: give up."""
    if attempts >= ATTEMPTS:
        return None
    return now + RETRY[min(attempts, len(RETRY)) - 1]


# -- the message -----------------------------------------------------------------


def calendar_uid(booking_id: str) -> str:
    """One calendar event per booking, whatever happens to it."""
    return f"booking-{booking_id}@bookit"


def message_id(notification_id: uuid.UUID) -> str:
    """Stable: a message sent again after a crash is the same message to the receiver."""
    return f"<notification-{notification_id}@bookit>"


def when(value: datetime, zone: tzinfo) -> str:
    """A time as the booking's user reads it, in `zone` (the service's time zone)."""
    local = value.astimezone(zone)
    name = local.tzname() or "UTC"
    return f"{local:%A %d %B %Y, %H:%M} ({name})"


def zone_of(service: Service | None) -> tzinfo:
    """The service's time zone (UTC when the service is gone or its zone unknown here)."""
    if service is None:
        return UTC
    try:
        return ZoneInfo(service.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def render(
    notification: Notification,
    *,
    user: User,
    service: Service | None,
    sender: str,
    zone: tzinfo = UTC,
    now: datetime,
) -> EmailMessage:
    """The email: plain text and HTML, and the invite (METHOD:REQUEST, or CANCEL).

    `zone` is the service's time zone (zone_of): the text shows local times. The
    invite keeps its times in UTC (`...Z`), which every calendar app reads and shows
    in its user's zone; a TZID would need a VTIMEZONE of the zone's rules beside it.
    """
    booking = notification.booking
    title = service.title if service is not None else "your booking"
    starts_at, ends_at = _time(booking["starts_at"]), _time(booking["ends_at"])
    cancelled = notification.kind == NotificationKind.BOOKING_CANCELLED
    lines = {
        NotificationKind.BOOKING_RECEIVED: "We have received your booking; it is confirmed "
        "once the provider accepts it.",
        NotificationKind.BOOKING_CONFIRMED: "Your booking is confirmed.",
        NotificationKind.BOOKING_RESCHEDULED: "Your booking has moved to a new time.",
        NotificationKind.BOOKING_CANCELLED: "Your booking is cancelled.",
        NotificationKind.REMINDER: "A reminder: your booking is in 24 hours.",
    }
    intro = lines[notification.kind]
    details = [
        ("Service", title),
        ("Starts", when(starts_at, zone)),
        ("Ends", when(ends_at, zone)),
        ("Status", "CANCELLED" if cancelled else str(booking["status"])),
        ("Booking", str(booking["id"])),
    ]
    message = EmailMessage()
    message["Subject"] = SUBJECTS[notification.kind].format(title=title)
    message["From"] = sender
    message["To"] = f"{user.full_name} <{user.email}>"
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id(notification.id)
    plain = [f"Hello {user.full_name},", "", intro, ""]
    plain += [f"{label}: {value}" for label, value in details]
    message.set_content("\n".join(plain) + "\n")
    rows = "".join(
        f"<tr><th align='left'>{html.escape(label)}</th><td>{html.escape(value)}</td></tr>"
        for label, value in details
    )
    message.add_alternative(
        f"<html><body><p>Hello {html.escape(user.full_name)},</p><p>{html.escape(intro)}</p>"
        f"<table>{rows}</table></body></html>",
        subtype="html",
    )
    method = "CANCEL" if cancelled else "REQUEST"
    invite = invitation(
        notification, title=title, method=method, organizer=sender, attendee=user, now=now
    )
    message.add_attachment(
        invite,
        maintype="text",
        subtype="calendar",
        filename="invite.ics",
        params={"method": method},
    )
    return message


def invitation(
    notification: Notification,
    *,
    title: str,
    method: str,
    organizer: str,
    attendee: User,
    now: datetime,
) -> bytes:
    """The RFC 5545 calendar: one VEVENT with the booking's stable UID and this SEQUENCE."""
    booking = notification.booking
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//BookIt//Bookings//EN")
    calendar.add("version", "2.0")
    calendar.add("method", method)
    event = icalendar.Event()
    event.add("uid", calendar_uid(str(booking["id"])))
    event.add("sequence", notification.sequence)
    event.add("dtstamp", now)
    event.add("dtstart", _time(booking["starts_at"]).astimezone(UTC))
    event.add("dtend", _time(booking["ends_at"]).astimezone(UTC))
    event.add("summary", title)
    cancelled = method == "CANCEL"
    confirmed = booking["status"] == BookingStatus.CONFIRMED
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED" if confirmed else "TENTATIVE")
    address = organizer.rsplit("<", 1)[-1].rstrip(">").strip()
    event.add("organizer", f"mailto:{address}")
    attendee_line = icalendar.vCalAddress(f"mailto:{attendee.email}")
    attendee_line.params["cn"] = icalendar.vText(attendee.full_name)
    event.add("attendee", attendee_line)
    calendar.add_component(event)
    return bytes(calendar.to_ical())
