"""Webhook endpoints and their deliveries: the rules, the fan-out from the log, the attempts.

Per Standard Webhooks: a POST of `{"type", "timestamp", "data"}` with the
headers `webhook-id` (the delivery's, the same on every attempt),
`webhook-timestamp` and `webhook-signature` (crypto.signature). The first
attempt goes at once; failures are retried on RETRY_SCHEDULE, or later if
the receiver's `Retry-After` says so. 410 disables the endpoint at once, and
so do five days without a success.
"""

from __future__ import annotations

import contextlib
import functools
import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from cryptography.fernet import InvalidToken
from sqlalchemy import Select, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from bookit_graphql.bookings.events import Event
from bookit_graphql.catalog.models import Service
from bookit_graphql.config import Settings
from bookit_graphql.errors import BadUserInput, InvalidState, NotFound
from bookit_graphql.integrations import crypto, outcomes, urls
from bookit_graphql.integrations.models import (
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
)
from bookit_graphql.pagination import Listing
from bookit_graphql.scalars import parse_id
from bookit_graphql.users.models import User

EVENT_TYPES = (
    "booking.created",
    "booking.rescheduled",
    "booking.confirmed",
    "booking.cancelled",
    "booking.completed",
    "booking.deleted",
    "review.created",
)
TEST_TYPE = "webhook.test"
# After the first attempt, which goes at once (the contract's schedule).
RETRY_SCHEDULE = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
ATTEMPTS = 1 + len(RETRY_SCHEDULE)
JITTER = 0.1  # up to 10 % later, so that a receiver's failures do not come back in step
MAX_RETRY_AFTER = timedelta(days=1)
DISABLE_AFTER = timedelta(days=5)
TIMEOUT = 10.0  # seconds, for the whole attempt; read at each attempt (a test lowers it)
ROTATION_OVERLAP = timedelta(hours=24)
CHANNEL = "integrations"  # NOTIFY that wakes the workers (a test event, a redelivery)


# -- the admin's rules -------------------------------------------------------------


def _event_types(given: list[str] | None) -> list[str]:
    types = list(dict.fromkeys(given or []))
    unknown = [t for t in types if t not in EVENT_TYPES]
    if unknown:
        raise BadUserInput(
            f"Unknown event type {unknown[0]!r}: one of {', '.join(EVENT_TYPES)}.",
            field="eventTypes",
        )
    return types


async def _service_id(session: AsyncSession, given: str | None) -> uuid.UUID | None:
    if given is None:
        return None
    found = parse_id(given)
    if found is None or await session.get(Service, found) is None:
        raise BadUserInput("No such service.", field="serviceId")
    return found


def _description(given: str | None) -> str:
    description = (given or "").strip()
    if len(description) > 500:
        raise BadUserInput("A description has at most 500 characters.", field="description")
    return description


