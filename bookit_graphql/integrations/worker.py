"""The integrations worker: fans the log out, sends webhooks and mail, prunes the log.

Any number of workers (one per `bookit serve`, or `bookit worker` apart) share
the work through the database alone:
- fan-out: outbox.advance, one instance at a time per consumer (SKIP LOCKED);
- webhooks: an endpoint is leased (`lease_owner`, `lease_until`, claimed with
  FOR UPDATE SKIP LOCKED) by one worker, which sends its due deliveries in
  order, one at a time; a worker killed mid-delivery leaves the delivery
  PENDING and the lease runs out, so another sends it again (same
  `webhook-id`): at least once, never lost;
- mail: a notification is leased the same way, one by one.
A NOTIFY on booking_events or integrations wakes a worker; it also looks every
`poll` seconds (due retries, reminders, a lost notification).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx
import psycopg
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bookit_graphql.bookings.events import CHANNEL as EVENTS_CHANNEL
from bookit_graphql.catalog.models import Service
from bookit_graphql.config import Settings
from bookit_graphql.hub import Listener
from bookit_graphql.integrations import notifications, outbox, outcomes, urls, webhooks
from bookit_graphql.integrations.mail import Mailer, mailer
from bookit_graphql.integrations.models import (
    Notification,
    NotificationStatus,
    WebhookDelivery,
    WebhookEndpoint,
)
from bookit_graphql.users.models import User

log = logging.getLogger(__name__)

LEASE_SECONDS = 60  # longer than an attempt's timeout; renewed before each one
ENDPOINT_TURN = 30.0  # seconds an endpoint's lease is kept before others get a chance
PRUNE_EVERY = 600.0


def _now() -> datetime:
    return datetime.now(UTC)


class _Wake(Listener):
    """Sets the worker's event on each wake-up of the hub (no query on its connection)."""

    def __init__(self, wake: Callable[[], None]) -> None:
        self._wake = wake

    async def woken(self, conn: psycopg.AsyncConnection[Any], payloads: list[str]) -> None:
        if payloads:
            self._wake()


class EventsWake(_Wake):
    channel: ClassVar[str] = EVENTS_CHANNEL


class IntegrationsWake(_Wake):
    channel: ClassVar[str] = webhooks.CHANNEL


