"""Webhooks: signed per Standard Webhooks, verified by its library, retried, disabled, rotated."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bookit_graphql.errors import BadUserInput
from bookit_graphql.integrations import crypto, outcomes, urls, webhooks
from bookit_graphql.integrations.models import WebhookDelivery, WebhookEndpoint
from bookit_graphql.integrations.worker import Worker
from tests.bookings.support import RESCHEDULE_BOOKING, SET_BOOKING_STATUS, at, booked
from tests.factories import Rows
from tests.helpers import Account, codes, gql
from tests.integrations.conftest import Receiver

ENDPOINT = "id url description eventTypes serviceId isActive disabledReason createdAt"
DELIVERY = (
    "id eventId eventType status attempts lastResponseStatus lastError nextAttemptAt "
    "createdAt deliveredAt"
)
CREATE = (
    "mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) "
    f"{{ secret endpoint {{ {ENDPOINT} }} }} }}"
)
UPDATE = (
    "mutation($id: ID!, $input: UpdateWebhookEndpointInput!) "
    f"{{ updateWebhookEndpoint(id: $id, input: $input) {{ {ENDPOINT} }} }}"
)
ROTATE = (
    "mutation($id: ID!) { rotateWebhookSecret(id: $id) "
    "{ secret previousSecretExpiresAt endpoint { id } } }"
)
SEND_TEST = f"mutation($id: ID!) {{ sendTestWebhook(id: $id) {{ {DELIVERY} }} }}"
REDELIVER = (
    f"mutation($deliveryId: ID!) {{ redeliverWebhook(deliveryId: $deliveryId) {{ {DELIVERY} }} }}"
)
DELIVERIES = (
    "query($endpointId: ID!, $status: WebhookDeliveryStatus) "
    "{ webhookDeliveries(endpointId: $endpointId, status: $status) "
    f"{{ totalCount edges {{ node {{ {DELIVERY} }} }} }} }}"
)
ENDPOINTS = f"{{ webhookEndpoints {{ totalCount edges {{ node {{ {ENDPOINT} }} }} }} }}"

Sessions = async_sessionmaker[AsyncSession]


async def endpoint(
    client: httpx.AsyncClient, admin: Account, receiver: Receiver, path: str, **fields: Any
) -> tuple[str, str]:
    """A new endpoint at the receiver's `path`: its id and secret (the receiver verifies)."""
    body = await gql(
        client, CREATE, {"input": {"url": receiver.url(path), **fields}}, token=admin.token
    )
    assert "errors" not in body, body
    made = body["data"]["createWebhookEndpoint"]
    assert made["secret"].startswith("whsec_")
    receiver.secrets[path] = [made["secret"]]
    return made["endpoint"]["id"], made["secret"]


async def make_due(db: Sessions) -> None:
    """Bring every scheduled retry to now (instead of waiting 5 s, then 5 min...)."""
    async with db.begin() as session:
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.status == "PENDING")
            .values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1))
        )


