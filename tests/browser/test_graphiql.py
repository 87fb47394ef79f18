"""GraphiQL on a browser's GET /graphql: the vendored build, from BookIt's own origin only."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from playwright.async_api import expect

from bookit_graphql.web import CONTENT_SECURITY_POLICY
from tests.conftest import Server
from tests.helpers import Account, gql, make_admin, register

CREATE_SERVICE = """
mutation CreateService($input: CreateServiceInput!) { createService(input: $input) { id } }
"""
CREATE_BOOKING = """
mutation CreateBooking($input: CreateBookingInput!) { createBooking(input: $input) { id } }
"""
SERVICE = {"title": "Yoga", "price": "40.00", "durationMinutes": 60}


async def test_graphiql_runs_a_query_offline(
    new_page: Callable[..., Any], server: Server, api: httpx.AsyncClient
) -> None:
    # given the page as a browser asks for it
    answer = await api.get("/graphql", headers={"Accept": "text/html"})
    assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert answer.headers["x-frame-options"] == "DENY"
    assert "cdn" not in answer.text.lower()
    assert "https://" not in answer.text

    page = await new_page()
    await page.goto(f"{server.base}/graphql")
    editor = page.locator(".graphiql-query-editor .CodeMirror")
    await expect(editor).to_be_visible()

    # when a query is typed and run
    await page.evaluate(
        "document.querySelector('.graphiql-query-editor .CodeMirror')"
        ".CodeMirror.setValue('{ services(first: 1) { totalCount } }')"
    )
    await page.get_by_role("button", name="Execute query (Ctrl-Enter)").click()

    # then the answer is shown (every request stayed on 127.0.0.1: the page fixture checks)
    await expect(page.locator(".result-window")).to_contain_text('"totalCount": 0')


SUBSCRIPTION = "subscription BookingChanges { bookingChanged { cursor kind booking { id } } }"


async def test_graphiql_runs_a_subscription_with_the_headers_pane_authorization(
    new_page: Callable[..., Any], server: Server, api: httpx.AsyncClient, database_url: str
) -> None:
    # given an admin's token in GraphiQL's headers pane and the subscription in its editor
    admin = await make_admin(api, database_url, "ada@example.com")
    alice = Account.of(await register(api, "alice@example.com"))
    created = await gql(api, CREATE_SERVICE, {"input": SERVICE}, token=admin.token)
    service_id = created["data"]["createService"]["id"]
    page = await new_page()
    await page.goto(f"{server.base}/graphql")
    await expect(page.locator(".graphiql-query-editor .CodeMirror")).to_be_visible()
    await page.evaluate(
        "(text) => document.querySelector('.graphiql-query-editor .CodeMirror')"
        ".CodeMirror.setValue(text)",
        SUBSCRIPTION,
    )
    await page.get_by_role("button", name="Headers").click()
    headers = page.locator(".graphiql-editor-tool .CodeMirror").locator("visible=true")
    await expect(headers).to_have_count(1)
    await headers.evaluate(
        "(node, text) => node.CodeMirror.setValue(text)",
        json.dumps({"Authorization": f"Bearer {admin.token}"}),
    )

    # when it runs, and a booking is then made through the API
    subscribed = asyncio.Event()
    page.on(
        "websocket",
        lambda socket: socket.on(
            "framesent",
            lambda payload: '"type":"subscribe"' in str(payload) and subscribed.set(),
        ),
    )
    await page.get_by_role("button", name="Execute query (Ctrl-Enter)").click()
    await asyncio.wait_for(subscribed.wait(), timeout=10)
    # then the event arrives in the result pane. The frame is sent before the server
    # listens, and a subscription without `after` sees only later changes: book again
    # (an hour later each time) until one arrives, instead of guessing a wait.
    result = page.locator(".result-window")
    starts = (datetime.now(UTC) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    for hour in range(20):
        variables = {
            "input": {
                "serviceId": service_id,
                "startsAt": (starts + timedelta(hours=hour)).isoformat(),
            }
        }
        booked = await gql(api, CREATE_BOOKING, variables, token=alice.token)
        booking_id = booked["data"]["createBooking"]["id"]
        with contextlib.suppress(AssertionError):
            await expect(result).to_contain_text(booking_id, timeout=500)
            break
    await expect(result).to_contain_text('"kind": "CREATED"')
    await expect(result).to_contain_text(booking_id)