@dataclass
class Worker:
    settings: Settings
    session_factory: async_sessionmaker[AsyncSession]
    mail: Mailer | None = None
    poll: float = 1.0
    concurrency: int = 16  # endpoints sent to at once
    name: str = field(
        default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    )
    _woken: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None
    _sending: set[asyncio.Task[None]] = field(default_factory=set)
    _http: httpx.AsyncClient | None = None
    _pruned_at: float = 0.0

    def listeners(self) -> list[Listener]:
        """What to hang on the process's hub, so that a NOTIFY wakes the worker."""
        return [EventsWake(self._woken.set), IntegrationsWake(self._woken.set)]

    async def open(self) -> None:
        """Ready to send (the mailer, the HTTP client), without running on its own."""
        if self.mail is None:
            self.mail = mailer(self.settings)
        self._http = urls.pinned_client(timeout=webhooks.TIMEOUT)

    async def start(self) -> None:
        await self.open()
        self._task = asyncio.create_task(self._run(), name="integrations-worker")

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._sending) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._http is not None:
            await self._http.aclose()

    async def _run(self) -> None:
        while True:
            try:
                busy = await self.step()
            except (SQLAlchemyError, OSError, psycopg.Error) as error:
                log.warning("integrations worker: %s; trying again", error)
                busy = False
                await asyncio.sleep(1)
            if not busy:
                self._woken.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._woken.wait(), self.poll)

    async def step(self) -> bool:
        """One round of everything; True if there may be more to do at once."""
        fanned = await outbox.advance(self.session_factory, "webhooks", webhooks.fan_out)
        fanned += await outbox.advance(self.session_factory, "notifications", notifications.fan_out)
        await self._claim_endpoints()
        mailed = await self._send_mail()
        loop = asyncio.get_running_loop()
        if loop.time() - self._pruned_at > PRUNE_EVERY:
            self._pruned_at = loop.time()
            pruned = await outbox.prune(
                self.session_factory,
                retention_days=self.settings.event_retention_days,
                now=_now(),
            )
            if pruned:
                log.info("pruned %d events from the log", pruned)
        return bool(fanned or mailed)

    async def drain(self) -> None:
        """Everything due now, until nothing is (for tests and the benchmark)."""
        while True:
            busy = await self.step()
            if self._sending:
                await asyncio.gather(*list(self._sending), return_exceptions=True)
                busy = True
            if not busy and not await self._endpoints_due():
                return

    # -- webhooks -------------------------------------------------------------------

    async def _endpoints_due(self) -> bool:
        async with self.session_factory() as session:
            return bool(await session.scalar(text(f"SELECT EXISTS ({_DUE_ENDPOINTS})")))

    async def _claim_endpoints(self) -> None:
        room = self.concurrency - len(self._sending)
        if room <= 0:
            return
        async with self.session_factory.begin() as session:
            claimed = (
                await session.execute(
                    text(
                        "UPDATE webhook_endpoints SET lease_owner = :me, "
                        f"lease_until = now() + interval '{LEASE_SECONDS} seconds' "
                        f"WHERE id IN ({_DUE_ENDPOINTS} LIMIT :room FOR UPDATE SKIP LOCKED) "
                        "RETURNING id"
                    ),
                    {"me": self.name, "room": room},
                )
            ).all()
        for (endpoint_id,) in claimed:
            task = asyncio.create_task(self._send_endpoint(endpoint_id))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _send_endpoint(self, endpoint_id: uuid.UUID) -> None:
        """The endpoint's due deliveries in order, one at a time, while the lease is ours."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            while loop.time() - started < ENDPOINT_TURN:
                async with self.session_factory() as session:
                    endpoint = await session.get(WebhookEndpoint, endpoint_id)
                    due = (
                        await session.scalars(
                            select(WebhookDelivery)
                            .where(
                                WebhookDelivery.endpoint_id == endpoint_id,
                                WebhookDelivery.status == "PENDING",
                                WebhookDelivery.next_attempt_at <= func.now(),
                            )
                            .order_by(WebhookDelivery.seq)
                            .limit(50)
                        )
                    ).all()
                if endpoint is None or not endpoint.is_active or not due:
                    return
                for delivery in due:
                    if not await self._deliver(endpoint, delivery):
                        return
        except (SQLAlchemyError, OSError, psycopg.Error) as error:
            log.warning("webhook endpoint %s: %s", endpoint_id, error)
        finally:
            with contextlib.suppress(SQLAlchemyError, OSError, psycopg.Error):
                async with self.session_factory.begin() as session:
                    await session.execute(
                        update(WebhookEndpoint)
                        .where(
                            WebhookEndpoint.id == endpoint_id,
                            WebhookEndpoint.lease_owner == self.name,
                        )
                        .values(lease_owner=None, lease_until=None)
                    )

    async def _deliver(self, endpoint: WebhookEndpoint, delivery: WebhookDelivery) -> bool:
        """One attempt; False when the endpoint should not get another now."""
        async with self.session_factory.begin() as session:
            renewed = await session.execute(
                text(
                    "UPDATE webhook_endpoints "
                    f"SET lease_until = now() + interval '{LEASE_SECONDS} seconds' "
                    "WHERE id = :id AND lease_owner = :me AND is_active RETURNING failing_since"
                ),
                {"id": endpoint.id, "me": self.name},
            )
            row = renewed.first()
        if row is None:
            return False  # lost the lease (we were too slow), or disabled meanwhile
        endpoint.failing_since = row[0]
        now = _now()
        secrets = webhooks.signing_secrets(endpoint, secret_key=self.settings.secret_key, now=now)
        if secrets is None:  # SECRET_KEY changed: an admin rotates, enables and redelivers
            async with self.session_factory.begin() as session:
                await webhooks.disable(
                    session, endpoint_id=endpoint.id, reason=webhooks.UNREADABLE_SECRET
                )
            return False
        assert self._http is not None
        outcome = await webhooks.attempt(
            self._http,
            url=endpoint.url,
            delivery_id=delivery.id,
            body=delivery.body,
            secrets=secrets,
            allow_private=self.settings.webhooks_allow_private,
        )
        async with self.session_factory.begin() as session:
            return await webhooks.record_outcome(
                session, endpoint=endpoint, delivery=delivery, outcome=outcome, now=_now()
            )

    # -- mail -------------------------------------------------------------------------

    async def _send_mail(self, batch: int = 20) -> int:
        async with self.session_factory.begin() as session:
            claimed = (
                await session.scalars(
                    select(Notification)
                    .from_statement(
                        text(
                            "UPDATE notifications SET attempts = attempts + 1, "
                            "lease_until = now() + interval '5 minutes' WHERE id IN ("
                            "SELECT id FROM notifications WHERE status = 'PENDING' "
                            "AND send_at <= now() AND (lease_until IS NULL OR lease_until < now()) "
                            "ORDER BY send_at LIMIT :batch FOR UPDATE SKIP LOCKED) RETURNING *"
                        )
                    )
                    .params(batch=batch)
                )
            ).all()
        # UPDATE ... RETURNING keeps no order: a booking's messages go out in its order
        for notification in sorted(claimed, key=lambda n: (n.send_at, n.sequence)):
            await self._mail_one(notification)
        return len(claimed)

    async def _mail_one(self, notification: Notification) -> None:
        async with self.session_factory() as session:
            user = await session.get(User, notification.user_id)
            service = await session.get(Service, notification.booking.get("service_id"))
        now = _now()
        values: dict[str, Any]
        if user is None:
            values = {"status": NotificationStatus.FAILED, "last_error": "the user is gone"}
            outcomes.record("email", "failed")
        else:
            message = notifications.render(
                notification,
                user=user,
                service=service,
                sender=self.settings.mail_from,
                zone=notifications.zone_of(service),
                now=now,
            )
            assert self.mail is not None
            try:
                await self.mail.send(message)
            except Exception as error:
                later = notifications.retry_at(notification.attempts, now)
                values = {"last_error": f"{type(error).__name__}: {error}"[:500]}
                if later is None:
                    values["status"] = NotificationStatus.FAILED
                    outcomes.record("email", "failed")
                else:
                    values.update(send_at=later, lease_until=None)
                    outcomes.record("email", "retrying")
                log.warning("notification %s not sent: %s", notification.id, error)
            else:
                values = {"status": NotificationStatus.SENT, "sent_at": now, "last_error": None}
                outcomes.record("email", "sent")
        async with self.session_factory.begin() as session:
            await session.execute(
                update(Notification)
                .where(Notification.id == notification.id, Notification.status == "PENDING")
                .values(**values)
            )


# Endpoints with a delivery due and no live lease (a subquery of the claim).
_DUE_ENDPOINTS = (
    "SELECT e.id FROM webhook_endpoints e WHERE e.is_active "
    "AND (e.lease_until IS NULL OR e.lease_until < now()) "
    "AND EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.endpoint_id = e.id "
    "AND d.status = 'PENDING' AND d.next_attempt_at <= now()) "
    "ORDER BY e.lease_until NULLS FIRST, e.id"
)


async def run_apart(settings: Settings, database_url: str) -> None:
    """`bookit worker`: the worker alone, until SIGTERM or SIGINT (or cancelled)."""
    from bookit_graphql.db import create_engine, create_session_factory, libpq_url
    from bookit_graphql.hub import Hub

    engine = create_engine(database_url, pool_size=5)
    worker = Worker(settings, create_session_factory(engine))
    hub = Hub(libpq_url(database_url))
    for listener in worker.listeners():
        hub.add(listener)
    await hub.start()
    await worker.start()
    # SIGTERM and SIGINT end the wait, so that the worker stops in order (its leases
    # given back, its sessions closed) rather than by an exception thrown into a query.
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    try:
        await stopping.wait()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        await worker.stop()
        await hub.stop()
        await engine.dispose()