async def test_a_booking_change_reaches_the_receiver_signed_and_verified(
    client: httpx.AsyncClient,
    admin: Account,
    alice: Account,
    rows: Rows,
    receiver: Receiver,
    worker: Worker,
) -> None:
    # given an endpoint for every type, and one for cancellations only
    every, _ = await endpoint(client, admin, receiver, "/all")
    await endpoint(client, admin, receiver, "/cancelled", eventTypes=["booking.cancelled"])
    service_id = await rows.service(title="Yoga")
    # when alice books, an admin confirms, alice moves it, then cancels it
    booking = await booked(client, alice.token, service_id, at(1))
    await gql(
        client, SET_BOOKING_STATUS, {"id": booking["id"], "status": "CONFIRMED"}, token=admin.token
    )
    await gql(
        client, RESCHEDULE_BOOKING, {"id": booking["id"], "startsAt": at(3)}, token=alice.token
    )
    await gql(
        client, SET_BOOKING_STATUS, {"id": booking["id"], "status": "CANCELLED"}, token=alice.token
    )
    await worker.drain()
    # then /all got the four changes in order, each verified by the standardwebhooks library
    got = receiver.at("/all")
    assert [r.payload["type"] for r in got] == [
        "booking.created",
        "booking.confirmed",
        "booking.rescheduled",
        "booking.cancelled",
    ]
    assert all(list(r.verified.values()) == [True] for r in got)
    assert len({r.id for r in got}) == 4
    first = got[0].payload
    assert first["data"]["booking"]["id"] == booking["id"]
    assert first["data"]["booking"]["service"] == {
        "id": service_id,
        "title": "Yoga",
        "price": "49.90",
        "durationMinutes": 60,
    }
    assert first["data"]["booking"]["user"]["email"] == "alice@example.com"
    assert first["timestamp"].endswith("+00:00")
    assert (
        got[2].payload["data"]["booking"]["startsAt"]
        == datetime.fromisoformat(at(3)).astimezone(UTC).isoformat()
    )
    # and /cancelled only the cancellation
    assert [r.payload["type"] for r in receiver.at("/cancelled")] == ["booking.cancelled"]
    # and the delivery log says so
    log = await gql(
        client, DELIVERIES, {"endpointId": every, "status": "SUCCEEDED"}, token=admin.token
    )
    assert log["data"]["webhookDeliveries"]["totalCount"] == 4
    node = log["data"]["webhookDeliveries"]["edges"][0]["node"]
    assert node["eventType"] == "booking.cancelled"  # newest first
    assert node["attempts"] == 1
    assert node["lastResponseStatus"] == 200
    assert got[3].id == f"msg_{node['id'].replace('-', '')}"


async def test_a_tampered_or_replayed_request_fails_the_verifier(
    client: httpx.AsyncClient, admin: Account, receiver: Receiver, worker: Worker
) -> None:
    from standardwebhooks.webhooks import Webhook, WebhookVerificationError

    endpoint_id, secret = await endpoint(client, admin, receiver, "/t")
    await gql(client, SEND_TEST, {"id": endpoint_id}, token=admin.token)
    await worker.drain()
    (got,) = receiver.at("/t")
    assert got.payload["type"] == "webhook.test"
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(got.body.replace("test", "tost"), got.headers)
    old = {**got.headers, "webhook-timestamp": str(int(got.headers["webhook-timestamp"]) - 600)}
    with pytest.raises(WebhookVerificationError):  # the timestamp is signed: no replay
        Webhook(secret).verify(got.body, old)


async def test_failures_are_retried_with_the_same_id_honouring_retry_after(
    client: httpx.AsyncClient,
    admin: Account,
    alice: Account,
    rows: Rows,
    receiver: Receiver,
    worker: Worker,
    db: Sessions,
) -> None:
    # given a receiver that fails twice (the second time asking for an hour's wait)
    endpoint_id, _ = await endpoint(client, admin, receiver, "/flaky")
    receiver.script["/flaky"] = [(500, {}), (503, {"Retry-After": "3600"})]
    service_id = await rows.service()
    before = outcomes.COUNTS["webhook", "retrying"]
    await booked(client, alice.token, service_id, at(1))
    # when the worker runs: the first attempt fails, the retry is scheduled about 5 s later
    await worker.drain()
    async with db() as session:
        delivery = await session.scalar(select(WebhookDelivery))
    assert delivery is not None
    assert delivery.attempts == 1
    assert delivery.status == "PENDING"
    assert delivery.next_attempt_at is not None
    wait = delivery.next_attempt_at - datetime.now(UTC)
    assert timedelta(seconds=3) < wait <= timedelta(seconds=5.6)
    # and the second fails with Retry-After: the next attempt is an hour away, not 5 minutes
    await make_due(db)
    await worker.drain()
    async with db() as session:
        delivery = await session.scalar(select(WebhookDelivery))
    assert delivery is not None
    assert delivery.attempts == 2
    assert delivery.next_attempt_at is not None
    assert delivery.next_attempt_at - datetime.now(UTC) > timedelta(minutes=59)
    assert outcomes.COUNTS["webhook", "retrying"] == before + 2
    # then the third succeeds, with the same webhook-id and body each time
    await make_due(db)
    await worker.drain()
    got = receiver.at("/flaky")
    assert len(got) == 3
    assert len({r.id for r in got}) == 1
    assert len({r.body for r in got}) == 1
    assert all(r.verified == {receiver.secrets["/flaky"][0]: True} for r in got)
    log = await gql(client, DELIVERIES, {"endpointId": endpoint_id}, token=admin.token)
    (node,) = [e["node"] for e in log["data"]["webhookDeliveries"]["edges"]]
    assert node["status"] == "SUCCEEDED"
    assert node["attempts"] == 3