async def create_endpoint(
    session: AsyncSession,
    *,
    settings: Settings,
    url: str,
    event_types: list[str] | None = None,
    service_id: str | None = None,
    description: str | None = None,
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret (shown only now)."""
    secret = crypto.new_secret()
    endpoint = WebhookEndpoint(
        url=await urls.check(
            url, production=settings.production, allow_private=settings.webhooks_allow_private
        ),
        event_types=_event_types(event_types),
        service_id=await _service_id(session, service_id),
        description=_description(description),
        secret=crypto.seal(settings.secret_key, secret),
    )
    session.add(endpoint)
    await session.flush()
    return endpoint, secret


async def find_endpoint(
    session: AsyncSession, endpoint_id: uuid.UUID | None, *, lock: bool = False
) -> WebhookEndpoint:
    endpoint = (
        await session.get(WebhookEndpoint, endpoint_id, with_for_update=lock or None)
        if endpoint_id
        else None
    )
    if endpoint is None:
        raise NotFound("No such webhook endpoint.")
    return endpoint


async def update_endpoint(
    session: AsyncSession,
    *,
    settings: Settings,
    endpoint_id: uuid.UUID | None,
    url: str | None = None,
    event_types: list[str] | None = None,
    service_id: str | None = None,
    clear_service: bool = False,
    description: str | None = None,
    is_active: bool | None = None,
) -> WebhookEndpoint:
    """Change what is given; `isActive: true` re-enables a disabled endpoint."""
    endpoint = await find_endpoint(session, endpoint_id, lock=True)
    if url is not None:
        endpoint.url = await urls.check(
            url, production=settings.production, allow_private=settings.webhooks_allow_private
        )
    if event_types is not None:
        endpoint.event_types = _event_types(event_types)
    if clear_service:
        endpoint.service_id = None
    elif service_id is not None:
        endpoint.service_id = await _service_id(session, service_id)
    if description is not None:
        endpoint.description = _description(description)
    if is_active is not None:
        endpoint.is_active = is_active
        if is_active:
            endpoint.disabled_reason = None
            endpoint.failing_since = None
        else:
            endpoint.disabled_reason = endpoint.disabled_reason or "disabled by an admin"
    await session.flush()
    return endpoint


async def delete_endpoint(session: AsyncSession, *, endpoint_id: uuid.UUID | None) -> None:
    """Delete an endpoint and its delivery log."""
    endpoint = await find_endpoint(session, endpoint_id, lock=True)
    await session.delete(endpoint)
    await session.flush()


async def rotate_secret(
    session: AsyncSession, *, settings: Settings, endpoint_id: uuid.UUID | None, now: datetime
) -> tuple[WebhookEndpoint, str]:
    """A new secret; the current one keeps signing beside it for ROTATION_OVERLAP.

    A second rotation within the overlap drops the oldest secret: two at most.
    """
    endpoint = await find_endpoint(session, endpoint_id, lock=True)
    secret = crypto.new_secret()
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = now + ROTATION_OVERLAP
    endpoint.secret = crypto.seal(settings.secret_key, secret)
    await session.flush()
    return endpoint, secret


UNREADABLE_SECRET = (
    "its signing secret cannot be read with this SECRET_KEY: "
    "rotate it (rotateWebhookSecret), then enable the endpoint"
)


def signing_secrets(
    endpoint: WebhookEndpoint, *, secret_key: str, now: datetime
) -> list[str] | None:
    """The secrets that sign the endpoint's deliveries now: the current, and the previous
    while its overlap lasts (and is readable). None when the current one was sealed
    with another SECRET_KEY: nothing can be signed until it is rotated."""
    try:
        found = [crypto.unseal(secret_key, endpoint.secret)]
    except InvalidToken:
        return None
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret is not None and expires is not None and now < expires:
        with contextlib.suppress(InvalidToken):
            found.append(crypto.unseal(secret_key, endpoint.previous_secret))
    return found


async def send_test(
    session: AsyncSession, *, endpoint_id: uuid.UUID | None, now: datetime
) -> WebhookDelivery:
    """One `webhook.test` delivery, whatever the endpoint's filters; one attempt."""
    endpoint = await find_endpoint(session, endpoint_id)
    if not endpoint.is_active:
        raise InvalidState("The endpoint is disabled: enable it first (updateWebhookEndpoint).")
    body = _body(TEST_TYPE, now, {"endpointId": str(endpoint.id)})
    delivery = WebhookDelivery(
        endpoint_id=endpoint.id, event_type=TEST_TYPE, body=body, attempt_limit=1
    )
    session.add(delivery)
    await session.flush()
    await _wake(session)
    return delivery


async def redeliver(session: AsyncSession, *, delivery_id: uuid.UUID | None) -> WebhookDelivery:
    """One more attempt of a delivery, now, with the same `webhook-id` and body."""
    delivery = (
        await session.get(WebhookDelivery, delivery_id, with_for_update=True)
        if delivery_id
        else None
    )
    if delivery is None:
        raise NotFound("No such webhook delivery.")
    endpoint = await find_endpoint(session, delivery.endpoint_id)
    if not endpoint.is_active:
        raise InvalidState("The endpoint is disabled: enable it first (updateWebhookEndpoint).")
    delivery.status = WebhookDeliveryStatus.PENDING
    delivery.attempt_limit = max(delivery.attempt_limit, delivery.attempts + 1)
    delivery.next_attempt_at = func.now()
    await session.flush()
    await session.refresh(delivery)
    await _wake(session)
    return delivery


async def _wake(session: AsyncSession) -> None:
    await session.execute(select(func.pg_notify(CHANNEL, "")))


def endpoints_listing() -> Listing:
    """Every endpoint, oldest first."""
    keys = [WebhookEndpoint.created_at, WebhookEndpoint.id]
    return Listing(_endpoints_query(), keys, {})


@functools.cache
def _endpoints_query() -> Select[Any]:
    return select(WebhookEndpoint)


def deliveries_listing(*, endpoint_id: uuid.UUID, status: WebhookDeliveryStatus | None) -> Listing:
    """An endpoint's deliveries, newest event first, of one status if given."""
    params: dict[str, Any] = {"endpoint_id": endpoint_id}
    if status is not None:
        params["status"] = status
    # seq, not created_at: the deliveries of one fan-out share their created_at
    return Listing(_deliveries_query(status is not None), [WebhookDelivery.seq], params, True)


@functools.cache
def _deliveries_query(by_status: bool) -> Select[Any]:
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == bindparam("endpoint_id"))
    return query.where(WebhookDelivery.status == bindparam("status")) if by_status else query


