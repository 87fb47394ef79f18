"""The contract's integrations operations, sent by name to a live `bookit serve` whose
worker delivers to a local receiver and mails a local SMTP server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook

from tests.bookings.support import at, booked
from tests.conftest import Server
from tests.factories import Rows
from tests.helpers import Account, make_admin, sign_up
from tests.integrations.conftest import Inbox, Receiver

DOCUMENT = (Path(__file__).parents[1] / "contract" / "integrations.graphql").read_text()


async def send(
    http: httpx.AsyncClient, who: Account, operation: str, **variables: Any
) -> dict[str, Any]:
    """One operation of the integrations contract, by name, as `who`."""
    response = await http.post(
        "/graphql",
        json={"query": DOCUMENT, "operationName": operation, "variables": variables},
        headers={"Authorization": f"Bearer {who.token}"},
    )
    body: dict[str, Any] = response.json()
    assert response.status_code == 200, body
    assert "errors" not in body, (operation, body)
    data: dict[str, Any] = body["data"]
    return data


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 20) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not so within {within} s")


async def test_every_integrations_operation_against_a_live_server(
    start_server: Callable[..., Server],
    database_url: str,
    rows: Rows,
    receiver: Receiver,
    smtp: tuple[Inbox, int],
) -> None:
    inbox, port = smtp
    server = start_server(
        "serve.log", BOOKIT_WORKER="on", BOOKIT_SMTP_URL=f"smtp://127.0.0.1:{port}"
    )
    service_id = await rows.service(title="Live")
    async with httpx.AsyncClient(base_url=server.base, timeout=10) as http:
        admin = await make_admin(http, database_url, "admin@example.com")
        ann = await sign_up(http, "ann@example.com", full_name="Ann")

        # an endpoint, listed
        made = (
            await send(
                http,
                admin,
                "CreateWebhookEndpoint",
                input={"url": receiver.url("/live"), "description": "the live receiver"},
            )
        )["createWebhookEndpoint"]
        endpoint_id, secret = made["endpoint"]["id"], made["secret"]
        receiver.secrets["/live"] = [secret]
        assert made["endpoint"]["eventTypes"] == []
        assert made["endpoint"]["isActive"] is True
        listed = (await send(http, admin, "WebhookEndpoints", first=10))["webhookEndpoints"]
        assert listed["totalCount"] == 1
        assert listed["edges"][0]["node"]["id"] == endpoint_id

        # a booking reaches it, and the delivery is listed as SUCCEEDED
        booking = await booked(http, ann.token, service_id, at(30))

        async def deliveries() -> list[dict[str, Any]]:
            found = await send(http, admin, "WebhookDeliveries", endpointId=endpoint_id)
            return [e["node"] for e in found["webhookDeliveries"]["edges"]]

        async def succeeded(count: int) -> bool:
            return [d["status"] for d in await deliveries()] == ["SUCCEEDED"] * count

        await eventually(lambda: succeeded(1))
        (created,) = await deliveries()
        assert created["eventType"] == "booking.created"
        assert created["attempts"] == 1
        (got,) = receiver.at("/live")
        assert got.payload["data"]["booking"]["id"] == booking["id"]
        assert got.verified == {secret: True}
        only = await send(
            http, admin, "WebhookDeliveries", endpointId=endpoint_id, status="SUCCEEDED"
        )
        assert only["webhookDeliveries"]["totalCount"] == 1

        # a test event, whatever the filters
        tested = (await send(http, admin, "SendTestWebhook", id=endpoint_id))["sendTestWebhook"]
        assert tested["eventType"] == "webhook.test"
        await eventually(lambda: succeeded(2))
        assert receiver.at("/live")[-1].payload["type"] == "webhook.test"

        # a redelivery: one more attempt with the same webhook-id
        again = (await send(http, admin, "RedeliverWebhook", deliveryId=created["id"]))[
            "redeliverWebhook"
        ]
        assert again["id"] == created["id"]

        async def redelivered() -> bool:
            return len(receiver.at("/live")) == 3

        await eventually(redelivered)
        assert receiver.at("/live")[-1].id == got.id
        await eventually(lambda: succeeded(2))
        assert next(d for d in await deliveries() if d["id"] == created["id"])["attempts"] == 2

        # a rotation: both secrets sign while the previous one lasts
        rotated = (await send(http, admin, "RotateWebhookSecret", id=endpoint_id))[
            "rotateWebhookSecret"
        ]
        assert rotated["endpoint"]["id"] == endpoint_id
        assert rotated["secret"] != secret
        assert rotated["previousSecretExpiresAt"]
        receiver.secrets["/live"] = [secret, rotated["secret"]]
        await send(http, admin, "SendTestWebhook", id=endpoint_id)
        await eventually(lambda: succeeded(3))
        last = receiver.at("/live")[-1]
        assert last.verified == {secret: True, rotated["secret"]: True}
        Webhook(rotated["secret"]).verify(last.body, last.headers)

        # an update narrows what it hears of
        changed = (
            await send(
                http,
                admin,
                "UpdateWebhookEndpoint",
                id=endpoint_id,
                input={"eventTypes": ["booking.cancelled"], "description": "cancellations"},
            )
        )["updateWebhookEndpoint"]
        assert (changed["eventTypes"], changed["description"]) == (
            ["booking.cancelled"],
            "cancellations",
        )

        # ann's notifications: the booking received, sent by SMTP; the reminder waits
        async def mailed() -> bool:
            found = (await send(http, ann, "MyNotifications", first=10))["notifications"]
            kinds = {e["node"]["kind"]: e["node"]["status"] for e in found["edges"]}
            return kinds == {"BOOKING_RECEIVED": "SENT", "REMINDER": "PENDING"}

        await eventually(mailed)
        assert [m["Subject"] for m in inbox.messages] == ["Booking received: Live"]

        # and the endpoint deleted
        assert (await send(http, admin, "DeleteWebhookEndpoint", id=endpoint_id))[
            "deleteWebhookEndpoint"
        ] is True
        listed = (await send(http, admin, "WebhookEndpoints"))["webhookEndpoints"]
        assert listed["totalCount"] == 0
    assert "Traceback" not in server.log.read_text()
