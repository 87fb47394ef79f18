"""/admin in a real browser: sign-in, bookings (made in the UI and live from the API),
the refusal of a non-admin, sign-out, a booking's notification listed, every page at
360 px and on a desktop with axe-core finding nothing serious, and a screenshot of each."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, WebSocketRoute, expect

from tests.browser.conftest import DESKTOP, PHONE, axe_findings
from tests.conftest import Server
from tests.helpers import LOGIN, PASSWORD, Account, gql, make_admin, register

CREATE_SERVICE = """
mutation CreateService($input: CreateServiceInput!) { createService(input: $input) { id title } }
"""
CREATE_BOOKING = """
mutation CreateBooking($input: CreateBookingInput!) { createBooking(input: $input) { id status } }
"""
BOOKINGS = """
query Bookings($filter: BookingFilter) {
  bookings(filter: $filter) { edges { node { id status startsAt } } }
}
"""
REFRESH = """
mutation Refresh($refreshToken: String!) {
  refreshToken(refreshToken: $refreshToken) { accessToken }
}
"""
SET_BOOKING_STATUS = """
mutation SetBookingStatus($id: ID!, $status: BookingStatus!) {
  updateBooking(id: $id, input: { status: $status }) { id }
}
"""
CREATE_WEBHOOK_ENDPOINT = """
mutation CreateWebhookEndpoint($input: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) { secret }
}
"""
SET_SERVICE_RULES = """
mutation SetServiceRules($id: ID!, $input: ServiceRulesInput!) {
  setServiceRules(id: $id, input: $input) { id }
}
"""
WEEKDAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
PAGES = (
    "overview",
    "bookings",
    "schedules",
    "services",
    "users",
    "reviews",
    "webhooks",
    "notifications",
)


async def admin_of(api: httpx.AsyncClient, database_url: str) -> Account:
    return await make_admin(api, database_url, "ada@example.com")


async def sign_in(page: Page, base: str, email: str) -> None:
    await page.goto(f"{base}/admin")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()


async def service(api: httpx.AsyncClient, admin: Account, title: str) -> str:
    variables = {"input": {"title": title, "price": "40.00", "durationMinutes": 60}}
    body = await gql(api, CREATE_SERVICE, variables, token=admin.token)
    return str(body["data"]["createService"]["id"])


def tomorrow_at(hour: int) -> datetime:
    """A local wall-clock time tomorrow (the browser and the test share the machine's zone)."""
    return (datetime.now() + timedelta(days=1)).replace(  # noqa: DTZ005
        hour=hour, minute=0, second=0, microsecond=0
    )


async def test_an_admin_creates_a_service_then_books_and_confirms_it_in_the_ui(
    new_page: Callable[..., Any], server: Server, api: httpx.AsyncClient, database_url: str
) -> None:
    # given an admin and no services
    admin = await admin_of(api, database_url)
    page = await new_page()
    await sign_in(page, server.base, admin.email)
    await expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    await expect(page.get_by_text("No bookings today or in the next 7 days.")).to_be_visible()

    # when the admin creates a service on the Services page
    await page.get_by_role("link", name="Services").click()
    await page.get_by_role("button", name="New service").click()
    await page.get_by_label("Title").fill("Deep tissue massage")
    await page.get_by_label("Price").fill("55.50")
    await page.get_by_label("Duration (minutes)").fill("60")
    await page.get_by_role("button", name="Create service").click()
    await expect(page.locator("p.notice")).to_have_text("Deep tissue massage created.")

    # and books tomorrow at 10:00 on the Bookings page, then confirms it
    await page.get_by_role("link", name="Bookings").click()
    await expect(page.get_by_label("Service", exact=True)).to_have_value(await only_service_id(api))
    starts = tomorrow_at(10)
    if starts.weekday() == 0:  # tomorrow is next week's Monday
        await page.get_by_role("button", name="Next week").click()
    await page.get_by_label("Book this service at").fill(starts.strftime("%Y-%m-%dT%H:%M"))
    await page.get_by_role("button", name="Book", exact=True).click()
    card = page.locator("li.booking")
    await expect(card).to_have_count(1)
    await expect(card.locator(".badge")).to_have_text("pending")
    await card.get_by_role("button", name="Confirm").click()
    await expect(card.locator(".badge")).to_have_text("confirmed")

    # then the API has it confirmed, at the time the admin typed
    body = await gql(api, BOOKINGS, {}, token=admin.token)
    [booking] = [edge["node"] for edge in body["data"]["bookings"]["edges"]]
    assert booking["status"] == "CONFIRMED"
    assert datetime.fromisoformat(booking["startsAt"]) == starts.astimezone()

    # and the same slot again is refused with the contract's code, in words, with the request id
    await page.get_by_label("Book this service at").fill(starts.strftime("%Y-%m-%dT%H:%M"))
    await page.get_by_role("button", name="Book", exact=True).click()
    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text("Could not book")
    await expect(alert).to_contain_text("Code BOOKING_CONFLICT")
    await expect(alert).to_contain_text("The time overlaps a booking from")
    await expect(alert.locator("code")).to_have_text(pattern_of_request_id())


def pattern_of_request_id() -> re.Pattern[str]:
    return re.compile(r"^[0-9a-f]{32}$")


async def only_service_id(api: httpx.AsyncClient) -> str:
    body = await gql(api, "{ services { edges { node { id } } } }")
    [edge] = body["data"]["services"]["edges"]
    return str(edge["node"]["id"])


async def test_a_booking_made_through_the_api_appears_live(
    new_page: Callable[..., Any], server: Server, api: httpx.AsyncClient, database_url: str
) -> None:
    # given an admin watching this week's bookings of a service
    admin = await admin_of(api, database_url)
    service_id = await service(api, admin, "Yoga")
    alice = Account.of(await register(api, "alice@example.com", full_name="Alice Liddell"))
    page = await new_page()
    await sign_in(page, server.base, admin.email)
    await page.get_by_role("link", name="Bookings").click()
    await expect(page.get_by_text("updates live")).to_be_visible()
    starts = tomorrow_at(15)
    if starts.weekday() == 0:
        await page.get_by_role("button", name="Next week").click()
        await expect(page.get_by_text("updates live")).to_be_visible()
    await expect(page.locator("li.booking")).to_have_count(0)

    # when Alice books through the API
    variables = {"input": {"serviceId": service_id, "startsAt": starts.astimezone().isoformat()}}
    body = await gql(api, CREATE_BOOKING, variables, token=alice.token)
    assert "errors" not in body, body

    # then her booking appears without a reload
    card = page.locator("li.booking")
    await expect(card).to_have_count(1)
    await expect(card).to_contain_text("Alice Liddell")
    await expect(page.locator("p.notice")).to_contain_text("Live: booking of Alice Liddell")


async def test_live_updates_catch_up_on_what_was_missed_while_the_socket_was_down(
    new_page: Callable[..., Any], server: Server, api: httpx.AsyncClient, database_url: str
) -> None:
    # given an admin watching the bookings, through a socket the test can cut
    admin = await admin_of(api, database_url)
    service_id = await service(api, admin, "Yoga")
    alice = Account.of(await register(api, "alice@example.com", full_name="Alice Liddell"))
    page = await new_page()
    sockets: list[WebSocketRoute] = []
    subscribed: list[dict[str, Any]] = []
    cut = asyncio.Event()

    async def through_the_test(ws: WebSocketRoute) -> None:
        if cut.is_set():  # refused while the connection is down
            await ws.close(code=1012, reason="down")
            return
        sockets.append(ws)
        to_server = ws.connect_to_server()

        def forward(message: str | bytes) -> None:
            if isinstance(message, str) and '"type":"subscribe"' in message:
                subscribed.append(json.loads(message)["payload"]["variables"])
            to_server.send(message)

        ws.on_message(forward)

    await page.route_web_socket(re.compile(r"/graphql$"), through_the_test)
    await sign_in(page, server.base, admin.email)
    await page.get_by_role("link", name="Bookings").click()
    await expect(page.get_by_text("updates live")).to_be_visible()
    first, second = tomorrow_at(9), tomorrow_at(11)
    if first.weekday() == 0:
        await page.get_by_role("button", name="Next week").click()
        await expect(page.get_by_text("updates live")).to_be_visible()

    async def book(starts: datetime) -> None:
        variables = {
            "input": {"serviceId": service_id, "startsAt": starts.astimezone().isoformat()}
        }
        body = await gql(api, CREATE_BOOKING, variables, token=alice.token)
        assert "errors" not in body, body

    await book(first)
    await expect(page.locator("li.booking")).to_have_count(1)

    # when the socket drops, a booking is made while it is down, and then it comes back
    cut.set()
    await sockets[-1].close(code=1012, reason="restart")
    await expect(page.get_by_text("updates reconnecting")).to_be_visible()
    await book(second)
    await page.wait_for_timeout(500)
    await expect(page.locator("li.booking")).to_have_count(1)
    cut.clear()

    # then the dashboard resubscribes after the last event it saw and catches up
    await expect(page.locator("li.booking")).to_have_count(2, timeout=20_000)
    await expect(page.get_by_text("updates live")).to_be_visible()
    assert len(sockets) == 2
    assert subscribed[0]["after"] is None
    assert subscribed[-1]["after"], subscribed  # the cursor of the first booking's event


async def test_the_dashboard_works_where_only_trusted_documents_are_accepted(
    new_page: Callable[..., Any],
    start_server: Callable[..., Server],
    client: httpx.AsyncClient,
    database_url: str,
) -> None:
    # given a server in required mode (free-form text refused from anyone but an admin)
    server = start_server("strict.log", BOOKIT_TRUSTED_DOCUMENTS="required")
    admin = await make_admin(client, database_url, "ada@example.com")  # on another instance
    async with httpx.AsyncClient(base_url=server.base, timeout=10) as strict:
        refused = await gql(strict, LOGIN, {"input": {"email": admin.email, "password": PASSWORD}})
    assert refused["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_IN_LIST"

    # when the admin signs in with the dashboard, reloads the tab and opens a page
    page = await new_page()
    await sign_in(page, server.base, admin.email)
    await expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    await page.reload()  # an anonymous Refresh, by id
    await expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    await page.get_by_role("link", name="Services").click()

    # then every page works: the dashboard sent its documents by id (the watch checks them)
    await expect(page.get_by_role("button", name="New service")).to_be_visible()
    await expect(page.get_by_role("alert")).to_have_count(0)


async def test_a_non_admin_is_refused_and_their_session_ended(
    new_page: Callable[..., Any], server: Server, api: httpx.AsyncClient
) -> None:
    # given a user who is not an admin
    await register(api, "bob@example.com", full_name="Bob")
    page = await new_page()

    # when they sign in
    async with page.expect_response(lambda r: r.url.endswith("/graphql")) as answered:
        await sign_in(page, server.base, "bob@example.com")
    tokens = (await (await answered.value).json())["data"]["login"]

    # then they are refused in words, keep nothing, and the session is revoked
    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text("bob@example.com is not an admin")
    await expect(page.get_by_role("link", name="Bookings")).to_have_count(0)
    assert await page.evaluate("sessionStorage.length") == 0
    await expect_revoked(api, tokens["refreshToken"])


async def expect_revoked(api: httpx.AsyncClient, refresh_token: str) -> None:
    for _ in range(50):  # the logout is sent as the refusal is shown
        body = await gql(api, REFRESH, {"refreshToken": refresh_token})
        if body.get("errors"):
            assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the refresh token still works")


async def test_sign_out_revokes_the_session(
    new_page: Callable[..., Any], server: Server, api: httpx.AsyncClient, database_url: str
) -> None:
    admin = await admin_of(api, database_url)
    page = await new_page()
    await sign_in(page, server.base, admin.email)
    await expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    stored = await page.evaluate("sessionStorage.getItem('bookit.admin.refreshToken')")
    assert stored
    assert await page.evaluate("localStorage.length") == 0  # tokens never outlive the tab

    # a reload of the tab stays signed in (the refresh token rotates)
    await page.reload()
    await expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    rotated = await page.evaluate("sessionStorage.getItem('bookit.admin.refreshToken')")
    assert rotated
    assert rotated != stored

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    assert await page.evaluate("sessionStorage.length") == 0
    await expect_revoked(api, rotated)


async def test_tokens_are_refreshed_before_they_expire(
    new_page: Callable[..., Any], start_server: Callable[..., Server], database_url: str
) -> None:
    # given a server whose access tokens live one minute
    server = start_server("short.log", ACCESS_TOKEN_EXPIRE="1")
    async with httpx.AsyncClient(base_url=server.base, timeout=10) as api:
        admin = await admin_of(api, database_url)
    page = await new_page()
    await sign_in(page, server.base, admin.email)
    await expect(page.get_by_role("heading", name="Overview")).to_be_visible()

    # then the dashboard rotates its tokens by itself well before the minute is up
    async with page.expect_request(
        lambda r: r.method == "POST" and '"operationName":"Refresh"' in (r.post_data or ""),
        timeout=20_000,
    ):
        pass
    await page.get_by_role("link", name="Users").click()
    await expect(page.get_by_text("ada@example.com").first).to_be_visible()


MY_NOTIFICATIONS = """
query MyNotifications($first: Int) {
  notifications(first: $first) { edges { node { kind bookingId status } } }
}
"""


async def test_a_booking_made_through_the_api_is_listed_with_its_notification(
    new_page: Callable[..., Any],
    start_server: Callable[..., Server],
    database_url: str,
    tmp_path: Path,
) -> None:
    # given a server whose worker sends mail (as .eml files: no SMTP server is set)
    data = tmp_path / "data"
    server = start_server("worker.log", BOOKIT_WORKER="on", BOOKIT_DATA_DIR=str(data))
    async with httpx.AsyncClient(base_url=server.base, timeout=10) as api:
        admin = await admin_of(api, database_url)
        service_id = await service(api, admin, "Yoga")
        alice = Account.of(await register(api, "alice@example.com", full_name="Alice Liddell"))

        # when Alice books through the API, and the worker sends her the email
        starts = tomorrow_at(15).astimezone().isoformat()
        variables = {"input": {"serviceId": service_id, "startsAt": starts}}
        body = await gql(api, CREATE_BOOKING, variables, token=alice.token)
        assert "errors" not in body, body
        booking_id = body["data"]["createBooking"]["id"]
        for _ in range(200):
            listed = await gql(api, MY_NOTIFICATIONS, {"first": 10}, token=admin.token)
            nodes = [edge["node"] for edge in listed["data"]["notifications"]["edges"]]
            if {"kind": "BOOKING_RECEIVED", "bookingId": booking_id, "status": "SENT"} in nodes:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError(f"no BOOKING_RECEIVED sent: {nodes}")
    assert list((data / "mail").glob("*.eml"))

    # then the admin sees it on the Notifications page, with its booking and status
    page = await new_page()
    await sign_in(page, server.base, admin.email)
    await page.get_by_role("link", name="Notifications").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Notifications")
    row = page.locator("li.notification", has_text="Booking received")
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text(booking_id)
    await expect(row).to_contain_text("email")
    await expect(row.locator(".badge")).to_have_text("sent")
    await expect(row).to_contain_text("sent ")

    # and the listed page has nothing serious for axe, on a desktop and at 360 px
    assert not await axe_findings(page)
    await page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert not await axe_findings(page)


@pytest.mark.parametrize(("size", "viewport"), [("desktop", DESKTOP), ("phone", PHONE)])
async def test_every_page_is_accessible_at_both_sizes_and_screenshotted(
    new_page: Callable[..., Any],
    server: Server,
    api: httpx.AsyncClient,
    database_url: str,
    screenshots: Path,
    size: str,
    viewport: dict[str, int],
) -> None:
    # given a little data: two services, a booking of each state, a review
    admin = await admin_of(api, database_url)
    await seed(api, admin, database_url)
    page = await new_page(viewport=viewport)
    findings: dict[str, list[str]] = {}

    await page.goto(f"{server.base}/admin")
    await expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    findings["sign-in"] = await axe_findings(page)
    await page.screenshot(path=screenshots / f"sign-in-{size}.png")
    await sign_in(page, server.base, admin.email)
    await expect(page.get_by_role("heading", name="Overview")).to_be_visible()

    for name in PAGES:
        await open_from_menu(page, name, phone=viewport is PHONE)
        await expect(page.get_by_role("heading", level=1)).to_have_text(name.capitalize())
        await expect(page.locator(".loading")).to_have_count(0)
        findings[name] = await axe_findings(page)
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= viewport["width"], f"{name} scrolls sideways at {viewport['width']} px"
        await page.screenshot(path=screenshots / f"{name}-{size}.png", full_page=True)

    assert not any(findings.values()), findings


async def open_from_menu(page: Page, name: str, *, phone: bool) -> None:
    """Through the keyboard on a phone (menu button, then the link), with a click on a desktop."""
    link = page.get_by_role("link", name=name.capitalize(), exact=True)
    if phone:
        await page.get_by_role("button", name="Menu").focus()
        await page.keyboard.press("Enter")
        await link.focus()
        await page.keyboard.press("Enter")
    else:
        await link.click()


async def seed(api: httpx.AsyncClient, admin: Account, database_url: str) -> None:
    yoga = await service(api, admin, "Morning yoga")
    await service(api, admin, "Swedish massage")
    user = Account.of(await register(api, "carol@example.com", full_name="Carol"))
    today = datetime.now().astimezone()
    for hours, status in ((2, None), (26, "CONFIRMED"), (50, "CANCELLED")):
        starts = (today + timedelta(hours=hours)).replace(minute=0, second=0, microsecond=0)
        variables = {"input": {"serviceId": yoga, "startsAt": starts.isoformat()}}
        body = await gql(api, CREATE_BOOKING, variables, token=user.token)
        booking_id = body["data"]["createBooking"]["id"]
        if status:
            variables = {"id": booking_id, "status": status}
            await gql(api, SET_BOOKING_STATUS, variables, token=admin.token)
    # opening hours (with a lunch break) for the week's shading, and a webhook endpoint
    hours = [
        {"day": d, "opens": o, "closes": c}
        for d in WEEKDAYS
        for o, c in (("07:00", "12:00"), ("13:00", "22:00"))
    ]
    rules = {"id": yoga, "input": {"weeklyHours": hours, "timeZone": "Europe/Berlin"}}
    assert "errors" not in await gql(api, SET_SERVICE_RULES, rules, token=admin.token)
    endpoint = {"input": {"url": "http://127.0.0.1:9/bookit", "description": "Front desk"}}
    assert "errors" not in await gql(api, CREATE_WEBHOOK_ENDPOINT, endpoint, token=admin.token)
    login = await gql(api, LOGIN, {"input": {"email": user.email, "password": PASSWORD}})
    assert "errors" not in login