# -- from the log to deliveries ---------------------------------------------------


def _iso(value: Any) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return str(value.astimezone(UTC).isoformat())


def _money(value: Any) -> str:
    from decimal import Decimal

    return f"{Decimal(str(value)):.2f}"


def _body(type: str, timestamp: datetime, data: dict[str, Any]) -> str:
    payload = {"type": type, "timestamp": _iso(timestamp), "data": data}
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def booking_data(booking: dict[str, Any], service: Service, user: User) -> dict[str, Any]:
    """The contract's BookingFields, from an event's snapshot and the related rows now."""
    return {
        "id": booking["id"],
        "startsAt": _iso(booking["starts_at"]),
        "endsAt": _iso(booking["ends_at"]),
        "status": booking["status"],
        "createdAt": _iso(booking["created_at"]),
        "updatedAt": _iso(booking["updated_at"]),
        "service": {
            "id": str(service.id),
            "title": service.title,
            "price": _money(service.price),
            "durationMinutes": service.duration_minutes,
        },
        "user": {"id": str(user.id), "email": user.email, "fullName": user.full_name},
    }


def review_data(review: dict[str, Any], service: Service, user: User) -> dict[str, Any]:
    """The contract's ReviewFields, from an event's copy of the review."""
    return {
        "id": review["id"],
        "rating": review["rating"],
        "comment": review["comment"],
        "createdAt": _iso(review["created_at"]),
        "updatedAt": _iso(review["updated_at"]),
        "author": {"id": str(user.id), "fullName": user.full_name},
        "booking": {"id": review["booking_id"]},
        "service": {"id": str(service.id), "title": service.title},
    }


def wants(endpoint: WebhookEndpoint, event: Event) -> bool:
    return (
        (not endpoint.event_types or event.type in endpoint.event_types)
        and (endpoint.service_id is None or endpoint.service_id == event.service_id)
        # an endpoint hears of what happens from its creation on
        and event.occurred_at >= endpoint.created_at
    )


async def fan_out(session: AsyncSession, found: list[Event]) -> None:
    """One delivery per active endpoint that wants each event (a replay adds nothing)."""
    endpoints = (
        await session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.is_active))
    ).all()
    pairs = [(e, event) for event in found for e in endpoints if wants(e, event)]
    if not pairs:
        return
    services = await _by_id(session, Service, {event.service_id for _, event in pairs})
    users = await _by_id(session, User, {event.user_id for _, event in pairs})
    bodies: dict[int, str] = {}
    rows = []
    for endpoint, event in pairs:
        body = bodies.get(event.id)
        if body is None:
            service, user = services.get(event.service_id), users.get(event.user_id)
            if service is None or user is None:
                continue  # deleted since (cascades): nothing left to describe
            if event.review is not None:
                data = {"review": review_data(event.review, service, user)}
            else:
                data = {"booking": booking_data(event.booking, service, user)}
            body = bodies[event.id] = _body(event.type, event.occurred_at, data)
        rows.append(
            {
                "id": uuid.uuid4(),
                "endpoint_id": endpoint.id,
                "event_id": event.id,
                "event_type": event.type,
                "body": body,
                "attempt_limit": ATTEMPTS,
            }
        )
    if rows:
        await session.execute(insert(WebhookDelivery).values(rows).on_conflict_do_nothing())


async def _by_id(session: AsyncSession, model: Any, ids: set[uuid.UUID]) -> dict[uuid.UUID, Any]:
    found = await session.scalars(select(model).where(model.id.in_(ids)))
    return {row.id: row for row in found}


# -- attempts -----------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    status: int | None = None  # the HTTP status, if the receiver answered
    error: str | None = None
    retry_after: timedelta | None = None

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def headers(
    *, delivery_id: uuid.UUID, secrets: list[str], body: str, now: datetime
) -> dict[str, str]:
    msg_id = f"msg_{delivery_id.hex}"
    return {
        "content-type": "application/json",
        "user-agent": "BookIt-Webhooks/1",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": crypto.signature(secrets, msg_id=msg_id, timestamp=now, body=body),
    }