async def test_retries_stop_after_the_schedule(
    client: httpx.AsyncClient, admin: Account, receiver: Receiver, worker: Worker, db: Sessions
) -> None:
    endpoint_id, _ = await endpoint(client, admin, receiver, "/down")
    receiver.script["/down"] = [(500, {})] * 20
    # a real event's delivery gets the contract's 8 attempts
    async with db.begin() as session:
        session.add(
            WebhookDelivery(
                endpoint_id=endpoint_id,
                event_type="booking.created",
                body="{}",
                attempt_limit=webhooks.ATTEMPTS,
            )
        )
    for _ in range(webhooks.ATTEMPTS + 2):
        await make_due(db)
        await worker.drain()
    assert len(receiver.at("/down")) == 8
    async with db() as session:
        delivery = await session.scalar(select(WebhookDelivery))
    assert delivery is not None
    assert delivery.status == "FAILED"
    assert delivery.attempts == 8


async def test_410_disables_the_endpoint_and_redelivery_is_one_more_attempt(
    client: httpx.AsyncClient,
    admin: Account,
    alice: Account,
    rows: Rows,
    receiver: Receiver,
    worker: Worker,
) -> None:
    endpoint_id, _ = await endpoint(client, admin, receiver, "/gone")
    receiver.script["/gone"] = [(410, {})]
    service_id = await rows.service()
    await booked(client, alice.token, service_id, at(1))
    await worker.drain()
    listed = await gql(client, ENDPOINTS, token=admin.token)
    (node,) = [e["node"] for e in listed["data"]["webhookEndpoints"]["edges"]]
    assert node["isActive"] is False
    assert "410" in node["disabledReason"]
    log = await gql(client, DELIVERIES, {"endpointId": endpoint_id}, token=admin.token)
    (failed,) = [e["node"] for e in log["data"]["webhookDeliveries"]["edges"]]
    assert failed["status"] == "FAILED"
    assert failed["lastResponseStatus"] == 410
    # a disabled endpoint gets nothing new, and a redelivery needs it enabled again
    await booked(client, alice.token, service_id, at(5))
    await worker.drain()
    assert len(receiver.at("/gone")) == 1
    refused = await gql(client, REDELIVER, {"deliveryId": failed["id"]}, token=admin.token)
    assert codes(refused) == ["INVALID_STATE"]
    enabled = await gql(
        client, UPDATE, {"id": endpoint_id, "input": {"isActive": True}}, token=admin.token
    )
    assert enabled["data"]["updateWebhookEndpoint"]["disabledReason"] is None
    again = await gql(client, REDELIVER, {"deliveryId": failed["id"]}, token=admin.token)
    assert again["data"]["redeliverWebhook"]["status"] == "PENDING"
    await worker.drain()
    got = receiver.at("/gone")
    assert len(got) == 2
    assert got[0].id == got[1].id
    log = await gql(client, DELIVERIES, {"endpointId": endpoint_id}, token=admin.token)
    (done,) = [e["node"] for e in log["data"]["webhookDeliveries"]["edges"]]
    assert done["status"] == "SUCCEEDED"
    assert done["attempts"] == 2


