"""The Webhooks page in a real browser: an endpoint created (its secret shown once),
a test event sent to a local receiver and listed as delivered, redelivered, the
secret rotated, the endpoint edited and deleted."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from tests.browser.test_dashboard import admin_of, sign_in
from tests.conftest import Server


class Receiver(ThreadingHTTPServer):
    """A webhook receiver on 127.0.0.1 that answers 204 and keeps what it got."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/bookit"


class Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def signed_with(secret: str, headers: dict[str, str], body: bytes) -> bool:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return f"v1,{expected}" in headers["webhook-signature"].split(" ")


async def test_an_admin_creates_an_endpoint_sends_a_test_event_and_sees_it_delivered(
    new_page: Callable[..., Any],
    start_server: Callable[..., Server],
    database_url: str,
    receiver: Receiver,
) -> None:
    # given an admin, a server that delivers webhooks, and a receiver
    server = start_server("webhooks.log", BOOKIT_WORKER="on")
    async with httpx.AsyncClient(base_url=server.base, timeout=10) as api:
        admin = await admin_of(api, database_url)
    page = await new_page()
    await sign_in(page, server.base, admin.email)
    await page.get_by_role("link", name="Webhooks").click()
    await expect(page.get_by_text("No webhook endpoints yet.")).to_be_visible()

    # when the admin creates an endpoint for new bookings
    await page.get_by_role("button", name="New endpoint").click()
    await page.get_by_label("URL").fill(receiver.url)
    await page.get_by_label("Description").fill("Front desk")
    await page.get_by_label("booking.created").check()
    await page.get_by_role("button", name="Create endpoint").click()

    # then its secret is shown once, with a warning and a copy button
    shown = page.get_by_role("region", name=f"The signing secret of {receiver.url}")
    await expect(shown).to_contain_text("you will not see it again")
    await expect(shown.get_by_role("button", name="Copy secret")).to_be_visible()
    secret = await shown.locator("[data-secret]").inner_text()
    assert secret.startswith("whsec_")
    row = page.locator("li.endpoint")
    await expect(row).to_contain_text("Front desk")
    await expect(row).to_contain_text("booking.created")
    await shown.get_by_role("button", name="I have copied it").click()
    await expect(page.get_by_text(secret)).to_have_count(0)
    await page.reload()
    await expect(page.locator("li.endpoint")).to_have_count(1)
    await expect(page.get_by_text("whsec_")).to_have_count(0)

    # when a test event is sent
    await row.get_by_role("button", name=f"Send test event to {receiver.url}").click()
    await expect(page.locator("p.notice")).to_contain_text("Test event queued")
    delivery = row.locator("li.delivery")
    await expect(delivery).to_have_count(1)
    await expect(delivery).to_contain_text("webhook.test")

    # then the receiver gets it, signed with the secret, and the page lists it as delivered
    for _ in range(50):
        await row.get_by_role("button", name="Refresh deliveries").click()
        if await delivery.locator(".badge").inner_text() == "succeeded":
            break
        await page.wait_for_timeout(200)
    await expect(delivery.locator(".badge")).to_have_text("succeeded")
    await expect(delivery).to_contain_text("HTTP 204")
    [(headers, body)] = receiver.received
    assert json.loads(body)["type"] == "webhook.test"
    assert signed_with(secret, headers, body)

    # and filtering by status shows what matches
    await row.get_by_label("Status").select_option("FAILED")
    await expect(row.get_by_text("No deliveries failed.")).to_be_visible()
    await row.get_by_label("Status").select_option("SUCCEEDED")
    await expect(delivery).to_have_count(1)

    # when it is redelivered, the receiver gets the same event again
    await delivery.get_by_role("button", name="Redeliver").click()
    for _ in range(50):
        if len(receiver.received) == 2:
            break
        await page.wait_for_timeout(200)
    assert [h["webhook-id"] for h, _ in receiver.received] == [headers["webhook-id"]] * 2

    # when the secret is rotated, the new one is shown once with the old one's expiry
    await row.get_by_role("button", name=f"Rotate secret of {receiver.url}").click()
    rotated = page.get_by_role("region", name="The new signing secret")
    await expect(rotated).to_contain_text("you will not see it again")
    await expect(rotated).to_contain_text("The previous secret keeps signing beside it until")
    assert (await rotated.locator("[data-secret]").inner_text()) not in ("", secret)

    # when it is edited: every event, a new description, inactive
    await row.get_by_role("button", name=f"Edit {receiver.url}").click()
    await page.get_by_label("Description").fill("Front desk, all events")
    await page.get_by_label("booking.created").uncheck()
    await page.get_by_label("Active (re-enables a disabled endpoint)").uncheck()
    await page.get_by_role("button", name="Save endpoint").click()
    await expect(row).to_contain_text("Front desk, all events")
    await expect(row).to_contain_text("all events")
    await expect(row.locator(".badge").first).to_have_text("inactive")

    # and deleted, after a second click
    await row.get_by_role("button", name=f"Delete {receiver.url}").click()
    await row.get_by_role("button", name=f"Really delete {receiver.url}").click()
    await expect(page.get_by_text("No webhook endpoints yet.")).to_be_visible()


async def test_a_refused_url_is_shown_next_to_its_field(
    new_page: Callable[..., Any], server: Server, api: httpx.AsyncClient, database_url: str
) -> None:
    admin = await admin_of(api, database_url)
    page = await new_page()
    await sign_in(page, server.base, admin.email)
    await page.get_by_role("link", name="Webhooks").click()
    await page.get_by_role("button", name="New endpoint").click()
    await page.get_by_label("URL").fill("ftp://example.com/hook")
    await page.get_by_role("button", name="Create endpoint").click()
    await expect(page.locator("#new-endpoint-url-error")).to_contain_text("URL")
    await expect(page.get_by_label("URL")).to_have_attribute("aria-invalid", "true")