def _retry_after(value: str | None, now: datetime) -> timedelta | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        wait = timedelta(seconds=int(value))
    else:
        try:
            wait = parsedate_to_datetime(value) - now
        except (TypeError, ValueError):
            return None
    return min(max(wait, timedelta(0)), MAX_RETRY_AFTER)


async def attempt(
    http: httpx.AsyncClient,
    *,
    url: str,
    delivery_id: uuid.UUID,
    body: str,
    secrets: list[str],
    allow_private: bool,
) -> Outcome:
    """POST the delivery once; never raises for the receiver's sake.

    `http` is urls.pinned_client(): it connects to the address checked here.
    """
    try:
        address = await urls.check_address(url, allow_private=allow_private)
    except urls.Refused as refused:
        return Outcome(error=f"refused: {refused}")
    now = datetime.now(UTC)
    sent = headers(delivery_id=delivery_id, secrets=secrets, body=body, now=now)
    # the connection goes to the address just checked, not to a second lookup's answer
    pinned = urls.pin(httpx.URL(url).raw_host.decode("ascii"), address)
    try:
        response = await http.post(url, content=body.encode(), headers=sent, timeout=TIMEOUT)
    except httpx.TimeoutException:
        return Outcome(error=f"timed out after {TIMEOUT:g} s")
    except httpx.HTTPError as error:
        return Outcome(error=f"{type(error).__name__}: {error}"[:500])
    finally:
        urls.unpin(pinned)
    await response.aclose()
    if 200 <= response.status_code < 300:
        return Outcome(status=response.status_code)
    return Outcome(
        status=response.status_code,
        error=f"HTTP {response.status_code}",
        retry_after=_retry_after(response.headers.get("retry-after"), now),
    )


def next_attempt(attempts: int, outcome: Outcome, now: datetime) -> datetime:
    """When to try again after `attempts` attempts (1 or more) that failed."""
    delay = RETRY_SCHEDULE[min(attempts, len(RETRY_SCHEDULE)) - 1]
    delay = delay * (1 + random.uniform(0, JITTER))
    if outcome.retry_after is not None and outcome.retry_after > delay:
        delay = outcome.retry_after
    return now + delay


async def record_outcome(
    session: AsyncSession,
    *,
    endpoint: WebhookEndpoint,
    delivery: WebhookDelivery,
    outcome: Outcome,
    now: datetime,
) -> bool:
    """Write what an attempt gave; False if the endpoint got disabled by it."""
    attempts = delivery.attempts + 1
    values: dict[str, Any] = {
        "attempts": attempts,
        "last_response_status": outcome.status,
        "last_error": outcome.error,
    }
    still_active = True
    reason: str | None = None
    if outcome.succeeded:
        values.update(
            status=WebhookDeliveryStatus.SUCCEEDED, delivered_at=now, next_attempt_at=None
        )
        await session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint.id)
            .values(failing_since=None)
        )
        outcomes.record("webhook", "succeeded")
    else:
        failing_since = endpoint.failing_since or now
        if outcome.status == 410:
            reason = "the receiver answered 410 Gone"
        elif now - failing_since >= DISABLE_AFTER:
            reason = "every attempt failed for 5 days"
        if reason is not None:
            still_active = False
            values.update(status=WebhookDeliveryStatus.FAILED, next_attempt_at=None)
            outcomes.record("webhook", "failed")
        elif attempts >= delivery.attempt_limit:
            values.update(status=WebhookDeliveryStatus.FAILED, next_attempt_at=None)
            outcomes.record("webhook", "failed")
        else:
            values.update(next_attempt_at=next_attempt(attempts, outcome, now))
            outcomes.record("webhook", "retrying")
        await session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint.id, WebhookEndpoint.failing_since.is_(None))
            .values(failing_since=failing_since)
        )
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery.id, WebhookDelivery.status == "PENDING")
        .values(**values)
    )
    if not still_active:
        await disable(session, endpoint_id=endpoint.id, reason=str(reason))
    return still_active


async def disable(session: AsyncSession, *, endpoint_id: uuid.UUID, reason: str) -> None:
    """Disable the endpoint; its pending deliveries fail (a redelivery can revive one)."""
    await session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id)
        .values(is_active=False, disabled_reason=reason)
    )
    await session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.status == WebhookDeliveryStatus.PENDING,
        )
        .values(status=WebhookDeliveryStatus.FAILED, next_attempt_at=None)
    )