async def test_five_days_of_failures_disable_the_endpoint(
    client: httpx.AsyncClient, admin: Account, receiver: Receiver, worker: Worker, db: Sessions
) -> None:
    endpoint_id, _ = await endpoint(client, admin, receiver, "/sick")
    receiver.script["/sick"] = [(500, {})]
    async with db.begin() as session:
        await session.execute(
            update(WebhookEndpoint).values(
                failing_since=datetime.now(UTC) - timedelta(days=5, minutes=1)
            )
        )
    await gql(client, SEND_TEST, {"id": endpoint_id}, token=admin.token)
    await worker.drain()
    listed = await gql(client, ENDPOINTS, token=admin.token)
    (node,) = [e["node"] for e in listed["data"]["webhookEndpoints"]["edges"]]
    assert node["isActive"] is False
    assert "5 days" in node["disabledReason"]


async def test_a_rotated_secret_signs_beside_the_new_one_for_24_hours(
    client: httpx.AsyncClient, admin: Account, receiver: Receiver, worker: Worker, db: Sessions
) -> None:
    endpoint_id, old = await endpoint(client, admin, receiver, "/rot")
    rotated = await gql(client, ROTATE, {"id": endpoint_id}, token=admin.token)
    new = rotated["data"]["rotateWebhookSecret"]["secret"]
    expires = datetime.fromisoformat(
        rotated["data"]["rotateWebhookSecret"]["previousSecretExpiresAt"]
    )
    assert timedelta(hours=23, minutes=59) < expires - datetime.now(UTC) <= timedelta(hours=24)
    receiver.secrets["/rot"] = [old, new]
    await gql(client, SEND_TEST, {"id": endpoint_id}, token=admin.token)
    await worker.drain()
    (got,) = receiver.at("/rot")
    assert got.verified == {old: True, new: True}
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    # after the overlap, only the new one signs
    async with db.begin() as session:
        await session.execute(
            update(WebhookEndpoint).values(
                previous_secret_expires_at=datetime.now(UTC) - timedelta(seconds=1)
            )
        )
    await gql(client, SEND_TEST, {"id": endpoint_id}, token=admin.token)
    await worker.drain()
    last = receiver.at("/rot")[-1]
    assert last.verified == {old: False, new: True}
    # and the database never holds a secret in clear
    async with db() as session:
        stored = (
            await session.execute(text("SELECT secret, previous_secret FROM webhook_endpoints"))
        ).one()
    assert new.encode() not in stored[0]
    assert old.encode() not in stored[1]


async def test_a_secret_sealed_under_another_secret_key_disables_the_endpoint_until_rotated(
    client: httpx.AsyncClient, admin: Account, receiver: Receiver, worker: Worker, db: Sessions
) -> None:
    endpoint_id, _ = await endpoint(client, admin, receiver, "/moved")
    async with db.begin() as session:  # as after SECRET_KEY changed
        await session.execute(
            update(WebhookEndpoint).values(secret=crypto.seal("x" * 40, crypto.new_secret()))
        )
    await gql(client, SEND_TEST, {"id": endpoint_id}, token=admin.token)
    await worker.drain()
    assert receiver.at("/moved") == []
    listed = await gql(client, ENDPOINTS, token=admin.token)
    (node,) = [e["node"] for e in listed["data"]["webhookEndpoints"]["edges"]]
    assert node["isActive"] is False
    assert node["disabledReason"] == webhooks.UNREADABLE_SECRET
    log = await gql(client, DELIVERIES, {"endpointId": endpoint_id}, token=admin.token)
    (failed,) = [e["node"] for e in log["data"]["webhookDeliveries"]["edges"]]
    assert (failed["status"], failed["attempts"]) == ("FAILED", 0)
    # the way back: rotate, enable, redeliver; signed with the new secret only
    rotated = await gql(client, ROTATE, {"id": endpoint_id}, token=admin.token)
    new = rotated["data"]["rotateWebhookSecret"]["secret"]
    receiver.secrets["/moved"] = [new]
    await gql(client, UPDATE, {"id": endpoint_id, "input": {"isActive": True}}, token=admin.token)
    await gql(client, REDELIVER, {"deliveryId": failed["id"]}, token=admin.token)
    await worker.drain()
    (got,) = receiver.at("/moved")
    assert got.verified == {new: True}


async def test_a_change_that_rolls_back_sends_nothing(
    client: httpx.AsyncClient,
    admin: Account,
    alice: Account,
    rows: Rows,
    receiver: Receiver,
    worker: Worker,
) -> None:
    await endpoint(client, admin, receiver, "/rb")
    service_id = await rows.service()
    await booked(client, alice.token, service_id, at(1))
    conflict = await gql(
        client,
        "mutation($i: CreateBookingInput!) { createBooking(input: $i) { id } }",
        {"i": {"serviceId": service_id, "startsAt": at(1)}},
        token=alice.token,
    )
    assert codes(conflict) == ["BOOKING_CONFLICT"]
    await worker.drain()
    assert [r.payload["type"] for r in receiver.at("/rb")] == ["booking.created"]


async def test_service_filter_and_review_created(
    client: httpx.AsyncClient,
    admin: Account,
    alice: Account,
    rows: Rows,
    receiver: Receiver,
    worker: Worker,
) -> None:
    yoga, judo = await rows.services({"title": "Yoga"}, {"title": "Judo"})
    await endpoint(client, admin, receiver, "/yoga", serviceId=yoga)
    await endpoint(client, admin, receiver, "/reviews", eventTypes=["review.created"])
    await booked(client, alice.token, judo, at(1))
    await booked(client, alice.token, yoga, at(1))
    done = await rows.booking(service_id=yoga, user_id=alice.id)
    review = await gql(
        client,
        "mutation($i: CreateReviewInput!) { createReview(input: $i) { id } }",
        {"i": {"bookingId": done, "rating": 5, "comment": "Good"}},
        token=alice.token,
    )
    assert "errors" not in review, review
    await worker.drain()
    assert [r.payload["type"] for r in receiver.at("/yoga")] == [
        "booking.created",
        "review.created",
    ]
    (got,) = receiver.at("/reviews")
    data = got.payload["data"]["review"]
    assert data["id"] == review["data"]["createReview"]["id"]
    assert data["rating"] == 5
    assert data["comment"] == "Good"
    assert data["author"] == {"id": alice.id, "fullName": "Alice"}
    assert data["booking"] == {"id": done}
    assert data["service"]["title"] == "Yoga"


async def test_admins_only_and_inputs_checked(
    client: httpx.AsyncClient, admin: Account, alice: Account, receiver: Receiver
) -> None:
    url = receiver.url("/x")
    assert codes(await gql(client, CREATE, {"input": {"url": url}}, token=alice.token)) == [
        "FORBIDDEN"
    ]
    assert codes(await gql(client, CREATE, {"input": {"url": url}})) == ["UNAUTHENTICATED"]
    assert codes(await gql(client, ENDPOINTS, token=alice.token)) == ["FORBIDDEN"]
    bad = await gql(
        client, CREATE, {"input": {"url": url, "eventTypes": ["booking.eaten"]}}, token=admin.token
    )
    assert codes(bad) == ["BAD_USER_INPUT"]
    assert bad["errors"][0]["extensions"]["field"] == ("eventTypes")
    bad = await gql(client, CREATE, {"input": {"url": "ftp://example.com/"}}, token=admin.token)
    assert codes(bad) == ["BAD_USER_INPUT"]
    missing = await gql(client, DELIVERIES, {"endpointId": "nope"}, token=admin.token)
    assert codes(missing) == ["NOT_FOUND"]


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://10.1.2.3/hook",
        "https://192.168.0.1/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
    ],
)
async def test_production_refuses_internal_addresses(url: str) -> None:
    with pytest.raises(BadUserInput, match="internal address"):
        await urls.check(url, production=True, allow_private=False)
    assert await urls.check(url, production=True, allow_private=True) == url


async def test_production_requires_https() -> None:
    with pytest.raises(BadUserInput, match="https://"):
        await urls.check("http://127.0.0.1/x", production=True, allow_private=True)
    assert await urls.check("http://127.0.0.1/x", production=False, allow_private=True) == (
        "http://127.0.0.1/x"
    )


def test_internal_addresses_are_allowed_in_development_only() -> None:
    from bookit_graphql.config import Settings

    assert Settings.from_env({}).webhooks_allow_private is True
    production = {"BOOKIT_ENV": "production", "SECRET_KEY": "k" * 40}
    assert Settings.from_env(production).webhooks_allow_private is False
    allowed = {**production, "BOOKIT_WEBHOOKS_ALLOW_PRIVATE": "true"}
    assert Settings.from_env(allowed).webhooks_allow_private is True


async def test_an_attempt_that_times_out_is_retried_with_the_same_webhook_id(
    client: httpx.AsyncClient,
    admin: Account,
    alice: Account,
    rows: Rows,
    receiver: Receiver,
    worker: Worker,
    db: Sessions,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a receiver whose first answer comes after the attempt's timeout
    monkeypatch.setattr(webhooks, "TIMEOUT", 0.3)
    endpoint_id, _ = await endpoint(client, admin, receiver, "/slow")
    receiver.delays["/slow"] = [1.0]
    service_id = await rows.service()
    await booked(client, alice.token, service_id, at(1))
    # when the worker sends it
    await worker.drain()
    # then the attempt is recorded as timed out, and a retry is scheduled
    listed = await gql(client, DELIVERIES, {"endpointId": endpoint_id}, token=admin.token)
    (first,) = [e["node"] for e in listed["data"]["webhookDeliveries"]["edges"]]
    assert first["status"] == "PENDING"
    assert first["attempts"] == 1
    assert first["lastError"] == "timed out after 0.3 s"
    assert first["lastResponseStatus"] is None
    assert first["nextAttemptAt"] is not None
    # and when the retry is due, it succeeds with the same webhook-id
    await make_due(db)
    await worker.drain()
    listed = await gql(client, DELIVERIES, {"endpointId": endpoint_id}, token=admin.token)
    (done,) = [e["node"] for e in listed["data"]["webhookDeliveries"]["edges"]]
    assert (done["id"], done["status"], done["attempts"]) == (first["id"], "SUCCEEDED", 2)
    assert done["lastError"] is None
    for _ in range(50):  # the slow request is recorded once its sleep is over
        if len(receiver.at("/slow")) == 2:
            break
        await asyncio.sleep(0.1)
    got = receiver.at("/slow")
    assert len(got) == 2
    assert got[0].id == got[1].id


async def test_an_attempt_connects_to_the_checked_address_only(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uuid

    from bookit_graphql.integrations import crypto

    secret = crypto.new_secret()
    receiver.secrets["/pinned"] = [secret]
    port = int(receiver.base.rsplit(":", 1)[1])

    async def send(url: str, *, allow_private: bool) -> webhooks.Outcome:
        async with urls.pinned_client(timeout=5) as http:
            return await webhooks.attempt(
                http,
                url=url,
                delivery_id=uuid.uuid4(),
                body='{"type":"webhook.test"}',
                secrets=[secret],
                allow_private=allow_private,
            )

    # a name that resolves to loopback is refused when private addresses are (production)
    refused = await send(f"http://localhost:{port}/pinned", allow_private=False)
    assert refused.error is not None
    assert refused.error.startswith("refused: localhost resolves to")
    assert receiver.at("/pinned") == []
    # a name that only the check resolves (httpx could not: .invalid never resolves)
    # arrives: the connection went to the checked address, with the name as Host
    lookups: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"]

    monkeypatch.setattr(urls, "_resolve", resolve)
    arrived = await send(f"http://bookit-rebind.invalid:{port}/pinned", allow_private=True)
    assert arrived.succeeded, arrived
    assert lookups == ["bookit-rebind.invalid"]  # one lookup: the check's
    (got,) = receiver.at("/pinned")
    assert got.headers["host"] == f"bookit-rebind.invalid:{port}"
    assert got.verified == {secret: True}
    # and the client connects nowhere that was not checked
    async with urls.pinned_client(timeout=5) as http:
        with pytest.raises(httpx.ConnectError, match="was not checked"):
            await http.post(receiver.url("/pinned"), content=b"{}")
    assert len(receiver.at("/pinned")) == 1
